/**
 * JSON schemas shared by the Wazo-compatible routes, and the list pagination helper.
 *
 * Every route declares its params, querystring, body and success response with Fastify's native
 * JSON schema, so that registering `@fastify/swagger` later documents the API without further
 * changes. Error responses are deliberately not declared: Fastify would serialize error bodies
 * through them, and the two Wazo error shapes (src/api/errors.ts) are produced by the error
 * handler instead.
 */
import type { FastifySchema } from 'fastify';

/** Security scheme names of the OpenAPI document (./docs.ts). */
export const SECURITY_SCHEMES = {
  /** `X-Auth-Token` header. */
  token: 'wazoToken',
  /** `?token=` query parameter (GET and HEAD). */
  tokenQuery: 'wazoTokenQuery',
  /** HTTP Basic (`POST /token`). */
  basic: 'basicAuth',
} as const;

/** OpenAPI-only fields of a route schema (read by `@fastify/swagger`, ignored by Fastify). */
export interface OpenApiFields {
  readonly description?: string;
  /**
   * Security requirements, when not the token guard's (which ./docs.ts derives from the route's
   * `requireToken` hook). Names are those of {@link SECURITY_SCHEMES}.
   */
  readonly security?: readonly Readonly<Record<string, readonly string[]>>[];
  /** The body may be left out (the route defaults it); documented as an optional request body. */
  readonly bodyOptional?: boolean;
}

/** Where {@link describe} records {@link OpenApiFields.bodyOptional} for ./docs.ts. */
export const BODY_OPTIONAL_KEY = 'x-confab-body-optional';

/**
 * A route schema with an OpenAPI `summary` (read by `@fastify/swagger`, ignored by Fastify).
 */
export function describe(
  summary: string,
  schema: FastifySchema,
  openApi: OpenApiFields = {},
): FastifySchema {
  // FastifySchema does not declare the OpenAPI fields; Fastify ignores keys it does not know.
  const { bodyOptional, ...fields } = openApi;
  const described: FastifySchema & OpenApiFields & Record<string, unknown> = {
    ...schema,
    ...fields,
    summary,
    ...(bodyOptional === true ? { [BODY_OPTIONAL_KEY]: true } : {}),
  };
  return described;
}

/** The response schema of a route that answers 204 with no body. */
export const noContentResponse = { 204: { type: 'null' } } as const;

/** Query parameters of Wazo list endpoints (`limit`, `offset`, `order`, `direction`, `search`). */
export interface ListQuery {
  limit?: number;
  offset?: number;
  order?: string;
  direction?: 'asc' | 'desc';
  search?: string;
}

/** The querystring schema of a list endpoint sortable by `sortColumns`. */
export function listQuerySchema(sortColumns: readonly string[]): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 0, maximum: 10_000 },
      offset: { type: 'integer', minimum: 0 },
      order: { type: 'string', enum: [...sortColumns] },
      direction: { type: 'string', enum: ['asc', 'desc'] },
      search: { type: 'string', maxLength: 1024 },
      token: { type: 'string', maxLength: 1024 },
    },
  };
}

/** How {@link paginate} reads the items of one list. */
export interface PaginateOptions<T> {
  /** The text `search` is matched against (case-insensitive substring). */
  readonly search: (item: T) => string;
  readonly sort: Readonly<Record<string, (item: T) => string | number>>;
  readonly defaultSort?: string;
  readonly view: (item: T) => Record<string, unknown>;
}

/** A Wazo list body: `{ total, filtered, items }`. */
export interface ListBody {
  total: number;
  filtered: number;
  items: Record<string, unknown>[];
}

/** Applies search, order, direction, offset and limit the way Wazo list endpoints do. */
export function paginate<T>(
  items: readonly T[],
  query: ListQuery,
  options: PaginateOptions<T>,
): ListBody {
  const needle = query.search?.toLowerCase();
  let selected =
    needle === undefined || needle === ''
      ? [...items]
      : items.filter((item) => options.search(item).toLowerCase().includes(needle));
  const filtered = selected.length;
  const order = query.order ?? options.defaultSort;
  const key = order === undefined ? undefined : options.sort[order];
  if (key !== undefined) {
    selected.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
  }
  if (query.direction === 'desc') {
    selected.reverse();
  }
  const offset = query.offset ?? 0;
  selected = selected.slice(offset, query.limit === undefined ? undefined : offset + query.limit);
  return { total: items.length, filtered, items: selected.map(options.view) };
}

const string = { type: 'string' } as const;
const nullableString = { type: ['string', 'null'] } as const;

/** The token object (spec §3.2). */
export const wireTokenSchema = {
  type: 'object',
  properties: {
    token: string,
    auth_id: string,
    xivo_user_uuid: nullableString,
    xivo_uuid: string,
    issued_at: string,
    expires_at: string,
    utc_issued_at: string,
    utc_expires_at: string,
    acl: { type: 'array', items: string },
    metadata: { type: 'object', additionalProperties: true },
    session_uuid: string,
    remote_addr: string,
    user_agent: string,
    refresh_token: string,
  },
  required: [
    'token',
    'auth_id',
    'xivo_user_uuid',
    'xivo_uuid',
    'issued_at',
    'expires_at',
    'utc_issued_at',
    'utc_expires_at',
    'acl',
    'metadata',
    'session_uuid',
    'remote_addr',
    'user_agent',
  ],
} as const;

function listOf(item: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'object',
    properties: {
      total: { type: 'integer' },
      filtered: { type: 'integer' },
      items: { type: 'array', items: item },
    },
    required: ['total', 'filtered', 'items'],
  };
}

/** `GET /users/{uuid}/tokens` (spec §3.4). */
export const refreshTokenListSchema = listOf({
  type: 'object',
  properties: {
    client_id: string,
    created_at: string,
    mobile: { type: 'boolean' },
    user_uuid: string,
    tenant_uuid: string,
    metadata: { type: 'object', additionalProperties: true },
  },
});

/** `GET /users/{uuid}/sessions` (spec §3.5). */
export const sessionListSchema = listOf({
  type: 'object',
  properties: {
    uuid: string,
    user_uuid: string,
    tenant_uuid: string,
    mobile: { type: 'boolean' },
  },
});
