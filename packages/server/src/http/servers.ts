/**
 * The web servers: one Fastify application served by two Node listeners, plain HTTP (local use)
 * and HTTPS (everything else). One application, not two, so state the REST layer keeps in its
 * plugin (tokens, sessions) is the same whichever port a client uses.
 *
 * Routes: the web phone at `/` (./static.ts), `GET /api/health`, the REST API mounted by
 * {@link WebServersOptions.registerApi}, and WebSocket upgrades routed by path (./upgrade.ts):
 * `/api/asterisk/ws` (SIP over WebSocket, RFC 7118) and `/api/websocketd/` (events).
 */
import {
  STATUS_CODES,
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import fastifyCors from '@fastify/cors';
import {
  LogController,
  fastify,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { ConfabConfig } from '../config.js';
import { describeListenError } from '../errors.js';
import type { ServerLogger } from '../logger.js';
import type { Store } from '../store/types.js';
import type { TlsMaterial } from '../tls.js';
import { registerWebApp } from './static.js';
import {
  UpgradeRouter,
  createWebSocketEndpoint,
  type WebSocketEndpoint,
  type WebSocketHandler,
} from './upgrade.js';

/** Mounts REST routes on the application (called once, inside its own encapsulated plugin). */
export type RegisterApi = (app: FastifyInstance) => Promise<void> | void;

/**
 * Renders an error raised outside the API's own error handlers (router, root scope, Node's HTTP
 * parser) for a request to `url` (`undefined` when the request line was unreadable).
 */
export type RenderError = (
  error: unknown,
  url: string | undefined,
) => { readonly status: number; readonly body: unknown };

/** Path of SIP over WebSocket, as `@wazo/sdk` uses it. */
export const SIP_WEBSOCKET_PATH = '/api/asterisk/ws';
/** Path of the event websocket (Wazo websocketd). */
export const EVENT_WEBSOCKET_PATH = '/api/websocketd/';
/** SIP WebSocket subprotocol (RFC 7118 §4). */
export const SIP_SUBPROTOCOL = 'sip';

/**
 * Request headers browsers may send cross-origin: those of wazo-auth and wazo-calld, plus the
 * edge-server probe header `X-User-UUID` (spec §1).
 */
export const CORS_ALLOWED_HEADERS = [
  'Content-Type',
  'Authorization',
  'X-Auth-Token',
  'Wazo-Tenant',
  'Wazo-Session-Type',
  'X-User-UUID',
] as const;

export interface WebServersOptions {
  config: Pick<ConfabConfig, 'httpPort' | 'httpsPort' | 'bindAddress'>;
  logger: ServerLogger;
  /** Probed by `GET /api/health`. */
  store: Store;
  tls: Pick<TlsMaterial, 'cert' | 'key'>;
  /** Directory of the built web phone (apps/phone/dist). */
  staticDir: string;
  registerApi?: RegisterApi;
  /**
   * Renders the errors no route's error handler sees: a bad URL, an over-long path parameter, a
   * failure outside the API scopes, a request Node refuses (header overflow, malformed HTTP).
   * Without it, Fastify's and Node's default bodies are sent.
   */
  renderError?: RenderError;
  /** Receives each accepted SIP WebSocket (subprotocol `sip` negotiated). */
  onSipWebSocket: WebSocketHandler;
  /** Receives each event WebSocket; without it, that path answers 404. */
  onEventWebSocket?: WebSocketHandler;
}

export interface WebServers {
  /** e.g. `http://127.0.0.1:8080` (the loopback address when bound to all interfaces). */
  readonly httpUrl: string;
  /** e.g. `https://127.0.0.1:8443`. */
  readonly httpsUrl: string;
  /** The Fastify application (for `inject()` in tests). */
  readonly app: FastifyInstance;
  /** Closes WebSockets (1001), listeners and the application. Idempotent. */
  close(): Promise<void>;
}

/** Host part of a URL reaching a server bound to `bindAddress` from this machine. */
export function localUrlHost(bindAddress: string): string {
  if (bindAddress === '0.0.0.0' || bindAddress === '') {
    return '127.0.0.1';
  }
  if (bindAddress === '::') {
    return '[::1]';
  }
  return bindAddress.includes(':') ? `[${bindAddress}]` : bindAddress;
}

function listen(
  server: HttpServer | HttpsServer,
  port: number,
  host: string,
  what: string,
  flag: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(describeListenError(err, what, flag));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host });
  });
}

