/**
 * The Wazo-compatible REST API: wazo-auth (`/api/auth/0.1`), the wazo-confd read subset
 * (`/api/confd/1.1`) and the user's calls of wazo-calld (`/api/calld/1.0`). Paths, JSON fields, status codes and error shapes follow
 * shared/specs/wazo-server-protocols.md so that the real `@wazo/sdk` logs in unchanged.
 *
 * Every route carries a Fastify JSON schema with a summary (params, querystring, body, success
 * response): ./docs.ts registers `@fastify/swagger` before the routes and serves the OpenAPI
 * document and Swagger UI at `/api/docs`, so a route added here is documented without more work.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from '@confab/core';
import { TokenService } from '../auth/tokens.js';
import type { ConfabConfig } from '../config.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/types.js';
import type { Telephony } from '../telephony/index.js';
import { authRoutes } from './auth.js';
import { CALLD_PREFIX, calldRoutes } from './calld.js';
import { confdRoutes } from './confd.js';
import { AUTH_PREFIX, CONFD_PREFIX } from './paths.js';
import { registerApiDocs } from './docs.js';

/** Dependencies of {@link registerPlatformApi}. */
export interface PlatformApiDeps {
  readonly store: Store;
  readonly config: Pick<ConfabConfig, 'sipDomain' | 'advertisedAddress' | 'httpsPort'>;
  readonly logger: Logger;
  /**
   * The token service to use. Pass one (from {@link TokenService.open}) to share it with the
   * event websocket and calld; without it one is opened here and closed with `app`.
   */
  readonly tokens?: TokenService;
  /** The event bus (calld publishes call events on it). */
  readonly bus?: EventBus;
  /** The telephony core the calld routes act on. */
  readonly telephony?: Telephony;
  /** Serve the OpenAPI document and Swagger UI at `/api/docs` (./docs.ts). @default true */
  readonly docs?: boolean;
}

/**
 * Mounts the API documentation and the auth, confd and calld routes on `app` (Fastify 5). Each
 * prefix gets its own error handler
 * (APIException or legacy shape), not-found handler and lenient JSON body parser; routes outside
 * these prefixes are untouched.
 */
export async function registerPlatformApi(
  app: FastifyInstance,
  deps: PlatformApiDeps,
): Promise<void> {
  const logger = deps.logger.child({ component: 'api' });
  let tokens = deps.tokens;
  if (tokens === undefined) {
    const owned = await TokenService.open({ store: deps.store, logger: deps.logger });
    app.addHook('onClose', async () => {
      await owned.close();
    });
    tokens = owned;
  }
  if (deps.docs ?? true) {
    await registerApiDocs(app);
  }
  await app.register(authRoutes, { prefix: AUTH_PREFIX, tokens, store: deps.store, logger });
  await app.register(confdRoutes, {
    prefix: CONFD_PREFIX,
    tokens,
    store: deps.store,
    config: { sipDomain: deps.config.sipDomain },
    logger,
  });
  await app.register(calldRoutes, {
    prefix: CALLD_PREFIX,
    tokens,
    telephony: deps.telephony,
    store: deps.store,
    logger,
  });
}

export {
  ApiError,
  API_ERRORS,
  InvalidDataError,
  prepareApiScope,
  sendApiError,
  toApiError,
} from './errors.js';
export type {
  ApiErrorCode,
  ApiExceptionBody,
  ApiScopeOptions,
  FieldError,
  LegacyErrorBody,
} from './errors.js';
export { frameworkErrorHandler, renderFrameworkError } from './framework-errors.js';
export type { RenderedError } from './framework-errors.js';
export {
  extractToken,
  getRequestAuth,
  requestTenant,
  requireToken,
  resolveUserUuid,
} from './guard.js';
export type { RequestAuth } from './guard.js';
export { WAZO_VERSION } from './confd-views.js';
export { API_DOCS_PATH, registerApiDocs } from './docs.js';
export { AUTH_PREFIX, CONFD_PREFIX, isLegacyAuthPath } from './paths.js';
export { CALLD_PREFIX } from './calld.js';
