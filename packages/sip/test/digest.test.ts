import { describe, expect, it } from 'vitest';
import { FakeClock } from '../src/clock.js';
import {
  DigestError,
  DigestServer,
  buildAuthorization,
  computeDigestResponse,
  parseAuthHeader,
  parseDigestChallenge,
  selectChallenge,
  type DigestAlgorithm,
} from '../src/digest.js';

const REALM = 'confab.test';
const PASSWORDS = new Map([
  ['alice', 'wonderland'],
  ['bob', 'builder'],
]);
const lookup = (username: string, realm: string): string | undefined =>
  realm === REALM ? PASSWORDS.get(username) : undefined;

function makeServer(
  options: {
    algorithms?: DigestAlgorithm[];
    allowWithoutQop?: boolean;
    maxTrackedNonces?: number;
  } = {},
) {
  const clock = new FakeClock(1_700_000_000_000);
  const server = new DigestServer({
    realm: REALM,
    secret: 'test secret key 0123456789',
    clock,
    ...options,
  });
  return { clock, server };
}

/** Answers the server's first (preferred) challenge as a REGISTER from alice. */
function answer(
  challenge: string,
  overrides: {
    username?: string;
    password?: string;
    nc?: number;
    cnonce?: string;
    uri?: string;
  } = {},
): string {
  return buildAuthorization(challenge, {
    username: overrides.username ?? 'alice',
    password: overrides.password ?? 'wonderland',
    method: 'REGISTER',
    uri: overrides.uri ?? 'sip:confab.test',
    nc: overrides.nc,
    cnonce: overrides.cnonce ?? 'c0ffee',
  });
}

function firstChallenge(server: DigestServer, stale = false): string {
  const [challenge] = server.challenge({ stale });
  if (challenge === undefined) {
    throw new Error('no challenge');
  }
  return challenge;
}

