/**
 * One authenticated event websocket (wazo-websocketd `Session`, wazo spec §8): its protocol state,
 * current token, subscriptions, token-expiry checks and the per-message delivery decision.
 *
 * Lifecycle: `initialized` (init sent, events discarded) → `started` (events forwarded) →
 * `closed`. Every path to `closed` goes through {@link EventSession.close}, which is idempotent
 * and releases the timer and the hub's reference.
 */
import { InvalidStateError } from '@confab/core';
import type { Logger } from '@confab/core';
import { WebSocket, type RawData } from 'ws';
import type { AuthToken, SessionInfo, VerifyResult } from '../auth/types.js';
import type { BusMessage } from '../events/bus.js';
import {
  WEBSOCKETD_ACL,
  WebsocketdCloseCode,
  encodeFrame,
  nextTokenCheckDelay,
  parseClientOperation,
  type ClientOperation,
  type ProtocolVersion,
} from './protocol.js';

/** States of an {@link EventSession}. */
export const EventSessionState = {
  Initialized: 'initialized',
  Started: 'started',
  Closed: 'closed',
} as const;
export type EventSessionState = (typeof EventSessionState)[keyof typeof EventSessionState];

const TRANSITIONS: Readonly<Record<EventSessionState, readonly EventSessionState[]>> = {
  initialized: ['started', 'closed'],
  started: ['closed'],
  closed: [],
};

/** What the event websocket needs of the token service (a `TokenService` fits). */
export interface SessionTokenVerifier {
  verify(token: string | undefined, requiredAcl?: string | null): VerifyResult;
  /**
   * With it, the sockets of a deleted session (logout, revocation, expiry) close at once with
   * 4003 instead of at their next scheduled check (spec §8.5).
   */
  on?(event: 'sessionDeleted', listener: (session: SessionInfo) => void): () => void;
}

/** One event message ready to go out, shared by every socket that receives it. */
export interface PreparedFrame {
  /** The text message (what `ws` would frame). */
  readonly payload: Buffer;
  /** The complete WebSocket frame around it (`encodeTextFrame`), written as is to connections. */
  readonly wire: Buffer;
}

/**
 * The serialised forms of one bus message, computed on first use and shared by every socket
 * that receives it (one `JSON.stringify` and one frame per version, whatever the number of
 * sockets).
 */
export interface EventFrames {
  /** The v1 frame (the raw bus body), or `undefined` if the message cannot be serialised. */
  v1(): PreparedFrame | undefined;
  /** The v2 frame (`{op: 'event', code: 0, data: body}`), or `undefined` likewise. */
  v2(): PreparedFrame | undefined;
}

/**
 * The byte stream under a WebSocket (the upgraded request's socket). Events are written to it
 * directly, one prebuilt frame in one write, instead of through `ws`'s framing; only valid while
 * no extension (permessage-deflate) transforms the socket's frames, and only while `ws` has
 * nothing queued ({@link senderIdle}; else the frame goes through `ws.send` behind the queue).
 */
export interface EventConnection {
  write(chunk: Buffer): boolean;
}

/**
 * The parts of `ws` 8.x's Sender that tell whether it holds frames back: `_state` is 0 (DEFAULT)
 * unless a Blob is being read or a message deflated, and `_queue` holds the sends waiting behind
 * those. Internals, not API: a unit test pins the `ws` major and this shape, so an upgrade forces
 * a re-check.
 */
interface WsSenderInternals {
  _sender?: { _state?: unknown; _queue?: unknown } | null;
}

/**
 * True when `ws` has nothing queued for `socket`, so a frame written straight to the TCP stream
 * lands after everything already sent through `ws.send` (its Sender writes synchronously when
 * nothing is queued). Unknown internals count as busy: the frame then goes through `ws.send`.
 */
export function senderIdle(socket: WebSocket): boolean {
  const sender = (socket as unknown as WsSenderInternals)._sender;
  return sender?._state === 0 && Array.isArray(sender._queue) && sender._queue.length === 0;
}

