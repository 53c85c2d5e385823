/**
 * Typed views of individual header values (RFC 3261 §20) and message accessors.
 *
 * The parser keeps header values as strings; these functions read them on demand, so a message
 * that is only relayed never pays for parsing headers nobody looks at. Every function throws
 * nothing but {@link SipParseError}. The accessors report an absent or unreadable mandatory
 * header as `SIP_MISSING_HEADER` (status 400, RFC 3261 §8.2.6 / §16.3).
 */
import { SipParseError } from './errors.js';
import type { SipMessage, SipRequest } from './message.js';
import type { NameAddr, Via } from './uri.js';
import {
  formatGenericParams,
  isToken,
  parseHost,
  parseNameAddr,
  parsePort,
  readGenericParams,
  scanToken,
  skipWs,
  skipWsBack,
} from './uri-parser.js';

const MAX_UINT32 = 0xffff_ffff;
/** via-params whose grammar requires a value (§25.1 via-ttl, via-maddr, via-received, via-branch). */
const VIA_VALUED_PARAMS = ['branch', 'received', 'maddr', 'ttl'] as const;

function malformed(what: string, value: string): SipParseError {
  const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
  return SipParseError.malformed(`invalid ${what}: ${JSON.stringify(shown)}`);
}

/**
 * Parses `*( SEMI generic-param )` (§25.1): `";a=b;c"` → `{ a: 'b', c: null }`. Names are
 * lower-cased, quoted values unquoted, the first occurrence of a repeated name wins.
 * Whitespace around `;` and `=` is allowed (SEMI, EQUAL).
 */
export function parseParams(text: string): Map<string, string | null> {
  return readGenericParams(text, 0, text.length, new Map());
}

/** Formats header parameters as `;name=value`, quoting values that are not a token or host. */
export function formatParams(params: ReadonlyMap<string, string | null>): string {
  return formatGenericParams(params);
}

/**
 * Splits a header value at top-level commas (§7.3.1: `Via: a, b` is two Via values), leaving
 * commas inside quoted strings (with backslash escapes) and `<…>` alone. Elements are trimmed;
 * empty elements are dropped, so an empty value yields `[]`.
 */
export function splitHeaderList(value: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let inQuotes = false;
  let inAngles = false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (inQuotes) {
      if (code === 0x5c) {
        i++;
      } else if (code === 0x22) {
        inQuotes = false;
      }
    } else if (code === 0x22) {
      inQuotes = true;
    } else if (inAngles) {
      inAngles = code !== 0x3e;
    } else if (code === 0x3c) {
      inAngles = true;
    } else if (code === 0x2c) {
      pushTrimmed(parts, value, start, i);
      start = i + 1;
    }
  }
  pushTrimmed(parts, value, start, value.length);
  return parts;
}

function pushTrimmed(parts: string[], value: string, start: number, end: number): void {
  const from = skipWs(value, start, end);
  const to = skipWsBack(value, from, end);
  if (to > from) {
    parts.push(value.slice(from, to));
  }
}

/** Reads `SWS "/" SWS` (SLASH, §25.1) at `pos`; returns the index after it. */
function expectSlash(value: string, pos: number): number {
  const at = skipWs(value, pos);
  if (value.charCodeAt(at) !== 0x2f) {
    throw malformed('Via', value);
  }
  return skipWs(value, at + 1);
}

/**
 * Parses one Via value (§20.42): `SIP/2.0/UDP host[:port];params`. Whitespace is allowed
 * around `/`, `:`, `;` and `=`. The transport is upper-cased, the host lower-cased (IPv6
 * references keep their brackets).
 */
