/**
 * `Auth` decisions that do not need a server: address handling, failures of the network or of
 * a response, cleanup after a partial login. Each test injects a `fetch` that answers fixed
 * wazo-auth / confd JSON (the shapes of spec wazo-server-protocols §3.1, §3.8). The login
 * sequence against the real server is tested in tests/integration/sdk-auth.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { isInvalidStateError, silentLogger } from '@confab/core';
import { ConfabAuth } from '../src/auth/auth.js';
import { ApiErrorCode } from '../src/errors.js';
import { resolvePlatform, type FetchLike } from '../src/platform.js';

const USER_UUID = '5f1c2a34-7b9d-4e21-9c3a-0d6e8f7a1b2c';
const TENANT_UUID = '0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d';
const TOKEN = 'c0ffee00-1234-4abc-9def-0123456789ab';

/** One request the fixed server saw. */
interface Seen {
  method: string;
  url: string;
}

type Reply = { status: number; body?: unknown } | 'network-error';

/** `POST /api/auth/0.1/token` 200 (wazo-auth: UTC without a zone designator, spec §3.2). */
const TOKEN_OK: Reply = {
  status: 200,
  body: {
    data: {
      token: TOKEN,
      auth_id: USER_UUID,
      session_uuid: '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b',
      utc_expires_at: '2030-01-02T03:04:05.000',
      acl: ['confd.users.me.read'],
      metadata: { uuid: USER_UUID, tenant_uuid: TENANT_UUID, purpose: 'user' },
    },
  },
};

/** `GET /api/confd/1.1/users/{uuid}` 200 with one line. */
const USER_OK: Reply = {
  status: 200,
  body: {
    uuid: USER_UUID,
    username: 'alice',
    firstname: 'Alice',
    lastname: 'Liddell',
    email: null,
    lines: [
      {
        id: 7,
        name: 'alicesip',
        endpoint_sip: { uuid: '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e', name: 'alicesip' },
        extensions: [{ id: 7, exten: '1001', context: 'default' }],
      },
    ],
  },
};

/** `GET …/lines/7/associated/endpoints/sip?view=merged` 200. */
const ENDPOINT_OK: Reply = {
  status: 200,
  body: {
    uuid: '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e',
    name: 'alicesip',
    label: 'alicesip',
    auth_section_options: [
      ['username', 'alicesip'],
      ['password', 'alice-sip-secret'],
    ],
    endpoint_section_options: [['webrtc', 'yes']],
  },
};

const DELETE_OK: Reply = { status: 200, body: { data: { message: 'success' } } };

/**
 * A `fetch` answering by "METHOD path" with fixed replies; unknown routes answer 404 like
 * confd. Records what it saw.
 */
function fixedServer(routes: Record<string, Reply>): { fetch: FetchLike; seen: Seen[] } {
  const seen: Seen[] = [];
  const fetch: FetchLike = (url, init) => {
    const parsed = new URL(url);
    const method = init.method ?? 'GET';
    seen.push({ method, url });
    const path = parsed.pathname + parsed.search;
    const reply = routes[`${method} ${path}`] ??
      routes[`${method} ${parsed.pathname}`] ?? {
        status: 404,
        body: { message: 'Resource not found', error_id: 'not-found', details: {} },
      };
    if (reply === 'network-error') {
      return Promise.reject(new TypeError('fetch failed'));
    }
    return Promise.resolve(
      new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
        status: reply.status,
        headers: { 'content-type': 'application/json' },
      }),
    );
  };
  return { fetch, seen };
}

const LOGIN_ROUTES: Record<string, Reply> = {
  'POST /api/auth/0.1/token': TOKEN_OK,
  [`GET /api/confd/1.1/users/${USER_UUID}`]: USER_OK,
  [`GET /api/confd/1.1/users/${USER_UUID}/lines/7/associated/endpoints/sip?view=merged`]:
    ENDPOINT_OK,
  [`DELETE /api/auth/0.1/token/${TOKEN}`]: DELETE_OK,
};

