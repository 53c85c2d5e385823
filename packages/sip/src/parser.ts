/**
 * SIP message parsing (RFC 3261 §7, §18.3, §25): one datagram or WebSocket message at a time
 * ({@link parseMessage}), or a byte stream cut into messages ({@link StreamFramer}).
 *
 * The parser is on the hot path, so it only does what every message needs: it reads the start
 * line (and the Request-URI), unfolds and splits header lines, and frames the body by
 * Content-Length. Header values stay strings; `header-values.ts` reads them on demand. It scans
 * with `indexOf` and character loops (no regular expressions), and every step is bounded by
 * {@link ParseOptions}. Untrusted bytes can make these entry points throw (or report) a
 * {@link SipParseError} and nothing else.
 */
import { SipParseError, SipParseErrorCode, isSipParseError } from './errors.js';
import {
  getCallId,
  getCSeq,
  getFrom,
  getMaxForwards,
  getTo,
  getTopVia,
  splitHeaderList,
} from './header-values.js';
import { LIST_HEADERS, SipHeaders, canonicalHeaderName } from './headers.js';
import { resolveParseLimits } from './limits.js';
import type { ParseLimits, ParseOptions } from './limits.js';
import { SIP_VERSION, SipRequest, SipResponse } from './message.js';
import type { SipMessage } from './message.js';
import type { SipUri } from './uri.js';
import { isToken, parseUri, scanToken, skipWs, skipWsBack } from './uri-parser.js';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const EMPTY_BODY = new Uint8Array(0);

/** The parsed start line and headers of a message, before its body is attached. */
interface Head {
  readonly message: SipMessage;
  /** The Content-Length value; undefined when absent or unreadable (see `problem`). */
  readonly contentLength: number | undefined;
  /** The first error found; the message is still returned so a response can be built from it. */
  readonly problem: SipParseError | undefined;
}

/** Where the header section ends: `headEnd` is the LF ending the last header line. */
interface HeadBounds {
  readonly headEnd: number;
  readonly bodyStart: number;
}

/**
 * Finds the empty line that ends the header section in `bytes[from, to)` (CRLF CRLF, or bare
 * LF LF, which we tolerate).
 */
function findHeadEnd(bytes: Uint8Array, from: number, to: number): HeadBounds | undefined {
  let i = from;
  for (;;) {
    const lf = bytes.indexOf(LF, i);
    if (lf === -1 || lf >= to) {
      return undefined;
    }
    const next = lf + 1;
    if (next < to && bytes[next] === LF) {
      return { headEnd: lf, bodyStart: next + 1 };
    }
    if (next + 1 < to && bytes[next] === CR && bytes[next + 1] === LF) {
      return { headEnd: lf, bodyStart: next + 2 };
    }
    i = next;
  }
}

function placeholderUri(): SipUri {
  return {
    scheme: 'sip',
    user: undefined,
    password: undefined,
    host: '',
    port: undefined,
    params: new Map(),
    headers: new Map(),
  };
}

function tooLarge(what: string, status: number): SipParseError {
  return new SipParseError(
    SipParseErrorCode.MessageTooLarge,
    `${what} exceeds the configured limit`,
    { status },
  );
}

/** Whether `version` follows `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT` (§25.1). */
function isSipVersionShape(version: string): boolean {
  if (version.length < 7 || version.slice(0, 4).toUpperCase() !== 'SIP/') {
    return false;
  }
  const dot = version.indexOf('.', 4);
  if (dot <= 4 || dot === version.length - 1) {
    return false;
  }
  for (let i = 4; i < version.length; i++) {
    const code = version.charCodeAt(i);
    if (i !== dot && (code < 0x30 || code > 0x39)) {
      return false;
    }
  }
  return true;
}

interface StartLine {
  readonly message: SipMessage;
  readonly problem: SipParseError | undefined;
}

/**
 * Reads a Request-Line or Status-Line (§7.1, §7.2). Throws when the line is not recognisable
 * as either (nothing a response could be built from); returns a deferred problem for a bad
 * version or Request-URI, which still allow a 505/416/400 answer.
 */
