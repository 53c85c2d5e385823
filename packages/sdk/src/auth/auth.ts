/**
 * `Auth`: logs a user in and keeps their {@link Session} (spec wazo-js-sdk §2).
 *
 * Login is the `@wazo/sdk` sequence (spec §2.3), so any Wazo-compatible server works:
 * 1. `POST /api/auth/0.1/token` with HTTP Basic credentials and `{backend, expiration}`;
 * 2. `GET /api/confd/1.1/users/{uuid}` for the profile and lines;
 * 3. per line, `GET …/lines/{id}/associated/endpoints/sip?view=merged` for the SIP credentials
 *    (a 404 means "no SIP endpoint" and is skipped).
 * If step 2 or 3 fails, the token is deleted again and the error is rethrown. Once logged in,
 * the event websocket is opened (through {@link AuthHooks}), as `@wazo/sdk` does.
 *
 * Token refresh (spec wazo-server-protocols §3.1): with a client id (`setClientId()`/`init()`),
 * login asks for `access_type: offline` and gets a refresh token; the SDK then renews the access
 * token shortly before it expires and when a request gets 401, with `POST /token`
 * `{refresh_token, client_id}` (single flight), hands the new token to the event websocket
 * (`token` op) and calls the `setOnRefreshToken` callback. Unlike `@wazo/sdk`, which refreshes
 * only on 401, the renewal before expiry keeps the event websocket alive (the server closes it
 * with 4003 when its token expires, spec §8.5).
 *
 * Not yet: `validateToken`, tenants/domains, SAML, edge servers.
 */
import { InvalidStateError } from '@confab/core';
import { RestClient, type RestRequest } from '../api/rest-client.js';
import { isApiError } from '../errors.js';
import { Profile, Session, SipLine } from '../domain/session.js';
import type { SdkRuntime } from '../runtime.js';
import { parseServerAddress, type ServerAddress } from '../server-address.js';
import { parseSipEndpoint, parseToken, parseUser, type TokenData } from './wire.js';

/** The wazo-auth backend of local users. */
export const BACKEND_WAZO = 'wazo_user';

/** Token lifetime asked for at login, in seconds (`@wazo/sdk`'s default). */
export const DEFAULT_EXPIRATION = 3600;

/** How long before expiry the token is renewed, at most (and at most a fifth of its lifetime). */
const REFRESH_MARGIN_MS = 60_000;

/** `setTimeout` takes at most a signed 32-bit delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the rest of the SDK instance hears from {@link ConfabAuth}. */
export interface AuthHooks {
  /** Login succeeded (the websocket opens here). */
  onAuthenticated?(server: ServerAddress, session: Session): void;
  /** The access token was renewed (the websocket swaps it here). */
  onTokenRefreshed?(token: string, session: Session): void;
  /** `logout()` started (the websocket closes here). */
  onLoggedOut?(): void;
}

/** Options of {@link ConfabAuth.logIn}. */
export interface LogInOptions {
  /** Token lifetime in seconds. @default 3600 */
  expiration?: number;
  /** wazo-auth backend. @default 'wazo_user' */
  backend?: string;
}

/** Base64 of the UTF-8 bytes of `text` (`btoa` alone only takes Latin-1). */
function base64Utf8(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) {
    binary += String.fromCharCode(byte);
  }
  return btoa(binary);
}

export class ConfabAuth {
  readonly BACKEND_WAZO = BACKEND_WAZO;
  readonly #runtime: SdkRuntime;
  readonly #hooks: AuthHooks;
  #server: ServerAddress | undefined;
  #session: Session | undefined;
  #clientId: string | undefined;
  #expiration = DEFAULT_EXPIRATION;
  #backend = BACKEND_WAZO;
  #refreshing: Promise<string | null> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #onRefreshToken: ((token: string, session: Session) => void) | undefined;
  #onRefreshTokenError: ((error: unknown) => void) | undefined;
  /** The error callback fires once until a refresh succeeds (as in `@wazo/sdk`). */
  #refreshErrorReported = false;

