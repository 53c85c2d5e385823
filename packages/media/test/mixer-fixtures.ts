/** Parties of mixer tests: a port, the endpoint's encoder/source, and a decoder of what it hears. */
import { ToneGenerator } from '../src/audio/goertzel.js';
import { decodeAlaw, decodeMulaw, encodeAlaw, encodeMulaw } from '../src/codec/g711.js';
import { OpusDecoder, OpusEncoder } from '../src/codec/opus.js';
import { audioLevelElement, serializeHeaderExtensions } from '../src/rtp/extensions.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { FakePort, format, OPUS, PCMA, PCMU, RtpSource, TestClock } from './bridge-fixtures.js';

export const TELEPHONE_EVENT_PT = 101;

export interface PartyOptions {
  codec?: 'opus' | 'PCMU' | 'PCMA';
  /** Tone this party talks with (silence when undefined). */
  frequency?: number;
  /** RFC 6464 extension id the party negotiated (levels are sent when set). */
  levelId?: number;
  amplitude?: number;
}

let nextSsrc = 0x1000;

export class Party {
  readonly port: FakePort;
  readonly source: RtpSource;
  readonly codec: 'opus' | 'PCMU' | 'PCMA';
  readonly sampleRate: number;
  readonly frameSamples: number;
  readonly levelId: number | undefined;
  /** Sends packets on {@link Party.next} when true. */
  sending = true;
  frequency: number | undefined;
  #tone: ToneGenerator | undefined;
  readonly #amplitude: number;
  readonly #encoder: OpusEncoder | undefined;
  readonly #decoder: OpusDecoder | undefined;
  #decodedUpTo = 0;
  /** Decoded frames of everything this party was sent, in order. */
  readonly heard: Int16Array[] = [];

  constructor(id: string, clock: TestClock, options: PartyOptions = {}) {
    this.codec = options.codec ?? 'opus';
    const audio = this.codec === 'opus' ? OPUS : this.codec === 'PCMU' ? PCMU : PCMA;
    this.levelId = options.levelId;
    this.port = new FakePort(
      id,
      {
        ...format(audio, { payloadType: TELEPHONE_EVENT_PT, clockRate: audio.clockRate }),
        audioLevelExtensionId: options.levelId,
      },
      clock,
      nextSsrc++,
    );
    this.sampleRate = audio.clockRate;
    this.frameSamples = audio.clockRate / 50;
    this.source = new RtpSource({
      ssrc: nextSsrc++,
      payloadType: audio.payloadType,
      samplesPerPacket: this.frameSamples,
      sequenceNumber: 65_500, // wraps during the tests
    });
    this.#amplitude = options.amplitude ?? 6000;
    this.talk(options.frequency);
    if (this.codec === 'opus') {
      this.#encoder = new OpusEncoder();
      this.#decoder = new OpusDecoder();
    }
  }

  get id(): string {
    return this.port.id;
  }

  /** Changes the tone (undefined: silence). */
  talk(frequency: number | undefined): void {
    this.frequency = frequency;
    this.#tone =
      frequency === undefined
        ? undefined
        : new ToneGenerator({ frequency, sampleRate: this.sampleRate, amplitude: this.#amplitude });
  }

  /** The next 20 ms packet as the endpoint sends it (with its RFC 6464 level when negotiated). */
  next(level?: number): RtpPacket {
    const pcm = this.#tone?.next(this.frameSamples) ?? new Int16Array(this.frameSamples);
    const payload =
      this.codec === 'opus'
        ? this.#encoder!.encode(pcm)
        : this.codec === 'PCMU'
          ? encodeMulaw(pcm)
          : encodeAlaw(pcm);
    const packet = this.source.next(payload);
    if (this.levelId !== undefined) {
      const value = level ?? (this.#tone === undefined ? 127 : 18);
      packet.extension = serializeHeaderExtensions([
        audioLevelElement(this.levelId, value, value < 127),
      ]);
    }
    return packet;
  }

  /** Decodes what arrived since the last call; returns the last `frames` frames joined. */
  lastHeard(frames: number): Int16Array {
    const sent = this.port.sent;
    for (; this.#decodedUpTo < sent.length; this.#decodedUpTo++) {
      const payload = sent[this.#decodedUpTo]!.payload;
      if (this.codec === 'opus') {
        this.heard.push(Int16Array.from(this.#decoder!.decode(payload)!));
      } else {
        this.heard.push(this.codec === 'PCMU' ? decodeMulaw(payload) : decodeAlaw(payload));
      }
    }
    const recent = this.heard.slice(-frames);
    const out = new Int16Array(recent.length * this.frameSamples);
    recent.forEach((frame, i) => out.set(frame, i * this.frameSamples));
    return out;
  }
}
