/**
 * The SDP seam between SIP peers (browsers through SIP.js, Chromium, werift clients) and the
 * werift `RTCPeerConnection` inside a WebRTC leg.
 *
 * werift 0.24 negotiates every m= section it is given and throws on a video or data section when
 * no codec is configured for it, so a leg hands werift only the audio section it will use and
 * rebuilds the full answer (or re-offer) around werift's audio section: other offered sections
 * are rejected with port 0 (RFC 3264 §6) and left out of the BUNDLE group (RFC 8843 §7.3.3).
 * The audio section handed to werift keeps only Opus/48000/2 and telephone-event/48000, so the
 * answer names exactly the formats the leg uses, with the offerer's payload type numbers.
 *
 * Quirks met on the way (see docs in the leg for the transport-level ones):
 * - werift writes `m=audio 9` with `c=IN IP4 0.0.0.0` even after gathering; SIP middleboxes
 *   that ignore ICE read that as "no media", so the default destination is set to the first
 *   host candidate (RFC 8839 §4.2.1.2, §5.1).
 * - werift keeps its own o= line per description; RFC 3264 §8 wants one session id and an
 *   increasing version across the dialog, so the leg rewrites o=.
 * - werift writes `a=ice-lite` inside the m= section; it is moved to the session level
 *   (RFC 8839 §5.3).
 * - RFC 6464 `ssrc-audio-level` (Chromium offers it by default) passes through to werift, which
 *   answers it with the offerer's id and offers it itself (id 1); its id in {@link MediaFormat}
 *   is the one the remote party wrote.
 * - Chromium offers `telephone-event/48000` (110) and `telephone-event/8000` (126); werift
 *   matches codecs by MIME type only and would answer both, so the 8000 Hz one is removed first.
 */
import { parse as transformParse } from 'sdp-transform';
import { MediaError } from '../engine/errors.js';
import type { MediaFormat } from '../bridge/types.js';
import {
  audioLevelMapping,
  formatsOf,
  isTelephoneEvent,
  mediaDirection,
  negotiateFormat,
  OPUS,
  rtpMaps,
  writeSdp,
} from './sdp.js';
import type { MediaDescription, MediaDirection, SessionDescription } from './sdp.js';

/** The secure profile WebRTC requires (RFC 8829 §5.1.2); SAVPF without UDP/TLS is accepted too. */
const WEBRTC_PROFILES: ReadonlySet<string> = new Set(['UDP/TLS/RTP/SAVPF', 'UDP/TLS/RTP/SAVP']);

/** One m= section of the dialog's session as both sides see it (RFC 3264 §8: sections never go away). */
export interface SectionShape {
  type: string;
  protocol: string;
  /** The first offered format, repeated when the section is rejected. */
  format: string;
  mid: string | undefined;
}

/**
 * The m= sections of a session and which one is the audio stream werift handles. A leg keeps it
 * for the dialog's life so that its answers and re-offers list every section in order.
 */
export interface SessionShape {
  sections: SectionShape[];
  audioIndex: number;
}

/** A remote description reduced to the audio section werift should negotiate. */
export interface IsolatedDescription {
  /** SDP for `RTCPeerConnection.setRemoteDescription`. */
  sdp: string;
  /** Opus and telephone-event/48000 with the remote party's payload type numbers. */
  format: MediaFormat;
  /** The direction the remote party wrote for the audio stream. */
  direction: MediaDirection;
}

/** A remote offer reduced for werift, with the shape of the session it describes. */
export interface IsolatedOffer extends IsolatedDescription {
  shape: SessionShape;
}

function shapeOf(media: MediaDescription): SectionShape {
  return {
    type: media.type,
    protocol: media.protocol,
    format: formatsOf(media)[0] ?? '0',
    mid: media.mid === undefined ? undefined : String(media.mid),
  };
}

/** Hash functions of RFC 8122 §5 that DTLS stacks still accept. */
const FINGERPRINT_HASHES: ReadonlySet<string> = new Set(['sha-1', 'sha-256', 'sha-384', 'sha-512']);
/** RFC 8122 §5: `2UHEX *(":" 2UHEX)`. */
const FINGERPRINT_VALUE = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+$/;

