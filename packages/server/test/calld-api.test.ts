/**
 * The calld routes over `inject()` with real tokens and real channels (SIP side inert): ACLs,
 * ownership, success paths and a bad-input table over every endpoint. The same routes against
 * a real server and real phones: tests/integration/calld-calls.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { silentLogger } from '@confab/core';
import { CALLD_PREFIX, calldRoutes } from '../src/api/calld.js';
import { TokenService } from '../src/auth/tokens.js';
import type { CallControl } from '../src/telephony/call-control.js';
import type { AdhocConferences } from '../src/telephony/conference.js';
import { ChannelState } from '../src/telephony/channel.js';
import { MemoryStore } from './api.fixtures.js';
import { TestCallControl, TestChannel, aliceCallsBob } from './calls.fixtures.js';

interface World {
  app: FastifyInstance;
  control: TestCallControl;
  alice: TestChannel;
  bob: TestChannel;
  aliceUuid: string;
  bobUuid: string;
  aliceToken: string;
  bobToken: string;
  aliceLines: readonly [number, number];
  /** A token of a user without any line. */
  loneToken: string;
  /**
   * A token of Alice's whose ACL is `acl` only, and an app with the same routes whose guard
   * knows that token (a token service issues one ACL to every user).
   */
  restricted: (acl: readonly string[]) => Promise<{ token: string; app: FastifyInstance }>;
  close(): Promise<void>;
}

async function world(options: { telephony?: boolean } = {}): Promise<World> {
  const store = new MemoryStore();
  const aliceUser = store.addUser({ username: 'alice', password: 'pw-a' });
  const bobUser = store.addUser({ username: 'bob', password: 'pw-b' });
  const aliceLine = store.addLine({ userUuid: aliceUser.uuid, extension: '1001', webrtc: true });
  const aliceDesk = store.addLine({ userUuid: aliceUser.uuid, extension: '1011' });
  store.addLine({ userUuid: bobUser.uuid, extension: '1002', webrtc: true });
  const tokens = await TokenService.open({ store });
  const control = new TestCallControl();
  const { alice, bob } = aliceCallsBob(control, { alice: aliceUser.uuid, bob: bobUser.uuid });
  const restricted: TokenService[] = [];
  const apps: FastifyInstance[] = [];
  const build = async (service: TokenService): Promise<FastifyInstance> => {
    const app = fastify({ logger: false });
    await app.register(calldRoutes, {
      prefix: CALLD_PREFIX,
      tokens: service,
      store,
      telephony:
        options.telephony === false
          ? undefined
          : {
              callControl: control as unknown as CallControl,
              // The call routes under test never reach the conference registry.
              conferences: {} as AdhocConferences,
            },
      logger: silentLogger,
    });
    await app.ready();
    apps.push(app);
    return app;
  };
  const app = await build(tokens);
  const tokenOf = async (service: TokenService, login: string, password: string) =>
    (await service.createToken({ credentials: { login, password } })).token.token;
  return {
    app,
    control,
    alice,
    bob,
    aliceUuid: aliceUser.uuid,
    bobUuid: bobUser.uuid,
    aliceToken: await tokenOf(tokens, 'alice', 'pw-a'),
    aliceLines: [aliceLine.id, aliceDesk.id],
    loneToken: await tokenOf(
      tokens,
      store.addUser({ username: 'lone', password: 'pw-l' }).username,
      'pw-l',
    ),
    bobToken: await tokenOf(tokens, 'bob', 'pw-b'),
    restricted: async (acl) => {
      const service = await TokenService.open({ store, userAcl: acl });
      restricted.push(service);
      return { token: await tokenOf(service, 'alice', 'pw-a'), app: await build(service) };
    },
    close: async () => {
      for (const each of apps) {
        await each.close();
      }
      for (const service of [tokens, ...restricted]) {
        await service.close();
      }
    },
  };
}

