/**
 * SIP over WebSocket (RFC 7118) for SIP.js: an implementation of SIP.js's `Transport` contract
 * on an injected {@link WebSocketFactory}, so the same code runs on the browser's WebSocket and
 * on `ws` in Node.
 *
 * State machine (SIP.js `TransportState` values; one `#transition()` checks this table):
 * ```txt
 * Disconnected ──connect()──▶ Connecting ──open──▶ Connected
 *      ▲  ▲                      │  │                  │
 *      │  └──────error/close─────┘  └─disconnect()─┐   ├─disconnect()─▶ Disconnecting ─closed─▶ Disconnected
 *      └───────────────────────────────────────────┴───┴─ lost (onDisconnect(error)) ─────────────────────┘
 * ```
 * Per the contract, `onConnect` fires on entering Connected and `onDisconnect` on leaving it
 * (with an error unless `disconnect()` asked for it). The transport never reconnects by itself:
 * recovering is the phone's decision.
 */
import type { Logger } from '@confab/core';
import { EmitterImpl, TransportState, type Emitter, type Transport } from 'sip.js';
import type { WebSocketFactory, WebSocketLike } from '../platform.js';

/** Options of {@link WebSocketTransport}, passed through SIP.js as `transportOptions`. */
export interface WebSocketTransportOptions {
  /** `wss://host/api/asterisk/ws?userUuid=…` */
  server: string;
  createWebSocket: WebSocketFactory;
  logger: Logger;
  /** Milliseconds to wait for the WebSocket to open. @default 10000 */
  connectionTimeout?: number;
}

/** RFC 7118 §4: the WebSocket subprotocol of SIP. */
const SIP_SUBPROTOCOL = 'sip';

/** Messages above this size are dropped unparsed (no SIP message of ours comes close). */
const MAX_MESSAGE_CHARS = 256 * 1024;

const TRANSITIONS: Record<TransportState, readonly TransportState[]> = {
  [TransportState.Disconnected]: [TransportState.Connecting],
  [TransportState.Connecting]: [
    TransportState.Connected,
    TransportState.Disconnecting,
    TransportState.Disconnected,
  ],
  [TransportState.Connected]: [TransportState.Disconnecting, TransportState.Disconnected],
  [TransportState.Disconnecting]: [TransportState.Disconnected, TransportState.Connecting],
};

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Connecting {
  promise: Promise<void>;
  pending: Pending;
  timer: ReturnType<typeof setTimeout>;
}

interface Disconnecting {
  promise: Promise<void>;
  pending: Pending;
  timer?: ReturnType<typeof setTimeout>;
}

export class WebSocketTransport implements Transport {
  onConnect: (() => void) | undefined;
  onDisconnect: ((error?: Error) => void) | undefined;
  onMessage: ((message: string) => void) | undefined;

  readonly #options: WebSocketTransportOptions;
  readonly #logger: Logger;
  readonly #stateChange = new EmitterImpl<TransportState>();
  #state: TransportState = TransportState.Disconnected;
  #socket: WebSocketLike | undefined;
  #connecting: Connecting | undefined;
  #disconnecting: Disconnecting | undefined;
  #disposed = false;

