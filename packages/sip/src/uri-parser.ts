/**
 * SIP and SIPS URIs and name-addr values (RFC 3261 §19.1, §20.10, §25.1).
 *
 * Also home of the §25.1 basic rules shared with `header-values.ts`: character classes,
 * quoted strings and generic parameters. Everything here is a linear scan over the input (no
 * regular expressions) and throws nothing but {@link SipParseError}.
 */
import { SipParseError, SipParseErrorCode } from './errors.js';
import type { NameAddr, SipUri } from './uri.js';

// Character classes of RFC 3261 §25.1, one bit each, for US-ASCII code points.
const ALPHANUM = 1;
const MARK = 2; // - _ . ! ~ * ' ( )
const TOKEN_EXTRA = 4; // - . ! % * _ + ` ' ~
const USER_UNRESERVED = 8; // & = + $ , ; ? /
const PASSWORD_EXTRA = 16; // & = + $ ,
const PARAM_UNRESERVED = 32; // [ ] / : & + $
const HNV_UNRESERVED = 64; // [ ] / ? : + $
const HOST_EXTRA = 128; // [ ] : (IPv6 references and addresses in gen-value, §25.1 `host`)

const CLASSES = new Uint8Array(128);
for (let code = 0; code < 128; code++) {
  const c = String.fromCharCode(code);
  let bits = 0;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    bits |= ALPHANUM;
  }
  const add = (set: string, bit: number): void => {
    if (set.includes(c)) {
      bits |= bit;
    }
  };
  add("-_.!~*'()", MARK);
  add("-.!%*_+`'~", TOKEN_EXTRA);
  add('&=+$,;?/', USER_UNRESERVED);
  add('&=+$,', PASSWORD_EXTRA);
  add('[]/:&+$', PARAM_UNRESERVED);
  add('[]/?:+$', HNV_UNRESERVED);
  add('[]:', HOST_EXTRA);
  CLASSES[code] = bits;
}

const UNRESERVED = ALPHANUM | MARK;
const TOKEN = ALPHANUM | TOKEN_EXTRA;
/** Characters allowed unescaped in each URI component (§25.1). */
const USER_CHARS = UNRESERVED | USER_UNRESERVED;
const PASSWORD_CHARS = UNRESERVED | PASSWORD_EXTRA;
const PARAM_CHARS = UNRESERVED | PARAM_UNRESERVED;
const HEADER_CHARS = UNRESERVED | HNV_UNRESERVED;
/** gen-value = token / host / quoted-string (§25.1). */
const GEN_VALUE_CHARS = TOKEN | HOST_EXTRA;

const SP = 0x20;
const HTAB = 0x09;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const SEMI = 0x3b;
const LAQUOT = 0x3c;
const QUESTION = 0x3f;

const MAX_PORT = 65_535;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

function hasClass(code: number, mask: number): boolean {
  return code < 128 && ((CLASSES[code] ?? 0) & mask) !== 0;
}

/** Whether `code` is a §25.1 `token` character. */
export function isTokenChar(code: number): boolean {
  return hasClass(code, TOKEN);
}

/** Whether `text` is a non-empty §25.1 `token` (method names, transport, option tags…). */
export function isToken(text: string): boolean {
  if (text.length === 0) {
    return false;
  }
  for (let i = 0; i < text.length; i++) {
    if (!hasClass(text.charCodeAt(i), TOKEN)) {
      return false;
    }
  }
  return true;
}

/** Index of the first character at or after `pos` that is not SP or HTAB (LWS once unfolded). */
export function skipWs(text: string, pos: number, end = text.length): number {
  let i = pos;
  while (i < end) {
    const code = text.charCodeAt(i);
    if (code !== SP && code !== HTAB) {
      break;
    }
    i++;
  }
  return i;
}

/** Index just past the last non-SP/HTAB character before `end`. */
export function skipWsBack(text: string, start: number, end: number): number {
  let i = end;
  while (i > start) {
    const code = text.charCodeAt(i - 1);
    if (code !== SP && code !== HTAB) {
      break;
    }
    i--;
  }
  return i;
}

/** Index just past the run of `mask` characters starting at `pos`. */
function scanClass(text: string, pos: number, end: number, mask: number): number {
  let i = pos;
  while (i < end && hasClass(text.charCodeAt(i), mask)) {
    i++;
  }
  return i;
}

