/**
 * `@confab/server`: the Confab server as a library (the CLI in `bin/confab.js` uses it too).
 * Tests and embedders start a whole server with {@link startConfab}, or just the telephony core
 * with {@link startTelephony} and a {@link Store}.
 */
export { startConfab } from './app.js';
export type {
  ConfabServer,
  PlatformApiFactory,
  StartConfabOptions,
  TelephonyHandle,
  TelephonyStats,
} from './app.js';
export { API_DOCS_PATH, registerPlatformApi } from './api/index.js';
export { loadConfig, defaultConfig } from './config.js';
export type { ConfabConfig } from './config.js';
export { openStore } from './store/index.js';
export type { Store, User, Line, Tenant } from './store/types.js';
export { startTelephony } from './telephony/index.js';
export type {
  MediaStats,
  MediaWorkerStats,
  Telephony,
  TelephonyOptions,
} from './telephony/index.js';
export { ChannelState } from './telephony/channel.js';
export type { Channel } from './telephony/channel.js';
export { HangupCause } from './telephony/hangup-cause.js';
export { InProcessEventBus, EventBusState, escapeBusKeyValue, userEvent } from './events/bus.js';
export type { BusHandler, BusMessage, EventBus, UserEventInput } from './events/bus.js';
export { EventWebSocketServer, WEBSOCKETD_ACL, WebsocketdCloseCode } from './websocketd/index.js';
export type { EventWebSocketServerOptions } from './websocketd/index.js';
