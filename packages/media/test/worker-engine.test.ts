// The worker engine runs the BUILT package (worker threads cannot load TypeScript sources):
// run `npx tsc -b packages/media` before these tests.
import { afterEach, describe, expect, it } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import { isMediaError, WorkerMediaEngine } from '@confab/media';
import type { LegClosedEvent, LegStateEvent, WorkerMediaEngineOptions } from '@confab/media';
import { toneAmplitude, ToneGenerator } from '../src/audio/goertzel.js';
import { decodeMulaw, encodeMulaw } from '../src/codec/g711.js';
import { PortAllocator } from '../src/legs/port-allocator.js';
import { RtpLeg } from '../src/legs/rtp-leg.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { until } from './legs-fixtures.js';

const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

// Private port ranges below the Linux ephemeral range (32768+), so that the OS never hands
// these ports to unrelated sockets while a test runs.
let nextRange = 24_000;
function range(pairs: number): [number, number] {
  const result: [number, number] = [nextRange, nextRange + pairs * 2 - 1];
  nextRange += pairs * 2;
  return result;
}

function createEngine(options: WorkerMediaEngineOptions = {}): WorkerMediaEngine {
  const engine = new WorkerMediaEngine({ workers: 2, portRange: range(16), ...options });
  cleanup.push(() => engine.close());
  return engine;
}

async function openPhone(): Promise<RtpLeg> {
  const phone = await RtpLeg.open({ portAllocator: new PortAllocator(range(1)) });
  cleanup.push(() => phone.close());
  return phone;
}

function isMediaCode(code: string): (error: unknown) => boolean {
  return (error) => isMediaError(error) && error.code === code;
}

/** Legs of two groups that the engine placed on different workers. */
async function legsOnTwoWorkers(engine: WorkerMediaEngine): Promise<[string, string]> {
  const { legId: first } = await engine.createLeg({ kind: 'rtp', group: 'group-0' });
  const firstWorker = (await engine.stats()).workers!.findIndex((w) => w.legs === 1);
  for (let i = 1; i < 64; i++) {
    const { legId } = await engine.createLeg({ kind: 'rtp', group: `group-${i}` });
    const workers = (await engine.stats()).workers!;
    if (workers.every((w) => w.legs > 0) && workers[firstWorker]!.legs === 1) {
      return [first, legId];
    }
    await engine.closeLeg(legId);
  }
  throw new Error('all groups hashed to one worker');
}