/** Index just past a token starting at `pos` (equal to `pos` when there is none). */
export function scanToken(text: string, pos: number, end = text.length): number {
  return scanClass(text, pos, end, TOKEN);
}

function excerpt(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

function malformed(what: string, text: string): SipParseError {
  return SipParseError.malformed(`invalid ${what}: ${excerpt(text)}`);
}

/**
 * Reads a quoted-string whose opening DQUOTE is at `pos` (§25.1), resolving quoted-pairs.
 * Returns the unquoted value and the index just past the closing DQUOTE.
 */
export function readQuotedString(
  text: string,
  pos: number,
  end = text.length,
): { value: string; end: number } {
  let out = '';
  let runStart = pos + 1;
  for (let i = pos + 1; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === DQUOTE) {
      return { value: out + text.slice(runStart, i), end: i + 1 };
    }
    if (code === BACKSLASH) {
      const next = text.charCodeAt(i + 1);
      // quoted-pair excludes CR and LF (§25.1), and cannot end the input.
      if (i + 1 >= end || next === 0x0d || next === 0x0a) {
        break;
      }
      out += text.slice(runStart, i) + text.charAt(i + 1);
      i++;
      runStart = i + 1;
    } else if (code === 0x0d || code === 0x0a) {
      break;
    }
  }
  throw malformed('quoted-string', text.slice(pos, end));
}

/** Quotes `value` as a §25.1 quoted-string; CR/LF (which no quoted-pair can carry) become SP. */
export function quoteString(value: string): string {
  let out = '"';
  for (const char of value) {
    if (char === '"' || char === '\\') {
      out += `\\${char}`;
    } else if (char === '\r' || char === '\n') {
      out += ' ';
    } else {
      out += char;
    }
  }
  return `${out}"`;
}

/**
 * Reads `*( SEMI generic-param )` from `pos` into `into` (§25.1: `generic-param = token
 * [ EQUAL gen-value ]`). Names are lower-cased (§7.3.1: parameter names are case-insensitive);
 * quoted values are unquoted; a parameter without a value maps to `null`; the first occurrence
 * of a repeated name wins. The whole range must be consumed.
 */
export function readGenericParams(
  text: string,
  pos: number,
  end: number,
  into: Map<string, string | null>,
): Map<string, string | null> {
  let i = skipWs(text, pos, end);
  while (i < end) {
    if (text.charCodeAt(i) !== SEMI) {
      throw malformed('header parameters', text.slice(pos, end));
    }
    i = skipWs(text, i + 1, end);
    const nameEnd = scanClass(text, i, end, TOKEN);
    if (nameEnd === i) {
      throw malformed('header parameter name', text.slice(pos, end));
    }
    const name = text.slice(i, nameEnd).toLowerCase();
    i = skipWs(text, nameEnd, end);
    let value: string | null = null;
    if (i < end && text.charCodeAt(i) === 0x3d) {
      i = skipWs(text, i + 1, end);
      if (i < end && text.charCodeAt(i) === DQUOTE) {
        const quoted = readQuotedString(text, i, end);
        value = quoted.value;
        i = quoted.end;
      } else {
        const valueEnd = scanClass(text, i, end, GEN_VALUE_CHARS);
        if (valueEnd === i) {
          throw malformed(`value of header parameter ${name}`, text.slice(pos, end));
        }
        value = text.slice(i, valueEnd);
        i = valueEnd;
      }
      i = skipWs(text, i, end);
    }
    if (!into.has(name)) {
      into.set(name, value);
    }
  }
  return into;
}

/**
 * Formats header parameters (`;name` or `;name=value`). Values that are not a plain token/host
 * are quoted so that they read back unchanged.
 */
export function formatGenericParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [name, value] of params) {
    if (value === null) {
      out += `;${name}`;
    } else if (
      value.length > 0 &&
      scanClass(value, 0, value.length, GEN_VALUE_CHARS) === value.length
    ) {
      out += `;${name}=${value}`;
    } else {
      out += `;${name}=${quoteString(value)}`;
    }
  }
  return out;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) {
    return code - 0x30;
  }
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) {
    return lower - 0x61 + 10;
  }
  return -1;
}

