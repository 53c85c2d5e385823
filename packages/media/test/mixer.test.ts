import { describe, expect, it } from 'vitest';
import { toneAmplitude } from '../src/audio/goertzel.js';
import { RelayBridge } from '../src/bridge/relay-bridge.js';
import { serializeTelephoneEvent } from '../src/dtmf/telephone-event.js';
import type { JitterBufferOptions } from '../src/mixer/jitter-buffer.js';
import { createDecoder, createEncoder, type CodecFactoryOptions } from '../src/codec/factory.js';
import { Mixer, MIXER_OPUS_APPLICATION } from '../src/mixer/mixer.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { OPUS, TestClock } from './bridge-fixtures.js';
import { Party, TELEPHONE_EVENT_PT, type PartyOptions } from './mixer-fixtures.js';

const LEVEL_ID = 1;

interface Setup {
  clock: TestClock;
  mixer: Mixer;
  talking: [string, boolean][];
  party: (id: string, options?: PartyOptions) => Party;
  /** `ticks` rounds: every sending party sends one packet, then the mixer ticks. */
  run: (ticks: number, parties: readonly Party[]) => void;
}

function setup(jitter: JitterBufferOptions = { startDepth: 2 }): Setup {
  const clock = new TestClock();
  // The timing tests below are written for playout one packet behind arrival (a buffer two
  // deep); the default start depth of one is tested on its own.
  const mixer = new Mixer({ id: 'm1', clock, jitter });
  const talking: [string, boolean][] = [];
  mixer.on('talking', (id, value) => talking.push([id, value]));
  return {
    clock,
    mixer,
    talking,
    party: (id, options) => {
      const party = new Party(id, clock, options);
      mixer.add(party.port);
      return party;
    },
    run: (ticks, parties) => {
      for (let t = 0; t < ticks; t++) {
        for (const party of parties) {
          if (party.sending) {
            mixer.receive(party.id, party.next());
          }
        }
        mixer.tick();
        clock.advance(20);
      }
    },
  };
}

/** Amplitude of `frequency` in the last 10 frames (200 ms) `party` heard. */
function heard(party: Party, frequency: number, frames = 10): number {
  return toneAmplitude(party.lastHeard(frames), party.sampleRate, frequency);
}

const HEARD = 3000;
const SILENT = 300;

