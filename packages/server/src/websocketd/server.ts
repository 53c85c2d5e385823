/**
 * The event websocket endpoint `/api/websocketd/` (wazo-websocketd, wazo spec §8): authenticates
 * each connection, then fans the event bus out to the sessions that want each message.
 *
 * Cost model (the goal is 1,000 sockets with p99 ≤ 10 ms from publish to receive; figures in
 * docs/benchmarks.md): the hub holds ONE bus subscription; per message it walks the started
 * sessions only; a session decides once per distinct audience (name, tenant, user headers,
 * required ACL — interned by the hub) and reuses that verdict for the next messages of the same
 * audience; the message is serialised at most once per protocol version into one complete
 * WebSocket frame, and that same Buffer is written to each receiving socket's connection in one
 * write (no `ws` framing, no per-socket allocation in JavaScript). What remains per socket is the
 * kernel's work for one TCP send.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidStateError, silentLogger } from '@confab/core';
import type { Logger } from '@confab/core';
import type { WebSocket } from 'ws';
import type { BusMessage, EventBus } from '../events/bus.js';
import {
  WEBSOCKETD_ACL,
  WebsocketdCloseCode,
  encodeTextFrame,
  parseConnectionParameters,
  wrapEventFrame,
} from './protocol.js';
import {
  EventSession,
  type EventFrames,
  type PreparedFrame,
  type SessionTokenVerifier,
} from './session.js';

/** States of an {@link EventWebSocketServer}: `open` → `closed` (terminal). */
export const EventWebSocketServerState = { Open: 'open', Closed: 'closed' } as const;
export type EventWebSocketServerState =
  (typeof EventWebSocketServerState)[keyof typeof EventWebSocketServerState];

const TRANSITIONS: Readonly<
  Record<EventWebSocketServerState, readonly EventWebSocketServerState[]>
> = { open: ['closed'], closed: [] };

/** Options of {@link EventWebSocketServer}. */
export interface EventWebSocketServerOptions {
  /** Verifies tokens (the platform's `TokenService`). */
  readonly tokens: SessionTokenVerifier;
  readonly bus: EventBus;
  readonly logger?: Logger;
  /** Epoch milliseconds; must be the token service's clock. @default Date.now */
  readonly clock?: () => number;
  /** Period of WebSocket ping frames (wazo-websocketd `ping_interval`). @default 60000 */
  readonly pingIntervalMs?: number;
  /** Unsent bytes per socket beyond which its client is disconnected. @default 4 MiB */
  readonly maxBufferedBytes?: number;
  /** Distinct event names one socket may subscribe to (`*` aside). @default 1024 */
  readonly maxSubscriptions?: number;
  /** Open sockets beyond which new ones are refused with 1013. @default 20000 */
  readonly maxConnections?: number;
}

/** Serialises a message on first use, once per version, for every socket that receives it. */
class LazyFrames implements EventFrames {
  readonly #message: BusMessage;
  readonly #logger: Logger;
  /** `null`: serialisation failed (logged once). */
  #body: string | null | undefined;
  #v1: PreparedFrame | undefined;
  #v2: PreparedFrame | undefined;

  constructor(message: BusMessage, logger: Logger) {
    this.#message = message;
    this.#logger = logger;
  }

  v1(): PreparedFrame | undefined {
    if (this.#v1 === undefined) {
      const body = this.#serialise();
      this.#v1 = body === null ? undefined : prepare(body);
    }
    return this.#v1;
  }

  v2(): PreparedFrame | undefined {
    if (this.#v2 === undefined) {
      const body = this.#serialise();
      this.#v2 = body === null ? undefined : prepare(wrapEventFrame(body));
    }
    return this.#v2;
  }

  #serialise(): string | null {
    if (this.#body === undefined) {
      try {
        this.#body = JSON.stringify(this.#message);
      } catch (err) {
        // A producer bug (a cycle, a BigInt): drop this message, keep the sockets.
        this.#logger.error({ err, event: this.#message.name }, 'bus message is not serialisable');
        this.#body = null;
      }
    }
    return this.#body;
  }
}

function prepare(text: string): PreparedFrame {
  const payload = Buffer.from(text);
  return { payload, wire: encodeTextFrame(payload) };
}

