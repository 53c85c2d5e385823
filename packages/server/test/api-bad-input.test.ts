import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import { ALICE, createFixture, login } from './api.fixtures.js';
import type { Fixture } from './api.fixtures.js';

// Asymmetric matchers are typed `any`; give them `unknown` once for the lint rules.
const anyString: unknown = expect.any(String);
const anyNumber: unknown = expect.any(Number);
const anyObject: unknown = expect.any(Object);

type Shape = 'legacy' | 'api';

interface Case {
  readonly name: string;
  readonly method: NonNullable<InjectOptions['method']>;
  /** `TOKEN`, `ME` and `LINE` are replaced by a live token, Alice's uuid and her line id. */
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly payload?: string;
  /** Send `X-Auth-Token` with the live token. */
  readonly auth?: boolean;
  readonly status: number;
  readonly shape: Shape;
  /** Expected `error_id` (APIException shape) or `reason[0]` fragment (legacy). */
  readonly error?: string;
}

const AUTH = '/api/auth/0.1';
const CONFD = '/api/confd/1.1';
const JSON_TYPE = { 'content-type': 'application/json' };
const b64 = (text: string) => Buffer.from(text).toString('base64');

const cases: Case[] = [
  // POST /token
  {
    name: 'malformed JSON',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"expiration":',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'a JSON array body',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '[]',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'a JSON null body',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: 'null',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'a JSON string body',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '"x"',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'a non-numeric expiration',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"expiration":"soon"}',
    status: 400,
    shape: 'legacy',
    error: 'expiration',
  },
  {
    name: 'a fractional expiration',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"expiration":1.5}',
    status: 400,
    shape: 'legacy',
    error: 'expiration',
  },
  {
    name: 'a negative expiration',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"expiration":-1}',
    status: 400,
    shape: 'legacy',
    error: 'expiration',
  },
  {
    name: 'an object expiration',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"expiration":{}}',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'an unknown access_type',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"access_type":"forever"}',
    status: 400,
    shape: 'legacy',
    error: 'access_type',
  },
  {
    name: 'an empty client_id',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"client_id":""}',
    status: 400,
    shape: 'legacy',
    error: 'client_id',
  },
  {
    name: 'an oversized client_id',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: JSON.stringify({ client_id: 'x'.repeat(1025) }),
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'a refresh token without client_id',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"refresh_token":"r"}',
    status: 400,
    shape: 'legacy',
    error: 'client_id',
  },
  {
    name: 'tenant_id with domain_name',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: { ...JSON_TYPE, authorization: `Basic ${b64('alice:alice-pass')}` },
    payload: '{"tenant_id":"t","domain_name":"d"}',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'a __proto__ key',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"__proto__":{"admin":true}}',
    status: 401,
    shape: 'legacy',
    error: 'Authentication Failed',
  },
  {
    name: 'no Basic credentials',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{}',
    status: 401,
    shape: 'legacy',
    error: 'Authentication Failed',
  },
  {
    name: 'garbage base64 credentials',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: { ...JSON_TYPE, authorization: 'Basic %%%###' },
    payload: '{}',
    status: 401,
    shape: 'legacy',
    error: 'Authentication Failed',
  },
  {
    name: 'credentials without a colon',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: { ...JSON_TYPE, authorization: `Basic ${b64('alice')}` },
    payload: '{}',
    status: 401,
    shape: 'legacy',
    error: 'Authentication Failed',
  },
  {
    name: 'a Bearer header',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: { ...JSON_TYPE, authorization: 'Bearer abc' },
    payload: '{}',
    status: 401,
    shape: 'legacy',
    error: 'Authentication Failed',
  },
  {
    name: 'an LDAP backend',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: { ...JSON_TYPE, authorization: `Basic ${b64('alice:alice-pass')}` },
    payload: '{"backend":"ldap_user"}',
    status: 401,
    shape: 'legacy',
  },
  {
    name: 'an unknown refresh token',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: '{"refresh_token":"r","client_id":"c"}',
    status: 401,
    shape: 'legacy',
  },
  {
    name: 'a body over the size limit',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: JSON_TYPE,
    payload: JSON.stringify({ pad: 'x'.repeat(70_000) }),
    status: 413,
    shape: 'legacy',
  },
  {
    name: 'an invalid content type',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: { 'content-type': '/' },
    payload: '{}',
    status: 415,
    shape: 'legacy',
  },
  {
    name: 'XML',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: { 'content-type': 'application/xml' },
    payload: '<token/>',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'a body shorter than its Content-Length',
    method: 'POST',
    url: `${AUTH}/token`,
    headers: { ...JSON_TYPE, 'content-length': '10' },
    payload: '{}',
    status: 400,
    shape: 'legacy',
  },
  // GET/HEAD/DELETE /token/{token}
  {
    name: 'a token that is not valid percent-encoded UTF-8',
    method: 'GET',
    url: `${AUTH}/token/%FF`,
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'a truncated percent escape',
    method: 'DELETE',
    url: `${AUTH}/token/abc%`,
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'a token over the router parameter limit',
    method: 'DELETE',
    url: `${AUTH}/token/${'t'.repeat(101)}`,
    status: 414,
    shape: 'legacy',
  },
  {
    name: 'a repeated scope',
    method: 'GET',
    url: `${AUTH}/token/TOKEN?scope=a&scope=b`,
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'an oversized scope',
    method: 'GET',
    url: `${AUTH}/token/TOKEN?scope=${'a'.repeat(5000)}`,
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'an unknown token',
    method: 'GET',
    url: `${AUTH}/token/${'z'.repeat(90)}`,
    status: 404,
    shape: 'legacy',
    error: 'No such token',
  },
  {
    name: 'a malformed JSON body on DELETE',
    method: 'DELETE',
    url: `${AUTH}/token/TOKEN`,
    headers: JSON_TYPE,
    payload: '{',
    status: 400,
    shape: 'legacy',
  },
  // POST /token/{token}/scopes/check
  {
    name: 'scopes check with malformed JSON',
    method: 'POST',
    url: `${AUTH}/token/TOKEN/scopes/check`,
    headers: JSON_TYPE,
    payload: '{"scopes":[',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'scopes check without scopes',
    method: 'POST',
    url: `${AUTH}/token/TOKEN/scopes/check`,
    headers: JSON_TYPE,
    payload: '{}',
    status: 400,
    shape: 'legacy',
    error: 'scopes',
  },
  {
    name: 'scopes check with an object',
    method: 'POST',
    url: `${AUTH}/token/TOKEN/scopes/check`,
    headers: JSON_TYPE,
    payload: '{"scopes":{"a":1}}',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'scopes check with object items',
    method: 'POST',
    url: `${AUTH}/token/TOKEN/scopes/check`,
    headers: JSON_TYPE,
    payload: '{"scopes":[{"a":1}]}',
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'scopes check with too many scopes',
    method: 'POST',
    url: `${AUTH}/token/TOKEN/scopes/check`,
    headers: JSON_TYPE,
    payload: JSON.stringify({ scopes: Array.from({ length: 1001 }, (_, i) => `s${i}`) }),
    status: 400,
    shape: 'legacy',
  },
  {
    name: 'scopes check with a numeric tenant',
    method: 'POST',
    url: `${AUTH}/token/TOKEN/scopes/check`,
    headers: JSON_TYPE,
    payload: '{"scopes":[],"tenant_uuid":{}}',
    status: 400,
    shape: 'legacy',
  },
  // /users/{uuid}/tokens and /sessions
  {
    name: 'a list without a token',
    method: 'GET',
    url: `${AUTH}/users/me/tokens`,
    status: 401,
    shape: 'api',
    error: 'unauthorized',
  },
  {
    name: 'a list with a garbage token',
    method: 'GET',
    url: `${AUTH}/users/me/tokens`,
    headers: { 'x-auth-token': '../../etc/passwd' },
    status: 401,
    shape: 'api',
    error: 'unauthorized',
  },
  {
    name: 'a non-numeric limit',
    method: 'GET',
    url: `${AUTH}/users/me/tokens?limit=ten`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'invalid-data',
  },
  {
    name: 'a negative offset',
    method: 'GET',
    url: `${AUTH}/users/me/tokens?offset=-1`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'invalid-data',
  },
  {
    name: 'an unknown order column',
    method: 'GET',
    url: `${AUTH}/users/me/tokens?order=token`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'invalid-data',
  },
  {
    name: 'an unknown direction',
    method: 'GET',
    url: `${AUTH}/users/me/sessions?direction=up`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'invalid-data',
  },
  {
    name: 'a refresh-token delete with malformed JSON',
    method: 'DELETE',
    url: `${AUTH}/users/me/tokens/sdk`,
    auth: true,
    headers: JSON_TYPE,
    payload: '{',
    status: 400,
    shape: 'api',
    error: 'invalid-data',
  },
  {
    name: 'a dotted client_id that is not there',
    method: 'DELETE',
    url: `${AUTH}/users/me/tokens/a.b.c`,
    auth: true,
    status: 404,
    shape: 'api',
    error: 'cannot-find-refresh-token-matching-client-id',
  },
  {
    name: 'an unknown user (own ACL refuses it)',
    method: 'GET',
    url: `${AUTH}/users/not-a-uuid/sessions`,
    auth: true,
    status: 401,
    shape: 'api',
    error: 'unauthorized',
  },
  {
    name: 'a user uuid that is not valid percent-encoded UTF-8',
    method: 'GET',
    url: `${AUTH}/users/%C3%28/sessions`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'bad-request',
  },
  {
    name: 'a session uuid over the router parameter limit',
    method: 'DELETE',
    url: `${AUTH}/users/me/sessions/${'s'.repeat(101)}`,
    auth: true,
    status: 414,
    shape: 'api',
    error: 'uri-too-long',
  },
  {
    name: 'an unsupported content type on an APIException route',
    method: 'DELETE',
    url: `${AUTH}/users/me/tokens/sdk`,
    auth: true,
    headers: { 'content-type': 'text/' },
    payload: '{}',
    status: 415,
    shape: 'api',
    error: 'unsupported-media-type',
  },
  {
    name: 'a body over the size limit on an APIException route',
    method: 'DELETE',
    url: `${AUTH}/users/me/tokens/sdk`,
    auth: true,
    headers: JSON_TYPE,
    payload: JSON.stringify({ pad: 'x'.repeat(70_000) }),
    status: 413,
    shape: 'api',
    error: 'payload-too-large',
  },
  {
    name: 'an unknown session',
    method: 'DELETE',
    url: `${AUTH}/users/me/sessions/nope`,
    auth: true,
    status: 404,
    shape: 'api',
    error: 'unknown-session',
  },
  // confd
  {
    name: 'confd without a token',
    method: 'GET',
    url: `${CONFD}/users/me`,
    status: 401,
    shape: 'api',
    error: 'unauthorized',
  },
  {
    name: 'a non-numeric line id',
    method: 'GET',
    url: `${CONFD}/users/me/lines/abc/associated/endpoints/sip`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'invalid-data',
  },
  {
    name: 'a negative line id',
    method: 'GET',
    url: `${CONFD}/users/me/lines/-1/associated/endpoints/sip`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'invalid-data',
  },
  {
    name: 'a huge line id',
    method: 'GET',
    url: `${CONFD}/users/me/lines/99999999999999999999/associated/endpoints/sip`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'invalid-data',
  },
  {
    name: 'a line id with a bad percent escape',
    method: 'GET',
    url: `${CONFD}/users/me/lines/%ZZ/associated/endpoints/sip`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'bad-request',
  },
  {
    name: 'a user uuid over the router parameter limit',
    method: 'GET',
    url: `${CONFD}/users/${'u'.repeat(101)}`,
    auth: true,
    status: 414,
    shape: 'api',
    error: 'uri-too-long',
  },
  {
    name: 'an unknown confd path that is not valid UTF-8',
    method: 'GET',
    url: `${CONFD}/%FF`,
    auth: true,
    status: 400,
    shape: 'api',
    error: 'bad-request',
  },
  {
    name: 'an unknown line id',
    method: 'GET',
    url: `${CONFD}/users/me/lines/424242/associated/endpoints/sip`,
    auth: true,
    status: 404,
    shape: 'api',
    error: 'not-found',
  },
  {
    name: 'an unknown confd route',
    method: 'GET',
    url: `${CONFD}/lines`,
    auth: true,
    status: 404,
    shape: 'api',
    error: 'not-found',
  },
  {
    name: 'a write method on a read-only confd resource',
    method: 'PUT',
    url: `${CONFD}/users/me`,
    auth: true,
    headers: JSON_TYPE,
    payload: '{"firstname":"x"}',
    status: 404,
    shape: 'api',
    error: 'not-found',
  },
];

