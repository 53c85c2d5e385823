/**
 * The contract between bridges (relay, mixer) and legs (WebRTC, plain RTP).
 *
 * A bridge never touches sockets: it receives decrypted RTP from one port and hands rewritten
 * RTP to another port's {@link BridgePort.sendRtp}. Continuity of the outgoing stream (SSRC,
 * sequence numbers, timestamps) belongs to the leg through {@link BridgePort.output}, so a leg
 * can move between bridges (relay → conference → relay) without its remote party noticing more
 * than a marker bit.
 */
import type { RtpPacket } from '../rtp/packet.js';
import type { OutboundRtpStream } from './outbound-stream.js';

/** A negotiated audio codec of one leg (SDP `a=rtpmap`, RFC 4566 §6). */
export interface AudioCodec {
  name: 'opus' | 'PCMU' | 'PCMA';
  payloadType: number;
  /** RTP clock rate: 48000 for Opus (RFC 7587 §4.1), 8000 for G.711 (RFC 3551 §4.5.14). */
  clockRate: number;
  /** Channels as negotiated (Opus is always signalled as 2, RFC 7587 §7); media is mixed down to mono. */
  channels: number;
}

/**
 * What a leg negotiated: one audio codec, optionally RFC 4733 telephone-event, and optionally
 * the RFC 6464 client-to-mixer audio level header extension.
 */
export interface MediaFormat {
  audio: AudioCodec;
  telephoneEvent: { payloadType: number; clockRate: number } | undefined;
  /**
   * RFC 8285 id of `urn:ietf:params:rtp-hdrext:ssrc-audio-level` (RFC 6464) in the packets the
   * remote party sends, when negotiated; the mixer reads talk levels from it instead of decoding.
   */
  audioLevelExtensionId: number | undefined;
}

/** A leg as a bridge sees it. Legs implement it. */
export interface BridgePort {
  readonly id: string;
  /** Negotiated codec of this leg. */
  readonly format: MediaFormat;
  /** Owned by the leg, so continuity survives moving between bridges. */
  readonly output: OutboundRtpStream;
  /** False while the remote party is on hold (sendonly/inactive from them). */
  readonly wantsMedia: boolean;
  /** Sends a packet already rewritten by {@link BridgePort.output}. */
  sendRtp(packet: RtpPacket): void;
}

/** A monotonic millisecond clock (injected so that cores are deterministic under test). */
export interface Clock {
  now(): number;
}
