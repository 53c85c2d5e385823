/**
 * The wazo-auth REST subset (spec §3, §12), mounted under `/api/auth/0.1`.
 *
 * | Route | Guard | Errors |
 * |---|---|---|
 * | `POST /token` | Basic or `refresh_token` + `client_id` | legacy 400/401; APIException 429 |
 * | `GET`/`HEAD`/`DELETE /token/{token}` | the token itself | legacy 403/404 |
 * | `POST /token/{token}/scopes/check` | the token itself | legacy 400/403/404 |
 * | `GET /users/{uuid\|me}/tokens` | `auth.users.{user_uuid}.tokens.read` | APIException |
 * | `DELETE /users/{uuid\|me}/tokens/{client_id}` | `auth.users.{user_uuid}.tokens.{client_id}.delete` | APIException |
 * | `GET /users/{uuid\|me}/sessions` | `auth.users.{user_uuid}.sessions.read` | APIException |
 * | `DELETE /users/{uuid\|me}/sessions/{session_uuid}` | `auth.users.{user_uuid}.sessions.{session_uuid}.delete` | APIException |
 * | `HEAD /status` (+ `OPTIONS`) | none | — |
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@confab/core';
import { parseBasicAuthorization } from '../auth/basic.js';
import { AuthErrorCode, isAuthError } from '../auth/errors.js';
import { CLIENT_ID_LENGTH, TOKEN_EXPIRATION, toWireToken } from '../auth/tokens.js';
import type { AuthToken, RefreshTokenInfo, SessionInfo, TokenService } from '../auth/tokens.js';
import { CORS_ALLOWED_HEADERS } from '../http/servers.js';
import type { Store } from '../store/types.js';
import { formatUtcWithOffset } from '../auth/time.js';
import { ApiError, InvalidDataError, prepareApiScope } from './errors.js';
import { getRequestAuth, requireToken, resolveUserUuid } from './guard.js';
import {
  SECURITY_SCHEMES,
  describe,
  listQuerySchema,
  paginate,
  sessionListSchema,
  refreshTokenListSchema,
  wireTokenSchema,
} from './schemas.js';
import type { ListQuery } from './schemas.js';

/** Dependencies of {@link authRoutes}. */
export interface AuthRoutesOptions {
  readonly tokens: TokenService;
  readonly store: Pick<Store, 'users'>;
  readonly logger: Logger;
}

interface TokenRequestBody {
  backend?: string;
  expiration?: number;
  access_type?: 'online' | 'offline';
  client_id?: string;
  refresh_token?: string;
  saml_session_id?: string;
  tenant_id?: string;
  domain_name?: string;
}

interface TokenParams {
  token: string;
}

interface TokenQuery {
  scope?: string;
  tenant?: string;
}

interface ScopesCheckBody {
  scopes: string[];
  tenant_uuid?: string | null;
}

interface UserParams {
  user_uuid: string;
}

const STRING_LIMIT = 1024;
const ACL_LIMIT = 4096;

const tokenRequestSchema = {
  type: 'object',
  properties: {
    backend: { type: 'string', maxLength: 64 },
    expiration: { type: 'integer', minimum: TOKEN_EXPIRATION.min, maximum: TOKEN_EXPIRATION.max },
    access_type: { type: 'string', enum: ['online', 'offline'] },
    client_id: { type: 'string', minLength: CLIENT_ID_LENGTH.min, maxLength: CLIENT_ID_LENGTH.max },
    refresh_token: { type: 'string', minLength: 1, maxLength: STRING_LIMIT },
    saml_session_id: { type: 'string', maxLength: STRING_LIMIT },
    tenant_id: { type: 'string', maxLength: STRING_LIMIT },
    domain_name: { type: 'string', maxLength: STRING_LIMIT },
  },
} as const;

const tokenParamsSchema = {
  type: 'object',
  properties: { token: { type: 'string', maxLength: STRING_LIMIT } },
  required: ['token'],
} as const;

const tokenQuerySchema = {
  type: 'object',
  properties: {
    scope: { type: 'string', maxLength: ACL_LIMIT },
    tenant: { type: 'string', maxLength: STRING_LIMIT },
  },
} as const;

