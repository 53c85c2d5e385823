/**
 * Ad-hoc conferences through the SDK (Node clients on ws + @roamhq/wrtc, each sending its own
 * tone) against a real, in-process Confab server: `Phone.startConference`, `addParticipant`,
 * `removeParticipant`, `hangup`, server-side participant mute, the `conference_adhoc_*` events
 * each user receives, and the error mapping (spec wazo-server-protocols §5–6, §9;
 * wazo-js-sdk §6–7). Who hears whom is measured with Goertzel filters on the received audio.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AdHocConference,
  ConferenceError,
  ConferenceErrorCode,
  PhoneEvent,
  WebsocketEvent,
  isConferenceError,
  type CallSession,
} from '@confab/sdk';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';
import { hearsMix, type ToneReport } from '../support/goertzel.js';
import { createToneSink, listenUntil, waitFor, type ToneSink } from '../support/node-phone.js';
import {
  closeAll,
  createSdkClient,
  rejection,
  ring,
  type SdkClient,
} from '../support/sdk-client.js';

const ALICE_HZ = 500;
const BOB_HZ = 1300;
const CAROL_HZ = 2100;
const DAVE_HZ = 2900;
const ALL_HZ = [ALICE_HZ, BOB_HZ, CAROL_HZ, DAVE_HZ];

/** A `conference_adhoc_*` event a client's websocket delivered. */
interface AdhocEvent {
  name: string;
  conferenceId: string;
  callId: string | undefined;
}

const ADHOC_EVENTS = Object.values(WebsocketEvent).filter((name) =>
  name.startsWith('conference_adhoc_'),
);

