/**
 * HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).
 *
 * Server side: {@link DigestServer} issues challenges (`WWW-Authenticate` / `Proxy-Authenticate`
 * values) and verifies credentials (`Authorization` / `Proxy-Authorization` values). Client side:
 * {@link computeDigestResponse}, {@link buildAuthorization} and {@link selectChallenge}.
 *
 * Compatibility notes:
 * - Algorithms: MD5, SHA-256 and SHA-512-256 (RFC 7616 §3.3, RFC 8760 §2.1) and their `-sess`
 *   variants. A missing `algorithm` means MD5 (RFC 2617 §3.2.1).
 * - qop: challenges offer `auth`. Credentials with `auth-int` are verified too (the caller passes
 *   the body). Credentials without qop (RFC 2069) are accepted when
 *   {@link DigestServerOptions.allowWithoutQop} is set, and then each nonce is valid for one
 *   request only, because without a nonce count a replay cannot be told apart from a new request.
 * - Not supported (rejected as `malformed`): RFC 7616 `userhash=true` and the `username*`
 *   extended notation.
 * - `opaque` is issued (RFC 2617 requires clients to echo it) but not checked: ours is a constant
 *   per realm, the nonce carries all the state.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { ConfabError } from '@confab/core';
import { systemClock, type Clock } from './clock.js';

/** Digest algorithms (RFC 7616 §3.3, RFC 8760 §2). */
export const DigestAlgorithm = {
  MD5: 'MD5',
  MD5Sess: 'MD5-sess',
  SHA256: 'SHA-256',
  SHA256Sess: 'SHA-256-sess',
  SHA512_256: 'SHA-512-256',
  SHA512_256Sess: 'SHA-512-256-sess',
} as const;
export type DigestAlgorithm = (typeof DigestAlgorithm)[keyof typeof DigestAlgorithm];

/** Quality-of-protection values (RFC 2617 §3.2.1). */
export type DigestQop = 'auth' | 'auth-int';

/** Why {@link DigestServer.verify} refused credentials. */
export type DigestFailureReason =
  | 'missing'
  | 'malformed'
  | 'unknown-user'
  | 'bad-realm'
  | 'bad-nonce'
  | 'stale'
  | 'replay'
  | 'bad-response'
  | 'bad-uri';

/** Stable codes of {@link DigestError}. */
export const DigestErrorCode = {
  InvalidChallenge: 'SIP_DIGEST_INVALID_CHALLENGE',
  UnsupportedChallenge: 'SIP_DIGEST_UNSUPPORTED_CHALLENGE',
} as const;
export type DigestErrorCode = (typeof DigestErrorCode)[keyof typeof DigestErrorCode];

/** A challenge the client side cannot answer. */
export class DigestError extends ConfabError {
  override readonly name = 'DigestError';
  declare readonly code: DigestErrorCode;

  protected constructor(code: DigestErrorCode, message: string) {
    super(code, message);
  }

  static invalidChallenge(detail: string): DigestError {
    return new DigestError(DigestErrorCode.InvalidChallenge, `invalid digest challenge: ${detail}`);
  }

