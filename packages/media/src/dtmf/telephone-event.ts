/**
 * RFC 4733 telephone-events (DTMF over RTP): the payload format and a receiver that turns a
 * packet stream into one digit per event.
 */
import { InvalidStateError, TypedEmitter } from '@confab/core';
import type { RtpPacket } from '../rtp/packet.js';

/** One RFC 4733 §2.3 event block. */
export interface TelephoneEvent {
  /** Event code: 0–9 digits, 10 `*`, 11 `#`, 12–15 A–D, 16 flash (RFC 4733 §3.2). */
  event: number;
  /** The E bit: this packet ends the event. */
  end: boolean;
  /** Power level in −dBm0 (0–63). */
  volume: number;
  /** Duration so far, in RTP clock units of the telephone-event payload type. */
  duration: number;
}

/** Length of one event block on the wire. */
export const TELEPHONE_EVENT_LENGTH = 4;

/** A DTMF symbol (RFC 4733 §3.2, Table 7). */
export type DtmfDigit =
  '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#' | 'A' | 'B' | 'C' | 'D';

const DIGITS: readonly DtmfDigit[] = [
  '0',
  '1',
  '2',
  '3',
  '4',
  '5',
  '6',
  '7',
  '8',
  '9',
  '*',
  '#',
  'A',
  'B',
  'C',
  'D',
];

/** The DTMF symbol of an event code, or `undefined` for other events (flash, tones). */
export function eventToDigit(event: number): DtmfDigit | undefined {
  return DIGITS[event];
}

/** The event code of a DTMF symbol (lower-case a–d accepted). */
export function digitToEvent(digit: string): number | undefined {
  const index = DIGITS.indexOf(digit.toUpperCase() as DtmfDigit);
  return index === -1 ? undefined : index;
}

/**
 * Parses the first event block of a telephone-event payload (RFC 4733 §2.3). Further blocks
 * (RFC 2198 redundancy is negotiated separately) are ignored. `undefined` if too short.
 */
export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | undefined {
  if (payload.length < TELEPHONE_EVENT_LENGTH) {
    return undefined;
  }
  const flags = payload[1]!;
  return {
    event: payload[0]!,
    end: (flags & 0x80) !== 0,
    volume: flags & 0x3f,
    duration: (payload[2]! << 8) | payload[3]!,
  };
}

/**
 * Serializes one event block. The R bit is sent as zero (RFC 4733 §2.3.4); volume is clamped
 * to 0–63 and duration to 0–65535.
 */
export function serializeTelephoneEvent(event: TelephoneEvent): Uint8Array {
  const out = new Uint8Array(TELEPHONE_EVENT_LENGTH);
  const duration = Math.min(Math.max(Math.round(event.duration), 0), 0xffff);
  out[0] = event.event & 0xff;
  out[1] = (event.end ? 0x80 : 0) | (Math.min(Math.max(event.volume, 0), 63) & 0x3f);
  out[2] = duration >>> 8;
  out[3] = duration & 0xff;
  return out;
}

/** Reads the E bit of an event payload without allocating (false if too short). */
export function isTelephoneEventEnd(payload: Uint8Array): boolean {
  return payload.length >= TELEPHONE_EVENT_LENGTH && (payload[1]! & 0x80) !== 0;
}

/**
 * Copies an event payload with its duration rescaled from one clock rate to another, for
 * bridging legs whose telephone-event rates differ (8 kHz on a G.711 leg, 48 kHz beside Opus).
 */
export function rescaleTelephoneEvent(
  payload: Uint8Array,
  fromRate: number,
  toRate: number,
): Uint8Array {
  const out = payload.slice(0, TELEPHONE_EVENT_LENGTH);
  if (out.length < TELEPHONE_EVENT_LENGTH) {
    return out;
  }
  const duration = Math.min(Math.round((((out[2]! << 8) | out[3]!) * toRate) / fromRate), 0xffff);
  out[2] = duration >>> 8;
  out[3] = duration & 0xff;
  return out;
}

/** One received DTMF digit. */
export interface DtmfDigitEvent {
  digit: DtmfDigit;
  /** RFC 4733 event code. */
  event: number;
  /** Total event duration in milliseconds (all segments of a long event). */
  durationMs: number;
  /** Power level in −dBm0. */
  volume: number;
  /** RTP timestamp of the event's first segment. */
  timestamp: number;
  ssrc: number;
  /** False when the end packets were all lost and the event was closed by a newer one or a timeout. */
  ended: boolean;
}

/** Events of {@link DtmfReceiver}. */
export interface DtmfReceiverEvents {
  digit: [event: DtmfDigitEvent];
  [key: string]: unknown[];
}

/** Options of {@link DtmfReceiver}. */
export interface DtmfReceiverOptions {
  /** Payload type of telephone-event on this leg. */
  payloadType: number;
  /** Clock rate of that payload type. @default 8000 */
  clockRate?: number;
  clock: { now(): number };
  /**
   * An event whose packets stop arriving without an end packet is reported after this long.
   * @default 1000
   */
  timeoutMs?: number;
}

