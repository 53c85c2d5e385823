/**
 * SDP (RFC 8866, formerly RFC 4566) helpers on top of `sdp-transform`: bounded parsing of
 * untrusted input, offer/answer direction rules (RFC 3264) and audio codec selection.
 *
 * Every function here is pure. {@link parseSdp} is the only entry point for network input: it
 * enforces size limits before `sdp-transform` runs its line regular expressions (which are linear
 * or at worst quadratic in the line length), so a hostile peer cannot make the engine spin or
 * allocate without bound, and it turns any parser failure into `MEDIA_SDP_INVALID`.
 */
import { parse as transformParse, write as transformWrite } from 'sdp-transform';
import type { MediaDescription, SessionDescription } from 'sdp-transform';
import type { AudioCodec, MediaFormat } from '../bridge/types.js';
import { MediaError } from '../engine/errors.js';

export type { MediaDescription, SessionDescription } from 'sdp-transform';

/** Media direction attributes (RFC 8866 §6.7, RFC 3264 §5.1). */
export const MediaDirection = {
  SendRecv: 'sendrecv',
  SendOnly: 'sendonly',
  RecvOnly: 'recvonly',
  Inactive: 'inactive',
} as const;

export type MediaDirection = (typeof MediaDirection)[keyof typeof MediaDirection];

/** Bounds applied by {@link parseSdp}; real offers (Chromium with video) stay well under them. */
export const SDP_LIMITS = {
  /** Whole description, in UTF-16 code units. */
  maxLength: 65_536,
  /** One line. */
  maxLineLength: 4_096,
  /** Number of m= sections. */
  maxMediaSections: 16,
  /** Formats listed on one m= line. */
  maxFormatsPerSection: 128,
} as const;

const LINE_SPLIT = /\r\n|\r|\n/;

/**
 * Parses an untrusted SDP. Throws `MediaError` `MEDIA_SDP_INVALID` when the text exceeds
 * {@link SDP_LIMITS}, does not start with `v=0`, lacks `o=`, or has an m= line that
 * `sdp-transform` could not read (type, port, protocol).
 */
export function parseSdp(text: unknown): SessionDescription {
  if (typeof text !== 'string') {
    throw MediaError.sdpInvalid('not a string');
  }
  if (text.length > SDP_LIMITS.maxLength) {
    throw MediaError.sdpInvalid(`longer than ${SDP_LIMITS.maxLength} characters`);
  }
  const lines = text.split(LINE_SPLIT);
  let mediaSections = 0;
  for (const line of lines) {
    if (line.length > SDP_LIMITS.maxLineLength) {
      throw MediaError.sdpInvalid(`a line is longer than ${SDP_LIMITS.maxLineLength} characters`);
    }
    if (line.startsWith('m=')) {
      mediaSections++;
    }
  }
  // RFC 8866 §5: the description starts with the version line.
  if (lines[0]?.trim() !== 'v=0') {
    throw MediaError.sdpInvalid('does not start with v=0');
  }
  if (mediaSections > SDP_LIMITS.maxMediaSections) {
    throw MediaError.sdpInvalid(`more than ${SDP_LIMITS.maxMediaSections} m= sections`);
  }
  let session: SessionDescription;
  try {
    session = transformParse(text);
  } catch (error) {
    throw MediaError.sdpInvalid('unparsable', error);
  }
  if (typeof session.origin !== 'object' || session.origin === null) {
    throw MediaError.sdpInvalid('no o= line');
  }
  // sdp-transform keeps an m= line its grammar cannot read as a section without type or port;
  // refuse it rather than guess, since RFC 3264 §6 answers must mirror every offered section.
  for (const media of session.media) {
    if (
      typeof media.type !== 'string' ||
      typeof media.protocol !== 'string' ||
      !Number.isInteger(media.port) ||
      media.port < 0 ||
      media.port > 65_535
    ) {
      throw MediaError.sdpInvalid('malformed m= line');
    }
    if (formatsOf(media).length > SDP_LIMITS.maxFormatsPerSection) {
      throw MediaError.sdpInvalid('too many formats on an m= line');
    }
  }
  return session;
}

/** Serializes a description with CRLF line ends (RFC 8866 §5). */
export function writeSdp(session: SessionDescription): string {
  return transformWrite(session);
}

/** The formats (payload types for RTP profiles) listed on the m= line, as strings, in order. */
export function formatsOf(media: MediaDescription): string[] {
  const payloads = media.payloads;
  if (payloads === undefined) {
    return [];
  }
  return String(payloads)
    .split(' ')
    .filter((format) => format.length > 0);
}

