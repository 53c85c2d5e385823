/**
 * The event websocket (spec §8) on a real HTTP server and real sockets: a TokenService on an
 * in-memory store, an in-process bus, `ws` clients and, where a misbehaving peer is needed, a
 * raw TCP client speaking the handshake by hand.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { silentLogger } from '@confab/core';
import { TokenService } from '../src/auth/tokens.js';
import type { AuthToken } from '../src/auth/types.js';
import { InProcessEventBus, userEvent, type BusMessage } from '../src/events/bus.js';
import { UpgradeRouter, createWebSocketEndpoint } from '../src/http/upgrade.js';
import type { User } from '../src/store/types.js';
import { EventWebSocketServer, type EventWebSocketServerOptions } from '../src/websocketd/index.js';
import { senderIdle } from '../src/websocketd/session.js';
import { MemoryStore, TENANT_UUID } from './api.fixtures.js';

const PATH = '/api/websocketd/';
const OTHER_TENANT = '99999999-9999-4999-8999-999999999999';

interface Frame {
  op?: string;
  code?: number;
  data?: unknown;
  name?: string;
}

/** A `ws` client that records every frame and the close. */
class Client {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  pings = 0;
  #waiters: (() => void)[] = [];

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.on('message', (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString('utf8')) as Frame);
      for (const wake of this.#waiters.splice(0)) {
        wake();
      }
    });
    this.ws.on('ping', () => {
      this.pings += 1;
    });
    this.ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString('utf8') });
        for (const wake of this.#waiters.splice(0)) {
          wake();
        }
      });
    });
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  /** Waits for the first frame (from index `from`) that satisfies `match`; returns its index. */
  async waitFor(match: (frame: Frame) => boolean, from = 0): Promise<number> {
    for (;;) {
      const index = this.frames.findIndex((frame, i) => i >= from && match(frame));
      if (index !== -1) {
        return index;
      }
      if (this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`socket closed before the frame; got ${JSON.stringify(this.frames)}`);
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Sends subscribe(s) and start, and waits for the start reply. */
  async start(...names: string[]): Promise<void> {
    await this.waitFor((f) => f.op === 'init');
    for (const name of names.length === 0 ? ['*'] : names) {
      this.send({ op: 'subscribe', data: { event_name: name } });
    }
    this.send({ op: 'start' });
    await this.waitFor((f) => f.op === 'start');
  }

  /** Event payloads received (v2 envelopes unwrapped, v1 bodies as is). */
  events(): BusMessage[] {
    return this.frames
      .filter((f) => f.op === 'event' || f.op === undefined)
      .map((f) => (f.op === 'event' ? f.data : f) as BusMessage);
  }
}

let store: MemoryStore;
let tokens: TokenService;
let bus: InProcessEventBus;
let events: EventWebSocketServer;
let http: Server;
let base: string;
let port: number;
let alice: User;
let bob: User;
let clients: Client[];
let raws: Socket[];
let closeEndpoint: (() => Promise<void>) | undefined;
/** The server's side of every accepted socket, in order. */
let serverSockets: WebSocket[] = [];

async function startServer(options: Partial<EventWebSocketServerOptions> = {}): Promise<void> {
  events = new EventWebSocketServer({ tokens, bus, logger: silentLogger, ...options });
  const endpoint = createWebSocketEndpoint({
    onConnection: (socket, request) => {
      serverSockets.push(socket);
      events.handleConnection(socket, request);
    },
    logger: silentLogger,
  });
  const router = new UpgradeRouter(silentLogger).add(PATH, endpoint.handler);
  http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  http.on('upgrade', router.handle);
  closeEndpoint = () => endpoint.close();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  port = (http.address() as AddressInfo).port;
  base = `ws://127.0.0.1:${port}${PATH}`;
}

async function stopServer(): Promise<void> {
  await events.close();
  await closeEndpoint?.();
  await new Promise<void>((resolve) => {
    http.close(() => {
      resolve();
    });
    http.closeAllConnections();
  });
}

async function restart(options: Partial<EventWebSocketServerOptions> = {}): Promise<void> {
  await stopServer();
  await startServer(options);
}

async function tokenOf(login: string, expiration?: number): Promise<AuthToken> {
  const created = await tokens.createToken({
    credentials: { login, password: `${login}-pass` },
    ...(expiration === undefined ? {} : { expiration }),
  });
  return created.token;
}

function client(query: string, headers: Record<string, string> = {}): Client {
  const c = new Client(`${base}${query}`, headers);
  clients.push(c);
  return c;
}

async function connect2(login = 'alice'): Promise<Client> {
  const token = await tokenOf(login);
  return client(`?token=${token.token}&version=2`);
}

function event(overrides: Partial<Record<string, unknown>> & { userUuid?: string | null } = {}) {
  const { userUuid, ...rest } = overrides;
  const message = userEvent({
    name: 'call_updated',
    data: { call_id: '1600000000.1' },
    tenantUuid: TENANT_UUID,
    userUuid: userUuid === undefined ? alice.uuid : userUuid,
    originUuid: 'stack',
    requiredAcl: `events.calls.${userUuid ?? alice.uuid}`,
  });
  return { ...message, ...rest } as BusMessage;
}

/** Publishes `message`, then a marker every test subscriber receives; resolves on the marker. */
async function publishThenMark(c: Client, ...messages: BusMessage[]): Promise<BusMessage[]> {
  const from = c.frames.length;
  for (const message of messages) {
    bus.publish(message);
  }
  bus.publish(event({ name: 'marker', userUuid: null, required_acl: null }));
  const end = await c.waitFor(
    (f) => (f.op === 'event' ? (f.data as Frame) : f).name === 'marker',
    from,
  );
  return c.frames.slice(from, end).map((f) => (f.op === 'event' ? f.data : f) as BusMessage);
}

/** Opens a TCP connection, performs the WebSocket handshake by hand and returns the socket. */
async function rawClient(query: string): Promise<{ socket: Socket; received: () => string }> {
  const socket = connect(port, '127.0.0.1');
  raws.push(socket);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(
    `GET ${PATH}${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
      'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
  );
  return { socket, received: () => text };
}

/** A masked client text frame (RFC 6455 §5.3), payload < 126 bytes. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeEach(async () => {
  store = new MemoryStore();
  alice = store.addUser({ username: 'alice', password: 'alice-pass', firstname: 'Alice' });
  bob = store.addUser({ username: 'bob', password: 'bob-pass', firstname: 'Bob' });
  tokens = await TokenService.open({ store });
  bus = new InProcessEventBus();
  clients = [];
  raws = [];
  serverSockets = [];
});

afterEach(async () => {
  for (const c of clients) {
    c.ws.terminate();
  }
  for (const socket of raws) {
    socket.destroy();
  }
  await stopServer();
  await tokens.close();
  await bus.close();
});

describe('connection (spec §8.1, §8.3)', () => {
  beforeEach(() => startServer());

  it('closes with 4001 when there is no token', async () => {
    expect((await client('?version=2').closed).code).toBe(4001);
    expect((await client('').closed).code).toBe(4001);
  });

  it('closes with 4002 for an unknown token', async () => {
    expect((await client('?token=00000000-0000-4000-8000-000000000000').closed).code).toBe(4002);
  });

  it('closes with 4002 for a token without the websocketd ACL', async () => {
    await tokens.close();
    tokens = await TokenService.open({ store, userAcl: ['events.calls.me'] });
    await restart();
    const token = await tokenOf('alice');
    expect((await client(`?token=${token.token}`).closed).code).toBe(4002);
  });

  it.each(['1', '2'])('answers a valid token with init carrying version %s', async (version) => {
    const token = await tokenOf('alice');
    const c = client(`?token=${token.token}&version=${version}`);
    await c.waitFor((f) => f.op === 'init');
    expect(c.frames[0]).toEqual({ op: 'init', code: 0, data: { version: Number(version) } });
  });

  it('defaults to version 1 and accepts the token in X-Auth-Token', async () => {
    const token = await tokenOf('alice');
    const c = client('', { 'X-Auth-Token': token.token });
    await c.waitFor((f) => f.op === 'init');
    expect(c.frames[0]).toEqual({ op: 'init', code: 0, data: { version: 1 } });
  });

  it.each(['3', '0', '', 'two'])('closes with 4004 before init for version=%s', async (v) => {
    const token = await tokenOf('alice');
    const c = client(`?token=${token.token}&version=${v}`);
    expect((await c.closed).code).toBe(4004);
    expect(c.frames).toEqual([]);
  });
});

describe('operations (spec §8.2)', () => {
  beforeEach(() => startServer());

  it('replies to subscribe, start and token with {op, code: 0, data: null} (v2)', async () => {
    const c = await connect2();
    await c.waitFor((f) => f.op === 'init');
    const fresh = await tokenOf('alice');
    c.send({ op: 'subscribe', data: { event_name: 'call_created' } });
    c.send({ op: 'start' });
    c.send({ op: 'subscribe', data: { event_name: 'call_ended' } });
    c.send({ op: 'token', data: { token: fresh.token } });
    await c.waitFor((f) => f.op === 'token');
    expect(c.frames.slice(1)).toEqual([
      { op: 'subscribe', code: 0, data: null },
      { op: 'start', code: 0, data: null },
      { op: 'subscribe', code: 0, data: null },
      { op: 'token', code: 0, data: null },
    ]);
  });

  it('answers ping with a pong echoing the payload', async () => {
    const c = await connect2();
    await c.waitFor((f) => f.op === 'init');
    c.send({ op: 'ping', data: { payload: 'pong' } });
    c.send({ op: 'ping', data: { payload: 'é ✓' } });
    await c.waitFor((f) => f.op === 'pong' && (f.data as { payload: string }).payload === 'é ✓');
    expect(c.frames.filter((f) => f.op === 'pong')).toEqual([
      { op: 'pong', code: 0, data: { payload: 'pong' } },
      { op: 'pong', code: 0, data: { payload: 'é ✓' } },
    ]);
  });

  it('v1: no ping reply, and no subscribe or token reply after start', async () => {
    const token = await tokenOf('alice');
    const c = client(`?token=${token.token}&version=1`);
    await c.start('*');
    c.send({ op: 'ping', data: { payload: 'x' } });
    c.send({ op: 'subscribe', data: { event_name: 'y' } });
    c.send({ op: 'token', data: { token: token.token } });
    const seen = await publishThenMark(c);
    expect(seen).toEqual([]);
    expect(c.frames.map((f) => f.op)).toEqual(['init', 'subscribe', 'start', undefined]);
  });

  it.each([
    ['invalid JSON', '{"op":'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"start"'],
    ['JSON null', 'null'],
    ['an unknown op', '{"op":"unsubscribe","data":{"event_name":"x"}}'],
    ['a non-string op', '{"op":1}'],
    ['a missing op', '{"data":{}}'],
    ['subscribe without data', '{"op":"subscribe"}'],
    ['subscribe with a numeric name', '{"op":"subscribe","data":{"event_name":1}}'],
    ['token without data.token', '{"op":"token","data":{"tok":"x"}}'],
    ['ping with a non-string payload', '{"op":"ping","data":{"payload":1}}'],
    ['deeply nested JSON', '['.repeat(50_000)],
  ])('closes with 4004 on %s, before or after start', async (_what, text) => {
    const before = await connect2();
    await before.waitFor((f) => f.op === 'init');
    before.send(text);
    expect((await before.closed).code).toBe(4004);

    const after = await connect2();
    await after.start();
    after.send(text);
    expect((await after.closed).code).toBe(4004);
    // The server is unharmed: a new client still works.
    const next = await connect2();
    await next.start();
  });

  it('closes with 4004 on a binary frame', async () => {
    const c = await connect2();
    await c.waitFor((f) => f.op === 'init');
    c.ws.send(Buffer.from('{"op":"start"}'), { binary: true });
    expect((await c.closed).code).toBe(4004);
  });

  it('closes with 4004 when a socket subscribes to too many names', async () => {
    await restart({ maxSubscriptions: 3 });
    const c = await connect2();
    await c.waitFor((f) => f.op === 'init');
    for (const name of ['a', 'b', 'c', 'a', '*', 'd']) {
      c.send({ op: 'subscribe', data: { event_name: name } });
    }
    expect((await c.closed).code).toBe(4004);
    expect(c.frames.filter((f) => f.op === 'subscribe')).toHaveLength(5);
  });

  it('closes with 1011 when handling an operation fails unexpectedly', async () => {
    await restart({
      tokens: {
        verify: (token, acl) => {
          if (token === 'explode') {
            throw new Error('verifier bug');
          }
          return tokens.verify(token, acl);
        },
      },
    });
    const c = await connect2();
    await c.waitFor((f) => f.op === 'init');
    c.send({ op: 'token', data: { token: 'explode' } });
    expect((await c.closed).code).toBe(1011);
  });
});

describe('event delivery (spec §8.4)', () => {
  beforeEach(() => startServer());

  it('delivers nothing before start: earlier events are discarded, not queued', async () => {
    const c = await connect2();
    await c.waitFor((f) => f.op === 'init');
    c.send({ op: 'subscribe', data: { event_name: '*' } });
    await c.waitFor((f) => f.op === 'subscribe');
    bus.publish(event({ name: 'early' }));
    c.send({ op: 'start' });
    await c.waitFor((f) => f.op === 'start');
    const seen = await publishThenMark(c, event({ name: 'late' }));
    expect(seen.map((m) => m.name)).toEqual(['late']);
    expect(c.events().map((m) => m.name)).toEqual(['late', 'marker']);
  });

  it('wraps v2 events as {op: event, code: 0, data: <bus body>}', async () => {
    const c = await connect2();
    await c.start();
    const message = event();
    bus.publish(message);
    const index = await c.waitFor((f) => f.op === 'event');
    expect(c.frames[index]).toEqual({ op: 'event', code: 0, data: message });
  });

  it('sends v1 events as the raw bus body', async () => {
    const token = await tokenOf('alice');
    const c = client(`?token=${token.token}`);
    await c.start();
    const message = event();
    bus.publish(message);
    const index = await c.waitFor((f) => f.name === 'call_updated');
    expect(c.frames[index]).toEqual(message);
  });

  it('filters by subscribed name; * subscribes to everything', async () => {
    const named = await connect2();
    await named.start('call_created', 'call_ended', 'marker');
    const all = await connect2();
    await all.start('*');
    const messages = ['call_created', 'call_updated', 'call_ended'].map((name) => event({ name }));
    const namedSeen = await publishThenMark(named, ...messages);
    expect(namedSeen.map((m) => m.name)).toEqual(['call_created', 'call_ended']);
    const allSeen = all.events().map((m) => m.name);
    expect(allSeen).toEqual(['call_created', 'call_updated', 'call_ended', 'marker']);
  });

  it('subscribing after start takes effect at once', async () => {
    const c = await connect2();
    await c.start('marker');
    c.send({ op: 'subscribe', data: { event_name: 'call_updated' } });
    await c.waitFor((f) => f.op === 'subscribe', 3);
    expect((await publishThenMark(c, event())).map((m) => m.name)).toEqual(['call_updated']);
  });

  it('drops a message without required_acl and one whose ACL does not match; delivers null', async () => {
    const c = await connect2();
    await c.start();
    const { required_acl: _omitted, ...withoutAcl } = event({ name: 'no_acl' });
    const seen = await publishThenMark(
      c,
      withoutAcl as BusMessage,
      event({ name: 'unmatched', required_acl: 'events.something.else' }),
      event({ name: 'foreign_user_acl', required_acl: `events.calls.${bob.uuid}` }),
      event({ name: 'open', required_acl: null }),
      event({ name: 'mine' }),
      event({ name: 'numeric_acl', required_acl: 42 }),
    );
    expect(seen.map((m) => m.name)).toEqual(['open', 'mine']);
  });

  it('substitutes me and my_session in the token ACL', async () => {
    const token = await tokenOf('alice');
    const c = client(`?token=${token.token}&version=2`);
    await c.start();
    const other = await tokenOf('alice');
    const expireSoon = (session: string): BusMessage =>
      event({
        name: `expire_soon_${session === token.sessionUuid ? 'mine' : 'other'}`,
        required_acl: `events.auth.users.${alice.uuid}.sessions.${session}.expire_soon`,
      });
    const seen = await publishThenMark(
      c,
      expireSoon(other.sessionUuid),
      expireSoon(token.sessionUuid),
    );
    expect(seen.map((m) => m.name)).toEqual(['expire_soon_mine']);
  });

  it("delivers a user's own and user_uuid:* events, not other users' nor other tenants'", async () => {
    const c = await connect2('alice');
    await c.start();
    const seen = await publishThenMark(
      c,
      event({ name: 'alice_event' }),
      event({ name: 'bob_event', userUuid: bob.uuid, required_acl: null }),
      event({ name: 'everyone', userUuid: null, required_acl: null }),
      event({ name: 'other_tenant', tenant_uuid: OTHER_TENANT, required_acl: null }),
      event({
        name: 'other_tenant_everyone',
        userUuid: null,
        tenant_uuid: OTHER_TENANT,
        required_acl: null,
      }),
    );
    expect(seen.map((m) => m.name)).toEqual(['alice_event', 'everyone']);
  });

  it("gives a tenant admin every user's events of its tenant, not other tenants'", async () => {
    // Confab issues no admin tokens yet: a verifier marks alice's token as an admin's.
    await restart({
      tokens: {
        verify: (token, acl) => {
          const result = tokens.verify(token, acl);
          return result.ok
            ? {
                ok: true,
                token: { ...result.token, metadata: { ...result.token.metadata, admin: true } },
              }
            : result;
        },
      },
    });
    const c = await connect2('alice');
    await c.start();
    const seen = await publishThenMark(
      c,
      event({ name: 'bob_event', userUuid: bob.uuid, required_acl: null }),
      event({
        name: 'other_tenant',
        userUuid: bob.uuid,
        tenant_uuid: OTHER_TENANT,
        required_acl: null,
      }),
    );
    expect(seen.map((m) => m.name)).toEqual(['bob_event']);
  });

  it('serialises each message once for every socket and version', async () => {
    const v2 = await connect2('alice');
    await v2.start();
    const token = await tokenOf('alice');
    const v1 = client(`?token=${token.token}`);
    await v1.start();
    let serialisations = 0;
    const message = event();
    const counted = {
      ...message,
      toJSON: () => {
        serialisations += 1;
        return message;
      },
    } as unknown as BusMessage;
    await publishThenMark(v2, counted);
    await v1.waitFor((f) => f.name === 'marker');
    expect(serialisations).toBe(1);
    expect(v1.events()[0]).toEqual(message);
    expect(v2.events()[0]).toEqual(message);
  });

  it('delivers events of every frame length intact to v1 and v2 sockets (direct frame writes)', async () => {
    const v2 = await connect2();
    await v2.start();
    const token = await tokenOf('alice');
    const v1 = client(`?token=${token.token}`);
    await v1.start();
    // Payload lengths in the 7-bit, 16-bit and 64-bit ranges of RFC 6455 §5.2.
    const messages = [10, 500, 70_000].map((size) =>
      event({ name: `sized_${size}`, data: { text: 'é'.repeat(size) } }),
    );
    await publishThenMark(v2, ...messages);
    await v1.waitFor((f) => f.name === 'marker');
    expect(v2.events().slice(0, 3)).toEqual(messages);
    expect(v1.events().slice(0, 3)).toEqual(messages);
  });

  it('keeps event frames and operation replies in order on one socket', async () => {
    const c = await connect2();
    await c.start();
    // A publisher on the bus answered by the socket's own operations: events written directly
    // and replies sent through ws alternate on the same connection.
    for (let i = 0; i < 100; i++) {
      bus.publish(event({ name: `n${i}` }));
      c.send({ op: 'ping', data: { payload: `p${i}` } });
    }
    await c.waitFor((f) => f.op === 'pong' && (f.data as { payload: string }).payload === 'p99');
    const names = c.events().map((m) => m.name);
    expect(names).toEqual(Array.from({ length: 100 }, (_x, i) => `n${i}`));
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('sends an event through ws, behind what ws still holds back, instead of writing it first', async () => {
    const c = await connect2();
    await c.start();
    const server = serverSockets.at(-1)!;
    // A Blob send makes ws's Sender read it asynchronously and queue behind it (ws ≥ 8.16): a
    // frame written straight to the stream now would overtake the reply.
    server.send(new Blob([JSON.stringify({ op: 'queued', code: 0, data: null })]));
    expect(senderIdle(server)).toBe(false);
    bus.publish(event({ name: 'after_queued' }));
    c.send({ op: 'ping', data: { payload: 'p' } });
    await c.waitFor((f) => f.op === 'pong');
    const ops = c.frames.map((f) => (f.op === 'event' ? (f.data as Frame).name : f.op));
    expect(ops.slice(ops.indexOf('queued'))).toEqual(['queued', 'after_queued', 'pong']);
    expect(senderIdle(server)).toBe(true);
  });

  it('relies on ws 8.x Sender internals that a direct write checks (re-check on an upgrade)', async () => {
    const ws = createRequire(import.meta.url)('ws/package.json') as { version: string };
    expect(ws.version).toMatch(/^8\./);
    const c = await connect2();
    await c.start();
    const sender = (serverSockets.at(-1) as unknown as { _sender: Record<string, unknown> })
      ._sender;
    expect(sender['_state']).toBe(0);
    expect(sender['_queue']).toEqual([]);
  });

  // Each session remembers its verdict for the last audience (name, tenant, users, ACL) it was
  // offered: these publish two messages of one audience back to back, with the change between.
  it('decides again for the same audience after a subscribe', async () => {
    const c = await connect2();
    await c.start('marker');
    bus.publish(event());
    c.send({ op: 'subscribe', data: { event_name: 'call_updated' } });
    await c.waitFor((f) => f.op === 'subscribe', 3);
    bus.publish(event());
    await publishThenMark(c);
    expect(c.events().map((m) => m.name)).toEqual(['call_updated', 'marker']);
  });

  it('decides again for the same audience after a token op', async () => {
    const c = await connect2('alice');
    await c.start('call_updated', 'marker');
    bus.publish(event());
    await c.waitFor((f) => f.op === 'event');
    c.send({ op: 'token', data: { token: (await tokenOf('bob')).token } });
    await c.waitFor((f) => f.op === 'token');
    bus.publish(event());
    await publishThenMark(c);
    expect(c.events().map((m) => m.name)).toEqual(['call_updated', 'marker']);
  });

  it('drops a message that cannot be serialised and keeps the sockets', async () => {
    const c = await connect2();
    await c.start();
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const seen = await publishThenMark(c, event({ name: 'cyclic', data: cyclic }));
    expect(seen).toEqual([]);
  });
});

describe('token swap and expiry (spec §8.2, §8.5)', () => {
  beforeEach(() => startServer());

  it('closes with 4003 when the token expires', async () => {
    const token = await tokenOf('alice', 1);
    const c = client(`?token=${token.token}&version=2`);
    await c.start();
    expect((await c.closed).code).toBe(4003);
  });

  it('closes with 4003 as soon as the token is revoked', async () => {
    const token = await tokenOf('alice', 3600);
    const c = client(`?token=${token.token}&version=2`);
    await c.start();
    const other = await connect2('alice');
    await other.start();
    tokens.revokeToken(token.token);
    expect((await c.closed).code).toBe(4003);
    expect(other.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('without revocation events, notices a revoked token at its next check', async () => {
    await restart({ tokens: { verify: (token, acl) => tokens.verify(token, acl) } });
    const token = await tokenOf('alice', 1);
    const c = client(`?token=${token.token}&version=2`);
    await c.waitFor((f) => f.op === 'init');
    tokens.revokeToken(token.token);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect((await c.closed).code).toBe(4003);
  });

  it('after a token op, revoking the previous token leaves the socket open', async () => {
    const first = await tokenOf('alice');
    const c = client(`?token=${first.token}&version=2`);
    await c.start();
    const fresh = await tokenOf('alice');
    c.send({ op: 'token', data: { token: fresh.token } });
    await c.waitFor((f) => f.op === 'token');
    tokens.revokeToken(first.token);
    expect((await publishThenMark(c, event({ name: 'still_here' }))).map((m) => m.name)).toEqual([
      'still_here',
    ]);
  });

  it('a token op with a fresh token keeps the socket alive past the first token expiry', async () => {
    const first = await tokenOf('alice', 1);
    const c = client(`?token=${first.token}&version=2`);
    await c.start();
    const fresh = await tokenOf('alice', 3600);
    c.send({ op: 'token', data: { token: fresh.token } });
    await c.waitFor((f) => f.op === 'token');
    await new Promise((resolve) => setTimeout(resolve, first.expiresAt - Date.now() + 500));
    expect(tokens.get(first.token)).toBeUndefined();
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect((await publishThenMark(c, event({ name: 'still_here' }))).map((m) => m.name)).toEqual([
      'still_here',
    ]);
  });

  it('closes with 4002 on a token op with an invalid token', async () => {
    const c = await connect2();
    await c.start();
    c.send({ op: 'token', data: { token: 'not-a-token' } });
    expect((await c.closed).code).toBe(4002);
  });

  it("a token op with another user's token switches the events delivered", async () => {
    const c = await connect2('alice');
    await c.start();
    const bobs = await tokenOf('bob');
    c.send({ op: 'token', data: { token: bobs.token } });
    await c.waitFor((f) => f.op === 'token');
    const seen = await publishThenMark(
      c,
      event({ name: 'for_alice' }),
      event({ name: 'for_bob', userUuid: bob.uuid }),
    );
    expect(seen.map((m) => m.name)).toEqual(['for_bob']);
  });
});

describe('keep-alive, back-pressure and shutdown', () => {
  it('sends WebSocket ping frames every ping interval', async () => {
    await startServer({ pingIntervalMs: 30 });
    const c = await connect2();
    await c.start();
    await until(() => c.pings >= 3, 'three pings');
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('terminates a peer that does not answer pings', async () => {
    await startServer({ pingIntervalMs: 30 });
    const token = await tokenOf('alice');
    const raw = await rawClient(`?token=${token.token}&version=2`);
    await until(() => raw.received().includes('"op":"init"'), 'init');
    expect(events.connectionCount).toBe(1);
    raw.socket.pause();
    await until(() => events.connectionCount === 0, 'the dead peer to be dropped');
  });

  it('keeps pinging safely while a peer half-closes (close frame sent, TCP kept open)', async () => {
    await startServer({ pingIntervalMs: 20 });
    const token = await tokenOf('alice');
    const raw = await rawClient(`?token=${token.token}&version=2`);
    await until(() => raw.received().includes('"op":"init"'), 'init');
    // A masked close frame with status 1000 (RFC 6455 §5.5.1); the TCP connection stays open,
    // so the server's socket sits in CLOSING across several ping ticks.
    const mask = randomBytes(4);
    const status = Buffer.from([0x03, 0xe8]);
    raw.socket.write(
      Buffer.concat([
        Buffer.from([0x88, 0x82]),
        mask,
        Buffer.from(status.map((byte, i) => byte ^ mask[i % 4]!)),
      ]),
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    const c = await connect2();
    await c.start();
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('disconnects a client that does not read, without blocking publishers', async () => {
    await startServer({ maxBufferedBytes: 64 * 1024 });
    const token = await tokenOf('alice');
    const raw = await rawClient(`?token=${token.token}&version=2`);
    await until(() => raw.received().includes('"op":"init"'), 'init');
    raw.socket.write(maskedTextFrame('{"op":"subscribe","data":{"event_name":"*"}}'));
    raw.socket.write(maskedTextFrame('{"op":"start"}'));
    await until(() => raw.received().includes('"op":"start"'), 'start');
    raw.socket.pause();
    const reader = await connect2();
    await reader.start('marker');
    const big = 'x'.repeat(64 * 1024);
    let published = 0;
    while (events.connectionCount > 1 && published < 2000) {
      bus.publish(event({ name: 'bulk', data: big }));
      published += 1;
      if (published % 50 === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    expect(events.connectionCount).toBe(1);
    // The reading client is unaffected.
    expect((await publishThenMark(reader)).length).toBe(0);
  });

  it('refuses sockets beyond maxConnections with 1013 and accepts again once one closes', async () => {
    await startServer({ maxConnections: 2 });
    const first = await connect2();
    await first.waitFor((f) => f.op === 'init');
    const second = await connect2();
    await second.waitFor((f) => f.op === 'init');
    expect((await (await connect2()).closed).code).toBe(1013);
    first.ws.close();
    await first.closed;
    await until(() => events.connectionCount === 1, 'the server to see the close');
    const third = await connect2();
    await third.waitFor((f) => f.op === 'init');
  });

  it('close() sends 1001 to every socket, leaves the bus, and refuses new sockets', async () => {
    await startServer();
    const c = await connect2();
    await c.start();
    expect(bus.subscriberCount).toBe(1);
    await events.close();
    await events.close();
    expect((await c.closed).code).toBe(1001);
    expect(bus.subscriberCount).toBe(0);
    const late = await connect2();
    expect((await late.closed).code).toBe(1001);
  });
});
