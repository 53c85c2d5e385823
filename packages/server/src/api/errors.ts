/**
 * REST errors: one registry mapping each stable code to an HTTP status, a wire `error_id` and a
 * message template, and the Fastify handlers that render them.
 *
 * Two wire shapes exist (wazo spec §2.2):
 *
 * - **APIException** (calld, confd, the newer wazo-auth endpoints):
 *   `{ message, error_id, details, timestamp: <float seconds> [, resource] }`;
 * - **legacy** (wazo-auth `/token*`): `{ reason: [message], timestamp: [<float>], status_code }`.
 *
 * A registry entry says which shape it always uses, or `route` when the shape follows the route
 * (framework errors such as malformed JSON or schema violations). Routes opt into the legacy
 * shape by being registered in a scope prepared with `legacy: true` ({@link prepareApiScope}).
 *
 * Tests assert on codes and `error_id`s, never on message text.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@confab/core';
import { ConfabError } from '@confab/core';

/** Which wire shape an error uses. */
type ErrorShape = 'api' | 'legacy' | 'route';

interface ErrorEntry {
  readonly status: number;
  readonly errorId: string;
  /** `{name}` placeholders are filled from the error's params. */
  readonly message: string;
  readonly shape: ErrorShape;
  readonly resource?: string;
}

/**
 * The registry. Keys are the stable codes (`ApiError.code`); `errorId` is what the wire carries.
 */