export function parseVia(value: string): Via {
  const end = skipWsBack(value, 0, value.length);
  let pos = skipWs(value, 0, end);
  const nameEnd = scanToken(value, pos, end);
  const protocol = value.slice(pos, nameEnd);
  pos = expectSlash(value, nameEnd);
  const versionEnd = scanToken(value, pos, end);
  const version = value.slice(pos, versionEnd);
  pos = expectSlash(value, versionEnd);
  const transportEnd = scanToken(value, pos, end);
  if (protocol.toUpperCase() !== 'SIP' || version !== '2.0' || transportEnd === pos) {
    throw malformed('Via', value);
  }
  const transport = value.slice(pos, transportEnd).toUpperCase();
  // sent-protocol LWS sent-by: at least one whitespace character (§20.42).
  pos = skipWs(value, transportEnd, end);
  if (pos === transportEnd) {
    throw malformed('Via', value);
  }
  let hostEnd = pos;
  if (value.charCodeAt(pos) === 0x5b) {
    hostEnd = value.indexOf(']', pos) + 1;
    if (hostEnd === 0) {
      throw malformed('Via', value);
    }
  } else {
    while (hostEnd < end) {
      const code = value.charCodeAt(hostEnd);
      if (code === 0x3a || code === 0x3b || code === 0x20 || code === 0x09) {
        break;
      }
      hostEnd++;
    }
  }
  const host = parseHost(value.slice(pos, hostEnd));
  pos = skipWs(value, hostEnd, end);
  let port: number | undefined;
  if (value.charCodeAt(pos) === 0x3a) {
    const portStart = skipWs(value, pos + 1, end);
    let portEnd = portStart;
    while (
      portEnd < end &&
      value.charCodeAt(portEnd) >= 0x30 &&
      value.charCodeAt(portEnd) <= 0x39
    ) {
      portEnd++;
    }
    port = parsePort(value.slice(portStart, portEnd));
    pos = portEnd;
  }
  const params = readGenericParams(value, pos, end, new Map());
  for (const name of VIA_VALUED_PARAMS) {
    if (params.get(name) === null) {
      throw malformed('Via', value);
    }
  }
  return { transport, host, port, params };
}

/** Formats a Via value (`SIP/2.0/UDP host:port;branch=…`). */
export function formatVia(via: Via): string {
  const host = via.host.includes(':') && !via.host.startsWith('[') ? `[${via.host}]` : via.host;
  const port = via.port === undefined ? '' : `:${via.port}`;
  return `SIP/2.0/${via.transport} ${host}${port}${formatGenericParams(via.params)}`;
}

/** Parses `1*DIGIT` bounded to a 32-bit unsigned value; returns -1 when not digits. */
function parseUint32(value: string, start: number, end: number): number {
  if (end <= start || end - start > 10) {
    return -1;
  }
  for (let i = start; i < end; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x30 || code > 0x39) {
      return -1;
    }
  }
  const number = Number(value.slice(start, end));
  return number > MAX_UINT32 ? -1 : number;
}

/**
 * Parses a CSeq value (§20.16): `1*DIGIT LWS Method`. The sequence number must fit 32 bits
 * unsigned; the method is a case-sensitive token.
 */
export function parseCSeq(value: string): { seq: number; method: string } {
  const end = skipWsBack(value, 0, value.length);
  const start = skipWs(value, 0, end);
  let digitsEnd = start;
  while (
    digitsEnd < end &&
    value.charCodeAt(digitsEnd) >= 0x30 &&
    value.charCodeAt(digitsEnd) <= 0x39
  ) {
    digitsEnd++;
  }
  const seq = parseUint32(value, start, digitsEnd);
  const methodStart = skipWs(value, digitsEnd, end);
  const method = value.slice(methodStart, end);
  if (seq < 0 || methodStart === digitsEnd || !isToken(method)) {
    throw malformed('CSeq', value);
  }
  return { seq, method };
}

function required(m: SipMessage, name: string): string {
  const value = m.headers.get(name);
  if (value === undefined) {
    throw SipParseError.missingHeader(name);
  }
  return value;
}

function readRequired<T>(m: SipMessage, name: string, read: (value: string) => T): T {
  const value = required(m, name);
  try {
    return read(value);
  } catch (error) {
    throw SipParseError.missingHeader(name, error);
  }
}