describe('WorkerMediaEngine', { timeout: 20_000 }, () => {
  it('relays a tone between two phones whose legs share a group', async () => {
    const engine = createEngine();
    const alice = await openPhone();
    const bob = await openPhone();
    const { legId: a } = await engine.createLeg({ kind: 'rtp', group: 'call-1' });
    const { legId: b } = await engine.createLeg({ kind: 'rtp', group: 'call-1' });
    await alice.acceptAnswer(await engine.acceptOffer(a, await alice.createOffer()));
    await engine.acceptAnswer(b, await bob.acceptOffer(await engine.createOffer(b)));
    await engine.bridge(a, b);

    const atBob: RtpPacket[] = [];
    bob.on('rtp', (packet) => atBob.push(packet));
    const tone = new ToneGenerator({ frequency: 700, sampleRate: 8000, amplitude: 8000 });
    for (let i = 0; i < 20; i++) {
      alice.sendRtp(alice.output.writeGenerated(encodeMulaw(tone.next(160)), 0, 160));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await until(() => atBob.length >= 20, 'the tone at bob');
    const pcm = new Int16Array(atBob.length * 160);
    atBob.forEach((p, i) => pcm.set(decodeMulaw(p.payload), i * 160));
    expect(toneAmplitude(pcm, 8000, 700)).toBeGreaterThan(4000);

    const stats = await engine.stats();
    expect(stats.legs).toBe(2);
    expect(stats.workers).toHaveLength(2);
    expect(stats.workers!.filter((w) => w.legs === 2)).toHaveLength(1);
  });

  it('refuses to bridge legs that live on different workers with MEDIA_CROSS_WORKER', async () => {
    const engine = createEngine();
    const [a, b] = await legsOnTwoWorkers(engine);
    await expect(engine.bridge(a, b)).rejects.toSatisfy(isMediaCode('MEDIA_CROSS_WORKER'));
  });

  it('rebuilds worker errors with their class and code', async () => {
    const engine = createEngine();
    const { legId } = await engine.createLeg({ kind: 'webrtc', group: 'g' });
    await expect(engine.acceptOffer(legId, 'v=0\r\nbogus')).rejects.toSatisfy(
      isMediaCode('MEDIA_SDP_INVALID'),
    );
    await expect(engine.acceptAnswer(legId, 'v=0\r\n')).rejects.toSatisfy(isInvalidStateError);
    await expect(engine.createLeg({ kind: 'fax' as 'rtp', group: 'g' })).rejects.toBeInstanceOf(
      TypeError,
    );
    await expect(engine.createOffer('no-such-leg')).rejects.toSatisfy(
      isMediaCode('MEDIA_LEG_NOT_FOUND'),
    );
  });

  it('forwards leg events and forgets closed legs', async () => {
    const engine = createEngine();
    const states: LegStateEvent[] = [];
    const closed: LegClosedEvent[] = [];
    engine.on('legState', (event) => states.push(event));
    engine.on('legClosed', (event) => closed.push(event));
    const phone = await openPhone();
    const { legId } = await engine.createLeg({ kind: 'rtp', group: 'g' });
    await engine.acceptOffer(legId, await phone.createOffer());
    await until(() => states.length === 1, 'the state event');
    expect(states).toEqual([{ legId, state: 'connected' }]);
    await engine.closeLeg(legId);
    await until(() => closed.length === 1, 'the close event');
    expect(closed).toEqual([{ legId, reason: 'closed' }]);
    await expect(engine.closeLeg(legId)).rejects.toSatisfy(isMediaCode('MEDIA_LEG_NOT_FOUND'));
  });

  it('reports the legs of a crashed worker closed and replaces the worker', async () => {
    const engine = createEngine({
      workers: 1,
      workerUrl: new URL('./worker-crash-entry.mjs', import.meta.url),
    });
    const closed: LegClosedEvent[] = [];
    engine.on('legClosed', (event) => closed.push(event));
    const { legId } = await engine.createLeg({ kind: 'rtp', group: 'victim' });

    await expect(engine.createLeg({ kind: 'rtp', group: 'crash-me' })).rejects.toSatisfy(
      isMediaCode('MEDIA_WORKER_CRASHED'),
    );
    expect(closed).toEqual([{ legId, reason: 'worker-crashed' }]);
    await expect(engine.createOffer(legId)).rejects.toSatisfy(isMediaCode('MEDIA_LEG_NOT_FOUND'));

    // The replacement worker binds the same port range again.
    await expect(engine.createLeg({ kind: 'rtp', group: 'after' })).resolves.toHaveProperty(
      'legId',
    );
    const stats = await engine.stats();
    expect(stats.workers![0]!.restarts).toBe(1);
    expect(stats.legs).toBe(1);
  });

  it('closes the legs of every worker on close() and rejects later commands', async () => {
    const engine = createEngine();
    const closed: LegClosedEvent[] = [];
    engine.on('legClosed', (event) => closed.push(event));
    await legsOnTwoWorkers(engine);
    closed.length = 0;
    await Promise.all([engine.close(), engine.close()]);
    expect(closed.map((event) => event.reason)).toEqual(['engine-closed', 'engine-closed']);
    await expect(engine.createLeg({ kind: 'rtp', group: 'g' })).rejects.toSatisfy(
      isInvalidStateError,
    );
    expect((await engine.stats()).legs).toBe(0);
  });
});
