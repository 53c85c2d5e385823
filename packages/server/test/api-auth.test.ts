import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { SessionInfo } from '../src/auth/tokens.js';
import { ALICE, BOB, TENANT_UUID, basic, createFixture, login } from './api.fixtures.js';
import type { Fixture } from './api.fixtures.js';

// Asymmetric matchers are typed `any`; give them `unknown` once for the lint rules.
const anyString: unknown = expect.any(String);
const anyNumber: unknown = expect.any(Number);
const anyObject: unknown = expect.any(Object);
const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern);
const containing = (text: string): unknown => expect.stringContaining(text);

const AUTH = '/api/auth/0.1';

function expectLegacyError(
  response: LightMyRequestResponse,
  status: number,
  reason?: string,
): void {
  expect(response.statusCode).toBe(status);
  const body = response.json<{ reason: unknown; timestamp: unknown; status_code: unknown }>();
  expect(Object.keys(body).sort()).toEqual(['reason', 'status_code', 'timestamp']);
  expect(body.status_code).toBe(status);
  expect(body.reason).toEqual([anyString]);
  expect(body.timestamp).toEqual([anyNumber]);
  if (reason !== undefined) {
    expect(body.reason).toEqual([reason]);
  }
}

function expectApiError(
  response: LightMyRequestResponse,
  status: number,
  errorId: string,
): Record<string, unknown> {
  expect(response.statusCode).toBe(status);
  const body = response.json<Record<string, unknown>>();
  expect(body).toMatchObject({
    error_id: errorId,
    message: anyString,
    details: anyObject,
    timestamp: anyNumber,
  });
  return body;
}