function hasIceAndDtls(session: SessionDescription, media: MediaDescription): boolean {
  const ufrag = media.iceUfrag ?? session.iceUfrag;
  const pwd = media.icePwd ?? session.icePwd;
  const fingerprint = media.fingerprint ?? session.fingerprint;
  return (
    ufrag !== undefined &&
    pwd !== undefined &&
    fingerprint !== undefined &&
    FINGERPRINT_HASHES.has(String(fingerprint.type).toLowerCase()) &&
    FINGERPRINT_VALUE.test(String(fingerprint.hash))
  );
}

/** Keeps Opus/48000/2 and telephone-event/48000 in an audio section (with their fmtp and rtcp-fb). */
function keepOpusFormats(media: MediaDescription): MediaDescription | undefined {
  const entries = rtpMaps(media);
  const opus = entries.find(
    (entry) =>
      entry.name.toLowerCase() === OPUS.name &&
      entry.clockRate === OPUS.clockRate &&
      entry.channels === OPUS.channels,
  );
  if (!opus) {
    return undefined;
  }
  const keep = new Set([opus.payloadType]);
  for (const entry of entries) {
    if (isTelephoneEvent(entry, OPUS.clockRate)) {
      keep.add(entry.payloadType);
    }
  }
  const order = formatsOf(media)
    .map(Number)
    .filter((payloadType) => keep.has(payloadType));
  return {
    ...media,
    payloads: order.join(' '),
    rtp: media.rtp.filter((entry) => keep.has(entry.payload)),
    fmtp: media.fmtp.filter((entry) => keep.has(entry.payload)),
    ...(media.rtcpFb === undefined
      ? {}
      : { rtcpFb: media.rtcpFb.filter((entry) => keep.has(Number(entry.payload))) }),
  };
}

/**
 * Reduces a remote WebRTC offer to its first usable audio section. `previous` is the shape of
 * the dialog so far (re-offers): the audio stream must stay where it was. Throws
 * `MEDIA_SDP_INVALID` when there is no DTLS-SRTP audio stream with ICE credentials and Opus.
 */
export function isolateWebRtcOffer(
  offer: SessionDescription,
  previous?: SessionShape,
): IsolatedOffer {
  if (previous && offer.media.length < previous.sections.length) {
    // RFC 3264 §8: a later offer keeps every m= line of the previous one.
    throw MediaError.sdpInvalid('the re-offer removed m= lines');
  }
  let audioIndex = -1;
  let audio: MediaDescription | undefined;
  for (const [index, media] of offer.media.entries()) {
    if (
      media.type !== 'audio' ||
      media.port === 0 ||
      !WEBRTC_PROFILES.has(media.protocol.toUpperCase()) ||
      !hasIceAndDtls(offer, media)
    ) {
      continue;
    }
    if (previous !== undefined && index !== previous.audioIndex) {
      continue;
    }
    audio = keepOpusFormats(media);
    if (audio) {
      audioIndex = index;
      break;
    }
  }
  if (!audio) {
    throw MediaError.sdpInvalid('no DTLS-SRTP audio stream with ICE credentials offering Opus');
  }
  return {
    ...describe(offer, audio),
    shape: { sections: offer.media.map(shapeOf), audioIndex },
  };
}

/**
 * Reduces the remote answer to our offer (whose sections are `shape`) to its audio section for
 * werift. Throws `MEDIA_SDP_INVALID` when the answer does not mirror the offer (RFC 3264 §6),
 * rejects the audio stream, lacks ICE/DTLS parameters or picked no Opus.
 */
export function isolateWebRtcAnswer(
  answer: SessionDescription,
  shape: SessionShape,
): IsolatedDescription {
  if (answer.media.length !== shape.sections.length) {
    throw MediaError.sdpInvalid('the answer does not mirror the offered m= lines');
  }
  const media = answer.media[shape.audioIndex]!;
  if (media.type !== 'audio' || media.port === 0) {
    throw MediaError.sdpInvalid('the answer rejected the audio stream');
  }
  if (!WEBRTC_PROFILES.has(media.protocol.toUpperCase()) || !hasIceAndDtls(answer, media)) {
    throw MediaError.sdpInvalid('the answer lacks DTLS-SRTP or ICE parameters');
  }
  const audio = keepOpusFormats(media);
  if (!audio) {
    throw MediaError.sdpInvalid('the answer picked no Opus');
  }
  return describe(answer, audio);
}