const CALLS = `${CALLD_PREFIX}/users/me/calls`;

/** Every per-call route: method, path suffix, required ACL suffix. */
const CALL_ROUTES = [
  { method: 'DELETE', suffix: '', acl: 'delete' },
  { method: 'PUT', suffix: '/mute/start', acl: 'mute.start.update' },
  { method: 'PUT', suffix: '/mute/stop', acl: 'mute.stop.update' },
  { method: 'PUT', suffix: '/hold/start', acl: 'hold.start.update' },
  { method: 'PUT', suffix: '/hold/stop', acl: 'hold.stop.update' },
  { method: 'PUT', suffix: '/answer', acl: 'answer.update' },
  { method: 'PUT', suffix: '/dtmf?digits=1', acl: 'dtmf.update' },
] as const;

function callUrl(callId: string, suffix: string): string {
  const [path = '', query] = suffix.split('?');
  return `${CALLS}/${encodeURIComponent(callId)}${path}${query === undefined ? '' : `?${query}`}`;
}

interface ErrorBody {
  error_id: string;
  message: string;
  details: Record<string, unknown>;
  timestamp: number;
}

describe('calld 1.0 /users/me/calls', () => {
  let w: World;

  beforeEach(async () => {
    w = await world();
  });

  afterEach(async () => {
    await w.close();
  });

  function inject(options: InjectOptions, token?: string, app: FastifyInstance = w.app) {
    return app.inject({
      ...options,
      headers: { ...(token === undefined ? {} : { 'x-auth-token': token }), ...options.headers },
    });
  }

  it('lists only my calls, each as a full Call object with the peer in talking_to', async () => {
    const response = await inject({ method: 'GET', url: CALLS }, w.aliceToken);
    expect(response.statusCode).toBe(200);
    const { items } = response.json<{ items: Record<string, unknown>[] }>();
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      call_id: w.alice.id,
      conversation_id: w.alice.id,
      user_uuid: w.aliceUuid,
      status: 'Up',
      talking_to: { [w.bob.id]: w.bobUuid },
      bridges: ['bridge-1'],
      caller_id_number: '1001',
      peer_caller_id_number: '1002',
      is_caller: true,
      muted: false,
      on_hold: false,
      record_state: 'inactive',
      line_id: 1,
      direction: 'internal',
    });
    expect(Object.keys(items[0]!)).toHaveLength(23);

    const bobs = await inject({ method: 'GET', url: CALLS }, w.bobToken);
    expect(bobs.json<{ items: { call_id: string }[] }>().items.map((c) => c.call_id)).toEqual([
      w.bob.id,
    ]);
  });

  it('lists no call for a Stasis application filter (no Confab call runs in one) and none once hung up', async () => {
    const filtered = await inject({ method: 'GET', url: `${CALLS}?application=foo` }, w.aliceToken);
    expect(filtered.json()).toEqual({ items: [] });
    w.alice.hangup();
    const after = await inject({ method: 'GET', url: CALLS }, w.aliceToken);
    expect(after.json()).toEqual({ items: [] });
  });

  describe('POST /users/me/calls (originate)', () => {
    function create(body: unknown, token = w.aliceToken) {
      return inject(
        {
          method: 'POST',
          url: CALLS,
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify(body),
        },
        token,
      );
    }

    it("answers 201 with the user's leg, on the main line, with the stripped extension dialed", async () => {
      w.control.registeredLines.add(w.aliceLines[0]);
      const response = await create({ extension: ' 1002 ', variables: { X_FOO: 'bar' } });
      expect(response.statusCode).toBe(201);
      expect(response.json()).toMatchObject({
        user_uuid: w.aliceUuid,
        status: 'Down',
        is_caller: true,
        dialed_extension: '1002',
        line_id: w.aliceLines[0],
        talking_to: {},
      });
      expect(w.control.calls).toEqual([`originate ${w.aliceLines[0]} 1002`]);
    });

    it('uses the requested line_id when it is one of mine', async () => {
      w.control.registeredLines.add(w.aliceLines[1]);
      const response = await create({ extension: '1002', line_id: w.aliceLines[1] });
      expect(response.statusCode).toBe(201);
      expect(response.json()).toMatchObject({ line_id: w.aliceLines[1] });
    });

    it.each([
      ['an unknown extension', { extension: '999' }, 'invalid-extension', 'exten'],
      [
        'a line without a registered device',
        { extension: '1002' },
        'call-origin-unavailable',
        'line_id',
      ],
      ["someone else's line", { extension: '1002', line_id: 3 }, 'invalid-user-line', 'line_id'],
      [
        'a line id nobody has',
        { extension: '1002', line_id: 4242 },
        'invalid-user-line',
        'line_id',
      ],
    ])('answers 400 for %s', async (_name, body, error, field) => {
      const response = await create(body);
      expect(response.statusCode).toBe(400);
      const json = response.json<ErrorBody>();
      expect(json.error_id).toBe(error);
      expect(Object.keys(json.details)).toContain(field);
    });

    it('answers 400 user-missing-main-line for a user without lines', async () => {
      const response = await create({ extension: '1002' }, w.loneToken);
      expect(response.statusCode).toBe(400);
      expect(response.json<ErrorBody>().error_id).toBe('user-missing-main-line');
    });

    it.each([
      ['no body', undefined, 'body'],
      ['a JSON null', null, 'body'],
      ['a JSON array', [], 'body'],
      ['a JSON string', 'x', 'body'],
      ['no extension', { line_id: 1 }, 'extension'],
      ['a null extension', { extension: null }, 'extension'],
      ['an integer extension', { extension: 1002 }, 'extension'],
      ['a boolean extension', { extension: true }, 'extension'],
      ['an empty extension', { extension: '' }, 'extension'],
      ['a blank extension', { extension: '  \t' }, 'extension'],
      ['a huge extension', { extension: '1'.repeat(257) }, 'extension'],
      ['a string line_id', { extension: '1002', line_id: '1' }, 'line_id'],
      ['a negative line_id', { extension: '1002', line_id: -1 }, 'line_id'],
      ['a fractional line_id', { extension: '1002', line_id: 1.5 }, 'line_id'],
      ['a string from_mobile', { extension: '1002', from_mobile: 'yes' }, 'from_mobile'],
      ['a numeric all_lines', { extension: '1002', all_lines: 1 }, 'all_lines'],
      [
        'null auto_answer_caller',
        { extension: '1002', auto_answer_caller: null },
        'auto_answer_caller',
      ],
      ['variables as a list', { extension: '1002', variables: ['a'] }, 'variables'],
      ['a variable with an empty value', { extension: '1002', variables: { A: '' } }, 'variables'],
      ['a variable with a number value', { extension: '1002', variables: { A: 1 } }, 'variables'],
      ['a variable with an empty name', { extension: '1002', variables: { '': 'x' } }, 'variables'],
      [
        'too many variables',
        {
          extension: '1002',
          variables: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${i}`, 'x'])),
        },
        'variables',
      ],
    ])('answers 400 invalid-data for %s, naming the field', async (_name, body, field) => {
      w.control.registeredLines.add(w.aliceLines[0]);
      const response =
        body === undefined
          ? await inject({ method: 'POST', url: CALLS }, w.aliceToken)
          : await create(body);
      expect(response.statusCode).toBe(400);
      const json = response.json<ErrorBody>();
      expect(json.error_id).toBe('invalid-data');
      expect(Object.keys(json.details)).toContain(field);
      expect(w.control.calls).toEqual([]);
    });

    it('answers 401 without the create ACL, before looking at the body', async () => {
      const { token, app } = await w.restricted(['calld.users.me.calls.read']);
      const response = await inject(
        {
          method: 'POST',
          url: CALLS,
          headers: { 'content-type': 'application/json' },
          payload: '{',
        },
        token,
        app,
      );
      expect(response.statusCode).toBe(401);
      expect(response.json<ErrorBody>().details).toMatchObject({
        required_access: 'calld.users.me.calls.create',
      });
    });
  });

  it('hangs up my call with 204', async () => {
    const response = await inject({ method: 'DELETE', url: callUrl(w.alice.id, '') }, w.aliceToken);
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect(w.alice.state).toBe(ChannelState.Hungup);
  });

  it('mutes, unmutes, holds and resumes my call through call control (204 each)', async () => {
    for (const suffix of ['/mute/start', '/mute/stop', '/hold/start', '/hold/stop']) {
      const response = await inject(
        { method: 'PUT', url: callUrl(w.alice.id, suffix) },
        w.aliceToken,
      );
      expect(response.statusCode).toBe(204);
    }
    expect(w.control.calls).toEqual([
      `mute ${w.alice.id} true`,
      `mute ${w.alice.id} false`,
      `hold ${w.alice.id} true`,
      `hold ${w.alice.id} false`,
    ]);
  });

  it('accepts the requests as @wazo/sdk sends them: JSON content type with a `null` or empty body', async () => {
    const json = { 'content-type': 'application/json' };
    const muted = await inject(
      { method: 'PUT', url: callUrl(w.alice.id, '/mute/start'), headers: json, payload: 'null' },
      w.aliceToken,
    );
    expect(muted.statusCode).toBe(204);
    const hungUp = await inject(
      { method: 'DELETE', url: callUrl(w.alice.id, ''), headers: json },
      w.aliceToken,
    );
    expect(hungUp.statusCode).toBe(204);
    expect(w.control.calls).toEqual([`mute ${w.alice.id} true`]);
    expect(w.alice.ended).toBe(true);
  });

  it('plays DTMF digits 0-9, * and # with 204', async () => {
    const response = await inject(
      {
        method: 'PUT',
        url: `${callUrl(w.alice.id, '/dtmf')}?digits=${encodeURIComponent('0189*#')}`,
      },
      w.aliceToken,
    );
    expect(response.statusCode).toBe(204);
    expect(w.control.calls).toEqual([`dtmf ${w.alice.id} 0189*#`]);
  });

  it('answers 503 phoned-error to answer: no Confab device can be picked up remotely', async () => {
    const response = await inject(
      { method: 'PUT', url: callUrl(w.alice.id, '/answer') },
      w.aliceToken,
    );
    expect(response.statusCode).toBe(503);
    expect(response.json<ErrorBody>()).toMatchObject({
      error_id: 'phoned-error',
      details: { call_id: w.alice.id },
    });
  });

  it.each(CALL_ROUTES)(
    '$method …$suffix: unknown call → 404 no-such-call with the call id',
    async (route) => {
      const response = await inject(
        { method: route.method, url: callUrl('1778000000.999', route.suffix) },
        w.aliceToken,
      );
      expect(response.statusCode).toBe(404);
      expect(response.json<ErrorBody>()).toMatchObject({
        error_id: 'no-such-call',
        details: { call_id: '1778000000.999' },
        timestamp: expect.any(Number) as unknown,
      });
    },
  );

  it.each(CALL_ROUTES)(
    "$method …$suffix: another user's call → 403 user-permission-denied, nothing done",
    async (route) => {
      const response = await inject(
        { method: route.method, url: callUrl(w.bob.id, route.suffix) },
        w.aliceToken,
      );
      expect(response.statusCode).toBe(403);
      const body = response.json<ErrorBody>();
      expect(body).toMatchObject({
        error_id: 'user-permission-denied',
        details: { call: w.bob.id, user: w.aliceUuid },
      });
      expect(body.message).toContain('user');
      expect(w.bob.state).toBe(ChannelState.Up);
      expect(w.control.calls).toEqual([]);
    },
  );

  it.each(CALL_ROUTES)(
    '$method …$suffix: a token without the ACL → 401 unauthorized naming the escaped ACL',
    async (route) => {
      const { token, app } = await w.restricted(['websocketd', 'calld.users.me.calls.read']);
      const response = await inject(
        { method: route.method, url: callUrl(w.alice.id, route.suffix) },
        token,
        app,
      );
      expect(response.statusCode).toBe(401);
      expect(response.json<ErrorBody>()).toMatchObject({
        error_id: 'unauthorized',
        details: {
          invalid_token: token,
          reason: 'missing_permission_or_invalid_tenant',
          required_access: `calld.users.me.calls.1778000000_1.${route.acl}`,
        },
      });
      expect(w.alice.state).toBe(ChannelState.Up);
    },
  );

  it('checks the ACL with the call id escaped (`.` → `_`), so an ACL for one call grants only that call', async () => {
    const { token, app } = await w.restricted([
      `calld.users.me.calls.${w.alice.id.replace('.', '_')}.delete`,
    ]);
    const other = await inject({ method: 'DELETE', url: callUrl(w.bob.id, '') }, token, app);
    expect(other.statusCode).toBe(401);
    const mine = await inject({ method: 'DELETE', url: callUrl(w.alice.id, '') }, token, app);
    expect(mine.statusCode).toBe(204);
  });

  it('answers 401 to the list without a token, or without its ACL', async () => {
    const none = await inject({ method: 'GET', url: CALLS });
    expect(none.statusCode).toBe(401);
    expect(none.json<ErrorBody>().details).toMatchObject({ reason: 'not_found_or_expired' });
    const { token, app } = await w.restricted(['websocketd']);
    const denied = await inject({ method: 'GET', url: CALLS }, token, app);
    expect(denied.statusCode).toBe(401);
    expect(denied.json<ErrorBody>().details).toMatchObject({
      required_access: 'calld.users.me.calls.read',
    });
  });

  describe('bad input (never a 500)', () => {
    const cases: {
      name: string;
      options: InjectOptions & { url: string };
      status: number;
      error: string;
      field?: string;
    }[] = [
      {
        name: 'dtmf without digits',
        options: { method: 'PUT', url: `${CALLS}/ID/dtmf` },
        status: 400,
        error: 'invalid-data',
        field: 'digits',
      },
      {
        name: 'dtmf with empty digits',
        options: { method: 'PUT', url: `${CALLS}/ID/dtmf?digits=` },
        status: 400,
        error: 'invalid-data',
        field: 'digits',
      },
      {
        name: 'dtmf with letters',
        options: { method: 'PUT', url: `${CALLS}/ID/dtmf?digits=12a` },
        status: 400,
        error: 'invalid-data',
        field: 'digits',
      },
      {
        name: 'dtmf with A-D (not accepted by calld)',
        options: { method: 'PUT', url: `${CALLS}/ID/dtmf?digits=A` },
        status: 400,
        error: 'invalid-data',
        field: 'digits',
      },
      {
        name: 'dtmf with a space',
        options: { method: 'PUT', url: `${CALLS}/ID/dtmf?digits=1%202` },
        status: 400,
        error: 'invalid-data',
        field: 'digits',
      },
      {
        name: 'dtmf with a newline',
        options: { method: 'PUT', url: `${CALLS}/ID/dtmf?digits=1%0A` },
        status: 400,
        error: 'invalid-data',
        field: 'digits',
      },
      {
        name: 'dtmf with too many digits',
        options: { method: 'PUT', url: `${CALLS}/ID/dtmf?digits=${'1'.repeat(129)}` },
        status: 400,
        error: 'invalid-data',
        field: 'digits',
      },
      {
        name: 'dtmf with repeated digits parameters',
        options: { method: 'PUT', url: `${CALLS}/ID/dtmf?digits=1&digits=2` },
        status: 400,
        error: 'invalid-data',
        field: 'digits',
      },
      {
        name: 'a 100-character call id (the longest the router passes on)',
        options: { method: 'PUT', url: `${CALLS}/${'9'.repeat(100)}/mute/start` },
        status: 404,
        error: 'no-such-call',
      },
      {
        name: 'malformed JSON body on hold',
        options: {
          method: 'PUT',
          url: `${CALLS}/ID/hold/start`,
          headers: { 'content-type': 'application/json' },
          payload: '{"x":',
        },
        status: 400,
        error: 'invalid-data',
      },
      {
        name: 'malformed JSON body on delete',
        options: {
          method: 'DELETE',
          url: `${CALLS}/ID`,
          headers: { 'content-type': 'application/json' },
          payload: '[',
        },
        status: 400,
        error: 'invalid-data',
      },
      {
        name: 'a call id with dots and slashes',
        options: { method: 'DELETE', url: `${CALLS}/..%2F..%2Fetc` },
        status: 404,
        error: 'no-such-call',
      },
      {
        name: 'a call id with ACL wildcards',
        options: { method: 'PUT', url: `${CALLS}/%23.%2A/mute/start` },
        status: 404,
        error: 'no-such-call',
      },
      {
        name: 'a non-ASCII call id',
        options: { method: 'PUT', url: `${CALLS}/%C3%A9t%C3%A9/hold/stop` },
        status: 404,
        error: 'no-such-call',
      },
      {
        name: 'a call id with a NUL',
        options: { method: 'PUT', url: `${CALLS}/1%00/answer` },
        status: 404,
        error: 'no-such-call',
      },
      {
        name: 'an unknown action',
        options: { method: 'PUT', url: `${CALLS}/ID/record/explode` },
        status: 404,
        error: 'not-found',
      },
      {
        name: 'a wrong method',
        options: { method: 'PATCH', url: `${CALLS}/ID` },
        status: 404,
        error: 'not-found',
      },
      {
        name: 'a list with a huge application filter',
        options: { method: 'GET', url: `${CALLS}?application=${'x'.repeat(2000)}` },
        status: 400,
        error: 'invalid-data',
        field: 'application',
      },
    ];

    it.each(cases)('$name → $status $error', async ({ options, status, error, field }) => {
      const response = await inject(
        { ...options, url: options.url.replace('/ID', `/${w.alice.id}`) },
        w.aliceToken,
      );
      expect(response.statusCode).toBe(status);
      const body = response.json<ErrorBody>();
      expect(body.error_id).toBe(error);
      if (field !== undefined) {
        expect(Object.keys(body.details)).toContain(field);
      }
      expect(w.alice.state).toBe(ChannelState.Up);
      expect(w.control.calls).toEqual([]);
    });
  });
});

describe('calld 1.0 URL limits', () => {
  it("answers a call id beyond the router's 100-character limit with Fastify's 414, not a 500", async () => {
    const w = await world();
    try {
      const response = await w.app.inject({
        method: 'DELETE',
        url: `${CALLS}/${'1'.repeat(300)}`,
        headers: { 'x-auth-token': w.aliceToken },
      });
      expect(response.statusCode).toBe(414);
      expect(response.json<{ code: string }>().code).toBe('FST_ERR_MAX_PARAM_LENGTH');
      expect(w.alice.state).toBe(ChannelState.Up);
    } finally {
      await w.close();
    }
  });
});

describe('calld 1.0 without telephony', () => {
  it('answers 503 wazo-calld-uninitialized after the token check', async () => {
    const w = await world({ telephony: false });
    try {
      const response = await w.app.inject({
        method: 'GET',
        url: CALLS,
        headers: { 'x-auth-token': w.aliceToken },
      });
      expect(response.statusCode).toBe(503);
      expect(response.json<ErrorBody>().error_id).toBe('wazo-calld-uninitialized');
    } finally {
      await w.close();
    }
  });
});