/**
 * The direction of a media section: its own attribute, else the session-level one, else
 * `sendrecv` (RFC 3264 §5.1).
 */
export function mediaDirection(
  session: SessionDescription,
  media: MediaDescription,
): MediaDirection {
  return media.direction ?? session.direction ?? MediaDirection.SendRecv;
}

const DIRECTIONS: ReadonlySet<string> = new Set(Object.values(MediaDirection));

/** A direction token as written in SDP, or `undefined` for anything else. */
export function mediaDirectionOf(token: string): MediaDirection | undefined {
  return DIRECTIONS.has(token) ? (token as MediaDirection) : undefined;
}

/** Whether a party with direction `direction` sends media. */
export function directionSends(direction: MediaDirection): boolean {
  return direction === MediaDirection.SendRecv || direction === MediaDirection.SendOnly;
}

/** Whether a party with direction `direction` receives media. */
export function directionReceives(direction: MediaDirection): boolean {
  return direction === MediaDirection.SendRecv || direction === MediaDirection.RecvOnly;
}

function directionOf(sends: boolean, receives: boolean): MediaDirection {
  if (sends) {
    return receives ? MediaDirection.SendRecv : MediaDirection.SendOnly;
  }
  return receives ? MediaDirection.RecvOnly : MediaDirection.Inactive;
}

/** The direction seen from the other side: `sendonly` ↔ `recvonly`. */
export function reverseDirection(direction: MediaDirection): MediaDirection {
  return directionOf(directionReceives(direction), directionSends(direction));
}

/**
 * The answer's direction for an offered one (RFC 3264 §6.1): we send only if the offerer
 * receives and we want to send; we receive only if the offerer sends and we want to receive.
 * A `sendonly` offer (the peer puts us on hold) is answered `recvonly`, an `inactive` one
 * `inactive`.
 */
export function answerDirection(
  offered: MediaDirection,
  local: MediaDirection = MediaDirection.SendRecv,
): MediaDirection {
  return directionOf(
    directionReceives(offered) && directionSends(local),
    directionSends(offered) && directionReceives(local),
  );
}

/** The connection address of a media section: its own c= line, else the session's (RFC 8866 §5.7). */
export function connectionAddress(
  session: SessionDescription,
  media: MediaDescription,
): string | undefined {
  return media.connection?.ip ?? session.connection?.ip;
}

/**
 * Whether `address` is the unspecified address that pre-RFC 3264 endpoints put in c= to hold a
 * call (RFC 3264 §8.4): nothing may be sent to it.
 */
export function isUnspecifiedAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '0:0:0:0:0:0:0:0';
}

/** One payload type of an m= section with its `a=rtpmap` (or static RFC 3551 assignment). */
export interface RtpMapEntry {
  payloadType: number;
  /** Encoding name as written (compare case-insensitively, RFC 4855 §3). */
  name: string;
  clockRate: number;
  /** 1 when the rtpmap omits it (RFC 8866 §6.6). */
  channels: number;
  /** The `a=fmtp` parameters of this payload type, if any. */
  fmtp: string | undefined;
}

/** Static audio payload types we may meet without an `a=rtpmap` (RFC 3551 §6, table 4). */
const STATIC_PAYLOAD_TYPES: Readonly<Record<number, { name: string; clockRate: number }>> = {
  0: { name: 'PCMU', clockRate: 8000 },
  8: { name: 'PCMA', clockRate: 8000 },
};

/**
 * The RTP payload types of a section in m= line order (the offerer's preference, RFC 3264
 * §5.1). An rtpmap for a payload type that is not on the m= line is ignored; a dynamic payload
 * type without an rtpmap is skipped (it cannot be interpreted).
 */
export function rtpMaps(media: MediaDescription): RtpMapEntry[] {
  const result: RtpMapEntry[] = [];
  for (const format of formatsOf(media)) {
    const payloadType = Number(format);
    if (!Number.isInteger(payloadType) || payloadType < 0 || payloadType > 127) {
      continue;
    }
    const fmtp = media.fmtp.find((entry) => entry.payload === payloadType)?.config;
    const rtpmap = media.rtp.find((entry) => entry.payload === payloadType);
    if (rtpmap) {
      const clockRate = rtpmap.rate;
      if (clockRate === undefined || !Number.isInteger(clockRate) || clockRate <= 0) {
        continue;
      }
      const channels = rtpmap.encoding === undefined ? 1 : Number(rtpmap.encoding);
      result.push({
        payloadType,
        name: rtpmap.codec,
        clockRate,
        channels: Number.isInteger(channels) && channels > 0 ? channels : 1,
        fmtp,
      });
      continue;
    }
    const known = STATIC_PAYLOAD_TYPES[payloadType];
    if (known) {
      result.push({ payloadType, ...known, channels: 1, fmtp });
    }
  }
  return result;
}

