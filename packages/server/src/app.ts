/**
 * One Confab server process: store → TLS → event bus → token service → telephony → event
 * websocket → web servers → demo users and banner. One token service and one event bus serve the
 * REST API, the event websocket and (the bus) the telephony core.
 *
 * Close cascade ({@link ConfabServer.close}, also on a failed start): the event websockets first
 * (1001, nothing more to deliver), then telephony (it may still send BYEs over open SIP
 * WebSockets and publish `call_ended`), then the web servers (remaining WebSockets get 1001),
 * then the token service, the bus and the store.
 */
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { renderFrameworkError } from './api/framework-errors.js';
import { TokenService } from './auth/tokens.js';
import type { ConfabConfig } from './config.js';
import { publishSessionEvents } from './events/auth-events.js';
import { InProcessEventBus, type EventBus } from './events/bus.js';
import { createWebServers, type WebServers } from './http/index.js';
import type { WebSocketHandler } from './http/upgrade.js';
import { createLogger, type ServerLogger } from './logger.js';
import { openStore } from './store/index.js';
import { randomString } from './store/store.js';
import type { Store, User } from './store/types.js';
import type { Telephony } from './telephony/index.js';
import { prepareTlsMaterial, type TlsMaterial } from './tls.js';
import { EventWebSocketServer } from './websocketd/server.js';

/** What the server needs of the telephony core (`./telephony/index.ts`). */
export interface TelephonyHandle {
  handleSipWebSocket: WebSocketHandler;
  /** Bound SIP ports, when known (they differ from the config when it says 0). */
  readonly ports?: { udp: number; tcp: number };
  /** Live counts, for metrics and leak checks in tests. */
  stats?(): TelephonyStats;
  close(): Promise<void>;
}

/** Live object counts of the telephony core. */
export interface TelephonyStats {
  channels: number;
  bridges: number;
  bindings: number;
  dialogs: number;
  connections: number;
}

/** Starts the telephony core; injectable so tests can run the platform without SIP. */
export type TelephonyFactory = (options: {
  config: ConfabConfig;
  store: Store;
  logger: ServerLogger;
  /** Where the telephony core publishes call events. */
  bus: EventBus;
  /** The stack uuid, `origin_uuid` of those events. */
  originUuid: string;
}) => Promise<TelephonyHandle>;

/** Mounts the REST API; injectable for the same reason. */
export type PlatformApiFactory = (
  app: FastifyInstance,
  options: {
    store: Store;
    config: ConfabConfig;
    logger: ServerLogger;
    tokens: TokenService;
    bus: EventBus;
    /** The full telephony core (absent when an injected factory returned a bare handle). */
    telephony?: Telephony;
  },
) => Promise<void>;

export interface StartConfabOptions {
  /** @default a pino logger at `config.logLevel`, JSON on standard error */
  logger?: ServerLogger;
  /** Built web phone. @default apps/phone/dist of this repository */
  staticDir?: string;
  /** Receives the human-readable banner. @default writes to standard output */
  print?: (text: string) => void;
  /** @default `startTelephony` of ./telephony/index.js */
  startTelephony?: TelephonyFactory;
  /** @default `registerPlatformApi` of ./api/index.js */
  registerApi?: PlatformApiFactory;
}

/** A demo account created at first start; the password exists only in memory. */
export interface DemoUser {
  username: string;
  password: string;
  extension: string;
  firstname: string;
  lastname: string;
}

export interface ConfabServer {
  readonly config: ConfabConfig;
  readonly store: Store;
  readonly tls: TlsMaterial;
  readonly httpUrl: string;
  readonly httpsUrl: string;
  /** The telephony core (SIP + media), for stats and tests. */
  readonly telephony: TelephonyHandle;
  /** The token service shared by the REST API and the event websocket. */
  readonly tokens: TokenService;
  /** The event bus: telephony and auth publish on it, the event websocket forwards it. */
  readonly bus: EventBus;
  /** Demo users created by this start (empty when the database already had users). */
  readonly demoUsers: readonly DemoUser[];
  /** Stops everything (see the module comment for the order). Idempotent. */
  close(): Promise<void>;
}

/** Default location of the web phone build, relative to this file (dist/app.js or src/app.ts). */
export const DEFAULT_STATIC_DIR = fileURLToPath(
  new URL('../../../apps/phone/dist', import.meta.url),
);

const DEMO_USERS = [
  { username: 'alice', extension: '1001', firstname: 'Alice', lastname: 'Lambert' },
  { username: 'bob', extension: '1002', firstname: 'Bob', lastname: 'Martin' },
  { username: 'carol', extension: '1003', firstname: 'Carol', lastname: 'Dubois' },
] as const;

/** Letters and digits without look-alikes (0/O, 1/l/I), for passwords read off a terminal. */
const READABLE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const DEMO_PASSWORD_LENGTH = 12;

async function createDemoUsers(store: Store): Promise<DemoUser[]> {
  const created: DemoUser[] = [];
  for (const demo of DEMO_USERS) {
    const password = randomString(DEMO_PASSWORD_LENGTH, READABLE_ALPHABET);
    const user: User = await store.users.create({
      username: demo.username,
      password,
      firstname: demo.firstname,
      lastname: demo.lastname,
    });
    await store.lines.create({ userUuid: user.uuid, extension: demo.extension, webrtc: true });
    created.push({ ...demo, password });
  }
  return created;
}