export const API_ERRORS = {
  // Framework-level: the shape follows the route.
  INVALID_DATA: {
    status: 400,
    errorId: 'invalid-data',
    message: 'Sent data is invalid',
    shape: 'route',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    errorId: 'unsupported-media-type',
    message: 'Unsupported media type',
    shape: 'route',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    errorId: 'payload-too-large',
    message: 'Request body is too large',
    shape: 'route',
  },
  URI_TOO_LONG: {
    status: 414,
    errorId: 'uri-too-long',
    message: 'Request URI is too long',
    shape: 'route',
  },
  REQUEST_HEADER_FIELDS_TOO_LARGE: {
    status: 431,
    errorId: 'request-header-fields-too-large',
    message: 'Request header fields are too large',
    shape: 'route',
  },
  BAD_REQUEST: { status: 400, errorId: 'bad-request', message: 'Bad request', shape: 'route' },
  // Any other client error of the framework; the status is the framework's own (4xx).
  CLIENT_ERROR: { status: 400, errorId: 'client-error', message: 'Client error', shape: 'route' },
  INTERNAL: {
    status: 500,
    errorId: 'internal-server-error',
    message: 'Internal server error',
    shape: 'route',
  },

  // APIException (xivo.rest_api_helpers and xivo.http_exceptions).
  ROUTE_NOT_FOUND: { status: 404, errorId: 'not-found', message: 'Not found', shape: 'api' },
  UNAUTHORIZED: { status: 401, errorId: 'unauthorized', message: 'Unauthorized', shape: 'api' },
  METHOD_NOT_ALLOWED: {
    status: 405,
    errorId: 'method-not-allowed',
    message: 'The method is not allowed for the requested URL',
    shape: 'api',
  },
  TOKEN_WITH_USER_UUID_REQUIRED: {
    status: 400,
    errorId: 'token-with-user-uuid-required',
    message: 'A valid token with a user UUID is required',
    shape: 'api',
  },
  // wazo-confd `NotFoundError`.
  CONFD_NOT_FOUND: {
    status: 404,
    errorId: 'not-found',
    message: 'Resource Not Found - {resourceName} was not found',
    shape: 'api',
  },
  // wazo-calld APIExceptions (calls plugin, spec §4.1/§4.2).
  NO_SUCH_CALL: { status: 404, errorId: 'no-such-call', message: 'No such call', shape: 'api' },
  USER_PERMISSION_DENIED: {
    status: 403,
    errorId: 'user-permission-denied',
    message: 'User does not have permission to handle objects of other users',
    shape: 'api',
  },
  PHONED_ERROR: {
    status: 503,
    errorId: 'phoned-error',
    message: 'wazo-phoned error',
    shape: 'api',
  },
  INVALID_EXTENSION: {
    status: 400,
    errorId: 'invalid-extension',
    message: 'Invalid extension',
    shape: 'api',
  },
  INVALID_USER_LINE: {
    status: 400,
    errorId: 'invalid-user-line',
    message: 'User has no such line',
    shape: 'api',
  },
  USER_MISSING_MAIN_LINE: {
    status: 400,
    errorId: 'user-missing-main-line',
    message: 'User has no main line',
    shape: 'api',
  },
  CALL_ORIGIN_UNAVAILABLE: {
    status: 400,
    errorId: 'call-origin-unavailable',
    message: 'Call origin is unavailable: the line has no registered device',
    shape: 'api',
  },
  CALL_CREATION: {
    status: 400,
    errorId: 'call-creation',
    message: 'Could not create call',
    shape: 'api',
  },
  // wazo-calld ad-hoc conferences (spec §5.6).
  HOST_CALL_NOT_FOUND: {
    status: 400,
    errorId: 'host-call-not-found',
    message: 'Adhoc conference creation error: host call not found',
    shape: 'api',
  },
  HOST_CALL_CREATION_ERROR: {
    status: 400,
    errorId: 'host-call-creation-error',
    message: '{message}',
    shape: 'api',
  },
  HOST_ALREADY_IN_CONFERENCE: {
    status: 409,
    errorId: 'host-already-in-conference',
    message: 'Adhoc conference creation error: host already in conference',
    shape: 'api',
  },
  PARTICIPANT_CALL_NOT_FOUND: {
    status: 400,
    errorId: 'participant-call-not-found',
    message: 'Adhoc conference participant call not found',
    shape: 'api',
  },
  PARTICIPANT_ALREADY_IN_CONFERENCE: {
    status: 409,
    errorId: 'participant-already-in-conference',
    message: 'Adhoc conference error: participant already in conference',
    shape: 'api',
  },
  ADHOC_CONFERENCE_NOT_FOUND: {
    status: 404,
    errorId: 'adhoc-conference-not-found',
    message: 'Adhoc conference not found',
    shape: 'api',
  },
  ADHOC_CONFERENCE_MEDIA_ERROR: {
    status: 503,
    errorId: 'adhoc-conference-media-error',
    message: 'Adhoc conference error: the media engine could not mix the conference',
    shape: 'api',
  },
  CALLD_UNINITIALIZED: {
    status: 503,
    errorId: 'wazo-calld-uninitialized',
    message: 'wazo-calld is not initialized',
    shape: 'api',
  },
  // wazo-auth APIExceptions.
  UNKNOWN_USER: {
    status: 404,
    errorId: 'unknown-user',
    message: 'No such user: "{uuid}"',
    shape: 'api',
    resource: 'users',
  },
  UNKNOWN_SESSION: {
    status: 404,
    errorId: 'unknown-session',
    message: 'No such session: "{uuid}"',
    shape: 'api',
    resource: 'sessions',
  },
  UNKNOWN_REFRESH_TOKEN: {
    status: 404,
    errorId: 'cannot-find-refresh-token-matching-client-id',
    message: 'unknown refresh_token for client_id "{client_id}"',
    shape: 'api',
    resource: 'tokens',
  },
  MAX_USER_CONCURRENT_SESSIONS: {
    status: 429,
    errorId: 'max-user-concurrent-sessions',
    message: 'Unable to proceed, user has exceeded the maximum number of active sessions',
    shape: 'api',
    resource: 'users',
  },

  // wazo-auth legacy `_error(code, msg)`.
  AUTHENTICATION_FAILED: {
    status: 401,
    errorId: 'authentication-failed',
    message: 'Authentication Failed',
    shape: 'legacy',
  },
  NO_SUCH_TOKEN: {
    status: 404,
    errorId: 'no-such-token',
    message: 'No such token',
    shape: 'legacy',
  },
  UNAUTHORIZED_FOR_ACL: {
    status: 403,
    errorId: 'unauthorized-acl',
    message: 'Unauthorized for {acl}',
    shape: 'legacy',
  },
  UNAUTHORIZED_FOR_TENANT: {
    status: 403,
    errorId: 'unauthorized-tenant',
    message: 'Unauthorized for tenant {tenant}',
    shape: 'legacy',
  },
} as const satisfies Record<string, ErrorEntry>;

/** A code of {@link API_ERRORS}. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** APIException body (spec §2.2). */
export interface ApiExceptionBody {
  message: string;
  error_id: string;
  details: Record<string, unknown>;
  timestamp: number;
  resource?: string;
}

/** wazo-auth legacy error body (spec §2.2). */
export interface LegacyErrorBody {
  reason: string[];
  timestamp: number[];
  status_code: number;
}

/** An error a route throws (or a hook raises) to answer with a registered wire error. */
export class ApiError extends ConfabError {
  override readonly name = 'ApiError';
  declare readonly code: ApiErrorCode;
  readonly status: number;
  readonly errorId: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly resource: string | undefined;
  readonly shape: ErrorShape;

