/**
 * `Auth` of the Node SDK against the real Confab server: the wazo-auth token request, the confd
 * reads that build the Session, the failure of a wrong password, and logout revoking the token.
 * Requests are observed through a recording `fetch` around Node's own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiErrorCode, isApiError } from '@confab/sdk';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { createSdkClient, rejection, type SdkClient } from '../support/sdk-client.js';

describe('SDK Auth against a real Confab server', () => {
  let confab: TestConfab;
  let carol: TestLineUser;
  const clients: SdkClient[] = [];

  const client = (): SdkClient => {
    const created = createSdkClient({ frequency: 440, origin: confab.origin });
    clients.push(created);
    return created;
  };

  beforeAll(async () => {
    confab = await startTestConfab();
    carol = await confab.addUser({ username: 'carol', firstname: 'Carol', lastname: 'Lewis' });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await confab?.close();
  });

  it('posts Basic credentials with {backend: wazo_user, expiration: 3600}, then reads the confd user and its SIP endpoint', async () => {
    const c = client();
    const session = await c.confab.Auth.logIn(carol.username, carol.password);

    expect(c.http.map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([
      'POST /api/auth/0.1/token 200',
      `GET /api/confd/1.1/users/${carol.uuid} 200`,
      `GET /api/confd/1.1/users/${carol.uuid}/lines/${carol.lineId}/associated/endpoints/sip?view=merged 200`,
    ]);
    const [token, user, endpoint] = c.http;
    expect(token!.headers['authorization']).toBe(
      `Basic ${Buffer.from(`${carol.username}:${carol.password}`).toString('base64')}`,
    );
    expect(token!.headers['x-auth-token']).toBeUndefined();
    expect(JSON.parse(token!.body)).toEqual({ backend: 'wazo_user', expiration: 3600 });
    expect(user!.headers['x-auth-token']).toBe(session.token);
    expect(endpoint!.headers['x-auth-token']).toBe(session.token);
  });

  it('returns a Session with the user uuid, tenant, names, number and the WebRTC line credentials', async () => {
    const c = client();
    const session = await c.confab.Auth.logIn(carol.username, carol.password);
    const line = await confab.server.store.lines.findByExtension(carol.extension);

    expect(session.uuid).toBe(carol.uuid);
    expect(session.token).not.toBe('');
    expect(session.tenantUuid).toBe(confab.server.store.tenant.uuid);
    expect(session.profile.firstName).toBe('Carol');
    expect(session.profile.lastName).toBe('Lewis');
    expect(session.displayName()).toBe('Carol Lewis');
    expect(session.primaryNumber()).toBe(carol.extension);
    expect(session.primaryWebRtcLine()).toMatchObject({
      username: line!.sipUsername,
      secret: line!.sipSecret,
      webrtc: true,
    });
    expect(session.hasExpired()).toBe(false);
    expect(c.confab.Auth.getSession()).toBe(session);
    expect(c.confab.Auth.getName()).toBe('Carol Lewis');
  });

  it('reads utc_expires_at (no zone designator) as UTC', async () => {
    const c = client();
    const before = Date.now();
    const session = await c.confab.Auth.logIn(carol.username, carol.password, {
      expiration: 120,
    });
    const expires = session.expiresAt!.getTime();
    // The server stamps whole seconds: allow one second each way.
    expect(expires).toBeGreaterThanOrEqual(before + 119_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 121_000);
  });

  it('rejects a wrong password with ApiError 401 carrying the wazo-auth reason, and keeps no session', async () => {
    const c = client();
    const error = await rejection(c.confab.Auth.logIn(carol.username, 'not-the-password'));
    expect(isApiError(error)).toBe(true);
    expect(error).toMatchObject({
      code: ApiErrorCode.HttpError,
      status: 401,
      reason: ['Authentication Failed'],
    });
    expect(c.confab.Auth.getSession()).toBeUndefined();
    expect(c.http).toHaveLength(1);
  });

  it('does not offer a line the server flags webrtc=no as the WebRTC line', async () => {
    const desk = await confab.addUser({ username: 'dave', webrtc: false });
    const c = client();
    const session = await c.confab.Auth.logIn(desk.username, desk.password);
    expect(session.primarySipLine()?.username).toBe(desk.sipUsername);
    expect(session.primaryWebRtcLine()).toBeUndefined();
  });

  it('never serialises the token or the SIP secret', async () => {
    const c = client();
    const session = await c.confab.Auth.logIn(carol.username, carol.password);
    const secret = session.primaryWebRtcLine()!.secret;
    const json = JSON.stringify(session);
    expect(json).not.toContain(session.token);
    expect(json).not.toContain(secret);
    expect(json).toContain(carol.sipUsername);
  });

  it('logout deletes the token on the server, which then refuses it, and forgets the session', async () => {
    const c = client();
    const session = await c.confab.Auth.logIn(carol.username, carol.password);
    const profileUrl = `${confab.origin}/api/confd/1.1/users/${session.uuid}`;
    const headers = { 'X-Auth-Token': session.token };
    expect((await fetch(profileUrl, { headers })).status).toBe(200);

    await c.confab.Auth.logout();
    expect(c.http.at(-1)).toMatchObject({
      method: 'DELETE',
      path: `/api/auth/0.1/token/${session.token}`,
      status: 200,
    });
    expect(c.confab.Auth.getSession()).toBeUndefined();
    expect((await fetch(profileUrl, { headers })).status).toBe(401);
  });
});
