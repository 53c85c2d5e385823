/**
 * Token refresh of the Node SDK against the real Confab server (spec wazo-server-protocols §3.1):
 * an offline login with a client id gets a refresh token; `forceRefreshToken()`, a REST 401 and
 * the approaching expiry each renew the access token with `POST /token {refresh_token,
 * client_id}`; logout deletes the refresh token. Requests are observed through a recording fetch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '@confab/sdk';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { waitFor } from '../support/node-phone.js';
import { createSdkClient, type SdkClient } from '../support/sdk-client.js';

describe('SDK token refresh against a real Confab server', () => {
  let confab: TestConfab;
  let dana: TestLineUser;
  const clients: SdkClient[] = [];

  const client = (clientId?: string): SdkClient => {
    const created = createSdkClient({ frequency: 440, origin: confab.origin });
    if (clientId !== undefined) {
      created.confab.Auth.setClientId(clientId);
    }
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    confab = await startTestConfab();
    dana = await confab.addUser({ username: 'dana', firstname: 'Dana', lastname: 'Scully' });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await confab?.close();
  });

  async function tokenIsValid(token: string): Promise<number> {
    const response = await fetch(`${confab.origin}/api/auth/0.1/token/${token}`, {
      method: 'HEAD',
    });
    return response.status;
  }

  it('without a client id, login asks for no refresh token and forceRefreshToken() resolves null', async () => {
    const c = client();
    const session = await c.confab.Auth.logIn(dana.username, dana.password);
    expect(session.refreshToken).toBeUndefined();
    expect(await c.confab.Auth.forceRefreshToken()).toBeNull();
    expect(c.http.filter((x) => x.method === 'POST')).toHaveLength(1);
  });

  it('with a client id, login is offline; forceRefreshToken() posts {refresh_token, client_id} and calls back with the new token', async () => {
    const c = client('confab-tests');
    const session = await c.confab.Auth.logIn(dana.username, dana.password);
    expect(JSON.parse(c.http[0]!.body)).toEqual({
      backend: 'wazo_user',
      expiration: 3600,
      access_type: 'offline',
      client_id: 'confab-tests',
    });
    expect(session.refreshToken).toEqual(expect.any(String));

    const refreshed: [string, Session][] = [];
    c.confab.Auth.setOnRefreshToken((token, renewed) => refreshed.push([token, renewed]));
    const [first, second] = await Promise.all([
      c.confab.Auth.forceRefreshToken(),
      c.confab.Auth.forceRefreshToken(),
    ]);
    // Single flight: both callers share one request.
    expect(second).toBe(first);
    const posts = c.http.filter((x) => x.method === 'POST' && x.path === '/api/auth/0.1/token');
    expect(posts).toHaveLength(2);
    expect(posts[1]!.headers['authorization']).toBeUndefined();
    expect(JSON.parse(posts[1]!.body)).toEqual({
      backend: 'wazo_user',
      expiration: 3600,
      refresh_token: session.refreshToken,
      client_id: 'confab-tests',
    });
    expect(first).not.toBe(session.token);
    expect(refreshed).toHaveLength(1);
    const [token, renewed] = refreshed[0]!;
    expect(token).toBe(first);
    expect(renewed.token).toBe(first);
    expect(renewed.refreshToken).toBe(session.refreshToken);
    expect(renewed.profile).toBe(session.profile);
    expect(c.confab.Auth.getSession()).toBe(renewed);
    expect(await tokenIsValid(first!)).toBe(204);
  });

  it('a request that gets 401 refreshes the token once and is replayed with the new one', async () => {
    const c = client('confab-tests-401');
    const session = await c.confab.Auth.logIn(dana.username, dana.password);
    // Revoke the access token behind the SDK's back.
    await fetch(`${confab.origin}/api/auth/0.1/token/${session.token}`, { method: 'DELETE' });
    expect(await tokenIsValid(session.token)).toBe(404);

    const user = await c.confab.Auth.request({
      method: 'GET',
      path: `/api/confd/1.1/users/${dana.uuid}`,
      parse: (body) => body as { uuid: string },
    });
    expect(user.uuid).toBe(dana.uuid);
    const reads = c.http.filter((x) => x.path === `/api/confd/1.1/users/${dana.uuid}`);
    expect(reads.map((x) => x.status)).toEqual([200, 401, 200]);
    const renewed = c.confab.Auth.getSession()!;
    expect(renewed.token).not.toBe(session.token);
    expect(reads[2]!.headers['x-auth-token']).toBe(renewed.token);
  });

  it('renews the token before it expires', async () => {
    const c = client('confab-tests-expiry');
    const session = await c.confab.Auth.logIn(dana.username, dana.password, { expiration: 3 });
    const renewed = new Promise<string>((resolve) => c.confab.Auth.setOnRefreshToken(resolve));
    const token = await renewed;
    expect(token).not.toBe(session.token);
    expect(await tokenIsValid(token)).toBe(204);
    // The renewed token asks for the same lifetime and is renewed again in turn.
    await waitFor(
      'a second renewal',
      () => c.http.filter((x) => x.method === 'POST').length >= 3,
      6000,
    );
  });

  it('logout deletes the refresh token for the client id, then revokes the access token', async () => {
    const c = client('confab-tests-logout');
    const session = await c.confab.Auth.logIn(dana.username, dana.password);
    await c.confab.Auth.logout();
    const deletes = c.http.filter((x) => x.method === 'DELETE').map((x) => `${x.path} ${x.status}`);
    expect(deletes).toEqual([
      '/api/auth/0.1/users/me/tokens/confab-tests-logout 204',
      `/api/auth/0.1/token/${session.token} 200`,
    ]);
    expect(await c.confab.Auth.forceRefreshToken()).toBeNull();
    // The refresh token is gone: logging in with it fails.
    const again = client('confab-tests-logout');
    again.confab.Auth.setHost(confab.origin);
    await expect(
      again.confab.Auth.logInViaRefreshToken(session.refreshToken!),
    ).rejects.toMatchObject({ status: 401 });
  });
});
