/**
 * The token service: wazo-auth's sessions, access tokens and refresh tokens (spec §3.1–3.4).
 *
 * Restart semantics (deliberate): access tokens and their sessions live in memory only, so a
 * restart invalidates them. The SDK handles that on its own: on a 401 (or a 404 "No such token"
 * from `/token/{t}`) it logs in again with its refresh token and replays the request (spec §2.3).
 * Refresh tokens and the stack uuid (`xivo_uuid`) are persisted in the store's settings
 * (`auth_refresh_tokens`, `stack_uuid`), so offline logins survive a restart.
 *
 * One session per access token, as in Wazo. A user holds at most `maxUserSessions` live sessions
 * (default 100, spec §10); one more login is refused with {@link AuthErrorCode.TooManySessions}.
 *
 * Lifecycle: {@link TokenService.open} → `open` → {@link TokenService.close} → `closed`. Every
 * mutating method of a closed service rejects with `InvalidStateError`; {@link TokenService.verify}
 * of a closed service reports `not_found_or_expired`, so requests in flight during shutdown fail
 * as unauthenticated instead of crashing.
 */
import { randomUUID } from 'node:crypto';
import { InvalidStateError, TypedEmitter, silentLogger } from '@confab/core';
import type { Listener, Logger } from '@confab/core';
import type { Store, User } from '../store/types.js';
import { AccessChecker, DEFAULT_USER_ACL } from './acl.js';
import { AuthError } from './errors.js';
import { RefreshTokenRegistry } from './refresh-tokens.js';
import type {
  AuthToken,
  CreateTokenRequest,
  CreatedToken,
  RefreshTokenInfo,
  SessionInfo,
  TokenMetadata,
  TokenServiceEvents,
  VerifyResult,
} from './types.js';
import type { RefreshTokenRecord } from './refresh-tokens.js';

/** The settings key of the stack uuid (`xivo_uuid`). */
export const STACK_UUID_SETTING = 'stack_uuid';

/** Token lifetime bounds in seconds (wazo-auth `TokenRequestSchema`, spec §3.1). */
export const TOKEN_EXPIRATION = { min: 1, max: 315_360_000, default: 7200 } as const;

/** The only authentication backend Confab implements. */
export const WAZO_USER_BACKEND = 'wazo_user';

/** `client_id` length bounds (spec §3.1). */
export const CLIENT_ID_LENGTH = { min: 1, max: 1024 } as const;

/** States of a {@link TokenService}: `open` → `closed` (terminal). */
export const TokenServiceState = { Open: 'open', Closed: 'closed' } as const;
export type TokenServiceState = (typeof TokenServiceState)[keyof typeof TokenServiceState];

const TRANSITIONS: Readonly<Record<TokenServiceState, readonly TokenServiceState[]>> = {
  open: ['closed'],
  closed: [],
};

/** Options of {@link TokenService.open}. */
export interface TokenServiceOptions {
  readonly store: Pick<Store, 'users' | 'settings'>;
  readonly logger?: Logger;
  /** Epoch milliseconds. @default Date.now */
  readonly clock?: () => number;
  /** Lifetime of a token whose request names none, in seconds. @default 7200 */
  readonly defaultExpiration?: number;
  /** Live sessions per user. @default 100 */
  readonly maxUserSessions?: number;
  /**
   * Refresh tokens per user; the oldest is deleted when a new one would exceed it. Wazo has no
   * limit; this one bounds memory against a user minting client ids. @default 100
   */
  readonly maxUserRefreshTokens?: number;
  /** Period of the expiry sweep, in ms (wazo-auth `token_cleanup_interval`). @default 60000 */
  readonly sweepIntervalMs?: number;
  /** ACL of user tokens. @default DEFAULT_USER_ACL */
  readonly userAcl?: readonly string[];
}

