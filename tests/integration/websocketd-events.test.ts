/**
 * The event websocket `/api/websocketd/` of a real Confab server (spec §8, §9 "Websocketd"):
 * tokens come from the REST login, events from the server's bus (`server.bus`), clients are `ws`
 * sockets over plain HTTP and, once, over the HTTPS listener.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { userEvent, type BusMessage } from '@confab/server';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';

interface Frame {
  op?: string;
  code?: number;
  data?: unknown;
  name?: string;
}

interface WireToken {
  token: string;
  session_uuid: string;
  /** UTC, `%Y-%m-%dT%H:%M:%S.%f` without a zone (as Wazo). */
  utc_expires_at: string;
  metadata: { uuid: string; tenant_uuid: string };
}

/** A `ws` client that records frames and the close code. */
class Client {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<number>;
  #wake: (() => void)[] = [];

  constructor(url: string, options: { headers?: Record<string, string>; insecure?: boolean } = {}) {
    this.ws = new WebSocket(url, {
      headers: options.headers ?? {},
      ...(options.insecure === true ? { rejectUnauthorized: false } : {}),
    });
    this.ws.on('message', (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString('utf8')) as Frame);
      this.#notify();
    });
    this.ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code) => {
        resolve(code);
        this.#notify();
      });
    });
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  async waitFor(match: (frame: Frame) => boolean, from = 0): Promise<number> {
    for (;;) {
      const index = this.frames.findIndex((frame, i) => i >= from && match(frame));
      if (index !== -1) {
        return index;
      }
      if (this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`closed before the expected frame: ${JSON.stringify(this.frames)}`);
      }
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  /** The SDK's sequence (spec §8.7): on init, subscribe each name then start. */
  async start(...names: string[]): Promise<void> {
    await this.waitFor((f) => f.op === 'init');
    for (const name of names.length === 0 ? ['*'] : names) {
      this.send({ op: 'subscribe', data: { event_name: name } });
    }
    this.send({ op: 'start' });
    await this.waitFor((f) => f.op === 'start');
  }

  #notify(): void {
    for (const wake of this.#wake.splice(0)) {
      wake();
    }
  }
}