  /**
   * @param runtime - shared with the other components of the same SDK instance
   * @param hooks - how the instance's Websocket follows the session
   */
  constructor(runtime: SdkRuntime, hooks: AuthHooks = {}) {
    this.#runtime = runtime;
    this.#hooks = hooks;
  }

  /**
   * `@wazo/sdk` `Auth.init(clientId, expiration)`: the client id that enables refresh tokens,
   * and the token lifetime asked for at login (seconds).
   */
  init(clientId: string, expiration: number = DEFAULT_EXPIRATION): void {
    this.setClientId(clientId);
    this.#expiration = expiration;
  }

  /** Enables refresh tokens: later logins ask for `access_type: offline` with this client id. */
  setClientId(clientId: string): void {
    if (clientId === '' || clientId.length > 1024) {
      throw new TypeError('Auth.setClientId(): a client id has 1 to 1024 characters');
    }
    this.#clientId = clientId;
  }

  getClientId(): string | undefined {
    return this.#clientId;
  }

  /** Called with the new token and session after every refresh. */
  setOnRefreshToken(callback: ((token: string, session: Session) => void) | undefined): void {
    this.#onRefreshToken = callback;
  }

  /** Called when a refresh fails (once until a refresh succeeds again). */
  setOnRefreshTokenError(callback: ((error: unknown) => void) | undefined): void {
    this.#onRefreshTokenError = callback;
  }

  /**
   * Sets the server: `host`, `host:port`, or an `http://`/`https://` origin. Without a scheme the
   * SDK speaks HTTPS and WSS, as `@wazo/sdk` does. Must be called before {@link logIn}.
   * @throws TypeError for a malformed address
   * @example Auth.setHost('confab.example.com'); Auth.setHost('http://localhost:8080');
   */
  setHost(host: string): void {
    this.#server = parseServerAddress(host);
  }

  /** The host as given to {@link setHost}. */
  getHost(): string | undefined {
    return this.#server?.input;
  }

  /** The parsed server address (used by `Phone` to build the SIP WebSocket URL). */
  getServer(): ServerAddress | undefined {
    return this.#server;
  }

  /**
   * Logs in and loads the profile and SIP lines.
   * @throws InvalidStateError without a host; ApiError on any failed request (a wrong password is
   *   `API_ERROR` with status 401)
   */
  async logIn(username: string, password: string, options: LogInOptions = {}): Promise<Session> {
    const server = this.#server;
    if (server === undefined) {
      throw new InvalidStateError('Auth.setHost() must be called before Auth.logIn()');
    }
    this.#backend = options.backend ?? BACKEND_WAZO;
    if (options.expiration !== undefined) {
      this.#expiration = options.expiration;
    }
    const client = new RestClient(this.#runtime.platform.fetch, server);
    const clientId = this.#clientId;
    const token = await client.request({
      method: 'POST',
      path: '/api/auth/0.1/token',
      headers: { Authorization: `Basic ${base64Utf8(`${username}:${password}`)}` },
      body: {
        backend: this.#backend,
        expiration: this.#expiration,
        ...(clientId === undefined ? {} : { access_type: 'offline', client_id: clientId }),
      },
      parse: parseToken,
    });
    return this.#authenticate(client, server, token, token.refreshToken);
  }

  /**
   * Logs in without a password, with a refresh token of an earlier offline login (needs the
   * client id it was issued to, see {@link setClientId}).
   * @throws InvalidStateError without a host or client id; ApiError (401 for an unknown token)
   */
  async logInViaRefreshToken(refreshToken: string): Promise<Session> {
    const server = this.#server;
    const clientId = this.#clientId;
    if (server === undefined || clientId === undefined) {
      throw new InvalidStateError(
        'Auth.setHost() and Auth.setClientId() must be called before Auth.logInViaRefreshToken()',
      );
    }
    const client = new RestClient(this.#runtime.platform.fetch, server);
    const token = await client.request({
      method: 'POST',
      path: '/api/auth/0.1/token',
      body: this.#refreshBody(refreshToken, clientId),
      parse: parseToken,
    });
    return this.#authenticate(client, server, token, refreshToken);
  }

  async #authenticate(
    client: RestClient,
    server: ServerAddress,
    token: TokenData,
    refreshToken: string | undefined,
  ): Promise<Session> {
    let session: Session;
    try {
      session = await this.#loadSession(client, token, refreshToken);
    } catch (error) {
      await this.#deleteToken(client, token.token);
      throw error;
    }
    this.#session = session;
    this.#refreshErrorReported = false;
    this.#scheduleRefresh(session);
    this.#runtime.logger.info({ userUuid: session.uuid }, 'logged in');
    this.#hooks.onAuthenticated?.(server, session);
    return session;
  }

  #refreshBody(refreshToken: string, clientId: string): Record<string, unknown> {
    return {
      backend: this.#backend,
      expiration: this.#expiration,
      refresh_token: refreshToken,
      client_id: clientId,
    };
  }