/** Distinct audiences remembered before the table is reset (a bound, not a tuning knob). */
const MAX_AUDIENCES = 4096;

/**
 * The key of everything {@link EventSession.wants} reads of a message: its name, tenant,
 * required ACL (type included: only a string or `null` is ever granted) and the `user_uuid:*`
 * headers set to `true`, in message order.
 */
export function audienceKey(message: BusMessage): string {
  const headers: string[] = [];
  const fields = message as unknown as Readonly<Record<string, unknown>>;
  for (const key in fields) {
    if (key.startsWith('user_uuid:') && fields[key] === true) {
      headers.push(key);
    }
  }
  const acl: unknown = message.required_acl;
  return JSON.stringify([
    message.name,
    message.tenant_uuid,
    typeof acl === 'string' || acl === null ? acl : `(${typeof acl})`,
    headers,
  ]);
}

/**
 * The wazo-websocketd endpoint. Give {@link EventWebSocketServer.handleConnection} to the web
 * servers' `onEventWebSocket`; close it before the token service and the bus.
 *
 * @example
 * ```ts
 * const events = new EventWebSocketServer({ tokens, bus, logger });
 * const web = await createWebServers({ …, onEventWebSocket: events.handleConnection });
 * ```
 */
export class EventWebSocketServer {
  #state: EventWebSocketServerState = EventWebSocketServerState.Open;
  readonly #tokens: SessionTokenVerifier;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #maxBufferedBytes: number;
  readonly #maxSubscriptions: number;
  readonly #maxConnections: number;
  readonly #sessions = new Set<EventSession>();
  /** Sessions past `start`: the only ones a bus message is offered to. */
  readonly #started = new Set<EventSession>();
  readonly #unsubscribe: () => void;
  readonly #stopRevocations: () => void;
  readonly #pingTimer: NodeJS.Timeout;
  /** Audience key → the object sessions memoise their verdict against (see `offer`). */
  readonly #audiences = new Map<string, object>();

