/**
 * Errors raised before a request reaches an API scope's error handler, rendered in the Wazo
 * shapes all the same:
 *
 * - Fastify's router (`frameworkErrors`): a path that is not valid percent-encoded UTF-8
 *   (`FST_ERR_BAD_URL`, 400), a path parameter over the router's length limit
 *   (`FST_ERR_MAX_PARAM_LENGTH`, 414);
 * - failures under `/api/` outside the API scopes (the application's root error handler), e.g. a
 *   malformed JSON body sent to an unknown path;
 * - requests Node's HTTP parser refuses (`clientError`): a header section over the size limit
 *   (431), a malformed request (400), a request timeout (408).
 *
 * The shape follows the path, as on the routes themselves: wazo-auth's legacy shape under
 * `/api/auth/0.1/token`, the APIException shape everywhere else.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorShape, toApiError } from './errors.js';
import type { ApiExceptionBody, LegacyErrorBody } from './errors.js';
import { isLegacyAuthPath } from './paths.js';

/** The status and JSON body to answer with. */
export interface RenderedError {
  readonly status: number;
  readonly body: ApiExceptionBody | LegacyErrorBody;
}

/** Longest framework message copied into `details.error` (it may quote the whole URL). */
const MAX_DETAIL_LENGTH = 256;

function pathOf(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

/**
 * Renders an error the framework raised for a request to `url` (`undefined` when the request line
 * could not be read): the Wazo error of the path's shape, never a 500 for a client's mistake.
 */
export function renderFrameworkError(error: unknown, url: string | undefined): RenderedError {
  const legacy = url !== undefined && isLegacyAuthPath(pathOf(url));
  const apiError = toApiError(error, legacy);
  const body = apiError.toBody(errorShape(apiError, legacy));
  if ('details' in body && typeof body.details['error'] === 'string') {
    body.details['error'] = body.details['error'].slice(0, MAX_DETAIL_LENGTH);
  }
  return { status: apiError.status, body };
}

/** Fastify's `frameworkErrors` option rendering {@link renderFrameworkError}. */
export function frameworkErrorHandler(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const { status, body } = renderFrameworkError(error, request.raw.url);
  void reply.code(status).type('application/json; charset=utf-8');
  void reply.send(request.method === 'HEAD' ? undefined : body);
}
