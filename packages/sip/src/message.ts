/**
 * SIP messages (RFC 3261 §7). A message is plain data: a start line, {@link SipHeaders} and a
 * body of bytes. Parsing and serialization live in `parser.ts` / `serializer.ts`; typed views of
 * individual headers (Via, From, CSeq, …) in `header-values.ts`.
 *
 * `Content-Length` is not kept in sync while a message is edited: the serializer always writes
 * it from the body's byte length (mandatory on stream transports, §18.3, §20.14).
 */
import { SipHeaders } from './headers.js';
import type { SipUri } from './uri.js';

export const SIP_VERSION = 'SIP/2.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

export class SipRequest {
  readonly type = 'request';
  /** Case-sensitive method token (§7.1: methods are case-sensitive). */
  method: string;
  uri: SipUri;
  headers: SipHeaders;
  body: Uint8Array;

  constructor(
    method: string,
    uri: SipUri,
    headers = new SipHeaders(),
    body: Uint8Array | string = EMPTY,
  ) {
    this.method = method;
    this.uri = uri;
    this.headers = headers;
    this.body = typeof body === 'string' ? encoder.encode(body) : body;
  }
}

export class SipResponse {
  readonly type = 'response';
  status: number;
  reason: string;
  headers: SipHeaders;
  body: Uint8Array;

  constructor(
    status: number,
    reason: string,
    headers = new SipHeaders(),
    body: Uint8Array | string = EMPTY,
  ) {
    this.status = status;
    this.reason = reason;
    this.headers = headers;
    this.body = typeof body === 'string' ? encoder.encode(body) : body;
  }
}

export type SipMessage = SipRequest | SipResponse;

export function isRequest(message: SipMessage): message is SipRequest {
  return message.type === 'request';
}

export function isResponse(message: SipMessage): message is SipResponse {
  return message.type === 'response';
}

/** The body decoded as UTF-8 (SDP, text). */
export function bodyText(message: SipMessage): string {
  return message.body.length === 0 ? '' : decoder.decode(message.body);
}

export function setBody(
  message: SipMessage,
  body: string | Uint8Array,
  contentType?: string,
): void {
  message.body = typeof body === 'string' ? encoder.encode(body) : body;
  if (contentType !== undefined) {
    message.headers.set('Content-Type', contentType);
  } else if (message.body.length === 0) {
    message.headers.delete('Content-Type');
  }
}

/** Reason phrases of RFC 3261 §21 and the extensions we emit. */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  421: 'Extension Required',
  423: 'Interval Too Brief',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  493: 'Undecipherable',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
};

export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? (status < 200 ? 'Provisional' : status < 300 ? 'OK' : 'Error');
}
