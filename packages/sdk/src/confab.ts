/**
 * One SDK instance: `Auth`, `Phone` and `Websocket` sharing a platform and a logger, shaped like
 * `@wazo/sdk`'s default export (`Wazo.Auth`, `Wazo.Phone`, `Wazo.Websocket`, and the lowercase
 * `websocket` alias that third-party docs use). The package's default export is one such
 * instance; `createConfab()` makes independent ones (several users in one Node process).
 */
import { silentLogger, type Logger } from '@confab/core';
import { ConfabAuth } from './auth/auth.js';
import { AdHocConference } from './domain/adhoc-conference.js';
import { Call } from './domain/call.js';
import { CallSession } from './domain/call-session.js';
import { Profile, Session, SipLine } from './domain/session.js';
import { resolvePlatform, type PlatformOverrides } from './platform.js';
import { ConfabPhone } from './phone/phone.js';
import type { SdkRuntime } from './runtime.js';
import { ConfabWebsocket } from './websocket/websocket.js';

/** Options of {@link createConfab} and {@link Confab.configure}. */
export interface ConfabOptions {
  /** Environment overrides (Node: see `@confab/sdk/node`). Browser globals fill the rest. */
  platform?: PlatformOverrides;
  /** Receives the SDK's logs. @default silent */
  logger?: Logger;
}

/**
 * Domain classes, reachable as `Wazo.domain.*` in `@wazo/sdk` (`AdHocAPIConference` is the
 * original's name of {@link AdHocConference}).
 */
export const domain = {
  AdHocAPIConference: AdHocConference,
  AdHocConference,
  Call,
  CallSession,
  Profile,
  Session,
  SipLine,
} as const;

/** An SDK instance. */
export interface Confab {
  readonly Auth: ConfabAuth;
  readonly Phone: ConfabPhone;
  readonly Websocket: ConfabWebsocket;
  /** Alias of {@link Confab.Websocket}. */
  readonly websocket: ConfabWebsocket;
  readonly domain: typeof domain;
  /** Replaces the platform and/or logger; affects connections opened afterwards. */
  configure(options: ConfabOptions): void;
}

/** Creates an independent SDK instance. */
export function createConfab(options: ConfabOptions = {}): Confab {
  const runtime: SdkRuntime = {
    platform: resolvePlatform(options.platform),
    logger: options.logger ?? silentLogger,
  };
  // The websocket asks Auth for a new token when the server refuses or expires its token; the
  // refresh hands it back through updateToken() (nothing happens without a refresh token).
  const websocket = new ConfabWebsocket(runtime, {}, () => void auth.forceRefreshToken());
  const auth = new ConfabAuth(runtime, {
    onAuthenticated: (server, session) => websocket.open(server, session),
    onTokenRefreshed: (token) => websocket.updateToken(token),
    onLoggedOut: () => websocket.close(),
  });
  const phone = new ConfabPhone({ auth, runtime, websocket });
  return {
    Auth: auth,
    Phone: phone,
    Websocket: websocket,
    websocket,
    domain,
    configure(next: ConfabOptions): void {
      if (next.platform !== undefined) {
        runtime.platform = resolvePlatform(next.platform);
      }
      if (next.logger !== undefined) {
        runtime.logger = next.logger;
      }
    },
  };
}
