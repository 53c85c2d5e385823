/**
 * `Websocket`: the client of the Wazo event websocket, wazo-websocketd protocol v2
 * (spec wazo-server-protocols §8, wazo-js-sdk §8).
 *
 * `open()` connects to `ws(s)://host/api/websocketd/?token=…&version=2`; on the server's `init`
 * it sends `subscribe "*"` then `start` without waiting for the replies (§8.7), and once `start`
 * is acknowledged every `event` frame is emitted under the bus message's `name` with the bus
 * message as the only argument, so listeners destructure `({ data }) => …` as with `@wazo/sdk`.
 * `Auth` opens it after login and swaps the token after each refresh (`token` op, §8.2).
 *
 * Differences from `@wazo/sdk`, on purpose: `close()` and reconnections keep the listeners (the
 * original's `close()` removes every listener, so apps lost their subscriptions on logout);
 * a `4001`/`4002` close (no or bad token) waits for `updateToken()` instead of retrying the same
 * token forever.
 *
 * States (one `#transition()` checks this table):
 * ```txt
 * Closed ─open()─▶ Connecting ─init─▶ Starting ─start ack─▶ Open
 *                      │                  │                   │
 *                      └──────socket closed (not by us)───────┴─▶ Waiting ─delay/updateToken()─▶ Connecting
 * every state ─close()─▶ Closed
 * ```
 */
import { InvalidStateError, TypedEmitter, type Listener, type Logger } from '@confab/core';
import type { WebSocketLike } from '../platform.js';
import type { SdkRuntime } from '../runtime.js';
import { parseServerAddress, type ServerAddress } from '../server-address.js';

/** A bus message as websocketd v2 delivers it (`data` of the `event` op, spec §7). */
export interface BusEvent<T = Record<string, unknown>> {
  name: string;
  origin_uuid?: string;
  timestamp?: string;
  tenant_uuid?: string;
  required_acl?: string | null;
  required_access?: string;
  data: T;
  [header: string]: unknown;
}

/** Bus event names with `@wazo/sdk`'s constant names and values (those Confab's server sends). */
export const WebsocketEvent = {
  CALL_CREATED: 'call_created',
  CALL_UPDATED: 'call_updated',
  CALL_ANSWERED: 'call_answered',
  CALL_ENDED: 'call_ended',
  CALL_HELD: 'call_held',
  CALL_RESUMED: 'call_resumed',
  CALL_DTMF_CREATED: 'call_dtmf_created',
  CONFERENCE_ADHOC_PARTICIPANT_LEFT: 'conference_adhoc_participant_left',
  CONFERENCE_ADHOC_DELETED: 'conference_adhoc_deleted',
  /** Not in `@wazo/sdk`'s list, but sent by calld (spec wazo-server-protocols §6.5). */
  CONFERENCE_ADHOC_CREATED: 'conference_adhoc_created',
  CONFERENCE_ADHOC_PARTICIPANT_JOINED: 'conference_adhoc_participant_joined',
  /** Confab extensions: talk detection and server-side mute of ad-hoc participants. */
  CONFERENCE_ADHOC_PARTICIPANT_TALK_STARTED: 'conference_adhoc_participant_talk_started',
  CONFERENCE_ADHOC_PARTICIPANT_TALK_STOPPED: 'conference_adhoc_participant_talk_stopped',
  CONFERENCE_ADHOC_PARTICIPANT_MUTED: 'conference_adhoc_participant_muted',
  CONFERENCE_ADHOC_PARTICIPANT_UNMUTED: 'conference_adhoc_participant_unmuted',
  AUTH_SESSION_EXPIRE_SOON: 'auth_session_expire_soon',
} as const;
export type WebsocketEventName = (typeof WebsocketEvent)[keyof typeof WebsocketEvent];

/** Events about the socket itself (`@wazo/sdk` `SOCKET_EVENTS`, same values). */
export const SocketEvent = {
  /** The socket opened (before `init`). `()` */
  ON_OPEN: 'onopen',
  /** The socket closed (reconnection follows unless `close()` was called). `({ code, reason })` */
  ON_CLOSE: 'onclose',
  /** `start` was acknowledged: events flow from now on. `()` */
  INITIALIZED: 'initialized',
  /** The server refused the token (close 4001/4002). `({ code, reason })` */
  ON_AUTH_FAILED: 'on_auth_failed',
  /** A frame other than an event arrived before `start` was acknowledged. `(frame)` */
  MESSAGE: 'message',
} as const;