describe('SDK ad-hoc conferences through a real Confab server', () => {
  let confab: TestConfab;
  const clients: SdkClient[] = [];
  const sinks: ToneSink[] = [];

  beforeAll(async () => {
    confab = await startTestConfab();
  });

  afterEach(() => closeAll(clients, sinks));

  afterAll(async () => {
    await confab?.close();
  });

  interface Person {
    client: SdkClient;
    extension: string;
    /** Every `conference_adhoc_*` event of this user's websocket, in order. */
    adhoc: AdhocEvent[];
  }

  async function person(firstname: string, frequency: number): Promise<Person> {
    const user = await confab.addUser({ firstname, lastname: 'Conf' });
    // Three tones at 0.3 sum below full scale: the mix never clips (no intermodulation).
    const client = createSdkClient({ frequency, origin: confab.origin, amplitude: 0.3 });
    clients.push(client);
    const adhoc: AdhocEvent[] = [];
    for (const name of ADHOC_EVENTS) {
      client.confab.Websocket.on(name, ({ data }) => {
        adhoc.push({
          name,
          conferenceId: String(data['conference_id']),
          callId: typeof data['call_id'] === 'string' ? data['call_id'] : undefined,
        });
      });
    }
    await client.logIn(user);
    return { client, extension: user.extension, adhoc };
  }

  interface Connected {
    outgoing: CallSession;
    incoming: CallSession;
    atCaller: ToneSink;
    atCallee: ToneSink;
  }

  /** An established call from `caller` to `callee`, recording each side's remote audio. */
  async function connect(caller: Person, callee: Person): Promise<Connected> {
    const callerStream = caller.client.next(PhoneEvent.ON_AUDIO_STREAM);
    const { outgoing, incoming } = await ring(caller.client, callee.client, callee.extension);
    const accepted = caller.client.next(PhoneEvent.ON_CALL_ACCEPTED);
    const calleeStream = callee.client.next(PhoneEvent.ON_AUDIO_STREAM);
    await callee.client.confab.Phone.accept(incoming);
    await accepted;
    const atCaller = createToneSink((await callerStream)[0].getAudioTracks()[0]!);
    const atCallee = createToneSink((await calleeStream)[0].getAudioTracks()[0]!);
    sinks.push(atCaller, atCallee);
    await waitFor('audio at both ends', () => atCaller.frames > 50 && atCallee.frames > 50, 15_000);
    // The calld view of the caller's leg names the callee's channel (talking_to).
    await waitFor('talking_to of the new leg', () => outgoing.getTalkingToIds().length === 1);
    return { outgoing, incoming, atCaller, atCallee };
  }

  /**
   * Whether `sink` hears every `expected` tone and none of the others (20 dB below the weakest
   * expected one), over a 1.5 s window after 0.7 s for the audio in flight to drain; measured
   * again (up to 10 s) while the change that leads there is still on its way.
   */
  async function hearsOnly(sink: ToneSink, expected: readonly number[]): Promise<boolean> {
    const absent = ALL_HZ.filter((f) => !expected.includes(f));
    // 20 dB: with no clipping, what leaks of an absent tone is far below that.
    const only = (report: ToneReport): boolean => hearsMix(report, expected, absent, 100);
    const [report] = await listenUntil([sink], ALL_HZ, ([r]) => only(r!));
    if (process.env['DEBUG_TONES'] !== undefined) {
      console.log(expected, JSON.stringify(report), sink.frames);
    }
    return only(report!);
  }

  function names(events: AdhocEvent[], conferenceId: string): string[] {
    return events.filter((e) => e.conferenceId === conferenceId).map((e) => e.name);
  }

  /** The `onConferenceUpdated` snapshots a client's Phone emits from now on. */
  function snapshots(client: SdkClient): AdHocConference[] {
    const seen: AdHocConference[] = [];
    client.confab.Phone.on(PhoneEvent.ON_CONFERENCE_UPDATED, (c) => seen.push(c));
    return seen;
  }

  it("the seeds' flow: merge bob and carol, add dave, remove carol, hang up — each hears the others and not itself, and gets the spec's events", async () => {
    const alice = await person('Alice', ALICE_HZ);
    const bob = await person('Bob', BOB_HZ);
    const carol = await person('Carol', CAROL_HZ);
    const dave = await person('Dave', DAVE_HZ);
    const updates = snapshots(alice.client);

    // alice calls bob, then carol: bob is held by the second call.
    const toBob = await connect(alice, bob);
    const toCarol = await connect(alice, carol);
    expect(toBob.outgoing.isOnHold()).toBe(true);
    const bobChannel = toBob.outgoing.getTalkingToIds()[0]!;
    const carolChannel = toCarol.outgoing.getTalkingToIds()[0]!;
    // The remote channels are the callees' own legs.
    expect(bobChannel).toBe(toBob.incoming.callId);
    expect(carolChannel).toBe(toCarol.incoming.callId);

    const carolLegEnded = alice.client.next(PhoneEvent.ON_CALL_ENDED);
    const conference = await alice.client.confab.Phone.startConference(toBob.outgoing, [
      toCarol.outgoing,
    ]);
    expect(conference).toBeInstanceOf(AdHocConference);
    expect(conference.conferenceId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
    expect(conference.started).toBe(true);
    expect(conference.finished).toBe(false);
    expect(conference.host).toBe(toBob.outgoing);
    expect(Object.keys(conference.participants).sort()).toEqual([bobChannel, carolChannel].sort());
    expect(conference.participants[carolChannel]).toBe(toCarol.outgoing);
    // start() completes and returns the same instance.
    expect(await conference.start()).toBe(conference);
    const post = alice.client.http.find(
      (x) => x.method === 'POST' && x.path === '/api/calld/1.0/users/me/conferences/adhoc',
    )!;
    expect(post.status).toBe(201);
    expect(JSON.parse(post.body)).toEqual({
      host_call_id: toBob.outgoing.callId,
      participant_call_ids: [bobChannel, carolChannel],
    });
    // The server hung up alice's leg toward carol; the host call is taken off hold.
    expect((await carolLegEnded)[0]).toBe(toCarol.outgoing);
    await waitFor('the host call resumed', () => !toBob.outgoing.isOnHold());
    expect(alice.client.confab.Phone.getCurrentCallSession()).toBe(toBob.outgoing);
    expect(bob.client.names()).not.toContain(PhoneEvent.ON_CALL_ENDED);
    expect(carol.client.names()).not.toContain(PhoneEvent.ON_CALL_ENDED);

    expect(await hearsOnly(toBob.atCaller, [BOB_HZ, CAROL_HZ])).toBe(true);
    expect(await hearsOnly(toBob.atCallee, [ALICE_HZ, CAROL_HZ])).toBe(true);
    expect(await hearsOnly(toCarol.atCallee, [ALICE_HZ, BOB_HZ])).toBe(true);

    const id = conference.conferenceId;
    await waitFor('joins at alice', () =>
      alice.adhoc.some(
        (e) => e.name === 'conference_adhoc_participant_joined' && e.callId === carolChannel,
      ),
    );
    expect(names(alice.adhoc, id)[0]).toBe('conference_adhoc_created');
    const joinedAtAlice = alice.adhoc
      .filter((e) => e.conferenceId === id && e.name === 'conference_adhoc_participant_joined')
      .map((e) => e.callId);
    expect(joinedAtAlice).toEqual(
      expect.arrayContaining([toBob.outgoing.callId, bobChannel, carolChannel]),
    );
    for (const participant of [bob, carol]) {
      await waitFor('a join at a participant', () =>
        participant.adhoc.some((e) => e.name === 'conference_adhoc_participant_joined'),
      );
      expect(names(participant.adhoc, id)).not.toContain('conference_adhoc_created');
    }
    // Nobody renegotiated: bob and carol received their first INVITE only, alice none.
    expect(bob.client.wire.received('INVITE')).toHaveLength(1);
    expect(carol.client.wire.received('INVITE')).toHaveLength(1);
    expect(alice.client.wire.received('INVITE')).toHaveLength(0);
    expect(alice.client.wire.received('UPDATE')).toHaveLength(0);

    // alice calls dave (the host call is held meanwhile), then adds him.
    const toDave = await connect(alice, dave);
    expect(toBob.outgoing.isOnHold()).toBe(true);
    const daveChannel = toDave.outgoing.getTalkingToIds()[0]!;
    const latest = updates.at(-1)!;
    const withDave = await conference.addParticipant(toDave.outgoing);
    expect(withDave).not.toBe(conference);
    expect(withDave).not.toBe(latest);
    expect(Object.keys(withDave.participants).sort()).toEqual(
      [bobChannel, carolChannel, daveChannel].sort(),
    );
    // The instance it was called on is unchanged.
    expect(Object.keys(conference.participants)).toHaveLength(2);
    expect(updates.at(-1)).toBe(withDave);
    await waitFor('the host call resumed again', () => !toBob.outgoing.isOnHold());
    await waitFor('alice leg to dave hung up', () => toDave.outgoing.isTerminated());
    expect(dave.client.names()).not.toContain(PhoneEvent.ON_CALL_ENDED);
    expect(await hearsOnly(toBob.atCaller, [BOB_HZ, CAROL_HZ, DAVE_HZ])).toBe(true);
    expect(await hearsOnly(toBob.atCallee, [ALICE_HZ, CAROL_HZ, DAVE_HZ])).toBe(true);
    expect(await hearsOnly(toCarol.atCallee, [ALICE_HZ, BOB_HZ, DAVE_HZ])).toBe(true);
    expect(await hearsOnly(toDave.atCallee, [ALICE_HZ, BOB_HZ, CAROL_HZ])).toBe(true);
    expect(dave.client.wire.received('INVITE')).toHaveLength(1);
    expect(bob.client.wire.received('INVITE')).toHaveLength(1);

    // removeParticipant(carol) hangs carol up; the others go on.
    const carolEnded = carol.client.next(PhoneEvent.ON_CALL_ENDED);
    const withoutCarol = await withDave.removeParticipant(toCarol.outgoing);
    expect(Object.keys(withoutCarol.participants).sort()).toEqual([bobChannel, daveChannel].sort());
    expect(Object.keys(withDave.participants)).toHaveLength(3);
    expect((await carolEnded)[0]).toBe(toCarol.incoming);
    const leftFor = (p: Person): Promise<unknown> =>
      waitFor('participant_left for carol', () =>
        p.adhoc.some(
          (e) => e.name === 'conference_adhoc_participant_left' && e.callId === carolChannel,
        ),
      );
    await Promise.all([leftFor(alice), leftFor(bob), leftFor(dave)]);
    // The user whose channel left gets nothing (spec §6.5).
    expect(names(carol.adhoc, id)).not.toContain('conference_adhoc_participant_left');
    expect(await hearsOnly(toBob.atCaller, [BOB_HZ, DAVE_HZ])).toBe(true);
    expect(await hearsOnly(toBob.atCallee, [ALICE_HZ, DAVE_HZ])).toBe(true);
    expect(await hearsOnly(toDave.atCallee, [ALICE_HZ, BOB_HZ])).toBe(true);

    // hangup() ends it for everyone.
    const ended = alice.client.next(PhoneEvent.ON_CONFERENCE_ENDED);
    const ends = [alice, bob, dave].map((p) => p.client.next(PhoneEvent.ON_CALL_ENDED));
    const finished = await withoutCarol.hangup();
    expect(finished.finished).toBe(true);
    expect(finished.participants).toEqual({});
    expect(finished.hasParticipants()).toBe(false);
    expect(withoutCarol.finished).toBe(false);
    expect((await ended)[0].finished).toBe(true);
    await Promise.all(ends);
    await waitFor('conference_adhoc_deleted at alice', () =>
      names(alice.adhoc, id).includes('conference_adhoc_deleted'),
    );
    expect(names(bob.adhoc, id)).not.toContain('conference_adhoc_deleted');
    expect(alice.client.confab.Phone.getCallSessions()).toEqual([]);
    // Hanging up again is harmless.
    expect((await finished.hangup()).finished).toBe(true);
    await expect(finished.addParticipant(toDave.outgoing)).rejects.toMatchObject({
      code: ConferenceErrorCode.NotActive,
    });
  }, 120_000);

  it('refusals map to ConferenceError codes: host or participant already in the conference (409), unknown conference (404), not a participant', async () => {
    const alice = await person('Alice', ALICE_HZ);
    const bob = await person('Bob', BOB_HZ);
    const carol = await person('Carol', CAROL_HZ);
    const toBob = await connect(alice, bob);
    const toCarol = await connect(alice, carol);
    const conference = await alice.client.confab.Phone.startConference(toBob.outgoing, [
      toCarol.outgoing,
    ]);

    const again = await rejection(alice.client.confab.Phone.startConference(toBob.outgoing, []));
    expect(isConferenceError(again)).toBe(true);
    expect(again).toMatchObject({
      code: ConferenceErrorCode.HostAlreadyInConference,
      status: 409,
      errorId: 'host-already-in-conference',
    });

    // bob's channel is already in: PUT → 409.
    const duplicate = await rejection(conference.addParticipant(toBob.outgoing));
    expect(duplicate).toMatchObject({
      code: ConferenceErrorCode.ParticipantAlreadyInConference,
      status: 409,
    });

    const unknown = new AdHocConference({
      phone: alice.client.confab.Phone,
      host: toBob.outgoing,
      participants: { ...conference.participants },
      conferenceId: '00000000-0000-4000-8000-000000000000',
      started: true,
    });
    const notFound = await rejection(unknown.removeParticipant(toCarol.outgoing));
    expect(notFound).toBeInstanceOf(ConferenceError);
    expect(notFound).toMatchObject({
      code: ConferenceErrorCode.NotFound,
      status: 404,
      errorId: 'adhoc-conference-not-found',
    });
    // Deleting a conference the server does not know resolves as finished.
    expect((await unknown.hangup()).finished).toBe(true);

    const stranger = await rejection(conference.removeParticipant('no-such-call'));
    expect(stranger).toMatchObject({
      code: ConferenceErrorCode.ParticipantCallNotFound,
      status: 0,
    });
    await conference.hangup();
  });

  it('server-side mute of a participant silences it for everyone (conference_adhoc_participant_muted); talking follows the talk events', async () => {
    const alice = await person('Alice', ALICE_HZ);
    const bob = await person('Bob', BOB_HZ);
    const carol = await person('Carol', CAROL_HZ);
    const toBob = await connect(alice, bob);
    const toCarol = await connect(alice, carol);
    const updates = snapshots(alice.client);
    const conference = await alice.client.confab.Phone.startConference(toBob.outgoing, [
      toCarol.outgoing,
    ]);
    const bobChannel = toBob.incoming.callId;
    const carolChannel = toCarol.incoming.callId;
    // Every tone talks: the talk events mark bob and carol talking in the snapshots.
    await waitFor(
      'bob and carol talking',
      () => {
        const last = updates.at(-1);
        return last?.isTalking(bobChannel) === true && last.isTalking(carolChannel);
      },
      15_000,
    );
    expect(updates.at(-1)!.isTalking(toCarol.outgoing)).toBe(true);

    const muted = await conference.muteParticipant(toBob.outgoing);
    expect(muted.isParticipantMuted(toBob.outgoing)).toBe(true);
    expect(conference.isParticipantMuted(toBob.outgoing)).toBe(false);
    expect(await hearsOnly(toCarol.atCallee, [ALICE_HZ])).toBe(true);
    expect(await hearsOnly(toBob.atCaller, [CAROL_HZ])).toBe(true);
    // bob still hears the others.
    expect(await hearsOnly(toBob.atCallee, [ALICE_HZ, CAROL_HZ])).toBe(true);
    await waitFor('participant_muted at alice', () =>
      alice.adhoc.some(
        (e) => e.name === 'conference_adhoc_participant_muted' && e.callId === bobChannel,
      ),
    );
    const refreshed = await muted.refresh();
    expect(refreshed.isParticipantMuted(bobChannel)).toBe(true);
    expect(refreshed.isParticipantMuted(carolChannel)).toBe(false);

    const unmuted = await refreshed.unmuteParticipant(bobChannel);
    expect(unmuted.isParticipantMuted(bobChannel)).toBe(false);
    expect(await hearsOnly(toCarol.atCallee, [ALICE_HZ, BOB_HZ])).toBe(true);
    await unmuted.hangup();
  });

  it('host controls: mute() silences alice for the others; hold() takes her out (the others go on) and adding a call keeps her held; resume() brings her back', async () => {
    const alice = await person('Alice', ALICE_HZ);
    const bob = await person('Bob', BOB_HZ);
    const carol = await person('Carol', CAROL_HZ);
    const dave = await person('Dave', DAVE_HZ);
    const toBob = await connect(alice, bob);
    const toCarol = await connect(alice, carol);
    const conference = await alice.client.confab.Phone.startConference(toBob.outgoing, [
      toCarol.outgoing,
    ]);

    const muted = conference.mute();
    expect(muted.isMuted()).toBe(true);
    expect(toBob.outgoing.isMuted()).toBe(true);
    expect(await hearsOnly(toCarol.atCallee, [BOB_HZ])).toBe(true);
    expect(await hearsOnly(toBob.atCaller, [BOB_HZ, CAROL_HZ])).toBe(true);
    const unmuted = muted.unmute();
    expect(await hearsOnly(toCarol.atCallee, [ALICE_HZ, BOB_HZ])).toBe(true);

    const held = await unmuted.hold();
    expect(held.isOnHold()).toBe(true);
    expect(toBob.outgoing.isOnHold()).toBe(true);
    expect(await hearsOnly(toCarol.atCallee, [BOB_HZ])).toBe(true);
    expect(await hearsOnly(toBob.atCallee, [CAROL_HZ])).toBe(true);
    // alice hears nothing while held.
    expect(await hearsOnly(toBob.atCaller, [])).toBe(true);

    // A conference held on purpose stays held when a participant is added.
    const toDave = await connect(alice, dave);
    const withDave = await held.addParticipant(toDave.outgoing);
    expect(withDave.isOnHold()).toBe(true);
    expect(toBob.outgoing.isOnHold()).toBe(true);
    expect(await hearsOnly(toDave.atCallee, [BOB_HZ, CAROL_HZ])).toBe(true);

    const resumed = await withDave.resume();
    expect(resumed.isOnHold()).toBe(false);
    expect(toBob.outgoing.isOnHold()).toBe(false);
    expect(await hearsOnly(toBob.atCaller, [BOB_HZ, CAROL_HZ, DAVE_HZ])).toBe(true);
    expect(await hearsOnly(toDave.atCallee, [ALICE_HZ, BOB_HZ, CAROL_HZ])).toBe(true);
    await resumed.hangup();
  }, 90_000);

  it("startConference asks calld for a call's remote party when its calld view has not arrived yet", async () => {
    const alice = await person('Alice', ALICE_HZ);
    const bob = await person('Bob', BOB_HZ);
    const carol = await person('Carol', CAROL_HZ);
    const toBob = await connect(alice, bob);
    const toCarol = await connect(alice, carol);
    // As right after answering, before call_updated: no calld view on the participant's call.
    toCarol.outgoing.call = null;
    const conference = await alice.client.confab.Phone.startConference(toBob.outgoing, [
      toCarol.outgoing,
    ]);
    expect(
      alice.client.http
        .filter((x) => x.method === 'GET' && x.path === '/api/calld/1.0/users/me/calls')
        .map((x) => x.status),
    ).toEqual([200]);
    expect(Object.keys(conference.participants).sort()).toEqual(
      [toBob.incoming.callId, toCarol.incoming.callId].sort(),
    );
    expect(await hearsOnly(toCarol.atCallee, [ALICE_HZ, BOB_HZ])).toBe(true);
    await conference.hangup();
  });

  it('the host hanging up its call ends the conference: participants are hung up, onConferenceEnded, conference_adhoc_deleted', async () => {
    const alice = await person('Alice', ALICE_HZ);
    const bob = await person('Bob', BOB_HZ);
    const carol = await person('Carol', CAROL_HZ);
    const toBob = await connect(alice, bob);
    const toCarol = await connect(alice, carol);
    const conference = await alice.client.confab.Phone.startConference(toBob.outgoing, [
      toCarol.outgoing,
    ]);
    const ended = alice.client.next(PhoneEvent.ON_CONFERENCE_ENDED);
    const participantsEnded = [bob, carol].map((p) => p.client.next(PhoneEvent.ON_CALL_ENDED));
    await alice.client.confab.Phone.hangup(toBob.outgoing);
    const [last] = await ended;
    expect(last.conferenceId).toBe(conference.conferenceId);
    expect(last.finished).toBe(true);
    expect(last.participants).toEqual({});
    await Promise.all(participantsEnded);
    await waitFor('conference_adhoc_deleted at alice', () =>
      names(alice.adhoc, conference.conferenceId).includes('conference_adhoc_deleted'),
    );
  });
});
