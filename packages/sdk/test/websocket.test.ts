/**
 * The event websocket client against a tiny in-test server speaking wazo-websocketd v2 frames
 * (spec wazo-server-protocols §8.2): handshake order, delivery only after `start`, the token op,
 * reconnection, the close codes that stop it, hostile frames, and listeners surviving close().
 * The real server is exercised in tests/integration/sdk-websocket.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { silentLogger } from '@confab/core';
import { resolvePlatform } from '../src/platform.js';
import type { SdkRuntime } from '../src/runtime.js';
import { ConfabWebsocket, SocketEvent, WebsocketState } from '../src/websocket/websocket.js';
import { createConfab } from '../src/confab.js';
import type { FetchLike } from '../src/platform.js';
import type { BusEvent } from '../src/websocket/websocket.js';

interface Peer {
  socket: ServerSocket;
  url: URL;
  /** Client frames, parsed, in order. */
  frames: Record<string, unknown>[];
}

interface FakeWebsocketd {
  port: number;
  peers: Peer[];
  nextPeer(): Promise<Peer>;
  close(): Promise<void>;
}

async function startFakeWebsocketd(): Promise<FakeWebsocketd> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const peers: Peer[] = [];
  const waiting: ((peer: Peer) => void)[] = [];
  server.on('connection', (socket, request) => {
    const peer: Peer = { socket, url: new URL(request.url ?? '/', 'ws://x'), frames: [] };
    socket.on('message', (data) => {
      peer.frames.push(JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>);
    });
    peers.push(peer);
    waiting.shift()?.(peer);
  });
  let seen = 0;
  return {
    port: (server.address() as { port: number }).port,
    peers,
    nextPeer: () => {
      const index = seen++;
      const ready = peers[index];
      return ready !== undefined
        ? Promise.resolve(ready)
        : new Promise<Peer>((resolve) => waiting.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) {
          client.terminate();
        }
        server.close(() => resolve());
      }),
  };
}

