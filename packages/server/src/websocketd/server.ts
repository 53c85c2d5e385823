/**
 * The event websocket endpoint `/api/websocketd/` (wazo-websocketd, wazo spec §8): authenticates
 * each connection, then fans the event bus out to the sessions that want each message.
 *
 * Cost model (the goal is 1,000 sockets with p99 ≤ 10 ms from publish to receive): the hub holds
 * ONE bus subscription; per message it walks the started sessions only, each decision is a few
 * property lookups plus a cached ACL verdict, and the message is serialised at most once per
 * protocol version into a Buffer that every receiving socket shares.
 */
import type { IncomingMessage } from 'node:http';
import { InvalidStateError, silentLogger } from '@confab/core';
import type { Logger } from '@confab/core';
import type { WebSocket } from 'ws';
import type { BusMessage, EventBus } from '../events/bus.js';
import {
  WEBSOCKETD_ACL,
  WebsocketdCloseCode,
  parseConnectionParameters,
  wrapEventFrame,
} from './protocol.js';
import { EventSession, type EventFrames, type SessionTokenVerifier } from './session.js';

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
  #v1: Buffer | undefined;
  #v2: Buffer | undefined;

  constructor(message: BusMessage, logger: Logger) {
    this.#message = message;
    this.#logger = logger;
  }

  v1(): Buffer | undefined {
    if (this.#v1 === undefined) {
      const body = this.#serialise();
      this.#v1 = body === null ? undefined : Buffer.from(body);
    }
    return this.#v1;
  }

  v2(): Buffer | undefined {
    if (this.#v2 === undefined) {
      const body = this.#serialise();
      this.#v2 = body === null ? undefined : Buffer.from(wrapEventFrame(body));
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
    for (const session of this.#started) {
      this.#guard(session, () => {
        session.offer(message, frames);
      });
    }
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