describe('computeDigestResponse', () => {
  it('reproduces the RFC 2617 §3.5 example (MD5, qop=auth)', () => {
    expect(
      computeDigestResponse({
        username: 'Mufasa',
        realm: 'testrealm@host.com',
        password: 'Circle Of Life',
        method: 'GET',
        uri: '/dir/index.html',
        nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        qop: 'auth',
        nc: '00000001',
        cnonce: '0a4f113b',
      }),
    ).toBe('6629fae49393a05397450978507c4ef1');
  });

  const rfc7616 = {
    username: 'Mufasa',
    realm: 'http-auth@example.org',
    password: 'Circle of Life',
    method: 'GET',
    uri: '/dir/index.html',
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    qop: 'auth',
    nc: 1,
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  } as const;

  it('reproduces the RFC 7616 §3.9.1 example with SHA-256', () => {
    expect(computeDigestResponse({ ...rfc7616, algorithm: 'SHA-256' })).toBe(
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });

  it('reproduces the RFC 7616 §3.9.1 example with MD5 (the default algorithm)', () => {
    expect(computeDigestResponse(rfc7616)).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  it('differs for -sess and auth-int variants, and requires cnonce for them', () => {
    const plain = computeDigestResponse(rfc7616);
    expect(computeDigestResponse({ ...rfc7616, algorithm: 'MD5-sess' })).not.toBe(plain);
    expect(computeDigestResponse({ ...rfc7616, qop: 'auth-int', body: 'v=0' })).not.toBe(
      computeDigestResponse({ ...rfc7616, qop: 'auth-int', body: '' }),
    );
    expect(() => computeDigestResponse({ ...rfc7616, cnonce: undefined })).toThrow(TypeError);
    expect(() =>
      computeDigestResponse({
        ...rfc7616,
        qop: undefined,
        algorithm: 'SHA-256-sess',
        cnonce: undefined,
      }),
    ).toThrow(TypeError);
  });
});

describe('parseAuthHeader', () => {
  it('parses quoted values with commas and escapes, unquoted values and case-insensitive names', () => {
    const header = parseAuthHeader(
      'Digest USERNAME="a\\"b, c", Realm="x", nc=00000001,qop=auth , uri="sip:a@b;transport=tcp"',
    );
    expect(header?.scheme).toBe('Digest');
    expect(Object.fromEntries(header?.params ?? [])).toEqual({
      username: 'a"b, c',
      realm: 'x',
      nc: '00000001',
      qop: 'auth',
      uri: 'sip:a@b;transport=tcp',
    });
  });

  it('tolerates empty list elements and line folding', () => {
    expect(parseAuthHeader('Digest a=1, ,\r\n b="2",')?.params.get('b')).toBe('2');
  });

  it.each([
    ['an unterminated quote', 'Digest realm="abc'],
    ['a parameter without a value', 'Digest realm'],
    ['an empty unquoted value', 'Digest realm=, nonce="x"'],
    ['a duplicate parameter', 'Digest realm="a", REALM="b"'],
    ['garbage between parameters', 'Digest realm="a" nonce="b"'],
    ['no scheme', '=abc'],
    ['an oversized value', `Digest realm="${'x'.repeat(9000)}"`],
    ['too many parameters', `Digest ${Array.from({ length: 40 }, (_, k) => `p${k}=1`).join(', ')}`],
  ])('returns undefined for %s', (_name, value) => {
    expect(parseAuthHeader(value)).toBeUndefined();
  });

  it('parses a pathological unterminated value in linear time without throwing', () => {
    expect(parseAuthHeader(`Digest a="${'\\'.repeat(8000)}`)).toBeUndefined();
  });
});

describe('client side', () => {
  it('parses a challenge with its qop options and stale flag', () => {
    expect(
      parseDigestChallenge(
        'Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=sha-256, stale=TRUE',
      ),
    ).toEqual({
      realm: 'r',
      nonce: 'n',
      opaque: undefined,
      algorithm: 'SHA-256',
      qop: ['auth', 'auth-int'],
      stale: true,
    });
    expect(parseDigestChallenge('Basic realm="r"')).toBeUndefined();
    expect(parseDigestChallenge('Digest realm="r", nonce="n", algorithm=SHA-1')).toBeUndefined();
  });

  it('selects the strongest supported challenge among several (RFC 8760 §2.4)', () => {
    const values = [
      'Digest realm="r", nonce="1", algorithm=MD5, qop="auth"',
      'Digest realm="r", nonce="2", algorithm=SHA-256, qop="auth"',
      'Digest realm="r", nonce="3", algorithm=UNKNOWN',
    ];
    expect(selectChallenge(values)?.nonce).toBe('2');
    expect(selectChallenge(values, ['MD5'])?.nonce).toBe('1');
    expect(selectChallenge(['garbage'])).toBeUndefined();
  });

  it('builds an Authorization value that reproduces the RFC 2617 §3.5 response', () => {
    const value = buildAuthorization(
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
      {
        username: 'Mufasa',
        password: 'Circle Of Life',
        method: 'GET',
        uri: '/dir/index.html',
        cnonce: '0a4f113b',
      },
    );
    const params = parseAuthHeader(value)?.params;
    expect(params?.get('response')).toBe('6629fae49393a05397450978507c4ef1');
    expect(params?.get('nc')).toBe('00000001');
    expect(params?.get('qop')).toBe('auth');
    expect(params?.get('opaque')).toBe('5ccc069c403ebaf9f0171e9517f40e41');
    expect(value).toMatch(/, qop=auth, nc=00000001$/);
  });

  it('answers an RFC 2069 challenge without qop, cnonce or nc', () => {
    const params = parseAuthHeader(
      buildAuthorization('Digest realm="r", nonce="n"', {
        username: 'u',
        password: 'p',
        method: 'INVITE',
        uri: 'sip:x',
      }),
    )?.params;
    expect(params?.has('qop')).toBe(false);
    expect(params?.has('nc')).toBe(false);
    expect(params?.has('cnonce')).toBe(false);
  });

  it('throws DigestError codes for unusable challenges', () => {
    const credentials = { username: 'u', password: 'p', method: 'INVITE', uri: 'sip:x' };
    const codeOf = (challenge: string): string | undefined => {
      try {
        buildAuthorization(challenge, credentials);
      } catch (error) {
        return error instanceof DigestError ? error.code : 'not a DigestError';
      }
      return undefined;
    };
    expect(codeOf('Digest nonce="n"')).toBe('SIP_DIGEST_INVALID_CHALLENGE');
    expect(codeOf('Digest realm="r", nonce="n", qop="x-other"')).toBe(
      'SIP_DIGEST_UNSUPPORTED_CHALLENGE',
    );
  });

  it('refuses to put a CR/LF into a header (injection)', () => {
    expect(() =>
      buildAuthorization('Digest realm="r", nonce="n"', {
        username: 'u\r\nVia: x',
        password: 'p',
        method: 'INVITE',
        uri: 'sip:x',
      }),
    ).toThrow(TypeError);
  });
});

describe('DigestServer', () => {
  it('offers one challenge per algorithm, SHA-256 first, with qop="auth", opaque and one nonce', () => {
    const { server } = makeServer();
    const challenges = server.challenge();
    expect(challenges).toHaveLength(2);
    const [sha, md5] = challenges.map((value) => parseDigestChallenge(value));
    expect(sha?.algorithm).toBe('SHA-256');
    expect(md5?.algorithm).toBe('MD5');
    expect(sha?.qop).toEqual(['auth']);
    expect(sha?.realm).toBe(REALM);
    expect(sha?.opaque).toBeDefined();
    expect(sha?.nonce).toBe(md5?.nonce);
    expect(sha?.stale).toBe(false);
    expect(parseDigestChallenge(firstChallenge(server, true))?.stale).toBe(true);
  });

  it('issues a different nonce for every challenge', () => {
    const { server } = makeServer();
    expect(parseDigestChallenge(firstChallenge(server))?.nonce).not.toBe(
      parseDigestChallenge(firstChallenge(server))?.nonce,
    );
  });

  it('accepts correct SHA-256 and MD5 credentials and exposes the digest-uri', () => {
    const { server } = makeServer();
    // A fresh challenge per algorithm: the values of one challenge share a nonce and thus its nc.
    for (const challenge of [0, 1].map((k) => server.challenge()[k] ?? '')) {
      const result = server.verify(
        { method: 'REGISTER', authorization: answer(challenge) },
        lookup,
      );
      expect(result).toEqual({
        ok: true,
        username: 'alice',
        realm: REALM,
        uri: 'sip:confab.test',
        algorithm: parseDigestChallenge(challenge)?.algorithm,
        qop: 'auth',
      });
    }
  });

  it('accepts the -sess variants when configured', () => {
    const { server } = makeServer({ algorithms: ['SHA-256-sess', 'MD5-sess'] });
    for (const challenge of [0, 1].map((k) => server.challenge()[k] ?? '')) {
      expect(
        server.verify({ method: 'REGISTER', authorization: answer(challenge) }, lookup).ok,
      ).toBe(true);
    }
  });

  it('accepts qop=auth-int over the body', () => {
    const { server } = makeServer();
    const nonce = parseDigestChallenge(firstChallenge(server))?.nonce ?? '';
    const authorization = buildAuthorization(
      `Digest realm="${REALM}", nonce="${nonce}", algorithm=SHA-256, qop="auth-int"`,
      {
        username: 'alice',
        password: 'wonderland',
        method: 'INVITE',
        uri: 'sip:bob@confab.test',
        body: 'v=0\r\n',
      },
    );
    expect(server.verify({ method: 'INVITE', authorization, body: 'v=0\r\n' }, lookup).ok).toBe(
      true,
    );
    const tampered = authorization.replace('nc=00000001', 'nc=00000002');
    expect(
      server.verify({ method: 'INVITE', authorization: tampered, body: 'v=1\r\n' }, lookup),
    ).toMatchObject({
      ok: false,
      reason: 'bad-response',
    });
  });

  it('rejects a wrong password as bad-response, not stale', () => {
    const { server } = makeServer();
    const result = server.verify(
      { method: 'REGISTER', authorization: answer(firstChallenge(server), { password: 'guess' }) },
      lookup,
    );
    expect(result).toEqual({
      ok: false,
      reason: 'bad-response',
      stale: false,
      username: 'alice',
      uri: 'sip:confab.test',
    });
  });

  it('rejects credentials computed for another method', () => {
    const { server } = makeServer();
    const authorization = answer(firstChallenge(server));
    expect(server.verify({ method: 'INVITE', authorization }, lookup)).toMatchObject({
      ok: false,
      reason: 'bad-response',
    });
  });

  it('rejects an unknown user', () => {
    const { server } = makeServer();
    const authorization = answer(firstChallenge(server), { username: 'mallory' });
    expect(server.verify({ method: 'REGISTER', authorization }, lookup)).toMatchObject({
      ok: false,
      reason: 'unknown-user',
      username: 'mallory',
    });
  });

  it('rejects a wrong realm', () => {
    const { server } = makeServer();
    const authorization = answer(
      firstChallenge(server).replace(`realm="${REALM}"`, 'realm="elsewhere"'),
    );
    expect(server.verify({ method: 'REGISTER', authorization }, lookup)).toMatchObject({
      ok: false,
      reason: 'bad-realm',
    });
  });

  it('picks the credentials of its own realm among several Authorization values (RFC 3261 §22.4)', () => {
    const { server } = makeServer();
    const other =
      'Digest username="x", realm="proxy.example", nonce="n", uri="sip:x", response="00"';
    const mine = answer(firstChallenge(server));
    expect(server.verify({ method: 'REGISTER', authorization: [other, mine] }, lookup).ok).toBe(
      true,
    );
    expect(
      server.verify({ method: 'REGISTER', authorization: [other, other] }, lookup),
    ).toMatchObject({
      reason: 'bad-realm',
    });
  });

  it('rejects a forged nonce and a nonce from a server with another secret as bad-nonce', () => {
    const { server } = makeServer();
    const challenge = firstChallenge(server);
    const nonce = parseDigestChallenge(challenge)?.nonce ?? '';
    const flipped = (nonce.startsWith('A') ? 'B' : 'A') + nonce.slice(1);
    const forged = answer(challenge.replace(nonce, flipped));
    expect(server.verify({ method: 'REGISTER', authorization: forged }, lookup)).toMatchObject({
      ok: false,
      reason: 'bad-nonce',
      stale: false,
    });
    const stranger = new DigestServer({
      realm: REALM,
      secret: 'another secret',
      clock: new FakeClock(),
    });
    const foreign = answer(firstChallenge(stranger));
    expect(server.verify({ method: 'REGISTER', authorization: foreign }, lookup)).toMatchObject({
      reason: 'bad-nonce',
    });
    const short = answer(challenge.replace(nonce, 'abc'));
    expect(server.verify({ method: 'REGISTER', authorization: short }, lookup)).toMatchObject({
      reason: 'bad-nonce',
    });
  });

  it('reports an expired nonce with correct credentials as stale, and the new challenge carries stale=true', () => {
    const { server, clock } = makeServer();
    const challenge = firstChallenge(server);
    clock.advance(300_001);
    const result = server.verify({ method: 'REGISTER', authorization: answer(challenge) }, lookup);
    expect(result).toMatchObject({ ok: false, reason: 'stale', stale: true });
    const retry = firstChallenge(server, true);
    expect(parseDigestChallenge(retry)?.stale).toBe(true);
    expect(server.verify({ method: 'REGISTER', authorization: answer(retry) }, lookup).ok).toBe(
      true,
    );
  });

  it('still accepts a nonce at the end of its lifetime', () => {
    const { server, clock } = makeServer();
    const challenge = firstChallenge(server);
    clock.advance(300_000);
    expect(server.verify({ method: 'REGISTER', authorization: answer(challenge) }, lookup).ok).toBe(
      true,
    );
  });

  it('reports an expired nonce with a wrong password as bad-response, not stale', () => {
    const { server, clock } = makeServer();
    const challenge = firstChallenge(server);
    clock.advance(400_000);
    const result = server.verify(
      { method: 'REGISTER', authorization: answer(challenge, { password: 'nope' }) },
      lookup,
    );
    expect(result).toMatchObject({ reason: 'bad-response', stale: false });
  });

  it('rejects a replayed nonce count and accepts increasing ones', () => {
    const { server } = makeServer();
    const challenge = firstChallenge(server);
    const first = answer(challenge, { nc: 1 });
    expect(server.verify({ method: 'REGISTER', authorization: first }, lookup).ok).toBe(true);
    expect(server.verify({ method: 'REGISTER', authorization: first }, lookup)).toMatchObject({
      ok: false,
      reason: 'replay',
      stale: true,
    });
    expect(
      server.verify({ method: 'REGISTER', authorization: answer(challenge, { nc: 3 }) }, lookup).ok,
    ).toBe(true);
    expect(
      server.verify({ method: 'REGISTER', authorization: answer(challenge, { nc: 2 }) }, lookup),
    ).toMatchObject({
      reason: 'replay',
    });
  });

  it('does not re-open a replay window when the nonce table overflows', () => {
    const { server, clock } = makeServer({ maxTrackedNonces: 2 });
    const challenges = [0, 1, 2].map(() => {
      clock.advance(10);
      return firstChallenge(server);
    });
    const used = challenges.map((challenge) => answer(challenge));
    for (const authorization of used) {
      expect(server.verify({ method: 'REGISTER', authorization }, lookup).ok).toBe(true);
    }
    // The first nonce's record was evicted: its replay must still be refused.
    const replay = server.verify({ method: 'REGISTER', authorization: used[0] }, lookup);
    expect(replay).toMatchObject({ ok: false, stale: true });
    expect(
      server.verify({ method: 'REGISTER', authorization: answer(firstChallenge(server)) }, lookup)
        .ok,
    ).toBe(true);
  });

  it('accepts RFC 2069 credentials (no qop) once per nonce', () => {
    const { server } = makeServer();
    const nonce = parseDigestChallenge(firstChallenge(server))?.nonce ?? '';
    const legacy = buildAuthorization(`Digest realm="${REALM}", nonce="${nonce}"`, {
      username: 'alice',
      password: 'wonderland',
      method: 'REGISTER',
      uri: 'sip:confab.test',
    });
    expect(server.verify({ method: 'REGISTER', authorization: legacy }, lookup)).toMatchObject({
      ok: true,
      qop: undefined,
    });
    expect(server.verify({ method: 'REGISTER', authorization: legacy }, lookup)).toMatchObject({
      reason: 'replay',
    });
  });

  it('refuses RFC 2069 credentials when allowWithoutQop is false', () => {
    const { server } = makeServer({ allowWithoutQop: false });
    const nonce = parseDigestChallenge(firstChallenge(server))?.nonce ?? '';
    const legacy = buildAuthorization(
      `Digest realm="${REALM}", nonce="${nonce}", algorithm=SHA-256`,
      {
        username: 'alice',
        password: 'wonderland',
        method: 'REGISTER',
        uri: 'sip:confab.test',
      },
    );
    expect(server.verify({ method: 'REGISTER', authorization: legacy }, lookup)).toMatchObject({
      reason: 'malformed',
    });
  });

  it('checks the digest-uri with the caller-supplied predicate', () => {
    const { server } = makeServer();
    const authorization = answer(firstChallenge(server), { uri: 'sip:other.example' });
    const seen: string[] = [];
    const result = server.verify(
      {
        method: 'REGISTER',
        authorization,
        uriMatches: (uri) => {
          seen.push(uri);
          return uri === 'sip:confab.test';
        },
      },
      lookup,
    );
    expect(result).toMatchObject({ ok: false, reason: 'bad-uri', uri: 'sip:other.example' });
    expect(seen).toEqual(['sip:other.example']);
  });

  it('rejects an algorithm it did not offer', () => {
    const { server } = makeServer({ algorithms: ['SHA-256'] });
    const nonce = parseDigestChallenge(firstChallenge(server))?.nonce ?? '';
    const md5 = answer(`Digest realm="${REALM}", nonce="${nonce}", algorithm=MD5, qop="auth"`);
    expect(server.verify({ method: 'REGISTER', authorization: md5 }, lookup)).toMatchObject({
      reason: 'malformed',
    });
  });

  it('reports missing credentials', () => {
    const { server } = makeServer();
    for (const authorization of [undefined, '', '   ', []]) {
      expect(server.verify({ method: 'REGISTER', authorization }, lookup)).toEqual({
        ok: false,
        reason: 'missing',
        stale: false,
      });
    }
  });

  it.each([
    ['another scheme', 'Basic YWxpY2U6d29uZGVybGFuZA=='],
    ['no response', `Digest username="alice", realm="${REALM}", nonce="n", uri="sip:x"`],
    [
      'qop without nc',
      `Digest username="alice", realm="${REALM}", nonce="n", uri="sip:x", response="0", qop=auth, cnonce="c"`,
    ],
    [
      'a bad nc',
      `Digest username="alice", realm="${REALM}", nonce="n", uri="sip:x", response="0", qop=auth, cnonce="c", nc=xyz`,
    ],
    [
      'nc zero',
      `Digest username="alice", realm="${REALM}", nonce="n", uri="sip:x", response="0", qop=auth, cnonce="c", nc=00000000`,
    ],
    [
      'an unknown qop',
      `Digest username="alice", realm="${REALM}", nonce="n", uri="sip:x", response="0", qop=x`,
    ],
    [
      'userhash',
      `Digest username="abc", realm="${REALM}", nonce="n", uri="sip:x", response="0", userhash=true`,
    ],
    [
      'an unknown algorithm',
      `Digest username="alice", realm="${REALM}", nonce="n", uri="sip:x", response="0", algorithm=SHA-1`,
    ],
    ['an unterminated quote', `Digest username="alice, realm="${REALM}`],
    ['binary garbage', '\u0000\u0001Digest\u00ff=="'],
  ])('rejects %s as malformed without throwing', (_name, authorization) => {
    const { server } = makeServer();
    expect(server.verify({ method: 'REGISTER', authorization }, lookup)).toMatchObject({
      ok: false,
      reason: 'malformed',
    });
  });

  it('validates its options', () => {
    expect(() => new DigestServer({ realm: '', secret: 'x' })).toThrow(TypeError);
    expect(() => new DigestServer({ realm: 'a\r\nb', secret: 'x' })).toThrow(TypeError);
    expect(() => new DigestServer({ realm: 'r', secret: '' })).toThrow(TypeError);
    expect(() => new DigestServer({ realm: 'r', secret: 'x', algorithms: [] })).toThrow(TypeError);
  });
});
