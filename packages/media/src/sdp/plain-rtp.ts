/**
 * Offer/answer (RFC 3264) for plain RTP/AVP audio: desk phones, softphones, sipp, trunks.
 *
 * One audio stream: G.711 (PCMU 0, PCMA 8, RFC 3551), Opus (RFC 7587: `opus/48000/2` on a
 * dynamic payload type, mono media) and RFC 4733 `telephone-event` at the clock rate of each
 * offered codec (`/8000` beside G.711, `/48000` beside Opus, RFC 4733 §2.1). No ICE, no
 * encryption.
 *
 * Codec order: our offers list G.711 first (what desk phones and trunks expect and every one
 * of them decodes; Opus is an extra a phone may pick) unless the leg is configured otherwise;
 * our answers take the offerer's first supported codec (RFC 3264 §6.1), so an Opus-first phone
 * gets Opus. The functions are pure: the leg owns sockets and state, these only read
 * and write descriptions.
 */
import { isIPv4 } from 'node:net';
import type { MediaFormat } from '../bridge/types.js';
import { MediaError } from '../engine/errors.js';
import {
  answerDirection,
  audioLevelMapping,
  AUDIO_LEVEL_URI,
  connectionAddress,
  isUnspecifiedAddress,
  MediaDirection,
  mediaDirection,
  negotiateFormat,
  writeSdp,
} from './sdp.js';
import type { CodecSpec, MediaDescription, SessionDescription } from './sdp.js';

/** What a plain RTP leg writes into each of its descriptions. */
export interface LocalRtpDescription {
  /** o= session id, fixed for the leg's life (RFC 3264 §5). */
  sessionId: string;
  /** o= version: the caller increases it for every description it sends (RFC 3264 §8). */
  version: number;
  /** Announced IPv4 address (c= and o=). */
  address: string;
  /** RTP port (even); RTCP is on port + 1 (RFC 3550 §11). */
  port: number;
  /** Our direction, before intersecting with the offer (RFC 3264 §6.1). */
  direction: MediaDirection;
}

/** Where the remote party wants RTP and RTCP sent. */
export interface RtpEndpoint {
  address: string;
  port: number;
  rtcpPort: number;
}

/** The outcome of one offer/answer exchange, from the leg's point of view. */
export interface PlainRtpNegotiation {
  /** Codec and payload types to SEND with (the remote party's numbers, RFC 3264 §5.1). */
  format: MediaFormat;
  /** The payload types WE declared for receiving (ours when we offered, theirs when we answered). */
  receiveFormat: MediaFormat;
  /** The direction the remote party wrote. */
  remoteDirection: MediaDirection;
  /** The direction we wrote. */
  localDirection: MediaDirection;
  /**
   * Where to send; `undefined` when the remote gave no usable destination (port 0 or the
   * RFC 3264 §8.4 hold address 0.0.0.0).
   */
  remote: RtpEndpoint | undefined;
  /** Index of the audio section in the description (offers may carry other, rejected, streams). */
  mediaIndex: number;
}

/** Profiles we answer: RTP/AVP and its feedback extension (AVPF endpoints interwork with AVP, RFC 4585 §5). */
const PLAIN_PROFILES: ReadonlySet<string> = new Set(['RTP/AVP', 'RTP/AVPF']);

/** The `telephone-event/8000` payload type we offer (a common choice; any dynamic number works). */
export const DEFAULT_TELEPHONE_EVENT_PT = 101;

/** The `telephone-event/48000` payload type we offer beside Opus (RFC 4733 §2.1). */
export const OPUS_TELEPHONE_EVENT_PT = 110;

/** The dynamic payload type we offer Opus on (RFC 7587 §7: dynamic, chosen by the offerer). */
export const OPUS_PT = 111;

/** Opus as a plain RTP leg offers it: signalled `opus/48000/2` (RFC 7587 §7), media mono. */
export const PLAIN_RTP_OPUS: MediaFormat['audio'] = {
  name: 'opus',
  payloadType: OPUS_PT,
  clockRate: 48_000,
  channels: 2,
};

/**
 * Opus parameters we declare for receiving (RFC 7587 §6.1): 10 ms packets at the least and
 * in-band FEC welcome (our decoders recover a lost frame from the next one).
 */
export const OPUS_FMTP = 'minptime=10;useinbandfec=1';

/** A telephone-event format: payload type and clock rate. */
export type TelephoneEventFormat = NonNullable<MediaFormat['telephoneEvent']>;

/**
 * The telephone-event formats an offer with `codecs` carries: one per distinct clock rate
 * (RFC 4733 §2.1: the event clock must be the audio clock), `/8000` on
 * {@link DEFAULT_TELEPHONE_EVENT_PT} and `/48000` on {@link OPUS_TELEPHONE_EVENT_PT}.
 */
