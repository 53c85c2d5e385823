/**
 * Ad-hoc conferences and blind transfer on two media workers, as production runs them (one per
 * core). A call's legs live on the worker its media group hashes to (the group is the first
 * channel's id), so the test places each call, reads the per-worker media counters to see which
 * worker took it, and places it again until it lands where the scenario needs it. A conference's
 * mixer lives on the worker of the host's first call; a participant whose call lives on the
 * other worker reaches it through a worker-to-worker tunnel. Audio is checked with distinct tones
 * and Goertzel (Node SDK clients, @roamhq/wrtc); at the end nothing is left on either worker.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PhoneEvent } from '@confab/sdk';
import type { MediaWorkerStats } from '@confab/server';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';
import { createToneSink, waitFor } from '../support/node-phone.js';
import {
  ADHOC,
  AdhocWorld,
  hearsExactly,
  telephonyOf,
  type HostCall,
  type Person,
} from '../support/adhoc.js';

const HZ = { alice: 500, bob: 900, carol: 1300 } as const;

describe('ad-hoc conferences and transfer on two media workers', () => {
  let confab: TestConfab;
  let world: AdhocWorld;

  beforeAll(async () => {
    confab = await startTestConfab({ mediaWorkers: 2 });
  });

  afterEach(async () => {
    await world.close();
    await waitFor('no channel nor bridge left', () => {
      const stats = confab.stats();
      return stats.channels === 0 && stats.bridges === 0;
    });
    await waitFor('no media leg, bridge nor mixer left on either worker', async () =>
      (await workers()).every(
        (w) => w.legs === 0 && w.bridges === 0 && w.mixers === 0 && w.mixerParticipants === 0,
      ),
    );
    expect(telephonyOf(confab).conferences.conferences.size).toBe(0);
  });

  afterAll(async () => {
    await confab?.close();
  });

  async function workers(): Promise<MediaWorkerStats[]> {
    const stats = await telephonyOf(confab).mediaStats();
    expect(stats?.workers).toHaveLength(2);
    return stats!.workers!;
  }

  async function legsPerWorker(): Promise<number[]> {
    return (await workers()).map((w) => w.legs);
  }

  async function people(...names: (keyof typeof HZ)[]): Promise<Person[]> {
    world = new AdhocWorld(confab);
    return world.peopleWithTones(HZ, names);
  }

  /**
   * `host` calls `peer` (answered, audio flowing) until the call's two legs land on `worker`;
   * the calls that landed elsewhere are hung up. Resolves with the call and its worker.
   */
  async function callOn(
    host: Person,
    peer: Person,
    worker?: number,
  ): Promise<{ call: HostCall; worker: number }> {
    for (let attempt = 0; attempt < 12; attempt++) {
      const before = await legsPerWorker();
      const call = await world.call(host, peer);
      const after = await legsPerWorker();
      const grown = after.map((legs, i) => legs - before[i]!);
      const landed = grown.indexOf(2);
      expect(
        grown.filter((n) => n !== 0),
        `legs per worker ${before.join()} → ${after.join()}`,
      ).toEqual([2]);
      if (worker === undefined || landed === worker) {
        return { call, worker: landed };
      }
      const ended = peer.client.next(PhoneEvent.ON_CALL_ENDED);
      await host.client.confab.Phone.hangup(call.outgoing);
      await ended;
      await waitFor('the misplaced call released', async () =>
        (await legsPerWorker()).every((legs, i) => legs === before[i]),
      );
    }
    throw new Error(`no call landed on worker ${worker} in 12 attempts`);
  }

  it('a conference spanning both workers: everyone hears the two others and not themselves, through remove, add back and delete; nothing leaks on either worker', async () => {
    const [alice, bob, carol] = await people('alice', 'bob', 'carol');
    const { call: toBob, worker: mixerWorker } = await callOn(alice!, bob!);
    const otherWorker = 1 - mixerWorker;
    const { call: toCarol } = await callOn(alice!, carol!, otherWorker);
    const [H1, P1, P2] = [toBob.outgoing.callId, toBob.incoming.callId, toCarol.incoming.callId];

    const id = await world.merge(alice!, toBob, [toCarol]);
    // The mixer sits with the host's call; carol's leg stays on its worker (tunnelled), and the
    // host's leg toward carol is gone.
    await waitFor('mixer and legs placed', async () => {
      const [onMixer, onOther] = [(await workers())[mixerWorker]!, (await workers())[otherWorker]!];
      return (
        onMixer.mixers === 1 &&
        onMixer.mixerParticipants === 3 &&
        onMixer.legs === 2 &&
        onMixer.bridges === 0 &&
        onOther.mixers === 0 &&
        onOther.legs === 1 &&
        onOther.bridges === 0
      );
    });
    await alice!.client.confab.Phone.resume(toBob.outgoing);
    const [atAlice, atBob, atCarol] = await world.listen(
      [toBob.atHost, toBob.atPeer, toCarol.atPeer],
      [
        [HZ.bob, HZ.carol],
        [HZ.alice, HZ.carol],
        [HZ.alice, HZ.bob],
      ],
    );
    expect(hearsExactly(atAlice!, [HZ.bob, HZ.carol], [HZ.alice]), JSON.stringify(atAlice)).toBe(
      true,
    );
    expect(hearsExactly(atBob!, [HZ.alice, HZ.carol], [HZ.bob]), JSON.stringify(atBob)).toBe(true);
    expect(hearsExactly(atCarol!, [HZ.alice, HZ.bob], [HZ.carol]), JSON.stringify(atCarol)).toBe(
      true,
    );

    // Remove carol, the tunnelled participant: her worker empties, alice and bob go on.
    const carolEnded = carol!.client.next(PhoneEvent.ON_CALL_ENDED);
    const removed = await world.request(
      'DELETE',
      `${ADHOC}/${id}/participants/${P2}`,
      alice!.token,
    );
    expect(removed.status).toBe(204);
    await carolEnded;
    await waitFor('carol’s worker empty', async () => {
      const w = (await workers())[otherWorker]!;
      return w.legs === 0 && w.mixers === 0 && w.mixerParticipants === 0;
    });
    expect((await workers())[mixerWorker]).toMatchObject({ legs: 2, mixerParticipants: 2 });
    expect(await world.myCall(alice!, H1)).toMatchObject({ talking_to: { [P1]: bob!.user.uuid } });
    const [aliceAlone, bobAlone] = await world.listen(
      [toBob.atHost, toBob.atPeer],
      [[HZ.bob], [HZ.alice]],
    );
    expect(
      hearsExactly(aliceAlone!, [HZ.bob], [HZ.alice, HZ.carol]),
      JSON.stringify(aliceAlone),
    ).toBe(true);
    expect(hearsExactly(bobAlone!, [HZ.alice], [HZ.bob, HZ.carol]), JSON.stringify(bobAlone)).toBe(
      true,
    );

    // Add carol back from a new call that again lands on the other worker.
    const { call: carolAgain } = await callOn(alice!, carol!, otherWorker);
    const P3 = carolAgain.incoming.callId;
    const added = await world.request('PUT', `${ADHOC}/${id}/participants/${P3}`, alice!.token);
    expect(added.status, JSON.stringify(added.body)).toBe(204);
    await waitFor('carol tunnelled in again', async () => {
      const [onMixer, onOther] = [(await workers())[mixerWorker]!, (await workers())[otherWorker]!];
      return onMixer.mixerParticipants === 3 && onOther.legs === 1 && onOther.bridges === 0;
    });
    expect(await world.myCall(alice!, H1)).toMatchObject({
      talking_to: { [P1]: bob!.user.uuid, [P3]: carol!.user.uuid },
    });
    await alice!.client.confab.Phone.resume(toBob.outgoing);
    const [atAlice2, atBob2, atCarol2] = await world.listen(
      [toBob.atHost, toBob.atPeer, carolAgain.atPeer],
      [
        [HZ.bob, HZ.carol],
        [HZ.alice, HZ.carol],
        [HZ.alice, HZ.bob],
      ],
    );
    expect(hearsExactly(atAlice2!, [HZ.bob, HZ.carol], [HZ.alice]), JSON.stringify(atAlice2)).toBe(
      true,
    );
    expect(hearsExactly(atBob2!, [HZ.alice, HZ.carol], [HZ.bob]), JSON.stringify(atBob2)).toBe(
      true,
    );
    expect(hearsExactly(atCarol2!, [HZ.alice, HZ.bob], [HZ.carol]), JSON.stringify(atCarol2)).toBe(
      true,
    );

    // Delete: everyone is hung up, and both workers empty (checked in afterEach too).
    const ended = [alice!, bob!, carol!].map((p) => p.client.next(PhoneEvent.ON_CALL_ENDED));
    expect((await world.request('DELETE', `${ADHOC}/${id}`, alice!.token)).status).toBe(204);
    await Promise.all(ended);
    await waitFor('deleted', () =>
      alice!.socket.conferenceEvents(id).includes('conference_adhoc_deleted'),
    );
    await waitFor('both workers empty', async () =>
      (await workers()).every((w) => w.legs === 0 && w.mixers === 0 && w.mixerParticipants === 0),
    );
  });

  for (const worker of [0, 1]) {
    it(`blind transfer of a call on worker ${worker}: the transfer target's leg joins the transferee's worker, bob and carol hear each other, alice's call ends`, async () => {
      const [alice, bob, carol] = await people('alice', 'bob', 'carol');
      const { call } = await callOn(alice!, bob!, worker);
      const other = 1 - worker;

      const carolRings = carol!.client.next(PhoneEvent.ON_CALL_INCOMING);
      const aliceEnded = alice!.client.next(PhoneEvent.ON_CALL_ENDED);
      await alice!.client.confab.Phone.transfer(call.outgoing, carol!.user.extension);
      const [atCarolSession] = await carolRings;
      expect(atCarolSession.number).toBe(bob!.user.extension);
      expect((await aliceEnded)[0]).toBe(call.outgoing);
      expect(alice!.client.wire.responses('REFER', 202)).toHaveLength(1);

      const carolStream = carol!.client.next(PhoneEvent.ON_AUDIO_STREAM);
      await carol!.client.confab.Phone.accept(atCarolSession);
      const atCarol = createToneSink((await carolStream)[0].getAudioTracks()[0]!);
      world.sinks.push(atCarol);
      await waitFor('audio at carol', () => atCarol.frames > 50);
      // bob's leg and carol's new leg are bridged on bob's worker; alice's leg is gone.
      await waitFor('bob and carol bridged on one worker', async () => {
        const stats = await workers();
        return (
          stats[worker]!.legs === 2 && stats[worker]!.bridges === 1 && stats[other]!.legs === 0
        );
      });
      const [atBob, carolHears] = await world.listen(
        [call.atPeer, atCarol],
        [[HZ.carol], [HZ.bob]],
      );
      expect(hearsExactly(atBob!, [HZ.carol], [HZ.alice, HZ.bob]), JSON.stringify(atBob)).toBe(
        true,
      );
      expect(
        hearsExactly(carolHears!, [HZ.bob], [HZ.alice, HZ.carol]),
        JSON.stringify(carolHears),
      ).toBe(true);

      const carolEnded = carol!.client.next(PhoneEvent.ON_CALL_ENDED);
      await bob!.client.confab.Phone.hangup(call.incoming);
      await carolEnded;
    });
  }
});
