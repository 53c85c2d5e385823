// Cross-worker mixing in the BUILT package (worker threads cannot load TypeScript sources):
// run `npx tsc -b packages/media` before these tests.
import { afterEach, describe, expect, it } from 'vitest';
import { isMediaError, WorkerMediaEngine } from '@confab/media';
import type { LegClosedEvent, WorkerMediaEngineOptions } from '@confab/media';
import { toneAmplitude, ToneGenerator } from '../src/audio/goertzel.js';
import { decodeMulaw, encodeMulaw } from '../src/codec/g711.js';
import { hashGroup } from '../src/engine/worker-engine.js';
import { PortAllocator } from '../src/legs/port-allocator.js';
import { RtpLeg } from '../src/legs/rtp-leg.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { until } from './legs-fixtures.js';

const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) {
    await close();
  }
});

// Private port ranges below the Linux ephemeral range (32768+).
let nextRange = 27_000;
function range(pairs: number): [number, number] {
  const result: [number, number] = [nextRange, nextRange + pairs * 2 - 1];
  nextRange += pairs * 2;
  return result;
}

function createEngine(options: WorkerMediaEngineOptions): WorkerMediaEngine {
  const engine = new WorkerMediaEngine({ portRange: range(24), ...options });
  cleanup.push(() => engine.close());
  return engine;
}

