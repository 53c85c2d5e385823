/**
 * `@confab/sdk`: the Confab client SDK for browsers and Node.
 *
 * The default export is a ready SDK instance shaped like `@wazo/sdk`'s `Wazo` object:
 * ```ts
 * import Confab from '@confab/sdk';
 * Confab.Auth.setHost('confab.example.com');
 * await Confab.Auth.logIn('alice', 'secret');
 * Confab.Phone.on(Confab.Phone.ON_CALL_INCOMING, (call) => Confab.Phone.accept(call));
 * await Confab.Phone.connect();
 * const call = await Confab.Phone.call('1002');
 * ```
 * Node programs use `@confab/sdk/node` to inject `ws` and `@roamhq/wrtc`.
 */
import { createConfab } from './confab.js';

const confab = createConfab();
export default confab;

/** The default instance's members, as named exports. */
export const Auth = confab.Auth;
export const Phone = confab.Phone;
export const Websocket = confab.Websocket;
export const websocket = confab.websocket;

export { createConfab, domain } from './confab.js';
export type { Confab, ConfabOptions } from './confab.js';

export { ConfabAuth, BACKEND_WAZO, DEFAULT_EXPIRATION } from './auth/auth.js';
export type { AuthHooks, LogInOptions } from './auth/auth.js';

export { ConfabPhone, PhoneState } from './phone/phone.js';
export type { PhoneConnectOptions } from './phone/phone.js';
export { PhoneEvent } from './phone/events.js';
export type { PhoneEventName, PhoneEvents } from './phone/events.js';

export {
  ConfabWebsocket,
  SocketEvent,
  WebsocketEvent,
  WebsocketState,
} from './websocket/websocket.js';
export type { BusEvent, ReconnectPolicy, WebsocketEventName } from './websocket/websocket.js';

export { CallSession, SipStatus } from './domain/call-session.js';
export type { CallSessionInit } from './domain/call-session.js';
export { Call } from './domain/call.js';
export { AdHocConference, AdHocAPIConference, ConferenceState } from './domain/adhoc-conference.js';
export type {
  AdHocConferenceInit,
  ConferenceBackend,
  ConferenceView,
  ParticipantRef,
} from './domain/adhoc-conference.js';
export type { CallInit } from './domain/call.js';
export { Session, Profile, SipLine } from './domain/session.js';
export type { Line, Extension, SessionInit, ProfileInit, SipLineInit } from './domain/session.js';

export {
  ApiError,
  ApiErrorCode,
  ConferenceError,
  ConferenceErrorCode,
  isConferenceError,
  PhoneError,
  PhoneErrorCode,
  isApiError,
  isPhoneError,
} from './errors.js';

export { parseServerAddress } from './server-address.js';
export type { ServerAddress } from './server-address.js';
export { resolvePlatform } from './platform.js';
export type {
  Platform,
  PlatformOverrides,
  RemoteAudioOutput,
  WebSocketLike,
  WebSocketFactory,
  FetchLike,
} from './platform.js';
export { createDomAudioOutput } from './phone/remote-audio.js';
export type { DomAudioOutputOptions } from './phone/remote-audio.js';
