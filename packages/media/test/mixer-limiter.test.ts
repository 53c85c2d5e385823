import { describe, expect, it } from 'vitest';
import { toneAmplitude } from '../src/audio/goertzel.js';
import { createDecoder, createEncoder } from '../src/codec/factory.js';
import { Limiter } from '../src/mixer/limiter.js';
import { Mixer, MIXER_OPUS_APPLICATION } from '../src/mixer/mixer.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { OPUS, TestClock } from './bridge-fixtures.js';
import { Party, type PartyOptions } from './mixer-fixtures.js';

const LEVEL_ID = 1;
/** 0.9 of full scale: three of these sum to 2.7× what int16 holds. */
const LOUD = Math.round(0.9 * 32767);
/**
 * 3rd-order intermodulation of 500/1300/2100 Hz lands on the talkers' own frequencies
 * (2·1300 − 2100 = 500, 2·1300 − 500 = 2100, 500 − 1300 + 2100 = 1300): a distorting mix puts
 * each talker's own frequency back into its mix-minus-self.
 */
const F = [500, 1300, 2100] as const;
/** The other 3rd-order products of each pair (2f1 − f2, 2f2 − f1, folded to positive). */
const IM = [300, 1100, 2900, 3700] as const;
/** −40 dB. */
const DB40 = 0.01;

function setup(): {
  mixer: Mixer;
  party: (id: string, options?: PartyOptions) => Party;
  run: (
    ticks: number,
    parties: readonly Party[],
    onPacket?: (p: Party, rtp: RtpPacket) => void,
  ) => void;
} {
  const clock = new TestClock();
  const mixer = new Mixer({ id: 'm1', clock });
  return {
    mixer,
    party: (id, options) => {
      const party = new Party(id, clock, options);
      mixer.add(party.port);
      return party;
    },
    run: (ticks, parties, onPacket) => {
      for (let t = 0; t < ticks; t++) {
        for (const party of parties) {
          if (party.sending) {
            const packet = party.next();
            onPacket?.(party, packet);
            mixer.receive(party.id, packet);
          }
        }
        mixer.tick();
        clock.advance(20);
      }
    },
  };
}

/** Amplitude of `frequency` in the last `frames` frames `party` heard (whole periods of 100 Hz). */
function heard(party: Party, frequency: number, frames = 10): number {
  return toneAmplitude(party.lastHeard(frames), party.sampleRate, frequency);
}

/** Samples at the int16 rails in everything `party` heard. */
function railed(party: Party): number {
  party.lastHeard(0);
  let n = 0;
  for (const frame of party.heard) {
    for (const v of frame) {
      if (v >= 32767 || v <= -32768) {
        n++;
      }
    }
  }
  return n;
}