function parseStartLine(line: string, limits: ParseLimits): StartLine {
  if (line.length >= 4 && line.slice(0, 4).toUpperCase() === 'SIP/') {
    if (line.length > limits.maxHeaderLineBytes) {
      throw tooLarge('Status-Line', 513);
    }
    const sp1 = line.indexOf(' ');
    const version = sp1 === -1 ? line : line.slice(0, sp1);
    if (version.toUpperCase() !== SIP_VERSION) {
      throw new SipParseError(
        SipParseErrorCode.VersionNotSupported,
        `unsupported SIP version in status line`,
      );
    }
    const sp2 = line.indexOf(' ', sp1 + 1);
    const codeText = line.slice(sp1 + 1, sp2 === -1 ? line.length : sp2);
    const status = Number(codeText);
    if (
      sp1 === -1 ||
      codeText.length !== 3 ||
      !Number.isInteger(status) ||
      status < 100 ||
      status > 699
    ) {
      throw SipParseError.malformed('invalid Status-Line');
    }
    // Reason-Phrase may be empty; a missing SP before it is tolerated.
    const reason = sp2 === -1 ? '' : line.slice(sp2 + 1);
    return { message: new SipResponse(status, reason), problem: undefined };
  }

  const sp1 = line.indexOf(' ');
  const sp2 = line.lastIndexOf(' ');
  const method = line.slice(0, sp1);
  const version = line.slice(sp2 + 1);
  if (sp1 <= 0 || sp2 <= sp1 || !isToken(method) || !isSipVersionShape(version)) {
    throw SipParseError.malformed('invalid start line: neither a Request-Line nor a Status-Line');
  }
  let problem: SipParseError | undefined;
  let uri: SipUri;
  if (version.toUpperCase() !== SIP_VERSION) {
    // A UAS answers a version it does not support with 505 (§21.5.6).
    problem = new SipParseError(
      SipParseErrorCode.VersionNotSupported,
      `unsupported SIP version ${version}`,
    );
  }
  if (line.length > limits.maxHeaderLineBytes) {
    uri = placeholderUri();
    problem ??= tooLarge('Request-Line', 414);
  } else {
    try {
      // RFC 4475 §3.1.2.9: extra SP between the elements is invalid; reading it as part of
      // the URI makes it a 400.
      uri = parseUri(line.slice(sp1 + 1, sp2));
    } catch (error) {
      uri = placeholderUri();
      problem ??=
        error instanceof SipParseError ? error : SipParseError.malformed('invalid Request-URI');
    }
  }
  return { message: new SipRequest(method, uri), problem };
}

/** Reads the Content-Length values of `headers` (§20.14); all copies must agree. */
function readContentLength(headers: SipHeaders): number | SipParseError | undefined {
  const values = headers.getAll('Content-Length');
  if (values.length === 0) {
    return undefined;
  }
  let length: number | undefined;
  for (const value of values) {
    const start = skipWs(value, 0);
    const end = skipWsBack(value, start, value.length);
    let ok = end > start && end - start <= 10;
    for (let i = start; ok && i < end; i++) {
      const code = value.charCodeAt(i);
      ok = code >= 0x30 && code <= 0x39;
    }
    const parsed = ok ? Number(value.slice(start, end)) : Number.NaN;
    if (Number.isNaN(parsed) || (length !== undefined && parsed !== length)) {
      return new SipParseError(SipParseErrorCode.BadContentLength, 'invalid Content-Length');
    }
    length = parsed;
  }
  return length;
}

/**
 * Parses the start line and header lines of `text` (the header section without the empty line
 * that ends it). Unfolds continuation lines (§7.3.1), expands compact names (§7.3.3) and
 * splits comma-joined values of list headers.
 */
