export {
  createWebServers,
  localUrlHost,
  CORS_ALLOWED_HEADERS,
  EVENT_WEBSOCKET_PATH,
  SIP_SUBPROTOCOL,
  SIP_WEBSOCKET_PATH,
} from './servers.js';
export type { RegisterApi, WebServers, WebServersOptions } from './servers.js';
export {
  UpgradeRouter,
  createWebSocketEndpoint,
  refuseUpgrade,
  upgradePath,
  offeredSubprotocols,
  MAX_WEBSOCKET_PAYLOAD,
} from './upgrade.js';
export type {
  UpgradeHandler,
  WebSocketEndpoint,
  WebSocketEndpointOptions,
  WebSocketHandler,
} from './upgrade.js';
export { API_PREFIX, registerWebApp } from './static.js';
