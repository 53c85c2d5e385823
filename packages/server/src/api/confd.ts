/**
 * The wazo-confd read subset the SDK's login flow needs (spec §3.8, §12), mounted under
 * `/api/confd/1.1`:
 *
 * | Route | Required ACL |
 * |---|---|
 * | `GET /infos` | `confd.infos.read` |
 * | `GET /users/{uuid\|me}` | `confd.users.{user_uuid}.read` |
 * | `GET /users/{uuid\|me}/lines/{line_id}/associated/endpoints/sip` | `confd.users.{user_uuid}.lines.{line_id}.associated.endpoints.sip.read` |
 *
 * A user reads only themselves: the default user ACL grants `confd.users.me.read` and
 * `confd.users.me.#.read`, where `me` stands for the token's user, so another user's uuid fails
 * the ACL check with calld/confd's 401 `unauthorized` (`reason:
 * missing_permission_or_invalid_tenant`), as on a Wazo stack. A token whose ACL does grant other
 * users (none is issued today) gets 404 `not-found` for an unknown user or a line the user does
 * not own.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '@confab/core';
import type { TokenService } from '../auth/tokens.js';
import type { Line, Store, User } from '../store/types.js';
import { sipEndpointView, userView, WAZO_VERSION } from './confd-views.js';
import type { ConfdViewConfig } from './confd-views.js';
import { ApiError, prepareApiScope } from './errors.js';
import { requireToken, resolveUserUuid } from './guard.js';
import { describe } from './schemas.js';

/** Dependencies of {@link confdRoutes}. */
export interface ConfdRoutesOptions {
  readonly tokens: TokenService;
  readonly store: Pick<Store, 'users' | 'lines'>;
  readonly config: ConfdViewConfig;
  readonly logger: Logger;
}

interface UserParams {
  user_uuid: string;
}

interface EndpointParams extends UserParams {
  line_id: number;
}

const tokenQuery = { token: { type: 'string', maxLength: 1024 } } as const;

const userParamsSchema = {
  type: 'object',
  properties: { user_uuid: { type: 'string', maxLength: 1024 } },
  required: ['user_uuid'],
} as const;

const optionsList = { type: 'array', items: { type: 'array', items: { type: 'string' } } } as const;

const userResponseSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    uuid: { type: 'string' },
    tenant_uuid: { type: 'string' },
    firstname: { type: 'string' },
    lastname: { type: 'string' },
    email: { type: ['string', 'null'] },
    username: { type: 'string' },
    mobile_phone_number: { type: ['string', 'null'] },
    subscription_type: { type: 'integer' },
    lines: { type: 'array', items: { type: 'object', additionalProperties: true } },
    forwards: { type: 'object', additionalProperties: true },
    services: { type: 'object', additionalProperties: true },
  },
  required: ['uuid', 'tenant_uuid', 'lines', 'forwards', 'services'],
} as const;

const sipEndpointResponseSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'integer' },
    uuid: { type: 'string' },
    tenant_uuid: { type: 'string' },
    name: { type: 'string' },
    label: { type: 'string' },
    auth_section_options: optionsList,
    endpoint_section_options: optionsList,
    aor_section_options: optionsList,
  },
  required: ['uuid', 'auth_section_options', 'endpoint_section_options'],
} as const;

/**
 * Registers the confd routes on an (already prefixed) scope.
 */
export function confdRoutes(
  app: FastifyInstance,
  options: ConfdRoutesOptions,
  done: (error?: Error) => void,
): void {
  const { tokens, store, config, logger } = options;
  prepareApiScope(app, { logger, notFound: true });

  app.get(
    '/infos',
    {
      preHandler: requireToken(tokens, 'confd.infos.read'),
      schema: describe('Stack identity and version', {
        querystring: { type: 'object', properties: tokenQuery },
        response: {
          200: {
            type: 'object',
            properties: { uuid: { type: 'string' }, wazo_version: { type: 'string' } },
            required: ['uuid', 'wazo_version'],
          },
        },
      }),
    },
    () => ({ uuid: tokens.stackUuid, wazo_version: WAZO_VERSION }),
  );

  app.get<{ Params: UserParams }>(
    '/users/:user_uuid',
    {
      preHandler: requireToken(tokens, 'confd.users.{user_uuid}.read'),
      schema: describe('A user, with their lines', {
        params: userParamsSchema,
        querystring: { type: 'object', properties: tokenQuery },
        response: { 200: userResponseSchema },
      }),
    },
    async (request) => {
      const user = await findUser(store, resolveUserUuid(request, request.params.user_uuid));
      const lines = await store.lines.listByUser(user.uuid);
      return userView(tokens.stackUuid, user, lines);
    },
  );

  app.get<{ Params: EndpointParams; Querystring: { view?: string } }>(
    '/users/:user_uuid/lines/:line_id/associated/endpoints/sip',
    {
      preHandler: requireToken(
        tokens,
        'confd.users.{user_uuid}.lines.{line_id}.associated.endpoints.sip.read',
      ),
      schema: describe("The SIP endpoint of one of a user's lines (always the merged view)", {
        params: {
          type: 'object',
          properties: {
            user_uuid: { type: 'string', maxLength: 1024 },
            line_id: { type: 'integer', minimum: 0, maximum: 2_147_483_647 },
          },
          required: ['user_uuid', 'line_id'],
        },
        querystring: {
          type: 'object',
          properties: { view: { type: 'string', maxLength: 64 }, ...tokenQuery },
        },
        response: { 200: sipEndpointResponseSchema },
      }),
    },
    async (request) => {
      const user = await findUser(store, resolveUserUuid(request, request.params.user_uuid));
      const lines = await store.lines.listByUser(user.uuid);
      const line = lines.find((candidate: Line) => candidate.id === request.params.line_id);
      if (line === undefined) {
        throw new ApiError('CONFD_NOT_FOUND', {
          params: { resourceName: 'UserLine' },
          details: { user_uuid: user.uuid, line_id: request.params.line_id },
          resource: 'lines',
        });
      }
      return sipEndpointView(tokens.stackUuid, user, line, config);
    },
  );

  done();
}

async function findUser(store: Pick<Store, 'users'>, userUuid: string): Promise<User> {
  const user = await store.users.findByUuid(userUuid);
  if (user === undefined) {
    throw new ApiError('CONFD_NOT_FOUND', {
      params: { resourceName: 'User' },
      details: { uuid: userUuid },
      resource: 'users',
    });
  }
  return user;
}
