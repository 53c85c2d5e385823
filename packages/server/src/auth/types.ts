/**
 * Public types of the token service: the token as the server sees it, its wire form (spec §3.2),
 * sessions, refresh tokens, events and requests.
 */
import type { AccessChecker } from './acl.js';
import type { BasicCredentials } from './basic.js';
import { formatLocalTimestamp, formatUtcTimestamp } from './time.js';

/** `metadata` of a user token (wazo-auth `default_user` + `user_admin_status` plugins). */
export interface TokenMetadata {
  readonly uuid: string;
  readonly tenant_uuid: string;
  readonly auth_id: string;
  readonly pbx_user_uuid: string;
  readonly xivo_uuid: string;
  readonly purpose: 'user';
  /** Confab has no tenant administrators yet: always `false`. */
  readonly admin: boolean;
}

/** A live access token, as the rest of the server sees it. Immutable. */
export interface AuthToken {
  readonly token: string;
  readonly sessionUuid: string;
  /** The user uuid for the `wazo_user` backend. */
  readonly authId: string;
  readonly userUuid: string;
  readonly tenantUuid: string;
  readonly stackUuid: string;
  readonly acl: readonly string[];
  /** The compiled {@link acl}, with `me` and `my_session` bound to this token. */
  readonly access: AccessChecker;
  readonly metadata: TokenMetadata;
  /** Epoch milliseconds. */
  readonly issuedAt: number;
  /** Epoch milliseconds; the token is invalid from this instant on. */
  readonly expiresAt: number;
  readonly mobile: boolean;
  readonly remoteAddr: string;
  readonly userAgent: string;
}

/** The token object of the wire (spec §3.2), `data` of `POST`/`GET /token`. */
export interface WireToken {
  token: string;
  auth_id: string;
  xivo_user_uuid: string | null;
  xivo_uuid: string;
  issued_at: string;
  expires_at: string;
  utc_issued_at: string;
  utc_expires_at: string;
  acl: string[];
  metadata: TokenMetadata;
  session_uuid: string;
  remote_addr: string;
  user_agent: string;
  refresh_token?: string;
}

/** A session as listed by `/users/{uuid}/sessions` and carried by session events. */
export interface SessionInfo {
  readonly uuid: string;
  readonly userUuid: string;
  readonly tenantUuid: string;
  readonly mobile: boolean;
}

/** A refresh token as listed by `/users/{uuid}/tokens` (its secret is never listed). */
export interface RefreshTokenInfo {
  readonly clientId: string;
  readonly userUuid: string;
  readonly tenantUuid: string;
  readonly mobile: boolean;
  /** Epoch milliseconds. */
  readonly createdAt: number;
}

/**
 * Events of a {@link TokenService}, in the vocabulary of the wazo-auth bus events (spec §3.7),
 * for the event bus to publish.
 */
// A type alias, not an interface: only aliases get the implicit index signature `EventMap` needs.
// eslint-disable-next-line @typescript-eslint/consistent-type-definitions
export type TokenServiceEvents = {
  /** `auth_session_created` */
  sessionCreated: [session: SessionInfo];
  /** `auth_session_deleted`: revoked, deleted or expired */
  sessionDeleted: [session: SessionInfo];
  /** `auth_session_expire_soon`: the session expires before the next sweep */
  sessionExpireSoon: [session: SessionInfo];
  /** `auth_refresh_token_created` */
  refreshTokenCreated: [refreshToken: RefreshTokenInfo];
  /** `auth_refresh_token_deleted` */
  refreshTokenDeleted: [refreshToken: RefreshTokenInfo];
};

/** A request for a new token (`POST /token`), after HTTP parsing. */
export interface CreateTokenRequest {
  /** Credentials of a well-formed Basic header, if there was one. */
  readonly credentials?: BasicCredentials | undefined;
  /** @default 'wazo_user' */
  readonly backend?: string | undefined;
  /** Lifetime in seconds. @default 7200 */
  readonly expiration?: number | undefined;
  /** @default 'online' */
  readonly accessType?: 'online' | 'offline' | undefined;
  readonly clientId?: string | undefined;
  readonly refreshToken?: string | undefined;
  /** SAML is not supported: a request carrying it fails authentication. */
  readonly samlSessionId?: string | undefined;
  /** `Wazo-Session-Type: mobile`. @default false */
  readonly mobile?: boolean | undefined;
  readonly remoteAddr?: string | undefined;
  readonly userAgent?: string | undefined;
}

/** The outcome of {@link TokenService.createToken}. */
export interface CreatedToken {
  readonly token: AuthToken;
  /** Only for `access_type: offline` logins (never for a login *with* a refresh token). */
  readonly refreshToken: string | undefined;
  /** Sessions revoked as a side effect (mobile offline login): `Wazo-Sessions-Revoked`. */
  readonly sessionsRevoked: number;
}

/** Why {@link TokenService.verify} refused a token (the `reason` of calld's 401 details). */
export type VerifyResult =
  | { readonly ok: true; readonly token: AuthToken }
  | { readonly ok: false; readonly reason: 'not_found_or_expired' }
  | {
      readonly ok: false;
      readonly reason: 'missing_permission_or_invalid_tenant';
      /** Which check failed, for wazo-auth's distinct 403 messages. */
      readonly denied: 'acl' | 'tenant';
      readonly token: AuthToken;
    };

/**
 * The wire form of a token (spec §3.2). `refreshToken` is added only to the response of an
 * offline login; `GET /token/{t}` never shows it.
 */
export function toWireToken(token: AuthToken, refreshToken?: string): WireToken {
  const wire: WireToken = {
    token: token.token,
    auth_id: token.authId,
    xivo_user_uuid: token.userUuid,
    xivo_uuid: token.stackUuid,
    issued_at: formatLocalTimestamp(token.issuedAt),
    expires_at: formatLocalTimestamp(token.expiresAt),
    utc_issued_at: formatUtcTimestamp(token.issuedAt),
    utc_expires_at: formatUtcTimestamp(token.expiresAt),
    acl: [...token.acl],
    metadata: { ...token.metadata },
    session_uuid: token.sessionUuid,
    remote_addr: token.remoteAddr,
    user_agent: token.userAgent,
  };
  if (refreshToken !== undefined) {
    wire.refresh_token = refreshToken;
  }
  return wire;
}