function describe(session: SessionDescription, audio: MediaDescription): IsolatedDescription {
  const format = negotiateFormat(audio, [OPUS]);
  if (!format) {
    throw MediaError.internal('Opus vanished from a filtered section');
  }
  // werift negotiates the extension itself (the leg configures it; an answer keeps the
  // offerer's id, RFC 8285 §6); the id the remote party sends with is the one it wrote.
  format.audioLevelExtensionId = audioLevelMapping(audio)?.id;
  return {
    sdp: writeSdp(reduceTo(session, audio)),
    format,
    direction: mediaDirection(session, audio),
  };
}

/** The description with `audio` as its only section and BUNDLE reduced to it (RFC 8843 §9.2). */
function reduceTo(session: SessionDescription, audio: MediaDescription): SessionDescription {
  const bundle = session.groups?.find((group) => group.type === 'BUNDLE');
  const audioMid = audio.mid === undefined ? undefined : String(audio.mid);
  const bundled =
    bundle !== undefined &&
    audioMid !== undefined &&
    String(bundle.mids).split(' ').includes(audioMid);
  const reduced: SessionDescription = { ...session, media: [audio] };
  if (bundled) {
    reduced.groups = [{ type: 'BUNDLE', mids: audioMid }];
  } else {
    delete reduced.groups;
  }
  return reduced;
}

/** The o= values a leg keeps across the dialog (RFC 3264 §8). */
export interface OriginState {
  sessionId: string;
  version: number;
}

/**
 * Rebuilds a local description (answer or offer) from werift's single-section SDP: sections in
 * `shape` order with werift's audio at `shape.audioIndex` and every other section rejected, the
 * BUNDLE group reduced to the audio mid, o= from `origin`, and the default destination set to
 * the first host candidate.
 */
export function expandWebRtcDescription(
  weriftSdp: string,
  shape: SessionShape,
  origin: OriginState,
): string {
  // Our own werift output: trusted, so no limits.
  const local = transformParse(weriftSdp);
  const audio = local.media[0];
  if (!audio || local.media.length !== 1) {
    throw MediaError.internal('werift produced an unexpected description');
  }
  setDefaultDestination(local, audio);
  // RFC 8839 §5.3: ice-lite is a session-level attribute; werift writes it in the section.
  const section: MediaDescription & { icelite?: 'ice-lite' } = audio;
  if (section.icelite !== undefined) {
    delete section.icelite;
    local.icelite = 'ice-lite';
  }
  const sections = shape.sections.map((section, index) =>
    index === shape.audioIndex ? audio : rejected(section),
  );
  const audioMid = audio.mid === undefined ? undefined : String(audio.mid);
  const session: SessionDescription = {
    ...local,
    origin: { ...local.origin, sessionId: origin.sessionId, sessionVersion: origin.version },
    media: sections,
  };
  const hadBundle = local.groups?.some((group) => group.type === 'BUNDLE') ?? false;
  if (hadBundle && audioMid !== undefined) {
    session.groups = [{ type: 'BUNDLE', mids: audioMid }];
  } else {
    delete session.groups;
  }
  return writeSdp(session);
}

/** A rejected section (RFC 3264 §6): port 0, the same type and transport, one offered format. */
function rejected(section: SectionShape): MediaDescription {
  const media: MediaDescription = {
    type: section.type,
    port: 0,
    protocol: section.protocol,
    payloads: section.format,
    rtp: [],
    fmtp: [],
    direction: 'inactive',
  };
  if (section.mid !== undefined) {
    media.mid = section.mid;
  }
  return media;
}

/** c=, the m= port and a=rtcp from the first UDP host candidate (RFC 8839 §4.2.1.2). */
function setDefaultDestination(session: SessionDescription, audio: MediaDescription): void {
  const candidate = audio.candidates?.find(
    (entry) => entry.component === 1 && entry.transport.toLowerCase() === 'udp',
  );
  if (!candidate) {
    return;
  }
  const version = candidate.ip.includes(':') ? 6 : 4;
  audio.port = candidate.port;
  audio.connection = { version, ip: candidate.ip };
  // RFC 5761 §5.1.3: with rtcp-mux, a=rtcp names the RTP port.
  audio.rtcp = { port: candidate.port, netType: 'IN', ipVer: version, address: candidate.ip };
  delete session.connection;
}
