import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fastify from 'fastify';
import type { LightMyRequestResponse } from 'fastify';
import { silentLogger } from '@confab/core';
import { registerPlatformApi } from '../src/api/index.js';
import { WAZO_VERSION, uuidV5 } from '../src/api/confd-views.js';
import { openStore } from '../src/store/index.js';
import { ALICE, BOB, createFixture, login } from './api.fixtures.js';
import type { Fixture } from './api.fixtures.js';

// Asymmetric matchers are typed `any`; give them `unknown` once for the lint rules.
const anyNumber: unknown = expect.any(Number);
const matching = (pattern: RegExp): unknown => expect.stringMatching(pattern);
const objectContaining = (shape: Record<string, unknown>): unknown =>
  expect.objectContaining(shape);

const CONFD = '/api/confd/1.1';

type Json = Record<string, unknown>;

/**
 * What the SDK derives from confd answers (Profile.parse, Line.parse, SipLine.parse and
 * SipLine.isWebRtc of wazo-js-sdk, spec §2.3): a stand-in written from the spec, so that a field
 * the SDK dereferences cannot go missing unnoticed.
 */
function sdkProfile(user: Json): Json {
  const forwards = user['forwards'] as Record<string, { destination: unknown; enabled: boolean }>;
  const services = user['services'] as { dnd: { enabled: boolean } };
  const lines = user['lines'] as Json[];
  return {
    id: user['uuid'],
    firstName: user['firstName'] ?? user['firstname'] ?? '',
    lastName: user['lastName'] ?? user['lastname'] ?? '',
    email: user['email'],
    username: user['username'],
    mobileNumber: user['mobile_phone_number'] ?? '',
    forwards: ['unconditional', 'noanswer', 'busy'].map((key) => ({
      key,
      enabled: forwards[key]!.enabled,
    })),
    doNotDisturb: services.dnd.enabled,
    subscriptionType: user['subscription_type'],
    lines: lines.map((line) => ({
      id: line['id'],
      extensions: line['extensions'],
      endpointSip: line['endpoint_sip'] ?? null,
      endpointSccp: line['endpoint_sccp'] ?? null,
    })),
  };
}

function sdkSipLine(endpoint: Json): {
  username: string;
  secret: string;
  webRtc: boolean;
  host: string;
} {
  const auth = endpoint['auth_section_options'] as [string, string][];
  const options = endpoint['endpoint_section_options'] as [string, string][];
  const find = (list: [string, string][], name: string) =>
    list.find((option) => option[0] === name);
  return {
    username: find(auth, 'username')?.[1] ?? '',
    secret: find(auth, 'password')?.[1] ?? '',
    host: find(options, 'media_address')?.[1] ?? '',
    webRtc: options.some((option) => option[0] === 'webrtc' && option[1] === 'yes'),
  };
}

function expectUnauthorized(
  response: LightMyRequestResponse,
  reason: string,
  requiredAccess: string | null,
): void {
  expect(response.statusCode).toBe(401);
  const body = response.json<Json>();
  expect(body).toMatchObject({
    error_id: 'unauthorized',
    message: 'Unauthorized',
    timestamp: anyNumber,
  });
  expect(body['details']).toMatchObject({ reason, required_access: requiredAccess });
}