function parseHead(text: string, limits: ParseLimits): Head {
  let lineEnd = text.indexOf('\n');
  if (lineEnd === -1) {
    lineEnd = text.length;
  }
  // Trailing SP after the SIP-Version is invalid; RFC 4475 §3.1.2.10 lets us be liberal.
  const startLineEnd = skipWsBack(
    text,
    0,
    lineEnd > 0 && text.charCodeAt(lineEnd - 1) === CR ? lineEnd - 1 : lineEnd,
  );
  const start = parseStartLine(text.slice(0, startLineEnd), limits);
  const { message } = start;
  let problem = start.problem;
  // CR is only allowed before LF (§7: lines end with CRLF). A bare CR would survive into a
  // header value, and from there into a message we forward.
  for (
    let cr = text.indexOf('\r');
    cr !== -1 && problem === undefined;
    cr = text.indexOf('\r', cr + 1)
  ) {
    if (cr + 1 < text.length && text.charCodeAt(cr + 1) !== LF) {
      problem = SipParseError.malformed('bare CR in the header section');
    }
  }
  const note = (error: SipParseError): void => {
    problem ??= error;
  };

  let count = 0;
  let name: string | undefined;
  let value = '';
  const flush = (): boolean => {
    if (name === undefined) {
      return true;
    }
    const canonical = canonicalHeaderName(name);
    name = undefined;
    const values =
      value.includes(',') && LIST_HEADERS.has(canonical.toLowerCase())
        ? splitHeaderList(value)
        : [value];
    if (values.length === 0) {
      // An empty list value (`Supported:`) is kept as one empty value.
      values.push('');
    }
    for (const item of values) {
      if (++count > limits.maxHeaders) {
        note(tooLarge('number of header fields', 513));
        return false;
      }
      message.headers.append(canonical, item);
    }
    return true;
  };

  let pos = lineEnd + 1;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) {
      nl = text.length;
    }
    const first = text.charCodeAt(pos);
    if (nl - pos > limits.maxHeaderLineBytes) {
      note(tooLarge('header line', 513));
      if (first === SP || first === HTAB) {
        // The pending header continues on this line: it is incomplete, drop it.
        name = undefined;
      }
      break;
    }
    const end = skipWsBack(text, pos, nl > pos && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl);
    if (first === SP || first === HTAB) {
      // LWS = [*WSP CRLF] 1*WSP: a continuation line joins the previous one with one SP (§7.3.1).
      const from = skipWs(text, pos, end);
      if (name === undefined) {
        note(SipParseError.malformed('continuation line without a header field'));
      } else if (from < end) {
        value = value.length === 0 ? text.slice(from, end) : `${value} ${text.slice(from, end)}`;
        if (value.length > limits.maxHeaderLineBytes) {
          note(tooLarge('header field', 513));
          name = undefined;
          break;
        }
      }
    } else {
      if (!flush()) {
        break;
      }
      // header-name HCOLON: a token, optional SP/HTAB, then ":" (§25.1).
      const nameEnd = scanToken(text, pos, end);
      const colon = skipWs(text, nameEnd, end);
      if (nameEnd === pos || colon >= end || text.charCodeAt(colon) !== COLON) {
        note(
          SipParseError.malformed(
            `invalid header line ${JSON.stringify(text.slice(pos, Math.min(end, pos + 64)))}`,
          ),
        );
      } else {
        name = text.slice(pos, nameEnd);
        value = text.slice(skipWs(text, colon + 1, end), end);
      }
    }
    pos = nl + 1;
  }
  flush();

  const contentLength = readContentLength(message.headers);
  if (contentLength instanceof SipParseError) {
    return { message, contentLength: undefined, problem: problem ?? contentLength };
  }
  return { message, contentLength, problem };
}

/**
 * The message if the headers a response is built from are readable (RFC 3261 §8.2.6.2: Via,
 * From, To, Call-ID, CSeq), else undefined.
 */
function responseBasis(message: SipMessage): SipMessage | undefined {
  try {
    getTopVia(message);
    getFrom(message);
    getTo(message);
    getCallId(message);
    getCSeq(message);
    return message;
  } catch {
    return undefined;
  }
}

function fail(error: SipParseError, message: SipMessage): SipParseError {
  return error.withPartial(responseBasis(message));
}

/** Wraps anything unexpected so that only SipParseError leaves the public entry points. */
function contain(error: unknown): SipParseError {
  if (isSipParseError(error)) {
    return error;
  }
  return new SipParseError(SipParseErrorCode.ParseError, 'unparseable message', { cause: error });
}