/** A codec an engine leg can use; `channels` is the value signalled in SDP. */
export interface CodecSpec {
  name: AudioCodec['name'];
  clockRate: number;
  channels: number;
}

/** Opus as signalled in SDP: always `opus/48000/2` (RFC 7587 §7). */
export const OPUS: CodecSpec = { name: 'opus', clockRate: 48_000, channels: 2 };
/** G.711 μ-law (RFC 3551 §4.5.14). */
export const PCMU: CodecSpec = { name: 'PCMU', clockRate: 8000, channels: 1 };
/** G.711 A-law (RFC 3551 §4.5.14). */
export const PCMA: CodecSpec = { name: 'PCMA', clockRate: 8000, channels: 1 };

function matchesSpec(entry: RtpMapEntry, spec: CodecSpec): boolean {
  return (
    entry.name.toLowerCase() === spec.name.toLowerCase() &&
    entry.clockRate === spec.clockRate &&
    entry.channels === spec.channels
  );
}

/** Whether an rtpmap entry is RFC 4733 `telephone-event` at `clockRate`. */
export function isTelephoneEvent(entry: RtpMapEntry, clockRate: number): boolean {
  return entry.name.toLowerCase() === 'telephone-event' && entry.clockRate === clockRate;
}

/**
 * Picks the format of a section: the first payload type in the peer's order whose codec is in
 * `supported`, with the peer's payload type numbers (RFC 3264 §6.1: the answer uses the
 * offer's numbers), plus `telephone-event` at the same clock rate when offered (RFC 4733 §2.1:
 * the event clock is the audio clock). Returns `undefined` when nothing is in common.
 */
export function negotiateFormat(
  media: MediaDescription,
  supported: readonly CodecSpec[],
): MediaFormat | undefined {
  const entries = rtpMaps(media);
  for (const entry of entries) {
    const spec = supported.find((candidate) => matchesSpec(entry, candidate));
    if (!spec) {
      continue;
    }
    const event = entries.find((candidate) => isTelephoneEvent(candidate, spec.clockRate));
    return {
      audio: {
        name: spec.name,
        payloadType: entry.payloadType,
        clockRate: spec.clockRate,
        channels: spec.channels,
      },
      telephoneEvent:
        event === undefined
          ? undefined
          : { payloadType: event.payloadType, clockRate: event.clockRate },
      // Filled by the caller: whether it is usable depends on what we offered or answer.
      audioLevelExtensionId: undefined,
    };
  }
  return undefined;
}

/** RFC 6464 §4: the client-to-mixer audio level header extension. */
export const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/** An `a=extmap` entry (RFC 8285 §5). */
export interface ExtensionMapping {
  id: number;
  /** As written by the section's author (RFC 8285 §5: their perspective). */
  direction: MediaDirection | undefined;
  /** Extension attributes, e.g. `vad=on` for the audio level (RFC 6464 §4). */
  config: string | undefined;
}

/**
 * The `ssrc-audio-level` mapping of a section when its author sends the extension: an id of the
 * one- or two-byte form (RFC 8285 §5: 1–14 and 1–255; 15 is reserved) and a direction that
 * includes sending (no direction means sendrecv). An encrypted mapping (RFC 6904) is not used.
 */
export function audioLevelMapping(media: MediaDescription): ExtensionMapping | undefined {
  for (const ext of media.ext ?? []) {
    if (ext.uri !== AUDIO_LEVEL_URI || ext['encrypt-uri'] !== undefined) {
      continue;
    }
    const id = Number(ext.value);
    if (!Number.isInteger(id) || id < 1 || id > 255 || id === 15) {
      continue;
    }
    const direction = ext.direction === undefined ? undefined : mediaDirectionOf(ext.direction);
    if (ext.direction !== undefined && direction === undefined) {
      continue;
    }
    if (direction !== undefined && !directionSends(direction)) {
      continue;
    }
    return { id, direction, config: ext.config };
  }
  return undefined;
}

/** The `ptime` of a section in milliseconds (RFC 8866 §6.4), when present and sane. */
export function packetTime(media: MediaDescription): number | undefined {
  const ptime = media.ptime;
  return ptime !== undefined && Number.isFinite(ptime) && ptime > 0 && ptime <= 200
    ? ptime
    : undefined;
}