describe('Mixer', () => {
  it('gives each talker every other talker and not itself, and listeners everyone', () => {
    const { party, run } = setup();
    const parties = [
      party('a', { frequency: 440, levelId: LEVEL_ID }),
      party('b', { frequency: 1000, levelId: LEVEL_ID }),
      party('c', { frequency: 1700, levelId: LEVEL_ID }),
      party('listener', { levelId: LEVEL_ID }),
    ];
    run(40, parties);
    const [a, b, c, listener] = parties as [Party, Party, Party, Party];
    expect(heard(a, 440)).toBeLessThan(SILENT);
    expect(heard(a, 1000)).toBeGreaterThan(HEARD);
    expect(heard(a, 1700)).toBeGreaterThan(HEARD);
    expect(heard(b, 1000)).toBeLessThan(SILENT);
    expect(heard(b, 440)).toBeGreaterThan(HEARD);
    expect(heard(b, 1700)).toBeGreaterThan(HEARD);
    expect(heard(c, 1700)).toBeLessThan(SILENT);
    expect(heard(c, 440)).toBeGreaterThan(HEARD);
    expect(heard(c, 1000)).toBeGreaterThan(HEARD);
    for (const frequency of [440, 1000, 1700]) {
      expect(heard(listener, frequency)).toBeGreaterThan(HEARD);
    }
  });

  it('encodes the full mix once per codec and tick for all listeners: same payload bytes, own streams', () => {
    const { mixer, party, run } = setup();
    const talkers = [
      party('t1', { frequency: 440, levelId: LEVEL_ID }),
      party('t2', { frequency: 1000, levelId: LEVEL_ID }),
      party('t3', { frequency: 1700, levelId: LEVEL_ID }),
    ];
    const opusListeners = [1, 2, 3, 4, 5].map((i) => party(`o${i}`, { levelId: LEVEL_ID }));
    const pcmuListeners = [1, 2].map((i) => party(`u${i}`, { codec: 'PCMU' }));
    const pcmaListener = party('a1', { codec: 'PCMA' });
    const all = [...talkers, ...opusListeners, ...pcmuListeners, pcmaListener];
    run(20, all);

    const before = structuredClone(mixer.stats);
    run(1, all);
    const after = mixer.stats;
    // One shared Opus encode + one mix-minus-self encode per talker; one per G.711 law.
    expect(after.encoded.opus - before.encoded.opus).toBe(1 + talkers.length);
    expect(after.encoded.PCMU - before.encoded.PCMU).toBe(1);
    expect(after.encoded.PCMA - before.encoded.PCMA).toBe(1);
    expect(after.sharedEncodes - before.sharedEncodes).toBe(3);

    const lastOf = (p: Party): RtpPacket => p.port.last;
    const shared = lastOf(opusListeners[0]!).payload;
    for (const listener of opusListeners) {
      expect(lastOf(listener).payload).toEqual(shared);
    }
    expect(lastOf(pcmuListeners[1]!).payload).toEqual(lastOf(pcmuListeners[0]!).payload);
    for (const talker of talkers) {
      expect(lastOf(talker).payload).not.toEqual(shared);
    }
    // Each on its own stream: own SSRC, the leg's payload type, 20 ms of its clock.
    const ssrcs = new Set(all.map((p) => lastOf(p).ssrc));
    expect(ssrcs.size).toBe(all.length);
    expect(lastOf(pcmuListeners[0]!).payloadType).toBe(0);
    expect(lastOf(pcmaListener).payloadType).toBe(8);
    const sent = opusListeners[0]!.port.sent;
    expect(sent.at(-1)!.timestamp - sent.at(-2)!.timestamp).toBe(960);
    expect(pcmuListeners[0]!.port.sent.at(-1)!.timestamp).toBe(
      (pcmuListeners[0]!.port.sent.at(-2)!.timestamp + 160) >>> 0,
    );
  });

  it('keeps a talker that misses packets on its own stream for the talk hang time, then moves it to the shared mix', () => {
    const { party, run } = setup();
    const a = party('a', { frequency: 440, levelId: LEVEL_ID });
    const b = party('b', { frequency: 1000, levelId: LEVEL_ID });
    const c = party('c', { frequency: 1700, levelId: LEVEL_ID });
    const listener = party('l', { levelId: LEVEL_ID });
    const all = [a, b, c, listener];
    run(30, all);
    // a's packets stop: two ticks concealed, then its input is empty and it is not mixed. Its
    // stream must not jump to the shared encoder and back (its decoder would carry on from
    // another encoder's state): it goes on from a's own encoder, now with the full mix.
    a.sending = false;
    const ownTicks: boolean[] = [];
    const step = (): void => {
      run(1, all);
      ownTicks.push(
        !Buffer.from(a.port.last.payload).equals(Buffer.from(listener.port.last.payload)),
      );
    };
    for (let t = 0; t < 25; t++) {
      step();
    }
    expect(ownTicks.every(Boolean)).toBe(true);
    expect(heard(a, 1000)).toBeGreaterThan(HEARD);
    expect(heard(a, 1700)).toBeGreaterThan(HEARD);
    // Quiet for longer than the hang time: a listener like the others, on the shared encode.
    for (let t = 0; t < 5; t++) {
      step();
    }
    expect(ownTicks.slice(-2)).toEqual([false, false]);
    // Talking again: its own mix-minus-self.
    a.sending = true;
    run(5, all);
    expect(Buffer.from(a.port.last.payload).equals(Buffer.from(listener.port.last.payload))).toBe(
      false,
    );
    expect(heard(a, 440, 3)).toBeLessThan(SILENT);
  });

  it('encodes Opus CELT-only (RFC 6716 §3.1 configurations 16–31) on every stream, own or shared', () => {
    const { party, run } = setup();
    const talkers = [
      party('t1', { frequency: 440, levelId: LEVEL_ID }),
      party('t2', { frequency: 1000, levelId: LEVEL_ID }),
    ];
    const listeners = [party('l1', { levelId: LEVEL_ID }), party('l2', { levelId: LEVEL_ID })];
    run(30, [...talkers, ...listeners]);
    const configs = new Set(
      [...talkers, ...listeners].flatMap((p) => p.port.sent.map((rtp) => rtp.payload[0]! >> 3)),
    );
    expect([...configs].every((config) => config >= 16)).toBe(true);
  });

  it("uses Opus settings whose streams survive a receiver moved between two encoders of the same mix (a listener's shared ↔ own switch)", () => {
    // Steady tones (test tones, sustained vowels) are the worst case: after such a switch a
    // SILK or hybrid stream decodes as full-scale noise for as long as the tones last. These
    // cases did with libopus's `voip` application; CELT-only recovers within a frame or two.
    const tones = (frame: number): Int16Array => {
      const pcm = new Int16Array(960);
      for (let i = 0; i < 960; i++) {
        const n = frame * 960 + i;
        let v = 0;
        for (const hz of [1300, 2100, 2900]) {
          v += Math.sin((2 * Math.PI * hz * n) / 48000) * 0.3 * 32767;
        }
        pcm[i] = Math.round(v);
      }
      return pcm;
    };
    const settings: CodecFactoryOptions = {
      opusSampleRate: 48000,
      opus: { application: MIXER_OPUS_APPLICATION },
    };
    for (const [sharedFrom, switchAt] of [
      [0, 45],
      [12, 45],
      [21, 52],
    ] as const) {
      const own = createEncoder(OPUS, settings);
      const shared = createEncoder(OPUS, settings);
      const receiver = createDecoder(OPUS);
      // The same tones as one uninterrupted stream.
      const continuous = createEncoder(OPUS, settings);
      const reference = createDecoder(OPUS);
      let railed = 0;
      let heardEnergy = 0;
      let referenceEnergy = 0;
      for (let frame = 0; frame < 100; frame++) {
        const pcm = tones(frame);
        if (frame === sharedFrom) {
          // The shared encoder served someone else once.
          shared.encode(pcm);
        }
        // Three frames from the shared encoder, the own one meanwhile idle (as in the mixer).
        const moved = frame >= switchAt && frame < switchAt + 3;
        const out = receiver.decode((moved ? shared : own).encode(pcm))!;
        const ideal = reference.decode(continuous.encode(pcm))!;
        if (frame >= switchAt + 6) {
          for (let i = 0; i < out.length; i++) {
            railed += Math.abs(out[i]!) >= 32767 ? 1 : 0;
            heardEnergy += out[i]! * out[i]!;
            referenceEnergy += ideal[i]! * ideal[i]!;
          }
        }
      }
      expect(railed).toBe(0);
      // Within 1 dB of what a fresh stream of the same tones decodes to.
      expect(heardEnergy / referenceEnergy).toBeGreaterThan(0.79);
      expect(heardEnergy / referenceEnergy).toBeLessThan(1.26);
    }
  });

  it('sends encoded silence to everyone when nobody talks, still one encode per codec', () => {
    const { mixer, party, run } = setup();
    const parties = [1, 2, 3, 4].map((i) => party(`p${i}`, { levelId: LEVEL_ID }));
    run(5, parties);
    const before = mixer.stats.encoded.opus;
    run(10, parties);
    expect(mixer.stats.encoded.opus - before).toBe(10);
    for (const p of parties) {
      expect(p.port.sent).toHaveLength(15);
    }
    expect(mixer.stats.decoded).toBe(0);
  });

  it('decodes only talkers when RFC 6464 levels are available, every frame otherwise', () => {
    const withLevels = setup();
    const quiet = [1, 2, 3, 4, 5, 6].map((i) => withLevels.party(`q${i}`, { levelId: LEVEL_ID }));
    const talker = withLevels.party('t', { frequency: 440, levelId: LEVEL_ID });
    withLevels.run(10, [...quiet, talker]);
    const decoded = withLevels.mixer.stats.decoded;
    withLevels.run(10, [...quiet, talker]);
    expect(withLevels.mixer.stats.decoded - decoded).toBe(10);

    const energy = setup();
    const plain = [1, 2, 3].map((i) => energy.party(`g${i}`, { codec: 'PCMU' }));
    energy.run(10, plain);
    const before = energy.mixer.stats.decoded;
    energy.run(10, plain);
    expect(energy.mixer.stats.decoded - before).toBe(30);
  });

  it('reports talking after sustained activity only, and stops after the hang time', () => {
    const { mixer, party, talking, clock } = setup();
    const p = party('p', { frequency: 440, levelId: LEVEL_ID });
    const listener = party('l', { levelId: LEVEL_ID });
    const step = (level: number): void => {
      mixer.receive(p.id, p.next(level));
      mixer.receive(listener.id, listener.next());
      mixer.tick();
      clock.advance(20);
    };
    for (let i = 0; i < 5; i++) {
      step(127);
    }
    // Blips of 2 active frames (40 ms) never start talking.
    for (let blip = 0; blip < 3; blip++) {
      step(20);
      step(20);
      for (let i = 0; i < 4; i++) {
        step(127);
      }
    }
    expect(talking).toEqual([]);
    // Three active frames do (played one tick after they arrive: the jitter buffer's delay).
    step(20);
    step(20);
    step(20);
    expect(talking).toEqual([]);
    step(127);
    expect(talking).toEqual([['p', true]]);
    // Pauses shorter than the hang time (500 ms) keep it talking.
    for (let i = 0; i < 20; i++) {
      step(127);
    }
    step(20);
    for (let i = 0; i < 25; i++) {
      step(127);
    }
    expect(talking).toEqual([['p', true]]);
    step(127);
    expect(talking).toEqual([
      ['p', true],
      ['p', false],
    ]);
  });

  it('detects talk from the energy of decoded frames for plain RTP legs', () => {
    const { party, run, talking } = setup();
    const phone = party('phone', { codec: 'PCMU', frequency: 700 });
    const quiet = party('quiet', { codec: 'PCMA' });
    run(10, [phone, quiet]);
    expect(talking).toEqual([['phone', true]]);
    phone.talk(undefined);
    run(40, [phone, quiet]);
    expect(talking).toEqual([
      ['phone', true],
      ['phone', false],
    ]);
  });

  it('plays a joining talker from its first packet by default (merge latency: one tick, not two)', () => {
    const { party, run, mixer } = setup({});
    const talker = party('t', { frequency: 440, levelId: LEVEL_ID });
    const listener = party('l', { levelId: LEVEL_ID });
    run(1, [talker, listener]);
    expect(toneAmplitude(listener.lastHeard(1), 48000, 440)).toBeGreaterThan(1500);
    expect(mixer.portStats('t')).toMatchObject({ lost: 0 });
  });

  it('mixes a joining port on the first tick from its last relayed packet when that packet is fresh, then goes on in sequence', () => {
    const { clock, mixer, party } = setup({});
    const listener = party('l', { levelId: LEVEL_ID });
    const talker = new Party('t', clock, { frequency: 440, levelId: LEVEL_ID });
    const last = talker.next();
    const receivedAt = clock.now();
    clock.advance(19); // less than the packet's 20 ms: the next one is on its way
    mixer.add(talker.port, { last: { packet: last, receivedAt } });
    mixer.receive('l', listener.next());
    mixer.tick();
    expect(toneAmplitude(listener.lastHeard(1), 48000, 440)).toBeGreaterThan(1500);
    // The stream goes on from the primed packet: nothing lost, repeated or restarted.
    for (let t = 0; t < 3; t++) {
      clock.advance(20);
      mixer.receive('t', talker.next());
      mixer.receive('l', listener.next());
      mixer.tick();
    }
    expect(mixer.portStats('t')).toMatchObject({ received: 4, lost: 0, duplicate: 0, late: 0 });
    expect(toneAmplitude(listener.lastHeard(4), 48000, 440)).toBeGreaterThan(HEARD);
  });

  it("does not replay a joining port's last packet older than its duration (the source paused)", () => {
    const { clock, mixer, party } = setup({});
    const listener = party('l', { levelId: LEVEL_ID });
    const talker = new Party('t', clock, { frequency: 440, levelId: LEVEL_ID });
    const last = talker.next();
    const receivedAt = clock.now();
    clock.advance(20);
    mixer.add(talker.port, { last: { packet: last, receivedAt } });
    mixer.receive('l', listener.next());
    mixer.tick();
    expect(toneAmplitude(listener.lastHeard(1), 48000, 440)).toBeLessThan(SILENT);
    expect(mixer.portStats('t')).toMatchObject({ received: 0 });
  });

  it('does not prime a port that joins held, nor with a packet of another payload type', () => {
    const { clock, mixer, party } = setup({});
    const listener = party('l', { levelId: LEVEL_ID });
    const held = new Party('h', clock, { frequency: 440, levelId: LEVEL_ID });
    const dtmf = new Party('d', clock, { frequency: 700, levelId: LEVEL_ID });
    mixer.add(held.port, { held: true, last: { packet: held.next(), receivedAt: clock.now() } });
    const event = { ...dtmf.next(), payloadType: TELEPHONE_EVENT_PT };
    mixer.add(dtmf.port, { last: { packet: event, receivedAt: clock.now() } });
    mixer.receive('l', listener.next());
    mixer.tick();
    expect(mixer.portStats('h')).toMatchObject({ received: 0 });
    expect(mixer.portStats('d')).toMatchObject({ received: 0 });
    expect(toneAmplitude(listener.lastHeard(1), 48000, 440)).toBeLessThan(SILENT);
  });

  it('conceals a lost talker packet with Opus PLC instead of a hole', () => {
    const { mixer, party, run, clock } = setup();
    const talker = party('t', { frequency: 440, levelId: LEVEL_ID });
    const listener = party('l', { levelId: LEVEL_ID });
    run(20, [talker, listener]);
    // The talker's next packet is lost; the one after arrives.
    talker.next();
    mixer.receive(listener.id, listener.next());
    mixer.tick();
    clock.advance(20);
    run(3, [talker, listener]);
    expect(mixer.stats.concealed).toBe(1);
    expect(mixer.portStats('t')).toMatchObject({ lost: 1, late: 0 });
    // Every frame the listener heard around the loss carries the tone.
    listener.lastHeard(1);
    for (const frame of listener.heard.slice(-6)) {
      expect(toneAmplitude(frame, 48000, 440)).toBeGreaterThan(1500);
    }
  });

  it('mixes a G.711 phone with Opus parties (resampled both ways)', () => {
    const { party, run } = setup();
    const phone = party('phone', { codec: 'PCMU', frequency: 600 });
    const browser = party('browser', { frequency: 1500, levelId: LEVEL_ID });
    const opusListener = party('ol', { levelId: LEVEL_ID });
    const pcmaListener = party('al', { codec: 'PCMA' });
    run(30, [phone, browser, opusListener, pcmaListener]);
    expect(heard(phone, 1500)).toBeGreaterThan(HEARD);
    expect(heard(phone, 600)).toBeLessThan(SILENT);
    expect(heard(browser, 600)).toBeGreaterThan(HEARD);
    expect(heard(browser, 1500)).toBeLessThan(SILENT);
    expect(heard(opusListener, 600)).toBeGreaterThan(HEARD);
    expect(heard(opusListener, 1500)).toBeGreaterThan(HEARD);
    expect(heard(pcmaListener, 600)).toBeGreaterThan(HEARD);
    expect(heard(pcmaListener, 1500)).toBeGreaterThan(HEARD);
  });

  it('does not mix a muted party, never reports it talking, and still lets it hear', () => {
    const { mixer, party, run, talking } = setup();
    const muted = party('muted', { frequency: 440, levelId: LEVEL_ID });
    const other = party('other', { frequency: 1000, levelId: LEVEL_ID });
    const listener = party('l', { levelId: LEVEL_ID });
    mixer.setMuted('muted', true);
    run(30, [muted, other, listener]);
    expect(heard(listener, 440)).toBeLessThan(SILENT);
    expect(heard(other, 440)).toBeLessThan(SILENT);
    expect(heard(muted, 1000)).toBeGreaterThan(HEARD);
    expect(talking).toEqual([['other', true]]);
    // Muting a talker ends its talking at once.
    mixer.setMuted('other', true);
    expect(talking).toEqual([
      ['other', true],
      ['other', false],
    ]);
  });

  it('keeps a held party out of the mix both ways, then resumes its stream with a marker', () => {
    const { mixer, party, run } = setup();
    const held = party('held', { frequency: 440, levelId: LEVEL_ID });
    const other = party('other', { frequency: 1000, levelId: LEVEL_ID });
    const listener = party('l', { levelId: LEVEL_ID });
    run(5, [held, other, listener]);
    mixer.setHeld('held', true);
    const sentBefore = held.port.sent.length;
    run(30, [held, other, listener]);
    expect(held.port.sent.length).toBe(sentBefore);
    expect(heard(listener, 440)).toBeLessThan(SILENT);
    expect(heard(listener, 1000)).toBeGreaterThan(HEARD);
    mixer.setHeld('held', false);
    run(1, [held, other, listener]);
    const resumed = held.port.sent[sentBefore]!;
    expect(resumed.marker).toBe(true);
    expect(resumed.sequenceNumber).toBe(
      (held.port.sent[sentBefore - 1]!.sequenceNumber + 1) & 0xffff,
    );
    // The 600 ms on hold show as a timestamp advance, not as loss.
    expect((resumed.timestamp - held.port.sent[sentBefore - 1]!.timestamp) >>> 0).toBe(31 * 960);
  });

  it('does not mix telephone-events', () => {
    const { mixer, party, run, talking, clock } = setup();
    const dialer = party('dialer', { levelId: LEVEL_ID });
    const listener = party('l', { levelId: LEVEL_ID });
    run(3, [dialer, listener]);
    for (let i = 0; i < 20; i++) {
      const event = serializeTelephoneEvent({
        event: 5,
        end: false,
        volume: 10,
        duration: 160 * i,
      });
      mixer.receive('dialer', dialer.source.at(event, 1234, i === 0, TELEPHONE_EVENT_PT));
      mixer.receive('l', listener.next());
      mixer.tick();
      clock.advance(20);
    }
    expect(mixer.portStats('dialer')).toMatchObject({ ignored: 20, talking: false });
    expect(talking).toEqual([]);
    expect(mixer.stats.decoded).toBe(0);
  });

  it('keeps SSRC and continuous sequence numbers and timestamps for a leg moved relay → mixer → relay', () => {
    const clock = new TestClock();
    const mixer = new Mixer({ id: 'm', clock });
    const alice = new Party('alice', clock, { frequency: 440, levelId: LEVEL_ID });
    const bob = new Party('bob', clock, { frequency: 1000, levelId: LEVEL_ID });
    const carol = new Party('carol', clock, { frequency: 1700, levelId: LEVEL_ID });
    let bridge = new RelayBridge({ id: 'b1', clock });
    bridge.add(alice.port);
    bridge.add(bob.port);
    for (let i = 0; i < 10; i++) {
      bridge.receive('bob', bob.next());
      bridge.receive('alice', alice.next());
      clock.advance(20);
    }
    // Into the conference (the relay bridge goes: it is for two).
    bridge.close();
    for (const p of [alice, bob, carol]) {
      mixer.add(p.port);
    }
    for (let i = 0; i < 30; i++) {
      for (const p of [alice, bob, carol]) {
        mixer.receive(p.id, p.next());
      }
      mixer.tick();
      clock.advance(20);
    }
    // Back to a two-party call.
    mixer.remove('alice');
    mixer.remove('bob');
    bridge = new RelayBridge({ id: 'b2', clock });
    bridge.add(alice.port);
    bridge.add(bob.port);
    for (let i = 0; i < 10; i++) {
      bridge.receive('bob', bob.next());
      clock.advance(20);
    }

    const sent = alice.port.sent;
    expect(sent).toHaveLength(50);
    expect(new Set(sent.map((p) => p.ssrc))).toEqual(new Set([alice.port.output.ssrc]));
    const markers: number[] = [];
    for (let i = 1; i < sent.length; i++) {
      expect(sent[i]!.sequenceNumber).toBe((sent[i - 1]!.sequenceNumber + 1) & 0xffff);
      const advance = (sent[i]!.timestamp - sent[i - 1]!.timestamp) >>> 0;
      expect(advance).toBe(960);
      if (sent[i]!.marker) {
        markers.push(i);
      }
    }
    // A marker bit at each move only.
    expect(markers).toEqual([10, 40]);
    // Alice heard bob, then bob and carol, then bob again; never herself.
    alice.lastHeard(1);
    expect(
      toneAmplitude(
        alice.heard.slice(30, 40).flatMap((f) => [...f]),
        48000,
        1700,
      ),
    ).toBeGreaterThan(HEARD);
    expect(
      toneAmplitude(
        alice.heard.flatMap((f) => [...f]),
        48000,
        440,
      ),
    ).toBeLessThan(SILENT);
  });
});
