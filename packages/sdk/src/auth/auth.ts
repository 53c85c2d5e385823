/**
 * `Auth`: logs a user in and keeps their {@link Session} (spec wazo-js-sdk §2).
 *
 * Login is the `@wazo/sdk` sequence (spec §2.3), so any Wazo-compatible server works:
 * 1. `POST /api/auth/0.1/token` with HTTP Basic credentials and `{backend, expiration}`;
 * 2. `GET /api/confd/1.1/users/{uuid}` for the profile and lines;
 * 3. per line, `GET …/lines/{id}/associated/endpoints/sip?view=merged` for the SIP credentials
 *    (a 404 means "no SIP endpoint" and is skipped).
 * If step 2 or 3 fails, the token is deleted again and the error is rethrown.
 *
 * Not yet: refresh tokens, `logInViaRefreshToken`, `validateToken`, tenants/domains, the
 * automatic websocket opening of `@wazo/sdk` (its `Websocket` arrives with the next release).
 */
import { InvalidStateError } from '@confab/core';
import { RestClient } from '../api/rest-client.js';
import { isApiError } from '../errors.js';
import { Profile, Session, SipLine } from '../domain/session.js';
import type { SdkRuntime } from '../runtime.js';
import { parseServerAddress, type ServerAddress } from '../server-address.js';
import { parseSipEndpoint, parseToken, parseUser, type TokenData } from './wire.js';

/** The wazo-auth backend of local users. */
export const BACKEND_WAZO = 'wazo_user';

/** Token lifetime asked for at login, in seconds (`@wazo/sdk`'s default). */
export const DEFAULT_EXPIRATION = 3600;

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
  #server: ServerAddress | undefined;
  #session: Session | undefined;

  /** @param runtime - shared with the other components of the same SDK instance */
  constructor(runtime: SdkRuntime) {
    this.#runtime = runtime;
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
    const client = new RestClient(this.#runtime.platform.fetch, server);
    const token = await client.request({
      method: 'POST',
      path: '/api/auth/0.1/token',
      headers: { Authorization: `Basic ${base64Utf8(`${username}:${password}`)}` },
      body: {
        backend: options.backend ?? BACKEND_WAZO,
        expiration: options.expiration ?? DEFAULT_EXPIRATION,
      },
      parse: parseToken,
    });
    try {
      const session = await this.#loadSession(client, token);
      this.#session = session;
      this.#runtime.logger.info({ userUuid: session.uuid }, 'logged in');
      return session;
    } catch (error) {
      await this.#deleteToken(client, token.token);
      throw error;
    }
  }

  async #loadSession(client: RestClient, token: TokenData): Promise<Session> {
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
   * Revokes the token (`DELETE /api/auth/0.1/token/{token}`) and forgets the session. Never
   * rejects: a failed revocation is logged (the token then expires on its own). It does not
   * disconnect the phone; call `Phone.disconnect()` first.
   */
  async logout(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    const server = this.#server;
    if (session === undefined || server === undefined) {
      return;
    }
    await this.#deleteToken(new RestClient(this.#runtime.platform.fetch, server), session.token);
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