function skipLineBreaks(bytes: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to && (bytes[i] === CR || bytes[i] === LF)) {
    i++;
  }
  return i;
}

function parseDatagram(bytes: Uint8Array, limits: ParseLimits): SipMessage {
  // §7.5: CRLFs before the start line are ignored.
  const start = skipLineBreaks(bytes, 0, bytes.length);
  if (start === bytes.length) {
    throw SipParseError.malformed('empty message');
  }
  const oversize = bytes.length > limits.maxMessageBytes;
  const bounds = findHeadEnd(bytes, start, Math.min(bytes.length, start + limits.maxMessageBytes));
  if (bounds === undefined) {
    if (oversize) {
      throw tooLarge('header section', 513);
    }
    const head = parseHead(decoder.decode(bytes.subarray(start)), limits);
    throw fail(
      head.problem ?? SipParseError.malformed('truncated message: no empty line after the headers'),
      head.message,
    );
  }
  const head = parseHead(decoder.decode(bytes.subarray(start, bounds.headEnd)), limits);
  if (head.problem !== undefined) {
    throw fail(head.problem, head.message);
  }
  if (oversize) {
    throw fail(tooLarge('message body', 413), head.message);
  }
  const available = bytes.length - bounds.bodyStart;
  if (head.contentLength === undefined) {
    // §18.3: without Content-Length, a datagram's body ends with the datagram.
    head.message.body = available === 0 ? EMPTY_BODY : bytes.slice(bounds.bodyStart);
  } else if (head.contentLength > available) {
    // §18.3: "If the transport packet ends before the end of the message body, this is
    // considered an error": 400 for requests, discard for responses.
    throw fail(
      new SipParseError(SipParseErrorCode.BadContentLength, 'body shorter than Content-Length'),
      head.message,
    );
  } else {
    // §18.3: bytes beyond Content-Length are discarded.
    head.message.body =
      head.contentLength === 0
        ? EMPTY_BODY
        : bytes.slice(bounds.bodyStart, bounds.bodyStart + head.contentLength);
  }
  return head.message;
}

/**
 * Parses one complete message: a UDP datagram or a WebSocket message (RFC 7118 §5: one SIP
 * message per WebSocket message).
 *
 * Leading CRLFs are ignored (§7.5), bare LF line endings tolerated, folded lines unfolded,
 * compact header names expanded, comma-joined list headers split. Content-Length follows the
 * datagram rules of §18.3: a longer body is truncated to it, a shorter one is an error, and
 * without it the body runs to the end of the data.
 *
 * @throws SipParseError with the status a UAS should answer and, when the headers a response
 *   needs are readable, the `partial` message. Nothing else is thrown for any input.
 * @throws TypeError when `options` holds an invalid limit (a caller mistake).
 */
export function parseMessage(data: Uint8Array | string, options?: ParseOptions): SipMessage {
  const limits = resolveParseLimits(options);
  try {
    return parseDatagram(typeof data === 'string' ? encoder.encode(data) : data, limits);
  } catch (error) {
    throw contain(error);
  }
}

/** Options of {@link StreamFramer}. */
export interface StreamFramerOptions extends ParseOptions {
  /**
   * Called for each keep-alive between messages (RFC 5626 §4.4.1): `ping` for a double CRLF
   * (a server that supports outbound answers it with a single CRLF), `pong` for a single CRLF.
   */
  readonly onKeepAlive?: (kind: 'ping' | 'pong') => void;
}

/** A message whose header section has been read and whose body is awaited. */
interface PendingMessage {
  readonly head: Head;
  /** Offset of the body from the start of the message (past leading keep-alives). */
  readonly bodyOffset: number;
  readonly contentLength: number;
}

const INITIAL_CAPACITY = 4096;

/**
 * Cuts a TCP or TLS byte stream into SIP messages (RFC 3261 §18.3: Content-Length is mandatory
 * on streams and frames the body).
 *
 * Feed it bytes as they arrive; it returns each whole message, or a {@link SipParseError} for a
 * message that could be framed but not accepted (the stream goes on). An unrecoverable framing
 * error — a missing or invalid Content-Length, a header section or message over the limits, a
 * start line that is not SIP — is reported once, after which the framer is {@link broken},
 * returns nothing more, and the connection should be closed.
 */