/**
 * Validates `text[start, end)` against the component's character class and resolves `%HH`
 * escapes (§19.1.2). Escaped octets are decoded as UTF-8.
 */
function unescapeComponent(
  text: string,
  start: number,
  end: number,
  mask: number,
  what: string,
): string {
  let escapes = false;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === PERCENT) {
      if (i + 2 >= end) {
        throw malformed(what, text.slice(start, end));
      }
      if (hexValue(text.charCodeAt(i + 1)) < 0 || hexValue(text.charCodeAt(i + 2)) < 0) {
        throw malformed(what, text.slice(start, end));
      }
      escapes = true;
      i += 2;
    } else if (!hasClass(code, mask)) {
      throw malformed(what, text.slice(start, end));
    }
  }
  if (!escapes) {
    return text.slice(start, end);
  }
  const bytes = new Uint8Array(end - start);
  let length = 0;
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code === PERCENT) {
      bytes[length++] = hexValue(text.charCodeAt(i + 1)) * 16 + hexValue(text.charCodeAt(i + 2));
      i += 2;
    } else {
      bytes[length++] = code;
    }
  }
  return decoder.decode(bytes.subarray(0, length));
}

const HEX_DIGITS = '0123456789ABCDEF';

/** Escapes every character of `value` outside `mask` as UTF-8 `%HH` (§19.1.2). */
function escapeComponent(value: string, mask: number): string {
  let clean = true;
  for (let i = 0; i < value.length; i++) {
    if (!hasClass(value.charCodeAt(i), mask)) {
      clean = false;
      break;
    }
  }
  if (clean) {
    return value;
  }
  let out = '';
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (char.length === 1 && hasClass(code, mask)) {
      out += char;
      continue;
    }
    for (const byte of encoder.encode(char)) {
      out += `%${HEX_DIGITS.charAt(byte >> 4)}${HEX_DIGITS.charAt(byte & 15)}`;
    }
  }
  return out;
}

function isDigits(text: string, start: number, end: number): boolean {
  if (end <= start) {
    return false;
  }
  for (let i = start; i < end; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x30 || code > 0x39) {
      return false;
    }
  }
  return true;
}

/** `IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT` (each octet ≤ 255). */
export function isIpv4Address(text: string): boolean {
  let start = 0;
  for (let part = 0; part < 4; part++) {
    const dot = part === 3 ? text.length : text.indexOf('.', start);
    if (
      dot === -1 ||
      dot - start > 3 ||
      !isDigits(text, start, dot) ||
      Number(text.slice(start, dot)) > 255
    ) {
      return false;
    }
    start = dot + 1;
  }
  return true;
}

function isHex4(text: string): boolean {
  if (text.length === 0 || text.length > 4) {
    return false;
  }
  for (let i = 0; i < text.length; i++) {
    if (hexValue(text.charCodeAt(i)) < 0) {
      return false;
    }
  }
  return true;
}

/** `IPv6address = hexpart [ ":" IPv4address ]` (§25.1), without brackets. */
export function isIpv6Address(text: string): boolean {
  let hex = text;
  let groups = 0;
  if (text.includes('.')) {
    const lastColon = text.lastIndexOf(':');
    if (lastColon === -1 || !isIpv4Address(text.slice(lastColon + 1))) {
      return false;
    }
    hex = text.slice(0, lastColon + 1);
    if (!hex.endsWith('::')) {
      hex = hex.slice(0, -1);
    }
    groups = 2;
  }
  const gap = hex.indexOf('::');
  if (gap !== -1 && hex.includes('::', gap + 1)) {
    return false;
  }
  const runs = gap === -1 ? [hex] : [hex.slice(0, gap), hex.slice(gap + 2)];
  for (const run of runs) {
    if (run.length === 0) {
      continue;
    }
    for (const group of run.split(':')) {
      if (!isHex4(group)) {
        return false;
      }
      groups++;
    }
  }
  return gap === -1 ? groups === 8 : groups <= 7;
}

