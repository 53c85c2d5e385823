import { describe, expect, it } from 'vitest';
import {
  AccessChecker,
  DEFAULT_USER_ACL,
  escapeAclParameter,
  requiredAcl,
} from '../src/auth/acl.js';

const U = 'aaaaaaaa-0000-4000-8000-000000000001';
const S = 'ssssssss-0000-4000-8000-000000000002';

describe('AccessChecker grammar (spec §3.6)', () => {
  const table: [pattern: string, required: string, expected: boolean][] = [
    // literals
    ['websocketd', 'websocketd', true],
    ['websocketd', 'websocketd.extra', false],
    ['websocketd', 'websocket', false],
    ['confd.infos.read', 'confd.infos.read', true],
    ['confd.infos.read', 'confd.infosXread', false],
    // `*`: one segment, possibly empty, never crossing `.` or `#`
    ['calld.users.me.calls.*.delete', `calld.users.${U}.calls.1600000000_42.delete`, true],
    ['calld.users.me.calls.*.delete', `calld.users.${U}.calls.1.2.delete`, false],
    ['calld.users.me.calls.*.delete', `calld.users.${U}.calls..delete`, true],
    ['a.*', 'a.b#c', false],
    ['a.*.c', 'a.b.c', true],
    ['a.b*', 'a.bcd', true],
    ['a.b*', 'a.b.c', false],
    ['*', 'anything', true],
    ['*', 'two.segments', false],
    // `#`: any remainder, dots included, possibly empty
    ['calld.users.me.#', `calld.users.${U}.calls.read`, true],
    ['calld.users.me.#', `calld.users.${U}.`, true],
    ['calld.users.me.#', `calld.users.${U}`, false],
    ['confd.users.me.#.read', `confd.users.${U}.lines.1.associated.endpoints.sip.read`, true],
    ['confd.users.me.#.read', `confd.users.${U}.read`, false],
    ['confd.users.me.#.read', `confd.users.${U}.lines.update`, false],
    ['#', '', true],
    ['#', 'a.b.c#d', true],
    ['a.#.c.#.e', 'a.b.c.d.e', true],
    ['a.#.c.#.e', 'a.b.d.e', false],
    // `me`: the literal or the token's user, as a whole segment only
    ['confd.users.me.read', `confd.users.${U}.read`, true],
    ['confd.users.me.read', 'confd.users.me.read', true],
    ['confd.users.me.read', 'confd.users.someone-else.read', false],
    ['events.calls.me', `events.calls.${U}`, true],
    ['a.meow', `a.${U}ow`, false],
    ['a.me*', 'a.meX', true],
    ['a.me*', `a.${U}X`, false],
    ['me', U, true],
    // `my_session`: the literal or the token's session
    [
      'events.auth.users.me.sessions.my_session.expire_soon',
      `events.auth.users.${U}.sessions.${S}.expire_soon`,
      true,
    ],
    [
      'events.auth.users.me.sessions.my_session.expire_soon',
      `events.auth.users.${U}.sessions.other-session.expire_soon`,
      false,
    ],
  ];

  it.each(table)('pattern %j vs required %j → %s', (pattern, required, expected) => {
    const access = new AccessChecker([pattern], { userUuid: U, sessionUuid: S });
    expect(access.matches(required)).toBe(expected);
  });

  it('lets a negative ACL win over every positive one', () => {
    const access = new AccessChecker(
      ['calld.#', '!calld.users.me.calls.*.delete', 'calld.users.me.#'],
      {
        userUuid: U,
      },
    );
    expect(access.matches(`calld.users.${U}.calls.read`)).toBe(true);
    expect(access.matches(`calld.users.${U}.calls.1_2.delete`)).toBe(false);
  });

  it('grants a required access of null or undefined whatever the ACL, even an empty or negative one', () => {
    expect(new AccessChecker([]).matches(null)).toBe(true);
    expect(new AccessChecker(['!#']).matches(undefined)).toBe(true);
  });

  it('refuses every string required access to an empty ACL', () => {
    const access = new AccessChecker([]);
    expect(access.matches('')).toBe(false);
    expect(access.matches('websocketd')).toBe(false);
  });

  it('treats `me` and `my_session` as literals when the token has no user or session', () => {
    const access = new AccessChecker(['confd.users.me.read', 'x.my_session']);
    expect(access.matches('confd.users.me.read')).toBe(true);
    expect(access.matches(`confd.users.${U}.read`)).toBe(false);
    expect(access.matches('x.my_session')).toBe(true);
  });

  it('matches a hostile many-wildcard pattern against a long required access without backtracking blow-up', () => {
    const access = new AccessChecker(['a.#.#.#.#.#.#.#.#.b', '*.*.*.*.*.*.*.*.*.*.z']);
    const required = `a.${'x.'.repeat(20_000)}c`;
    expect(access.matches(required)).toBe(false);
    expect(access.matches(`a.${'x.'.repeat(20_000)}b`)).toBe(true);
  });

  it('grants a default user token its own calls, events, confd profile and websocket, not others', () => {
    const access = new AccessChecker(DEFAULT_USER_ACL, { userUuid: U, sessionUuid: S });
    for (const granted of [
      'websocketd',
      `calld.users.${U}.calls.read`,
      `calld.users.${U}.conferences.adhoc.create`,
      `confd.users.${U}.read`,
      `confd.users.${U}.lines.3.associated.endpoints.sip.read`,
      'confd.infos.read',
      `events.calls.${U}`,
      `events.conferences.users.${U}.adhoc.created`,
      `events.auth.users.${U}.sessions.${S}.expire_soon`,
      'auth.users.me.tokens.read',
      'auth.users.me.tokens.my-app.delete',
      `auth.users.${U}.sessions.read`,
    ]) {
      expect(access.matches(granted), granted).toBe(true);
    }
    for (const refused of [
      'calld.users.other.calls.read',
      'confd.users.other.read',
      'events.calls.other',
      'auth.users.other.tokens.read',
      'confd.users.read',
      `events.auth.users.${U}.sessions.other.expire_soon`,
    ]) {
      expect(access.matches(refused), refused).toBe(false);
    }
  });
});

describe('required ACL escaping (spec §2.1)', () => {
  it('replaces every dot of a URL parameter with an underscore', () => {
    expect(escapeAclParameter('1600000000.42')).toBe('1600000000_42');
    expect(escapeAclParameter('a.b.c')).toBe('a_b_c');
    expect(escapeAclParameter('plain')).toBe('plain');
  });

  it('fills a template with escaped parameters', () => {
    expect(requiredAcl('calld.users.me.calls.{call_id}.delete', { call_id: '1600000000.42' })).toBe(
      'calld.users.me.calls.1600000000_42.delete',
    );
    expect(
      requiredAcl('confd.users.{user_uuid}.lines.{line_id}.read', { user_uuid: U, line_id: 7 }),
    ).toBe(`confd.users.${U}.lines.7.read`);
    expect(requiredAcl('websocketd')).toBe('websocketd');
  });

  it('keeps a crafted parameter inside its segment so it cannot widen the grant', () => {
    const access = new AccessChecker(DEFAULT_USER_ACL, { userUuid: U });
    // Unescaped, `confd.users.<U>.lines.read` would match `confd.users.me.#.read`.
    const acl = requiredAcl('confd.users.{user_uuid}.read', { user_uuid: `${U}.lines` });
    expect(acl).toBe(`confd.users.${U}_lines.read`);
    expect(access.matches(acl)).toBe(false);
  });

  it('throws a TypeError when the template names a missing parameter', () => {
    expect(() => requiredAcl('a.{missing}.read', {})).toThrow(TypeError);
  });
});
