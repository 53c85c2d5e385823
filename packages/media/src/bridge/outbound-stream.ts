/**
 * One outgoing RTP stream of a leg: its SSRC and the continuity of its sequence numbers and
 * timestamps, whatever feeds it (a relayed source, another source after a transfer, the mixer,
 * a transcoder).
 *
 * Compatibility note: the stream behaves like an RTP end system (RFC 3550 §7.1 B2BUA anchoring),
 * not a translator: it always sends under its own SSRC, drops the source's CSRC list and header
 * extensions (their RFC 8285 IDs were negotiated on the source leg, and per-hop extensions such
 * as transport-wide sequence numbers must be written by the sending leg), and strips padding.
 */
import type { RtpPacket } from '../rtp/packet.js';
import type { Clock } from './types.js';

/** Options of {@link OutboundRtpStream}. */
export interface OutboundRtpStreamOptions {
  /** RTP clock rate of the leg's audio codec (48000 for Opus, 8000 for G.711). */
  clockRate: number;
  /** Millisecond clock used to continue timestamps across source changes. */
  clock: Clock;
  /** @default a random 32-bit value (RFC 3550 §8.1) */
  ssrc?: number;
  /** Sequence number of the first packet. @default random (RFC 3550 §5.1) */
  initialSequence?: number;
  /** Timestamp of the first packet. @default random (RFC 3550 §5.1) */
  initialTimestamp?: number;
}

/** Sender statistics, the input of an RTCP sender report (RFC 3550 §6.4.1). */
export interface OutboundRtpStreamStats {
  /** Packets sent (the SR "sender's packet count"). */
  packets: number;
  /** Payload octets sent, excluding headers and padding (the SR "sender's octet count"). */
  octets: number;
  /** The most advanced RTP timestamp sent so far. */
  lastTimestamp: number;
  /** The sequence number of the most recent packet in sequence order. */
  lastSequence: number;
  /**
   * Clock time (ms) at which `lastTimestamp` was sent; with it a leg extrapolates the RTP
   * timestamp of an SR: see {@link OutboundRtpStream.timestampAt}.
   */
  lastSentAt: number;
}

const MODE_IDLE = 0;
const MODE_RELAY = 1;
const MODE_GENERATED = 2;
type Mode = typeof MODE_IDLE | typeof MODE_RELAY | typeof MODE_GENERATED;

const NO_CSRCS: readonly number[] = Object.freeze([]);

/**
 * Rewrites packets from any source onto one continuous outgoing RTP stream.
 *
 * Continuity rule (RFC 3550 §5.1): on a source change the next packet takes the next sequence
 * number, its timestamp continues from the last one sent plus the wall-clock time elapsed since
 * then in this stream's clock units (at least one packet duration, so media never overlaps) —
 * the same elapsed-time rule RFC 7160 applies when a stream's timestamp clock changes, which
 * also covers a source whose own clock differs (the mixer, a transcoder) — and it carries the
 * marker bit so that receivers resynchronise their playout. Within one source, sequence gaps
 * and timestamp spacing are preserved as they are, so loss and silence suppression stay
 * visible to the receiver.
 *
 * The stream's own clock rate is fixed: a leg that renegotiates to a codec with another clock
 * rate should start a new stream (new SSRC), the approach RFC 7160 recommends for senders.
 *
 * Allocation: one packet object per call; no closures, no strings.
 */
export class OutboundRtpStream {
  /** The SSRC of every packet of this stream. */
  readonly ssrc: number;
  readonly #clockRate: number;
  readonly #clock: Clock;
  readonly #stats: OutboundRtpStreamStats;

  #mode: Mode = MODE_IDLE;
  #started = false;
  #source = '';
  #seqOffset = 0;
  #tsOffset = 0;
  #lastSourceSeq = 0;
  #lastSourceTs = 0;
  /** Duration of the most recent packet in clock units (minimum advance on a source change). */
  #frameDuration: number;
  #nextGeneratedTs = 0;
  #eventTs = 0;
  #eventOpen = false;