  /** SIP.js constructs transports as `new transportConstructor(logger, transportOptions)`. */
  constructor(_sipLogger: unknown, options: WebSocketTransportOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'sip-transport' });
  }

  /** Via transport token (RFC 7118 §5.2). */
  get protocol(): string {
    return this.#options.server.toLowerCase().startsWith('wss:') ? 'WSS' : 'WS';
  }

  get state(): TransportState {
    return this.#state;
  }

  get stateChange(): Emitter<TransportState> {
    return this.#stateChange;
  }

  isConnected(): boolean {
    return this.#state === TransportState.Connected;
  }

  connect(): Promise<void> {
    if (this.#disposed) {
      return Promise.reject(new Error('transport disposed'));
    }
    switch (this.#state) {
      case TransportState.Connected:
        return Promise.resolve();
      case TransportState.Connecting:
        return this.#connecting?.promise ?? Promise.reject(new Error('connect lost'));
      case TransportState.Disconnecting:
      case TransportState.Disconnected:
        return this.#open();
    }
  }

  #open(): Promise<void> {
    // A socket still closing from an earlier disconnect() is abandoned: its events are ignored.
    this.#settleDisconnecting();
    this.#transition(TransportState.Connecting);
    let pending!: Pending;
    const promise = new Promise<void>((resolve, reject) => {
      pending = { resolve, reject };
    });
    let socket: WebSocketLike;
    try {
      socket = this.#options.createWebSocket(this.#options.server, [SIP_SUBPROTOCOL]);
    } catch (error) {
      this.#transition(TransportState.Disconnected);
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.#socket = socket;
    const timer = setTimeout(() => {
      this.#failConnect(socket, new Error(`WebSocket connect timed out: ${this.#options.server}`));
    }, this.#options.connectionTimeout ?? 10_000);
    this.#connecting = { promise, pending, timer };
    socket.onopen = () => this.#onOpen(socket);
    socket.onclose = (event) => this.#onClose(socket, event.code, event.reason);
    socket.onerror = () => this.#logger.debug({ server: this.#options.server }, 'websocket error');
    socket.onmessage = (event) => this.#onMessage(socket, event.data);
    return promise;
  }

  #onOpen(socket: WebSocketLike): void {
    if (socket !== this.#socket || this.#state !== TransportState.Connecting) {
      return;
    }
    if (socket.protocol !== '' && socket.protocol !== SIP_SUBPROTOCOL) {
      // RFC 7118 §4: the server must have agreed to "sip"; anything else is not our peer.
      this.#failConnect(socket, new Error(`server selected subprotocol "${socket.protocol}"`));
      return;
    }
    const connecting = this.#connecting;
    this.#clearConnecting();
    this.#transition(TransportState.Connected);
    this.#logger.debug({ server: this.#options.server }, 'connected');
    connecting?.pending.resolve();
    this.onConnect?.();
  }

  #failConnect(socket: WebSocketLike, error: Error): void {
    if (socket !== this.#socket || this.#state !== TransportState.Connecting) {
      return;
    }
    const connecting = this.#connecting;
    this.#clearConnecting();
    this.#socket = undefined;
    this.#detach(socket);
    safeClose(socket);
    this.#transition(TransportState.Disconnected);
    connecting?.pending.reject(error);
  }

  #onClose(socket: WebSocketLike, code: number, reason: string): void {
    if (socket !== this.#socket) {
      return;
    }
    const why = `WebSocket closed (code ${code}${reason ? `, ${reason}` : ''})`;
    switch (this.#state) {
      case TransportState.Connecting:
        this.#failConnect(socket, new Error(why));
        return;
      case TransportState.Connected:
        this.#socket = undefined;
        this.#detach(socket);
        this.#transition(TransportState.Disconnected);
        this.#logger.warn({ server: this.#options.server, code }, 'connection lost');
        this.onDisconnect?.(new Error(why));
        return;
      case TransportState.Disconnecting:
        this.#socket = undefined;
        this.#detach(socket);
        this.#transition(TransportState.Disconnected);
        this.#settleDisconnecting();
        return;
      case TransportState.Disconnected:
        return;
    }
  }

  #onMessage(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.#socket || this.#state !== TransportState.Connected) {
      return;
    }
    let text: string;
    if (typeof data === 'string') {
      text = data;
    } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      // RFC 7118 §5.1: SIP may arrive in binary frames too; it is UTF-8 either way.
      text = new TextDecoder().decode(data);
    } else {
      return;
    }
    if (text.length > MAX_MESSAGE_CHARS) {
      this.#logger.warn({ length: text.length }, 'oversized SIP message dropped');
      return;
    }
    // Keep-alive pongs (a bare CRLF, RFC 5626 §4.4.1 style) carry no message.
    if (text.trim() === '') {
      return;
    }
    try {
      this.onMessage?.(text);
    } catch (error) {
      // SIP.js parses untrusted bytes here; whatever it throws must not kill the socket handler.
      this.#logger.warn({ err: error }, 'SIP message handling failed');
    }
  }

  disconnect(): Promise<void> {
    switch (this.#state) {
      case TransportState.Disconnected:
        return Promise.resolve();
      case TransportState.Disconnecting:
        return this.#disconnecting?.promise ?? Promise.resolve();
      case TransportState.Connecting:
      case TransportState.Connected:
        break;
    }
    const socket = this.#socket;
    const wasConnected = this.#state === TransportState.Connected;
    const connecting = this.#connecting;
    this.#clearConnecting();
    this.#transition(TransportState.Disconnecting);
    connecting?.pending.reject(new Error('disconnect() called while connecting'));
    let pending!: Pending;
    const promise = new Promise<void>((resolve, reject) => {
      pending = { resolve, reject };
    });
    const disconnecting: Disconnecting = { promise, pending };
    this.#disconnecting = disconnecting;
    if (socket === undefined || socket.readyState === 3 /* CLOSED */) {
      this.#socket = undefined;
      this.#transition(TransportState.Disconnected);
      this.#settleDisconnecting();
    } else {
      safeClose(socket, 1000);
      // Some servers never complete the closing handshake: do not wait for them forever.
      disconnecting.timer = setTimeout(() => {
        if (this.#socket === socket && this.#state === TransportState.Disconnecting) {
          this.#onClose(socket, 1006, 'close handshake timed out');
        }
      }, 2000);
    }
    if (wasConnected) {
      this.onDisconnect?.();
    }
    return promise;
  }

  send(message: string): Promise<void> {
    const socket = this.#socket;
    if (this.#state !== TransportState.Connected || socket === undefined) {
      return Promise.reject(new Error('transport not connected'));
    }
    try {
      socket.send(message);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  async dispose(): Promise<void> {
    if (this.#disposed) {
      return;
    }
    this.#disposed = true;
    await this.disconnect();
    this.#stateChange.removeAllListeners();
  }

  #transition(to: TransportState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(to)) {
      throw new Error(`SIP transport: invalid transition ${from} -> ${to}`);
    }
    this.#state = to;
    this.#logger.debug({ from, to }, 'transport state');
    this.#stateChange.emit(to);
  }

  #clearConnecting(): void {
    if (this.#connecting !== undefined) {
      clearTimeout(this.#connecting.timer);
      this.#connecting = undefined;
    }
  }

  #settleDisconnecting(): void {
    const disconnecting = this.#disconnecting;
    this.#disconnecting = undefined;
    if (disconnecting !== undefined) {
      clearTimeout(disconnecting.timer);
      disconnecting.pending.resolve();
    }
  }

  #detach(socket: WebSocketLike): void {
    socket.onopen = null;
    socket.onclose = null;
    socket.onerror = null;
    socket.onmessage = null;
  }
}

function safeClose(socket: WebSocketLike, code?: number): void {
  try {
    socket.close(code);
  } catch {
    // Closing an already closed or never opened socket may throw; nothing is left to release.
  }
}