/** Whether a telephony handle is the full core of ./telephony/index.ts (not a test double). */
function isFullTelephony(handle: TelephonyHandle): handle is Telephony {
  return 'callControl' in handle && 'registrar' in handle && 'stack' in handle;
}

/** Hosts a person can open: the advertised address over HTTPS, localhost over HTTP. */
function browserUrls(config: ConfabConfig, web: WebServers): { https: string; http: string } {
  const port = (url: string): string => new URL(url).port;
  const host = config.advertisedAddress.includes(':')
    ? `[${config.advertisedAddress}]`
    : config.advertisedAddress;
  return {
    https: `https://${host}:${port(web.httpsUrl)}/`,
    http: `http://localhost:${port(web.httpUrl)}/`,
  };
}

/** The start-up banner; `demoUsers` empty gives the short form used on later starts. */
export function formatBanner(
  config: ConfabConfig,
  urls: { https: string; http: string },
  tls: Pick<TlsMaterial, 'selfSigned' | 'fingerprint256'>,
  demoUsers: readonly DemoUser[],
  sipPort: number = config.sipPort,
): string {
  const lines = ['', '  Confab is running.', '', '  Open the web phone:'];
  lines.push(
    `    ${urls.https}${tls.selfSigned ? '   (self-signed certificate: accept the browser warning)' : ''}`,
  );
  lines.push(`    ${urls.http}   (from this machine only)`);
  if (tls.selfSigned) {
    lines.push(`  Certificate SHA-256: ${tls.fingerprint256}`);
  }
  if (demoUsers.length > 0) {
    lines.push('', '  Demo users — passwords are shown only this once:');
    const width = Math.max(...demoUsers.map((u) => `${u.firstname} ${u.lastname}`.length));
    for (const u of demoUsers) {
      const name = `${u.firstname} ${u.lastname}`.padEnd(width);
      lines.push(
        `    ${u.username.padEnd(6)} ext ${u.extension}  ${name}  password: ${u.password}`,
      );
    }
  }
  lines.push(
    '',
    `  SIP: ${config.advertisedAddress}:${sipPort} (UDP/TCP), domain ${config.sipDomain}`,
    '  Manage users: npx confab user add|list|remove --help',
    '',
  );
  return lines.join('\n');
}

/**
 * Starts a Confab server with `config` and resolves once every listener is up.
 *
 * @throws ConfigError, StartupError or StoreError for problems of configuration or environment
 *   (each with a message fit for one line); anything started before the failure is closed.
 */
export async function startConfab(
  config: ConfabConfig,
  options: StartConfabOptions = {},
): Promise<ConfabServer> {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const print =
    options.print ??
    ((text: string) => {
      process.stdout.write(`${text}\n`);
    });
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        logger.error({ err }, 'error while closing');
      }
    }
  };

  try {
    const store = await openStore({ dataDir: config.dataDir });
    closers.push(() => store.close());

    // A new development certificate stays in memory until every listener is up (persist below).
    const preparedTls = await prepareTlsMaterial({
      config,
      logger: logger.child({ component: 'tls' }),
    });
    const tls = preparedTls.material;

    const bus = new InProcessEventBus({ logger });
    closers.push(() => bus.close());
    const tokens = await TokenService.open({ store, logger });
    const stopSessionEvents = publishSessionEvents(tokens, bus);
    closers.push(async () => {
      stopSessionEvents();
      await tokens.close();
    });

    const startTelephony =
      options.startTelephony ?? (await import('./telephony/index.js')).startTelephony;
    const telephony = await startTelephony({
      config,
      store,
      logger,
      bus,
      originUuid: tokens.stackUuid,
    });
    const closeTelephony = (): Promise<void> => telephony.close();
    closers.push(closeTelephony);

    const events = new EventWebSocketServer({ tokens, bus, logger });
    closers.push(() => events.close());

    const registerApi = options.registerApi ?? (await import('./api/index.js')).registerPlatformApi;
    const web = await createWebServers({
      config,
      logger,
      store,
      tls,
      staticDir: options.staticDir ?? DEFAULT_STATIC_DIR,
      renderError: renderFrameworkError,
      registerApi: (app) =>
        registerApi(app, {
          store,
          config,
          logger,
          tokens,
          bus,
          ...(isFullTelephony(telephony) ? { telephony } : {}),
        }),
      onSipWebSocket: (socket, request) => {
        telephony.handleSipWebSocket(socket, request);
      },
      onEventWebSocket: events.handleConnection,
    });
    // Closers run in reverse; the web servers go *before* telephony in the list so that
    // telephony closes first and can still hang up over open WebSockets.
    closers.splice(closers.indexOf(closeTelephony), 0, () => web.close());

    // Every port is bound: only now may the data directory get the new certificate, so that a
    // failed start (a port in use) keeps the one that was there.
    preparedTls.persist();

    // Last, so a failed start never leaves users whose passwords nobody saw.
    const demoUsers =
      config.createDemoUsers && (await store.users.count()) === 0
        ? await createDemoUsers(store)
        : [];
    print(
      formatBanner(
        config,
        browserUrls(config, web),
        tls,
        demoUsers,
        telephony.ports?.udp ?? config.sipPort,
      ),
    );

    let closing: Promise<void> | undefined;
    return {
      config,
      store,
      tls,
      httpUrl: web.httpUrl,
      httpsUrl: web.httpsUrl,
      telephony,
      tokens,
      bus,
      demoUsers,
      close: () => {
        closing ??= (async () => {
          logger.info({}, 'shutting down');
          await closeAll();
          logger.info({}, 'stopped');
        })();
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