/** The hub's side of a session (./server.ts). */
export interface SessionHub {
  /** The session now wants events. */
  started(session: EventSession): void;
  /** The session is closed: forget it. */
  closed(session: EventSession): void;
}

/** Options of {@link EventSession}. */
export interface EventSessionOptions {
  readonly socket: WebSocket;
  readonly version: ProtocolVersion;
  /** The token that opened the socket, already verified with the `websocketd` ACL. */
  readonly token: AuthToken;
  readonly tokens: SessionTokenVerifier;
  readonly hub: SessionHub;
  readonly logger: Logger;
  /** Epoch milliseconds, the clock of the token service. */
  readonly clock: () => number;
  /** Bytes queued on the socket beyond which the client is deemed not to read. */
  readonly maxBufferedBytes: number;
  /** Distinct event names a socket may subscribe to. */
  readonly maxSubscriptions: number;
  /** Where event frames are written; without it they go through `socket.send`. */
  readonly connection?: EventConnection | undefined;
}

/** How many required ACLs a session remembers the verdict of (call events repeat one ACL). */
const ACL_CACHE_SIZE = 64;

/** One event websocket after authentication. Created by the hub, which sends nothing itself. */
export class EventSession {
  #state: EventSessionState = EventSessionState.Initialized;
  readonly #socket: WebSocket;
  readonly #version: ProtocolVersion;
  readonly #tokens: SessionTokenVerifier;
  readonly #hub: SessionHub;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #maxBufferedBytes: number;
  readonly #maxSubscriptions: number;
  readonly #subscriptions = new Set<string>();
  #all = false;
  #token: AuthToken;
  /** `user_uuid:<uuid>` of the current token: the header of events addressed to this user. */
  #userHeader: string;
  readonly #aclVerdicts = new Map<string, boolean>();
  readonly #connection: EventConnection | undefined;
  /**
   * The delivery verdict of the last audience offered (see {@link EventSession.offer}); forgotten
   * whenever the subscriptions or the token change.
   */
  #memoAudience: object | undefined;
  #memoVerdict = false;
  #checkTimer: NodeJS.Timeout | undefined;
  /** A WebSocket ping went unanswered (see {@link EventSession.heartbeat}). */
  #awaitingPong = false;