const userParamsSchema = {
  type: 'object',
  properties: { user_uuid: { type: 'string', maxLength: STRING_LIMIT } },
  required: ['user_uuid'],
} as const;

/**
 * A preValidation hook: a request without a body is an empty JSON object (`{}` is valid), while an
 * explicit JSON `null` still fails validation.
 */
function defaultEmptyBody(
  request: FastifyRequest,
  _reply: FastifyReply,
  done: (error?: Error) => void,
): void {
  if (request.body === undefined) {
    request.body = {};
  }
  done();
}

/**
 * Registers the auth routes on an (already prefixed) scope.
 */
export async function authRoutes(app: FastifyInstance, options: AuthRoutesOptions): Promise<void> {
  const { tokens, store, logger } = options;
  prepareApiScope(app, { logger, notFound: true });

  // The legacy `/token*` endpoints, in their own scope for their error shape.
  await app.register((legacy: FastifyInstance, _options, done: (error?: Error) => void) => {
    prepareApiScope(legacy, { logger, legacy: true });

    legacy.post<{ Body: TokenRequestBody }>(
      '/token',
      {
        preValidation: defaultEmptyBody,
        schema: describe(
          'Create a token',
          {
            body: tokenRequestSchema,
            response: { 200: { type: 'object', properties: { data: wireTokenSchema } } },
          },
          {
            description:
              'With Basic credentials (login and password), or with `refresh_token` and ' +
              '`client_id` in the body.',
            security: [{ [SECURITY_SCHEMES.basic]: [] }, {}],
            bodyOptional: true,
          },
        ),
      },
      async (request, reply) => {
        const body = request.body;
        if (body.tenant_id !== undefined && body.domain_name !== undefined) {
          throw new InvalidDataError({
            _schema: ['"tenant_id" and "domain_name" are mutually exclusive'],
          });
        }
        const sessionType = request.headers['wazo-session-type'];
        try {
          const created = await tokens.createToken({
            credentials: parseBasicAuthorization(request.headers.authorization),
            backend: body.backend,
            expiration: body.expiration,
            accessType: body.access_type,
            clientId: body.client_id,
            refreshToken: body.refresh_token,
            samlSessionId: body.saml_session_id,
            mobile: typeof sessionType === 'string' && sessionType.toLowerCase() === 'mobile',
            remoteAddr: request.ip,
            userAgent: request.headers['user-agent'] ?? '',
          });
          void reply.header('Wazo-Sessions-Revoked', String(created.sessionsRevoked));
          return { data: toWireToken(created.token, created.refreshToken) };
        } catch (error) {
          throw mapAuthError(error, logger, request);
        }
      },
    );

    legacy.get<{ Params: TokenParams; Querystring: TokenQuery }>(
      '/token/:token',
      {
        exposeHeadRoute: false,
        schema: describe('Read a token, optionally checking an ACL and a tenant', {
          params: tokenParamsSchema,
          querystring: tokenQuerySchema,
          response: { 200: { type: 'object', properties: { data: wireTokenSchema } } },
        }),
      },
      (request) => {
        const token = inspectToken(tokens, request.params.token, request.query);
        return { data: toWireToken(token) };
      },
    );

    legacy.head<{ Params: TokenParams; Querystring: TokenQuery }>(
      '/token/:token',
      {
        schema: describe('Check a token, optionally against an ACL and a tenant', {
          params: tokenParamsSchema,
          querystring: tokenQuerySchema,
        }),
      },
      (request, reply) => {
        inspectToken(tokens, request.params.token, request.query);
        return reply.code(204).send();
      },
    );

    legacy.delete<{ Params: TokenParams }>(
      '/token/:token',
      {
        schema: describe('Revoke a token and its session', {
          params: tokenParamsSchema,
          response: {
            200: {
              type: 'object',
              properties: {
                data: { type: 'object', properties: { message: { type: 'string' } } },
              },
            },
          },
        }),
      },
      (request) => {
        // Idempotent, as wazo-auth: an unknown token is not an error (and a 404 "No such token"
        // would make the SDK refresh and replay a logout).
        tokens.revokeToken(request.params.token);
        return { data: { message: 'success' } };
      },
    );

    legacy.post<{ Params: TokenParams; Body: ScopesCheckBody }>(
      '/token/:token/scopes/check',
      {
        schema: describe('Check which of several ACLs a token grants', {
          params: tokenParamsSchema,
          body: {
            type: 'object',
            properties: {
              scopes: {
                type: 'array',
                maxItems: 1000,
                items: { type: 'string', maxLength: ACL_LIMIT },
              },
              tenant_uuid: { type: ['string', 'null'], maxLength: STRING_LIMIT },
            },
            required: ['scopes'],
          },
          response: {
            200: {
              type: 'object',
              properties: {
                scopes: { type: 'object', additionalProperties: { type: 'boolean' } },
              },
            },
          },
        }),
      },
      (request) => {
        const tenant = request.body.tenant_uuid ?? undefined;
        const token = inspectToken(
          tokens,
          request.params.token,
          tenant === undefined ? {} : { tenant },
        );
        const scopes = Object.fromEntries(
          request.body.scopes.map((scope) => [scope, token.access.matches(scope)]),
        );
        return { scopes };
      },
    );
    done();
  });

  app.get<{ Params: UserParams; Querystring: ListQuery }>(
    '/users/:user_uuid/tokens',
    {
      preHandler: requireToken(tokens, 'auth.users.{user_uuid}.tokens.read'),
      schema: describe("List a user's refresh tokens", {
        params: userParamsSchema,
        querystring: listQuerySchema(['created_at', 'client_id', 'mobile']),
        response: { 200: refreshTokenListSchema },
      }),
    },
    async (request) => {
      const userUuid = await knownUser(store, request, request.params.user_uuid);
      const items = tokens.listRefreshTokens(userUuid);
      return paginate(items, request.query, {
        search: (item) => item.clientId,
        sort: {
          created_at: (item) => item.createdAt,
          client_id: (item) => item.clientId,
          mobile: (item) => (item.mobile ? 1 : 0),
        },
        defaultSort: 'created_at',
        view: refreshTokenView,
      });
    },
  );

  app.delete<{ Params: UserParams & { client_id: string } }>(
    '/users/:user_uuid/tokens/:client_id',
    {
      preHandler: requireToken(tokens, 'auth.users.{user_uuid}.tokens.{client_id}.delete'),
      schema: describe("Delete one of a user's refresh tokens (issued access tokens stay valid)", {
        params: {
          type: 'object',
          properties: {
            user_uuid: { type: 'string', maxLength: STRING_LIMIT },
            client_id: { type: 'string', maxLength: CLIENT_ID_LENGTH.max },
          },
          required: ['user_uuid', 'client_id'],
        },
        response: { 204: { type: 'null' } },
      }),
    },
    async (request, reply) => {
      const userUuid = await knownUser(store, request, request.params.user_uuid);
      const clientId = request.params.client_id;
      if (!(await tokens.deleteRefreshToken(userUuid, clientId))) {
        throw new ApiError('UNKNOWN_REFRESH_TOKEN', {
          params: { client_id: clientId },
          details: { client_id: clientId },
        });
      }
      return reply.code(204).send();
    },
  );

  app.get<{ Params: UserParams; Querystring: ListQuery }>(
    '/users/:user_uuid/sessions',
    {
      preHandler: requireToken(tokens, 'auth.users.{user_uuid}.sessions.read'),
      schema: describe("List a user's sessions", {
        params: userParamsSchema,
        querystring: listQuerySchema(['mobile']),
        response: { 200: sessionListSchema },
      }),
    },
    async (request) => {
      const userUuid = await knownUser(store, request, request.params.user_uuid);
      return paginate(tokens.listSessions(userUuid), request.query, {
        search: (session) => session.uuid,
        sort: { mobile: (session) => (session.mobile ? 1 : 0) },
        view: sessionView,
      });
    },
  );

  app.delete<{ Params: UserParams & { session_uuid: string } }>(
    '/users/:user_uuid/sessions/:session_uuid',
    {
      preHandler: requireToken(tokens, 'auth.users.{user_uuid}.sessions.{session_uuid}.delete'),
      schema: describe("Delete one of a user's sessions (and its token)", {
        params: {
          type: 'object',
          properties: {
            user_uuid: { type: 'string', maxLength: STRING_LIMIT },
            session_uuid: { type: 'string', maxLength: STRING_LIMIT },
          },
          required: ['user_uuid', 'session_uuid'],
        },
        response: { 204: { type: 'null' } },
      }),
    },
    async (request, reply) => {
      const userUuid = await knownUser(store, request, request.params.user_uuid);
      const sessionUuid = request.params.session_uuid;
      if (!tokens.revokeSession(userUuid, sessionUuid)) {
        throw new ApiError('UNKNOWN_SESSION', {
          params: { uuid: sessionUuid },
          details: { uuid: sessionUuid },
        });
      }
      return reply.code(204).send();
    },
  );

  // The SDK probes `HEAD /status` with `X-User-UUID` and reads `access-control-allow-headers`
  // (spec §1): it answers with the server-wide CORS policy, which allows that header, so the SDK
  // goes into "edge server" mode and sends `X-User-UUID` everywhere (harmless: it is ignored).
  app.head(
    '/status',
    { schema: describe('Service status (also answers the SDK edge-server probe)', {}) },
    (request, reply) => {
      corsHeaders(request, reply);
      return reply.code(204).send();
    },
  );
  app.options(
    '/status',
    { schema: describe('CORS preflight of the status probe', {}) },
    (request, reply) => {
      corsHeaders(request, reply);
      return reply
        .code(204)
        .header('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, DELETE, OPTIONS')
        .header('Access-Control-Max-Age', '600')
        .send();
    },
  );
}

