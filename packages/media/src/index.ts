/**
 * `@confab/media`: the media engine of Confab.
 *
 * Two tiers, deliberately:
 * - the engine ({@link MediaEngine}: {@link LocalMediaEngine} in-process,
 *   {@link WorkerMediaEngine} on worker threads) is what the server uses: legs and bridges by
 *   id, a typed command/event protocol, errors with stable codes;
 * - the building blocks (legs, bridges, RTP, codecs, SDP helpers, DTMF, tone tools) stay public
 *   for tests, benchmarks and tools that need one piece.
 *
 * Held back: the worker protocol (`worker/protocol.ts`) and the SDP reshaping between SIP peers
 * and werift (`sdp/webrtc.ts`) are internal.
 */

// Engine
export { LocalMediaEngine } from './engine/local-engine.js';
export { WorkerMediaEngine } from './engine/worker-engine.js';
export type { WorkerMediaEngineOptions } from './engine/worker-engine.js';
export { LegCloseReason } from './engine/types.js';
export type {
  BridgeClosedEvent,
  CreateLegParams,
  LegClosedEvent,
  LegDtmfEvent,
  LegStateEvent,
  LocalMediaEngineOptions,
  MediaCommand,
  MediaCommandOf,
  MediaCommandResults,
  MediaCommandType,
  MediaEngine,
  MediaEngineEvent,
  MediaEngineEvents,
  MediaEngineSettings,
  MediaEngineStats,
  MixerClosedEvent,
  MixerTalkingEvent,
  WorkerStats,
} from './engine/types.js';
export { isMediaError, MediaError, MediaErrorCode } from './engine/errors.js';

// Legs
export { LegKind, LegState } from './legs/types.js';
export type { DtmfEvent, LegEvents, LegStats, MediaLeg } from './legs/types.js';
export { WebRtcLeg } from './legs/webrtc-leg.js';
export type { WebRtcLegOptions } from './legs/webrtc-leg.js';
export { RtpLeg } from './legs/rtp-leg.js';
export type { RtpLegCodec, RtpLegOptions } from './legs/rtp-leg.js';
export { DEFAULT_RTP_LEG_CODECS } from './legs/rtp-leg.js';
export {
  DEFAULT_PORT_RANGE,
  PortAllocator,
  sharedPortAllocator,
  splitPortRange,
} from './legs/port-allocator.js';

// SDP helpers
export {
  answerDirection,
  AUDIO_LEVEL_URI,
  audioLevelMapping,
  connectionAddress,
  directionReceives,
  directionSends,
  MediaDirection,
  negotiateFormat,
  OPUS,
  parseSdp,
  PCMA,
  PCMU,
  reverseDirection,
  rtpMaps,
  SDP_LIMITS,
  writeSdp,
} from './sdp/sdp.js';
export type { CodecSpec, ExtensionMapping, RtpMapEntry } from './sdp/sdp.js';

// RTP, bridges (sans-I/O core)
export { isRtcp, parseRtp, serializeRtp, serializeRtpInto } from './rtp/packet.js';
export type { RtpHeaderExtension, RtpPacket } from './rtp/packet.js';
export {
  ntpFromUnixMs,
  parseRtcp,
  RtcpPacketType,
  SdesItemType,
  serializeRtcp,
} from './rtp/rtcp.js';
export type {
  RtcpGoodbye,
  RtcpPacket,
  RtcpReceiverReport,
  RtcpReportBlock,
  RtcpSenderReport,
  RtcpSourceDescription,
} from './rtp/rtcp.js';
export {
  audioLevelElement,
  audioLevelOctet,
  findHeaderExtension,
  parseHeaderExtensions,
  readAudioLevel,
  serializeHeaderExtensions,
} from './rtp/extensions.js';
export type { AudioLevel, HeaderExtensionElement } from './rtp/extensions.js';
export type { AudioCodec, BridgePort, Clock, MediaFormat } from './bridge/types.js';
export { OutboundRtpStream } from './bridge/outbound-stream.js';
export type { OutboundRtpStreamOptions, OutboundRtpStreamStats } from './bridge/outbound-stream.js';
export { RelayBridge, RelayBridgeState } from './bridge/relay-bridge.js';
export type {
  RelayBridgeEvents,
  RelayBridgeOptions,
  RelayPortStats,
} from './bridge/relay-bridge.js';
export { Transcoder } from './bridge/transcoder.js';
export { Mixer, MixerState } from './mixer/mixer.js';
export type {
  MixerEvents,
  MixerOptions,
  MixerPortStats,
  MixerStats,
  ReceivedPacket,
} from './mixer/mixer.js';
export { JitterBuffer, JitterStatus } from './mixer/jitter-buffer.js';
export type { JitterBufferOptions, JitterBufferStats } from './mixer/jitter-buffer.js';
export { energyLevel, TalkDetector, talkSettings } from './mixer/talk-detector.js';
export type { TalkDetectorOptions, TalkSettings } from './mixer/talk-detector.js';
export type { TranscoderOptions, TranscoderStats } from './bridge/transcoder.js';

// Codecs, DTMF and audio tools
export {
  decodeAlaw,
  decodeMulaw,
  encodeAlaw,
  encodeMulaw,
  G711Decoder,
  G711Encoder,
  transcodeG711,
} from './codec/g711.js';
export { OpusDecoder, OpusEncoder } from './codec/opus.js';
export type { OpusDecoderOptions, OpusEncoderOptions } from './codec/opus.js';
export type { AudioDecoder, AudioEncoder } from './codec/types.js';
export { createDecoder, createEncoder } from './codec/factory.js';
export type { CodecFactoryOptions } from './codec/factory.js';
export {
  DtmfReceiver,
  parseTelephoneEvent,
  serializeTelephoneEvent,
} from './dtmf/telephone-event.js';
export type { DtmfDigit, DtmfDigitEvent, TelephoneEvent } from './dtmf/telephone-event.js';
export {
  dbfs,
  generateTone,
  goertzelPower,
  rms,
  ToneGenerator,
  toneAmplitude,
} from './audio/goertzel.js';
export { Resampler } from './audio/resample.js';
export type { ResamplerOptions } from './audio/resample.js';