  constructor(
    code: ApiErrorCode,
    options: {
      /** Values of the message template's `{placeholders}`. */
      params?: Readonly<Record<string, string | number>>;
      details?: Readonly<Record<string, unknown>>;
      /** Overrides the entry's `resource` (confd names the resource per route). */
      resource?: string;
      /** Overrides the entry's status (`CLIENT_ERROR` keeps the framework's 4xx). */
      status?: number;
      cause?: unknown;
    } = {},
  ) {
    const entry: ErrorEntry = API_ERRORS[code];
    super(code, renderTemplate(entry.message, options.params ?? {}), {
      cause: options.cause,
    });
    this.status = options.status ?? entry.status;
    this.errorId = entry.errorId;
    this.details = options.details ?? {};
    this.resource = options.resource ?? entry.resource;
    this.shape = entry.shape;
  }

  /** Builds the wire body in the given shape. */
  toBody(shape: 'api' | 'legacy', now: number = Date.now()): ApiExceptionBody | LegacyErrorBody {
    if (shape === 'legacy') {
      return { reason: [this.message], timestamp: [now / 1000], status_code: this.status };
    }
    const body: ApiExceptionBody = {
      message: this.message,
      error_id: this.errorId,
      details: { ...this.details },
      timestamp: now / 1000,
    };
    if (this.resource !== undefined) {
      body.resource = this.resource;
    }
    return body;
  }
}

function renderTemplate(
  template: string,
  params: Readonly<Record<string, string | number>>,
): string {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (match, name: string) =>
    Object.hasOwn(params, name) ? String(params[name]) : match,
  );
}

/** One failed constraint, in the xivo `mallow_helpers` style. */
export interface FieldError {
  constraint_id: string;
  constraint: unknown;
  message: string;
}

interface AjvLikeError {
  keyword?: string;
  instancePath?: string;
  params?: Record<string, unknown>;
  message?: string;
}