describe('bad input never yields a 500 (table over every endpoint)', () => {
  let f: Fixture;
  let token: string;

  beforeAll(async () => {
    f = await createFixture();
    token = (await login(f.app, ALICE))['token'] as string;
  });

  afterAll(async () => {
    await f.close();
  });

  it.each(cases)('$method $url with $name → $status', async (c) => {
    const url = c.url
      .replace('TOKEN', token)
      .replace('ME', f.alice.uuid)
      .replace('LINE', String(f.aliceLines[0]!.id));
    const headers = { ...(c.auth === true ? { 'x-auth-token': token } : {}), ...c.headers };
    const response = await f.app.inject({
      method: c.method,
      url,
      headers,
      ...(c.payload === undefined ? {} : { payload: c.payload }),
    });
    expect(response.statusCode).toBe(c.status);
    const body = response.json<Record<string, unknown>>();
    if (c.shape === 'legacy') {
      expect(Object.keys(body).sort()).toEqual(['reason', 'status_code', 'timestamp']);
      expect(body['status_code']).toBe(c.status);
      const reason = body['reason'] as string[];
      expect(reason).toEqual([anyString]);
      if (c.error !== undefined) {
        expect(reason[0]).toContain(c.error);
      }
    } else {
      expect(body).toMatchObject({
        message: anyString,
        error_id: anyString,
        details: anyObject,
        timestamp: anyNumber,
      });
      if (c.error !== undefined) {
        expect(body['error_id']).toBe(c.error);
      }
    }
  });

  it('reports schema violations per field in details', async () => {
    const response = await f.app.inject({
      method: 'GET',
      url: `${CONFD}/users/me/lines/abc/associated/endpoints/sip`,
      headers: { 'x-auth-token': token },
    });
    expect(response.json()).toMatchObject({
      error_id: 'invalid-data',
      message: 'Sent data is invalid',
      details: { line_id: { constraint_id: 'type', message: anyString } },
    });
  });

  it('keeps the token valid after the whole table (no side effect of refused requests)', () => {
    expect(f.tokens.verify(token, 'websocketd').ok).toBe(true);
  });
});
