import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import { parseBasicAuthorization } from '../src/auth/basic.js';
import { AuthErrorCode, isAuthError } from '../src/auth/errors.js';
import { REFRESH_TOKENS_SETTING } from '../src/auth/refresh-tokens.js';
import { formatLocalTimestamp, formatUtcTimestamp } from '../src/auth/time.js';
import { STACK_UUID_SETTING, TokenService, toWireToken } from '../src/auth/tokens.js';
import type { CreateTokenRequest, SessionInfo, TokenServiceOptions } from '../src/auth/tokens.js';
import { ManualClock, MemoryStore, TENANT_UUID } from './api.fixtures.js';
import type { User } from '../src/store/types.js';

const ALICE = { login: 'alice', password: 'alice-pass' };

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    expect(isAuthError(error) ? error.code : error).toBe(code);
    return error;
  }
  throw new Error(`expected a rejection with ${code}`);
}

describe('TokenService', () => {
  let store: MemoryStore;
  let clock: ManualClock;
  let alice: User;
  let tokens: TokenService;
  const open = (options: Partial<TokenServiceOptions> = {}): Promise<TokenService> =>
    TokenService.open({ store, clock: clock.read, ...options });
  const loginAlice = (extra: Partial<CreateTokenRequest> = {}) =>
    tokens.createToken({ credentials: ALICE, ...extra });

  beforeEach(async () => {
    store = new MemoryStore();
    clock = new ManualClock();
    alice = store.addUser({
      username: 'alice',
      password: 'alice-pass',
      email: 'alice@example.com',
    });
    store.addUser({ username: 'bob', password: 'bob-pass' });
    tokens = await open();
  });

  afterEach(async () => {
    await tokens.close();
  });

  describe('stack uuid', () => {
    it('creates the stack uuid once, stores it under stack_uuid and reuses it after a restart', async () => {
      const stored = store.settingsMap.get(STACK_UUID_SETTING);
      expect(stored).toMatch(/^[0-9a-f-]{36}$/);
      expect(tokens.stackUuid).toBe(stored);
      const again = await open();
      expect(again.stackUuid).toBe(stored);
      await again.close();
    });
  });

  describe('password login (spec §3.1)', () => {
    it('issues a token for the user with the default 7200 s lifetime, the user metadata and no refresh token', async () => {
      const { token, refreshToken, sessionsRevoked } = await loginAlice({
        remoteAddr: '10.0.0.1',
        userAgent: 'test-agent',
      });
      expect(refreshToken).toBeUndefined();
      expect(sessionsRevoked).toBe(0);
      expect(token.userUuid).toBe(alice.uuid);
      expect(token.tenantUuid).toBe(TENANT_UUID);
      expect(token.expiresAt - token.issuedAt).toBe(7200 * 1000);
      expect(token.metadata).toEqual({
        uuid: alice.uuid,
        tenant_uuid: TENANT_UUID,
        auth_id: alice.uuid,
        pbx_user_uuid: alice.uuid,
        xivo_uuid: tokens.stackUuid,
        purpose: 'user',
        admin: false,
      });
      expect(token.remoteAddr).toBe('10.0.0.1');
      expect(token.userAgent).toBe('test-agent');
      expect(token.acl).toContain('websocketd');
    });

    it('accepts the email as login', async () => {
      const { token } = await tokens.createToken({
        credentials: { login: 'alice@example.com', password: 'alice-pass' },
      });
      expect(token.userUuid).toBe(alice.uuid);
    });

    it.each([
      ['a wrong password', { credentials: { login: 'alice', password: 'nope' } }],
      ['an unknown login', { credentials: { login: 'carol', password: 'x' } }],
      ['no credentials', {}],
      ['an unsupported backend', { credentials: ALICE, backend: 'ldap_user' }],
      ['a SAML session', { credentials: ALICE, samlSessionId: 'saml-1' }],
    ])('fails authentication for %s', async (_label, request: CreateTokenRequest) => {
      await rejectsWith(tokens.createToken(request), AuthErrorCode.AuthenticationFailed);
      expect(tokens.sessionCount).toBe(0);
    });

    it.each([0, -1, 315_360_001, 1.5])(
      'refuses an expiration of %s as an invalid request',
      async (expiration) => {
        const error = await rejectsWith(loginAlice({ expiration }), AuthErrorCode.InvalidRequest);
        expect(Object.keys((error as { fields: object }).fields)).toEqual(['expiration']);
      },
    );

    it('accepts the extreme expirations 1 and 315360000', async () => {
      const short = await loginAlice({ expiration: 1 });
      expect(short.token.expiresAt - short.token.issuedAt).toBe(1000);
      const long = await loginAlice({ expiration: 315_360_000 });
      expect(long.token.expiresAt - long.token.issuedAt).toBe(315_360_000_000);
    });

    it.each([
      ['offline without client_id', { accessType: 'offline' }],
      ['offline with a refresh token', { accessType: 'offline', clientId: 'c', refreshToken: 'r' }],
      ['a refresh token without client_id', { refreshToken: 'r' }],
      ['a client_id over 1024 characters', { clientId: 'x'.repeat(1025) }],
    ] as const)('refuses %s as an invalid request', async (_label, request) => {
      await rejectsWith(loginAlice(request), AuthErrorCode.InvalidRequest);
    });
  });

  describe('refresh tokens (spec §3.1, §3.4)', () => {
    it('returns a refresh token for an offline login, and a refresh login returns none', async () => {
      const offline = await loginAlice({ accessType: 'offline', clientId: 'my-app' });
      expect(offline.refreshToken).toMatch(/^[0-9a-f-]{36}$/);
      const refreshed = await tokens.createToken({
        refreshToken: offline.refreshToken,
        clientId: 'my-app',
      });
      expect(refreshed.refreshToken).toBeUndefined();
      expect(refreshed.token.userUuid).toBe(alice.uuid);
      expect(refreshed.token.token).not.toBe(offline.token.token);
    });

    it('keeps one refresh token per (user, client_id): a desktop offline login gets the same one again', async () => {
      const first = await loginAlice({ accessType: 'offline', clientId: 'my-app' });
      const second = await loginAlice({ accessType: 'offline', clientId: 'my-app' });
      const other = await loginAlice({ accessType: 'offline', clientId: 'other-app' });
      expect(second.refreshToken).toBe(first.refreshToken);
      expect(other.refreshToken).not.toBe(first.refreshToken);
      expect(tokens.listRefreshTokens(alice.uuid).map((t) => t.clientId)).toEqual([
        'my-app',
        'other-app',
      ]);
    });

    it('fails a refresh login with the wrong client_id or an unknown refresh token', async () => {
      const offline = await loginAlice({ accessType: 'offline', clientId: 'my-app' });
      await rejectsWith(
        tokens.createToken({ refreshToken: offline.refreshToken, clientId: 'other-app' }),
        AuthErrorCode.AuthenticationFailed,
      );
      await rejectsWith(
        tokens.createToken({ refreshToken: 'unknown', clientId: 'my-app' }),
        AuthErrorCode.AuthenticationFailed,
      );
    });

    it('on a mobile offline login, replaces that client’s refresh token and its sessions', async () => {
      const desktop = await loginAlice({ accessType: 'offline', clientId: 'desktop' });
      const phone = await loginAlice({ accessType: 'offline', clientId: 'phone', mobile: true });
      const viaRefresh = await tokens.createToken({
        refreshToken: phone.refreshToken,
        clientId: 'phone',
      });
      const online = await loginAlice();
      const deleted: string[] = [];
      tokens.on('sessionDeleted', (session) => deleted.push(session.uuid));

      const again = await loginAlice({ accessType: 'offline', clientId: 'phone', mobile: true });

      expect(again.refreshToken).not.toBe(phone.refreshToken);
      expect(again.sessionsRevoked).toBe(2);
      expect(deleted.sort()).toEqual(
        [phone.token.sessionUuid, viaRefresh.token.sessionUuid].sort(),
      );
      expect(tokens.get(desktop.token.token)).toBeDefined();
      expect(tokens.get(online.token.token)).toBeDefined();
      await rejectsWith(
        tokens.createToken({ refreshToken: phone.refreshToken, clientId: 'phone' }),
        AuthErrorCode.AuthenticationFailed,
      );
    });

    it('on a mobile offline login, ends the user’s other mobile refresh tokens and their sessions', async () => {
      const desktop = await loginAlice({ accessType: 'offline', clientId: 'desktop' });
      const phone = await loginAlice({ accessType: 'offline', clientId: 'phone', mobile: true });

      const tablet = await loginAlice({ accessType: 'offline', clientId: 'tablet', mobile: true });

      expect(tablet.sessionsRevoked).toBe(1);
      expect(tokens.get(phone.token.token)).toBeUndefined();
      expect(tokens.get(desktop.token.token)).toBeDefined();
      expect(tokens.listRefreshTokens(alice.uuid).map((t) => [t.clientId, t.mobile])).toEqual([
        ['desktop', false],
        ['tablet', true],
      ]);
      await rejectsWith(
        tokens.createToken({ refreshToken: phone.refreshToken, clientId: 'phone' }),
        AuthErrorCode.AuthenticationFailed,
      );
    });

    it('keeps issued access tokens valid when their refresh token is deleted, but refuses the refresh token', async () => {
      const offline = await loginAlice({ accessType: 'offline', clientId: 'my-app' });
      expect(await tokens.deleteRefreshToken(alice.uuid, 'my-app')).toBe(true);
      expect(await tokens.deleteRefreshToken(alice.uuid, 'my-app')).toBe(false);
      expect(tokens.get(offline.token.token)).toBeDefined();
      await rejectsWith(
        tokens.createToken({ refreshToken: offline.refreshToken, clientId: 'my-app' }),
        AuthErrorCode.AuthenticationFailed,
      );
    });

    it('persists refresh tokens so that a refresh login works after a restart', async () => {
      const offline = await loginAlice({ accessType: 'offline', clientId: 'my-app', mobile: true });
      expect(store.settingsMap.get(REFRESH_TOKENS_SETTING)).toContain('my-app');
      await tokens.close();
      tokens = await open();
      expect(tokens.get(offline.token.token)).toBeUndefined();
      const refreshed = await tokens.createToken({
        refreshToken: offline.refreshToken,
        clientId: 'my-app',
      });
      expect(refreshed.token.userUuid).toBe(alice.uuid);
      expect(refreshed.token.mobile).toBe(true);
    });

    it('starts without refresh tokens when the persisted document is corrupt', async () => {
      await tokens.close();
      store.settingsMap.set(REFRESH_TOKENS_SETTING, '{"version":1,"items":[{"bad":true}]}');
      tokens = await open();
      expect(tokens.listRefreshTokens(alice.uuid)).toEqual([]);
    });

    it('drops the refresh token of a deleted user at its next use', async () => {
      const offline = await loginAlice({ accessType: 'offline', clientId: 'my-app' });
      store.deleteUser(alice.uuid);
      await rejectsWith(
        tokens.createToken({ refreshToken: offline.refreshToken, clientId: 'my-app' }),
        AuthErrorCode.AuthenticationFailed,
      );
      expect(tokens.listRefreshTokens(alice.uuid)).toEqual([]);
    });

    it('deletes the oldest refresh token once a user exceeds maxUserRefreshTokens', async () => {
      await tokens.close();
      tokens = await open({ maxUserRefreshTokens: 2 });
      const deleted: string[] = [];
      tokens.on('refreshTokenDeleted', (info) => deleted.push(info.clientId));
      await loginAlice({ accessType: 'offline', clientId: 'a' });
      clock.advance(1);
      await loginAlice({ accessType: 'offline', clientId: 'b' });
      clock.advance(1);
      await loginAlice({ accessType: 'offline', clientId: 'c' });
      expect(deleted).toEqual(['a']);
      expect(tokens.listRefreshTokens(alice.uuid).map((t) => t.clientId)).toEqual(['b', 'c']);
    });

    it('announces created and deleted refresh tokens', async () => {
      const created: string[] = [];
      tokens.on('refreshTokenCreated', (info) => created.push(`${info.clientId}:${info.userUuid}`));
      await loginAlice({ accessType: 'offline', clientId: 'my-app' });
      await loginAlice({ accessType: 'offline', clientId: 'my-app' });
      expect(created).toEqual([`my-app:${alice.uuid}`]);
    });
  });

  describe('session limit (spec §3.1, §10)', () => {
    it('refuses the 101st concurrent session of a user and accepts one again when a session ends', async () => {
      const issued = [];
      for (let i = 0; i < 100; i++) {
        issued.push(await loginAlice());
      }
      await rejectsWith(loginAlice(), AuthErrorCode.TooManySessions);
      // Other users are not affected.
      await tokens.createToken({ credentials: { login: 'bob', password: 'bob-pass' } });
      expect(tokens.revokeToken(issued[0]!.token.token)).toBe(true);
      await expect(loginAlice()).resolves.toBeDefined();
      await rejectsWith(loginAlice(), AuthErrorCode.TooManySessions);
    });

    it('does not count expired sessions', async () => {
      await tokens.close();
      tokens = await open({ maxUserSessions: 2 });
      await loginAlice({ expiration: 10 });
      await loginAlice({ expiration: 10 });
      await rejectsWith(loginAlice(), AuthErrorCode.TooManySessions);
      clock.advance(10_000);
      await expect(loginAlice()).resolves.toBeDefined();
    });
  });

  describe('verify', () => {
    it('accepts a live token with a granted ACL and its own tenant', async () => {
      const { token } = await loginAlice();
      expect(tokens.verify(token.token)).toEqual({ ok: true, token });
      expect(tokens.verify(token.token, 'websocketd', TENANT_UUID).ok).toBe(true);
      expect(tokens.verify(token.token, `confd.users.${alice.uuid}.read`).ok).toBe(true);
      expect(tokens.verify(token.token, null).ok).toBe(true);
    });

    it('reports not_found_or_expired for an unknown, missing or expired token', async () => {
      const { token } = await loginAlice({ expiration: 60 });
      expect(tokens.verify('nope')).toEqual({ ok: false, reason: 'not_found_or_expired' });
      expect(tokens.verify(undefined)).toEqual({ ok: false, reason: 'not_found_or_expired' });
      clock.advance(59_999);
      expect(tokens.verify(token.token).ok).toBe(true);
      clock.advance(1);
      expect(tokens.verify(token.token)).toEqual({ ok: false, reason: 'not_found_or_expired' });
    });

    it('reports missing_permission_or_invalid_tenant for an ACL it lacks or another tenant', async () => {
      const { token } = await loginAlice();
      expect(tokens.verify(token.token, 'confd.users.someone.read')).toMatchObject({
        ok: false,
        reason: 'missing_permission_or_invalid_tenant',
        denied: 'acl',
      });
      expect(tokens.verify(token.token, 'websocketd', 'other-tenant')).toMatchObject({
        ok: false,
        reason: 'missing_permission_or_invalid_tenant',
        denied: 'tenant',
      });
    });
  });

  describe('sessions and expiry', () => {
    it('announces each created session and deletes a session with its token', async () => {
      const created: SessionInfo[] = [];
      const deleted: SessionInfo[] = [];
      tokens.on('sessionCreated', (s) => created.push(s));
      tokens.on('sessionDeleted', (s) => deleted.push(s));
      const { token } = await loginAlice({ mobile: true });
      expect(created).toEqual([
        { uuid: token.sessionUuid, userUuid: alice.uuid, tenantUuid: TENANT_UUID, mobile: true },
      ]);
      expect(tokens.listSessions(alice.uuid)).toEqual(created);
      expect(tokens.revokeToken(token.token)).toBe(true);
      expect(tokens.revokeToken(token.token)).toBe(false);
      expect(deleted).toEqual(created);
      expect(tokens.listSessions(alice.uuid)).toEqual([]);
    });

    it('deletes a session by uuid only for its own user', async () => {
      const { token } = await loginAlice();
      expect(tokens.revokeSession('someone-else', token.sessionUuid)).toBe(false);
      expect(tokens.revokeSession(alice.uuid, token.sessionUuid)).toBe(true);
      expect(tokens.get(token.token)).toBeUndefined();
    });

    it('emits sessionExpireSoon once for a 3 s token at the next sweep, then deletes it when expired', async () => {
      const soon: SessionInfo[] = [];
      const deleted: SessionInfo[] = [];
      tokens.on('sessionExpireSoon', (s) => soon.push(s));
      tokens.on('sessionDeleted', (s) => deleted.push(s));
      const short = await loginAlice({ expiration: 3 });
      await loginAlice({ expiration: 3600 });
      tokens.sweep();
      expect(soon.map((s) => s.uuid)).toEqual([short.token.sessionUuid]);
      tokens.sweep();
      expect(soon).toHaveLength(1);
      clock.advance(3000);
      tokens.sweep();
      expect(deleted.map((s) => s.uuid)).toEqual([short.token.sessionUuid]);
      expect(tokens.listSessions(alice.uuid)).toHaveLength(1);
    });

    it('ends every session and refresh token of a revoked user', async () => {
      await loginAlice({ accessType: 'offline', clientId: 'a' });
      await loginAlice();
      await tokens.revokeUser(alice.uuid);
      expect(tokens.listSessions(alice.uuid)).toEqual([]);
      expect(tokens.listRefreshTokens(alice.uuid)).toEqual([]);
    });
  });

  describe('close', () => {
    it('is idempotent, makes mutations reject with InvalidStateError and verify report not found', async () => {
      const { token } = await loginAlice();
      await tokens.close();
      await tokens.close();
      expect(tokens.state).toBe('closed');
      await expect(loginAlice()).rejects.toSatisfy(isInvalidStateError);
      expect(() => tokens.revokeToken(token.token)).toThrow(/closed/);
      expect(tokens.verify(token.token)).toEqual({ ok: false, reason: 'not_found_or_expired' });
    });
  });

  describe('wire token (spec §3.2)', () => {
    it('has exactly the wazo-auth fields with local and UTC timestamps, and refresh_token only when given', async () => {
      const { token, refreshToken } = await loginAlice({
        accessType: 'offline',
        clientId: 'c',
        expiration: 3600,
      });
      const wire = toWireToken(token);
      expect(Object.keys(wire).sort()).toEqual(
        [
          'acl',
          'auth_id',
          'expires_at',
          'issued_at',
          'metadata',
          'remote_addr',
          'session_uuid',
          'token',
          'user_agent',
          'utc_expires_at',
          'utc_issued_at',
          'xivo_user_uuid',
          'xivo_uuid',
        ].sort(),
      );
      expect(wire.utc_issued_at).toBe('2026-05-05T08:00:00.123000');
      expect(wire.utc_expires_at).toBe('2026-05-05T09:00:00.123000');
      expect(wire.issued_at).toBe(formatLocalTimestamp(clock.now));
      expect(wire.xivo_user_uuid).toBe(alice.uuid);
      expect(wire.auth_id).toBe(alice.uuid);
      expect(wire.xivo_uuid).toBe(tokens.stackUuid);
      expect(toWireToken(token, refreshToken).refresh_token).toBe(refreshToken);
    });
  });
});

