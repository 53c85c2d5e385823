/**
 * SIP over WebSocket (RFC 7118). The web server accepts the upgrade at `/api/asterisk/ws` with
 * the `sip` subprotocol (§4) and hands the socket here. Each WebSocket message carries exactly one
 * SIP message, text or binary (§5); Content-Length is optional on this transport (§5 last para),
 * so the parser treats it like a datagram. Requests for contacts registered over a WebSocket go
 * back over the same connection (§5, RFC 5626 flow reuse); we never open WebSockets to clients.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket, RawData } from 'ws';
import type { Logger } from '@confab/core';
import { parseMessage, isSipParseError, type Flow } from '@confab/sip';
import type { SipConnection, TransportManager } from './transport-manager.js';

let nextConnectionNumber = 0;
const PING_INTERVAL_MS = 30_000;

class WsConnection implements SipConnection {
  readonly id: string;
  readonly flow: Flow;
  readonly #socket: WebSocket;

  constructor(socket: WebSocket, flow: Omit<Flow, 'connectionId'>) {
    this.id = `ws-${++nextConnectionNumber}`;
    this.#socket = socket;
    this.flow = { ...flow, connectionId: this.id };
  }

  send(data: Uint8Array): void {
    // SIP.js and browsers expect text frames (RFC 7118 §5 allows both; text is the norm).
    this.#socket.send(Buffer.from(data).toString('utf8'));
  }

  close(): void {
    this.#socket.close(1000);
  }
}

export class WebSocketTransport {
  readonly #manager: TransportManager;
  readonly #logger: Logger;
  readonly #sockets = new Set<WebSocket>();
  readonly #pingTimer: NodeJS.Timeout;

  constructor(manager: TransportManager, logger: Logger) {
    this.#manager = manager;
    this.#logger = logger;
    // Dead peers (no pong to the previous ping) are terminated so their bindings go away.
    const alive = new WeakMap<WebSocket, boolean>();
    this.#pingTimer = setInterval(() => {
      for (const socket of this.#sockets) {
        if (alive.get(socket) === false) {
          socket.terminate();
          continue;
        }
        alive.set(socket, false);
        socket.ping();
      }
    }, PING_INTERVAL_MS);
    this.#pingTimer.unref();
    this.#alive = alive;
  }

  readonly #alive: WeakMap<WebSocket, boolean>;

  /** Takes over an upgraded socket. `secure` tells whether it arrived over HTTPS (WSS). */
  accept(socket: WebSocket, request: IncomingMessage): void {
    const secure = 'encrypted' in request.socket && request.socket.encrypted === true;
    const connection = new WsConnection(socket, {
      protocol: secure ? 'WSS' : 'WS',
      remoteAddress: request.socket.remoteAddress ?? '0.0.0.0',
      remotePort: request.socket.remotePort ?? 0,
      ...(request.socket.localAddress !== undefined
        ? { localAddress: request.socket.localAddress }
        : {}),
      ...(request.socket.localPort !== undefined ? { localPort: request.socket.localPort } : {}),
    });
    this.#sockets.add(socket);
    this.#alive.set(socket, true);
    this.#manager.addConnection(connection);
    socket.on('pong', () => {
      this.#alive.set(socket, true);
    });
    socket.on('message', (data: RawData) => {
      this.#alive.set(socket, true);
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      // RFC 5626 §4.4.1 CRLF keep-alive over WebSocket: answer nothing, just note liveness.
      if (bytes.length <= 4 && bytes.every((byte) => byte === 0x0d || byte === 0x0a)) {
        return;
      }
      try {
        this.#manager.deliver(parseMessage(bytes), connection.flow);
      } catch (error) {
        if (isSipParseError(error)) {
          this.#manager.deliverMalformed(error, connection.flow);
        } else {
          this.#logger.error(
            { err: error, connectionId: connection.id },
            'SIP WebSocket handler failed',
          );
        }
      }
    });
    socket.on('error', (error) => {
      this.#logger.debug({ err: error, connectionId: connection.id }, 'SIP WebSocket error');
    });
    socket.on('close', () => {
      this.#sockets.delete(socket);
      this.#manager.connectionClosed(connection.id);
    });
  }

  close(): void {
    clearInterval(this.#pingTimer);
    for (const socket of this.#sockets) {
      socket.terminate();
    }
    this.#sockets.clear();
  }
}