describe('wazo-confd read subset', () => {
  let f: Fixture;
  let token: string;
  let headers: Record<string, string>;

  beforeEach(async () => {
    f = await createFixture();
    token = (await login(f.app, ALICE))['token'] as string;
    headers = { 'x-auth-token': token };
  });

  afterEach(async () => {
    await f.close();
  });

  describe('GET /infos', () => {
    it('returns the stack uuid and a wazo_version the SDK treats as ≥ 20.12', async () => {
      const response = await f.app.inject({ method: 'GET', url: `${CONFD}/infos`, headers });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ uuid: f.tokens.stackUuid, wazo_version: WAZO_VERSION });
      const [major, minor] = WAZO_VERSION.split('.').map(Number);
      expect(major! > 20 || (major === 20 && minor! >= 13)).toBe(true);
    });

    it('refuses a request without a token with 401 not_found_or_expired', async () => {
      const response = await f.app.inject({ method: 'GET', url: `${CONFD}/infos` });
      expectUnauthorized(response, 'not_found_or_expired', 'confd.infos.read');
      expect(response.json<Json>()['details']).toMatchObject({ invalid_token: null });
    });

    it('refuses an expired token with 401', async () => {
      f.clock.advance(7200 * 1000);
      const response = await f.app.inject({ method: 'GET', url: `${CONFD}/infos`, headers });
      expectUnauthorized(response, 'not_found_or_expired', 'confd.infos.read');
    });
  });

  describe('GET /users/{uuid}', () => {
    it('returns the user in the shape Profile.parse reads, for the uuid and for `me`', async () => {
      for (const who of [f.alice.uuid, 'me']) {
        const response = await f.app.inject({
          method: 'GET',
          url: `${CONFD}/users/${who}`,
          headers,
        });
        expect(response.statusCode).toBe(200);
        const user = response.json<Json>();
        expect(user).toMatchObject({
          uuid: f.alice.uuid,
          tenant_uuid: f.alice.tenantUuid,
          firstname: 'Alice',
          lastname: 'Liddell',
          email: 'alice@example.com',
          username: 'alice',
          mobile_phone_number: null,
          subscription_type: 0,
          incalls: [],
          switchboards: [],
        });
        const profile = sdkProfile(user);
        expect(profile).toMatchObject({
          id: f.alice.uuid,
          firstName: 'Alice',
          lastName: 'Liddell',
          doNotDisturb: false,
          forwards: [
            { key: 'unconditional', enabled: false },
            { key: 'noanswer', enabled: false },
            { key: 'busy', enabled: false },
          ],
        });
        const [webrtcLine, deskLine] = f.aliceLines;
        expect(profile['lines']).toEqual([
          {
            id: webrtcLine!.id,
            extensions: [{ id: webrtcLine!.id, exten: '1001', context: 'default', links: [] }],
            endpointSip: objectContaining({
              id: webrtcLine!.id,
              uuid: matching(
                /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
              ),
              name: webrtcLine!.sipUsername,
            }),
            endpointSccp: null,
          },
          objectContaining({ id: deskLine!.id }),
        ]);
      }
    });

    it('never exposes the SIP secret in the user view', async () => {
      const response = await f.app.inject({ method: 'GET', url: `${CONFD}/users/me`, headers });
      expect(response.body).not.toContain(f.aliceLines[0]!.sipSecret);
    });

    it('refuses another user with 401 missing_permission_or_invalid_tenant', async () => {
      const response = await f.app.inject({
        method: 'GET',
        url: `${CONFD}/users/${f.bob.uuid}`,
        headers,
      });
      expectUnauthorized(
        response,
        'missing_permission_or_invalid_tenant',
        `confd.users.${f.bob.uuid}.read`,
      );
    });

    it('answers 404 not-found for an unknown user when the ACL grants it', async () => {
      await f.close();
      f = await createFixture({ userAcl: ['confd.#'] });
      token = (await login(f.app, ALICE))['token'] as string;
      const response = await f.app.inject({
        method: 'GET',
        url: `${CONFD}/users/00000000-0000-4000-8000-000000000000`,
        headers: { 'x-auth-token': token },
      });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({
        error_id: 'not-found',
        resource: 'users',
        details: { uuid: '00000000-0000-4000-8000-000000000000' },
      });
    });
  });

  describe('GET /users/{uuid}/lines/{line_id}/associated/endpoints/sip', () => {
    const endpointUrl = (who: string, lineId: number | string) =>
      `${CONFD}/users/${who}/lines/${lineId}/associated/endpoints/sip?view=merged`;

    it('gives SipLine.parse the credentials and the webrtc flag of a WebRTC line', async () => {
      const line = f.aliceLines[0]!;
      const response = await f.app.inject({
        method: 'GET',
        url: endpointUrl(f.alice.uuid, line.id),
        headers,
      });
      expect(response.statusCode).toBe(200);
      const endpoint = response.json<Json>();
      expect(sdkSipLine(endpoint)).toEqual({
        username: line.sipUsername,
        secret: line.sipSecret,
        host: '',
        webRtc: true,
      });
      expect(endpoint['auth_section_options']).toEqual([
        ['username', line.sipUsername],
        ['password', line.sipSecret],
      ]);
      expect(endpoint['endpoint_section_options']).toEqual(
        expect.arrayContaining([
          ['webrtc', 'yes'],
          ['context', 'default'],
          ['from_domain', 'confab.test'],
        ]),
      );
      const user = (
        await f.app.inject({ method: 'GET', url: `${CONFD}/users/me`, headers })
      ).json<Json>();
      const embedded = (user['lines'] as Json[])[0]!['endpoint_sip'] as Json;
      expect(endpoint['uuid']).toBe(embedded['uuid']);
      expect(endpoint['uuid']).toBe(uuidV5(f.tokens.stackUuid, `confab:endpoint_sip:${line.id}`));
    });

    it('does not mark a desk-phone line as WebRTC', async () => {
      const line = f.aliceLines[1]!;
      const response = await f.app.inject({
        method: 'GET',
        url: endpointUrl('me', line.id),
        headers,
      });
      expect(response.statusCode).toBe(200);
      expect(sdkSipLine(response.json<Json>()).webRtc).toBe(false);
    });

    it('answers 404 for a line of another user reached through one’s own uuid', async () => {
      const response = await f.app.inject({
        method: 'GET',
        url: endpointUrl('me', f.bobLine.id),
        headers,
      });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error_id: 'not-found', resource: 'lines' });
      expect(response.body).not.toContain(f.bobLine.sipSecret);
    });

    it('refuses another user’s endpoint with 401', async () => {
      const response = await f.app.inject({
        method: 'GET',
        url: endpointUrl(f.bob.uuid, f.bobLine.id),
        headers,
      });
      expectUnauthorized(
        response,
        'missing_permission_or_invalid_tenant',
        `confd.users.${f.bob.uuid}.lines.${f.bobLine.id}.associated.endpoints.sip.read`,
      );
      expect(response.body).not.toContain(f.bobLine.sipSecret);
    });

    it('lets Bob read his own endpoint with his token', async () => {
      const bobToken = (await login(f.app, BOB))['token'] as string;
      const response = await f.app.inject({
        method: 'GET',
        url: endpointUrl('me', f.bobLine.id),
        headers: { 'x-auth-token': bobToken },
      });
      expect(sdkSipLine(response.json<Json>()).secret).toBe(f.bobLine.sipSecret);
    });
  });
});

