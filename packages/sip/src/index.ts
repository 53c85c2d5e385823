export { SipHeaders, canonicalHeaderName, LIST_HEADERS } from './headers.js';
export type { HeaderEntry } from './headers.js';
export type { SipUri, NameAddr, Via } from './uri.js';
export { cloneUri } from './uri.js';
export {
  SipRequest,
  SipResponse,
  SIP_VERSION,
  isRequest,
  isResponse,
  bodyText,
  setBody,
  reasonPhrase,
  REASON_PHRASES,
} from './message.js';
export type { SipMessage } from './message.js';
export type { Flow, TransportProtocol } from './transport.js';
export { isReliable, flowKey } from './transport.js';
export { FakeClock, systemClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export {
  DigestServer,
  DigestError,
  DigestErrorCode,
  DigestAlgorithm,
  computeDigestResponse,
  buildAuthorization,
  parseAuthHeader,
  parseDigestChallenge,
  selectChallenge,
} from './digest.js';
export type {
  AuthHeader,
  DigestChallenge,
  DigestCredentials,
  DigestFailureReason,
  DigestQop,
  DigestResponseInput,
  DigestServerOptions,
  DigestVerifyRequest,
  DigestVerifyResult,
} from './digest.js';
export { SipParseError, SipParseErrorCode, isSipParseError } from './errors.js';
export type { SipParseErrorOptions } from './errors.js';
export { parseUri, formatUri, parseNameAddr, formatNameAddr, uriEquals } from './uri-parser.js';
export {
  parseVia,
  formatVia,
  parseCSeq,
  parseParams,
  formatParams,
  splitHeaderList,
  getCallId,
  getCSeq,
  getTopVia,
  getFrom,
  getTo,
  getTag,
  getContacts,
  getMaxForwards,
  getExpires,
} from './header-values.js';
export { DEFAULT_PARSE_LIMITS } from './limits.js';
export type { ParseOptions, ParseLimits } from './limits.js';