/** How many finished events are remembered for de-duplication. */
const FINISHED_MEMORY = 4;

interface OpenEvent {
  ssrc: number;
  /** Timestamp of the first segment (reported). */
  firstTimestamp: number;
  /** Timestamp of the current segment (packets repeat it). */
  timestamp: number;
  event: number;
  volume: number;
  /** Duration of the completed segments before the current one. */
  previousSegments: number;
  duration: number;
  lastSeenAt: number;
}

/**
 * Turns telephone-event packets into one `digit` event per key press.
 *
 * - An event is reported once, on its first end packet (RFC 4733 §2.5.2.1); the two
 *   retransmissions of the end packet (§2.5.1.4) and any late packet of it are ignored.
 * - If all end packets are lost, the event is reported when a newer event starts or when
 *   {@link DtmfReceiver.poll} finds it idle for `timeoutMs` (§2.5.2.2), with `ended: false`.
 * - Long events split into segments (§2.5.1.3: new timestamp = previous timestamp + 0xffff
 *   duration, no end bit) are joined into one digit.
 * - Non-DTMF events (flash, tones) are tracked but not reported.
 */
export class DtmfReceiver extends TypedEmitter<DtmfReceiverEvents> {
  readonly #payloadType: number;
  readonly #clockRate: number;
  readonly #clock: { now(): number };
  readonly #timeoutMs: number;
  #current: OpenEvent | undefined;
  /** (SSRC, timestamp) of recently finished events, so their stragglers are ignored. */
  readonly #finished = new Float64Array(FINISHED_MEMORY * 2).fill(-1);
  #finishedNext = 0;
  #closed = false;

  constructor(options: DtmfReceiverOptions) {
    super();
    this.#payloadType = options.payloadType;
    this.#clockRate = options.clockRate ?? 8000;
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs ?? 1000;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Feeds one RTP packet of the leg (packets of other payload types are ignored, so a leg can
   * pass everything it receives). Never throws on malformed payloads.
   */
  receive(packet: RtpPacket): void {
    if (this.#closed || packet.payloadType !== this.#payloadType) {
      return;
    }
    const block = parseTelephoneEvent(packet.payload);
    if (block === undefined) {
      return;
    }
    const { ssrc, timestamp } = packet;
    if (this.#isFinished(ssrc, timestamp)) {
      return;
    }
    const now = this.#clock.now();
    let current = this.#current;
    if (current !== undefined && (current.ssrc !== ssrc || current.timestamp !== timestamp)) {
      const continuation =
        current.ssrc === ssrc &&
        current.event === block.event &&
        (timestamp - current.timestamp) >>> 0 === current.duration &&
        current.duration >= 0xffff - Math.round(this.#clockRate / 10);
      if (continuation) {
        current.previousSegments += current.duration;
        current.timestamp = timestamp;
        current.duration = 0;
      } else {
        this.#report(current, false);
        current = undefined;
      }
    }
    if (current === undefined) {
      current = {
        ssrc,
        firstTimestamp: timestamp,
        timestamp,
        event: block.event,
        volume: block.volume,
        previousSegments: 0,
        duration: 0,
        lastSeenAt: now,
      };
      this.#current = current;
    }
    if (block.duration > current.duration) {
      current.duration = block.duration;
    }
    current.volume = block.volume;
    current.lastSeenAt = now;
    if (block.end) {
      this.#report(current, true);
    }
  }

  /** Reports an event left open for `timeoutMs` (call it periodically, e.g. every 100 ms). */
  poll(): void {
    const current = this.#current;
    if (current !== undefined && this.#clock.now() - current.lastSeenAt >= this.#timeoutMs) {
      this.#report(current, false);
    }
  }

  /** Stops reporting; an open event is dropped. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#current = undefined;
    this.removeAllListeners();
  }

  /** Throws if closed (for control-plane callers that must not use a closed receiver). */
  assertOpen(): void {
    if (this.#closed) {
      throw InvalidStateError.closed('DtmfReceiver');
    }
  }

  #isFinished(ssrc: number, timestamp: number): boolean {
    const finished = this.#finished;
    for (let i = 0; i < finished.length; i += 2) {
      if (finished[i] === ssrc && finished[i + 1] === timestamp) {
        return true;
      }
    }
    return false;
  }

  #report(event: OpenEvent, ended: boolean): void {
    this.#current = undefined;
    // Remember it: retransmitted end packets (RFC 4733 §2.5.1.4) and stragglers are ignored.
    this.#finished[this.#finishedNext * 2] = event.ssrc;
    this.#finished[this.#finishedNext * 2 + 1] = event.timestamp;
    this.#finishedNext = (this.#finishedNext + 1) % FINISHED_MEMORY;
    const digit = eventToDigit(event.event);
    if (digit === undefined) {
      return;
    }
    this.emit('digit', {
      digit,
      event: event.event,
      durationMs: Math.round(((event.previousSegments + event.duration) * 1000) / this.#clockRate),
      volume: event.volume,
      timestamp: event.firstTimestamp,
      ssrc: event.ssrc,
      ended,
    });
  }
}