export class StreamFramer {
  readonly #limits: ParseLimits;
  readonly #onKeepAlive: ((kind: 'ping' | 'pong') => void) | undefined;
  #buffer = new Uint8Array(INITIAL_CAPACITY);
  #start = 0;
  #end = 0;
  /** Where to resume looking for the end of the header section. */
  #scanFrom = 0;
  #pending: PendingMessage | undefined;
  #broken = false;

  constructor(options?: StreamFramerOptions) {
    this.#limits = resolveParseLimits(options);
    this.#onKeepAlive = options?.onKeepAlive;
  }

  /** True after an unrecoverable framing error: the connection should be closed. */
  get broken(): boolean {
    return this.#broken;
  }

  /** Bytes received and not yet part of a returned message. */
  get bufferedBytes(): number {
    return this.#end - this.#start;
  }

  /** Appends `chunk` and returns every message (or per-message error) it completes. */
  push(chunk: Uint8Array): (SipMessage | SipParseError)[] {
    if (this.#broken) {
      return [];
    }
    const out: (SipMessage | SipParseError)[] = [];
    try {
      this.#append(chunk);
      this.#extract(out);
    } catch (error) {
      out.push(contain(error));
      this.#break();
    }
    this.#compact();
    return out;
  }

  #break(): void {
    this.#broken = true;
    this.#pending = undefined;
    this.#buffer = new Uint8Array(0);
    this.#start = 0;
    this.#end = 0;
    this.#scanFrom = 0;
  }

  #append(chunk: Uint8Array): void {
    if (chunk.length === 0) {
      return;
    }
    if (this.#end + chunk.length > this.#buffer.length) {
      const used = this.#end - this.#start;
      const needed = used + chunk.length;
      if (needed > this.#buffer.length) {
        const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
        grown.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = grown;
      } else {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      }
      this.#scanFrom = Math.max(0, this.#scanFrom - this.#start);
      this.#start = 0;
      this.#end = used;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** Releases a buffer grown for an unusually large chunk once it has been consumed. */
  #compact(): void {
    if (this.#start === this.#end) {
      this.#start = 0;
      this.#end = 0;
      this.#scanFrom = 0;
      if (this.#buffer.length > Math.max(INITIAL_CAPACITY, 2 * this.#limits.maxMessageBytes)) {
        this.#buffer = new Uint8Array(INITIAL_CAPACITY);
      }
    }
  }

  /**
   * Consumes keep-alives at a message boundary (RFC 5626 §4.4.1). Returns false when the
   * buffered bytes could still become a keep-alive and more data is needed to tell.
   */
  #skipKeepAlives(): boolean {
    const bytes = this.#buffer;
    while (this.#start < this.#end) {
      const available = this.#end - this.#start;
      const at = this.#start;
      if (bytes[at] !== CR && bytes[at] !== LF) {
        return true;
      }
      if (bytes[at] === CR && (available < 2 || bytes[at + 1] === LF)) {
        // CRLF, possibly the first half of a CRLFCRLF ping.
        if (available < 4) {
          const prefix = available < 3 || bytes[at + 2] === CR;
          if (prefix) {
            return false;
          }
        }
        if (available >= 4 && bytes[at + 2] === CR && bytes[at + 3] === LF) {
          this.#start += 4;
          this.#onKeepAlive?.('ping');
        } else {
          this.#start += 2;
          this.#onKeepAlive?.('pong');
        }
      } else {
        // A stray CR or LF before a start line: ignored like leading CRLFs (§7.5).
        this.#start += 1;
      }
    }
    return true;
  }

  #extract(out: (SipMessage | SipParseError)[]): void {
    const limits = this.#limits;
    for (;;) {
      if (this.#pending === undefined) {
        if (!this.#skipKeepAlives() || this.#start === this.#end) {
          return;
        }
        const from = Math.max(this.#start, this.#scanFrom);
        const bounds = findHeadEnd(this.#buffer, from, this.#end);
        if (bounds === undefined) {
          if (this.#end - this.#start > limits.maxMessageBytes) {
            throw tooLarge('header section', 513);
          }
          this.#scanFrom = Math.max(this.#start, this.#end - 2);
          return;
        }
        if (bounds.bodyStart - this.#start > limits.maxMessageBytes) {
          throw tooLarge('header section', 513);
        }
        const head = parseHead(
          decoder.decode(this.#buffer.subarray(this.#start, bounds.headEnd)),
          limits,
        );
        const { contentLength } = head;
        if (contentLength === undefined) {
          // §18.3: "The Content-Length header field MUST be used with stream oriented
          // transports"; without it the next message cannot be found.
          const code = head.problem?.code;
          const problem =
            head.problem !== undefined &&
            (code === SipParseErrorCode.BadContentLength ||
              code === SipParseErrorCode.MessageTooLarge)
              ? head.problem
              : new SipParseError(
                  SipParseErrorCode.BadContentLength,
                  'Content-Length is missing on a stream',
                );
          throw fail(problem, head.message);
        }
        const bodyOffset = bounds.bodyStart - this.#start;
        if (bodyOffset + contentLength > limits.maxMessageBytes) {
          throw fail(tooLarge('message body', 413), head.message);
        }
        this.#pending = { head, bodyOffset, contentLength };
      }
      const pending = this.#pending;
      const bodyStart = this.#start + pending.bodyOffset;
      if (this.#end - bodyStart < pending.contentLength) {
        return;
      }
      const bodyEnd = bodyStart + pending.contentLength;
      const { message, problem } = pending.head;
      this.#pending = undefined;
      this.#start = bodyEnd;
      this.#scanFrom = bodyEnd;
      if (problem === undefined) {
        message.body =
          pending.contentLength === 0 ? EMPTY_BODY : this.#buffer.slice(bodyStart, bodyEnd);
        out.push(message);
      } else {
        out.push(fail(problem, message));
      }
    }
  }
}

/** Header fields that a request carries exactly once (§20: not list-valued). */
const SINGLE_HEADERS = ['Call-ID', 'CSeq', 'From', 'To', 'Max-Forwards'] as const;

/**
 * Sanity checks a UAS or proxy applies to a request before processing it (RFC 3261 §8.2,
 * §16.3 step 1): Request-URI scheme sip/sips (else 416) without URI headers, To, From,
 * Call-ID, CSeq and Via present and readable, each single-valued header once, CSeq method
 * equal to the request method, Max-Forwards (optional) in range.
 *
 * @throws SipParseError — `SIP_MISSING_HEADER` (400, no `partial`: a response cannot be built)
 *   or `SIP_PARSE_ERROR` / `SIP_UNSUPPORTED_URI_SCHEME` with `partial` set to the request.
 */
export function validateRequest(m: SipRequest): void {
  getTopVia(m);
  getFrom(m);
  getTo(m);
  getCallId(m);
  const cseq = getCSeq(m);
  if (m.uri.scheme !== 'sip' && m.uri.scheme !== 'sips') {
    throw new SipParseError(
      SipParseErrorCode.UnsupportedUriScheme,
      'unsupported Request-URI scheme',
      {
        partial: m,
      },
    );
  }
  if (m.uri.host.length === 0) {
    throw SipParseError.malformed('Request-URI has no host', m);
  }
  if (m.uri.headers.size > 0) {
    // §19.1.1 (table of URI components), RFC 4475 §3.1.2.11: no headers in a Request-URI.
    throw SipParseError.malformed('Request-URI carries URI headers', m);
  }
  for (const name of SINGLE_HEADERS) {
    if (m.headers.getAll(name).length > 1) {
      throw SipParseError.malformed(`${name} appears more than once`, m);
    }
  }
  if (cseq.method !== m.method) {
    // §8.1.1.5: "The method MUST match that of the request."
    throw SipParseError.malformed(
      `CSeq method ${cseq.method} differs from request method ${m.method}`,
      m,
    );
  }
  try {
    getMaxForwards(m);
  } catch (error) {
    throw contain(error).withPartial(m);
  }
}
