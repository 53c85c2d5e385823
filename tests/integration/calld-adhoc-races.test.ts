/**
 * Ad-hoc conference races on a real server (issue 4, tests): API requests racing each other and
 * phones hanging up while the API moves their legs. Every answer must be a success or one of the
 * spec's errors, never a 500; afterwards no channel, bridge, media leg or mixer may be left, and
 * no conference may hold a channel that is not in its bridge.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';
import { sleep, waitFor } from '../support/node-phone.js';
import {
  ADHOC,
  AdhocWorld,
  expectNothingLeft,
  telephonyOf,
  type Person,
  type Reply,
} from '../support/adhoc.js';

const HZ = { alice: 500, bob: 800, carol: 1100, dave: 1400 } as const;

/** The error ids the spec allows for the ad-hoc routes. */
const SPEC_ERRORS = new Set([
  'host-call-not-found',
  'host-call-creation-error',
  'host-already-in-conference',
  'participant-call-not-found',
  'participant-already-in-conference',
  'adhoc-conference-not-found',
]);

function expectSpecAnswer(reply: Reply, success: number): void {
  if (reply.status === success) {
    return;
  }
  expect([400, 404, 409], JSON.stringify(reply)).toContain(reply.status);
  expect(
    SPEC_ERRORS.has((reply.body as { error_id: string }).error_id),
    JSON.stringify(reply),
  ).toBe(true);
}

