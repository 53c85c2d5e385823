/**
 * Building the messages the transaction layer and the UA cores derive from a request:
 * responses (§8.2.6), CANCEL (§9.1) and the ACK for a non-2xx final response (§17.1.1.3),
 * plus branch and CSeq helpers.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { SipHeaders } from '../headers.js';
import { SipRequest, SipResponse, reasonPhrase, setBody } from '../message.js';
import { getTag } from '../header-values.js';
import { parseNameAddr } from '../uri-parser.js';
import { cloneUri } from '../uri.js';

/** The branch prefix of RFC 3261 transactions (§8.1.1.7). */
export const MAGIC_COOKIE = 'z9hG4bK';

/** Largest CSeq sequence number (§8.1.1.5: a 32-bit unsigned integer). */
const MAX_CSEQ = 0xffff_ffff;

/**
 * A new, globally unique branch for a Via we add (§8.1.1.7): the magic cookie followed by a
 * random UUID's 122 random bits.
 */
export function newBranch(): string {
  return `${MAGIC_COOKIE}${randomUUID().replaceAll('-', '')}`;
}

/** Whether a branch was built by an RFC 3261 element (§17.2.3 matching applies). */
export function isRfc3261Branch(branch: string | null | undefined): branch is string {
  return (
    typeof branch === 'string' &&
    branch.startsWith(MAGIC_COOKIE) &&
    branch.length > MAGIC_COOKIE.length
  );
}

/** A new random tag for From or To (§19.3: at least 32 bits of randomness). */
export function newTag(): string {
  return randomUUID().replaceAll('-', '').slice(0, 16);
}

/** A new Call-ID (§8.1.1.4), optionally with `@host`. */
export function newCallId(host?: string): string {
  const id = randomUUID();
  return host === undefined ? id : `${id}@${host}`;
}

/**
 * An initial CSeq for a new dialog or registration (§8.1.1.5: below 2³¹; random so that a
 * restarted UA does not reuse numbers).
 */
export function initialCSeq(): number {
  return randomInt(1, 0x1_0000);
}

/** The next CSeq after `seq` (§12.2.1.1: incremented by one). @throws RangeError past 2³²−1. */
export function nextCSeq(seq: number): number {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq >= MAX_CSEQ) {
    throw new RangeError(`no CSeq after ${seq}`);
  }
  return seq + 1;
}

/** Options of {@link createResponse}. */
export interface CreateResponseOptions {
  /** Tag added to To when the request's To has none (§8.2.6.2). Not for 100 Trying. */
  readonly toTag?: string | undefined;
  /** Copy Record-Route, for responses that establish a dialog (§12.1.1). @default false */
  readonly copyRecordRoute?: boolean | undefined;
  /** Extra header fields appended in order. */
  readonly headers?: Iterable<readonly [name: string, value: string]> | undefined;
  readonly body?: string | Uint8Array | undefined;
  readonly contentType?: string | undefined;
}

/**
 * Builds a response to `request` (§8.2.6): Via (every value, in order), From, To, Call-ID and
 * CSeq are copied; To gets `toTag` unless it already has a tag; a 100 copies Timestamp
 * (§8.2.6.1). Headers absent from the request are simply not copied, so this never throws on
 * a malformed request.
 */
export function createResponse(
  request: SipRequest,
  status: number,
  reason?: string,
  options: CreateResponseOptions = {},
): SipResponse {
  if (!Number.isInteger(status) || status < 100 || status > 699) {
    throw new RangeError(`invalid status code ${status}`);
  }
  const headers = new SipHeaders();
  for (const value of request.headers.getAll('Via')) {
    headers.append('Via', value);
  }
  if (options.copyRecordRoute === true) {
    for (const value of request.headers.getAll('Record-Route')) {
      headers.append('Record-Route', value);
    }
  }
  copyFirst(request.headers, headers, 'From');
  const to = request.headers.get('To');
  if (to !== undefined) {
    const tag = options.toTag;
    headers.set('To', tag !== undefined && status > 100 && !hasTag(to) ? `${to};tag=${tag}` : to);
  }
  copyFirst(request.headers, headers, 'Call-ID');
  copyFirst(request.headers, headers, 'CSeq');
  if (status === 100) {
    copyFirst(request.headers, headers, 'Timestamp');
  }
  for (const [name, value] of options.headers ?? []) {
    headers.append(name, value);
  }
  const response = new SipResponse(status, reason ?? reasonPhrase(status), headers);
  if (options.body !== undefined) {
    setBody(response, options.body, options.contentType);
  }
  return response;
}

/**
 * Builds the CANCEL for a request we sent (§9.1): same Request-URI, Call-ID, From, To (tags
 * included) and CSeq number; a single Via equal to the request's top Via, so that the CANCEL
 * reaches the same server transaction; the request's Route set.
 */
export function createCancel(request: SipRequest): SipRequest {
  return derivedRequest(request, 'CANCEL', request.headers.get('To'));
}

/**
 * Builds the ACK for a non-2xx final response to an INVITE (§17.1.1.3): like the INVITE but
 * with the To of the response (it carries the UAS's tag), a single Via equal to the INVITE's
 * top Via, CSeq method ACK and no body. The ACK for a 2xx is a new request built by the
 * dialog instead (§13.2.2.4).
 */
export function createAckForNon2xx(invite: SipRequest, response: SipResponse): SipRequest {
  return derivedRequest(invite, 'ACK', response.headers.get('To') ?? invite.headers.get('To'));
}

function derivedRequest(
  request: SipRequest,
  method: 'ACK' | 'CANCEL',
  to: string | undefined,
): SipRequest {
  const headers = new SipHeaders();
  copyFirst(request.headers, headers, 'Via');
  for (const route of request.headers.getAll('Route')) {
    headers.append('Route', route);
  }
  headers.set('Max-Forwards', '70');
  copyFirst(request.headers, headers, 'From');
  if (to !== undefined) {
    headers.set('To', to);
  }
  copyFirst(request.headers, headers, 'Call-ID');
  const cseq = request.headers.get('CSeq');
  if (cseq !== undefined) {
    const number = /^\s*(\d+)/.exec(cseq)?.[1];
    if (number !== undefined) {
      headers.set('CSeq', `${number} ${method}`);
    }
  }
  return new SipRequest(method, cloneUri(request.uri), headers);
}

function copyFirst(from: SipHeaders, to: SipHeaders, name: string): void {
  const value = from.get(name);
  if (value !== undefined) {
    to.set(name, value);
  }
}

/** Whether a From/To value has a tag parameter (also for URIs the parser does not accept). */
function hasTag(value: string): boolean {
  try {
    return getTag(parseNameAddr(value)) !== undefined;
  } catch {
    // Header parameters follow the last '>' (name-addr) or the whole value (addr-spec).
    const close = value.lastIndexOf('>');
    const tail = close === -1 ? value : value.slice(close + 1);
    return /(?:^|;)\s*tag\s*=/i.test(tail);
  }
}