export const WebsocketState = {
  Closed: 'Closed',
  Connecting: 'Connecting',
  Starting: 'Starting',
  Open: 'Open',
  Waiting: 'Waiting',
} as const;
export type WebsocketState = (typeof WebsocketState)[keyof typeof WebsocketState];

const TRANSITIONS: Record<WebsocketState, readonly WebsocketState[]> = {
  Closed: ['Connecting'],
  Connecting: ['Starting', 'Waiting', 'Closed'],
  Starting: ['Open', 'Waiting', 'Closed'],
  Open: ['Waiting', 'Closed'],
  Waiting: ['Connecting', 'Closed'],
};

/** Reconnection delays: `min·factor^attempt` (with up to +50 % jitter), capped at `max`. */
export interface ReconnectPolicy {
  /** @default 1000 */
  minDelay: number;
  /** @default 10000 */
  maxDelay: number;
  /** @default 1.3 */
  factor: number;
  /**
   * Milliseconds from opening the socket to the `start` acknowledgement; a socket that takes
   * longer (a silent network, a server that never sends `init`) is dropped and retried.
   * @default 10000
   */
  handshakeTimeout: number;
}

const DEFAULT_RECONNECT: ReconnectPolicy = {
  minDelay: 1000,
  maxDelay: 10_000,
  factor: 1.3,
  handshakeTimeout: 10_000,
};

/** Our close code for a handshake that took too long (application range, RFC 6455 §7.4.2). */
const CLOSE_HANDSHAKE_TIMEOUT = 4000;

/** Close codes of wazo-websocketd (spec §8.3). */
const CLOSE_NO_TOKEN = 4001;
const CLOSE_AUTH_FAILED = 4002;
const CLOSE_AUTH_EXPIRED = 4003;
/** Our own close code when the server broke the protocol. */
const CLOSE_PROTOCOL_ERROR = 4004;

/** Larger frames are refused: no bus message comes close. */
const MAX_FRAME_CHARS = 1024 * 1024;

/** A server frame (`{op, code, data}`, spec §8.2). */
interface Frame {
  op: string;
  code: unknown;
  data: unknown;
}

function decodeFrame(raw: unknown): Frame | undefined {
  let text: string;
  if (typeof raw === 'string') {
    text = raw;
  } else if (raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)) {
    const bytes =
      raw instanceof ArrayBuffer
        ? new Uint8Array(raw)
        : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    if (bytes.byteLength > MAX_FRAME_CHARS) {
      return undefined;
    }
    text = new TextDecoder().decode(bytes);
  } else {
    return undefined;
  }
  if (text.length > MAX_FRAME_CHARS) {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return undefined;
  }
  const frame = parsed as Record<string, unknown>;
  if (typeof frame['op'] !== 'string') {
    return undefined;
  }
  return { op: frame['op'], code: frame['code'], data: frame['data'] };
}

function isBusEvent(value: unknown): value is BusEvent {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>)['name'] === 'string'
  );
}

type WebsocketEvents = Record<string, unknown[]>;