  constructor(options: OutboundRtpStreamOptions) {
    if (!Number.isInteger(options.clockRate) || options.clockRate <= 0) {
      throw new TypeError(`invalid RTP clock rate ${options.clockRate}`);
    }
    this.#clockRate = options.clockRate;
    this.#clock = options.clock;
    this.ssrc = (options.ssrc ?? random32()) >>> 0;
    const initialSequence = (options.initialSequence ?? random32()) & 0xffff;
    this.#stats = {
      packets: 0,
      octets: 0,
      lastTimestamp: (options.initialTimestamp ?? random32()) >>> 0,
      lastSequence: (initialSequence - 1) & 0xffff,
      lastSentAt: 0,
    };
    this.#frameDuration = Math.round(this.#clockRate / 50);
  }

  /** The RTP clock rate of this stream. */
  get clockRate(): number {
    return this.#clockRate;
  }

  /** Live statistics (the same object, updated in place). */
  get stats(): Readonly<OutboundRtpStreamStats> {
    return this.#stats;
  }

  /**
   * The RTP timestamp that corresponds to clock time `now` on this stream's timeline, for the
   * "RTP timestamp" field of a sender report (RFC 3550 §6.4.1).
   */
  timestampAt(now: number): number {
    const elapsed = Math.round(((now - this.#stats.lastSentAt) * this.#clockRate) / 1000);
    return (this.#stats.lastTimestamp + elapsed) >>> 0;
  }

  /**
   * Rewrites a packet from `sourceKey` (for example `${portId}:${ssrc}`) onto this stream: own
   * SSRC, contiguous sequence numbers, the source's timestamp spacing. A key different from the
   * previous packet's is a source change (see the class comment). The payload is shared, not
   * copied; CSRCs, header extensions and padding are dropped. The caller may overwrite
   * `payloadType` of the returned object (it is a fresh object).
   */
  write(packet: RtpPacket, sourceKey: string): RtpPacket {
    let marker = packet.marker;
    if (this.#mode !== MODE_RELAY || sourceKey !== this.#source) {
      const base = this.#continuedTimestamp();
      this.#seqOffset = (this.#stats.lastSequence + 1 - packet.sequenceNumber) & 0xffff;
      this.#tsOffset = (base - packet.timestamp) >>> 0;
      this.#mode = MODE_RELAY;
      this.#source = sourceKey;
      this.#eventOpen = false;
      marker = true;
    } else if (((packet.sequenceNumber - this.#lastSourceSeq) & 0xffff) === 1) {
      // Learn the packetisation from consecutive packets (bounded: telephone-event packets
      // repeat timestamps, and a talkspurt gap is not a packet duration).
      const spacing = (packet.timestamp - this.#lastSourceTs) >>> 0;
      if (spacing > 0 && spacing <= this.#clockRate / 8) {
        this.#frameDuration = spacing;
      }
    }
    this.#lastSourceSeq = packet.sequenceNumber;
    this.#lastSourceTs = packet.timestamp;
    const sequenceNumber = (packet.sequenceNumber + this.#seqOffset) & 0xffff;
    const timestamp = (packet.timestamp + this.#tsOffset) >>> 0;
    this.#account(sequenceNumber, timestamp, packet.payload.length);
    return {
      marker,
      payloadType: packet.payloadType,
      sequenceNumber,
      timestamp,
      ssrc: this.ssrc,
      csrcs: NO_CSRCS,
      extension: undefined,
      payload: packet.payload,
      padding: 0,
    };
  }

  /**
   * Next packet of generated media (mixer, transcoder): `samples` is the packet duration in
   * clock units (960 for 20 ms of Opus, 160 for 20 ms of G.711). The first generated packet
   * after relayed media (or after {@link OutboundRtpStream.resync}) continues the timeline by
   * wall-clock time and carries the marker bit.
   */
  writeGenerated(
    payload: Uint8Array,
    payloadType: number,
    samples: number,
    marker = false,
  ): RtpPacket {
    const switched = this.#enterGenerated();
    const timestamp = this.#nextGeneratedTs;
    if (samples > 0) {
      this.#frameDuration = samples;
      this.#nextGeneratedTs = (timestamp + samples) >>> 0;
    }
    return this.#generatedPacket(payload, payloadType, timestamp, marker || switched);
  }

  /**
   * Advances the generated timeline by `samples` without sending anything: a gap in generated
   * media (silence suppression, Opus DTX, a lost source frame that is not concealed). Set the
   * marker bit on the first packet of the next talkspurt (RFC 3550 §5.1). No effect unless the
   * stream is currently carrying generated media.
   */
  skip(samples: number): void {
    if (this.#mode === MODE_GENERATED && samples > 0) {
      this.#nextGeneratedTs = (this.#nextGeneratedTs + samples) >>> 0;
    }
  }

  /**
   * Writes one RFC 4733 telephone-event packet into the generated timeline (used when events
   * cannot be relayed on the source's timeline, e.g. while transcoding). `start` opens a new
   * event: its timestamp is the next generated timestamp and the marker bit is set
   * (RFC 4733 §2.5.1.2); later packets of the event repeat that timestamp (RFC 4733 §2.5.1.3).
   * `duration` (clock units, from the payload) keeps later generated audio after the event.
   */
  writeEvent(
    payload: Uint8Array,
    payloadType: number,
    start: boolean,
    duration: number,
  ): RtpPacket {
    let marker = this.#enterGenerated();
    if (start || !this.#eventOpen) {
      this.#eventTs = this.#nextGeneratedTs;
      this.#eventOpen = true;
      marker = true;
    }
    const end = (this.#eventTs + duration) >>> 0;
    if (isNewer32(end, this.#nextGeneratedTs)) {
      this.#nextGeneratedTs = end;
    }
    return this.#generatedPacket(payload, payloadType, this.#eventTs, marker);
  }

  /**
   * Forces the next packet to be treated as the start of a new source: next sequence number,
   * timestamp continued by wall-clock time, marker bit. Call it after deliberately not sending
   * for a while (remote hold), so the gap is not seen as loss.
   */
  resync(): void {
    this.#mode = MODE_IDLE;
    this.#eventOpen = false;
  }

  /** Enters generated mode if needed; returns whether that is a source change. */
  #enterGenerated(): boolean {
    if (this.#mode === MODE_GENERATED) {
      return false;
    }
    this.#nextGeneratedTs = this.#continuedTimestamp();
    this.#mode = MODE_GENERATED;
    this.#source = '';
    this.#eventOpen = false;
    return true;
  }

  #generatedPacket(
    payload: Uint8Array,
    payloadType: number,
    timestamp: number,
    marker: boolean,
  ): RtpPacket {
    const sequenceNumber = (this.#stats.lastSequence + 1) & 0xffff;
    this.#account(sequenceNumber, timestamp, payload.length);
    return {
      marker,
      payloadType,
      sequenceNumber,
      timestamp,
      ssrc: this.ssrc,
      csrcs: NO_CSRCS,
      extension: undefined,
      payload,
      padding: 0,
    };
  }

  /** Timestamp of the first packet of a new source (see the class comment). */
  #continuedTimestamp(): number {
    const stats = this.#stats;
    if (!this.#started) {
      return stats.lastTimestamp;
    }
    const elapsed = Math.round(((this.#clock.now() - stats.lastSentAt) * this.#clockRate) / 1000);
    return (stats.lastTimestamp + Math.max(elapsed, this.#frameDuration)) >>> 0;
  }

  #account(sequenceNumber: number, timestamp: number, payloadLength: number): void {
    const stats = this.#stats;
    stats.packets++;
    stats.octets += payloadLength;
    if (!this.#started) {
      this.#started = true;
      stats.lastSequence = sequenceNumber;
      stats.lastTimestamp = timestamp;
      stats.lastSentAt = this.#clock.now();
      return;
    }
    // RFC 3550 Appendix A.1 serial-number arithmetic: late (reordered) packets don't move the
    // stream's position backwards.
    const seqDelta = (sequenceNumber - stats.lastSequence) & 0xffff;
    if (seqDelta !== 0 && seqDelta < 0x8000) {
      stats.lastSequence = sequenceNumber;
    }
    if (isNewer32(timestamp, stats.lastTimestamp)) {
      stats.lastTimestamp = timestamp;
      stats.lastSentAt = this.#clock.now();
    }
  }
}

/** `a` is after `b` in 32-bit serial-number arithmetic. */
function isNewer32(a: number, b: number): boolean {
  const delta = (a - b) >>> 0;
  return delta !== 0 && delta < 0x80000000;
}

function random32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
