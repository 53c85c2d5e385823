import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  startConfab,
  type ConfabServer,
  type PlatformApiFactory,
  type StartConfabOptions,
  type TelephonyFactory,
} from '../src/app.js';
import { loadConfig, type ConfabConfig } from '../src/config.js';
import { StartupError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { openStore } from '../src/store/index.js';

let dir: string;
let running: ConfabServer[];
let events: string[];
let printed: string[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'confab-app-'));
  running = [];
  events = [];
  printed = [];
});

afterEach(async () => {
  await Promise.all(running.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

function config(overrides: Partial<ConfabConfig> = {}): ConfabConfig {
  return {
    ...loadConfig({
      env: {},
      argv: {
        data: join(dir, 'data'),
        httpPort: 0,
        httpsPort: 0,
        sipPort: 0,
        bind: '127.0.0.1',
        advertise: '127.0.0.1',
        logLevel: 'fatal',
      },
    }),
    ...overrides,
  };
}

/** A telephony core that records what the platform does with it. */
const fakeTelephony: TelephonyFactory = ({ store }) => {
  events.push(`telephony:start:${store.tenant.name}`);
  return Promise.resolve({
    ports: { udp: 5999, tcp: 5999 },
    handleSipWebSocket: (socket, request) => {
      events.push(`sip-ws:${request.url ?? ''}:${socket.protocol}`);
      socket.close();
    },
    close: async () => {
      events.push('telephony:close');
      await Promise.resolve();
    },
  });
};

const fakeApi: PlatformApiFactory = (app, { store }) => {
  app.get('/api/test/users', async () => ({ count: await store.users.count() }));
  return Promise.resolve();
};

async function start(
  cfg: ConfabConfig = config(),
  options: StartConfabOptions = {},
): Promise<ConfabServer> {
  const server = await startConfab(cfg, {
    logger: createLogger({ level: 'silent' }),
    staticDir: join(dir, 'no-dist'),
    print: (text) => printed.push(text),
    startTelephony: fakeTelephony,
    registerApi: fakeApi,
    ...options,
  });
  running.push(server);
  return server;
}

describe('first start', () => {
  it('creates alice, bob and carol with lines 1001–1003 and random 12-character passwords', async () => {
    const server = await start();
    expect(
      server.demoUsers.map((u) => [u.username, u.extension, `${u.firstname} ${u.lastname}`]),
    ).toEqual([
      ['alice', '1001', 'Alice Lambert'],
      ['bob', '1002', 'Bob Martin'],
      ['carol', '1003', 'Carol Dubois'],
    ]);
    const passwords = server.demoUsers.map((u) => u.password);
    for (const password of passwords) {
      expect(password).toMatch(/^[A-Za-z0-9]{12}$/);
    }
    expect(new Set(passwords).size).toBe(3);
    for (const demo of server.demoUsers) {
      const user = await server.store.users.verifyPassword(demo.username, demo.password);
      expect(user?.firstname).toBe(demo.firstname);
      const lines = await server.store.lines.listByUser(user!.uuid);
      expect(lines).toMatchObject([{ extension: demo.extension, webrtc: true }]);
    }
  });

  it('prints one banner with the URLs to open and the three logins with their passwords', async () => {
    const server = await start();
    expect(printed).toHaveLength(1);
    const banner = printed[0]!;
    const httpsPort = new URL(server.httpsUrl).port;
    const httpPort = new URL(server.httpUrl).port;
    expect(banner).toContain(`https://127.0.0.1:${httpsPort}/`);
    expect(banner).toContain(`http://localhost:${httpPort}/`);
    expect(banner).toContain('self-signed');
    expect(banner).toContain(server.tls.fingerprint256);
    for (const demo of server.demoUsers) {
      expect(banner).toMatch(
        new RegExp(`${demo.username}\\s+ext ${demo.extension}.*${demo.password}`),
      );
    }
    expect(banner).toContain('127.0.0.1:5999');
  });

  it('generates the development certificate into the data directory', async () => {
    const server = await start();
    expect(server.tls.certFile).toBe(join(dir, 'data', 'tls', 'cert.pem'));
    expect(existsSync(server.tls.keyFile)).toBe(true);
  });

  it('creates no demo users when createDemoUsers is false', async () => {
    const server = await start(config({ createDemoUsers: false }));
    expect(server.demoUsers).toEqual([]);
    expect(await server.store.users.count()).toBe(0);
    expect(printed[0]).not.toContain('password');
  });
});

describe('later starts', () => {
  it('keep the users, create none, and print no password', async () => {
    const first = await start();
    const alice = first.demoUsers[0]!;
    await first.close();
    printed.length = 0;

    const second = await start();
    expect(second.demoUsers).toEqual([]);
    expect(await second.store.users.count()).toBe(3);
    expect(await second.store.users.verifyPassword('alice', alice.password)).toBeDefined();
    expect(printed).toHaveLength(1);
    expect(printed[0]).not.toContain('password');
    expect(printed[0]).toContain('Confab is running');
  });
});

describe('wiring', () => {
  it('mounts the REST API, serves health, and hands SIP WebSockets to telephony', async () => {
    const server = await start();
    expect(await (await fetch(`${server.httpUrl}/api/test/users`)).json()).toEqual({ count: 3 });
    expect(await (await fetch(`${server.httpUrl}/api/health`)).json()).toEqual({ status: 'ok' });

    const ws = new WebSocket(
      `${server.httpUrl.replace('http', 'ws')}/api/asterisk/ws?userUuid=u1`,
      ['sip'],
    );
    await new Promise<void>((resolve, reject) => {
      ws.once('close', () => resolve());
      ws.once('error', reject);
    });
    expect(events).toContain('sip-ws:/api/asterisk/ws?userUuid=u1:sip');
  });

  it('closes telephony while the web servers still run, then the web servers, then the store', async () => {
    let healthDuringTelephonyClose: number | undefined;
    const telephony: TelephonyFactory = () =>
      Promise.resolve({
        handleSipWebSocket: () => undefined,
        close: async () => {
          healthDuringTelephonyClose = (await fetch(`${server.httpUrl}/api/health`)).status;
        },
      });
    // Read by close() above, which runs after this assignment.
    const server = await start(config(), { startTelephony: telephony });
    await Promise.all([server.close(), server.close()]);
    expect(healthDuringTelephonyClose).toBe(200);
    await expect(fetch(`${server.httpUrl}/api/health`)).rejects.toThrow();
    await expect(server.store.users.count()).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });
});

describe('failed starts', () => {
  let blocker: Server;
  let port: number;

  beforeEach(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    port = (blocker.address() as { port: number }).port;
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  });

  it('report a busy HTTPS port, close telephony and the store, and create no users', async () => {
    const err: unknown = await start(config({ httpsPort: port })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).message).toBe(
      `Port ${port}/tcp (HTTPS) is already in use — choose another with --https-port`,
    );
    expect(events).toEqual(['telephony:start:default', 'telephony:close']);
    expect(printed).toEqual([]);
    // No demo user exists whose password nobody saw.
    const store = await openStore({ dataDir: join(dir, 'data') });
    try {
      expect(await store.users.count()).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('propagate a telephony start-up failure unchanged, before any web listener starts', async () => {
    const failure = new StartupError(
      'PORT_IN_USE',
      'Port 5060/udp (SIP) is already in use — choose another with --sip-port',
    );
    const failing: TelephonyFactory = () => Promise.reject(failure);
    await expect(start(config({ httpsPort: port }), { startTelephony: failing })).rejects.toBe(
      failure,
    );
    expect(printed).toEqual([]);
  });
});
