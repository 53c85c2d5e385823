import { describe, expect, it } from 'vitest';
import { toneAmplitude, ToneGenerator } from '../src/audio/goertzel.js';
import { decodeMulaw, encodeMulaw } from '../src/codec/g711.js';
import { OpusDecoder, OpusEncoder } from '../src/codec/opus.js';
import { Mixer } from '../src/mixer/mixer.js';
import { audioLevelElement, serializeHeaderExtensions } from '../src/rtp/extensions.js';
import { FakePort, format, OPUS, PCMU, RtpSource, TestClock } from './bridge-fixtures.js';

const LEVEL_ID = 1;

/** An endpoint that packetises `ptime` ms of its tone per packet and decodes what it hears. */
class Endpoint {
  readonly port: FakePort;
  readonly codec: 'opus' | 'PCMU';
  readonly ptime: number;
  readonly frequency: number;
  readonly rate: number;
  readonly #source: RtpSource;
  readonly #tone: ToneGenerator;
  readonly #encoder: OpusEncoder | undefined;
  readonly #decoder = new OpusDecoder();
  readonly #levels: boolean;
  #decoded = 0;
  /** Every 20 ms frame heard, decoded. */
  readonly heard: Int16Array[] = [];

  constructor(
    id: string,
    clock: TestClock,
    codec: 'opus' | 'PCMU',
    ptime: number,
    frequency: number,
  ) {
    this.codec = codec;
    this.ptime = ptime;
    this.frequency = frequency;
    const audio = codec === 'opus' ? OPUS : PCMU;
    this.rate = audio.clockRate;
    // Browsers send RFC 6464 levels; the SIP phone does not (its level comes from decoding).
    this.#levels = codec === 'opus';
    this.port = new FakePort(
      id,
      { ...format(audio), audioLevelExtensionId: this.#levels ? LEVEL_ID : undefined },
      clock,
      0x5000 + ptime,
    );
    this.#source = new RtpSource({
      ssrc: 0x6000 + ptime,
      payloadType: audio.payloadType,
      samplesPerPacket: (this.rate * ptime) / 1000,
      sequenceNumber: 65_530,
    });
    this.#tone = new ToneGenerator({ frequency, sampleRate: this.rate, amplitude: 6000 });
    this.#encoder =
      codec === 'opus' ? new OpusEncoder({ frameDuration: ptime as 20 | 60 }) : undefined;
  }

  get id(): string {
    return this.port.id;
  }

  /** Sends a packet when `tick` (20 ms each) completes one of its packets. */
  send(mixer: Mixer, tick: number): void {
    const perPacket = this.ptime / 20;
    if ((tick + 1) % perPacket !== 0) {
      return;
    }
    const pcm = this.#tone.next((this.rate * this.ptime) / 1000);
    const payload = this.#encoder ? this.#encoder.encode(pcm) : encodeMulaw(pcm);
    const packet = this.#source.next(payload);
    if (this.#levels) {
      packet.extension = serializeHeaderExtensions([audioLevelElement(LEVEL_ID, 20, true)]);
    }
    mixer.receive(this.id, packet);
  }

  /** The last `frames` 20 ms frames heard, one array each. */
  lastFrames(frames: number): Int16Array[] {
    for (; this.#decoded < this.port.sent.length; this.#decoded++) {
      const payload = this.port.sent[this.#decoded]!.payload;
      this.heard.push(
        this.codec === 'opus'
          ? Int16Array.from(this.#decoder.decode(payload)!)
          : decodeMulaw(payload),
      );
    }
    return this.heard.slice(-frames);
  }
}

function join(frames: Int16Array[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const frame of frames) {
    out.set(frame, at);
    at += frame.length;
  }
  return out;
}

describe('Mixer: packetisations other than 20 ms', () => {
  it('mixes a PCMU phone at ptime 40 and an Opus party at 60 ms with 20 ms parties as continuous tones', () => {
    const clock = new TestClock();
    const mixer = new Mixer({ id: 'm-ptime', clock });
    const parties = [
      new Endpoint('opus20', clock, 'opus', 20, 500),
      new Endpoint('pcmu40', clock, 'PCMU', 40, 1100),
      new Endpoint('opus60', clock, 'opus', 60, 1900),
      new Endpoint('pcmu20', clock, 'PCMU', 20, 2700),
    ];
    const listener = new Endpoint('listener', clock, 'opus', 20, 3300);
    for (const party of [...parties, listener]) {
      mixer.add(party.port);
    }
    for (let tick = 0; tick < 150; tick++) {
      for (const party of parties) {
        party.send(mixer, tick);
      }
      mixer.tick();
      clock.advance(20);
    }

    const frequencies = parties.map((p) => p.frequency);
    const summary: Record<string, Record<number, number>> = {};
    for (const who of [...parties, listener]) {
      const heard = join(who.lastFrames(25));
      summary[who.id] = Object.fromEntries(
        frequencies.map((f) => [f, Math.round(toneAmplitude(heard, who.rate, f))]),
      );
    }
    const text = JSON.stringify(summary);
    for (const who of [...parties, listener]) {
      for (const party of parties) {
        if (party === who) {
          expect(summary[who.id]![party.frequency], text).toBeLessThan(300);
        } else {
          expect(summary[who.id]![party.frequency], text).toBeGreaterThan(3000);
        }
      }
    }

    // No gaps nor choppiness: every 20 ms frame of the last 0.5 s holds each tone at a steady
    // level (a packet covering several ticks feeds all of them).
    for (const who of [listener, parties[0]!, parties[3]!]) {
      for (const party of parties) {
        if (party === who) {
          continue;
        }
        const levels = who
          .lastFrames(25)
          .map((frame) => toneAmplitude(frame, who.rate, party.frequency));
        const low = Math.min(...levels);
        const high = Math.max(...levels);
        expect(
          low / high,
          `${who.id} hearing ${party.id}: ${levels.map(Math.round).join(',')}`,
        ).toBeGreaterThan(0.5);
      }
    }
    const stats = mixer.portStats('opus60')!;
    expect(stats.lost).toBe(0);
    expect(stats.talking).toBe(true);
    expect(mixer.portStats('pcmu40')!.talking).toBe(true);
  });
});