interface SessionRecord {
  readonly token: AuthToken;
  readonly info: SessionInfo;
  /** The refresh token this session was created with or for, if any. */
  readonly refreshTokenUuid: string | undefined;
  expireSoonSent: boolean;
}

/**
 * Issues, verifies and revokes access tokens; owns the refresh tokens.
 *
 * @example
 * ```ts
 * const tokens = await TokenService.open({ store, logger });
 * tokens.on('sessionDeleted', (session) => bus.publish('auth_session_deleted', session));
 * const { token } = await tokens.createToken({ credentials: { login: 'alice', password: 'x' } });
 * tokens.verify(token.token, 'websocketd'); // { ok: true, token }
 * ```
 */
export class TokenService {
  #state: TokenServiceState = TokenServiceState.Open;
  readonly #store: Pick<Store, 'users' | 'settings'>;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #defaultExpiration: number;
  readonly #maxUserSessions: number;
  readonly #maxUserRefreshTokens: number;
  readonly #sweepIntervalMs: number;
  readonly #userAcl: readonly string[];
  readonly #stackUuid: string;
  readonly #refresh: RefreshTokenRegistry;
  readonly #emitter = new TypedEmitter<TokenServiceEvents>();
  readonly #byToken = new Map<string, SessionRecord>();
  readonly #bySession = new Map<string, SessionRecord>();
  readonly #byUser = new Map<string, Set<SessionRecord>>();
  readonly #timer: NodeJS.Timeout;

