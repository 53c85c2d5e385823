/**
 * The API's OpenAPI 3.1 document and Swagger UI, generated from the routes' own Fastify schemas:
 *
 * - `GET /api/docs`: Swagger UI; `GET /api/docs/json` and `/api/docs/yaml`: the document.
 * - Every route registered after {@link registerApiDocs} in the same scope is documented, with
 *   its schema's `summary`, params, querystring, body and success response; nothing is listed by
 *   hand. Routes are tagged by service (`/api/<service>/<version>/…`).
 * - Routes guarded by {@link requireToken} get the `X-Auth-Token` security requirement (and the
 *   `?token=` query alternative on GET/HEAD, as the guard accepts it) and their required ACL in the
 *   description. A route declaring its own `security` (`POST /token`: Basic) keeps it.
 * - Error responses are documented here only (routes do not declare them, see ./schemas.ts): the
 *   APIException shape, or wazo-auth's legacy shape on the `/token` endpoints.
 * - HEAD routes are documented when declared explicitly, not the ones Fastify adds to GET routes.
 * - A body is documented as required unless the route's `describe()` says `bodyOptional`.
 */
import { createRequire } from 'node:module';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { CALLD_PREFIX } from './calld.js';
import { AUTH_PREFIX, CONFD_PREFIX, isLegacyAuthPath } from './paths.js';
import { routeTokenGuard } from './guard.js';
import { BODY_OPTIONAL_KEY, SECURITY_SCHEMES } from './schemas.js';

/** Where Swagger UI is served; the document is at `<path>/json` and `<path>/yaml`. */
export const API_DOCS_PATH = '/api/docs';

const serverPackage = createRequire(import.meta.url)('../../package.json') as { version: string };

const SERVICE_TAGS = [
  {
    name: 'auth',
    description: `wazo-auth 0.1 (\`${AUTH_PREFIX}\`): tokens, refresh tokens and sessions`,
  },
  {
    name: 'confd',
    description: `wazo-confd 1.1 (\`${CONFD_PREFIX}\`): the read subset the SDK uses`,
  },
  {
    name: 'calld',
    description: `wazo-calld 1.0 (\`${CALLD_PREFIX}\`): the user's calls and ad-hoc conferences`,
  },
];

const apiExceptionSchema = {
  type: 'object',
  description: 'APIException error',
  properties: {
    message: { type: 'string' },
    error_id: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
    timestamp: { type: 'number' },
    resource: { type: 'string' },
  },
  required: ['message', 'error_id', 'details', 'timestamp'],
} as const;

const legacyErrorSchema = {
  type: 'object',
  description: 'wazo-auth legacy error',
  properties: {
    reason: { type: 'array', items: { type: 'string' } },
    timestamp: { type: 'array', items: { type: 'number' } },
    status_code: { type: 'integer' },
  },
  required: ['reason', 'timestamp', 'status_code'],
} as const;

/** `/api/<service>/<version>/…` → `<service>`. */
function serviceOf(url: string): string | undefined {
  return /^\/api\/([a-z][a-z0-9-]*)\/\d[^/]*\//.exec(url)?.[1];
}

interface DocSchema extends FastifySchema {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  hide?: boolean;
}

/** The document's view of one route's schema (the route itself is left untouched). */
function documentRoute(schema: DocSchema, url: string, route: RouteOptions): DocSchema {
  const doc: DocSchema = { ...schema };
  const service = serviceOf(url);
  if (doc.tags === undefined && service !== undefined) {
    doc.tags = [service];
  }
  const acl = routeTokenGuard(route);
  if (acl !== undefined) {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const byQuery = methods.every((method) => method === 'GET' || method === 'HEAD');
    doc.security ??= [
      { [SECURITY_SCHEMES.token]: [] },
      ...(byQuery ? [{ [SECURITY_SCHEMES.tokenQuery]: [] }] : []),
    ];
    const required = acl === null ? 'any valid token' : `\`${acl}\``;
    doc.description = [doc.description, `Required ACL: ${required}.`]
      .filter((part) => part !== undefined)
      .join('\n\n');
  }
  if (service !== undefined) {
    const errorSchema = isLegacyAuthPath(url) ? legacyErrorSchema : apiExceptionSchema;
    doc.response = {
      ...(doc.response as Record<string, unknown> | undefined),
      default: { ...errorSchema },
    };
  }
  return doc;
}

/**
 * Registers the OpenAPI document and Swagger UI on `app`; call it before registering the routes
 * to document (they are collected as they are added).
 */
export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  // @fastify/swagger skips every HEAD route unless told otherwise: opt in the explicit ones
  // (their handler is not the GET route's, which the automatic HEAD route shares).
  const getHandlers = new Map<string, unknown>();
  app.addHook('onRoute', (route) => {
    if (route.method === 'GET') {
      getHandlers.set(route.url, route.handler);
    } else if (route.method === 'HEAD' && getHandlers.get(route.url) !== route.handler) {
      const config = (route.config ?? {}) as Record<string, unknown>;
      const swagger = (config['swagger'] ?? {}) as Record<string, unknown>;
      route.config = { ...config, swagger: { ...swagger, exposeHeadRoute: true } };
    }
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Confab',
        version: serverPackage.version,
        description:
          'The Wazo-compatible platform API of Confab: wazo-auth, the wazo-confd subset and ' +
          "wazo-calld's user calls and ad-hoc conferences, with Wazo's paths, bodies and error shapes. Events are on " +
          'the websocket `/api/websocketd/` (wazo-websocketd protocol), not described here.',
      },
      // Relative: the document is valid on the HTTP and HTTPS listeners and behind a proxy.
      servers: [{ url: '/' }],
      tags: SERVICE_TAGS,
      components: {
        securitySchemes: {
          [SECURITY_SCHEMES.token]: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Auth-Token',
            description: 'A token from `POST /api/auth/0.1/token`.',
          },
          [SECURITY_SCHEMES.tokenQuery]: {
            type: 'apiKey',
            in: 'query',
            name: 'token',
            description: 'The token as a query parameter (GET and HEAD only).',
          },
          [SECURITY_SCHEMES.basic]: {
            type: 'http',
            scheme: 'basic',
            description: "The user's login and password (`POST /api/auth/0.1/token`).",
          },
        },
      },
    },
    transform: ({ schema, url, route }) => ({
      schema: documentRoute((schema ?? {}) as DocSchema, url, route),
      url,
    }),
    // @fastify/swagger marks every declared body required; some routes default a missing one.
    transformObject: (document) => {
      if (!('openapiObject' in document)) {
        return document.swaggerObject;
      }
      const openapiObject = document.openapiObject;
      for (const item of Object.values(openapiObject.paths ?? {})) {
        for (const operation of Object.values(item as Record<string, Record<string, unknown>>)) {
          if (operation[BODY_OPTIONAL_KEY] === true) {
            delete operation[BODY_OPTIONAL_KEY];
            const body = operation['requestBody'] as { required?: boolean } | undefined;
            if (body !== undefined) {
              body.required = false;
            }
          }
        }
      }
      return openapiObject;
    },
  });

  await app.register(fastifySwaggerUi, {
    routePrefix: API_DOCS_PATH,
    uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: false },
  });
}
