/**
 * The wazo-websocketd wire protocol (wazo spec §8): close codes, connection parameters, client
 * operations and server frames. Pure functions, no I/O: the session (./session.ts) applies them.
 */

/** Close codes of the event websocket (spec §8.3). */
export const WebsocketdCloseCode = {
  /** No token in `?token=` nor `X-Auth-Token`. */
  NoToken: 4001,
  /** Invalid or unknown token, token without the `websocketd` ACL, or a bad `token` op. */
  AuthenticationFailed: 4002,
  /** The token expired (or was revoked) while the socket was open (spec §8.5). */
  AuthenticationExpired: 4003,
  /** Malformed message, unknown op, binary frame, or unsupported `version`. */
  ProtocolError: 4004,
  /** Server shutting down (RFC 6455 §7.4.1). */
  GoingAway: 1001,
  /** Unexpected server error (RFC 6455 §7.4.1; websocketd uses it for bus failures). */
  InternalError: 1011,
  /** Connection limit reached (IANA WebSocket close code registry, "Try Again Later"). */
  TryAgainLater: 1013,
} as const;
export type WebsocketdCloseCode = (typeof WebsocketdCloseCode)[keyof typeof WebsocketdCloseCode];

/** The ACL a token needs to open the event websocket (spec §8.1). */
export const WEBSOCKETD_ACL = 'websocketd';

/** Protocol versions (spec §8.1): v1 sends raw bus bodies, v2 wraps them in `op: event`. */
export type ProtocolVersion = 1 | 2;

/** The longest accepted event name in a `subscribe` (wazo event names are short identifiers). */
export const MAX_EVENT_NAME_LENGTH = 256;

/** What the upgrade request carries (spec §8.1). */
export interface ConnectionParameters {
  /** From `?token=`, else `X-Auth-Token`; `undefined` when neither is present or both are empty. */
  readonly token: string | undefined;
  /** `undefined` when `version` is present but neither `1` nor `2`. */
  readonly version: ProtocolVersion | undefined;
}

/**
 * Reads the token and protocol version of an upgrade request. `version` absent means 1; any value
 * other than `1` or `2` is unsupported. The SDK's extra `userUuid` parameter is ignored.
 */
export function parseConnectionParameters(
  url: string | undefined,
  headerToken: string | string[] | undefined,
): ConnectionParameters {
  let query: URLSearchParams;
  try {
    query = new URL(url ?? '/', 'http://localhost').searchParams;
  } catch {
    query = new URLSearchParams();
  }
  const queryToken = query.get('token');
  const header = Array.isArray(headerToken) ? headerToken[0] : headerToken;
  const token = nonEmpty(queryToken) ?? nonEmpty(header?.trim());
  const rawVersion = query.get('version');
  const version =
    rawVersion === null || rawVersion === '1' ? 1 : rawVersion === '2' ? 2 : undefined;
  return { token, version };
}

function nonEmpty(value: string | null | undefined): string | undefined {
  return value === null || value === undefined || value === '' ? undefined : value;
}

/** A well-formed client operation (spec §8.2). */
export type ClientOperation =
  | { readonly op: 'subscribe'; readonly eventName: string }
  | { readonly op: 'start' }
  | { readonly op: 'token'; readonly token: string }
  | { readonly op: 'ping'; readonly payload: string };

/** The outcome of {@link parseClientOperation}: an operation, or why the frame is a protocol error. */
export type ParseResult =
  | { readonly ok: true; readonly operation: ClientOperation }
  | { readonly ok: false; readonly reason: string };

/**
 * Parses one client text frame. Anything but a JSON object with a known string `op` (and, for
 * `subscribe`, `token` and `ping`, a `data` object with the named string field) is a protocol
 * error, which the caller answers by closing with 4004 (spec §8.2). Never throws.
 */
export function parseClientOperation(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'invalid JSON' };
  }
  if (!isObject(value)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  const op = value['op'];
  if (typeof op !== 'string') {
    return { ok: false, reason: 'op is not a string' };
  }
  switch (op) {
    case 'start':
      return { ok: true, operation: { op } };
    case 'subscribe': {
      const eventName = dataField(value, 'event_name');
      if (eventName === undefined) {
        return { ok: false, reason: 'subscribe needs data.event_name' };
      }
      if (eventName.length > MAX_EVENT_NAME_LENGTH) {
        return { ok: false, reason: 'event name too long' };
      }
      return { ok: true, operation: { op, eventName } };
    }
    case 'token': {
      const token = dataField(value, 'token');
      return token === undefined
        ? { ok: false, reason: 'token needs data.token' }
        : { ok: true, operation: { op, token } };
    }
    case 'ping': {
      const payload = dataField(value, 'payload');
      return payload === undefined
        ? { ok: false, reason: 'ping needs data.payload' }
        : { ok: true, operation: { op, payload } };
    }
    default:
      return { ok: false, reason: 'unknown op' };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function dataField(message: Record<string, unknown>, key: string): string | undefined {
  const data = message['data'];
  if (!isObject(data)) {
    return undefined;
  }
  const field = data[key];
  return typeof field === 'string' ? field : undefined;
}

/**
 * A server frame `{op, code: 0, data}` (spec §8.2). There is no `msg` key, whatever the
 * websocketd changelog says (spec §11 item 1).
 */
export function encodeFrame(op: string, data: unknown = null): string {
  return JSON.stringify({ op, code: 0, data });
}

/**
 * The v2 event frame around an already serialised bus body. Built by concatenation so that one
 * `JSON.stringify` of the body serves every socket and both versions.
 */
export function wrapEventFrame(body: string): string {
  return `{"op":"event","code":0,"data":${body}}`;
}

/**
 * A complete unmasked, unfragmented WebSocket text frame around `payload` (RFC 6455 §5.2: FIN +
 * opcode 0x1; a server never masks, §5.1; the length in 7 bits, or 126 + 16 bits, or 127 + 64
 * bits, §5.2 "Payload length"). Built once per event so that the same bytes go to every socket
 * in a single write. `payload` must be valid UTF-8 (§8.1), as `Buffer.from(string)` gives.
 */
export function encodeTextFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length <= 0xffff ? 4 : 10;
  const frame = Buffer.allocUnsafeSlow(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length <= 0xffff) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}

/**
 * Delay until the next token check of the `dynamic` strategy (wazo-websocketd
 * `_DynamicIntervalAuthChecker`, spec §8.5), from the time left before the token expires.
 * Both in milliseconds.
 */
export function nextTokenCheckDelay(remainingMs: number): number {
  const SECOND = 1000;
  if (remainingMs <= 0) {
    return 15 * SECOND;
  }
  if (remainingMs < 15 * SECOND) {
    return remainingMs;
  }
  if (remainingMs <= 80 * SECOND) {
    return Math.min(60 * SECOND, remainingMs);
  }
  if (remainingMs <= 16 * 3600 * SECOND) {
    return remainingMs * 0.75;
  }
  return 12 * 3600 * SECOND;
}