  constructor(options: EventSessionOptions) {
    this.#socket = options.socket;
    this.#version = options.version;
    this.#tokens = options.tokens;
    this.#hub = options.hub;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#maxBufferedBytes = options.maxBufferedBytes;
    this.#maxSubscriptions = options.maxSubscriptions;
    this.#token = options.token;
    this.#connection = options.connection;
    this.#userHeader = `user_uuid:${options.token.userUuid}`;

    this.#socket.on('message', (data, isBinary) => {
      try {
        this.#onMessage(data, isBinary);
      } catch (err) {
        this.#logger.error({ err }, 'event websocket message handling failed');
        this.close(WebsocketdCloseCode.InternalError, 'internal error');
      }
    });
    this.#socket.on('pong', () => {
      this.#awaitingPong = false;
    });
    this.#socket.on('close', () => {
      this.#release();
    });
    this.#scheduleTokenCheck();
    this.#sendControl('init', { version: this.#version });
  }

  get state(): EventSessionState {
    return this.#state;
  }

  /** The token currently in force (changed by the `token` op). */
  get token(): AuthToken {
    return this.#token;
  }

  /**
   * Forwards a bus message if this socket should see it (spec §8.4): subscribed to its name,
   * of the token's tenant, addressed to the token's user or to everyone (`user_uuid:*`), and
   * granted by the token's ACL — a message without `required_acl` never is, `null` always is.
   *
   * `audience` stands for everything of the message that decision reads (name, tenant, user
   * headers, required ACL): the hub gives the same object to consecutive messages that agree on
   * all of it, and the session then reuses its previous verdict instead of deciding again.
   */
  offer(message: BusMessage, frames: EventFrames, audience?: object): void {
    if (this.#state !== EventSessionState.Started) {
      return;
    }
    let verdict: boolean;
    if (audience !== undefined && audience === this.#memoAudience) {
      verdict = this.#memoVerdict;
    } else {
      verdict = this.wants(message);
      this.#memoAudience = audience;
      this.#memoVerdict = verdict;
    }
    if (!verdict) {
      return;
    }
    const frame = this.#version === 2 ? frames.v2() : frames.v1();
    if (frame !== undefined && this.#writable()) {
      if (this.#connection !== undefined && senderIdle(this.#socket)) {
        this.#connection.write(frame.wire);
      } else {
        this.#socket.send(frame.payload, { binary: false });
      }
    }
  }

  /** The delivery decision of {@link EventSession.offer}, state aside. */
  wants(message: BusMessage): boolean {
    if (!this.#all && !this.#subscriptions.has(message.name)) {
      return false;
    }
    const token = this.#token;
    if (message.tenant_uuid !== token.tenantUuid) {
      return false;
    }
    const headers = message as unknown as Readonly<Record<string, unknown>>;
    // Tenant admins receive every user's events of their tenant (websocketd `BusConsumer`).
    if (
      !token.metadata.admin &&
      headers[this.#userHeader] !== true &&
      headers['user_uuid:*'] !== true
    ) {
      return false;
    }
    // A message from another producer may lack the key (`undefined`) or carry junk: dropped.
    const required: unknown = message.required_acl;
    if (required === null) {
      return true;
    }
    return typeof required === 'string' && this.#granted(required);
  }

  /**
   * Called by the hub every ping interval: terminates a peer that did not answer the previous
   * WebSocket ping (it is gone without a close), otherwise sends a new one (spec §8.6).
   */
  heartbeat(): void {
    if (this.#state === EventSessionState.Closed) {
      return;
    }
    if (this.#awaitingPong) {
      this.#logger.debug({}, 'event websocket peer did not answer a ping');
      this.#terminate();
      return;
    }
    // A socket the peer has begun to close is not OPEN yet still here: `ping()` would throw.
    if (this.#socket.readyState !== WebSocket.OPEN) {
      return;
    }
    this.#awaitingPong = true;
    this.#socket.ping();
  }

  /** Closes the socket with `code` and releases the session. Idempotent. */
  close(code: WebsocketdCloseCode, reason: string): void {
    if (this.#state === EventSessionState.Closed) {
      return;
    }
    this.#release();
    this.#logger.debug({ code, reason }, 'closing event websocket');
    if (this.#socket.readyState === WebSocket.OPEN) {
      this.#socket.close(code, reason);
    } else {
      this.#socket.terminate();
    }
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    if (this.#state === EventSessionState.Closed) {
      return;
    }
    if (isBinary) {
      this.close(WebsocketdCloseCode.ProtocolError, 'binary frames are not supported');
      return;
    }
    const bytes = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data);
    const parsed = parseClientOperation(bytes.toString('utf8'));
    if (!parsed.ok) {
      this.close(WebsocketdCloseCode.ProtocolError, parsed.reason);
      return;
    }
    this.#apply(parsed.operation);
  }

  #apply(operation: ClientOperation): void {
    switch (operation.op) {
      case 'subscribe':
        this.#subscribe(operation.eventName);
        return;
      case 'start':
        if (this.#state === EventSessionState.Initialized) {
          this.#transition(EventSessionState.Started);
          this.#hub.started(this);
        }
        this.#sendControl('start');
        return;
      case 'token':
        this.#swapToken(operation.token);
        return;
      case 'ping':
        // spec §8.2: v2 only; a v1 server does not know the op and ignores it.
        if (this.#version === 2) {
          this.#sendControl('pong', { payload: operation.payload });
        }
        return;
    }
  }

  #subscribe(eventName: string): void {
    if (eventName === '*') {
      this.#all = true;
    } else if (!this.#subscriptions.has(eventName)) {
      if (this.#subscriptions.size >= this.#maxSubscriptions) {
        this.close(WebsocketdCloseCode.ProtocolError, 'too many subscriptions');
        return;
      }
      this.#subscriptions.add(eventName);
    }
    this.#memoAudience = undefined;
    this.#replyUnlessStartedV1('subscribe');
  }

  /** spec §8.2: the new token is checked with the `websocketd` ACL; a bad one closes with 4002. */
  #swapToken(token: string): void {
    const result = this.#tokens.verify(token, WEBSOCKETD_ACL);
    if (!result.ok) {
      this.close(WebsocketdCloseCode.AuthenticationFailed, 'authentication failed');
      return;
    }
    this.#token = result.token;
    this.#userHeader = `user_uuid:${result.token.userUuid}`;
    this.#aclVerdicts.clear();
    this.#memoAudience = undefined;
    this.#scheduleTokenCheck();
    this.#replyUnlessStartedV1('token');
  }

  /** v1 answers `subscribe` and `token` only until `start` (spec §8.2). */
  #replyUnlessStartedV1(op: 'subscribe' | 'token'): void {
    if (this.#version === 2 || this.#state !== EventSessionState.Started) {
      this.#sendControl(op);
    }
  }

  #granted(required: string): boolean {
    let verdict = this.#aclVerdicts.get(required);
    if (verdict === undefined) {
      verdict = this.#token.access.matches(required);
      if (this.#aclVerdicts.size >= ACL_CACHE_SIZE) {
        this.#aclVerdicts.clear();
      }
      this.#aclVerdicts.set(required, verdict);
    }
    return verdict;
  }

  /**
   * spec §8.5, `dynamic` strategy: check the current token again at a time derived from how long
   * it has left; a token that is no longer valid closes the socket with 4003.
   */
  #scheduleTokenCheck(): void {
    clearTimeout(this.#checkTimer);
    const delay = nextTokenCheckDelay(this.#token.expiresAt - this.#clock());
    this.#checkTimer = setTimeout(() => {
      this.#checkToken();
    }, delay);
    this.#checkTimer.unref();
  }

  #checkToken(): void {
    if (this.#state === EventSessionState.Closed) {
      return;
    }
    const result = this.#tokens.verify(this.#token.token, WEBSOCKETD_ACL);
    if (!result.ok) {
      this.close(WebsocketdCloseCode.AuthenticationExpired, 'authentication expired');
      return;
    }
    this.#scheduleTokenCheck();
  }

  #sendControl(op: string, data: unknown = null): void {
    this.#send(encodeFrame(op, data));
  }

  /**
   * Queues a text frame. A client whose unsent backlog exceeds the bound is not reading (or its
   * network cannot keep up): it is disconnected rather than letting the backlog grow without
   * limit. A close handshake would queue behind that backlog, so the socket is terminated.
   */
  #send(frame: string): void {
    if (this.#writable()) {
      this.#socket.send(frame, { binary: false });
    }
  }

  /** Open, and not over the backlog bound (a client over it is terminated here). */
  #writable(): boolean {
    const socket = this.#socket;
    if (socket.readyState !== WebSocket.OPEN) {
      return false;
    }
    // Counts the connection's own write queue too, so direct writes are bounded alike.
    const buffered = socket.bufferedAmount;
    if (buffered > this.#maxBufferedBytes) {
      this.#logger.warn(
        { bufferedAmount: buffered },
        'event websocket client is not reading: disconnecting it',
      );
      this.#terminate();
      return false;
    }
    return true;
  }

  #terminate(): void {
    this.#release();
    this.#socket.terminate();
  }

  #release(): void {
    if (this.#state === EventSessionState.Closed) {
      return;
    }
    this.#transition(EventSessionState.Closed);
    clearTimeout(this.#checkTimer);
    this.#checkTimer = undefined;
    this.#hub.closed(this);
  }

  #transition(to: EventSessionState): void {
    if (!TRANSITIONS[this.#state].includes(to)) {
      throw InvalidStateError.transition('EventSession', this.#state, to);
    }
    this.#state = to;
  }
}