/** `hostname = *( domainlabel "." ) toplabel [ "." ]` (§25.1). */
function isHostname(text: string): boolean {
  const end = text.endsWith('.') ? text.length - 1 : text.length;
  if (end === 0) {
    return false;
  }
  let labelStart = 0;
  while (labelStart <= end) {
    let dot = text.indexOf('.', labelStart);
    if (dot === -1 || dot > end) {
      dot = end;
    }
    if (dot === labelStart) {
      return false;
    }
    for (let i = labelStart; i < dot; i++) {
      const code = text.charCodeAt(i);
      const interior = i > labelStart && i < dot - 1;
      if (!hasClass(code, ALPHANUM) && !(code === 0x2d && interior)) {
        return false;
      }
    }
    if (dot === end) {
      // toplabel starts with ALPHA, which tells a hostname from a mistyped IPv4 address.
      const first = text.charCodeAt(labelStart);
      return first > 0x39;
    }
    labelStart = dot + 1;
  }
  return false;
}

/**
 * Validates and normalises a §25.1 `host`: lower-cased; IPv6 references keep their brackets.
 * @throws SipParseError
 */
export function parseHost(text: string): string {
  if (text.charCodeAt(0) === 0x5b) {
    if (text.charCodeAt(text.length - 1) !== 0x5d || !isIpv6Address(text.slice(1, -1))) {
      throw malformed('IPv6 reference', text);
    }
    return text.toLowerCase();
  }
  if (isIpv4Address(text) || isHostname(text)) {
    return text.toLowerCase();
  }
  throw malformed('host', text);
}

/** `port = 1*DIGIT`, bounded to the 16-bit range transports can use. */
export function parsePort(text: string): number {
  if (!isDigits(text, 0, text.length) || text.length > 5) {
    throw malformed('port', text);
  }
  const port = Number(text);
  if (port > MAX_PORT) {
    throw malformed('port', text);
  }
  return port;
}

/** `scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (§25.1). */
function isScheme(text: string): boolean {
  if (text.length === 0 || !hasClass(text.charCodeAt(0), ALPHANUM) || text.charCodeAt(0) <= 0x39) {
    return false;
  }
  for (let i = 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!hasClass(code, ALPHANUM) && code !== 0x2b && code !== 0x2d && code !== 0x2e) {
      return false;
    }
  }
  return true;
}

/**
 * Parses a SIP or SIPS URI (RFC 3261 §19.1.1, §25.1). Scheme and host are lower-cased, parameter
 * and header names lower-cased, every component unescaped (§19.1.2).
 *
 * @throws SipParseError `SIP_UNSUPPORTED_URI_SCHEME` (status 416) for any other well-formed
 *   scheme (`tel:`, `mailto:`, …, §8.2.2.1), `SIP_PARSE_ERROR` otherwise.
 */