describe('event websocket against a real Confab server', () => {
  let confab: TestConfab;
  let dave: TestLineUser;
  let erin: TestLineUser;
  let clients: Client[] = [];

  const wsUrl = (query: string): string =>
    `${confab.origin.replace('http:', 'ws:')}/api/websocketd/${query}`;

  const open = (query: string, headers: Record<string, string> = {}): Client => {
    const client = new Client(wsUrl(query), { headers });
    clients.push(client);
    return client;
  };

  const login = async (user: TestLineUser, expiration = 3600): Promise<WireToken> => {
    const response = await fetch(`${confab.origin}/api/auth/0.1/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ backend: 'wazo_user', expiration }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { data: WireToken }).data;
  };

  const connect = async (user: TestLineUser, version = 2): Promise<Client> => {
    const token = await login(user);
    return open(`?token=${token.token}&version=${version}`);
  };

  /** Passed as `requiredAcl`, leaves the `required_acl` key out of the message entirely. */
  const OMIT = Symbol('omit');

  /** A call-like event addressed to `userUuid` (`null`: everyone). */
  const event = (
    name: string,
    userUuid: string | null,
    requiredAcl: string | null | typeof OMIT = userUuid === null
      ? null
      : `events.calls.${userUuid}`,
  ): BusMessage => {
    const message = userEvent({
      name,
      data: { call_id: '1700000000.1', user_uuid: userUuid },
      tenantUuid: confab.server.store.tenant.uuid,
      userUuid,
      originUuid: confab.server.tokens.stackUuid,
      requiredAcl: requiredAcl === OMIT ? null : requiredAcl,
    });
    if (requiredAcl === OMIT) {
      const { required_acl: _dropped, ...withoutAcl } = message;
      return withoutAcl as BusMessage;
    }
    return message;
  };

  /** Publishes `messages` then a marker; returns the event bodies received before the marker. */
  const deliveredOf = async (client: Client, ...messages: BusMessage[]): Promise<BusMessage[]> => {
    const from = client.frames.length;
    for (const message of messages) {
      confab.server.bus.publish(message);
    }
    confab.server.bus.publish(event('marker', null));
    const end = await client.waitFor(
      (f) => f.op === 'event' && (f.data as BusMessage).name === 'marker',
      from,
    );
    return client.frames
      .slice(from, end)
      .filter((f) => f.op === 'event')
      .map((f) => f.data as BusMessage);
  };

  beforeAll(async () => {
    confab = await startTestConfab();
    dave = await confab.addUser({ username: 'dave' });
    erin = await confab.addUser({ username: 'erin' });
  });

  afterEach(() => {
    for (const client of clients) {
      client.ws.terminate();
    }
    clients = [];
  });

  afterAll(async () => {
    await confab?.close();
  });

  describe('connection', () => {
    it('closes with 4001 without a token', async () => {
      expect(await open('?version=2').closed).toBe(4001);
    });

    it('closes with 4002 for an invalid token', async () => {
      expect(await open('?token=invalid&version=2').closed).toBe(4002);
    });

    it('closes with 4002 for a revoked token', async () => {
      const token = await login(dave);
      const response = await fetch(`${confab.origin}/api/auth/0.1/token/${token.token}`, {
        method: 'DELETE',
      });
      expect(response.status).toBe(200);
      expect(await open(`?token=${token.token}&version=2`).closed).toBe(4002);
    });

    it.each([1, 2])('sends init with the requested version %i', async (version) => {
      const client = await connect(dave, version);
      await client.waitFor((f) => f.op === 'init');
      expect(client.frames[0]).toEqual({ op: 'init', code: 0, data: { version } });
    });

    it('accepts the token in the X-Auth-Token header', async () => {
      const token = await login(dave);
      const client = open('?version=2', { 'X-Auth-Token': token.token });
      await client.waitFor((f) => f.op === 'init');
      expect(client.frames[0]).toEqual({ op: 'init', code: 0, data: { version: 2 } });
    });

    it('closes with 4004 for an unsupported version, before init', async () => {
      const token = await login(dave);
      const client = open(`?token=${token.token}&version=3`);
      expect(await client.closed).toBe(4004);
      expect(client.frames).toEqual([]);
    });

    it('serves the same protocol on the HTTPS listener (wss)', async () => {
      const token = await login(dave);
      const url = `${confab.server.httpsUrl.replace('https:', 'wss:')}/api/websocketd/?token=${token.token}&version=2`;
      const client = new Client(url, { insecure: true });
      clients.push(client);
      await client.start();
      expect(
        (await deliveredOf(client, event('call_created', dave.uuid))).map((m) => m.name),
      ).toEqual(['call_created']);
    });
  });

  describe('token expiry and swap', () => {
    it('closes with 4003 when the token expires', async () => {
      // 2 s: the socket must be open and started before the token expires, also on a loaded
      // machine.
      const token = await login(dave, 2);
      const client = open(`?token=${token.token}&version=2`);
      await client.start();
      expect(await client.closed).toBe(4003);
    });

    it('a token op with a fresh token keeps the socket alive past the first expiry', async () => {
      // The fresh token first: the swap must reach the server before the short one expires.
      const fresh = await login(dave);
      const first = await login(dave, 2);
      const client = open(`?token=${first.token}&version=2`);
      await client.start();
      client.send({ op: 'token', data: { token: fresh.token } });
      await client.waitFor((f) => f.op === 'token');
      // Past the first token's expiry, when its check would have closed the socket.
      const expired = Date.parse(`${first.utc_expires_at}Z`) + 500;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expired - Date.now())));
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
      client.send({ op: 'ping', data: { payload: 'alive' } });
      await client.waitFor((f) => f.op === 'pong');
    });

    it('closes with 4003 when its token is deleted (logout)', async () => {
      const token = await login(dave);
      const client = open(`?token=${token.token}&version=2`);
      await client.start();
      const response = await fetch(`${confab.origin}/api/auth/0.1/token/${token.token}`, {
        method: 'DELETE',
      });
      expect(response.status).toBe(200);
      expect(await client.closed).toBe(4003);
    });

    it('closes with 4002 on a token op with an invalid token', async () => {
      const client = await connect(dave);
      await client.start();
      client.send({ op: 'token', data: { token: 'invalid' } });
      expect(await client.closed).toBe(4002);
    });
  });

  describe('delivery', () => {
    it('delivers no event before start', async () => {
      const client = await connect(dave);
      await client.waitFor((f) => f.op === 'init');
      client.send({ op: 'subscribe', data: { event_name: '*' } });
      await client.waitFor((f) => f.op === 'subscribe');
      confab.server.bus.publish(event('before_start', dave.uuid));
      client.send({ op: 'start' });
      await client.waitFor((f) => f.op === 'start');
      const seen = await deliveredOf(client, event('after_start', dave.uuid));
      expect(seen.map((m) => m.name)).toEqual(['after_start']);
      expect(client.frames.filter((f) => f.op === 'event')).toHaveLength(2);
    });

    it('delivers only the subscribed names', async () => {
      const client = await connect(dave);
      await client.start('call_created', 'marker');
      const seen = await deliveredOf(
        client,
        event('call_updated', dave.uuid),
        event('call_created', dave.uuid),
      );
      expect(seen.map((m) => m.name)).toEqual(['call_created']);
    });

    it('drops events without required_acl or with an unmatched one; delivers required_acl null', async () => {
      const client = await connect(dave);
      await client.start();
      const seen = await deliveredOf(
        client,
        event('missing_acl', dave.uuid, OMIT),
        event('unmatched_acl', dave.uuid, 'events.admin.only'),
        event('null_acl', dave.uuid, null),
      );
      expect(seen.map((m) => m.name)).toEqual(['null_acl']);
    });

    it('wraps v2 events as {op: event, code: 0, data: <bus body>}', async () => {
      const client = await connect(dave);
      await client.start();
      const message = event('call_updated', dave.uuid);
      confab.server.bus.publish(message);
      const index = await client.waitFor((f) => f.op === 'event');
      expect(client.frames[index]).toEqual({ op: 'event', code: 0, data: message });
      expect(Object.keys(client.frames[index]!)).toEqual(['op', 'code', 'data']);
    });

    it("delivers a user's own and user_uuid:* events, not another user's", async () => {
      const daves = await connect(dave);
      await daves.start();
      const erins = await connect(erin);
      await erins.start();
      const messages = [
        event('for_dave', dave.uuid),
        event('for_erin', erin.uuid),
        event('for_erin_no_acl_needed', erin.uuid, null),
        event('for_everyone', null),
      ];
      expect((await deliveredOf(daves, ...messages)).map((m) => m.name)).toEqual([
        'for_dave',
        'for_everyone',
      ]);
      await erins.waitFor((f) => f.op === 'event' && (f.data as BusMessage).name === 'marker');
      expect(
        erins.frames.filter((f) => f.op === 'event').map((f) => (f.data as BusMessage).name),
      ).toEqual(['for_erin', 'for_erin_no_acl_needed', 'for_everyone', 'marker']);
    });

    it('answers ping with a pong echoing the payload', async () => {
      const client = await connect(dave);
      await client.waitFor((f) => f.op === 'init');
      client.send({ op: 'ping', data: { payload: 'pong' } });
      const index = await client.waitFor((f) => f.op === 'pong');
      expect(client.frames[index]).toEqual({ op: 'pong', code: 0, data: { payload: 'pong' } });
    });

    it("forwards the user's own auth_session_expire_soon (wazo-auth §3.7), not another session's", async () => {
      const token = await login(dave, 3);
      const client = open(`?token=${token.token}&version=2`);
      await client.start('auth_session_expire_soon', 'marker');
      const other = await login(dave, 3);
      const from = client.frames.length;
      confab.server.tokens.sweep();
      const seen = await deliveredOf(client);
      expect(client.frames.length).toBeGreaterThan(from);
      expect(seen.map((m) => [m.name, (m.data as { uuid: string }).uuid])).toEqual([
        ['auth_session_expire_soon', token.session_uuid],
      ]);
      expect(seen.map((m) => (m.data as { uuid: string }).uuid)).not.toContain(other.session_uuid);
    });
  });

  describe('malformed input closes with 4004, never harms the server', () => {
    it.each([
      ['invalid JSON', 'not json'],
      ['an empty frame', ''],
      ['an array', '[]'],
      ['an unknown op', '{"op":"publish","data":{}}'],
      ['a numeric op', '{"op":7}'],
      ['subscribe without event_name', '{"op":"subscribe","data":{}}'],
      ['token with a numeric token', '{"op":"token","data":{"token":1}}'],
      ['ping without payload', '{"op":"ping","data":{}}'],
    ])('%s', async (_what, text) => {
      const client = await connect(dave);
      await client.waitFor((f) => f.op === 'init');
      client.send(text);
      expect(await client.closed).toBe(4004);
      const next = await connect(dave);
      await next.start();
    });

    it('a binary frame', async () => {
      const client = await connect(dave);
      await client.start();
      client.ws.send(Buffer.from([0x7b, 0x7d]), { binary: true });
      expect(await client.closed).toBe(4004);
    });
  });
});