function makeAuth(fetch: FetchLike): ConfabAuth {
  return new ConfabAuth({
    platform: resolvePlatform({ fetch, remoteAudio: undefined }),
    logger: silentLogger,
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('Auth.logIn', () => {
  it('talks https by default, as @wazo/sdk', async () => {
    const server = fixedServer(LOGIN_ROUTES);
    const auth = makeAuth(server.fetch);
    auth.setHost('pbx.example.com:8443');
    await auth.logIn('alice', 'alice-password');
    expect(server.seen[0]!.url).toBe('https://pbx.example.com:8443/api/auth/0.1/token');
    expect(server.seen.every((s) => s.url.startsWith('https://pbx.example.com:8443/'))).toBe(true);
  });

  it('reads utc_expires_at (no zone designator) as UTC', async () => {
    const auth = makeAuth(fixedServer(LOGIN_ROUTES).fetch);
    auth.setHost('http://127.0.0.1:8080');
    const session = await auth.logIn('alice', 'alice-password');
    expect(session.expiresAt?.toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(session.tenantUuid).toBe(TENANT_UUID);
  });

  it('rejects with InvalidStateError before setHost(), without a request', async () => {
    const server = fixedServer(LOGIN_ROUTES);
    const auth = makeAuth(server.fetch);
    expect(isInvalidStateError(await rejection(auth.logIn('alice', 'alice-password')))).toBe(true);
    expect(server.seen).toEqual([]);
  });

  it('reports an unreachable server as API_UNREACHABLE with status 0', async () => {
    const auth = makeAuth(fixedServer({ 'POST /api/auth/0.1/token': 'network-error' }).fetch);
    auth.setHost('http://127.0.0.1:1');
    expect(await rejection(auth.logIn('alice', 'x'))).toMatchObject({
      code: ApiErrorCode.Unreachable,
      status: 0,
    });
    expect(auth.getSession()).toBeUndefined();
  });

  it('reports a token response without metadata.uuid as API_INVALID_RESPONSE', async () => {
    const auth = makeAuth(
      fixedServer({
        'POST /api/auth/0.1/token': { status: 200, body: { data: { token: 't', metadata: {} } } },
      }).fetch,
    );
    auth.setHost('http://127.0.0.1:8080');
    expect(await rejection(auth.logIn('alice', 'x'))).toMatchObject({
      code: ApiErrorCode.InvalidResponse,
    });
  });

  it('deletes the new token again when the profile cannot be loaded, and rethrows the error', async () => {
    const server = fixedServer({
      ...LOGIN_ROUTES,
      [`GET /api/confd/1.1/users/${USER_UUID}`]: {
        status: 503,
        body: { message: 'boom', error_id: 'wazo-confd-unreachable' },
      },
    });
    const auth = makeAuth(server.fetch);
    auth.setHost('http://127.0.0.1:8080');
    const error = await rejection(auth.logIn('alice', 'alice-password'));
    expect(error).toMatchObject({ status: 503, errorId: 'wazo-confd-unreachable' });
    expect(server.seen.at(-1)).toEqual({
      method: 'DELETE',
      url: `http://127.0.0.1:8080/api/auth/0.1/token/${TOKEN}`,
    });
    expect(auth.getSession()).toBeUndefined();
  });

  it('skips a line whose SIP endpoint answers 404', async () => {
    const routes = { ...LOGIN_ROUTES };
    delete routes[
      `GET /api/confd/1.1/users/${USER_UUID}/lines/7/associated/endpoints/sip?view=merged`
    ];
    const auth = makeAuth(fixedServer(routes).fetch);
    auth.setHost('http://127.0.0.1:8080');
    const session = await auth.logIn('alice', 'alice-password');
    expect(session.profile.lines).toHaveLength(1);
    expect(session.profile.sipLines).toHaveLength(0);
    expect(session.primaryNumber()).toBe('1001');
    expect(session.primaryWebRtcLine()).toBeUndefined();
  });

  it('fails the login when a SIP endpoint read fails with anything but 404', async () => {
    const server = fixedServer({
      ...LOGIN_ROUTES,
      [`GET /api/confd/1.1/users/${USER_UUID}/lines/7/associated/endpoints/sip?view=merged`]: {
        status: 500,
        body: { message: 'oops', error_id: 'unexpected-error' },
      },
    });
    const auth = makeAuth(server.fetch);
    auth.setHost('http://127.0.0.1:8080');
    expect(await rejection(auth.logIn('alice', 'alice-password'))).toMatchObject({ status: 500 });
    expect(server.seen.at(-1)?.method).toBe('DELETE');
  });
});

describe('Auth.logout', () => {
  it('resolves and forgets the session even when the server cannot be reached', async () => {
    let up = true;
    const server = fixedServer(LOGIN_ROUTES);
    const auth = makeAuth((url, init) =>
      up ? server.fetch(url, init) : Promise.reject(new TypeError('down')),
    );
    auth.setHost('http://127.0.0.1:8080');
    await auth.logIn('alice', 'alice-password');
    up = false;
    await expect(auth.logout()).resolves.toBeUndefined();
    expect(auth.getSession()).toBeUndefined();
  });

  it('is a no-op without a session', async () => {
    const server = fixedServer(LOGIN_ROUTES);
    const auth = makeAuth(server.fetch);
    auth.setHost('http://127.0.0.1:8080');
    await auth.logout();
    expect(server.seen).toEqual([]);
  });
});

describe('Auth token refresh', () => {
  /** Login routes whose token carries a refresh token; refreshes answer `refreshReply`. */
  function refreshServer(
    refreshReply: () => Reply,
    expiresAt = '2030-01-02T03:04:05.000',
  ): { fetch: FetchLike; bodies: unknown[] } {
    const bodies: unknown[] = [];
    const base = fixedServer(LOGIN_ROUTES).fetch;
    const fetch: FetchLike = (url, init) => {
      if (init.method === 'POST' && new URL(url).pathname === '/api/auth/0.1/token') {
        const body = JSON.parse(init.body as string) as Record<string, unknown>;
        bodies.push(body);
        const reply: Reply =
          body['refresh_token'] === undefined
            ? {
                status: 200,
                body: {
                  data: {
                    ...(TOKEN_OK as { body: { data: object } }).body.data,
                    refresh_token: 'refresh-1',
                    utc_expires_at: expiresAt,
                  },
                },
              }
            : refreshReply();
        if (reply === 'network-error') {
          return Promise.reject(new TypeError('fetch failed'));
        }
        return Promise.resolve(new Response(JSON.stringify(reply.body), { status: reply.status }));
      }
      return base(url, init);
    };
    return { fetch, bodies };
  }

  const FAILED: Reply = { status: 401, body: { reason: ['Authentication Failed'] } };

  it('reports a failed refresh once to setOnRefreshTokenError until a refresh succeeds, and resolves null', async () => {
    let reply: Reply = FAILED;
    const server = refreshServer(() => reply);
    const auth = makeAuth(server.fetch);
    auth.setHost('http://127.0.0.1:9');
    auth.setClientId('unit');
    await auth.logIn('alice', 'pw');
    const errors: unknown[] = [];
    auth.setOnRefreshTokenError((error) => errors.push(error));
    expect(await auth.forceRefreshToken()).toBeNull();
    expect(await auth.forceRefreshToken()).toBeNull();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: ApiErrorCode.HttpError, status: 401 });

    reply = {
      status: 200,
      body: { data: { ...(TOKEN_OK as { body: { data: object } }).body.data, token: 'token-2' } },
    };
    expect(await auth.forceRefreshToken()).toBe('token-2');
    expect(auth.getSession()?.token).toBe('token-2');
    expect(auth.getSession()?.refreshToken).toBe('refresh-1');
    reply = FAILED;
    expect(await auth.forceRefreshToken()).toBeNull();
    expect(errors).toHaveLength(2);
  });

  it('does not renew after logout, and a refresh in flight at logout is discarded', async () => {
    let release: (reply: Reply) => void = () => undefined;
    const server = refreshServer(() => FAILED);
    const held: FetchLike = (url, init) =>
      typeof init.body === 'string' && init.body.includes('refresh_token')
        ? new Promise<Reply>((resolve) => {
            release = resolve;
          }).then(
            (reply) =>
              new Response(JSON.stringify((reply as { body: unknown }).body), {
                status: (reply as { status: number }).status,
              }),
          )
        : server.fetch(url, init);
    const auth = makeAuth(held);
    auth.setHost('http://127.0.0.1:9');
    auth.setClientId('unit');
    await auth.logIn('alice', 'pw');
    const refreshed: string[] = [];
    auth.setOnRefreshToken((token) => refreshed.push(token));
    const pending = auth.forceRefreshToken();
    await auth.logout();
    release({
      status: 200,
      body: { data: { ...(TOKEN_OK as { body: { data: object } }).body.data, token: 'late' } },
    });
    expect(await pending).toBeNull();
    expect(refreshed).toEqual([]);
    expect(auth.getSession()).toBeUndefined();
  });

  it('request() without a refresh token rethrows the 401 without refreshing', async () => {
    const server = fixedServer({
      ...LOGIN_ROUTES,
      'GET /api/calld/1.0/users/me/calls': { status: 401, body: { reason: ['Unauthorized'] } },
    });
    const auth = makeAuth(server.fetch);
    auth.setHost('http://127.0.0.1:9');
    await auth.logIn('alice', 'pw');
    const error = await rejection(
      auth.request({ method: 'GET', path: '/api/calld/1.0/users/me/calls', parse: () => 0 }),
    );
    expect(error).toMatchObject({ status: 401 });
    expect(server.seen.filter((s) => s.method === 'POST')).toHaveLength(1);
  });

  it('setClientId() refuses an empty or oversized client id (wazo-auth accepts 1–1024 characters)', () => {
    const auth = makeAuth(fixedServer({}).fetch);
    expect(() => auth.setClientId('')).toThrow(TypeError);
    expect(() => auth.setClientId('x'.repeat(1025))).toThrow(TypeError);
    auth.init('app', 600);
    expect(auth.getClientId()).toBe('app');
  });
});