export function parseUri(text: string): SipUri {
  const colon = text.indexOf(':');
  const scheme = colon === -1 ? '' : text.slice(0, colon).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips') {
    if (isScheme(scheme)) {
      throw new SipParseError(
        SipParseErrorCode.UnsupportedUriScheme,
        `unsupported URI scheme ${excerpt(scheme)}`,
      );
    }
    throw malformed('URI', text);
  }
  const end = text.length;
  let user: string | undefined;
  let password: string | undefined;
  let hostStart = colon + 1;
  // user and password cannot hold an unescaped "@", and neither can parameters or headers:
  // the first "@" closes the userinfo (§25.1).
  const at = text.indexOf('@', hostStart);
  if (at !== -1) {
    const passwordColon = text.indexOf(':', hostStart);
    const userEnd = passwordColon !== -1 && passwordColon < at ? passwordColon : at;
    if (userEnd === hostStart) {
      throw malformed('URI user', text);
    }
    user = unescapeComponent(text, hostStart, userEnd, USER_CHARS, 'URI user');
    if (userEnd < at) {
      password = unescapeComponent(text, userEnd + 1, at, PASSWORD_CHARS, 'URI password');
    }
    hostStart = at + 1;
  }

  let hostEnd: number;
  let portStart = -1;
  if (text.charCodeAt(hostStart) === 0x5b) {
    const close = text.indexOf(']', hostStart);
    if (close === -1) {
      throw malformed('URI host', text);
    }
    hostEnd = close + 1;
  } else {
    hostEnd = hostStart;
    while (hostEnd < end) {
      const code = text.charCodeAt(hostEnd);
      if (code === 0x3a || code === SEMI || code === 0x3f) {
        break;
      }
      hostEnd++;
    }
  }
  const host = parseHost(text.slice(hostStart, hostEnd));
  let pos = hostEnd;
  let port: number | undefined;
  if (pos < end && text.charCodeAt(pos) === 0x3a) {
    portStart = pos + 1;
    pos = portStart;
    while (pos < end && text.charCodeAt(pos) !== SEMI && text.charCodeAt(pos) !== 0x3f) {
      pos++;
    }
    port = parsePort(text.slice(portStart, pos));
  }

  const params = new Map<string, string | null>();
  while (pos < end && text.charCodeAt(pos) === SEMI) {
    const start = pos + 1;
    let stop = start;
    let equals = -1;
    while (stop < end) {
      const code = text.charCodeAt(stop);
      if (code === SEMI || code === 0x3f) {
        break;
      }
      if (code === 0x3d && equals === -1) {
        equals = stop;
      }
      stop++;
    }
    const nameEnd = equals === -1 ? stop : equals;
    if (nameEnd === start || (equals !== -1 && equals + 1 === stop)) {
      throw malformed('URI parameter', text);
    }
    const name = unescapeComponent(
      text,
      start,
      nameEnd,
      PARAM_CHARS,
      'URI parameter',
    ).toLowerCase();
    const value =
      equals === -1
        ? null
        : unescapeComponent(text, equals + 1, stop, PARAM_CHARS, 'URI parameter');
    if (!params.has(name)) {
      params.set(name, value);
    }
    pos = stop;
  }

  const headers = new Map<string, string>();
  if (pos < end && text.charCodeAt(pos) === 0x3f) {
    pos++;
    while (pos <= end) {
      let stop = text.indexOf('&', pos);
      if (stop === -1) {
        stop = end;
      }
      const equals = text.indexOf('=', pos);
      if (equals === -1 || equals >= stop || equals === pos) {
        throw malformed('URI header', text);
      }
      const name = unescapeComponent(text, pos, equals, HEADER_CHARS, 'URI header').toLowerCase();
      const value = unescapeComponent(text, equals + 1, stop, HEADER_CHARS, 'URI header');
      if (!headers.has(name)) {
        headers.set(name, value);
      }
      pos = stop + 1;
    }
  } else if (pos < end) {
    throw malformed('URI', text);
  }

  return { scheme, user, password, host, port, params, headers };
}

/** Formats a SIP URI, escaping each component as §19.1.2 requires. */
export function formatUri(uri: SipUri): string {
  let out = `${uri.scheme}:`;
  if (uri.user !== undefined && uri.user.length > 0) {
    out += escapeComponent(uri.user, USER_CHARS);
    if (uri.password !== undefined) {
      out += `:${escapeComponent(uri.password, PASSWORD_CHARS)}`;
    }
    out += '@';
  }
  // Tolerate a bare IPv6 address in `host`: the URI needs the reference form (§19.1.1).
  out += uri.host.includes(':') && !uri.host.startsWith('[') ? `[${uri.host}]` : uri.host;
  if (uri.port !== undefined) {
    out += `:${uri.port}`;
  }
  for (const [name, value] of uri.params) {
    out += `;${escapeComponent(name, PARAM_CHARS)}`;
    if (value !== null) {
      out += `=${escapeComponent(value, PARAM_CHARS)}`;
    }
  }
  let separator = '?';
  for (const [name, value] of uri.headers) {
    out += `${separator}${escapeComponent(name, HEADER_CHARS)}=${escapeComponent(value, HEADER_CHARS)}`;
    separator = '&';
  }
  return out;
}

/** Characters of an unquoted display name: `*(token LWS)`, plus UTF-8 (a common leniency). */
function isDisplayNameChar(code: number): boolean {
  return code >= 0x80 || code === SP || code === HTAB || hasClass(code, TOKEN);
}

/**
 * Parses a name-addr (`"Alice" <sip:alice@atlanta.com>;tag=1`) or addr-spec
 * (`sip:alice@atlanta.com;tag=1`) with its header parameters (RFC 3261 §20.10, §25.1).
 *
 * In the addr-spec form the URI ends at the first `;` or whitespace: "if the URI is not
 * enclosed in angle brackets, any semicolon-delimited parameters are header-parameters, not URI
 * parameters" (§20.10). Quoted display names are unquoted.
 *
 * @throws SipParseError
 */