describe('wazo-auth REST API', () => {
  let f: Fixture;

  beforeEach(async () => {
    f = await createFixture();
  });

  afterEach(async () => {
    await f.close();
  });

  describe('POST /token', () => {
    it('answers a Basic login with 200 {data: Token}, the user metadata and Wazo-Sessions-Revoked: 0', async () => {
      const response = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token`,
        headers: { authorization: basic('alice', 'alice-pass'), 'user-agent': 'wazo-sdk-test' },
        payload: { backend: 'wazo_user', expiration: 3600 },
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers['wazo-sessions-revoked']).toBe('0');
      const { data } = response.json<{ data: Record<string, unknown> }>();
      expect(data).toMatchObject({
        token: matching(/^[0-9a-f-]{36}$/),
        auth_id: f.alice.uuid,
        xivo_user_uuid: f.alice.uuid,
        xivo_uuid: f.tokens.stackUuid,
        utc_issued_at: '2026-05-05T08:00:00.123000',
        utc_expires_at: '2026-05-05T09:00:00.123000',
        issued_at: matching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/),
        expires_at: matching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/),
        session_uuid: matching(/^[0-9a-f-]{36}$/),
        remote_addr: '127.0.0.1',
        user_agent: 'wazo-sdk-test',
        metadata: {
          uuid: f.alice.uuid,
          tenant_uuid: TENANT_UUID,
          auth_id: f.alice.uuid,
          pbx_user_uuid: f.alice.uuid,
          xivo_uuid: f.tokens.stackUuid,
          purpose: 'user',
        },
      });
      expect(data['acl']).toEqual(
        expect.arrayContaining(['websocketd', 'events.calls.me', 'calld.users.me.#']),
      );
      expect(data).not.toHaveProperty('refresh_token');
    });

    it.each([
      ['no body at all', {}],
      ['an empty JSON body', { payload: '', headers: { 'content-type': 'application/json' } }],
      ['`{}`', { payload: '{}', headers: { 'content-type': 'application/json' } }],
      [
        'a JSON body sent as text/plain',
        { payload: '{"expiration": 60}', headers: { 'content-type': 'text/plain' } },
      ],
    ])(
      'accepts %s',
      async (_label, request: { payload?: string; headers?: Record<string, string> }) => {
        const response = await f.app.inject({
          method: 'POST',
          url: `${AUTH}/token`,
          ...request,
          headers: { ...request.headers, authorization: basic('alice', 'alice-pass') },
        });
        expect(response.statusCode).toBe(200);
      },
    );

    it('refuses a huge expiration with the legacy 400', async () => {
      const response = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token`,
        headers: { authorization: basic('alice', 'alice-pass') },
        payload: { expiration: 315_360_001 },
      });
      expectLegacyError(response, 400);
      expect(response.json<{ reason: string[] }>().reason[0]).toContain("'expiration'");
    });

    it('refuses offline access without client_id with the legacy 400 naming the rule', async () => {
      const response = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token`,
        headers: { authorization: basic('alice', 'alice-pass') },
        payload: { access_type: 'offline' },
      });
      expectLegacyError(response, 400);
      expect(response.json<{ reason: string[] }>().reason[0]).toContain('client_id');
    });

    it('logs in by email', async () => {
      const token = await login(f.app, { login: 'alice@example.com', password: 'alice-pass' });
      expect(token['auth_id']).toBe(f.alice.uuid);
    });

    it('answers a wrong password with the legacy 401 "Authentication Failed"', async () => {
      const response = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token`,
        headers: { authorization: basic('alice', 'wrong') },
        payload: {},
      });
      expectLegacyError(response, 401, 'Authentication Failed');
    });

    it('returns refresh_token for an offline login and none for a login with that refresh token', async () => {
      const offline = await login(f.app, ALICE, { access_type: 'offline', client_id: 'sdk' });
      expect(offline['refresh_token']).toEqual(anyString);
      const response = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token`,
        payload: {
          backend: 'wazo_user',
          expiration: 3600,
          refresh_token: offline['refresh_token'],
          client_id: 'sdk',
        },
      });
      expect(response.statusCode).toBe(200);
      const { data } = response.json<{ data: Record<string, unknown> }>();
      expect(data['auth_id']).toBe(f.alice.uuid);
      expect(data).not.toHaveProperty('refresh_token');
    });

    it('keeps one refresh token per (user, client_id)', async () => {
      const first = await login(f.app, ALICE, { access_type: 'offline', client_id: 'sdk' });
      const second = await login(f.app, ALICE, { access_type: 'offline', client_id: 'sdk' });
      expect(second['refresh_token']).toBe(first['refresh_token']);
      const list = await f.app.inject({
        method: 'GET',
        url: `${AUTH}/users/me/tokens`,
        headers: { 'x-auth-token': second['token'] as string },
      });
      expect(list.json()).toMatchObject({ total: 1, filtered: 1 });
    });

    it('refuses a refresh token presented with the wrong client_id with the legacy 401', async () => {
      const offline = await login(f.app, ALICE, { access_type: 'offline', client_id: 'sdk' });
      const response = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token`,
        payload: { refresh_token: offline['refresh_token'], client_id: 'someone-else' },
      });
      expectLegacyError(response, 401, 'Authentication Failed');
    });

    it('reports the sessions a mobile offline login revoked in Wazo-Sessions-Revoked', async () => {
      await login(
        f.app,
        ALICE,
        { access_type: 'offline', client_id: 'phone' },
        { 'wazo-session-type': 'mobile' },
      );
      const response = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token`,
        headers: { authorization: basic('alice', 'alice-pass'), 'wazo-session-type': 'Mobile' },
        payload: { access_type: 'offline', client_id: 'phone' },
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers['wazo-sessions-revoked']).toBe('1');
    });

    it('refuses the 101st concurrent session with 429 max-user-concurrent-sessions (APIException shape)', async () => {
      for (let i = 0; i < 100; i++) {
        await login(f.app, ALICE);
      }
      const response = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token`,
        headers: { authorization: basic('alice', 'alice-pass') },
        payload: {},
      });
      const body = expectApiError(response, 429, 'max-user-concurrent-sessions');
      expect(body['resource']).toBe('users');
      // Bob still logs in.
      await expect(login(f.app, BOB)).resolves.toBeDefined();
    });
  });

  describe('GET, HEAD and DELETE /token/{token}', () => {
    let token: string;

    beforeEach(async () => {
      token = (await login(f.app, ALICE, { access_type: 'offline', client_id: 'sdk' }))[
        'token'
      ] as string;
    });

    it('GET returns the token without its refresh token', async () => {
      const response = await f.app.inject({ method: 'GET', url: `${AUTH}/token/${token}` });
      expect(response.statusCode).toBe(200);
      const { data } = response.json<{ data: Record<string, unknown> }>();
      expect(data['token']).toBe(token);
      expect(data['metadata']).toMatchObject({ uuid: f.alice.uuid, tenant_uuid: TENANT_UUID });
      expect(data).not.toHaveProperty('refresh_token');
    });

    it.each([
      ['a granted scope', '?scope=websocketd', 200],
      ['a granted scope naming the user', `?scope=confd.users.USER.read`, 200],
      ['its own tenant', `?tenant=${TENANT_UUID}`, 200],
      ['a scope it lacks', '?scope=confd.users.someone-else.read', 403],
      ['another tenant', '?tenant=22222222-2222-4222-8222-222222222222', 403],
    ])('GET with %s → %i', async (_label, query, status) => {
      const url = `${AUTH}/token/${token}${query.replace('USER', f.alice.uuid)}`;
      const response = await f.app.inject({ method: 'GET', url });
      if (status === 200) {
        expect(response.statusCode).toBe(200);
      } else {
        expectLegacyError(response, status);
      }
    });

    it('GET names the refused scope and tenant in the 403 reason', async () => {
      const scope = await f.app.inject({
        method: 'GET',
        url: `${AUTH}/token/${token}?scope=admin.all`,
      });
      expectLegacyError(scope, 403, 'Unauthorized for admin.all');
      const tenant = await f.app.inject({ method: 'GET', url: `${AUTH}/token/${token}?tenant=t2` });
      expectLegacyError(tenant, 403, 'Unauthorized for tenant t2');
    });

    it('GET answers an unknown or expired token with the legacy 404 "No such token" the SDK refreshes on', async () => {
      const unknown = await f.app.inject({ method: 'GET', url: `${AUTH}/token/not-a-token` });
      expectLegacyError(unknown, 404, 'No such token');
      f.clock.advance(7200 * 1000);
      const expired = await f.app.inject({ method: 'GET', url: `${AUTH}/token/${token}` });
      expectLegacyError(expired, 404, 'No such token');
    });

    it.each([
      ['', 204],
      ['?scope=websocketd', 204],
      ['?scope=admin.all', 403],
      ['?tenant=other', 403],
    ])('HEAD%s → %i with no body', async (query, status) => {
      const response = await f.app.inject({
        method: 'HEAD',
        url: `${AUTH}/token/${token}${query}`,
      });
      expect(response.statusCode).toBe(status);
      expect(response.body).toBe('');
    });

    it('HEAD of an unknown token → 404 with no body', async () => {
      const response = await f.app.inject({ method: 'HEAD', url: `${AUTH}/token/nope` });
      expect(response.statusCode).toBe(404);
      expect(response.body).toBe('');
    });

    it('DELETE revokes the token and deletes its session, even with the SDK’s bodiless JSON content type', async () => {
      const deleted: SessionInfo[] = [];
      f.tokens.on('sessionDeleted', (session) => deleted.push(session));
      const response = await f.app.inject({
        method: 'DELETE',
        url: `${AUTH}/token/${token}`,
        headers: { 'content-type': 'application/json', 'content-length': '0' },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ data: { message: 'success' } });
      expect(deleted).toHaveLength(1);
      expect(f.tokens.listSessions(f.alice.uuid)).toEqual([]);
      const after = await f.app.inject({ method: 'GET', url: `${AUTH}/token/${token}` });
      expectLegacyError(after, 404, 'No such token');
    });

    it('DELETE of an unknown token still answers 200 (idempotent)', async () => {
      const response = await f.app.inject({ method: 'DELETE', url: `${AUTH}/token/unknown` });
      expect(response.statusCode).toBe(200);
    });
  });

  describe('POST /token/{token}/scopes/check', () => {
    it('tells which scopes the token grants', async () => {
      const token = (await login(f.app, ALICE))['token'] as string;
      const response = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token/${token}/scopes/check`,
        payload: {
          scopes: [
            'websocketd',
            `confd.users.${f.alice.uuid}.read`,
            'confd.users.other.read',
            '__proto__',
          ],
        },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        scopes: {
          websocketd: true,
          [`confd.users.${f.alice.uuid}.read`]: true,
          'confd.users.other.read': false,
          ['__proto__']: false,
        },
      });
    });

    it('answers an unknown token with the legacy 404 and another tenant with the legacy 403', async () => {
      const unknown = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token/nope/scopes/check`,
        payload: { scopes: ['websocketd'] },
      });
      expectLegacyError(unknown, 404, 'No such token');
      const token = (await login(f.app, ALICE))['token'] as string;
      const tenant = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token/${token}/scopes/check`,
        payload: { scopes: ['websocketd'], tenant_uuid: 'other' },
      });
      expectLegacyError(tenant, 403, 'Unauthorized for tenant other');
    });
  });

  describe('refresh-token management (spec §3.4)', () => {
    let token: string;

    beforeEach(async () => {
      token = (await login(f.app, ALICE, { access_type: 'offline', client_id: 'sdk' }))[
        'token'
      ] as string;
      await login(
        f.app,
        ALICE,
        { access_type: 'offline', client_id: 'web' },
        { 'wazo-session-type': 'mobile' },
      );
    });

    it('lists the user’s refresh tokens for `me` and for their uuid', async () => {
      for (const who of ['me', f.alice.uuid]) {
        const response = await f.app.inject({
          method: 'GET',
          url: `${AUTH}/users/${who}/tokens`,
          headers: { 'x-auth-token': token },
        });
        expect(response.statusCode).toBe(200);
        const body = response.json<{
          total: number;
          filtered: number;
          items: Record<string, unknown>[];
        }>();
        expect(body.total).toBe(2);
        expect(body.filtered).toBe(2);
        expect(body.items[0]).toEqual({
          client_id: 'sdk',
          created_at: '2026-05-05T08:00:00.123000+00:00',
          mobile: false,
          user_uuid: f.alice.uuid,
          tenant_uuid: TENANT_UUID,
          metadata: {},
        });
      }
    });

    it('filters, orders and pages the list', async () => {
      const response = await f.app.inject({
        method: 'GET',
        url: `${AUTH}/users/me/tokens?search=WE&order=client_id&direction=desc&limit=1&offset=0`,
        headers: { 'x-auth-token': token },
      });
      expect(response.json()).toMatchObject({
        total: 2,
        filtered: 1,
        items: [{ client_id: 'web', mobile: true }],
      });
    });

    it('accepts the token as a ?token= query parameter on GET', async () => {
      const response = await f.app.inject({
        method: 'GET',
        url: `${AUTH}/users/me/tokens?token=${token}`,
      });
      expect(response.statusCode).toBe(200);
    });

    it('refuses another user’s refresh tokens with 401 unauthorized', async () => {
      const response = await f.app.inject({
        method: 'GET',
        url: `${AUTH}/users/${f.bob.uuid}/tokens`,
        headers: { 'x-auth-token': token },
      });
      const body = expectApiError(response, 401, 'unauthorized');
      expect(body['details']).toEqual({
        invalid_token: token,
        reason: 'missing_permission_or_invalid_tenant',
        required_access: `auth.users.${f.bob.uuid}.tokens.read`,
        tenant_uuid: null,
      });
    });

    it('deletes a refresh token with 204, then 404s it, and the refresh login fails', async () => {
      const offline = await login(f.app, ALICE, { access_type: 'offline', client_id: 'sdk' });
      const del = await f.app.inject({
        method: 'DELETE',
        url: `${AUTH}/users/me/tokens/sdk`,
        headers: { 'x-auth-token': token, 'content-type': 'application/json' },
      });
      expect(del.statusCode).toBe(204);
      expect(del.body).toBe('');
      const again = await f.app.inject({
        method: 'DELETE',
        url: `${AUTH}/users/me/tokens/sdk`,
        headers: { 'x-auth-token': token },
      });
      const body = expectApiError(again, 404, 'cannot-find-refresh-token-matching-client-id');
      expect(body['details']).toEqual({ client_id: 'sdk' });
      const refresh = await f.app.inject({
        method: 'POST',
        url: `${AUTH}/token`,
        payload: { refresh_token: offline['refresh_token'], client_id: 'sdk' },
      });
      expectLegacyError(refresh, 401, 'Authentication Failed');
      // The access token issued earlier is still valid.
      expect(f.tokens.get(token)).toBeDefined();
    });

    it('does not take the token from the query string on DELETE', async () => {
      const response = await f.app.inject({
        method: 'DELETE',
        url: `${AUTH}/users/me/tokens/sdk?token=${token}`,
      });
      const body = expectApiError(response, 401, 'unauthorized');
      expect(body['details']).toMatchObject({
        invalid_token: null,
        reason: 'not_found_or_expired',
      });
    });
  });

  describe('sessions (spec §3.5)', () => {
    it('lists the user’s sessions and deletes one, which invalidates its token', async () => {
      const first = await login(f.app, ALICE);
      const second = await login(f.app, ALICE, {}, { 'wazo-session-type': 'mobile' });
      const headers = { 'x-auth-token': first['token'] as string };
      const list = await f.app.inject({
        method: 'GET',
        url: `${AUTH}/users/${f.alice.uuid}/sessions`,
        headers,
      });
      expect(list.statusCode).toBe(200);
      expect(list.json()).toEqual({
        total: 2,
        filtered: 2,
        items: [
          {
            uuid: first['session_uuid'],
            user_uuid: f.alice.uuid,
            tenant_uuid: TENANT_UUID,
            mobile: false,
          },
          {
            uuid: second['session_uuid'],
            user_uuid: f.alice.uuid,
            tenant_uuid: TENANT_UUID,
            mobile: true,
          },
        ],
      });
      const del = await f.app.inject({
        method: 'DELETE',
        url: `${AUTH}/users/me/sessions/${second['session_uuid'] as string}`,
        headers,
      });
      expect(del.statusCode).toBe(204);
      expect(f.tokens.get(second['token'] as string)).toBeUndefined();
      const again = await f.app.inject({
        method: 'DELETE',
        url: `${AUTH}/users/me/sessions/${second['session_uuid'] as string}`,
        headers,
      });
      expectApiError(again, 404, 'unknown-session');
    });

    it('refuses another user’s sessions with 401', async () => {
      const token = (await login(f.app, ALICE))['token'] as string;
      const response = await f.app.inject({
        method: 'GET',
        url: `${AUTH}/users/${f.bob.uuid}/sessions`,
        headers: { 'x-auth-token': token },
      });
      expectApiError(response, 401, 'unauthorized');
    });

    it('refuses a Wazo-Tenant the token cannot reach with 401 naming the tenant', async () => {
      const token = (await login(f.app, ALICE))['token'] as string;
      const response = await f.app.inject({
        method: 'GET',
        url: `${AUTH}/users/me/sessions`,
        headers: { 'x-auth-token': token, 'wazo-tenant': 'other-tenant' },
      });
      const body = expectApiError(response, 401, 'unauthorized');
      expect(body['details']).toMatchObject({ tenant_uuid: 'other-tenant' });
    });
  });

  describe('status and unknown routes', () => {
    it('answers HEAD /status with 204 and the allowed CORS request headers', async () => {
      const response = await f.app.inject({
        method: 'HEAD',
        url: `${AUTH}/status`,
        headers: { 'x-user-uuid': f.alice.uuid, origin: 'https://app.example' },
      });
      expect(response.statusCode).toBe(204);
      const allowed = response.headers['access-control-allow-headers'];
      expect(allowed).toEqual(containing('X-Auth-Token'));
      expect(allowed).toEqual(containing('Wazo-Session-Type'));
      expect(response.headers['access-control-allow-origin']).toBe('https://app.example');
    });

    it('answers the CORS preflight of /status', async () => {
      const response = await f.app.inject({
        method: 'OPTIONS',
        url: `${AUTH}/status`,
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'HEAD',
          'access-control-request-headers': 'x-user-uuid',
        },
      });
      expect(response.statusCode).toBe(204);
      expect(response.headers['access-control-allow-methods']).toEqual(containing('HEAD'));
      expect(response.headers['access-control-allow-headers']).toEqual(anyString);
    });

    it('answers an unknown auth URL with the APIException 404', async () => {
      const response = await f.app.inject({ method: 'GET', url: `${AUTH}/no/such/route` });
      expectApiError(response, 404, 'not-found');
    });
  });
});
