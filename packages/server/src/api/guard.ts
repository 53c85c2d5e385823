/**
 * Token checks for protected routes, the way `xivo.flask.auth_verifier` does them (spec §2.1):
 * the token comes from `X-Auth-Token` (or `?token=` on GET/HEAD), the route's required-ACL
 * template is filled with its URL parameters (each `.` escaped to `_`), the tenant comes from
 * `Wazo-Tenant`, and any failure is 401 `unauthorized` with
 * `details: { invalid_token, reason, required_access, tenant_uuid }` — a missing ACL is a 401 too,
 * never a 403.
 *
 * Other route modules (calld) use the same guard:
 *
 * @example
 * ```ts
 * scope.get('/users/me/calls', { preHandler: requireToken(tokens, 'calld.users.me.calls.read') },
 *   async (request) => listCalls(getRequestAuth(request).userUuid));
 * ```
 */
import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { requiredAcl } from '../auth/acl.js';
import type { AuthToken, TokenService } from '../auth/tokens.js';
import { ApiError } from './errors.js';

/** What a passed guard knows about the caller. */
export interface RequestAuth {
  readonly token: AuthToken;
  /** The token's user (`metadata.uuid`). */
  readonly userUuid: string;
  /** `Wazo-Tenant` if sent (and allowed), else the token's tenant. */
  readonly tenantUuid: string;
}

const authByRequest = new WeakMap<FastifyRequest, RequestAuth>();

/** Marks the hooks {@link requireToken} makes, with their ACL template (for the API document). */
const TOKEN_GUARD = Symbol('confab.tokenGuard');

/** A hook made by {@link requireToken}. */
type TokenGuard = preHandlerAsyncHookHandler & { readonly [TOKEN_GUARD]: string | null };

/** Header names (lowercase, as Node exposes them). */
const TOKEN_HEADER = 'x-auth-token';
const TENANT_HEADER = 'wazo-tenant';

function singleHeader(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

/**
 * The token a request carries: the `X-Auth-Token` header, else a `token` query parameter on GET
 * and HEAD requests (xivo's `extract_token_id_from_query_or_header`; limited to safe methods so a
 * token in a URL cannot authorize a state change).
 */
export function extractToken(request: FastifyRequest): string | undefined {
  const header = singleHeader(request, TOKEN_HEADER);
  if (header !== undefined) {
    return header;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return undefined;
  }
  const query = request.query as Record<string, unknown> | undefined;
  const token = query?.['token'];
  return typeof token === 'string' && token !== '' ? token : undefined;
}

/** The `Wazo-Tenant` header, if any. */
export function requestTenant(request: FastifyRequest): string | undefined {
  return singleHeader(request, TENANT_HEADER);
}

/**
 * A preHandler that admits requests whose token grants `aclTemplate` (filled with the route's
 * URL parameters), or any valid token when `aclTemplate` is `null`.
 */
export function requireToken(
  tokens: TokenService,
  aclTemplate: string | null,
): preHandlerAsyncHookHandler {
  const verifyToken = function verifyToken(request: FastifyRequest): Promise<void> {
    const token = extractToken(request);
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const required = aclTemplate === null ? null : requiredAcl(aclTemplate, params);
    const tenant = requestTenant(request);
    const result = tokens.verify(token, required, tenant);
    if (!result.ok) {
      return Promise.reject(
        new ApiError('UNAUTHORIZED', {
          details: {
            invalid_token: token ?? null,
            reason: result.reason,
            required_access: required,
            tenant_uuid: tenant ?? null,
          },
        }),
      );
    }
    authByRequest.set(request, {
      token: result.token,
      userUuid: result.token.userUuid,
      tenantUuid: tenant ?? result.token.tenantUuid,
    });
    return Promise.resolve();
  };
  const guard: TokenGuard = Object.assign(verifyToken, { [TOKEN_GUARD]: aclTemplate });
  return guard;
}

/**
 * The ACL template a route's token guard requires (`null`: any valid token), or `undefined` when
 * no hook of the route (`onRequest`, `preValidation`, `preHandler`) is a {@link requireToken}
 * guard.
 */
export function routeTokenGuard(route: {
  readonly onRequest?: unknown;
  readonly preValidation?: unknown;
  readonly preHandler?: unknown;
}): string | null | undefined {
  for (const hooks of [route.onRequest, route.preValidation, route.preHandler]) {
    for (const hook of Array.isArray(hooks) ? (hooks as unknown[]) : [hooks]) {
      if (typeof hook === 'function' && TOKEN_GUARD in hook) {
        return (hook as TokenGuard)[TOKEN_GUARD];
      }
    }
  }
  return undefined;
}

/**
 * What {@link requireToken} established for this request.
 *
 * @throws TypeError if the route has no token guard (a programming error).
 */
export function getRequestAuth(request: FastifyRequest): RequestAuth {
  const auth = authByRequest.get(request);
  if (auth === undefined) {
    throw new TypeError(`${request.method} ${request.url}: the route has no token guard`);
  }
  return auth;
}

/**
 * The caller's user uuid, for `/users/me/…` routes: 400 `token-with-user-uuid-required` when the
 * token has none (wazo-calld's `get_token_user_uuid`).
 */
export function requireUserUuid(request: FastifyRequest): string {
  const userUuid = getRequestAuth(request).userUuid;
  if (userUuid === '') {
    throw new ApiError('TOKEN_WITH_USER_UUID_REQUIRED');
  }
  return userUuid;
}

/** Resolves a `{user_uuid}` path parameter: `me` is the caller. */
export function resolveUserUuid(request: FastifyRequest, param: string): string {
  return param === 'me' ? getRequestAuth(request).userUuid : param;
}