export function parseNameAddr(text: string): NameAddr {
  const end = skipWsBack(text, 0, text.length);
  let pos = skipWs(text, 0, end);
  let displayName: string | undefined;
  let uriStart: number;
  let uriEnd: number;
  let laquot = -1;
  if (pos < end && text.charCodeAt(pos) === DQUOTE) {
    const quoted = readQuotedString(text, pos, end);
    displayName = quoted.value;
    laquot = skipWs(text, quoted.end, end);
    if (text.charCodeAt(laquot) !== LAQUOT) {
      throw malformed('name-addr', text);
    }
  } else {
    let scan = pos;
    while (scan < end && isDisplayNameChar(text.charCodeAt(scan))) {
      scan++;
    }
    if (scan < end && text.charCodeAt(scan) === LAQUOT) {
      laquot = scan;
      const nameEnd = skipWsBack(text, pos, scan);
      displayName = nameEnd > pos ? text.slice(pos, nameEnd) : undefined;
    }
  }
  if (laquot !== -1) {
    uriStart = laquot + 1;
    uriEnd = text.indexOf('>', uriStart);
    if (uriEnd === -1) {
      throw malformed('name-addr', text);
    }
    pos = uriEnd + 1;
  } else {
    uriStart = pos;
    uriEnd = pos;
    while (uriEnd < end) {
      const code = text.charCodeAt(uriEnd);
      if (code === SEMI || code === SP || code === HTAB) {
        break;
      }
      if (code === QUESTION) {
        // §20.10: a URI with URI headers must be enclosed in <> (RFC 4475 §3.1.2.13).
        throw malformed('addr-spec (URI headers need <>)', text);
      }
      uriEnd++;
    }
    pos = uriEnd;
  }
  if (uriEnd === uriStart) {
    throw malformed('name-addr', text);
  }
  const uri = parseUri(text.slice(uriStart, uriEnd));
  const params = readGenericParams(text, pos, end, new Map());
  return { displayName, uri, params };
}

/**
 * Formats a name-addr. The URI is always enclosed in `<>` (required whenever the URI has
 * parameters, headers or a display name precedes it, §20.10, and always valid); a display
 * name is always quoted.
 */
export function formatNameAddr(value: NameAddr): string {
  const uri = `<${formatUri(value.uri)}>`;
  const params = formatGenericParams(value.params);
  return value.displayName === undefined
    ? `${uri}${params}`
    : `${quoteString(value.displayName)} ${uri}${params}`;
}

/** Parameters that must match when present in either URI (§19.1.4). */
const SIGNIFICANT_URI_PARAMS = ['user', 'ttl', 'method', 'maddr', 'transport'] as const;

function equalsIgnoreCase(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === b) {
    return true;
  }
  if (a === null || b === null || a === undefined || b === undefined) {
    return false;
  }
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * Compares two SIP URIs by the rules of RFC 3261 §19.1.4: scheme must match; user and password
 * compare case-sensitively; host, parameter names and values case-insensitively; a missing
 * port never equals an explicit default; `user`, `ttl`, `method`, `maddr`, `transport` must
 * match when either URI has them; other parameters only when both have them; header
 * components must all be present in both and equal (values compared exactly, the conservative
 * reading of "the matching rules are defined for each header field in Section 20").
 */
export function uriEquals(a: SipUri, b: SipUri): boolean {
  if (
    a.scheme !== b.scheme ||
    a.user !== b.user ||
    a.password !== b.password ||
    a.port !== b.port
  ) {
    return false;
  }
  if (a.host.toLowerCase() !== b.host.toLowerCase()) {
    return false;
  }
  for (const name of SIGNIFICANT_URI_PARAMS) {
    if (!equalsIgnoreCase(a.params.get(name), b.params.get(name))) {
      return false;
    }
  }
  for (const [name, value] of a.params) {
    if (b.params.has(name) && !equalsIgnoreCase(value, b.params.get(name))) {
      return false;
    }
  }
  if (a.headers.size !== b.headers.size) {
    return false;
  }
  for (const [name, value] of a.headers) {
    if (b.headers.get(name) !== value) {
      return false;
    }
  }
  return true;
}