  static unsupported(detail: string): DigestError {
    return new DigestError(
      DigestErrorCode.UnsupportedChallenge,
      `unsupported digest challenge: ${detail}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Header grammar
// ---------------------------------------------------------------------------------------------

/** Longest credentials/challenge value we parse; real ones are a few hundred bytes. */
const MAX_HEADER_LENGTH = 8192;
/** Most auth-params we accept in one value (RFC 7616 defines about a dozen). */
const MAX_PARAMS = 32;

/** A parsed challenge or credentials value: the scheme and its auth-params. */
export interface AuthHeader {
  /** The scheme as sent (`Digest`); compare case-insensitively. */
  readonly scheme: string;
  /** Parameter names lower-cased; quoted values unquoted and unescaped. */
  readonly params: ReadonlyMap<string, string>;
}

const TOKEN_CHARS = /^[A-Za-z0-9\-.!%*_+`'~]$/;

function isTokenChar(ch: string): boolean {
  return TOKEN_CHARS.test(ch);
}

function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';
}

/**
 * Parses `scheme auth-param *("," auth-param)` (RFC 3261 §25.1 `challenge` / `credentials`),
 * with case-insensitive parameter names, quoted-strings with backslash escapes (commas inside
 * quotes are data), tolerated empty list elements and unquoted values that are not strictly
 * tokens (some clients send `uri=sip:a@b`). Returns undefined for anything malformed: an
 * unterminated quote, a parameter without `=`, a duplicate parameter, an oversized value.
 * Never throws; runs in linear time.
 */
export function parseAuthHeader(value: string): AuthHeader | undefined {
  if (value.length > MAX_HEADER_LENGTH) {
    return undefined;
  }
  let i = 0;
  const n = value.length;
  const skipSpace = (): void => {
    while (i < n && isSpace(value[i])) {
      i++;
    }
  };
  skipSpace();
  const schemeStart = i;
  while (i < n && isTokenChar(value.charAt(i))) {
    i++;
  }
  const scheme = value.slice(schemeStart, i);
  if (scheme.length === 0 || (i < n && !isSpace(value[i]))) {
    return undefined;
  }
  const params = new Map<string, string>();
  for (;;) {
    skipSpace();
    // Empty list elements ("a=1, , b=2") are allowed by the #rule.
    while (i < n && value[i] === ',') {
      i++;
      skipSpace();
    }
    if (i >= n) {
      break;
    }
    const nameStart = i;
    while (i < n && isTokenChar(value.charAt(i))) {
      i++;
    }
    const name = value.slice(nameStart, i).toLowerCase();
    skipSpace();
    if (name.length === 0 || value[i] !== '=') {
      return undefined;
    }
    i++;
    skipSpace();
    let paramValue: string;
    if (value[i] === '"') {
      i++;
      let text = '';
      let closed = false;
      while (i < n) {
        const ch = value.charAt(i);
        if (ch === '\\' && i + 1 < n) {
          text += value.charAt(i + 1);
          i += 2;
        } else if (ch === '"') {
          i++;
          closed = true;
          break;
        } else {
          text += ch;
          i++;
        }
      }
      if (!closed) {
        return undefined;
      }
      paramValue = text;
    } else {
      const start = i;
      while (i < n && value[i] !== ',' && !isSpace(value[i]) && value[i] !== '"') {
        i++;
      }
      paramValue = value.slice(start, i);
      if (paramValue.length === 0) {
        return undefined;
      }
    }
    if (params.has(name) || params.size >= MAX_PARAMS) {
      return undefined;
    }
    params.set(name, paramValue);
    skipSpace();
    if (i < n && value[i] !== ',') {
      return undefined;
    }
  }
  return { scheme, params };
}

function hasControlChars(text: string): boolean {
  for (let k = 0; k < text.length; k++) {
    const code = text.charCodeAt(k);
    if (code < 0x20 || code === 0x7f) {
      return true;
    }
  }
  return false;
}

/** Quotes a value for a quoted-string (RFC 3261 §25.1). */
function quote(text: string): string {
  if (hasControlChars(text)) {
    throw new TypeError('digest parameter values must not contain control characters');
  }
  return `"${text.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
}

// ---------------------------------------------------------------------------------------------
// Computation
// ---------------------------------------------------------------------------------------------

const HASH_NAMES: Readonly<Record<string, string>> = {
  md5: 'md5',
  'sha-256': 'sha256',
  'sha-512-256': 'sha512-256',
};

interface AlgorithmInfo {
  readonly canonical: DigestAlgorithm;
  readonly hash: string;
  readonly session: boolean;
}

const ALGORITHMS: ReadonlyMap<string, AlgorithmInfo> = new Map(
  Object.values(DigestAlgorithm).map((canonical) => {
    const lower = canonical.toLowerCase();
    const session = lower.endsWith('-sess');
    const base = session ? lower.slice(0, -'-sess'.length) : lower;
    return [lower, { canonical, hash: HASH_NAMES[base] ?? 'md5', session }] as const;
  }),
);

/** Algorithm tokens are case-insensitive (RFC 7616 §3.3); returns undefined when unknown. */
function algorithmInfo(token: string | undefined): AlgorithmInfo | undefined {
  return ALGORITHMS.get((token ?? DigestAlgorithm.MD5).toLowerCase());
}

function hashHex(hash: string, data: string | Uint8Array): string {
  return createHash(hash).update(data).digest('hex');
}

function formatNc(nc: number): string {
  return nc.toString(16).padStart(8, '0');
}

/** Inputs of {@link computeDigestResponse}. */
export interface DigestResponseInput {
  /** @default 'MD5' */
  readonly algorithm?: DigestAlgorithm | undefined;
  readonly username: string;
  readonly realm: string;
  readonly password: string;
  readonly method: string;
  /** The digest-uri (the Request-URI in SIP, RFC 3261 §22.4). */
  readonly uri: string;
  readonly nonce: string;
  /** Omit for RFC 2069 compatibility (no cnonce/nc). */
  readonly qop?: DigestQop | undefined;
  /** Nonce count: a number or its 8-hex-digit form. Required with qop. */
  readonly nc?: number | string | undefined;
  /** Required with qop and with `-sess` algorithms. */
  readonly cnonce?: string | undefined;
  /** The message body, for qop=auth-int. @default empty */
  readonly body?: Uint8Array | string | undefined;
}

/**
 * Computes the `response` directive (RFC 2617 §3.2.2, RFC 7616 §3.4.1) as lower-case hex.
 *
 * @throws TypeError for an unknown algorithm, or when qop or `-sess` is used without cnonce/nc.
 * @example
 * ```ts
 * computeDigestResponse({ username: 'Mufasa', realm: 'testrealm@host.com', password: 'Circle Of Life',
 *   method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth',
 *   nc: 1, cnonce: '0a4f113b' }); // '6629fae49393a05397450978507c4ef1'
 * ```
 */
export function computeDigestResponse(input: DigestResponseInput): string {
  const info = algorithmInfo(input.algorithm);
  if (!info) {
    throw new TypeError(`unknown digest algorithm ${String(input.algorithm)}`);
  }
  const h = (data: string | Uint8Array): string => hashHex(info.hash, data);
  let ha1 = h(`${input.username}:${input.realm}:${input.password}`);
  if (info.session) {
    if (input.cnonce === undefined) {
      throw new TypeError(`${info.canonical} requires a cnonce`);
    }
    ha1 = h(`${ha1}:${input.nonce}:${input.cnonce}`);
  }
  const a2 =
    input.qop === 'auth-int'
      ? `${input.method}:${input.uri}:${h(input.body ?? '')}`
      : `${input.method}:${input.uri}`;
  const ha2 = h(a2);
  if (input.qop === undefined) {
    return h(`${ha1}:${input.nonce}:${ha2}`);
  }
  if (input.cnonce === undefined || input.nc === undefined) {
    throw new TypeError('qop requires cnonce and nc');
  }
  const nc = typeof input.nc === 'number' ? formatNc(input.nc) : input.nc;
  return h(`${ha1}:${input.nonce}:${nc}:${input.cnonce}:${input.qop}:${ha2}`);
}

// ---------------------------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------------------------

/** A parsed Digest challenge (`WWW-Authenticate` / `Proxy-Authenticate` value). */
export interface DigestChallenge {
  readonly realm: string;
  readonly nonce: string;
  readonly opaque: string | undefined;
  readonly algorithm: DigestAlgorithm;
  /** The qop options offered, lower-cased; empty for an RFC 2069 challenge. */
  readonly qop: readonly string[];
  readonly stale: boolean;
}

/**
 * Parses one Digest challenge; returns undefined when the value is not a well-formed Digest
 * challenge or uses an algorithm this module does not implement. Never throws.
 */
export function parseDigestChallenge(value: string): DigestChallenge | undefined {
  const header = parseAuthHeader(value);
  if (header?.scheme.toLowerCase() !== 'digest') {
    return undefined;
  }
  const realm = header.params.get('realm');
  const nonce = header.params.get('nonce');
  const info = algorithmInfo(header.params.get('algorithm'));
  if (realm === undefined || nonce === undefined || !info) {
    return undefined;
  }
  const qop = (header.params.get('qop') ?? '')
    .split(',')
    .map((option) => option.trim().toLowerCase())
    .filter((option) => option.length > 0);
  return {
    realm,
    nonce,
    opaque: header.params.get('opaque'),
    algorithm: info.canonical,
    qop,
    stale: header.params.get('stale')?.toLowerCase() === 'true',
  };
}

/** Client preference when a server offers several challenges (RFC 8760 §2.4: strongest first). */
const CLIENT_PREFERENCE: readonly DigestAlgorithm[] = [
  DigestAlgorithm.SHA512_256,
  DigestAlgorithm.SHA512_256Sess,
  DigestAlgorithm.SHA256,
  DigestAlgorithm.SHA256Sess,
  DigestAlgorithm.MD5,
  DigestAlgorithm.MD5Sess,
];

/**
 * Picks the challenge to answer among several (RFC 8760 §2.4: a UAC uses the topmost challenge
 * with the strongest algorithm it supports). Values that do not parse are skipped.
 *
 * @param supported - algorithms the caller accepts. @default every implemented algorithm
 */
export function selectChallenge(
  values: readonly string[],
  supported: readonly DigestAlgorithm[] = CLIENT_PREFERENCE,
): DigestChallenge | undefined {
  let best: DigestChallenge | undefined;
  let bestRank = Number.POSITIVE_INFINITY;
  for (const value of values) {
    const challenge = parseDigestChallenge(value);
    if (!challenge || !supported.includes(challenge.algorithm)) {
      continue;
    }
    const rank = CLIENT_PREFERENCE.indexOf(challenge.algorithm);
    if (rank < bestRank) {
      best = challenge;
      bestRank = rank;
    }
  }
  return best;
}

/** Credentials and request data for {@link buildAuthorization}. */
export interface DigestCredentials {
  readonly username: string;
  readonly password: string;
  readonly method: string;
  /** The digest-uri: the Request-URI of the request being authorized (RFC 3261 §22.4). */
  readonly uri: string;
  /** @default a random 128-bit value */
  readonly cnonce?: string | undefined;
  /** Nonce count; increase it when reusing a nonce. @default 1 */
  readonly nc?: number | undefined;
  /** The body, used when the server only offers qop=auth-int. */
  readonly body?: Uint8Array | string | undefined;
}

/**
 * Answers a challenge with an `Authorization` (or `Proxy-Authorization`) value.
 * Chooses qop=auth when offered, auth-int when only that is offered, none for RFC 2069.
 *
 * @throws DigestError `SIP_DIGEST_INVALID_CHALLENGE` when the challenge does not parse,
 *   `SIP_DIGEST_UNSUPPORTED_CHALLENGE` when it offers only unknown qop values.
 */
export function buildAuthorization(
  challenge: string | DigestChallenge,
  credentials: DigestCredentials,
): string {
  const parsed = typeof challenge === 'string' ? parseDigestChallenge(challenge) : challenge;
  if (!parsed) {
    throw DigestError.invalidChallenge('not a Digest challenge with realm and nonce');
  }
  let qop: DigestQop | undefined;
  if (parsed.qop.includes('auth')) {
    qop = 'auth';
  } else if (parsed.qop.includes('auth-int')) {
    qop = 'auth-int';
  } else if (parsed.qop.length > 0) {
    throw DigestError.unsupported(`qop ${parsed.qop.join(',')}`);
  }
  const session = algorithmInfo(parsed.algorithm)?.session ?? false;
  const useCnonce = qop !== undefined || session;
  const cnonce = useCnonce ? (credentials.cnonce ?? randomUUID().replaceAll('-', '')) : undefined;
  const nc = qop !== undefined ? formatNc(credentials.nc ?? 1) : undefined;
  const response = computeDigestResponse({
    algorithm: parsed.algorithm,
    username: credentials.username,
    realm: parsed.realm,
    password: credentials.password,
    method: credentials.method,
    uri: credentials.uri,
    nonce: parsed.nonce,
    qop,
    nc,
    cnonce,
    body: credentials.body,
  });
  const parts = [
    `username=${quote(credentials.username)}`,
    `realm=${quote(parsed.realm)}`,
    `nonce=${quote(parsed.nonce)}`,
    `uri=${quote(credentials.uri)}`,
    `response=${quote(response)}`,
    `algorithm=${parsed.algorithm}`,
  ];
  if (cnonce !== undefined) {
    parts.push(`cnonce=${quote(cnonce)}`);
  }
  if (parsed.opaque !== undefined) {
    parts.push(`opaque=${quote(parsed.opaque)}`);
  }
  if (qop !== undefined && nc !== undefined) {
    parts.push(`qop=${qop}`, `nc=${nc}`);
  }
  return `Digest ${parts.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------------------------

/** Options of {@link DigestServer}. */
export interface DigestServerOptions {
  /** The protection domain, usually the server's domain name (RFC 3261 §22.1). */
  readonly realm: string;
  /** Key of the nonce HMAC. At least 16 random bytes; keep it stable across restarts if wanted. */
  readonly secret: string | Uint8Array;
  /** Lifetime of a nonce; older ones are `stale`. @default 300_000 */
  readonly nonceTtlMs?: number;
  /** @default systemClock */
  readonly clock?: Clock;
  /** Challenges issued, in order of preference (RFC 8760 §2.4). @default ['SHA-256', 'MD5'] */
  readonly algorithms?: readonly DigestAlgorithm[];
  /** Accept RFC 2069 credentials without qop (one request per nonce). @default true */
  readonly allowWithoutQop?: boolean;
  /** Upper bound of the nonce-count table used for replay protection. @default 10_000 */
  readonly maxTrackedNonces?: number;
}

/** A request's credentials, as given to {@link DigestServer.verify}. */
export interface DigestVerifyRequest {
  readonly method: string;
  /**
   * The `Authorization` (or `Proxy-Authorization`) values. With several (RFC 3261 §22.4: one
   * per realm), the first Digest value for this server's realm is used.
   */
  readonly authorization: string | readonly string[] | undefined;
  /** The body, needed for qop=auth-int. */
  readonly body?: Uint8Array | string | undefined;
  /**
   * Optional check of the digest-uri against the Request-URI (RFC 2617 §3.2.2.5); returning
   * false fails the verification with `bad-uri`.
   */
  readonly uriMatches?: ((digestUri: string) => boolean) | undefined;
}

/** Outcome of {@link DigestServer.verify}. */
export type DigestVerifyResult =
  | {
      readonly ok: true;
      readonly username: string;
      readonly realm: string;
      /** The digest-uri, for the caller's own comparison with the Request-URI. */
      readonly uri: string;
      readonly algorithm: DigestAlgorithm;
      readonly qop: DigestQop | undefined;
    }
  | {
      readonly ok: false;
      readonly reason: DigestFailureReason;
      /**
       * True when the credentials were right but the nonce is expired or its count was
       * reused: challenge again with `stale=true` so the client retries without asking the
       * user (RFC 2617 §3.2.1).
       */
      readonly stale: boolean;
      readonly username?: string;
      readonly uri?: string;
    };

interface NonceRecord {
  /** Highest nonce count accepted; {@link NONCE_SPENT} for an RFC 2069 one-time nonce. */
  nc: number;
  readonly issuedAt: number;
}

const NONCE_SPENT = Number.MAX_SAFE_INTEGER;
const NONCE_TIME_BYTES = 6;
const NONCE_RANDOM_BYTES = 10;
const NONCE_MAC_BYTES = 16;
const NONCE_BYTES = NONCE_TIME_BYTES + NONCE_RANDOM_BYTES + NONCE_MAC_BYTES;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Issues and verifies Digest challenges for one realm.
 *
 * Nonces are self-verifying, so no state is kept per challenge: `base64url(time ‖ random ‖
 * HMAC-SHA-256(secret, realm ‖ time ‖ random))`. State is kept only per nonce that has been
 * used, to reject nonce counts that do not increase (replay). That table is bounded: when it
 * overflows, the least recently used entry is dropped and every nonce issued up to that entry's
 * time is answered `stale` from then on, so dropping an entry never re-opens a replay window.
 */
export class DigestServer {
  readonly realm: string;
  #key: Buffer;
  #ttl: number;
  #clock: Clock;
  #algorithms: readonly DigestAlgorithm[];
  #allowWithoutQop: boolean;
  #maxTracked: number;
  #opaque: string;
  #used = new Map<string, NonceRecord>();
  /** Nonces issued at or before this time and absent from {@link #used} may have been evicted. */
  #evictedUpTo = Number.NEGATIVE_INFINITY;

  constructor(options: DigestServerOptions) {
    if (options.realm.length === 0 || hasControlChars(options.realm)) {
      throw new TypeError(
        'DigestServer: realm must be a non-empty string without control characters',
      );
    }
    const key =
      typeof options.secret === 'string'
        ? Buffer.from(options.secret, 'utf8')
        : Buffer.from(options.secret);
    if (key.length === 0) {
      throw new TypeError('DigestServer: secret must not be empty');
    }
    const algorithms = options.algorithms ?? [DigestAlgorithm.SHA256, DigestAlgorithm.MD5];
    if (algorithms.length === 0 || algorithms.some((algorithm) => !algorithmInfo(algorithm))) {
      throw new TypeError('DigestServer: algorithms must be a non-empty list of known algorithms');
    }
    this.realm = options.realm;
    this.#key = key;
    this.#ttl = options.nonceTtlMs ?? 300_000;
    this.#clock = options.clock ?? systemClock;
    this.#algorithms = algorithms;
    this.#allowWithoutQop = options.allowWithoutQop ?? true;
    this.#maxTracked = Math.max(1, options.maxTrackedNonces ?? 10_000);
    this.#opaque = createHmac('sha256', key)
      .update(`opaque\0${this.realm}`)
      .digest()
      .subarray(0, 12)
      .toString('base64url');
  }

  /**
   * Builds the challenge values for a 401/407 response: one per configured algorithm, in order
   * of preference (RFC 8760 §2.4), all with the same fresh nonce and `qop="auth"`.
   */
  challenge(options: { readonly stale?: boolean } = {}): string[] {
    const nonce = this.#newNonce();
    return this.#algorithms.map((algorithm) => {
      const parts = [
        `realm=${quote(this.realm)}`,
        `nonce="${nonce}"`,
        `opaque="${this.#opaque}"`,
        `algorithm=${algorithm}`,
        'qop="auth"',
      ];
      if (options.stale === true) {
        parts.push('stale=true');
      }
      return `Digest ${parts.join(', ')}`;
    });
  }

  /**
   * Verifies credentials. Never throws on malformed input (only `lookup` may throw).
   *
   * Checks, in order: syntax, realm, nonce authenticity, user, response, nonce age, digest-uri,
   * nonce count. `stale` and `replay` are only reported for otherwise correct credentials.
   *
   * @param lookup - returns the plaintext password of a user of a realm, or undefined.
   */
  verify(
    request: DigestVerifyRequest,
    lookup: (username: string, realm: string) => string | undefined,
  ): DigestVerifyResult {
    const fail = (reason: DigestFailureReason, extra: { username?: string; uri?: string } = {}) =>
      ({ ok: false, reason, stale: reason === 'stale' || reason === 'replay', ...extra }) as const;

    const picked = this.#pickCredentials(request.authorization);
    if (typeof picked === 'string') {
      return fail(picked);
    }
    const params = picked;
    const username = params.get('username');
    const realm = params.get('realm');
    const nonce = params.get('nonce');
    const uri = params.get('uri');
    const response = params.get('response')?.toLowerCase();
    if (
      username === undefined ||
      realm === undefined ||
      nonce === undefined ||
      uri === undefined ||
      response === undefined ||
      params.get('userhash')?.toLowerCase() === 'true'
    ) {
      return fail('malformed');
    }
    const who = { username, uri };
    if (realm !== this.realm) {
      return fail('bad-realm', who);
    }
    const info = algorithmInfo(params.get('algorithm'));
    if (!info || !this.#algorithms.includes(info.canonical)) {
      return fail('malformed', who);
    }
    const qopParam = params.get('qop')?.toLowerCase();
    const cnonce = params.get('cnonce');
    const ncText = params.get('nc');
    let qop: DigestQop | undefined;
    let nc = 0;
    if (qopParam === undefined) {
      if (!this.#allowWithoutQop || info.session || ncText !== undefined) {
        return fail('malformed', who);
      }
    } else if (qopParam === 'auth' || qopParam === 'auth-int') {
      qop = qopParam;
      // RFC 2617 §3.2.2: nc-value = 8LHEX; count from 1.
      if (cnonce === undefined || ncText === undefined || !/^[0-9a-fA-F]{8}$/.test(ncText)) {
        return fail('malformed', who);
      }
      nc = Number.parseInt(ncText, 16);
      if (nc === 0) {
        return fail('malformed', who);
      }
    } else {
      return fail('malformed', who);
    }

    const issuedAt = this.#verifyNonce(nonce);
    if (issuedAt === undefined) {
      return fail('bad-nonce', who);
    }
    const password = lookup(username, realm);
    if (password === undefined) {
      return fail('unknown-user', who);
    }
    const expected = computeDigestResponse({
      algorithm: info.canonical,
      username,
      realm,
      password,
      method: request.method,
      uri,
      nonce,
      qop,
      nc: ncText,
      cnonce,
      body: request.body,
    });
    if (!constantTimeEqual(expected, response)) {
      return fail('bad-response', who);
    }
    const now = this.#clock.now();
    if (now - issuedAt > this.#ttl) {
      return fail('stale', who);
    }
    if (request.uriMatches && !request.uriMatches(uri)) {
      return fail('bad-uri', who);
    }
    const count = this.#acceptCount(nonce, issuedAt, qop === undefined ? NONCE_SPENT : nc, now);
    if (count !== 'ok') {
      return fail(count, who);
    }
    return { ok: true, username, realm, uri, algorithm: info.canonical, qop };
  }

  /** Selects the credentials for this realm; returns a failure reason when there are none. */
  #pickCredentials(
    authorization: string | readonly string[] | undefined,
  ): ReadonlyMap<string, string> | 'missing' | 'malformed' | 'bad-realm' {
    const values = (
      typeof authorization === 'string' ? [authorization] : (authorization ?? [])
    ).filter((value) => value.trim().length > 0);
    if (values.length === 0) {
      return 'missing';
    }
    let sawDigest = false;
    for (const value of values) {
      const header = parseAuthHeader(value);
      if (header?.scheme.toLowerCase() !== 'digest') {
        continue;
      }
      sawDigest = true;
      if (values.length === 1 || header.params.get('realm') === this.realm) {
        return header.params;
      }
    }
    return sawDigest ? 'bad-realm' : 'malformed';
  }

  #newNonce(): string {
    const nonce = Buffer.alloc(NONCE_BYTES);
    nonce.writeUIntBE(Math.max(0, Math.floor(this.#clock.now())), 0, NONCE_TIME_BYTES);
    randomBytes(NONCE_RANDOM_BYTES).copy(nonce, NONCE_TIME_BYTES);
    this.#mac(nonce.subarray(0, NONCE_TIME_BYTES + NONCE_RANDOM_BYTES)).copy(
      nonce,
      NONCE_TIME_BYTES + NONCE_RANDOM_BYTES,
    );
    return nonce.toString('base64url');
  }

  /** Returns the nonce's issue time when we issued it, undefined otherwise. */
  #verifyNonce(nonce: string): number | undefined {
    if (nonce.length !== Math.ceil((NONCE_BYTES * 4) / 3) || !BASE64URL.test(nonce)) {
      return undefined;
    }
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== NONCE_BYTES) {
      return undefined;
    }
    const signed = bytes.subarray(0, NONCE_TIME_BYTES + NONCE_RANDOM_BYTES);
    const mac = bytes.subarray(NONCE_TIME_BYTES + NONCE_RANDOM_BYTES);
    if (!timingSafeEqual(mac, this.#mac(signed))) {
      return undefined;
    }
    return bytes.readUIntBE(0, NONCE_TIME_BYTES);
  }

  #mac(data: Uint8Array): Buffer {
    return createHmac('sha256', this.#key)
      .update(this.realm)
      .update('\0')
      .update(data)
      .digest()
      .subarray(0, NONCE_MAC_BYTES);
  }

  /**
   * Records a nonce count. `replay` when it does not exceed the last one (RFC 2617 §3.2.2);
   * `stale` when the nonce's record may have been evicted (see the class comment).
   */
  #acceptCount(
    nonce: string,
    issuedAt: number,
    nc: number,
    now: number,
  ): 'ok' | 'replay' | 'stale' {
    const record = this.#used.get(nonce);
    if (record) {
      if (nc <= record.nc || record.nc === NONCE_SPENT) {
        return 'replay';
      }
      record.nc = nc;
      // Re-insert: Map order is our least-recently-used order.
      this.#used.delete(nonce);
      this.#used.set(nonce, record);
      return 'ok';
    }
    if (issuedAt <= this.#evictedUpTo) {
      return 'stale';
    }
    this.#used.set(nonce, { nc, issuedAt });
    this.#evict(now);
    return 'ok';
  }

  #evict(now: number): void {
    for (const [nonce, record] of this.#used) {
      const expired = now - record.issuedAt > this.#ttl;
      if (!expired && this.#used.size <= this.#maxTracked) {
        break;
      }
      this.#used.delete(nonce);
      if (!expired) {
        this.#evictedUpTo = Math.max(this.#evictedUpTo, record.issuedAt);
      }
    }
  }
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  // The length of a hex digest is public (it follows from the algorithm).
  return left.length === right.length && timingSafeEqual(left, right);
}