describe('ad-hoc conference races', () => {
  let confab: TestConfab;
  let world: AdhocWorld;

  beforeAll(async () => {
    confab = await startTestConfab();
  });

  afterEach(async () => {
    await world.close();
    await expectNothingLeft(confab);
  });

  afterAll(async () => {
    await confab?.close();
  });

  async function people(...names: (keyof typeof HZ)[]): Promise<Person[]> {
    world = new AdhocWorld(confab);
    return world.peopleWithTones(HZ, names);
  }

  /** Every live conference's members are live channels that list it in their bridges. */
  function expectConsistent(): void {
    const channels = telephonyOf(confab).callControl.channels;
    for (const conference of telephonyOf(confab).conferences.conferences.values()) {
      for (const member of conference.members) {
        expect(member.ended).toBe(false);
        expect(channels.get(member.id)).toBe(member);
        expect([...member.bridges]).toEqual([conference.id]);
      }
    }
    for (const channel of channels.values()) {
      if (!channel.ended && channel.state === 'Up') {
        expect(channel.bridges.size, `${channel.id} is up but in no bridge`).toBe(1);
      }
    }
  }

  it('add, remove, mute and delete fired together: spec answers only, consistent bridges, nothing leaks', async () => {
    const [alice, bob, carol, dave] = await people('alice', 'bob', 'carol', 'dave');
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const id = await world.merge(alice!, toBob, [toCarol]);
    const toDave = await world.call(alice!, dave!);
    const P = `${ADHOC}/${id}/participants`;
    const [P1, P2, P3] = [toBob.incoming.callId, toCarol.incoming.callId, toDave.incoming.callId];

    const replies = await Promise.all([
      world.request('PUT', `${P}/${P3}`, alice!.token),
      world.request('DELETE', `${P}/${P2}`, alice!.token),
      world.request('PUT', `${P}/${P1}/mute`, alice!.token),
      world.request('PUT', `${P}/${P3}`, alice!.token),
      world.request('DELETE', `${P}/${P2}`, alice!.token),
      world.request('DELETE', `${ADHOC}/${id}`, alice!.token),
      world.request('PUT', `${P}/${P3}`, alice!.token),
      world.request('DELETE', `${ADHOC}/${id}`, alice!.token),
    ]);
    expectConsistent();
    expect(replies[0].status).toBe(204);
    expect(replies[1].status).toBe(204);
    expect(replies[5].status).toBe(204);
    for (const reply of replies) {
      expectSpecAnswer(reply, 204);
    }
    await waitFor('deleted', () =>
      alice!.socket.conferenceEvents(id).includes('conference_adhoc_deleted'),
    );
    expectConsistent();
  });

  it('phones hang up while the create moves their legs: spec answers, and every leg ends in the conference or hung up', async () => {
    for (let round = 0; round < 3; round++) {
      const [alice, bob, carol] = await people('alice', 'bob', 'carol');
      const toBob = await world.call(alice!, bob!);
      const toCarol = await world.call(alice!, carol!);
      const hangups = [
        // round 0: a participant; round 1: the host; round 2: the other participant's side
        round === 0
          ? carol!.client.confab.Phone.hangup(toCarol.incoming)
          : round === 1
            ? alice!.client.confab.Phone.hangup(toBob.outgoing)
            : bob!.client.confab.Phone.hangup(toBob.incoming),
      ];
      const reply = await world.create(alice!, toBob.outgoing.callId, [
        toBob.incoming.callId,
        toCarol.incoming.callId,
      ]);
      await Promise.all(hangups.map((h) => h.catch(() => undefined)));
      expectSpecAnswer(reply, 201);
      await sleep(300);
      expectConsistent();
      // Whatever happened, ending the host's calls leaves nothing behind (checked in afterEach).
      await world.close();
      await waitFor(
        'round clean',
        () => confab.stats().channels === 0 && confab.stats().bridges === 0,
      );
    }
    // Three rounds of three phones each: a longer budget than one scenario (not a timing goal).
  }, 120_000);

  it('a participant hangs up while being added, the host hangs up while a participant is removed', async () => {
    const [alice, bob, carol, dave] = await people('alice', 'bob', 'carol', 'dave');
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const id = await world.merge(alice!, toBob, [toCarol]);
    const toDave = await world.call(alice!, dave!);

    const [added] = await Promise.all([
      world.request('PUT', `${ADHOC}/${id}/participants/${toDave.incoming.callId}`, alice!.token),
      dave!.client.confab.Phone.hangup(toDave.incoming).catch(() => undefined),
    ]);
    expectSpecAnswer(added, 204);
    await sleep(200);
    expectConsistent();

    const [removed] = await Promise.all([
      world.request(
        'DELETE',
        `${ADHOC}/${id}/participants/${toCarol.incoming.callId}`,
        alice!.token,
      ),
      alice!.client.confab.Phone.hangup(toBob.outgoing).catch(() => undefined),
    ]);
    expectSpecAnswer(removed, 204);
    await waitFor('deleted', () =>
      alice!.socket.conferenceEvents(id).includes('conference_adhoc_deleted'),
    );
    expectConsistent();
  });

  it("one user's create held up in the media engine does not hold up another user's; a request on the held conference's calls waits for it", async () => {
    const [alice, bob, carol, dave] = await people('alice', 'bob', 'carol', 'dave');
    const aliceToBob = await world.call(alice!, bob!);
    const carolToDave = await world.call(carol!, dave!);
    // Fault injection: the first mixer (alice's) is created only when the test says so.
    const media = telephonyOf(confab).callControl.media;
    const createMixer = media.createMixer.bind(media);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = 0;
    media.createMixer = async (group) => {
      if (held === 0) {
        held += 1;
        await released;
      }
      return createMixer(group);
    };
    try {
      const aliceCreate = world.create(alice!, aliceToBob.outgoing.callId, [
        aliceToBob.incoming.callId,
      ]);
      await waitFor('alice’s create is in the media engine', () => held === 1);
      // Bob's own request on the call alice is merging queues behind her create.
      let bobAnswered = false;
      const bobCreate = world
        .create(bob!, aliceToBob.incoming.callId, [aliceToBob.outgoing.callId])
        .then((reply) => {
          bobAnswered = true;
          return reply;
        });
      const carolCreate = await world.create(carol!, carolToDave.outgoing.callId, [
        carolToDave.incoming.callId,
      ]);
      expect(carolCreate.status, JSON.stringify(carolCreate.body)).toBe(201);
      expect(bobAnswered).toBe(false);
      release();
      const aliceReply = await aliceCreate;
      expect(aliceReply.status, JSON.stringify(aliceReply.body)).toBe(201);
      // By its turn bob's call is in alice's conference (spec §5.2: "host already in conference").
      const bobReply = await bobCreate;
      expect(bobReply.status, JSON.stringify(bobReply.body)).toBe(409);
      expect(bobReply.body).toMatchObject({ error_id: 'host-already-in-conference' });
    } finally {
      release();
      media.createMixer = createMixer;
    }
    expect(telephonyOf(confab).conferences.conferences.size).toBe(2);
    expectConsistent();
  });
});
