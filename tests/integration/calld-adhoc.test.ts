/**
 * wazo-calld ad-hoc conferences (spec §5, §6, §9 "Ad-hoc …") on a real Confab server with real
 * phones: Node SDK clients (ws + @roamhq/wrtc), each sending its own tone, so that the merge is
 * verified on the audio itself. Events are read where apps read them: each user's own event
 * websocket (`/api/websocketd/`, v2, subscribed to `*`).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PhoneEvent } from '@confab/sdk';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';
import { waitFor } from '../support/node-phone.js';
import {
  ADHOC,
  AdhocWorld,
  expectNothingLeft,
  hearsExactly,
  telephonyOf,
  type Person,
} from '../support/adhoc.js';

const HZ = { alice: 500, bob: 800, carol: 1100, dave: 1400, erin: 1700, frank: 2000 } as const;

describe('calld ad-hoc conferences on a real server', () => {
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

  /** Membership events only (talk events come and go with the tones). */
  function membership(events: string[]): string[] {
    return events.filter((event) => !event.includes('_talk_'));
  }

  function joinedAcl(person: Person): string {
    return `events.conferences.users.${person.user.uuid}.adhoc.participants.joined`;
  }

  it('merges the host call and another call: 201, the host leg toward the participant is hung up, talking_to/connected line, joined events to the right users, and everyone hears the two others', async () => {
    const [alice, bob, carol] = await people('alice', 'bob', 'carol');
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const aliceLegToCarolEnded = alice!.client.next(PhoneEvent.ON_CALL_ENDED);
    const H1 = toBob.outgoing.callId;
    const P1 = toBob.incoming.callId;
    const P2 = toCarol.incoming.callId;

    const id = await world.merge(alice!, toBob, [toCarol]);
    const [ended] = await aliceLegToCarolEnded;
    expect(ended.callId).toBe(toCarol.outgoing.callId);

    const aliceCalls = await world.myCalls(alice!);
    expect(aliceCalls.map((c) => c.call_id)).toEqual([H1]);
    expect(aliceCalls[0]).toMatchObject({
      talking_to: { [P1]: bob!.user.uuid, [P2]: carol!.user.uuid },
      bridges: [id],
      peer_caller_id_name: 'Conference',
      peer_caller_id_number: alice!.user.extension,
    });
    expect(await world.myCall(bob!, P1)).toMatchObject({
      talking_to: { [H1]: alice!.user.uuid, [P2]: carol!.user.uuid },
      bridges: [id],
    });
    expect(await world.myCall(carol!, P2)).toMatchObject({
      talking_to: { [H1]: alice!.user.uuid, [P1]: bob!.user.uuid },
    });

    // Spec §6.5: the host hears of its own channel twice (entering, and "already in"), then of
    // each participant; each participant's owner hears of entries from its own on.
    // Each person's own websocket: wait for all of them, not only alice's.
    await waitFor(
      'joined events',
      () =>
        alice!.socket.conferenceEvents(id).length >= 5 &&
        bob!.socket.conferenceEvents(id).length >= 2 &&
        carol!.socket.conferenceEvents(id).length >= 1,
    );
    expect(membership(alice!.socket.conferenceEvents(id))).toEqual([
      'conference_adhoc_created',
      `conference_adhoc_participant_joined ${H1}`,
      `conference_adhoc_participant_joined ${H1}`,
      `conference_adhoc_participant_joined ${P1}`,
      `conference_adhoc_participant_joined ${P2}`,
    ]);
    expect(membership(bob!.socket.conferenceEvents(id))).toEqual([
      `conference_adhoc_participant_joined ${P1}`,
      `conference_adhoc_participant_joined ${P2}`,
    ]);
    expect(membership(carol!.socket.conferenceEvents(id))).toEqual([
      `conference_adhoc_participant_joined ${P2}`,
    ]);
    const created = alice!.socket.events.find((m) => m.name === 'conference_adhoc_created')!;
    expect(created).toMatchObject({
      tenant_uuid: expect.any(String) as string,
      [`user_uuid:${alice!.user.uuid}`]: true,
      required_acl: `events.conferences.users.${alice!.user.uuid}.adhoc.created`,
      required_access: 'event.conference_adhoc_created',
      data: { conference_id: id },
    });
    for (const person of [alice!, bob!, carol!]) {
      for (const message of person.socket.events.filter(
        (m) => m.name === 'conference_adhoc_participant_joined',
      )) {
        expect(message.required_acl).toBe(joinedAcl(person));
        expect(message[`user_uuid:${person.user.uuid}`]).toBe(true);
      }
    }

    // The host's SDK auto-held its first call when it called carol: resume it, then listen.
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
    // Nobody renegotiated: the participants' SDKs saw no re-INVITE from the server.
    expect(bob!.client.wire.received('INVITE')).toHaveLength(1);
    expect(carol!.client.wire.received('INVITE')).toHaveLength(1);

    // Spec §5.2 step 2: the host call now has more than one peer.
    const again = await world.create(alice!, H1, []);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({
      error_id: 'host-already-in-conference',
      details: { host_call_id: H1 },
    });
  });

  it('GET shows the participants with their names, talking and muted state; mute/unmute a participant server-side (events, call_updated, audio)', async () => {
    const [alice, bob, carol] = await people('alice', 'bob', 'carol');
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const id = await world.merge(alice!, toBob, [toCarol]);
    await alice!.client.confab.Phone.resume(toBob.outgoing);
    const [H1, P1, P2] = [toBob.outgoing.callId, toBob.incoming.callId, toCarol.incoming.callId];

    // Everyone sends a tone all the time: the mixer reports all three talking.
    await waitFor(
      'talk_started for everyone',
      () =>
        [H1, P1, P2].every((callId) =>
          alice!.socket
            .conferenceEvents(id)
            .includes(`conference_adhoc_participant_talk_started ${callId}`),
        ),
      10_000,
    );
    const view = await world.request('GET', `${ADHOC}/${id}`, alice!.token);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({
      conference_id: id,
      host_call_id: H1,
      host_user_uuid: alice!.user.uuid,
      participants: [
        {
          call_id: H1,
          user_uuid: alice!.user.uuid,
          caller_id_name: `${alice!.user.firstname} Adhoc`,
          caller_id_number: alice!.user.extension,
          admin: true,
          talking: true,
          muted: false,
        },
        {
          call_id: P1,
          user_uuid: bob!.user.uuid,
          caller_id_name: `${bob!.user.firstname} Adhoc`,
          caller_id_number: bob!.user.extension,
          admin: false,
          talking: true,
          muted: false,
        },
        { call_id: P2, user_uuid: carol!.user.uuid, admin: false, talking: true, muted: false },
      ],
    });
    // Someone else's conference does not exist for them.
    const foreign = await world.request('GET', `${ADHOC}/${id}`, bob!.token);
    expect(foreign.status).toBe(404);
    expect(foreign.body).toMatchObject({
      error_id: 'adhoc-conference-not-found',
      details: { adhoc_conference_id: id },
    });

    expect(
      (await world.request('PUT', `${ADHOC}/${id}/participants/${P1}/mute`, alice!.token)).status,
    ).toBe(204);
    for (const person of [alice!, bob!, carol!]) {
      await waitFor(`${person.name} hears that bob is muted`, () =>
        person.socket.conferenceEvents(id).includes(`conference_adhoc_participant_muted ${P1}`),
      );
    }
    expect(await world.myCall(bob!, P1)).toMatchObject({ muted: true });
    const muted = await world.request('GET', `${ADHOC}/${id}`, alice!.token);
    expect(
      (muted.body as { participants: { muted: boolean; talking: boolean }[] }).participants[1],
    ).toMatchObject({
      muted: true,
      talking: false,
    });
    const [atAlice, atCarol] = await world.listen(
      [toBob.atHost, toCarol.atPeer],
      [[HZ.carol], [HZ.alice]],
    );
    expect(hearsExactly(atAlice!, [HZ.carol], [HZ.alice, HZ.bob]), JSON.stringify(atAlice)).toBe(
      true,
    );
    expect(hearsExactly(atCarol!, [HZ.alice], [HZ.carol, HZ.bob]), JSON.stringify(atCarol)).toBe(
      true,
    );

    expect(
      (await world.request('PUT', `${ADHOC}/${id}/participants/${P1}/unmute`, alice!.token)).status,
    ).toBe(204);
    await waitFor('unmuted event', () =>
      carol!.socket.conferenceEvents(id).includes(`conference_adhoc_participant_unmuted ${P1}`),
    );
    const [afterCarol] = await world.listen([toCarol.atPeer], [[HZ.alice, HZ.bob]]);
    expect(
      hearsExactly(afterCarol!, [HZ.alice, HZ.bob], [HZ.carol]),
      JSON.stringify(afterCarol),
    ).toBe(true);

    // Mute errors follow the remove order (spec §5.4).
    const unknownCall = await world.request(
      'PUT',
      `${ADHOC}/${id}/participants/1.4242/mute`,
      alice!.token,
    );
    expect(unknownCall.body).toMatchObject({ error_id: 'participant-call-not-found' });
    const notMine = await world.request(
      'PUT',
      `${ADHOC}/${id}/participants/${P1}/mute`,
      bob!.token,
    );
    expect(notMine.status).toBe(404);
  });

  it('answers the collection’s other methods 405 with Allow: POST, as wazo-calld does (the real SDK’s isAhHocConferenceAPIEnabled sends HEAD)', async () => {
    const [alice] = await people('alice');
    for (const method of ['HEAD', 'GET', 'PUT', 'PATCH', 'DELETE']) {
      for (const token of [alice!.token, '']) {
        const response = await fetch(`${confab.origin}${ADHOC}`, {
          method,
          headers: token === '' ? {} : { 'x-auth-token': token },
        });
        expect(response.status, `${method} ${token === '' ? 'without' : 'with'} token`).toBe(405);
        expect(response.headers.get('allow')).toBe('POST');
        if (method !== 'HEAD') {
          expect(await response.json()).toMatchObject({ error_id: 'method-not-allowed' });
        }
      }
    }
    // POST still routes to the create handler.
    expect((await world.create(alice!, '1.4242', [])).body).toMatchObject({
      error_id: 'host-call-not-found',
    });
  });

  /**
   * Fault injection: the media engine refuses to move the leg of `callId` into a mixer (what a
   * worker answers for a leg it cannot take). Returns the function that ends the injection.
   */
  function refuseMixing(callId: string): () => void {
    const media = telephonyOf(confab).callControl.media;
    const legId = telephonyOf(confab).callControl.channels.get(callId)?.legId;
    expect(legId).toBeDefined();
    const addToMixer = media.addToMixer.bind(media);
    media.addToMixer = async (mixerId, leg) => {
      if (leg === legId) {
        throw new Error('injected: the engine refuses this leg');
      }
      return addToMixer(mixerId, leg);
    };
    return () => {
      media.addToMixer = addToMixer;
    };
  }

  it('a create the media engine refuses: 503 adhoc-conference-media-error, no conference, and the host call goes on with audio both ways', async () => {
    const [alice, bob, carol] = await people('alice', 'bob', 'carol');
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const [H1, P1, P2] = [toBob.outgoing.callId, toBob.incoming.callId, toCarol.incoming.callId];
    // The host's own leg gets in; its peer (bob) is refused, so the host's move is undone.
    const stop = refuseMixing(P1);
    let reply;
    try {
      reply = await world.create(alice!, H1, [P1, P2]);
    } finally {
      stop();
    }
    expect(reply.status, JSON.stringify(reply.body)).toBe(503);
    expect(reply.body).toMatchObject({ error_id: 'adhoc-conference-media-error' });
    expect(telephonyOf(confab).conferences.conferences.size).toBe(0);
    // Both calls are as before the request: alice–bob and alice–carol, nobody hung up.
    const host = await world.myCall(alice!, H1);
    expect(host?.talking_to).toEqual({ [P1]: bob!.user.uuid });
    expect(host?.peer_caller_id_number).toBe(bob!.user.extension);
    expect((await world.myCall(bob!, P1))?.talking_to).toEqual({ [H1]: alice!.user.uuid });
    expect((await world.myCall(carol!, P2))?.talking_to).toEqual({
      [toCarol.outgoing.callId]: alice!.user.uuid,
    });
    // The host's SDK auto-held its first call when it called carol: resume it, then listen.
    await alice!.client.confab.Phone.resume(toBob.outgoing);
    const [atAlice, atBob] = await world.listen(
      [toBob.atHost, toBob.atPeer],
      [[HZ.bob], [HZ.alice]],
    );
    expect(hearsExactly(atAlice!, [HZ.bob], [HZ.alice, HZ.carol]), JSON.stringify(atAlice)).toBe(
      true,
    );
    expect(hearsExactly(atBob!, [HZ.alice], [HZ.bob, HZ.carol]), JSON.stringify(atBob)).toBe(true);
  });

  it('an add the media engine refuses: 503 adhoc-conference-media-error, the participant keeps its call with the host, the conference goes on', async () => {
    const [alice, bob, carol, dave] = await people('alice', 'bob', 'carol', 'dave');
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const id = await world.merge(alice!, toBob, [toCarol]);
    const toDave = await world.call(alice!, dave!);
    const P3 = toDave.incoming.callId;
    const stop = refuseMixing(P3);
    let reply;
    try {
      reply = await world.request('PUT', `${ADHOC}/${id}/participants/${P3}`, alice!.token);
    } finally {
      stop();
    }
    expect(reply.status, JSON.stringify(reply.body)).toBe(503);
    expect(reply.body).toMatchObject({ error_id: 'adhoc-conference-media-error' });
    expect((await world.myCall(dave!, P3))?.talking_to).toEqual({
      [toDave.outgoing.callId]: alice!.user.uuid,
    });
    const conference = telephonyOf(confab).conferences.conferences.get(id);
    expect(conference?.members.map((channel) => channel.id).sort()).toEqual(
      [toBob.outgoing.callId, toBob.incoming.callId, toCarol.incoming.callId].sort(),
    );
    // Without the fault the same add succeeds.
    const again = await world.request('PUT', `${ADHOC}/${id}/participants/${P3}`, alice!.token);
    expect(again.status, JSON.stringify(again.body)).toBe(204);
  });

  it('refuses bad create requests in the spec order, with its error ids, and changes nothing', async () => {
    const [alice, bob, dave, erin, frank] = await people('alice', 'bob', 'dave', 'erin', 'frank');
    const toBob = await world.call(alice!, bob!);
    const daveErin = await world.call(dave!, erin!);
    const ringingFrank = await world.ringing(alice!, frank!);
    const H1 = toBob.outgoing.callId;

    expect((await world.request('POST', ADHOC, '', { host_call_id: H1 })).status).toBe(401);
    const bogus = await world.request('POST', ADHOC, 'not-a-token', { host_call_id: H1 });
    expect(bogus).toMatchObject({ status: 401, body: { error_id: 'unauthorized' } });

    for (const body of [
      undefined,
      'null',
      '[]',
      {},
      { host_call_id: 5 },
      { host_call_id: '' },
      { host_call_id: null },
      { host_call_id: H1, participant_call_ids: 'x' },
      { host_call_id: H1, participant_call_ids: [1] },
      { host_call_id: H1, participant_call_ids: [''] },
    ]) {
      const reply = await world.request('POST', ADHOC, alice!.token, body ?? '');
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body, JSON.stringify(body)).toMatchObject({ error_id: 'invalid-data' });
    }

    const cases: [string, string[], number, string, Record<string, string>][] = [
      // 1. the host call must exist and be mine (someone else's looks unknown)
      ['1.4242', [], 400, 'host-call-not-found', { host_call_id: '1.4242' }],
      [
        toBob.incoming.callId,
        [],
        400,
        'host-call-not-found',
        { host_call_id: toBob.incoming.callId },
      ],
      ['1.4242', ['1.4343'], 400, 'host-call-not-found', { host_call_id: '1.4242' }],
      // 2. the host call must have a peer (mine, ringing, alone)
      [ringingFrank.outgoing.callId, [], 400, 'host-call-creation-error', {}],
      // 3. each participant must talk to one of my legs
      [H1, ['1.4343'], 400, 'participant-call-not-found', { participant_call_id: '1.4343' }],
      [
        H1,
        [daveErin.incoming.callId],
        400,
        'participant-call-not-found',
        { participant_call_id: daveErin.incoming.callId },
      ],
      [
        H1,
        [ringingFrank.incoming.callId],
        400,
        'participant-call-not-found',
        { participant_call_id: ringingFrank.incoming.callId },
      ],
      [H1, [H1], 400, 'participant-call-not-found', { participant_call_id: H1 }],
    ];
    for (const [host, participants, status, errorId, details] of cases) {
      const reply = await world.create(alice!, host, participants);
      expect(reply.status, `${host} ${participants.join()}`).toBe(status);
      expect(reply.body).toMatchObject({ error_id: errorId, details });
    }

    // Nothing moved: both calls are still two-party calls.
    expect(await world.myCall(alice!, H1)).toMatchObject({
      talking_to: { [toBob.incoming.callId]: bob!.user.uuid },
    });
    expect(Object.keys((await world.myCall(erin!, daveErin.incoming.callId))!.talking_to)).toEqual([
      daveErin.outgoing.callId,
    ]);
    expect(alice!.socket.conferenceEvents()).toEqual([]);
    expect(telephonyOf(confab).conferences.conferences.size).toBe(0);
  });

  it('adds a participant from a new call (host leg hung up, connected line unchanged, joined events) and refuses bad adds in the spec order', async () => {
    const [alice, bob, carol, dave, erin, frank] = await people(
      'alice',
      'bob',
      'carol',
      'dave',
      'erin',
      'frank',
    );
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const id = await world.merge(alice!, toBob, [toCarol]);
    const [H1, P1, P2] = [toBob.outgoing.callId, toBob.incoming.callId, toCarol.incoming.callId];
    const toDave = await world.call(alice!, dave!);
    const P3 = toDave.incoming.callId;
    const ringingFrank = await world.ringing(alice!, frank!);
    const put = (callId: string, person: Person = alice!, conferenceId = id) =>
      world.request('PUT', `${ADHOC}/${conferenceId}/participants/${callId}`, person.token);

    expect((await put(P3, alice, 'unknown-conference')).body).toMatchObject({
      error_id: 'adhoc-conference-not-found',
      details: { adhoc_conference_id: 'unknown-conference' },
    });
    // The call is checked before the ownership of the conference (spec §5.3).
    const unknownByBob = await put('1.4242', bob);
    expect(unknownByBob).toMatchObject({
      status: 400,
      body: { error_id: 'participant-call-not-found' },
    });
    expect((await put(P3, bob)).status).toBe(404);
    expect(await put('1.4242')).toMatchObject({
      status: 400,
      body: { error_id: 'participant-call-not-found', details: { participant_call_id: '1.4242' } },
    });
    expect(await put(ringingFrank.incoming.callId)).toMatchObject({
      status: 400,
      body: { error_id: 'participant-call-not-found' },
    });
    expect(await put(P1)).toMatchObject({
      status: 409,
      body: { error_id: 'participant-already-in-conference', details: { participant_call_id: P1 } },
    });
    expect(await put(H1)).toMatchObject({ status: 409 });

    const aliceLegToDaveEnded = alice!.client.next(PhoneEvent.ON_CALL_ENDED);
    expect(await put(P3)).toEqual({ status: 204, body: undefined });
    expect((await aliceLegToDaveEnded)[0].callId).toBe(toDave.outgoing.callId);
    expect(await world.myCall(alice!, H1)).toMatchObject({
      talking_to: { [P1]: bob!.user.uuid, [P2]: carol!.user.uuid, [P3]: dave!.user.uuid },
      peer_caller_id_name: 'Conference',
    });
    for (const person of [alice!, bob!, carol!, dave!]) {
      await waitFor(`${person.name} hears dave joined`, () =>
        person.socket.conferenceEvents(id).includes(`conference_adhoc_participant_joined ${P3}`),
      );
    }
    expect(await put(P3)).toMatchObject({ status: 409 });

    // A call already in another ad-hoc conference cannot be added (spec §9: 400).
    const toErin = await world.call(alice!, erin!);
    const other = await world.create(alice!, toErin.outgoing.callId, []);
    expect(other.status).toBe(201);
    expect(await put(toErin.incoming.callId)).toMatchObject({
      status: 400,
      body: { error_id: 'participant-call-not-found' },
    });

    await alice!.client.confab.Phone.resume(toBob.outgoing);
    const [atDave] = await world.listen([toDave.atPeer], [[HZ.alice, HZ.bob, HZ.carol]]);
    expect(
      hearsExactly(atDave!, [HZ.alice, HZ.bob, HZ.carol], [HZ.dave]),
      JSON.stringify(atDave),
    ).toBe(true);
  });

  it('removes a participant by hanging it up (left to the host and the others, not to the removed), refuses bad removes; the last participant leaving hangs the host up and deletes the conference', async () => {
    const [alice, bob, carol, dave] = await people('alice', 'bob', 'carol', 'dave');
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const id = await world.merge(alice!, toBob, [toCarol]);
    const [H1, P1, P2] = [toBob.outgoing.callId, toBob.incoming.callId, toCarol.incoming.callId];
    const outside = await world.call(dave!, bob!);
    const remove = (callId: string, person: Person = alice!, conferenceId = id) =>
      world.request('DELETE', `${ADHOC}/${conferenceId}/participants/${callId}`, person.token);

    expect(await remove(P2, alice, 'nope')).toMatchObject({
      status: 404,
      body: { error_id: 'adhoc-conference-not-found' },
    });
    expect(await remove(P2, bob)).toMatchObject({ status: 404 });
    expect(await remove('1.4242')).toMatchObject({
      status: 400,
      body: { error_id: 'participant-call-not-found' },
    });
    expect(await remove(outside.incoming.callId)).toMatchObject({
      status: 400,
      body: {
        error_id: 'participant-call-not-found',
        details: { participant_call_id: outside.incoming.callId },
      },
    });

    const carolEnded = carol!.client.next(PhoneEvent.ON_CALL_ENDED);
    expect(await remove(P2)).toEqual({ status: 204, body: undefined });
    await carolEnded;
    for (const person of [alice!, bob!]) {
      await waitFor(`${person.name} hears carol left`, () =>
        person.socket.conferenceEvents(id).includes(`conference_adhoc_participant_left ${P2}`),
      );
    }
    expect(carol!.socket.conferenceEvents(id)).not.toContain(
      `conference_adhoc_participant_left ${P2}`,
    );
    expect(await world.myCall(alice!, H1)).toMatchObject({ talking_to: { [P1]: bob!.user.uuid } });

    // Host + 1: the last participant hangs up from the phone → the host is hung up, deleted.
    const aliceEnded = alice!.client.next(PhoneEvent.ON_CALL_ENDED);
    await bob!.client.confab.Phone.hangup(toBob.incoming);
    await aliceEnded;
    await waitFor('deleted', () =>
      alice!.socket.conferenceEvents(id).includes('conference_adhoc_deleted'),
    );
    expect(membership(alice!.socket.conferenceEvents(id)).slice(-3)).toEqual([
      `conference_adhoc_participant_left ${P1}`,
      `conference_adhoc_participant_left ${H1}`,
      'conference_adhoc_deleted',
    ]);
    expect(bob!.socket.conferenceEvents(id)).not.toContain('conference_adhoc_deleted');
    expect((await remove(P1)).status).toBe(404);
  });

  it('lifecycle: an extra participant hanging up leaves the others bridged; the host hanging up hangs up everyone', async () => {
    const [alice, bob, carol, dave] = await people('alice', 'bob', 'carol', 'dave');
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const toDave = await world.call(alice!, dave!);
    const id = await world.merge(alice!, toBob, [toCarol, toDave]);
    const [H1, P1, P2, P3] = [
      toBob.outgoing.callId,
      toBob.incoming.callId,
      toCarol.incoming.callId,
      toDave.incoming.callId,
    ];

    await carol!.client.confab.Phone.hangup(toCarol.incoming);
    for (const person of [alice!, bob!, dave!]) {
      await waitFor(`${person.name} hears carol left`, () =>
        person.socket.conferenceEvents(id).includes(`conference_adhoc_participant_left ${P2}`),
      );
    }
    expect(await world.myCall(bob!, P1)).toMatchObject({
      talking_to: { [H1]: alice!.user.uuid, [P3]: dave!.user.uuid },
    });

    const bobEnded = bob!.client.next(PhoneEvent.ON_CALL_ENDED);
    const daveEnded = dave!.client.next(PhoneEvent.ON_CALL_ENDED);
    await alice!.client.confab.Phone.hangup(toBob.outgoing);
    await Promise.all([bobEnded, daveEnded]);
    await waitFor('deleted', () =>
      alice!.socket.conferenceEvents(id).includes('conference_adhoc_deleted'),
    );
    const tail = membership(alice!.socket.conferenceEvents(id)).slice(-4);
    expect(tail[0]).toBe(`conference_adhoc_participant_left ${H1}`);
    expect(tail.slice(1, 3).sort()).toEqual(
      [`conference_adhoc_participant_left ${P1}`, `conference_adhoc_participant_left ${P3}`].sort(),
    );
    expect(tail[3]).toBe('conference_adhoc_deleted');
  });

  it('DELETE hangs up everyone: the host gets participant_left for every channel, then deleted; unknown or foreign conference → 404', async () => {
    const [alice, bob, carol] = await people('alice', 'bob', 'carol');
    const toBob = await world.call(alice!, bob!);
    const toCarol = await world.call(alice!, carol!);
    const id = await world.merge(alice!, toBob, [toCarol]);
    const [H1, P1, P2] = [toBob.outgoing.callId, toBob.incoming.callId, toCarol.incoming.callId];

    expect(await world.request('DELETE', `${ADHOC}/nope`, alice!.token)).toMatchObject({
      status: 404,
      body: { error_id: 'adhoc-conference-not-found', details: { adhoc_conference_id: 'nope' } },
    });
    expect((await world.request('DELETE', `${ADHOC}/${id}`, bob!.token)).status).toBe(404);
    expect((await world.request('DELETE', `${ADHOC}/${id}`, '')).status).toBe(401);

    const ended = [alice!, bob!, carol!].map((p) => p.client.next(PhoneEvent.ON_CALL_ENDED));
    expect(await world.request('DELETE', `${ADHOC}/${id}`, alice!.token)).toEqual({
      status: 204,
      body: undefined,
    });
    await Promise.all(ended);
    await waitFor('deleted', () =>
      alice!.socket.conferenceEvents(id).includes('conference_adhoc_deleted'),
    );
    const afterCreation = membership(alice!.socket.conferenceEvents(id)).slice(5);
    expect(afterCreation).toEqual([
      `conference_adhoc_participant_left ${H1}`,
      `conference_adhoc_participant_left ${P1}`,
      `conference_adhoc_participant_left ${P2}`,
      'conference_adhoc_deleted',
    ]);
    expect((await world.request('DELETE', `${ADHOC}/${id}`, alice!.token)).status).toBe(404);
    expect(await world.myCalls(alice!)).toEqual([]);
  });
});