/** The request line's target of a request Node refused (`clientError`'s raw packet), if readable. */
function rawRequestTarget(error: Error & { rawPacket?: unknown }): string | undefined {
  const raw = error.rawPacket;
  if (!Buffer.isBuffer(raw)) {
    return undefined;
  }
  const line = /^[A-Z]+ (\S+) HTTP\/\d\.\d\r?\n/.exec(raw.subarray(0, 8192).toString('latin1'));
  return line?.[1];
}

/** Status of a request Node's HTTP parser refused, as Fastify's default client error handler. */
function clientErrorStatus(code: string | undefined): number {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return 408;
  }
  return code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
}

/**
 * Answers a request Node refused with the rendered error, on the raw socket (no request object
 * exists), then closes the connection as Node does.
 */
function answerClientError(
  render: RenderError,
  error: Error & { code?: string; rawPacket?: unknown },
  socket: Duplex,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) {
    return;
  }
  if (socket.writable) {
    const status = clientErrorStatus(error.code);
    const rendered = render(
      { code: error.code, statusCode: status, message: error.message },
      rawRequestTarget(error),
    );
    const body = JSON.stringify(rendered.body);
    socket.write(
      `HTTP/1.1 ${rendered.status} ${STATUS_CODES[rendered.status] ?? 'Error'}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** CORS headers for error replies sent before the CORS plugin's hook could run. */
function allowOrigin(request: FastifyRequest, reply: FastifyReply): void {
  const origin = request.headers.origin;
  if (typeof origin === 'string') {
    void reply.header('Access-Control-Allow-Origin', origin).header('Vary', 'Origin');
  }
}

function closeServer(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => {
      resolve();
    });
    // Keep-alive connections would hold close() open until they time out.
    server.closeAllConnections();
  });
}

/**
 * Builds the application and starts both listeners.
 *
 * @throws StartupError when a port cannot be listened on (in use, privileged, bad address);
 *   whatever was started is closed first.
 */
export async function createWebServers(options: WebServersOptions): Promise<WebServers> {
  const { config } = options;
  const logger = options.logger.child({ component: 'http' });

  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const httpServer = createHttpServer();
  const render = options.renderError;
  // Typed as Fastify's base logger so the instance keeps the default generics RegisterApi expects.
  const loggerInstance: FastifyBaseLogger = logger;
  const app: FastifyInstance = fastify({
    loggerInstance,
    // Per-request lines at info would drown the telephony logs; see the hooks below.
    logController: new LogController({ disableRequestLogging: true }),
    ...(render === undefined
      ? {}
      : {
          // Router failures (bad percent-encoding, over-long parameter) reach no error handler.
          frameworkErrors: (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
            const { status, body } = render(error, request.raw.url);
            allowOrigin(request, reply);
            void reply.code(status).type('application/json; charset=utf-8');
            void reply.send(request.method === 'HEAD' ? undefined : body);
          },
          clientErrorHandler: (error: Error, socket: Duplex) => {
            answerClientError(render, error, socket);
          },
        }),
    // The plain server is Fastify's own; the HTTPS one shares its request handler below.
    serverFactory: (h) => {
      handler = h;
      httpServer.on('request', h);
      return httpServer;
    },
  });
  const httpsServer = createHttpsServer(
    { cert: options.tls.cert, key: options.tls.key },
    (req, res) => {
      handler?.(req, res);
    },
  );

  const upgrades = new UpgradeRouter(logger);
  const endpoints: WebSocketEndpoint[] = [];
  const sip = createWebSocketEndpoint({
    requiredSubprotocol: SIP_SUBPROTOCOL,
    onConnection: options.onSipWebSocket,
    logger: logger.child({ endpoint: 'sip-ws' }),
  });
  endpoints.push(sip);
  upgrades.add(SIP_WEBSOCKET_PATH, sip.handler);
  if (options.onEventWebSocket) {
    const events = createWebSocketEndpoint({
      onConnection: options.onEventWebSocket,
      logger: logger.child({ endpoint: 'event-ws' }),
    });
    endpoints.push(events);
    upgrades.add(EVENT_WEBSOCKET_PATH, events.handler);
  }
  httpServer.on('upgrade', upgrades.handle);
  httpsServer.on('upgrade', upgrades.handle);
  if (render !== undefined) {
    // Fastify installs its client error handler on its own (plain) server only.
    httpsServer.on('clientError', (error: Error, socket: Duplex) => {
      answerClientError(render, error, socket);
    });
  }
  httpsServer.on('tlsClientError', (err) => {
    logger.debug({ err }, 'TLS handshake failed');
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await Promise.all(endpoints.map((e) => e.close()));
      await Promise.all([closeServer(httpServer), closeServer(httpsServer)]);
      await app.close();
    })();
    return closing;
  };

  try {
    await app.register(fastifyCors, {
      // Token auth, no cookies: any origin may call the API (wazo-auth enables CORS by default).
      origin: true,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      allowedHeaders: [...CORS_ALLOWED_HEADERS],
      maxAge: 600,
    });

    app.addHook('onResponse', (request, reply, done) => {
      request.log.debug(
        {
          method: request.method,
          url: request.url,
          statusCode: reply.statusCode,
          ms: reply.elapsedTime,
        },
        'request completed',
      );
      done();
    });
    // Disabling request logging also silences Fastify's default error log: keep server faults.
    app.addHook('onError', (request, reply, err, done) => {
      if (reply.statusCode >= 500) {
        request.log.error({ err, method: request.method, url: request.url }, 'request failed');
      }
      done();
    });

    if (render !== undefined) {
      // Routes of the API scopes have their own error handlers; this one sees the rest (unknown
      // paths with a malformed body, the documentation, the web app).
      app.setErrorHandler((error: unknown, request, reply) => {
        const { status, body } = render(error, request.url);
        return reply
          .code(status)
          .type('application/json; charset=utf-8')
          .send(request.method === 'HEAD' ? undefined : body);
      });
    }

    app.get('/api/health', async (_request, reply) => {
      try {
        await options.store.settings.get('health');
        return { status: 'ok' };
      } catch (err) {
        logger.warn({ err }, 'health check: store unavailable');
        return reply.code(503).send({ status: 'unavailable' });
      }
    });

    const registerApi = options.registerApi;
    if (registerApi) {
      await app.register(async (scope) => {
        await registerApi(scope);
      });
    }
    await registerWebApp(app, options.staticDir);
    await app.ready();

    const host = config.bindAddress;
    const httpPort = await listen(httpServer, config.httpPort, host, 'HTTP', '--http-port');
    const httpsPort = await listen(httpsServer, config.httpsPort, host, 'HTTPS', '--https-port');
    for (const server of [httpServer, httpsServer]) {
      // After listen() succeeded an 'error' is unexpected, but unhandled it would end the process.
      server.on('error', (err) => {
        logger.error({ err }, 'web server error');
      });
    }
    const urlHost = localUrlHost(host);
    logger.info({ httpPort, httpsPort, host }, 'web servers listening');
    return {
      httpUrl: `http://${urlHost}:${httpPort}`,
      httpsUrl: `https://${urlHost}:${httpsPort}`,
      app,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