/** Turns a Fastify schema-validation failure into per-field details. */
export function validationDetails(error: FastifyError): Record<string, FieldError> {
  const details: Record<string, FieldError> = {};
  const entries = (error.validation ?? []) as AjvLikeError[];
  for (const entry of entries) {
    const path = (entry.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
    const missing = entry.params?.['missingProperty'];
    const field =
      typeof missing === 'string' ? (path === '' ? missing : `${path}.${missing}`) : path;
    const key = field === '' ? (error.validationContext ?? '_schema') : field;
    if (Object.hasOwn(details, key)) {
      continue;
    }
    details[key] = {
      constraint_id: entry.keyword ?? 'invalid',
      constraint: entry.params ?? {},
      message: entry.message ?? 'invalid value',
    };
  }
  if (Object.keys(details).length === 0) {
    details[error.validationContext ?? '_schema'] = {
      constraint_id: 'invalid',
      constraint: {},
      message: error.message,
    };
  }
  return details;
}

/**
 * Renders per-field messages the way wazo-auth's legacy 400 does (`str(e.messages)` of a
 * marshmallow error): `{'expiration': ['Must be …']}`.
 */
export function formatFieldMessages(fields: Readonly<Record<string, readonly string[]>>): string {
  const parts = Object.entries(fields).map(
    ([field, messages]) => `${pythonRepr(field)}: [${messages.map(pythonRepr).join(', ')}]`,
  );
  return `{${parts.join(', ')}}`;
}

/** Python's `repr()` of a str: single quotes unless the text has one and no double quote. */
function pythonRepr(text: string): string {
  const escaped = text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
  if (text.includes("'") && !text.includes('"')) {
    return `"${escaped}"`;
  }
  return `'${escaped.replaceAll("'", "\\'")}'`;
}

/** Maps anything thrown in a route to an {@link ApiError}; never throws. */
export function toApiError(error: unknown, legacy: boolean): ApiError {
  if (error instanceof ApiError) {
    return error;
  }
  const fastifyError = error as Partial<FastifyError> | undefined;
  if (fastifyError?.validation !== undefined) {
    const details = validationDetails(fastifyError as FastifyError);
    if (legacy) {
      // wazo-auth puts the marshmallow messages into `reason[0]`.
      const fields = Object.fromEntries(
        Object.entries(details).map(([field, detail]) => [field, [detail.message]]),
      );
      return new InvalidDataError(fields, details);
    }
    return new ApiError('INVALID_DATA', { details, cause: error });
  }
  switch (fastifyError?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError('UNSUPPORTED_MEDIA_TYPE', { cause: error });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError('PAYLOAD_TOO_LARGE', { cause: error });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidJson(error);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError('URI_TOO_LONG', { cause: error });
    case 'FST_ERR_NOT_FOUND':
      return new ApiError('ROUTE_NOT_FOUND', { cause: error });
    case 'HPE_HEADER_OVERFLOW':
      // Node's HTTP parser (a `clientError`), not Fastify.
      return new ApiError('REQUEST_HEADER_FIELDS_TOO_LARGE', { cause: error });
    default:
      break;
  }
  const status = fastifyError?.statusCode;
  if (status === 400) {
    return new ApiError('BAD_REQUEST', {
      details: { error: fastifyError?.message ?? 'bad request' },
      cause: error,
    });
  }
  if (typeof status === 'number' && status > 400 && status < 500) {
    return new ApiError('CLIENT_ERROR', {
      status,
      details: { error: fastifyError?.message ?? 'client error' },
      cause: error,
    });
  }
  return new ApiError('INTERNAL', { cause: error });
}

/** 400 `invalid-data` for a body that is not JSON, in the detail the API's own parser gives. */
function invalidJson(cause: unknown): ApiError {
  return new ApiError('INVALID_DATA', {
    details: { _schema: { constraint_id: 'json', constraint: {}, message: 'Invalid JSON body' } },
    cause,
  });
}

/**
 * 400 `invalid-data` built from per-field messages. In the legacy shape its `reason[0]` is the
 * messages formatted as wazo-auth does ({@link formatFieldMessages}).
 */
export class InvalidDataError extends ApiError {
  readonly #reason: string;

  constructor(
    fields: Readonly<Record<string, readonly string[]>>,
    details?: Readonly<Record<string, unknown>>,
  ) {
    super('INVALID_DATA', {
      details:
        details ??
        Object.fromEntries(
          Object.entries(fields).map(([field, messages]) => [
            field,
            { constraint_id: 'invalid', constraint: {}, message: messages.join(' ') },
          ]),
        ),
    });
    this.#reason = formatFieldMessages(fields);
  }

  override toBody(
    shape: 'api' | 'legacy',
    now: number = Date.now(),
  ): ApiExceptionBody | LegacyErrorBody {
    if (shape === 'legacy') {
      return { reason: [this.#reason], timestamp: [now / 1000], status_code: this.status };
    }
    return super.toBody(shape, now);
  }
}

/** The wire shape an {@link ApiError} takes on a route of the given kind. */
export function errorShape(error: ApiError, legacyRoute: boolean): 'api' | 'legacy' {
  return error.shape === 'route' ? (legacyRoute ? 'legacy' : 'api') : error.shape;
}

/** Sends an {@link ApiError} in the shape its entry (or the route) calls for. */
export function sendApiError(
  reply: FastifyReply,
  error: ApiError,
  legacyRoute: boolean,
): FastifyReply {
  void reply.code(error.status).type('application/json; charset=utf-8');
  if (reply.request.method === 'HEAD') {
    return reply.send();
  }
  return reply.send(error.toBody(errorShape(error, legacyRoute)));
}

/** Options of {@link prepareApiScope}. */
export interface ApiScopeOptions {
  /** Render framework errors (bad JSON, schema violations) in wazo-auth's legacy shape. */
  readonly legacy?: boolean;
  /** Answer unmatched URLs of this scope's prefix with the APIException 404. @default false */
  readonly notFound?: boolean;
  /** Largest accepted request body in bytes. @default 65536 */
  readonly bodyLimit?: number;
  readonly logger: Logger;
}

/**
 * Prepares an encapsulated Fastify scope for Wazo-style routes:
 *
 * - an error handler rendering {@link ApiError}s; schema violations become 400 `invalid-data` with
 *   per-field `details` (or the legacy shape), and nothing a client sends yields a 500;
 * - optionally a not-found handler answering the APIException 404;
 * - a JSON body parser for every content type that accepts an empty body. Wazo parses bodies
 *   with `get_json(force=True)` whatever the `Content-Type`, and the SDK sends
 *   `Content-Type: application/json` on bodiless DELETEs, which Fastify's stock parser refuses.
 */
export function prepareApiScope(scope: FastifyInstance, options: ApiScopeOptions): void {
  const legacy = options.legacy ?? false;
  const bodyLimit = options.bodyLimit ?? 65_536;
  const logger = options.logger;

  scope.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = toApiError(error, legacy);
    if (apiError.status >= 500) {
      logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
    }
    return sendApiError(reply, apiError, legacy);
  });

  if (options.notFound ?? false) {
    scope.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
      return sendApiError(
        reply,
        new ApiError('ROUTE_NOT_FOUND', { details: { method: request.method } }),
        false,
      );
    });
  }

  scope.removeAllContentTypeParsers();
  const parseJson = (_request: FastifyRequest, body: string | Buffer): unknown => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      return undefined;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw invalidJson(error);
    }
  };
  scope.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (request, body, done) => {
    try {
      done(null, parseJson(request, body));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