  constructor(options: EventWebSocketServerOptions) {
    this.#tokens = options.tokens;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'websocketd' });
    this.#clock = options.clock ?? Date.now;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.#maxSubscriptions = options.maxSubscriptions ?? 1024;
    this.#maxConnections = options.maxConnections ?? 20_000;
    this.#unsubscribe = options.bus.subscribe((message) => {
      this.#dispatch(message);
    });
    // Wazo only notices a revoked token at the next dynamic check, which can be hours away for
    // a long-lived token: a logout must stop the event stream now.
    this.#stopRevocations =
      options.tokens.on?.('sessionDeleted', (session) => {
        this.#revoked(session.uuid);
      }) ?? (() => undefined);
    // One timer for all sockets, not one each.
    this.#pingTimer = setInterval(() => {
      for (const session of [...this.#sessions]) {
        this.#guard(session, () => {
          session.heartbeat();
        });
      }
    }, options.pingIntervalMs ?? 60_000);
    this.#pingTimer.unref();
  }

  get state(): EventWebSocketServerState {
    return this.#state;
  }

  /** Open (authenticated) sockets. */
  get connectionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Takes an accepted WebSocket of `/api/websocketd/` (spec §8.1): no token → 4001, a `version`
   * other than 1 or 2 → 4004, a token that is invalid or lacks the `websocketd` ACL → 4002;
   * otherwise the session sends `init`. Never throws.
   */
  readonly handleConnection = (socket: WebSocket, request: IncomingMessage): void => {
    try {
      this.#accept(socket, request);
    } catch (err) {
      this.#logger.error({ err }, 'event websocket setup failed');
      socket.close(WebsocketdCloseCode.InternalError, 'internal error');
    }
  };

  /** Closes every socket with 1001 and leaves the bus. Idempotent. */
  close(): Promise<void> {
    if (this.#state === EventWebSocketServerState.Closed) {
      return Promise.resolve();
    }
    this.#transition(EventWebSocketServerState.Closed);
    this.#unsubscribe();
    this.#stopRevocations();
    clearInterval(this.#pingTimer);
    for (const session of [...this.#sessions]) {
      session.close(WebsocketdCloseCode.GoingAway, 'server shutting down');
    }
    return Promise.resolve();
  }

  #accept(socket: WebSocket, request: IncomingMessage): void {
    if (this.#state !== EventWebSocketServerState.Open) {
      socket.close(WebsocketdCloseCode.GoingAway, 'server shutting down');
      return;
    }
    const { token, version } = parseConnectionParameters(
      request.url,
      request.headers['x-auth-token'],
    );
    if (token === undefined) {
      socket.close(WebsocketdCloseCode.NoToken, 'no token');
      return;
    }
    if (version === undefined) {
      socket.close(WebsocketdCloseCode.ProtocolError, 'unsupported version');
      return;
    }
    const result = this.#tokens.verify(token, WEBSOCKETD_ACL);
    if (!result.ok) {
      socket.close(WebsocketdCloseCode.AuthenticationFailed, 'authentication failed');
      return;
    }
    if (this.#sessions.size >= this.#maxConnections) {
      this.#logger.warn({ limit: this.#maxConnections }, 'event websocket limit reached');
      socket.close(WebsocketdCloseCode.TryAgainLater, 'too many connections');
      return;
    }
    const session = new EventSession({
      socket,
      version,
      token: result.token,
      tokens: this.#tokens,
      hub: {
        started: (s) => {
          if (this.#sessions.has(s)) {
            this.#started.add(s);
          }
        },
        closed: (s) => {
          this.#sessions.delete(s);
          this.#started.delete(s);
        },
      },
      logger: this.#logger.child({ session: result.token.sessionUuid }),
      clock: this.#clock,
      maxBufferedBytes: this.#maxBufferedBytes,
      maxSubscriptions: this.#maxSubscriptions,
      // The upgraded request's stream is the one `ws` writes to; prebuilt frames may go there
      // directly as long as no extension rewrites frames (permessage-deflate is off on this
      // endpoint, but a negotiated extension would make this path wrong, so it is checked) and
      // `ws` (8.x, pinned by a unit test) has nothing queued: see `senderIdle` in ./session.ts.
      connection: socket.extensions === '' ? request.socket : undefined,
    });
    if (session.state !== 'closed') {
      this.#sessions.add(session);
    }
  }

  #revoked(sessionUuid: string): void {
    // Linear, but deletions are rare next to events, and a socket's session changes with the
    // token op, so an index would need maintaining on every swap.
    for (const session of [...this.#sessions]) {
      if (session.token.sessionUuid === sessionUuid) {
        session.close(WebsocketdCloseCode.AuthenticationExpired, 'authentication expired');
      }
    }
  }

  #dispatch(message: BusMessage): void {
    if (this.#started.size === 0) {
      return;
    }
    const frames = new LazyFrames(message, this.#logger);
    const audience = this.#audience(message);
    for (const session of this.#started) {
      // Inline rather than #guard: no closure per socket and message.
      try {
        session.offer(message, frames, audience);
      } catch (err) {
        this.#logger.error({ err }, 'event websocket failed');
        session.close(WebsocketdCloseCode.InternalError, 'internal error');
      }
    }
  }

  /** The interned audience of a message; `undefined` (no memo) if it has no usable key. */
  #audience(message: BusMessage): object | undefined {
    let key: string;
    try {
      key = audienceKey(message);
    } catch {
      // A foreign producer's junk (e.g. a BigInt tenant): every session decides on its own.
      return undefined;
    }
    let audience = this.#audiences.get(key);
    if (audience === undefined) {
      if (this.#audiences.size >= MAX_AUDIENCES) {
        this.#audiences.clear();
      }
      audience = {};
      this.#audiences.set(key, audience);
    }
    return audience;
  }

  /** Runs `step` for one session; a failure closes that session (1011), never the others. */
  #guard(session: EventSession, step: () => void): void {
    try {
      step();
    } catch (err) {
      this.#logger.error({ err }, 'event websocket failed');
      session.close(WebsocketdCloseCode.InternalError, 'internal error');
    }
  }

  #transition(to: EventWebSocketServerState): void {
    if (!TRANSITIONS[this.#state].includes(to)) {
      throw InvalidStateError.transition('EventWebSocketServer', this.#state, to);
    }
    this.#logger.debug({ from: this.#state, to }, 'event websocket server state');
    this.#state = to;
  }
}