  /**
   * Renews the access token now with the refresh token (single flight: concurrent callers share
   * one request). Resolves with the new token, or null when there is no refresh token or the
   * refresh failed (the `setOnRefreshTokenError` callback then hears why).
   */
  forceRefreshToken(): Promise<string | null> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<string | null> {
    const session = this.#session;
    const server = this.#server;
    const clientId = this.#clientId;
    if (
      session === undefined ||
      server === undefined ||
      clientId === undefined ||
      session.refreshToken === undefined
    ) {
      return null;
    }
    let token: TokenData;
    try {
      token = await new RestClient(this.#runtime.platform.fetch, server).request({
        method: 'POST',
        path: '/api/auth/0.1/token',
        body: this.#refreshBody(session.refreshToken, clientId),
        parse: parseToken,
      });
    } catch (error) {
      this.#runtime.logger.warn({ err: error }, 'token refresh failed');
      if (!this.#refreshErrorReported) {
        this.#refreshErrorReported = true;
        this.#onRefreshTokenError?.(error);
      }
      return null;
    }
    // A logout (or another login) while the request was in flight wins.
    if (this.#session !== session) {
      return null;
    }
    const renewed = session.withToken({
      token: token.token,
      sessionUuid: token.sessionUuid,
      expiresAt: token.expiresAt,
      acl: token.acl,
    });
    this.#session = renewed;
    this.#refreshErrorReported = false;
    this.#scheduleRefresh(renewed);
    this.#runtime.logger.debug({}, 'token refreshed');
    this.#hooks.onTokenRefreshed?.(renewed.token, renewed);
    this.#onRefreshToken?.(renewed.token, renewed);
    return renewed.token;
  }

  /** Renews shortly before `session` expires, when it can be renewed at all. */
  #scheduleRefresh(session: Session): void {
    this.#clearRefreshTimer();
    if (session.refreshToken === undefined || session.expiresAt === undefined) {
      return;
    }
    const left = session.expiresAt.getTime() - Date.now();
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, left - Math.min(REFRESH_MARGIN_MS, left / 5)));
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      void this.forceRefreshToken();
    }, delay);
  }

  #clearRefreshTimer(): void {
    if (this.#refreshTimer !== undefined) {
      clearTimeout(this.#refreshTimer);
      this.#refreshTimer = undefined;
    }
  }

  /**
   * A REST request with the session's token (`/api/calld/…`, `/api/confd/…`). A 401 triggers one
   * token refresh and one replay, as in `@wazo/sdk` (spec wazo-js-sdk §2.5).
   * @throws InvalidStateError when not logged in; ApiError
   */
  async request<T>(request: Omit<RestRequest<T>, 'token'>): Promise<T> {
    const session = this.#session;
    const server = this.#server;
    if (session === undefined || server === undefined) {
      throw new InvalidStateError('not logged in');
    }
    const client = new RestClient(this.#runtime.platform.fetch, server);
    try {
      return await client.request({ ...request, token: session.token });
    } catch (error) {
      if (!isApiError(error) || error.status !== 401 || session.refreshToken === undefined) {
        throw error;
      }
      const token = await this.forceRefreshToken();
      if (token === null) {
        throw error;
      }
      return client.request({ ...request, token });
    }
  }

  async #loadSession(
    client: RestClient,
    token: TokenData,
    refreshToken: string | undefined,
  ): Promise<Session> {
    const uuid = encodeURIComponent(token.userUuid);
    const user = await client.request({
      method: 'GET',
      path: `/api/confd/1.1/users/${uuid}`,
      token: token.token,
      parse: parseUser,
    });
    const sipLines: SipLine[] = [];
    for (const line of user.lines) {
      try {
        const endpoint = await client.request({
          method: 'GET',
          path: `/api/confd/1.1/users/${uuid}/lines/${encodeURIComponent(String(line.id))}/associated/endpoints/sip?view=merged`,
          token: token.token,
          parse: parseSipEndpoint,
        });
        sipLines.push(new SipLine({ lineId: line.id, ...endpoint }));
      } catch (error) {
        // A line without a SIP endpoint (SCCP, custom) answers 404: not an error for login.
        if (isApiError(error) && error.status === 404) {
          continue;
        }
        throw error;
      }
    }
    return new Session({
      token: token.token,
      refreshToken,
      uuid: token.userUuid,
      tenantUuid: token.tenantUuid,
      sessionUuid: token.sessionUuid,
      expiresAt: token.expiresAt,
      acl: token.acl,
      profile: new Profile({
        uuid: user.uuid,
        firstName: user.firstName,
        lastName: user.lastName,
        email: user.email,
        lines: user.lines,
        sipLines,
      }),
    });
  }

  /**
   * Closes the event websocket (its listeners are kept), deletes the refresh token
   * (`DELETE /users/me/tokens/{client_id}`, unless `deleteRefreshToken` is false), revokes the
   * token (`DELETE /api/auth/0.1/token/{token}`) and forgets the session. Never rejects: failed
   * revocations are logged. It does not disconnect the phone; call `Phone.disconnect()` first.
   */
  async logout(deleteRefreshToken = true): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    this.#clearRefreshTimer();
    this.#hooks.onLoggedOut?.();
    const server = this.#server;
    if (session === undefined || server === undefined) {
      return;
    }
    const client = new RestClient(this.#runtime.platform.fetch, server);
    const clientId = this.#clientId;
    if (deleteRefreshToken && session.refreshToken !== undefined && clientId !== undefined) {
      try {
        await client.request({
          method: 'DELETE',
          path: `/api/auth/0.1/users/me/tokens/${encodeURIComponent(clientId)}`,
          token: session.token,
          parse: () => undefined,
        });
      } catch (error) {
        this.#runtime.logger.warn({ err: error }, 'refresh token revocation failed');
      }
    }
    await this.#deleteToken(client, session.token);
  }

  async #deleteToken(client: RestClient, token: string): Promise<void> {
    try {
      await client.request({
        method: 'DELETE',
        path: `/api/auth/0.1/token/${encodeURIComponent(token)}`,
        parse: () => undefined,
      });
    } catch (error) {
      this.#runtime.logger.warn({ err: error }, 'token revocation failed');
    }
  }

  /** The current session, if logged in. */
  getSession(): Session | undefined {
    return this.#session;
  }

  getFirstName(): string | undefined {
    return this.#session?.profile.firstName;
  }

  getLastName(): string | undefined {
    return this.#session?.profile.lastName;
  }

  /** "First Last" of the logged-in user. */
  getName(): string | undefined {
    return this.#session?.displayName();
  }
}