describe('Mixer limiter', () => {
  it('mixes three talkers at 0.9 of full scale without intermodulation: own frequency and IM products ≥ 40 dB below the heard tones', () => {
    const { party, run } = setup();
    const talkers = F.map((frequency, i) =>
      party(`t${i}`, { frequency, levelId: LEVEL_ID, amplitude: LOUD }),
    );
    const listener = party('listener', { levelId: LEVEL_ID });
    const all = [...talkers, listener];
    run(50, all);

    talkers.forEach((talker, i) => {
      const others = F.filter((_, j) => j !== i).map((f) => heard(talker, f));
      const weakest = Math.min(...others);
      // The two others are heard, limited to fit the int16 range (their sum peaks at 1.8).
      expect(weakest).toBeGreaterThan(0.35 * 32767);
      expect(heard(talker, F[i]!)).toBeLessThan(DB40 * weakest);
      for (const f of IM) {
        expect(heard(talker, f)).toBeLessThan(DB40 * weakest);
      }
    });
    const tones = F.map((f) => heard(listener, f));
    const weakest = Math.min(...tones);
    expect(weakest).toBeGreaterThan(0.25 * 32767);
    for (const f of IM) {
      expect(heard(listener, f)).toBeLessThan(DB40 * weakest);
    }
    // Only the attack at the talkspurt's start may reach the rails (≤ 2 ms per output).
    for (const p of all) {
      expect(railed(p)).toBeLessThanOrEqual(96);
    }
  });

  it('passes a single loud talker through bit-exactly (unity gain: same payload bytes as the unlimited mix)', () => {
    const { party, run } = setup();
    const talker = party('t', { frequency: 700, levelId: LEVEL_ID, amplitude: LOUD });
    const listener = party('l', { levelId: LEVEL_ID });
    const sent: RtpPacket[] = [];
    run(60, [talker, listener], (p, rtp) => {
      if (p === talker) {
        sent.push(rtp);
      }
    });
    // What the listener must get: the talker's decoded frames, untouched, through an encoder
    // like the mixer's, after the leading silence of the jitter buffer's delay.
    const out = listener.port.sent.map((rtp) => rtp.payload);
    const decoder = createDecoder(OPUS);
    const frames = sent.map((rtp) => Int16Array.from(decoder.decode(rtp.payload)!));
    const maxSample = Math.max(...frames.flatMap((f) => Array.from(f, Math.abs)));
    expect(maxSample).toBeGreaterThan(0.85 * 32767);
    expect(maxSample).toBeLessThan(32767);
    const matches = [0, 1, 2, 3].filter((delay) => {
      const encoder = createEncoder(OPUS, {
        opusSampleRate: 48000,
        opus: { application: MIXER_OPUS_APPLICATION },
      });
      const silence = new Int16Array(960);
      return out.every((payload, t) => {
        const pcm = t < delay ? silence : frames[t - delay]!;
        return Buffer.from(encoder.encode(pcm)).equals(Buffer.from(payload));
      });
    });
    expect(matches).toHaveLength(1);
  });

  it('releases the gain smoothly once the loud talkers stop: back to unity within a second, not at once', () => {
    const { party, run } = setup();
    const talkers = F.map((frequency, i) =>
      party(`t${i}`, { frequency, levelId: LEVEL_ID, amplitude: LOUD }),
    );
    const listener = party('listener', { levelId: LEVEL_ID });
    const all = [...talkers, listener];
    run(50, all);
    const tones = F.map((f) => heard(listener, f));
    for (const f of IM) {
      expect(heard(listener, f)).toBeLessThan(DB40 * Math.min(...tones));
    }
    const limited = heard(listener, F[0]);
    expect(limited).toBeLessThan(0.5 * LOUD);

    talkers[1]!.sending = false;
    talkers[2]!.sending = false;
    run(5, all);
    // 100 ms later the gain is still on its way up (no pumping)…
    const early = heard(listener, F[0], 2);
    expect(early).toBeGreaterThan(limited * 1.05);
    expect(early).toBeLessThan(0.9 * LOUD);
    run(50, all);
    // …and after a second the lone talker is heard at its own level again.
    expect(heard(listener, F[0])).toBeGreaterThan(0.97 * LOUD);
    expect(heard(listener, F[0])).toBeLessThan(1.03 * LOUD);
  });
});

describe('Limiter', () => {
  const FRAME = 960;
  /** One frame of `amplitude`·sin(2π f t) per frequency, from sample `n0`, summed. */
  function tones(frequencies: readonly number[], amplitude: number, n0: number): Float32Array {
    const sum = new Float32Array(FRAME);
    for (let i = 0; i < FRAME; i++) {
      for (const f of frequencies) {
        sum[i]! += Math.round(amplitude * Math.sin((2 * Math.PI * f * (n0 + i)) / 48000));
      }
    }
    return sum;
  }

  it('copies an in-range sum exactly, the int16 extremes included', () => {
    const limiter = new Limiter();
    const sum = tones([700], 30000, 0);
    sum[10] = 32767;
    sum[20] = -32768;
    const out = new Int16Array(FRAME);
    limiter.process(sum, undefined, out);
    expect(Array.from(out)).toEqual(Array.from(sum));
    expect(limiter.gain).toBe(1);
  });

  it('keeps an over-range sum off the rails except during the 1 ms attack, then holds a steady gain', () => {
    const limiter = new Limiter();
    const out = new Int16Array(FRAME);
    const minus = new Int16Array(FRAME);
    const gains: number[] = [];
    for (let t = 0; t < 10; t++) {
      limiter.process(tones(F, LOUD, t * FRAME), minus, out);
      gains.push(limiter.gain);
      const railed = out.filter((v) => v >= 32767 || v <= -32768).length;
      const peak = Math.max(...Array.from(out, Math.abs));
      if (t === 0) {
        expect(out.subarray(48).every((v) => Math.abs(v) <= 0.95 * 32767 + 1)).toBe(true);
      } else {
        expect(railed).toBe(0);
        expect(peak).toBeGreaterThan(0.9 * 32767);
        expect(peak).toBeLessThanOrEqual(0.95 * 32767 + 1);
      }
    }
    expect(new Set(gains.slice(1)).size).toBe(1);
  });

  it('starts a stream switching over at the gain the other stream had when it left it', () => {
    const shared = new Limiter();
    const own = new Limiter();
    const out = new Int16Array(FRAME);
    for (let t = 0; t < 5; t++) {
      shared.process(tones(F, LOUD, t * FRAME), undefined, out);
    }
    const before = shared.gain;
    shared.process(tones(F, LOUD, 5 * FRAME), undefined, out);
    own.continueFrom(shared);
    expect(own.gain).toBe(before);
    expect(own.gain).toBeLessThan(0.5);
  });
});