export class ConfabWebsocket {
  readonly CALL_CREATED = WebsocketEvent.CALL_CREATED;
  readonly CALL_UPDATED = WebsocketEvent.CALL_UPDATED;
  readonly CALL_ANSWERED = WebsocketEvent.CALL_ANSWERED;
  readonly CALL_ENDED = WebsocketEvent.CALL_ENDED;
  readonly CALL_HELD = WebsocketEvent.CALL_HELD;
  readonly CALL_RESUMED = WebsocketEvent.CALL_RESUMED;
  readonly CALL_DTMF_CREATED = WebsocketEvent.CALL_DTMF_CREATED;
  readonly CONFERENCE_ADHOC_PARTICIPANT_LEFT = WebsocketEvent.CONFERENCE_ADHOC_PARTICIPANT_LEFT;
  readonly CONFERENCE_ADHOC_DELETED = WebsocketEvent.CONFERENCE_ADHOC_DELETED;
  readonly CONFERENCE_ADHOC_CREATED = WebsocketEvent.CONFERENCE_ADHOC_CREATED;
  readonly CONFERENCE_ADHOC_PARTICIPANT_JOINED = WebsocketEvent.CONFERENCE_ADHOC_PARTICIPANT_JOINED;
  readonly CONFERENCE_ADHOC_PARTICIPANT_TALK_STARTED =
    WebsocketEvent.CONFERENCE_ADHOC_PARTICIPANT_TALK_STARTED;
  readonly CONFERENCE_ADHOC_PARTICIPANT_TALK_STOPPED =
    WebsocketEvent.CONFERENCE_ADHOC_PARTICIPANT_TALK_STOPPED;
  readonly CONFERENCE_ADHOC_PARTICIPANT_MUTED = WebsocketEvent.CONFERENCE_ADHOC_PARTICIPANT_MUTED;
  readonly CONFERENCE_ADHOC_PARTICIPANT_UNMUTED =
    WebsocketEvent.CONFERENCE_ADHOC_PARTICIPANT_UNMUTED;
  readonly AUTH_SESSION_EXPIRE_SOON = WebsocketEvent.AUTH_SESSION_EXPIRE_SOON;
  readonly ON_OPEN = SocketEvent.ON_OPEN;
  readonly ON_CLOSE = SocketEvent.ON_CLOSE;
  readonly INITIALIZED = SocketEvent.INITIALIZED;
  readonly ON_AUTH_FAILED = SocketEvent.ON_AUTH_FAILED;

  readonly #runtime: SdkRuntime;
  readonly #reconnect: ReconnectPolicy;
  readonly #onTokenRefused: ((code: number) => void) | undefined;
  /** Listeners of the application (`unbind()` removes them). */
  readonly #emitter = new TypedEmitter<WebsocketEvents>();
  /** Listeners of the SDK itself (Phone): not affected by `unbind()`. */
  readonly #observers = new Set<(event: BusEvent) => void>();
  #state: WebsocketState = WebsocketState.Closed;
  #server: ServerAddress | undefined;
  #token: string | undefined;
  #userUuid: string | undefined;
  #socket: WebSocketLike | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  #attempt = 0;

  /**
   * @param runtime - shared with the other components of the same SDK instance
   * @param reconnect - reconnection delays and handshake timeout
   * @param onTokenRefused - called when the server refuses or expires the token (close 4002,
   *   4003): the SDK instance asks `Auth` for a new one, which arrives through `updateToken()`
   */
  constructor(
    runtime: SdkRuntime,
    reconnect: Partial<ReconnectPolicy> = {},
    onTokenRefused?: (code: number) => void,
  ) {
    this.#runtime = runtime;
    this.#reconnect = { ...DEFAULT_RECONNECT, ...reconnect };
    this.#onTokenRefused = onTokenRefused;
  }

  get state(): WebsocketState {
    return this.#state;
  }