describe('platform API on the SQLite store', () => {
  it('logs in a stored user and serves their confd profile and SIP endpoint', async () => {
    const store = await openStore({ url: 'sqlite::memory:' });
    const app = fastify({ logger: false });
    try {
      const user = await store.users.create({
        username: 'carol',
        password: 'carol-pass',
        firstname: 'Carol',
      });
      const line = await store.lines.create({
        userUuid: user.uuid,
        extension: '1003',
        webrtc: true,
      });
      await registerPlatformApi(app, {
        store,
        config: { sipDomain: 'confab.test', advertisedAddress: '127.0.0.1', httpsPort: 8443 },
        logger: silentLogger,
      });
      const data = await login(app, { login: 'carol', password: 'carol-pass' });
      const headers = { 'x-auth-token': data['token'] as string };
      expect(data['xivo_uuid']).toBe(await store.settings.get('stack_uuid'));
      const profile = await app.inject({
        method: 'GET',
        url: `${CONFD}/users/${user.uuid}`,
        headers,
      });
      expect(profile.json()).toMatchObject({ uuid: user.uuid, lines: [{ id: line.id }] });
      const endpoint = await app.inject({
        method: 'GET',
        url: `${CONFD}/users/${user.uuid}/lines/${line.id}/associated/endpoints/sip?view=merged`,
        headers,
      });
      expect(sdkSipLine(endpoint.json<Json>())).toMatchObject({
        username: line.sipUsername,
        webRtc: true,
      });
    } finally {
      await app.close();
      await store.close();
    }
  });
});