describe('timestamp formats', () => {
  const originalTz = process.env['TZ'];
  afterEach(() => {
    if (originalTz === undefined) {
      delete process.env['TZ'];
    } else {
      process.env['TZ'] = originalTz;
    }
  });

  it('writes UTC as %Y-%m-%dT%H:%M:%S.%f without a zone designator', () => {
    expect(formatUtcTimestamp(0)).toBe('1970-01-01T00:00:00.000000');
    expect(formatUtcTimestamp(Date.UTC(2026, 11, 31, 23, 59, 59, 999))).toBe(
      '2026-12-31T23:59:59.999000',
    );
    expect(formatUtcTimestamp(1.5)).toBe('1970-01-01T00:00:00.001500');
  });

  it('writes local time in the process time zone, without an offset', () => {
    process.env['TZ'] = 'America/New_York';
    expect(formatLocalTimestamp(Date.UTC(2026, 0, 15, 12, 0, 0, 250))).toBe(
      '2026-01-15T07:00:00.250000',
    );
    process.env['TZ'] = 'UTC';
    expect(formatLocalTimestamp(Date.UTC(2026, 0, 15, 12, 0, 0, 250))).toBe(
      '2026-01-15T12:00:00.250000',
    );
  });
});

describe('parseBasicAuthorization (RFC 7617)', () => {
  const encode = (text: string, encoding: BufferEncoding = 'utf8'): string =>
    Buffer.from(text, encoding).toString('base64');

  it('decodes a UTF-8 login and password, splitting at the first colon', () => {
    expect(parseBasicAuthorization(`Basic ${encode('zoé:pa:ss')}`)).toEqual({
      login: 'zoé',
      password: 'pa:ss',
    });
  });

  it('falls back to Latin-1 when the bytes are not UTF-8', () => {
    expect(parseBasicAuthorization(`Basic ${encode('zoé:mötley', 'latin1')}`)).toEqual({
      login: 'zoé',
      password: 'mötley',
    });
  });

  it('accepts the scheme name in any case', () => {
    expect(parseBasicAuthorization(`basic ${encode('a:b')}`)).toEqual({
      login: 'a',
      password: 'b',
    });
  });

  it.each([
    ['no header', undefined],
    ['another scheme', `Bearer ${encode('a:b')}`],
    ['no credentials', 'Basic'],
    ['garbage base64', 'Basic !!!not-base64!!!'],
    ['bad base64 padding', 'Basic YTpi='],
    ['no colon', `Basic ${encode('nocolon')}`],
    ['an empty login', `Basic ${encode(':pass')}`],
    ['an empty password', `Basic ${encode('user:')}`],
    ['oversized credentials', `Basic ${'A'.repeat(10_000)}`],
  ])('returns undefined for %s', (_label, header) => {
    expect(parseBasicAuthorization(header)).toBeUndefined();
  });
});
