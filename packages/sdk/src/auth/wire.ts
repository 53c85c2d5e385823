/**
 * Readers of the wazo-auth and confd JSON the login flow consumes
 * (spec wazo-server-protocols §3.2 token object, §3.8 confd user and SIP endpoint).
 */
import {
  array,
  isRecord,
  optionList,
  optionalString,
  record,
  requiredId,
  requiredString,
  ShapeError,
} from '../api/json.js';
import type { Extension, Line } from '../domain/session.js';

/** The token fields the SDK uses. */
export interface TokenData {
  token: string;
  /** Present on offline logins only (spec wazo-server-protocols §3.1). */
  refreshToken: string | undefined;
  userUuid: string;
  tenantUuid: string | undefined;
  sessionUuid: string | undefined;
  expiresAt: Date | undefined;
  acl: string[];
}

/**
 * `utc_expires_at` is `%Y-%m-%dT%H:%M:%S.%f` UTC without a zone designator (§11.10); `Date`
 * would read that as local time, so the `Z` is added when no offset is present.
 */
export function parseUtcTimestamp(value: string | undefined): Date | undefined {
  if (value === undefined || value.length > 64) {
    return undefined;
  }
  const hasZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(value);
  const parsed = new Date(hasZone ? value : `${value}Z`);
  return Number.isNaN(parsed.getTime()) ? undefined : parsed;
}

/** `POST /api/auth/0.1/token` → `{ data: Token }`. */
export function parseToken(body: unknown): TokenData {
  const data = record(record(body, 'body')['data'], 'data');
  const metadata = record(data['metadata'], 'data.metadata');
  const acl = Array.isArray(data['acls']) ? data['acls'] : array(data['acl']);
  return {
    token: requiredString(data, 'token', 'data'),
    refreshToken: optionalString(data, 'refresh_token'),
    userUuid: requiredString(metadata, 'uuid', 'data.metadata'),
    tenantUuid: optionalString(metadata, 'tenant_uuid'),
    sessionUuid: optionalString(data, 'session_uuid'),
    expiresAt: parseUtcTimestamp(optionalString(data, 'utc_expires_at')),
    acl: acl.filter((entry): entry is string => typeof entry === 'string'),
  };
}

/** The confd user fields the SDK uses. */
export interface UserData {
  uuid: string;
  firstName: string;
  lastName: string;
  email: string | undefined;
  lines: Line[];
}

/** `GET /api/confd/1.1/users/{uuid}`. */
export function parseUser(body: unknown): UserData {
  const user = record(body, 'user');
  const lines: Line[] = [];
  for (const [index, rawLine] of array(user['lines']).entries()) {
    const line = record(rawLine, `user.lines[${index}]`);
    const extensions: Extension[] = [];
    for (const rawExtension of array(line['extensions'])) {
      if (isRecord(rawExtension) && typeof rawExtension['exten'] === 'string') {
        extensions.push({
          exten: rawExtension['exten'],
          context: optionalString(rawExtension, 'context') ?? '',
        });
      }
    }
    lines.push({ id: requiredId(line, 'id', `user.lines[${index}]`), extensions });
  }
  return {
    uuid: requiredString(user, 'uuid', 'user'),
    firstName: optionalString(user, 'firstname') ?? '',
    lastName: optionalString(user, 'lastname') ?? '',
    email: optionalString(user, 'email'),
    lines,
  };
}

/** The SIP credentials of one line. */
export interface SipEndpointData {
  username: string;
  secret: string;
  webrtc: boolean;
}

const TRUTHY_OPTION = new Set(['yes', 'true', 'on', '1']);

/**
 * `GET /api/confd/1.1/users/{uuid}/lines/{id}/associated/endpoints/sip?view=merged`: the digest
 * credentials live in `auth_section_options`, the WebRTC flag in `endpoint_section_options`.
 */
export function parseSipEndpoint(body: unknown): SipEndpointData {
  const endpoint = record(body, 'endpoint');
  const auth = optionList(endpoint['auth_section_options']);
  const options = optionList(endpoint['endpoint_section_options']);
  const username = auth.get('username');
  const secret = auth.get('password');
  if (username === undefined || username === '' || secret === undefined) {
    throw new ShapeError('endpoint.auth_section_options lacks username or password');
  }
  return {
    username,
    secret,
    webrtc: TRUTHY_OPTION.has((options.get('webrtc') ?? '').toLowerCase()),
  };
}
