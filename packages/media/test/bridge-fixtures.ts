/** Shared fakes for bridge tests: a settable clock and a port that records what it is sent. */
import { OutboundRtpStream } from '../src/bridge/outbound-stream.js';
import type { AudioCodec, BridgePort, MediaFormat } from '../src/bridge/types.js';
import type { RtpPacket } from '../src/rtp/packet.js';

export class TestClock {
  #now: number;
  constructor(start = 10_000) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

export const PCMU: AudioCodec = { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 };
export const PCMA: AudioCodec = { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1 };
export const OPUS: AudioCodec = { name: 'opus', payloadType: 111, clockRate: 48000, channels: 2 };

export function format(
  audio: AudioCodec,
  telephoneEvent?: { payloadType: number; clockRate: number },
): MediaFormat {
  return { audio, telephoneEvent, audioLevelExtensionId: undefined };
}

export class FakePort implements BridgePort {
  readonly id: string;
  readonly format: MediaFormat;
  readonly output: OutboundRtpStream;
  wantsMedia = true;
  readonly sent: RtpPacket[] = [];

  constructor(id: string, mediaFormat: MediaFormat, clock: TestClock, ssrc = 0x5eed0000) {
    this.id = id;
    this.format = mediaFormat;
    this.output = new OutboundRtpStream({
      clockRate: mediaFormat.audio.clockRate,
      clock,
      ssrc,
      initialSequence: 1000,
      initialTimestamp: 50_000,
    });
  }

  sendRtp(packet: RtpPacket): void {
    this.sent.push(packet);
  }

  get last(): RtpPacket {
    return this.sent[this.sent.length - 1]!;
  }
}

/** A source of RTP packets as a remote endpoint would send them. */
export class RtpSource {
  sequenceNumber: number;
  timestamp: number;
  readonly ssrc: number;
  readonly payloadType: number;
  readonly samplesPerPacket: number;

  constructor(options: {
    ssrc: number;
    payloadType: number;
    samplesPerPacket: number;
    sequenceNumber?: number;
    timestamp?: number;
  }) {
    this.ssrc = options.ssrc;
    this.payloadType = options.payloadType;
    this.samplesPerPacket = options.samplesPerPacket;
    this.sequenceNumber = options.sequenceNumber ?? 1;
    this.timestamp = options.timestamp ?? 0;
  }

  /** The next packet (advancing sequence number and timestamp). */
  next(payload: Uint8Array, marker = false): RtpPacket {
    const packet = this.at(payload, this.timestamp, marker);
    this.timestamp = (this.timestamp + this.samplesPerPacket) >>> 0;
    return packet;
  }

  /** A packet with an explicit timestamp and payload type (telephone-events). */
  at(
    payload: Uint8Array,
    timestamp: number,
    marker = false,
    payloadType = this.payloadType,
  ): RtpPacket {
    const packet: RtpPacket = {
      marker,
      payloadType,
      sequenceNumber: this.sequenceNumber,
      timestamp,
      ssrc: this.ssrc,
      csrcs: [],
      extension: undefined,
      payload,
      padding: 0,
    };
    this.sequenceNumber = (this.sequenceNumber + 1) & 0xffff;
    return packet;
  }

  /** Skips `count` packets as if lost in the network. */
  lose(count: number): void {
    this.sequenceNumber = (this.sequenceNumber + count) & 0xffff;
    this.timestamp = (this.timestamp + count * this.samplesPerPacket) >>> 0;
  }
}