export function telephoneEventsFor(
  codecs: readonly MediaFormat['audio'][],
): TelephoneEventFormat[] {
  const rates = [...new Set(codecs.map((codec) => codec.clockRate))];
  return rates.map((clockRate) => ({
    payloadType: clockRate === 8000 ? DEFAULT_TELEPHONE_EVENT_PT : OPUS_TELEPHONE_EVENT_PT,
    clockRate,
  }));
}

/** The audio formats a plain RTP leg offers, in preference order. */
export const PLAIN_RTP_OFFER: readonly MediaFormat['audio'][] = [
  { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
  { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1 },
];

/** Packetization we send (RFC 3551 §4.5: 20 ms is the G.711 default). */
const PTIME_MS = 20;

function baseSession(local: LocalRtpDescription): SessionDescription {
  return {
    version: 0,
    origin: {
      username: 'confab',
      sessionId: local.sessionId,
      sessionVersion: local.version,
      netType: 'IN',
      ipVer: 4,
      address: local.address,
    },
    name: 'confab',
    connection: { version: 4, ip: local.address },
    timing: { start: 0, stop: 0 },
    media: [],
  };
}

function audioSection(
  local: LocalRtpDescription,
  protocol: string,
  codecs: readonly MediaFormat['audio'][],
  telephoneEvents: readonly TelephoneEventFormat[],
  direction: MediaDirection,
  ext: MediaDescription['ext'] = undefined,
): MediaDescription {
  const rtp: MediaDescription['rtp'] = codecs.map((codec) => ({
    payload: codec.payloadType,
    codec: codec.name,
    rate: codec.clockRate,
    // RFC 7587 §7: Opus is always signalled with 2 channels; G.711 omits the count (1).
    ...(codec.channels === 1 ? {} : { encoding: codec.channels }),
  }));
  const fmtp: MediaDescription['fmtp'] = codecs
    .filter((codec) => codec.name === 'opus')
    .map((codec) => ({ payload: codec.payloadType, config: OPUS_FMTP }));
  const payloads = codecs.map((codec) => codec.payloadType);
  for (const telephoneEvent of telephoneEvents) {
    payloads.push(telephoneEvent.payloadType);
    rtp.push({
      payload: telephoneEvent.payloadType,
      codec: 'telephone-event',
      rate: telephoneEvent.clockRate,
    });
    // RFC 4733 §7.1.1: events 0-15 are the DTMF digits, 16 is flash.
    fmtp.push({ payload: telephoneEvent.payloadType, config: '0-16' });
  }
  return {
    type: 'audio',
    port: local.port,
    protocol,
    payloads: payloads.join(' '),
    rtp,
    fmtp,
    ptime: PTIME_MS,
    direction,
    ...(ext === undefined ? {} : { ext }),
  };
}

/** An m= section that rejects an offered stream (RFC 3264 §6: port 0, one of the offered formats). */
function rejectedSection(offered: MediaDescription): MediaDescription {
  const firstFormat = String(offered.payloads ?? '0').split(' ')[0] ?? '0';
  return {
    type: offered.type,
    port: 0,
    protocol: offered.protocol,
    payloads: firstFormat,
    rtp: [],
    fmtp: [],
  };
}

/**
 * Our initial (or re-) offer: one audio stream with `codecs` in their order and
 * `telephoneEvents` (by default one per clock rate, {@link telephoneEventsFor}).
 */
export function writePlainRtpOffer(
  local: LocalRtpDescription,
  codecs: readonly MediaFormat['audio'][] = PLAIN_RTP_OFFER,
  telephoneEvents: readonly TelephoneEventFormat[] = telephoneEventsFor(codecs),
): string {
  const session = baseSession(local);
  session.media.push(audioSection(local, 'RTP/AVP', codecs, telephoneEvents, local.direction));
  return writeSdp(session);
}

function remoteEndpoint(
  session: SessionDescription,
  media: MediaDescription,
): RtpEndpoint | undefined {
  const address = connectionAddress(session, media);
  if (address === undefined) {
    // RFC 8866 §5.7: a c= line is required at session level or in every section.
    throw MediaError.sdpInvalid('no connection address');
  }
  if (isUnspecifiedAddress(address) || media.port === 0) {
    return undefined;
  }
  if (!isIPv4(address)) {
    throw MediaError.sdpInvalid(`connection address ${address} is not an IPv4 address`);
  }
  // RFC 3605: a=rtcp overrides the default RTCP port (RTP port + 1, RFC 3550 §11).
  const rtcpPort = media.rtcp?.port;
  return {
    address,
    port: media.port,
    rtcpPort:
      rtcpPort !== undefined && Number.isInteger(rtcpPort) && rtcpPort > 0 && rtcpPort <= 65_535
        ? rtcpPort
        : media.port + 1,
  };
}

function isPlainAudio(media: MediaDescription): boolean {
  return (
    media.type === 'audio' && media.port !== 0 && PLAIN_PROFILES.has(media.protocol.toUpperCase())
  );
}

/**
 * Answers a remote offer: the first plain RTP audio stream with a codec in `supported` is
 * accepted (the offerer's codec preference wins, with its payload type numbers, RFC 3264 §6.1);
 * every other stream is rejected with port 0. Throws `MEDIA_SDP_INVALID` when no audio stream is
 * usable.
 */
export function answerPlainRtpOffer(
  offer: SessionDescription,
  local: LocalRtpDescription,
  supported: readonly CodecSpec[],
): { sdp: string; negotiation: PlainRtpNegotiation } {
  let mediaIndex = -1;
  let format: MediaFormat | undefined;
  for (const [index, media] of offer.media.entries()) {
    if (!isPlainAudio(media)) {
      continue;
    }
    format = negotiateFormat(media, supported);
    if (format) {
      mediaIndex = index;
      break;
    }
  }
  const media = offer.media[mediaIndex];
  if (!format || !media) {
    throw MediaError.sdpInvalid('no RTP/AVP audio stream with a supported codec');
  }
  const remote = remoteEndpoint(offer, media);
  const remoteDirection = mediaDirection(offer, media);
  const localDirection = answerDirection(remoteDirection, local.direction);
  // RFC 6464 audio levels from a phone feed the mixer's talk detection. RFC 8285 §6: the
  // answer keeps the offerer's id; we only receive the extension, never send it.
  const level = audioLevelMapping(media);
  format.audioLevelExtensionId = level?.id;
  const ext: MediaDescription['ext'] =
    level === undefined
      ? undefined
      : [
          {
            value: level.id,
            direction: MediaDirection.RecvOnly,
            uri: AUDIO_LEVEL_URI,
            ...(level.config === undefined ? {} : { config: level.config }),
          },
        ];
  const session = baseSession(local);
  session.media = offer.media.map((offered, index) =>
    index === mediaIndex
      ? audioSection(
          local,
          offered.protocol,
          [format.audio],
          format.telephoneEvent === undefined ? [] : [format.telephoneEvent],
          localDirection,
          ext,
        )
      : rejectedSection(offered),
  );
  return {
    sdp: writeSdp(session),
    negotiation: {
      format,
      receiveFormat: format,
      remoteDirection,
      localDirection,
      remote,
      mediaIndex,
    },
  };
}

/**
 * Reads the answer to our offer (`offered` is the format list we offered, `offeredEvents` the
 * telephone-event formats we offered, `offerDirection` the direction we wrote). Throws `MEDIA_SDP_INVALID` when the answer rejects the audio stream or
 * picks a codec we did not offer.
 */
export function readPlainRtpAnswer(
  answer: SessionDescription,
  offered: readonly MediaFormat['audio'][],
  offeredEvents: readonly TelephoneEventFormat[],
  offerDirection: MediaDirection,
): PlainRtpNegotiation {
  // RFC 3264 §6: the answer has exactly as many m= lines as the offer (ours has one).
  if (answer.media.length !== 1) {
    throw MediaError.sdpInvalid('the answer does not mirror the offered m= lines');
  }
  const media = answer.media[0]!;
  if (media.type !== 'audio' || !PLAIN_PROFILES.has(media.protocol.toUpperCase())) {
    throw MediaError.sdpInvalid('the answer changed the media type or transport');
  }
  if (media.port === 0) {
    throw MediaError.sdpInvalid('the answer rejected the audio stream');
  }
  const format = negotiateFormat(media, offered);
  if (!format) {
    throw MediaError.sdpInvalid('the answer picked no offered codec');
  }
  const offeredCodec = offered.find((codec) => codec.name === format.audio.name)!;
  // The answer's event format has the chosen codec's clock (negotiateFormat); we receive it on
  // the payload type we offered at that clock, if we offered one (RFC 4733 §2.1).
  const offeredEvent =
    format.telephoneEvent === undefined
      ? undefined
      : offeredEvents.find((event) => event.clockRate === format.telephoneEvent?.clockRate);
  const receiveFormat: MediaFormat = {
    audio: { ...format.audio, payloadType: offeredCodec.payloadType },
    telephoneEvent:
      offeredEvent === undefined
        ? undefined
        : { payloadType: offeredEvent.payloadType, clockRate: offeredEvent.clockRate },
    // Our offers carry no a=extmap, so an answer may not introduce one (RFC 8285 §6).
    audioLevelExtensionId: undefined,
  };
  const remoteDirection = mediaDirection(answer, media);
  return {
    format: {
      audio: format.audio,
      telephoneEvent: receiveFormat.telephoneEvent ? format.telephoneEvent : undefined,
      audioLevelExtensionId: undefined,
    },
    receiveFormat,
    remoteDirection,
    // The answerer may only narrow the direction (RFC 3264 §6.1); what we do is the intersection.
    localDirection: answerDirection(remoteDirection, offerDirection),
    remote: remoteEndpoint(answer, media),
    mediaIndex: 0,
  };
}
