/**
 * The Wazo-compatible event websocket (`/api/websocketd/`, wazo-websocketd protocol v1/v2).
 */
export {
  EventWebSocketServer,
  EventWebSocketServerState,
  type EventWebSocketServerOptions,
} from './server.js';
export {
  EventSession,
  EventSessionState,
  type EventFrames,
  type SessionTokenVerifier,
} from './session.js';
export {
  MAX_EVENT_NAME_LENGTH,
  WEBSOCKETD_ACL,
  WebsocketdCloseCode,
  encodeFrame,
  nextTokenCheckDelay,
  parseClientOperation,
  parseConnectionParameters,
  wrapEventFrame,
  type ClientOperation,
  type ConnectionParameters,
  type ParseResult,
  type ProtocolVersion,
} from './protocol.js';