/** A group name (with `prefix`) that the engine routes to worker `index` of `workers`. */
function groupOn(index: number, workers: number, prefix = 'call'): string {
  for (let i = 0; ; i++) {
    const group = `${prefix}-${i}`;
    if (hashGroup(group) % workers === index) {
      return group;
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A SIP phone stand-in: a plain RTP leg that sends its own tone and keeps what it hears. */
class Phone {
  readonly received: { at: number; packet: RtpPacket }[] = [];
  #tone: ToneGenerator;
  #sending = false;
  #loop: Promise<void> | undefined;

  readonly leg: RtpLeg;
  readonly frequency: number;

  private constructor(leg: RtpLeg, frequency: number) {
    this.leg = leg;
    this.frequency = frequency;
    this.#tone = new ToneGenerator({ frequency, sampleRate: 8000, amplitude: 8000 });
    leg.on('rtp', (packet) => this.received.push({ at: performance.now(), packet }));
  }

  static async open(frequency: number): Promise<Phone> {
    const leg = await RtpLeg.open({ portAllocator: new PortAllocator(range(1)), codecs: ['PCMU'] });
    const phone = new Phone(leg, frequency);
    cleanup.push(() => phone.close());
    return phone;
  }

  /** Sends 20 ms frames in real time until {@link stop}. */
  start(): void {
    this.#sending = true;
    this.#loop ??= (async () => {
      let next = performance.now();
      while (this.#sending) {
        this.leg.sendRtp(this.leg.output.writeGenerated(encodeMulaw(this.#tone.next(160)), 0, 160));
        next += 20;
        await sleep(Math.max(0, next - performance.now()));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#sending = false;
    await this.#loop;
    this.#loop = undefined;
  }

  /** Tone amplitudes of what was heard during `ms`, per frequency. */
  async listen(ms: number, frequencies: readonly number[]): Promise<Record<number, number>> {
    const from = performance.now();
    await sleep(ms);
    const heard = this.received.filter((entry) => entry.at >= from);
    const pcm = new Int16Array(heard.length * 160);
    heard.forEach((entry, i) => pcm.set(decodeMulaw(entry.packet.payload), i * 160));
    return Object.fromEntries(
      frequencies.map((f) => [f, heard.length ? toneAmplitude(pcm, 8000, f) : 0]),
    );
  }

  async close(): Promise<void> {
    await this.stop();
    await this.leg.close();
  }
}

async function connect(engine: WorkerMediaEngine, group: string, phone: Phone): Promise<string> {
  const { legId } = await engine.createLeg({ kind: 'rtp', group });
  await phone.leg.acceptAnswer(await engine.acceptOffer(legId, await phone.leg.createOffer()));
  return legId;
}

function isMediaCode(code: string): (error: unknown) => boolean {
  return (error) => isMediaError(error) && error.code === code;
}

const HEARD = 2000;
const SILENT = 400;

describe('WorkerMediaEngine: a mixer with legs of other workers', { timeout: 30_000 }, () => {
  it('mixes three phones on three workers: each hears the other two and not itself', async () => {
    const engine = createEngine({ workers: 3 });
    const talking: string[] = [];
    engine.on('mixerTalking', (event) => {
      if (event.talking) {
        talking.push(event.legId);
      }
    });
    const phones = await Promise.all([500, 1100, 1900].map((f) => Phone.open(f)));
    const [a, b, c] = await Promise.all(
      phones.map((phone, index) => connect(engine, groupOn(index, 3), phone)),
    );
    const { mixerId } = await engine.createMixer(groupOn(0, 3, 'conference'));
    for (const legId of [a!, b!, c!]) {
      await engine.addToMixer(mixerId, legId);
    }
    await engine.addToMixer(mixerId, b!); // idempotent
    const stats = await engine.stats();
    expect(stats.legs).toBe(3);
    expect(stats.workers!.map((w) => w.legs)).toEqual([1, 1, 1]);

    phones.forEach((phone) => phone.start());
    await sleep(500);
    const frequencies = phones.map((p) => p.frequency);
    const heard = await Promise.all(phones.map((phone) => phone.listen(1500, frequencies)));
    const summary = JSON.stringify(heard);
    phones.forEach((phone, i) => {
      for (const other of phones) {
        if (other === phone) {
          expect(heard[i]![phone.frequency], summary).toBeLessThan(SILENT);
        } else {
          expect(heard[i]![other.frequency], summary).toBeGreaterThan(HEARD);
        }
      }
    });
    // Talk detection runs in the mixer for remote legs too, under their own ids.
    expect(new Set(talking)).toEqual(new Set([a, b, c]));

    // Continuity: each phone received one SSRC and contiguous sequence numbers.
    for (const phone of phones) {
      const packets = phone.received.map((entry) => entry.packet);
      expect(new Set(packets.map((p) => p.ssrc)).size).toBe(1);
      const gaps = packets.filter(
        (p, i) => i > 0 && ((p.sequenceNumber - packets[i - 1]!.sequenceNumber) & 0xffff) !== 1,
      );
      expect(gaps.length).toBeLessThanOrEqual(2); // UDP reordering on a loaded machine
    }
  });

  it('leaves no tunnel behind when a leg closes while it joins a mixer of another worker', async () => {
    const engine = createEngine({ workers: 2 });
    const { mixerId } = await engine.createMixer(groupOn(0, 2, 'conference'));
    for (let i = 0; i < 6; i++) {
      const { legId } = await engine.createLeg({ kind: 'rtp', group: groupOn(1, 2, `race${i}`) });
      // Both orders: the close follows the tunnel opening, or overtakes it.
      let added: Promise<unknown>;
      let closed: Promise<void>;
      if (i % 2 === 0) {
        added = engine.addToMixer(mixerId, legId);
        closed = engine.closeLeg(legId);
      } else {
        closed = engine.closeLeg(legId);
        added = engine.addToMixer(mixerId, legId);
      }
      const [result] = await Promise.allSettled([added, closed]);
      if (result.status === 'rejected') {
        expect(result.reason, String(result.reason)).toSatisfy(isMediaCode('MEDIA_LEG_NOT_FOUND'));
      }
      await until(() => engine.tunnelCount === 0, 'the tunnel closed', 2000);
    }
    expect((await engine.stats()).mixerParticipants).toBe(0);
  });

  it('cascades remove, mute, hold and close of remote legs; closeMixer leaves the legs open', async () => {
    const engine = createEngine({ workers: 3 });
    const closedMixers: string[] = [];
    engine.on('mixerClosed', (event) => closedMixers.push(event.mixerId));
    const phones = await Promise.all([500, 1100, 1900].map((f) => Phone.open(f)));
    const [a, b, c] = await Promise.all(
      phones.map((phone, index) => connect(engine, groupOn(index, 3, 'cascade'), phone)),
    );
    const [pa, pb, pc] = phones as [Phone, Phone, Phone];
    const { mixerId } = await engine.createMixer(groupOn(0, 3, 'conf'));
    for (const legId of [a!, b!, c!]) {
      await engine.addToMixer(mixerId, legId);
    }
    phones.forEach((phone) => phone.start());
    await sleep(500);
    const f = [500, 1100, 1900];

    // Mute b (worker 1): the others stop hearing it; it still hears them.
    await engine.setMuted(b!, true);
    await sleep(300);
    const [muteA, muteB] = await Promise.all([pa.listen(1000, f), pb.listen(1000, f)]);
    expect(muteA[1100], JSON.stringify(muteA)).toBeLessThan(SILENT);
    expect(muteA[1900], JSON.stringify(muteA)).toBeGreaterThan(HEARD);
    expect(muteB[500], JSON.stringify(muteB)).toBeGreaterThan(HEARD);
    await engine.setMuted(b!, false);

    // Hold c (worker 2): neither in nor out.
    await engine.setHeld(c!, true);
    await sleep(300);
    const before = pc.received.length;
    let ha = await pa.listen(1000, f);
    expect(ha[1900], JSON.stringify(ha)).toBeLessThan(SILENT);
    expect(ha[1100], JSON.stringify(ha)).toBeGreaterThan(HEARD);
    expect(pc.received.length - before).toBeLessThan(5);
    await engine.setHeld(c!, false);

    // Remove b: it leaves the mix and hears nothing more; it stays open.
    await engine.removeFromMixer(mixerId, b!);
    await engine.removeFromMixer(mixerId, b!); // idempotent
    await sleep(300);
    const atB = pb.received.length;
    ha = await pa.listen(1000, f);
    expect(ha[1100], JSON.stringify(ha)).toBeLessThan(SILENT);
    expect(ha[1900], JSON.stringify(ha)).toBeGreaterThan(HEARD);
    expect(pb.received.length - atB).toBeLessThan(5);

    // Close c's leg: it leaves the mixer.
    const closed: LegClosedEvent[] = [];
    engine.on('legClosed', (event) => closed.push(event));
    await engine.closeLeg(c!);
    await until(() => closed.length === 1, 'c closed');
    await sleep(300);
    ha = await pa.listen(800, f);
    expect(ha[1900], JSON.stringify(ha)).toBeLessThan(SILENT);
    let stats = await engine.stats();
    expect(stats.legs).toBe(2);
    expect(stats.mixerParticipants).toBe(1);

    // b rejoins, then the mixer closes: both legs stay open, unbridged, and can be bridged again
    // only with legs of their own worker (b alone now).
    await engine.addToMixer(mixerId, b!);
    await sleep(300);
    const [again] = await Promise.all([pa.listen(1000, f)]);
    expect(again[1100], JSON.stringify(again)).toBeGreaterThan(HEARD);
    await engine.closeMixer(mixerId);
    await until(() => closedMixers.length === 1, 'mixerClosed');
    await engine.closeMixer(mixerId).catch((error: unknown) => {
      expect(isMediaCode('MEDIA_MIXER_NOT_FOUND')(error)).toBe(true);
    });
    await expect(engine.addToMixer(mixerId, a!)).rejects.toSatisfy(
      isMediaCode('MEDIA_MIXER_NOT_FOUND'),
    );
    stats = await engine.stats();
    expect(stats.legs).toBe(2);
    expect(stats.mixers).toBe(0);
    const atA = pa.received.length;
    await sleep(400);
    expect(pa.received.length - atA).toBeLessThan(5);
  });

  it('takes the legs of a crashed worker out of the mixer of another', async () => {
    const engine = createEngine({
      workers: 2,
      workerUrl: new URL('./worker-crash-entry.mjs', import.meta.url),
    });
    const phones = await Promise.all([500, 1100, 1900].map((f) => Phone.open(f)));
    const [pa, pb, pc] = phones as [Phone, Phone, Phone];
    const a = await connect(engine, groupOn(0, 2, 'x'), pa);
    const b = await connect(engine, groupOn(0, 2, 'y'), pb);
    const c = await connect(engine, groupOn(1, 2, 'z'), pc);
    const { mixerId } = await engine.createMixer(groupOn(0, 2, 'conf'));
    for (const legId of [a, b, c]) {
      await engine.addToMixer(mixerId, legId);
    }
    phones.forEach((phone) => phone.start());
    await sleep(500);
    const closed: LegClosedEvent[] = [];
    engine.on('legClosed', (event) => closed.push(event));
    await expect(
      engine.createLeg({ kind: 'rtp', group: groupOn(1, 2, 'crash-me') }),
    ).rejects.toSatisfy(isMediaCode('MEDIA_WORKER_CRASHED'));
    expect(closed).toEqual([{ legId: c, reason: 'worker-crashed' }]);
    await sleep(300);
    const heard = await pa.listen(1000, [500, 1100, 1900]);
    expect(heard[1100], JSON.stringify(heard)).toBeGreaterThan(HEARD);
    expect(heard[1900], JSON.stringify(heard)).toBeLessThan(SILENT);
    const stats = await engine.stats();
    expect(stats.mixerParticipants).toBe(2);
  });

  it('unbridges the legs of other workers and reports mixerClosed when the mixer’s worker dies', async () => {
    const engine = createEngine({
      workers: 2,
      workerUrl: new URL('./worker-crash-entry.mjs', import.meta.url),
    });
    const closedMixers: string[] = [];
    engine.on('mixerClosed', (event) => closedMixers.push(event.mixerId));
    const phones = await Promise.all([500, 1100].map((f) => Phone.open(f)));
    const [pa, pb] = phones as [Phone, Phone];
    const a = await connect(engine, groupOn(1, 2, 'p'), pa);
    const b = await connect(engine, groupOn(1, 2, 'q'), pb);
    const { mixerId } = await engine.createMixer(groupOn(0, 2, 'conf'));
    await engine.addToMixer(mixerId, a);
    await engine.addToMixer(mixerId, b);
    phones.forEach((phone) => phone.start());
    await sleep(500);
    expect((await pa.listen(800, [1100]))[1100]).toBeGreaterThan(HEARD);

    await expect(
      engine.createLeg({ kind: 'rtp', group: groupOn(0, 2, 'crash-me') }),
    ).rejects.toSatisfy(isMediaCode('MEDIA_WORKER_CRASHED'));
    expect(closedMixers).toEqual([mixerId]);
    await expect(engine.addToMixer(mixerId, a)).rejects.toSatisfy(
      isMediaCode('MEDIA_MIXER_NOT_FOUND'),
    );
    // Both legs are open and unbridged on their worker: a relay bridge takes them.
    const stats = await engine.stats();
    expect(stats.legs).toBe(2);
    await engine.bridge(a, b);
    await sleep(300);
    const heard = await pa.listen(800, [500, 1100]);
    expect(heard[1100], JSON.stringify(heard)).toBeGreaterThan(HEARD);
    expect(heard[500], JSON.stringify(heard)).toBeLessThan(SILENT);
  });
});
