import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, type RawData } from 'ws';
import { peerPort } from '../../../tests/support/ports.js';
import { StartupError } from '../src/errors.js';
import { createWebServers, type WebServers, type WebServersOptions } from '../src/http/index.js';
import { createLogger } from '../src/logger.js';
import { openStore } from '../src/store/index.js';
import type { Store } from '../src/store/types.js';
import { loadTlsMaterial, type TlsMaterial } from '../src/tls.js';

const logger = createLogger({ level: 'silent' });
let dir: string;
let staticDir: string;
let store: Store;
let tls: TlsMaterial;
const open: WebServers[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'confab-http-'));
  staticDir = join(dir, 'dist');
  mkdirSync(join(staticDir, 'assets'), { recursive: true });
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>Confab phone</title>');
  writeFileSync(join(staticDir, 'assets', 'app-1234.js'), 'console.log("phone")');
  store = await openStore({ url: 'sqlite::memory:' });
  tls = await loadTlsMaterial({
    config: {
      dataDir: join(dir, 'data'),
      advertisedAddress: '127.0.0.1',
      sipDomain: '127.0.0.1',
      tlsCertFile: null,
      tlsKeyFile: null,
    },
  });
});

afterEach(async () => {
  for (const ws of sockets.splice(0)) {
    ws.terminate();
  }
  await Promise.all(open.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(overrides: Partial<WebServersOptions> = {}): Promise<WebServers> {
  const servers = await createWebServers({
    config: { httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1' },
    logger,
    store,
    tls,
    staticDir,
    onSipWebSocket: (ws) => {
      ws.close();
    },
    ...overrides,
  });
  open.push(servers);
  return servers;
}

/** GET over HTTPS, trusting only the generated certificate (checks its SANs too). */
function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: tls.cert }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

type Outcome =
  | { kind: 'open'; ws: WebSocket }
  | { kind: 'refused'; status: number }
  | { kind: 'error'; error: Error };

function connect(
  url: string,
  protocols: string[] = [],
  options: { ca?: string } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, options.ca === undefined ? {} : { ca: options.ca });
    sockets.push(ws);
    ws.once('open', () => {
      resolve({ kind: 'open', ws });
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ kind: 'refused', status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', (error) => {
      resolve({ kind: 'error', error });
    });
  });
}