  private constructor(
    options: TokenServiceOptions,
    stackUuid: string,
    refresh: RefreshTokenRegistry,
    logger: Logger,
  ) {
    this.#store = options.store;
    this.#logger = logger;
    this.#clock = options.clock ?? Date.now;
    this.#defaultExpiration = options.defaultExpiration ?? TOKEN_EXPIRATION.default;
    this.#maxUserSessions = options.maxUserSessions ?? 100;
    this.#maxUserRefreshTokens = options.maxUserRefreshTokens ?? 100;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.#userAcl = Object.freeze([...(options.userAcl ?? DEFAULT_USER_ACL)]);
    this.#stackUuid = stackUuid;
    this.#refresh = refresh;
    this.#timer = setInterval(() => {
      this.sweep();
    }, this.#sweepIntervalMs);
    // The sweep is housekeeping: it must never keep the process alive.
    this.#timer.unref();
  }

  /**
   * Opens the service: reads (or creates and saves) the stack uuid and loads the persisted
   * refresh tokens, then starts the periodic expiry sweep.
   */
  static async open(options: TokenServiceOptions): Promise<TokenService> {
    const logger = (options.logger ?? silentLogger).child({ component: 'tokens' });
    let stackUuid = await options.store.settings.get(STACK_UUID_SETTING);
    if (stackUuid === undefined || stackUuid === '') {
      stackUuid = randomUUID();
      await options.store.settings.set(STACK_UUID_SETTING, stackUuid);
      logger.info({ stackUuid }, 'created the stack uuid');
    }
    const refresh = await RefreshTokenRegistry.load(options.store.settings, logger);
    return new TokenService(options, stackUuid, refresh, logger);
  }

  get state(): TokenServiceState {
    return this.#state;
  }

  /** The stack uuid: `xivo_uuid` of tokens and `uuid` of confd `/infos`. */
  get stackUuid(): string {
    return this.#stackUuid;
  }

  /** Sessions held, all users (expired ones count until a lookup or the sweep drops them). */
  get sessionCount(): number {
    return this.#byToken.size;
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof TokenServiceEvents>(
    event: K,
    listener: Listener<TokenServiceEvents[K]>,
  ): () => void {
    return this.#emitter.on(event, listener);
  }

  /** Removes a listener added with {@link TokenService.on}. */
  off<K extends keyof TokenServiceEvents>(
    event: K,
    listener: Listener<TokenServiceEvents[K]>,
  ): void {
    this.#emitter.off(event, listener);
  }

  /**
   * Authenticates a token request and issues a token (spec §3.1).
   *
   * @throws AuthError `AUTH_INVALID_REQUEST` (400), `AUTH_AUTHENTICATION_FAILED` (401) or
   *   `AUTH_TOO_MANY_SESSIONS` (429).
   * @throws InvalidStateError if the service is closed.
   */
  async createToken(request: CreateTokenRequest): Promise<CreatedToken> {
    this.#assertOpen();
    const expiration = this.#validate(request);
    if ((request.backend ?? WAZO_USER_BACKEND) !== WAZO_USER_BACKEND) {
      throw AuthError.authenticationFailed();
    }
    let user: User | undefined;
    let usedRefreshToken: RefreshTokenRecord | undefined;
    if (request.refreshToken !== undefined) {
      usedRefreshToken = this.#refresh.findByToken(request.refreshToken);
      // spec §3.1: a refresh token presented with another client_id fails authentication.
      if (usedRefreshToken === undefined || usedRefreshToken.clientId !== request.clientId) {
        throw AuthError.authenticationFailed();
      }
      user = await this.#store.users.findByUuid(usedRefreshToken.userUuid);
      if (user === undefined) {
        // The user was deleted: the refresh token is dead too.
        this.#deleteRefreshToken(usedRefreshToken);
        await this.#refresh.persist();
        throw AuthError.authenticationFailed();
      }
      // Deleted while we awaited the store?
      if (this.#refresh.findByToken(request.refreshToken) !== usedRefreshToken) {
        throw AuthError.authenticationFailed();
      }
    } else if (request.samlSessionId === undefined && request.credentials !== undefined) {
      user = await this.#store.users.verifyPassword(
        request.credentials.login,
        request.credentials.password,
      );
    }
    if (user === undefined) {
      throw AuthError.authenticationFailed();
    }
    this.#assertOpen();
    // From here to the end of the issuance nothing awaits: the session limit cannot be raced.
    const now = this.#clock();
    this.#purgeExpiredOf(user.uuid, now);
    const mobile = (request.mobile ?? false) || (usedRefreshToken?.mobile ?? false);
    const offline = request.accessType === 'offline' && request.clientId !== undefined;

    // spec §3.1: a mobile offline login replaces that client's refresh token and ends the user's
    // other mobile refresh tokens, with their sessions.
    const replaced: RefreshTokenRecord[] = [];
    if (offline && mobile) {
      for (const record of this.#refresh.listByUser(user.uuid)) {
        if (record.clientId === request.clientId || record.mobile) {
          replaced.push(record);
        }
      }
    }
    const replacedUuids = new Set(replaced.map((record) => record.uuid));
    const revoking = [...(this.#byUser.get(user.uuid) ?? [])].filter(
      (session) =>
        session.refreshTokenUuid !== undefined && replacedUuids.has(session.refreshTokenUuid),
    );
    const liveSessions = (this.#byUser.get(user.uuid)?.size ?? 0) - revoking.length;
    if (liveSessions >= this.#maxUserSessions) {
      throw AuthError.tooManySessions(this.#maxUserSessions);
    }

    for (const record of replaced) {
      this.#deleteRefreshToken(record);
    }
    for (const session of revoking) {
      this.#deleteSession(session);
    }
    let refreshRecord = usedRefreshToken;
    let created: RefreshTokenRecord | undefined;
    if (offline && request.clientId !== undefined) {
      refreshRecord = this.#refresh.find(user.uuid, request.clientId);
      if (refreshRecord === undefined) {
        created = this.#createRefreshToken(user, request.clientId, mobile, now);
        refreshRecord = created;
      }
    }
    const session = this.#createSession(user, {
      now,
      expiration,
      mobile,
      refreshTokenUuid: refreshRecord?.uuid,
      remoteAddr: request.remoteAddr ?? '',
      userAgent: request.userAgent ?? '',
    });
    if (replaced.length > 0 || created !== undefined) {
      await this.#refresh.persist();
    }
    return {
      token: session.token,
      refreshToken: offline ? refreshRecord?.token : undefined,
      sessionsRevoked: revoking.length,
    };
  }

  /**
   * Checks a token, optionally against a required ACL (already filled with escaped parameters)
   * and a tenant (the `Wazo-Tenant` header or `?tenant=`). Synchronous: every protected route and
   * the event websocket call it per request.
   */
  verify(token: string | undefined, requiredAcl?: string | null, tenant?: string): VerifyResult {
    const record = token === undefined ? undefined : this.#live(token);
    if (record === undefined) {
      return { ok: false, reason: 'not_found_or_expired' };
    }
    if (!record.token.access.matches(requiredAcl)) {
      return {
        ok: false,
        reason: 'missing_permission_or_invalid_tenant',
        denied: 'acl',
        token: record.token,
      };
    }
    // Confab has one tenant per store, without sub-tenants: a token reaches its own tenant only.
    if (tenant !== undefined && tenant !== record.token.tenantUuid) {
      return {
        ok: false,
        reason: 'missing_permission_or_invalid_tenant',
        denied: 'tenant',
        token: record.token,
      };
    }
    return { ok: true, token: record.token };
  }

  /** The live token, or `undefined` if it is unknown or expired. */
  get(token: string): AuthToken | undefined {
    return this.#live(token)?.token;
  }

  /** Deletes a token and its session. Returns whether it existed. */
  revokeToken(token: string): boolean {
    this.#assertOpen();
    const record = this.#live(token);
    if (record === undefined) {
      return false;
    }
    this.#deleteSession(record);
    return true;
  }

  /** The user's live sessions, oldest first. */
  listSessions(userUuid: string): SessionInfo[] {
    this.#purgeExpiredOf(userUuid, this.#clock());
    return [...(this.#byUser.get(userUuid) ?? [])]
      .sort((a, b) => a.token.issuedAt - b.token.issuedAt)
      .map((session) => session.info);
  }

  /** Deletes one session of a user (and its token). Returns whether it existed. */
  revokeSession(userUuid: string, sessionUuid: string): boolean {
    this.#assertOpen();
    const record = this.#bySession.get(sessionUuid);
    if (record?.info.userUuid !== userUuid) {
      return false;
    }
    this.#deleteSession(record);
    return true;
  }

  /** The user's refresh tokens, oldest first. */
  listRefreshTokens(userUuid: string): RefreshTokenInfo[] {
    return this.#refresh.listByUser(userUuid).map(refreshTokenInfo);
  }

  /**
   * Deletes the user's refresh token of `clientId`. Access tokens already issued stay valid
   * (spec §3.4). Returns whether it existed.
   */
  async deleteRefreshToken(userUuid: string, clientId: string): Promise<boolean> {
    this.#assertOpen();
    const record = this.#refresh.find(userUuid, clientId);
    if (record === undefined) {
      return false;
    }
    this.#deleteRefreshToken(record);
    await this.#refresh.persist();
    return true;
  }

  /** Ends everything a user holds: sessions and refresh tokens (call it when deleting a user). */
  async revokeUser(userUuid: string): Promise<void> {
    this.#assertOpen();
    for (const session of [...(this.#byUser.get(userUuid) ?? [])]) {
      this.#deleteSession(session);
    }
    const refreshTokens = this.#refresh.listByUser(userUuid);
    for (const record of refreshTokens) {
      this.#deleteRefreshToken(record);
    }
    if (refreshTokens.length > 0) {
      await this.#refresh.persist();
    }
  }

  /**
   * Deletes expired sessions (emitting `sessionDeleted`) and announces those that expire before
   * the next sweep (`sessionExpireSoon`, once per session; wazo-auth `ExpiredTokenRemover`).
   * Runs every `sweepIntervalMs`; public so that tests and shutdown paths can run it on demand.
   */
  sweep(): void {
    if (this.#state !== TokenServiceState.Open) {
      return;
    }
    const now = this.#clock();
    for (const record of [...this.#byToken.values()]) {
      if (record.token.expiresAt <= now) {
        this.#deleteSession(record);
      } else if (!record.expireSoonSent && record.token.expiresAt - now <= this.#sweepIntervalMs) {
        record.expireSoonSent = true;
        this.#emitter.emit('sessionExpireSoon', record.info);
      }
    }
  }

  /** Stops the sweep and waits for pending writes. Idempotent. Sessions are dropped silently. */
  async close(): Promise<void> {
    if (this.#state === TokenServiceState.Closed) {
      return;
    }
    this.#transition(TokenServiceState.Closed);
    clearInterval(this.#timer);
    this.#byToken.clear();
    this.#bySession.clear();
    this.#byUser.clear();
    await this.#refresh.flush();
  }

  #transition(to: TokenServiceState): void {
    if (!TRANSITIONS[this.#state].includes(to)) {
      throw InvalidStateError.transition('TokenService', this.#state, to);
    }
    this.#logger.debug({ from: this.#state, to }, 'token service state');
    this.#state = to;
  }

  #assertOpen(): void {
    if (this.#state !== TokenServiceState.Open) {
      throw InvalidStateError.closed('TokenService');
    }
  }

  /** Cross-field and range rules of wazo-auth's `TokenRequestSchema`; returns the lifetime. */
  #validate(request: CreateTokenRequest): number {
    const fields: Record<string, string[]> = {};
    const add = (field: string, message: string): void => {
      (fields[field] ??= []).push(message);
    };
    const expiration = request.expiration ?? this.#defaultExpiration;
    if (
      !Number.isInteger(expiration) ||
      expiration < TOKEN_EXPIRATION.min ||
      expiration > TOKEN_EXPIRATION.max
    ) {
      add(
        'expiration',
        `Must be greater than or equal to ${TOKEN_EXPIRATION.min} and less than or equal to ${TOKEN_EXPIRATION.max}.`,
      );
    }
    const clientId = request.clientId;
    if (
      clientId !== undefined &&
      (clientId.length < CLIENT_ID_LENGTH.min || clientId.length > CLIENT_ID_LENGTH.max)
    ) {
      add(
        'client_id',
        `Length must be between ${CLIENT_ID_LENGTH.min} and ${CLIENT_ID_LENGTH.max}.`,
      );
    }
    if (request.accessType === 'offline') {
      if (request.refreshToken !== undefined) {
        add('_schema', 'cannot use the "access_type" "offline" with a refresh token');
      }
      if (clientId === undefined || clientId === '') {
        add('_schema', '"client_id" must be specified when using "access_type" is "offline"');
      }
    }
    if (request.refreshToken !== undefined && (clientId === undefined || clientId === '')) {
      add('_schema', '"client_id" must be specified when using a "refresh_token"');
    }
    if (request.refreshToken !== undefined && request.samlSessionId !== undefined) {
      add('_schema', 'cannot use a "saml_session_id" with a "refresh_token"');
    }
    if (Object.keys(fields).length > 0) {
      throw AuthError.invalidRequest(fields);
    }
    return expiration;
  }

  #createRefreshToken(
    user: User,
    clientId: string,
    mobile: boolean,
    now: number,
  ): RefreshTokenRecord {
    const existing = this.#refresh.listByUser(user.uuid);
    for (const oldest of existing.slice(
      0,
      Math.max(0, existing.length - this.#maxUserRefreshTokens + 1),
    )) {
      this.#deleteRefreshToken(oldest);
    }
    const record = this.#refresh.create(
      { clientId, userUuid: user.uuid, tenantUuid: user.tenantUuid, mobile },
      now,
    );
    this.#emitter.emit('refreshTokenCreated', refreshTokenInfo(record));
    return record;
  }

  #deleteRefreshToken(record: RefreshTokenRecord): void {
    if (this.#refresh.delete(record)) {
      this.#emitter.emit('refreshTokenDeleted', refreshTokenInfo(record));
    }
  }

  #createSession(
    user: User,
    fields: {
      now: number;
      expiration: number;
      mobile: boolean;
      refreshTokenUuid: string | undefined;
      remoteAddr: string;
      userAgent: string;
    },
  ): SessionRecord {
    const sessionUuid = randomUUID();
    const metadata: TokenMetadata = Object.freeze({
      uuid: user.uuid,
      tenant_uuid: user.tenantUuid,
      auth_id: user.uuid,
      pbx_user_uuid: user.uuid,
      xivo_uuid: this.#stackUuid,
      purpose: 'user',
      admin: false,
    });
    const token: AuthToken = Object.freeze({
      token: randomUUID(),
      sessionUuid,
      authId: user.uuid,
      userUuid: user.uuid,
      tenantUuid: user.tenantUuid,
      stackUuid: this.#stackUuid,
      acl: this.#userAcl,
      access: new AccessChecker(this.#userAcl, { userUuid: user.uuid, sessionUuid }),
      metadata,
      issuedAt: fields.now,
      expiresAt: fields.now + fields.expiration * 1000,
      mobile: fields.mobile,
      remoteAddr: fields.remoteAddr,
      userAgent: fields.userAgent,
    });
    const info: SessionInfo = Object.freeze({
      uuid: sessionUuid,
      userUuid: user.uuid,
      tenantUuid: user.tenantUuid,
      mobile: fields.mobile,
    });
    const record: SessionRecord = {
      token,
      info,
      refreshTokenUuid: fields.refreshTokenUuid,
      expireSoonSent: false,
    };
    this.#byToken.set(token.token, record);
    this.#bySession.set(sessionUuid, record);
    let perUser = this.#byUser.get(user.uuid);
    if (perUser === undefined) {
      perUser = new Set();
      this.#byUser.set(user.uuid, perUser);
    }
    perUser.add(record);
    this.#emitter.emit('sessionCreated', info);
    return record;
  }

  #deleteSession(record: SessionRecord): void {
    if (this.#byToken.get(record.token.token) !== record) {
      return;
    }
    this.#byToken.delete(record.token.token);
    this.#bySession.delete(record.info.uuid);
    const perUser = this.#byUser.get(record.info.userUuid);
    perUser?.delete(record);
    if (perUser?.size === 0) {
      this.#byUser.delete(record.info.userUuid);
    }
    this.#emitter.emit('sessionDeleted', record.info);
  }

  /** Looks a token up; an expired one is deleted on the spot (and reported as unknown). */
  #live(token: string): SessionRecord | undefined {
    if (this.#state !== TokenServiceState.Open) {
      return undefined;
    }
    const record = this.#byToken.get(token);
    if (record === undefined) {
      return undefined;
    }
    if (record.token.expiresAt <= this.#clock()) {
      this.#deleteSession(record);
      return undefined;
    }
    return record;
  }

  #purgeExpiredOf(userUuid: string, now: number): void {
    for (const record of [...(this.#byUser.get(userUuid) ?? [])]) {
      if (record.token.expiresAt <= now) {
        this.#deleteSession(record);
      }
    }
  }
}

function refreshTokenInfo(record: RefreshTokenRecord): RefreshTokenInfo {
  return {
    clientId: record.clientId,
    userUuid: record.userUuid,
    tenantUuid: record.tenantUuid,
    mobile: record.mobile,
    createdAt: record.createdAt,
  };
}

export { toWireToken } from './types.js';
export type {
  AuthToken,
  CreateTokenRequest,
  CreatedToken,
  RefreshTokenInfo,
  SessionInfo,
  TokenMetadata,
  TokenServiceEvents,
  VerifyResult,
  WireToken,
} from './types.js';
