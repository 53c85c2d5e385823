/**
 * HTTP `Upgrade` routing for the web servers: a table from path to handler, shared by the HTTP and
 * HTTPS listeners. Unknown paths are refused with 404 and the socket destroyed; a handler that
 * throws is contained (the socket is destroyed, the error logged), so no request bytes can crash
 * the process.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '@confab/core';
import { WebSocketServer, type WebSocket } from 'ws';

/** Handles one upgrade request whose path matched; owns `socket` from then on. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Receives an accepted WebSocket and the request that opened it. */
export type WebSocketHandler = (socket: WebSocket, request: IncomingMessage) => void;

/** Largest WebSocket message accepted from a client (a SIP message with SDP fits many times). */
export const MAX_WEBSOCKET_PAYLOAD = 64 * 1024;

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  404: 'Not Found',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Answers an upgrade request with a plain HTTP error and closes the connection (no upgrade). */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) {
    return;
  }
  const body = `${message}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      '\r\n' +
      body,
  );
}

/** The path of a request target without query or fragment, and without a trailing slash. */
export function upgradePath(url: string | undefined): string {
  const raw = url ?? '/';
  const end = raw.search(/[?#]/);
  const path = end === -1 ? raw : raw.slice(0, end);
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

/** Routes `upgrade` events by exact path (query string and trailing slash ignored). */
export class UpgradeRouter {
  readonly #routes = new Map<string, UpgradeHandler>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Adds a route; `path` is matched as {@link upgradePath} normalises it. */
  add(path: string, handler: UpgradeHandler): this {
    const key = upgradePath(path);
    if (this.#routes.has(key)) {
      throw new TypeError(`upgrade route ${key} is already registered`);
    }
    this.#routes.set(key, handler);
    return this;
  }

  /** The `upgrade` event listener to attach to an HTTP(S) server. */
  readonly handle = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Before the handshake completes nobody else listens for socket errors (e.g. ECONNRESET).
    socket.on('error', (err) => {
      this.#logger.debug({ err }, 'upgrade socket error');
    });
    const path = upgradePath(request.url);
    const handler = this.#routes.get(path);
    if (!handler) {
      refuseUpgrade(socket, 404, 'No WebSocket endpoint here');
      return;
    }
    try {
      handler(request, socket, head);
    } catch (err) {
      this.#logger.error({ err, path }, 'upgrade handler threw');
      socket.destroy();
    }
  };
}

/**
 * Comma-separated `Sec-WebSocket-Protocol` values as a set (RFC 6455 §4.1). Node joins repeated
 * headers with commas, so one parse covers both forms.
 */
export function offeredSubprotocols(request: IncomingMessage): Set<string> {
  const header = request.headers['sec-websocket-protocol'];
  const offered = new Set<string>();
  if (typeof header !== 'string') {
    return offered;
  }
  for (const token of header.slice(0, 1024).split(',')) {
    const trimmed = token.trim();
    if (trimmed !== '') {
      offered.add(trimmed);
    }
  }
  return offered;
}

/** A WebSocket endpoint: its upgrade handler and a way to close its connections. */
export interface WebSocketEndpoint {
  handler: UpgradeHandler;
  /** Closes every connection (1001 Going Away), then terminates stragglers. Idempotent. */
  close(): Promise<void>;
}

export interface WebSocketEndpointOptions {
  /** Subprotocol the client must offer; the handshake is refused with 400 otherwise. */
  requiredSubprotocol?: string;
  onConnection: WebSocketHandler;
  logger: Logger;
  /** How long close() waits for closing handshakes before terminating. @default 1000 */
  closeGraceMs?: number;
}

/**
 * Creates a WebSocket endpoint on a `ws` server in `noServer` mode. With `requiredSubprotocol`
 * (SIP: RFC 7118 §4, "sip"), a client that does not offer it gets 400 and no upgrade, and the
 * server answers with exactly that subprotocol.
 */
export function createWebSocketEndpoint(options: WebSocketEndpointOptions): WebSocketEndpoint {
  const required = options.requiredSubprotocol;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WEBSOCKET_PAYLOAD,
    perMessageDeflate: false,
    ...(required === undefined
      ? {}
      : {
          handleProtocols: (protocols: Set<string>) => (protocols.has(required) ? required : false),
        }),
  });
  wss.on('error', (err) => {
    options.logger.warn({ err }, 'websocket server error');
  });
  let closing: Promise<void> | undefined;

  const handler: UpgradeHandler = (request, socket, head) => {
    if (closing) {
      refuseUpgrade(socket, 503, 'Server is shutting down');
      return;
    }
    if (required !== undefined && !offeredSubprotocols(request).has(required)) {
      refuseUpgrade(socket, 400, `The WebSocket subprotocol "${required}" is required`);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      // An 'error' without listener would crash the process (e.g. a frame over maxPayload:
      // ws then closes with 1009 and emits the error). Handlers may add their own listeners.
      ws.on('error', (err) => {
        options.logger.debug({ err }, 'websocket error');
      });
      try {
        options.onConnection(ws, request);
      } catch (err) {
        options.logger.error({ err }, 'websocket connection handler threw');
        ws.terminate();
      }
    });
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      const open = [...wss.clients];
      for (const ws of open) {
        ws.close(1001, 'Server shutting down');
      }
      if (open.length > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.closeGraceMs ?? 1000);
          let remaining = open.length;
          for (const ws of open) {
            ws.once('close', () => {
              remaining -= 1;
              if (remaining === 0) {
                clearTimeout(timer);
                resolve();
              }
            });
          }
        });
      }
      for (const ws of wss.clients) {
        ws.terminate();
      }
      await new Promise<void>((resolve) => {
        wss.close(() => {
          resolve();
        });
      });
    })();
    return closing;
  };

  return { handler, close };
}