function nextClose(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

describe('HTTP routes', () => {
  it('answers GET /api/health with {status: "ok"} over HTTP and HTTPS', async () => {
    const servers = await start();
    const res = await fetch(`${servers.httpUrl}/api/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    const secure = await httpsGet(`${servers.httpsUrl}/api/health`);
    expect(secure.status).toBe(200);
    expect(JSON.parse(secure.body)).toEqual({ status: 'ok' });
  });

  it('serves the web phone at / and its assets with long-lived caching', async () => {
    const servers = await start();
    const index = await fetch(`${servers.httpUrl}/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('Confab phone');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const asset = await fetch(`${servers.httpUrl}/assets/app-1234.js`);
    expect(asset.status).toBe(200);
    expect(await asset.text()).toBe('console.log("phone")');
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });

  it('falls back to index.html for client-side routes (SPA)', async () => {
    const servers = await start();
    const res = await fetch(`${servers.httpUrl}/calls/42?tab=history`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('Confab phone');
  });

  it('answers 404 JSON, not the app, for unknown API paths, missing files and non-GET requests', async () => {
    const servers = await start();
    for (const [method, path] of [
      ['GET', '/api/nope'],
      ['GET', '/missing.js'],
      ['POST', '/somewhere'],
    ] as const) {
      const res = await fetch(`${servers.httpUrl}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.json()).toMatchObject({ error_id: 'not-found' });
    }
  });

  it('answers 503 with a build hint while the web phone is not built, and serves it once built', async () => {
    const missing = join(dir, 'not-built');
    const servers = await start({ staticDir: missing });
    const res = await fetch(`${servers.httpUrl}/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build');
    expect((await fetch(`${servers.httpUrl}/api/health`)).status).toBe(200);

    mkdirSync(missing);
    writeFileSync(join(missing, 'index.html'), '<title>fresh build</title>');
    const after = await fetch(`${servers.httpUrl}/`);
    expect(after.status).toBe(200);
    expect(await after.text()).toContain('fresh build');
  });

  it('answers CORS preflights allowing the Wazo headers', async () => {
    const servers = await start();
    const res = await fetch(`${servers.httpUrl}/api/health`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://softphone.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'x-auth-token, content-type',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://softphone.example');
    const allowed = (res.headers.get('access-control-allow-headers') ?? '')
      .toLowerCase()
      .split(/,\s*/);
    expect(allowed).toEqual(
      expect.arrayContaining([
        'content-type',
        'authorization',
        'x-auth-token',
        'wazo-tenant',
        'wazo-session-type',
        'x-user-uuid',
      ]),
    );
    expect(res.headers.get('access-control-allow-methods')).toContain('DELETE');
  });

  it('adds the CORS origin header to ordinary responses', async () => {
    const servers = await start();
    const res = await fetch(`${servers.httpUrl}/api/health`, {
      headers: { Origin: 'http://a.example' },
    });
    expect(res.headers.get('access-control-allow-origin')).toBe('http://a.example');
  });

  it('mounts the REST API once, shared by the HTTP and HTTPS listeners', async () => {
    let registrations = 0;
    let hits = 0;
    const servers = await start({
      registerApi: (app) => {
        registrations += 1;
        app.get('/api/test/1.0/counter', () => ({ hits: ++hits }));
      },
    });
    expect(await (await fetch(`${servers.httpUrl}/api/test/1.0/counter`)).json()).toEqual({
      hits: 1,
    });
    expect(JSON.parse((await httpsGet(`${servers.httpsUrl}/api/test/1.0/counter`)).body)).toEqual({
      hits: 2,
    });
    expect(registrations).toBe(1);
  });
});

describe('WebSocket upgrades', () => {
  it('accepts /api/asterisk/ws offering "sip", answers "sip", ignores the query, and hands over the socket', async () => {
    const received: { path: string | undefined; message: string }[] = [];
    const servers = await start({
      onSipWebSocket: (ws, request) => {
        ws.on('message', (data: RawData) => {
          received.push({ path: request.url, message: Buffer.from(data as Buffer).toString() });
          ws.send('pong');
        });
      },
    });
    const wsUrl = `${servers.httpUrl.replace('http', 'ws')}/api/asterisk/ws?userUuid=abc`;
    const outcome = await connect(wsUrl, ['sip']);
    expect(outcome.kind).toBe('open');
    const ws = (outcome as { ws: WebSocket }).ws;
    expect(ws.protocol).toBe('sip');
    const reply = new Promise<string>((resolve) =>
      ws.once('message', (d: RawData) => resolve(Buffer.from(d as Buffer).toString())),
    );
    ws.send('ping');
    expect(await reply).toBe('pong');
    expect(received).toEqual([{ path: '/api/asterisk/ws?userUuid=abc', message: 'ping' }]);
  });

  it('accepts SIP WebSockets over TLS (wss) too', async () => {
    let accepted = 0;
    const servers = await start({
      onSipWebSocket: () => {
        accepted += 1;
      },
    });
    const outcome = await connect(
      `${servers.httpsUrl.replace('https', 'wss')}/api/asterisk/ws`,
      ['sip'],
      {
        ca: tls.cert,
      },
    );
    expect(outcome.kind).toBe('open');
    expect(accepted).toBe(1);
  });

  it('picks "sip" among several offered subprotocols', async () => {
    const servers = await start({ onSipWebSocket: () => undefined });
    const outcome = await connect(`${servers.httpUrl.replace('http', 'ws')}/api/asterisk/ws`, [
      'foo',
      'sip',
    ]);
    expect(outcome.kind).toBe('open');
    expect((outcome as { ws: WebSocket }).ws.protocol).toBe('sip');
  });

  it.each([
    ['no subprotocol', []],
    ['another subprotocol only', ['xmpp']],
  ])(
    'refuses a SIP WebSocket with %s with 400 and never calls the handler (RFC 7118 §4)',
    async (_l, protocols) => {
      let called = false;
      const servers = await start({
        onSipWebSocket: () => {
          called = true;
        },
      });
      const outcome = await connect(
        `${servers.httpUrl.replace('http', 'ws')}/api/asterisk/ws`,
        protocols,
      );
      expect(outcome).toEqual({ kind: 'refused', status: 400 });
      expect(called).toBe(false);
    },
  );

  it('refuses an upgrade on an unknown path with 404', async () => {
    const servers = await start();
    const outcome = await connect(`${servers.httpUrl.replace('http', 'ws')}/elsewhere`, ['sip']);
    expect(outcome).toEqual({ kind: 'refused', status: 404 });
  });

  it('refuses /api/websocketd/ with 404 until an event handler is given, then routes it', async () => {
    const without = await start();
    expect(
      await connect(`${without.httpUrl.replace('http', 'ws')}/api/websocketd/?token=t&version=2`),
    ).toEqual({
      kind: 'refused',
      status: 404,
    });
    let eventUrl: string | undefined;
    const withEvents = await start({
      onEventWebSocket: (_ws, request) => {
        eventUrl = request.url;
      },
    });
    const outcome = await connect(
      `${withEvents.httpUrl.replace('http', 'ws')}/api/websocketd/?token=t&version=2`,
    );
    expect(outcome.kind).toBe('open');
    expect(eventUrl).toBe('/api/websocketd/?token=t&version=2');
  });

  it('closes a SIP WebSocket that sends a message over 64 KiB with 1009', async () => {
    const servers = await start({ onSipWebSocket: () => undefined });
    const outcome = await connect(`${servers.httpUrl.replace('http', 'ws')}/api/asterisk/ws`, [
      'sip',
    ]);
    const ws = (outcome as { ws: WebSocket }).ws;
    const closed = nextClose(ws);
    ws.send(Buffer.alloc(64 * 1024 + 1, 0x41));
    expect(await closed).toBe(1009);
  });

  it('closes open WebSockets with 1001 on close(), and close() is idempotent', async () => {
    const servers = await start({ onSipWebSocket: () => undefined });
    const outcome = await connect(`${servers.httpUrl.replace('http', 'ws')}/api/asterisk/ws`, [
      'sip',
    ]);
    const closed = nextClose((outcome as { ws: WebSocket }).ws);
    await Promise.all([servers.close(), servers.close()]);
    expect(await closed).toBe(1001);
    await expect(fetch(`${servers.httpUrl}/api/health`)).rejects.toThrow();
  });

  it('contains an exception thrown by the SIP WebSocket handler', async () => {
    const servers = await start({
      onSipWebSocket: () => {
        throw new Error('boom');
      },
    });
    const outcome = await connect(`${servers.httpUrl.replace('http', 'ws')}/api/asterisk/ws`, [
      'sip',
    ]);
    if (outcome.kind === 'open') {
      await nextClose(outcome.ws);
    }
    expect((await fetch(`${servers.httpUrl}/api/health`)).status).toBe(200);
  });
});

describe('listen errors', () => {
  let blocker: Server;
  let blockedPort: number;

  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    blockedPort = (blocker.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  });

  it('reports an HTTPS port in use as a StartupError naming the port and the flag', async () => {
    const err: unknown = await start({
      config: { httpPort: 0, httpsPort: blockedPort, bindAddress: '127.0.0.1' },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).code).toBe('PORT_IN_USE');
    expect((err as StartupError).message).toBe(
      `Port ${blockedPort}/tcp (HTTPS) is already in use — choose another with --https-port`,
    );
  });

  it('reports an HTTP port in use naming --http-port', async () => {
    const err: unknown = await start({
      config: { httpPort: blockedPort, httpsPort: 0, bindAddress: '127.0.0.1' },
    }).catch((e: unknown) => e);
    expect((err as StartupError).message).toBe(
      `Port ${blockedPort}/tcp (HTTP) is already in use — choose another with --http-port`,
    );
  });

  it('releases the HTTP port when the HTTPS port fails', async () => {
    // A known free port outside the ephemeral range: an outgoing connection cannot take it
    // between the two starts.
    const httpPort = await peerPort();

    await expect(
      start({ config: { httpPort, httpsPort: blockedPort, bindAddress: '127.0.0.1' } }),
    ).rejects.toBeInstanceOf(StartupError);
    const servers = await start({ config: { httpPort, httpsPort: 0, bindAddress: '127.0.0.1' } });
    expect(servers.httpUrl).toBe(`http://127.0.0.1:${httpPort}`);
  });

  it('reports a bind address that is not local as ADDRESS_NOT_AVAILABLE', async () => {
    const err: unknown = await start({
      // TEST-NET-3 (RFC 5737): never assigned to this host, so bind fails without traffic.
      config: { httpPort: 0, httpsPort: 0, bindAddress: '203.0.113.1' },
    }).catch((e: unknown) => e);
    expect((err as StartupError).code).toBe('ADDRESS_NOT_AVAILABLE');
    expect((err as StartupError).message).toContain('--bind');
  });
});