function corsHeaders(request: FastifyRequest, reply: FastifyReply): void {
  const origin = request.headers.origin;
  void reply
    .header('Access-Control-Allow-Origin', typeof origin === 'string' ? origin : '*')
    .header('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS.join(', '))
    .header('Vary', 'Origin');
}

/** Token lookup with wazo-auth's legacy errors: 404 "No such token", 403 ACL or tenant. */
function inspectToken(tokens: TokenService, token: string, query: TokenQuery): AuthToken {
  const result = tokens.verify(token, query.scope ?? null, query.tenant);
  if (result.ok) {
    return result.token;
  }
  if (result.reason === 'not_found_or_expired') {
    throw new ApiError('NO_SUCH_TOKEN');
  }
  if (result.denied === 'acl') {
    throw new ApiError('UNAUTHORIZED_FOR_ACL', { params: { acl: query.scope ?? '' } });
  }
  throw new ApiError('UNAUTHORIZED_FOR_TENANT', { params: { tenant: query.tenant ?? '' } });
}

function mapAuthError(error: unknown, logger: Logger, request: FastifyRequest): unknown {
  if (!isAuthError(error)) {
    return error;
  }
  switch (error.code) {
    case AuthErrorCode.AuthenticationFailed:
      logger.info(
        { remoteAddr: request.ip, userAgent: request.headers['user-agent'] },
        'failed login',
      );
      return new ApiError('AUTHENTICATION_FAILED', { cause: error });
    case AuthErrorCode.TooManySessions:
      return new ApiError('MAX_USER_CONCURRENT_SESSIONS', {
        details: { max_user_concurrent_sessions: error.limit ?? null },
        cause: error,
      });
    case AuthErrorCode.InvalidRequest:
      return new InvalidDataError(error.fields);
  }
}

/** Resolves `me` and checks that the user exists (wazo-auth 404 `unknown-user`). */
async function knownUser(
  store: Pick<Store, 'users'>,
  request: FastifyRequest,
  param: string,
): Promise<string> {
  const userUuid = resolveUserUuid(request, param);
  if (userUuid === getRequestAuth(request).userUuid) {
    return userUuid;
  }
  const user = await store.users.findByUuid(userUuid);
  if (user === undefined) {
    throw new ApiError('UNKNOWN_USER', { params: { uuid: userUuid }, details: { uuid: userUuid } });
  }
  return user.uuid;
}

function refreshTokenView(item: RefreshTokenInfo): Record<string, unknown> {
  return {
    client_id: item.clientId,
    created_at: formatUtcWithOffset(item.createdAt),
    mobile: item.mobile,
    user_uuid: item.userUuid,
    tenant_uuid: item.tenantUuid,
    metadata: {},
  };
}

function sessionView(session: SessionInfo): Record<string, unknown> {
  return {
    uuid: session.uuid,
    user_uuid: session.userUuid,
    tenant_uuid: session.tenantUuid,
    mobile: session.mobile,
  };
}