function send(peer: Peer, frame: unknown): void {
  peer.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const runtime: SdkRuntime = {
  logger: silentLogger,
  platform: resolvePlatform({
    createWebSocket: (url, protocols) => new WebSocket(url, protocols),
    remoteAudio: undefined,
  }),
};

const CALL_UPDATED: BusEvent = {
  name: 'call_updated',
  origin_uuid: 'stack',
  timestamp: '2026-05-05T10:00:00.123456',
  tenant_uuid: 'tenant',
  required_acl: 'events.calls.user',
  'user_uuid:user': true,
  data: { call_id: '1.1', sip_call_id: 'abc', status: 'Up' },
};

/** Opens a client and completes the handshake; returns the server side. */
async function openStarted(
  ws: ConfabWebsocket,
  fake: FakeWebsocketd,
  token = 'token-1',
): Promise<Peer> {
  ws.open(`http://127.0.0.1:${fake.port}`, { token, uuid: 'user' });
  const peer = await fake.nextPeer();
  send(peer, { op: 'init', code: 0, data: { version: 2 } });
  await until(() => peer.frames.length === 2, 'subscribe and start');
  send(peer, { op: 'subscribe', code: 0, data: null });
  send(peer, { op: 'start', code: 0, data: null });
  await until(() => ws.isOpen(), 'start acknowledged');
  return peer;
}

describe('ConfabWebsocket (wazo-websocketd v2 client)', () => {
  let fake: FakeWebsocketd | undefined;
  let client: ConfabWebsocket | undefined;

  afterEach(async () => {
    client?.close();
    client = undefined;
    await fake?.close();
    fake = undefined;
  });

  it('connects with token, version=2 and userUuid; on init sends subscribe "*" then start without waiting', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime);
    client.open(`http://127.0.0.1:${fake.port}`, { token: 'token-1', uuid: 'user-1' });
    const peer = await fake.nextPeer();
    expect(peer.url.pathname).toBe('/api/websocketd/');
    expect(Object.fromEntries(peer.url.searchParams)).toEqual({
      token: 'token-1',
      version: '2',
      userUuid: 'user-1',
    });
    expect(client.state).toBe(WebsocketState.Connecting);
    send(peer, { op: 'init', code: 0, data: { version: 2 } });
    await until(() => peer.frames.length === 2, 'two frames');
    expect(peer.frames).toEqual([{ op: 'subscribe', data: { event_name: '*' } }, { op: 'start' }]);
    expect(client.isOpen()).toBe(false);
    const initialized: unknown[] = [];
    client.on(SocketEvent.INITIALIZED, () => initialized.push(true));
    send(peer, { op: 'start', code: 0, data: null });
    await until(() => client!.isOpen(), 'open');
    expect(initialized).toEqual([true]);
  });

  it('emits each event under its name with the bus message as payload, only after start', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime);
    const received: BusEvent[] = [];
    const early: unknown[] = [];
    client.on('call_updated', (event) => received.push(event));
    client.on(SocketEvent.MESSAGE, (frame) => early.push(frame));
    client.open(`http://127.0.0.1:${fake.port}`, { token: 't' });
    const peer = await fake.nextPeer();
    send(peer, { op: 'init', code: 0, data: { version: 2 } });
    await until(() => peer.frames.length === 2, 'subscribe and start');
    // An event before the start acknowledgement is not delivered as an event.
    send(peer, { op: 'event', code: 0, data: CALL_UPDATED });
    send(peer, { op: 'start', code: 0, data: null });
    await until(() => client!.isOpen(), 'open');
    send(peer, { op: 'event', code: 0, data: CALL_UPDATED });
    await until(() => received.length === 1, 'the event');
    expect(received[0]).toEqual(CALL_UPDATED);
    const { data } = received[0]!;
    expect(data['sip_call_id']).toBe('abc');
    expect(early).toHaveLength(1);
  });

  it('observers (the Phone) receive every event and survive unbind(); app listeners do not', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime);
    const observed: string[] = [];
    const listened: string[] = [];
    client.observe((event) => observed.push(event.name));
    client.on('call_updated', (event) => listened.push(event.name));
    client.unbind();
    const peer = await openStarted(client, fake);
    send(peer, { op: 'event', code: 0, data: CALL_UPDATED });
    send(peer, { op: 'event', code: 0, data: { ...CALL_UPDATED, name: 'call_ended' } });
    await until(() => observed.length === 2, 'two events');
    expect(observed).toEqual(['call_updated', 'call_ended']);
    expect(listened).toEqual([]);
  });

  it('updateToken() sends the token op on an open socket (no reconnection)', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime);
    const peer = await openStarted(client, fake);
    client.updateToken('token-2');
    await until(() => peer.frames.length === 3, 'the token op');
    expect(peer.frames[2]).toEqual({ op: 'token', data: { token: 'token-2' } });
    expect(fake.peers).toHaveLength(1);
    expect(client.isOpen()).toBe(true);
  });

  it('reconnects after the server drops it, with the latest token, and listeners keep receiving', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime, { minDelay: 10, maxDelay: 20 });
    const received: string[] = [];
    const closes: unknown[] = [];
    client.on('call_updated', (event) => received.push(event.name));
    client.on(SocketEvent.ON_CLOSE, (event) => closes.push(event));
    const first = await openStarted(client, fake);
    client.updateToken('token-2');
    first.socket.close(1011, 'bus lost');
    const second = await fake.nextPeer();
    expect(second.url.searchParams.get('token')).toBe('token-2');
    expect(closes).toEqual([{ code: 1011, reason: 'bus lost' }]);
    send(second, { op: 'init', code: 0, data: { version: 2 } });
    await until(() => second.frames.length === 2, 'handshake again');
    send(second, { op: 'start', code: 0, data: null });
    await until(() => client!.isOpen(), 'open again');
    send(second, { op: 'event', code: 0, data: CALL_UPDATED });
    await until(() => received.length === 1, 'an event after reconnection');
  });

  it('on 4002 (auth failed) emits on_auth_failed and waits for updateToken() before reconnecting', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime, { minDelay: 10, maxDelay: 20 });
    const failures: unknown[] = [];
    client.on(SocketEvent.ON_AUTH_FAILED, (event) => failures.push(event));
    client.open(`http://127.0.0.1:${fake.port}`, { token: 'bad' });
    const peer = await fake.nextPeer();
    peer.socket.close(4002, 'authentication failed');
    await until(() => failures.length === 1, 'on_auth_failed');
    expect(failures[0]).toEqual({ code: 4002, reason: 'authentication failed' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fake.peers).toHaveLength(1);
    expect(client.state).toBe(WebsocketState.Waiting);
    client.updateToken('good');
    const retry = await fake.nextPeer();
    expect(retry.url.searchParams.get('token')).toBe('good');
  });

  it('treats malformed frames as a protocol error: closes with 4004 and reconnects, never throws', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime, { minDelay: 10, maxDelay: 20 });
    const peer = await openStarted(client, fake);
    const closed = new Promise<number>((resolve) => peer.socket.once('close', resolve));
    send(peer, '{"op":');
    expect(await closed).toBe(4004);
    const again = await fake.nextPeer();
    for (const junk of ['[]', '"x"', '{"op":5}', 'null']) {
      send(again, junk);
    }
    await until(() => fake!.peers.length >= 3, 'another reconnection');
  });

  it('ignores events without a name and unknown ops', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime);
    const observed: string[] = [];
    client.observe((event) => observed.push(event.name));
    const peer = await openStarted(client, fake);
    send(peer, { op: 'event', code: 0, data: { data: {} } });
    send(peer, { op: 'pong', code: 0, data: { payload: 'pong' } });
    send(peer, { op: 'token', code: 0, data: null });
    send(peer, { op: 'event', code: 0, data: CALL_UPDATED });
    await until(() => observed.length === 1, 'the valid event');
    expect(observed).toEqual(['call_updated']);
    expect(client.isOpen()).toBe(true);
  });

  it('close() stops reconnecting and keeps the listeners for the next open()', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime, { minDelay: 10, maxDelay: 20 });
    const received: string[] = [];
    client.on('call_updated', (event) => received.push(event.name));
    const first = await openStarted(client, fake);
    client.close();
    client.close();
    expect(client.state).toBe(WebsocketState.Closed);
    await new Promise((resolve) => first.socket.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fake.peers).toHaveLength(1);

    const second = await openStarted(client, fake, 'token-2');
    send(second, { op: 'event', code: 0, data: CALL_UPDATED });
    await until(() => received.length === 1, 'an event after re-open');
  });

  it('drops a socket whose handshake does not complete in time (no init) and retries', async () => {
    fake = await startFakeWebsocketd();
    client = new ConfabWebsocket(runtime, { minDelay: 10, maxDelay: 20, handshakeTimeout: 100 });
    const closes: unknown[] = [];
    client.on(SocketEvent.ON_CLOSE, (event) => closes.push(event));
    client.open(`http://127.0.0.1:${fake.port}`, { token: 't' });
    const silent = await fake.nextPeer();
    const closed = new Promise<number>((resolve) => silent.socket.once('close', resolve));
    expect(await closed).toBe(4000);
    expect(closes).toEqual([{ code: 4000, reason: 'handshake timeout' }]);
    const retry = await fake.nextPeer();
    send(retry, { op: 'init', code: 0, data: { version: 2 } });
    await until(() => retry.frames.length === 2, 'handshake on the retry');
    send(retry, { op: 'start', code: 0, data: null });
    await until(() => client!.isOpen(), 'open on the retry');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Once started, the handshake timer no longer applies.
    expect(client.isOpen()).toBe(true);
    expect(fake.peers).toHaveLength(2);
  });

  it('asks for a new token on 4002 and 4003; on 4003 it also retries with backoff', async () => {
    fake = await startFakeWebsocketd();
    const refused: number[] = [];
    client = new ConfabWebsocket(runtime, { minDelay: 10, maxDelay: 20 }, (code) =>
      refused.push(code),
    );
    const first = await openStarted(client, fake);
    first.socket.close(4003, 'token expired');
    const second = await fake.nextPeer();
    expect(refused).toEqual([4003]);
    second.socket.close(4002, 'authentication failed');
    await until(() => refused.length === 2, 'the second refusal');
    expect(refused).toEqual([4003, 4002]);
    expect(client.state).toBe(WebsocketState.Waiting);
    // A normal close asks nothing.
    client.updateToken('fresh');
    const third = await fake.nextPeer();
    third.socket.close(1011, 'bus lost');
    await fake.nextPeer();
    expect(refused).toEqual([4003, 4002]);
  });

  it('in an SDK instance: logIn opens it, a 4003 refreshes the token through Auth and reconnects with it, logout closes it', async () => {
    fake = await startFakeWebsocketd();
    const port = fake.port;
    let issued = 0;
    const json = (body: unknown): Response => new Response(JSON.stringify(body), { status: 200 });
    const fetch: FetchLike = (url, init) => {
      const path = new URL(url).pathname;
      if (init.method === 'POST' && path === '/api/auth/0.1/token') {
        issued++;
        return Promise.resolve(
          json({
            data: {
              token: `token-${issued}`,
              refresh_token: 'refresh',
              utc_expires_at: '2030-01-01T00:00:00.000',
              acl: [],
              metadata: { uuid: 'user', tenant_uuid: 'tenant' },
            },
          }),
        );
      }
      if (init.method === 'GET' && path === '/api/confd/1.1/users/user') {
        return Promise.resolve(json({ uuid: 'user', firstname: 'A', lastname: 'B', lines: [] }));
      }
      return Promise.resolve(new Response(null, { status: 204 }));
    };
    const sdk = createConfab({
      platform: {
        fetch,
        createWebSocket: (url, protocols) => new WebSocket(url, protocols),
        remoteAudio: undefined,
      },
    });
    sdk.Auth.setHost(`http://127.0.0.1:${port}`);
    sdk.Auth.setClientId('unit');
    await sdk.Auth.logIn('a', 'pw');
    const first = await fake.nextPeer();
    expect(first.url.searchParams.get('token')).toBe('token-1');
    first.socket.close(4003, 'token expired');
    const second = await fake.nextPeer();
    expect(second.url.searchParams.get('token')).toBe('token-2');
    expect(sdk.Auth.getSession()?.token).toBe('token-2');
    await sdk.Auth.logout();
    expect(sdk.Websocket.state).toBe(WebsocketState.Closed);
  });
});
