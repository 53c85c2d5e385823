import { describe, expect, it } from 'vitest';
import { isInvalidStateError, silentLogger } from '@confab/core';
import { ConfabAuth } from '../src/auth/auth.js';
import { ApiErrorCode, isApiError } from '../src/errors.js';
import { resolvePlatform } from '../src/platform.js';
import {
  DEMO_USERS,
  FakeDirectory,
  fakeFetch,
  type FakeUser,
} from '../../../tests/support/fake-confab.js';

function makeAuth(directory: FakeDirectory, fetch = fakeFetch(directory)): ConfabAuth {
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
  it('posts Basic credentials with {backend: wazo_user, expiration: 3600}, then reads confd user and SIP endpoint', async () => {
    const directory = new FakeDirectory(DEMO_USERS);
    const auth = makeAuth(directory);
    auth.setHost('http://127.0.0.1:8080');
    const session = await auth.logIn('alice', 'alice-password');

    const [token, user, endpoint] = directory.requests;
    expect(token).toMatchObject({ method: 'POST', url: '/api/auth/0.1/token' });
    expect(token!.headers['authorization']).toBe(
      `Basic ${Buffer.from('alice:alice-password').toString('base64')}`,
    );
    expect(token!.headers['x-auth-token']).toBeUndefined();
    expect(JSON.parse(token!.body)).toEqual({ backend: 'wazo_user', expiration: 3600 });
    expect(user).toMatchObject({ method: 'GET', url: `/api/confd/1.1/users/${session.uuid}` });
    expect(user!.headers['x-auth-token']).toBe(session.token);
    expect(endpoint).toMatchObject({
      method: 'GET',
      url: `/api/confd/1.1/users/${session.uuid}/lines/1/associated/endpoints/sip?view=merged`,
    });
    expect(directory.requests).toHaveLength(3);
  });

  it('returns a Session with uuid, token, profile names, lines and the WebRTC SIP line', async () => {
    const directory = new FakeDirectory(DEMO_USERS);
    const auth = makeAuth(directory);
    auth.setHost('http://127.0.0.1:8080');
    const session = await auth.logIn('alice', 'alice-password');

    expect(session.uuid).toBe(directory.uuidOf('alice'));
    expect(session.token).toMatch(/^[0-9a-f-]{36}$/);
    expect(session.tenantUuid).toBe(directory.tenantUuid);
    expect(session.profile.firstName).toBe('Alice');
    expect(session.profile.lastName).toBe('Liddell');
    expect(session.displayName()).toBe('Alice Liddell');
    expect(session.primaryNumber()).toBe('1001');
    expect(session.primaryWebRtcLine()).toMatchObject({
      username: 'alicesip',
      secret: 'alice-sip-secret',
      webrtc: true,
    });
    expect(session.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    expect(session.hasExpired()).toBe(false);
    expect(auth.getSession()).toBe(session);
    expect(auth.getName()).toBe('Alice Liddell');
  });

  it('reads utc_expires_at (no zone designator) as UTC', async () => {
    const directory = new FakeDirectory(DEMO_USERS);
    const auth = makeAuth(directory);
    auth.setHost('http://127.0.0.1:8080');
    const before = Date.now();
    const session = await auth.logIn('alice', 'alice-password', { expiration: 60 });
    const expires = session.expiresAt!.getTime();
    expect(expires).toBeGreaterThanOrEqual(before + 59_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 61_000);
  });

  it('talks https by default, as @wazo/sdk', async () => {
    const urls: string[] = [];
    const directory = new FakeDirectory(DEMO_USERS);
    const inner = fakeFetch(directory);
    const auth = makeAuth(directory, (url, init) => {
      urls.push(url);
      return inner(url, init);
    });
    auth.setHost('pbx.example.com:8443');
    await auth.logIn('bob', 'bob-password');
    expect(urls[0]).toBe('https://pbx.example.com:8443/api/auth/0.1/token');
  });

  it('rejects a wrong password with ApiError 401 carrying the wazo-auth reason', async () => {
    const auth = makeAuth(new FakeDirectory(DEMO_USERS));
    auth.setHost('http://127.0.0.1:8080');
    const error = await rejection(auth.logIn('alice', 'nope'));
    expect(isApiError(error)).toBe(true);
    expect(error).toMatchObject({
      code: ApiErrorCode.HttpError,
      status: 401,
      reason: ['Authentication Failed'],
    });
    expect(auth.getSession()).toBeUndefined();
  });

  it('rejects with InvalidStateError before setHost()', async () => {
    const auth = makeAuth(new FakeDirectory(DEMO_USERS));
    expect(isInvalidStateError(await rejection(auth.logIn('alice', 'alice-password')))).toBe(true);
  });

  it('reports an unreachable server as API_UNREACHABLE', async () => {
    const auth = makeAuth(new FakeDirectory(DEMO_USERS), () =>
      Promise.reject(new TypeError('fetch failed')),
    );
    auth.setHost('http://127.0.0.1:1');
    expect(await rejection(auth.logIn('alice', 'x'))).toMatchObject({
      code: ApiErrorCode.Unreachable,
      status: 0,
    });
  });

  it('reports a token response without metadata.uuid as API_INVALID_RESPONSE', async () => {
    const auth = makeAuth(new FakeDirectory(DEMO_USERS), () =>
      Promise.resolve(
        new Response(JSON.stringify({ data: { token: 't', metadata: {} } }), { status: 200 }),
      ),
    );
    auth.setHost('http://127.0.0.1:8080');
    expect(await rejection(auth.logIn('alice', 'x'))).toMatchObject({
      code: ApiErrorCode.InvalidResponse,
    });
  });

  it('deletes the new token again when the profile cannot be loaded', async () => {
    const directory = new FakeDirectory(DEMO_USERS);
    const inner = fakeFetch(directory);
    const auth = makeAuth(directory, (url, init) =>
      url.includes('/api/confd/') && !url.includes('/lines/')
        ? Promise.resolve(
            new Response(JSON.stringify({ message: 'boom', error_id: 'wazo-confd-unreachable' }), {
              status: 503,
            }),
          )
        : inner(url, init),
    );
    auth.setHost('http://127.0.0.1:8080');
    const error = await rejection(auth.logIn('alice', 'alice-password'));
    expect(error).toMatchObject({ status: 503, errorId: 'wazo-confd-unreachable' });
    const last = directory.requests.at(-1)!;
    expect(last.method).toBe('DELETE');
    expect(last.url).toMatch(/^\/api\/auth\/0\.1\/token\/[0-9a-f-]{36}$/);
    expect(directory.tokenCount).toBe(0);
  });

  it('skips a line whose SIP endpoint answers 404', async () => {
    const directory = new FakeDirectory(DEMO_USERS);
    const inner = fakeFetch(directory);
    const auth = makeAuth(directory, (url, init) =>
      url.includes('/associated/endpoints/sip')
        ? Promise.resolve(
            new Response(JSON.stringify({ error_id: 'not-found', message: 'nope' }), {
              status: 404,
            }),
          )
        : inner(url, init),
    );
    auth.setHost('http://127.0.0.1:8080');
    const session = await auth.logIn('alice', 'alice-password');
    expect(session.profile.lines).toHaveLength(1);
    expect(session.profile.sipLines).toHaveLength(0);
    expect(session.primaryWebRtcLine()).toBeUndefined();
  });

  it('does not offer a line flagged webrtc=no as the WebRTC line', async () => {
    const users: FakeUser[] = [{ ...DEMO_USERS[0]!, webrtc: false }];
    const auth = makeAuth(new FakeDirectory(users));
    auth.setHost('http://127.0.0.1:8080');
    const session = await auth.logIn('alice', 'alice-password');
    expect(session.primarySipLine()?.username).toBe('alicesip');
    expect(session.primaryWebRtcLine()).toBeUndefined();
  });

  it('never serialises the token or SIP secret', async () => {
    const auth = makeAuth(new FakeDirectory(DEMO_USERS));
    auth.setHost('http://127.0.0.1:8080');
    const session = await auth.logIn('alice', 'alice-password');
    const json = JSON.stringify(session);
    expect(json).not.toContain(session.token);
    expect(json).not.toContain('alice-sip-secret');
    expect(json).toContain('alicesip');
  });
});

describe('Auth.logout', () => {
  it('deletes the token and forgets the session', async () => {
    const directory = new FakeDirectory(DEMO_USERS);
    const auth = makeAuth(directory);
    auth.setHost('http://127.0.0.1:8080');
    const session = await auth.logIn('alice', 'alice-password');
    await auth.logout();
    expect(directory.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      url: `/api/auth/0.1/token/${session.token}`,
    });
    expect(directory.tokenCount).toBe(0);
    expect(auth.getSession()).toBeUndefined();
  });

  it('resolves even when the server cannot be reached', async () => {
    const directory = new FakeDirectory(DEMO_USERS);
    let up = true;
    const inner = fakeFetch(directory);
    const auth = makeAuth(directory, (url, init) =>
      up ? inner(url, init) : Promise.reject(new TypeError('down')),
    );
    auth.setHost('http://127.0.0.1:8080');
    await auth.logIn('alice', 'alice-password');
    up = false;
    await expect(auth.logout()).resolves.toBeUndefined();
    expect(auth.getSession()).toBeUndefined();
  });
});