/** The Call-ID (§20.8: `word [ "@" word ]`, compared case-sensitively). */
export function getCallId(m: SipMessage): string {
  return readRequired(m, 'Call-ID', (value) => {
    const start = skipWs(value, 0);
    const end = skipWsBack(value, start, value.length);
    const callId = value.slice(start, end);
    if (callId.length === 0) {
      throw malformed('Call-ID', value);
    }
    for (let i = 0; i < callId.length; i++) {
      // word [ "@" word ]: visible US-ASCII only (§25.1 `word`).
      const code = callId.charCodeAt(i);
      if (code < 0x21 || code > 0x7e) {
        throw malformed('Call-ID', value);
      }
    }
    return callId;
  });
}

/** The parsed CSeq (§20.16). */
export function getCSeq(m: SipMessage): { seq: number; method: string } {
  return readRequired(m, 'CSeq', parseCSeq);
}

/** The topmost Via (§8.2.6.2, §17.2.3 match on it; §18.2.1 adds `received` to it). */
export function getTopVia(m: SipMessage): Via {
  return readRequired(m, 'Via', parseVia);
}

/** The From value (§20.20). */
export function getFrom(m: SipMessage): NameAddr {
  return readRequired(m, 'From', parseNameAddr);
}

/** The To value (§20.39). */
export function getTo(m: SipMessage): NameAddr {
  return readRequired(m, 'To', parseNameAddr);
}

/** The `tag` parameter of a From or To value (§19.3), if it has one with a value. */
export function getTag(addr: NameAddr): string | undefined {
  return addr.params.get('tag') ?? undefined;
}

/**
 * Every Contact value, in message order; `'*'` for the REGISTER wildcard (§10.2.2), which must
 * then be the only Contact value. An absent Contact yields `[]`.
 */
export function getContacts(m: SipMessage): NameAddr[] | '*' {
  const values = m.headers.getAll('Contact');
  if (values.length === 1 && values[0]?.trim() === '*') {
    return '*';
  }
  try {
    return values.map((value) => {
      if (value.trim() === '*') {
        // §10.3 step 6: "*" combined with other contacts is a 400.
        throw malformed('Contact', value);
      }
      return parseNameAddr(value);
    });
  } catch (error) {
    throw SipParseError.missingHeader('Contact', error);
  }
}

function readDeltaSeconds(value: string, name: string, max: number): number {
  const start = skipWs(value, 0);
  const end = skipWsBack(value, start, value.length);
  if (end === start) {
    throw malformed(name, value);
  }
  for (let i = start; i < end; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x30 || code > 0x39) {
      throw malformed(name, value);
    }
  }
  // Leading zeros are allowed ("0068", RFC 4475 §3.1.1.1); huge values are clamped (§20.10).
  return Math.min(Number(value.slice(start, end)), max);
}

/** Max-Forwards (§20.22: 0–255), or undefined when absent (it is optional on receipt, §16.3). */
export function getMaxForwards(m: SipRequest): number | undefined {
  const value = m.headers.get('Max-Forwards');
  if (value === undefined) {
    return undefined;
  }
  try {
    const hops = readDeltaSeconds(value, 'Max-Forwards', Number.MAX_SAFE_INTEGER);
    if (hops > 255) {
      throw malformed('Max-Forwards', value);
    }
    return hops;
  } catch (error) {
    throw SipParseError.missingHeader('Max-Forwards', error);
  }
}

/**
 * The Expires header in seconds (§20.19), or undefined when absent. Values above 2³²−1 are
 * treated as 2³²−1.
 */
export function getExpires(m: SipMessage): number | undefined {
  const value = m.headers.get('Expires');
  if (value === undefined) {
    return undefined;
  }
  try {
    return readDeltaSeconds(value, 'Expires', MAX_UINT32);
  } catch (error) {
    throw SipParseError.missingHeader('Expires', error);
  }
}