  get #logger(): Logger {
    return this.#runtime.logger;
  }

  // ---------------------------------------------------------------------------------------
  // Listeners

  /** Adds a listener for a bus event name (or a {@link SocketEvent}); returns its remover. */
  on(event: string, listener: Listener<[event: BusEvent]>): () => void {
    return this.#emitter.on(event, listener as Listener<unknown[]>);
  }

  once(event: string, listener: Listener<[event: BusEvent]>): () => void {
    return this.#emitter.once(event, listener as Listener<unknown[]>);
  }

  off(event: string, listener: Listener<[event: BusEvent]>): void {
    this.#emitter.off(event, listener as Listener<unknown[]>);
  }

  /** Removes every application listener (`@wazo/sdk` `unbind()`). */
  unbind(): void {
    this.#emitter.removeAllListeners();
  }

  /**
   * SDK-internal: receives every bus event; `unbind()` does not remove it.
   * @internal
   */
  observe(observer: (event: BusEvent) => void): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  // ---------------------------------------------------------------------------------------
  // Connection

  /** Whether events are flowing (`start` acknowledged). */
  isOpen(): boolean {
    return this.#state === WebsocketState.Open;
  }

  /**
   * Connects to the event websocket of `host` (as given to `Auth.setHost`) with the session's
   * token. An open socket is closed first. `Auth.logIn()` calls this.
   * @throws TypeError for a malformed host
   */
  open(host: string | ServerAddress, session: { token: string; uuid?: string }): void {
    const server = typeof host === 'string' ? parseServerAddress(host) : host;
    this.close();
    this.#server = server;
    this.#token = session.token;
    this.#userUuid = session.uuid;
    this.#attempt = 0;
    this.#connect();
  }

  /**
   * Uses `token` from now on: sent as a `token` op when connected (§8.2), otherwise the socket
   * reconnects at once with it. `Auth` calls this after every refresh.
   */
  updateToken(token: string): void {
    this.#token = token;
    switch (this.#state) {
      case WebsocketState.Starting:
      case WebsocketState.Open:
        this.#send({ op: 'token', data: { token } });
        return;
      case WebsocketState.Waiting:
        this.#clearTimer();
        this.#attempt = 0;
        this.#transition(WebsocketState.Connecting);
        this.#openSocket();
        return;
      case WebsocketState.Connecting:
      case WebsocketState.Closed:
        // The next connection uses the new token.
        return;
    }
  }

  /** Closes the socket and stops reconnecting; listeners are kept. Idempotent. */
  close(): void {
    this.#clearTimer();
    this.#clearHandshakeTimer();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      detach(socket);
      try {
        socket.close(1000);
      } catch {
        // Closing a socket that never opened may throw in some implementations.
      }
    }
    if (this.#state !== WebsocketState.Closed) {
      this.#transition(WebsocketState.Closed);
    }
  }

  #connect(): void {
    this.#transition(WebsocketState.Connecting);
    this.#openSocket();
  }

  #openSocket(): void {
    const server = this.#server;
    const token = this.#token;
    if (server === undefined || token === undefined) {
      this.#transition(WebsocketState.Closed);
      return;
    }
    const query = new URLSearchParams({ token, version: '2' });
    if (this.#userUuid !== undefined) {
      query.set('userUuid', this.#userUuid);
    }
    const url = `${server.wsOrigin}/api/websocketd/?${query.toString()}`;
    let socket: WebSocketLike;
    try {
      socket = this.#runtime.platform.createWebSocket(url, []);
    } catch (error) {
      this.#logger.warn({ err: error }, 'event websocket could not be created');
      this.#scheduleReconnect();
      return;
    }
    this.#socket = socket;
    this.#handshakeTimer = setTimeout(() => {
      this.#handshakeTimer = undefined;
      if (this.#socket === socket && this.#state !== WebsocketState.Open) {
        this.#logger.warn({}, 'event websocket: no start acknowledgement in time, reconnecting');
        this.#dropSocket(CLOSE_HANDSHAKE_TIMEOUT, 'handshake timeout');
      }
    }, this.#reconnect.handshakeTimeout);
    socket.onopen = () => {
      if (this.#socket === socket) {
        this.#emitter.emit(SocketEvent.ON_OPEN);
      }
    };
    socket.onerror = () => {
      // Always followed by onclose, which decides what happens next.
    };
    socket.onmessage = (event) => {
      if (this.#socket === socket) {
        this.#onFrame(event.data);
      }
    };
    socket.onclose = (event) => {
      if (this.#socket === socket) {
        this.#onClose(event.code, event.reason);
      }
    };
  }

  #onFrame(raw: unknown): void {
    const frame = decodeFrame(raw);
    if (frame === undefined) {
      this.#logger.warn({}, 'event websocket: malformed frame, reconnecting');
      this.#dropSocket(CLOSE_PROTOCOL_ERROR, 'malformed frame');
      return;
    }
    switch (frame.op) {
      case 'init':
        if (this.#state !== WebsocketState.Connecting) {
          return;
        }
        // §8.7: subscribe, then start, without waiting for the subscribe acknowledgement.
        this.#transition(WebsocketState.Starting);
        this.#send({ op: 'subscribe', data: { event_name: '*' } });
        this.#send({ op: 'start' });
        return;
      case 'start':
        if (this.#state !== WebsocketState.Starting) {
          return;
        }
        this.#transition(WebsocketState.Open);
        this.#attempt = 0;
        this.#clearHandshakeTimer();
        this.#emitter.emit(SocketEvent.INITIALIZED);
        return;
      case 'event':
        if (this.#state !== WebsocketState.Open) {
          this.#emitter.emit(SocketEvent.MESSAGE, frame);
          return;
        }
        if (isBusEvent(frame.data)) {
          this.#deliver(frame.data);
        }
        return;
      default:
        // subscribe/token acknowledgements, pong: nothing to do.
        if (this.#state !== WebsocketState.Open) {
          this.#emitter.emit(SocketEvent.MESSAGE, frame);
        }
        return;
    }
  }

  #tokenRefused(code: number): void {
    try {
      this.#onTokenRefused?.(code);
    } catch (error) {
      this.#logger.error({ err: error }, 'token refusal hook threw');
    }
  }

  #deliver(event: BusEvent): void {
    for (const observer of [...this.#observers]) {
      try {
        observer(event);
      } catch (error) {
        this.#logger.error({ err: error, event: event.name }, 'event observer threw');
      }
    }
    this.#emitter.emit(event.name, event);
  }

  #onClose(code: number, reason: string): void {
    this.#socket = undefined;
    this.#clearHandshakeTimer();
    this.#logger.info({ code, reason }, 'event websocket closed');
    this.#emitter.emit(SocketEvent.ON_CLOSE, { code, reason });
    if (code === CLOSE_NO_TOKEN || code === CLOSE_AUTH_FAILED) {
      this.#emitter.emit(SocketEvent.ON_AUTH_FAILED, { code, reason });
      // Retrying the token the server just refused is pointless: wait for updateToken().
      this.#transition(WebsocketState.Waiting);
      this.#tokenRefused(code);
      return;
    }
    // 4003 (expired): reconnect with backoff as @wazo/sdk does, and ask for a fresh token, which
    // cuts the wait short through updateToken().
    this.#scheduleReconnect();
    if (code === CLOSE_AUTH_EXPIRED) {
      this.#tokenRefused(code);
    }
  }

  /** Closes the current socket ourselves and reconnects after the backoff delay. */
  #dropSocket(code: number, reason: string): void {
    this.#clearHandshakeTimer();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      detach(socket);
      try {
        socket.close(code, reason);
      } catch {
        // Already closing.
      }
    }
    this.#emitter.emit(SocketEvent.ON_CLOSE, { code, reason });
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#state !== WebsocketState.Waiting) {
      this.#transition(WebsocketState.Waiting);
    }
    const { minDelay, maxDelay, factor } = this.#reconnect;
    const base = Math.min(maxDelay, minDelay * factor ** this.#attempt);
    const delay = Math.min(maxDelay, base * (1 + Math.random() * 0.5));
    this.#attempt++;
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#state === WebsocketState.Waiting) {
        this.#transition(WebsocketState.Connecting);
        this.#openSocket();
      }
    }, delay);
  }

  #send(frame: Record<string, unknown>): void {
    const socket = this.#socket;
    if (socket?.readyState !== 1) {
      return;
    }
    try {
      socket.send(JSON.stringify(frame));
    } catch (error) {
      this.#logger.warn({ err: error }, 'event websocket send failed');
    }
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #clearHandshakeTimer(): void {
    if (this.#handshakeTimer !== undefined) {
      clearTimeout(this.#handshakeTimer);
      this.#handshakeTimer = undefined;
    }
  }

  #transition(to: WebsocketState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(to)) {
      throw InvalidStateError.transition('Websocket', from, to);
    }
    this.#state = to;
    this.#logger.debug({ component: 'websocket', from, to }, 'websocket state');
  }
}

/** Stops a socket from calling back into us. */
function detach(socket: WebSocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  // Not null: Node's `ws` throws an 'error' nobody listens to (closing while connecting does).
  socket.onerror = () => undefined;
  socket.onclose = null;
}
