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
export { parseMessage, StreamFramer, validateRequest } from './parser.js';
export type { StreamFramerOptions } from './parser.js';
export { serializeMessage, serializeMessageToString } from './serializer.js';
export { TransactionLayer } from './transaction/layer.js';
export type { TransactionLayerOptions, TransactionLayerEvents } from './transaction/layer.js';
export { TransactionState } from './transaction/types.js';
export type {
  ServerTransaction,
  ClientTransaction,
  ServerTransactionEvents,
  ClientTransactionEvents,
} from './transaction/types.js';
export { DEFAULT_TIMERS } from './transaction/timers.js';
export type { TransactionTimerOptions, TransactionTimers } from './transaction/timers.js';
export {
  MAGIC_COOKIE,
  newBranch,
  isRfc3261Branch,
  newTag,
  newCallId,
  initialCSeq,
  nextCSeq,
  createResponse,
  createCancel,
  createAckForNon2xx,
} from './transaction/messages.js';
export type { CreateResponseOptions } from './transaction/messages.js';
export { Uas2xxRetransmitter, Uas2xxRetransmitterState } from './transaction/uas-2xx.js';
export type {
  Uas2xxRetransmitterOptions,
  Uas2xxRetransmitterEvents,
} from './transaction/uas-2xx.js';
export {
  Dialog,
  DialogState,
  dialogIdOf,
  dialogIdKey,
  completeVia,
  VIA_PLACEHOLDER_HOST,
} from './dialog.js';
export type { DialogId, DialogEvents, CreateInDialogRequestOptions, ViaSentBy } from './dialog.js';
