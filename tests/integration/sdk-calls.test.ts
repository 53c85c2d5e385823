/**
 * Calls between Node clients built on the SDK (ws + @roamhq/wrtc) through a real, in-process
 * Confab server: INVITE routing through the B2BUA, server call ids (X-Wazo-Call-ID), answer with
 * audio in both directions through the server's media anchor (each side hears the other's tone
 * and not its own), BYE, 603 reject, CANCEL, unknown and unreachable numbers, refused local
 * media, and the Phone's guards. Each scenario logs in its own pair of users; the SIP WebSocket
 * of every client is tapped to assert what crossed the wire. A sipp desk phone plays the peers
 * an SDK client cannot: a phone that answers without ringing first, and one that answers while
 * refusing the audio stream.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PhoneErrorCode, PhoneEvent, type PhoneError, type PhoneEventName } from '@confab/sdk';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { hearsTone } from '../support/goertzel.js';
import { createToneSink, sleep, waitFor } from '../support/node-phone.js';
import {
  createSdkClient,
  rejection,
  ring,
  type SdkClient,
  type SdkClientOptions,
} from '../support/sdk-client.js';
import { startDeskPhone, supportScenario, type SippRun } from '../support/sipp.js';

const ALICE_HZ = 500;
const BOB_HZ = 1300;
/** Server call ids look like Asterisk unique ids: `<unix seconds>.<sequence>`. */
const SERVER_CALL_ID = /^\d+\.\d+$/;

/** Events that end a call badly: none of them may show up in a normal call. */
const FAILURE_EVENTS: readonly PhoneEventName[] = [
  PhoneEvent.ON_CALL_REJECTED,
  PhoneEvent.ON_CALL_FAILED,
  PhoneEvent.ON_CALL_CANCELED,
];

describe('SDK calls through a real Confab server', () => {
  let confab: TestConfab;
  let clients: SdkClient[] = [];
  let desks: SippRun[] = [];

  beforeAll(async () => {
    confab = await startTestConfab();
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    for (const desk of desks) {
      desk.kill();
    }
    await Promise.all(desks.map((d) => d.done));
    desks = [];
  });

  afterAll(async () => {
    await confab?.close();
  });

  /** A new user and its SDK client, logged in and registered. */
  async function person(
    firstname: string,
    frequency: number,
    options: Partial<SdkClientOptions> = {},
  ): Promise<{ user: TestLineUser; client: SdkClient }> {
    const user = await confab.addUser({ firstname, lastname: 'Liddell' });
    const client = createSdkClient({ frequency, origin: confab.origin, ...options });
    clients.push(client);
    await client.logIn(user);
    return { user, client };
  }

  async function pair(): Promise<{
    alice: SdkClient;
    bob: SdkClient;
    aliceUser: TestLineUser;
    bobUser: TestLineUser;
  }> {
    const a = await person('Alice', ALICE_HZ);
    const b = await person('Bob', BOB_HZ);
    return { alice: a.client, bob: b.client, aliceUser: a.user, bobUser: b.user };
  }

  /** The server released every channel and bridge (nothing leaked by the scenario). */
  async function serverIdle(): Promise<void> {
    await waitFor('no channels left on the server', () => {
      const stats = confab.stats();
      return stats.channels === 0 && stats.bridges === 0;
    });
  }

  it('delivers the call to the callee with the caller number and name, a server call id and no video', async () => {
    const { alice, bob, aliceUser, bobUser } = await pair();
    const incomingEvent = bob.next(PhoneEvent.ON_CALL_INCOMING);
    const outgoing = await alice.confab.Phone.call(bobUser.extension);
    const [incoming, wantsVideo] = await incomingEvent;

    expect(outgoing).toMatchObject({ isCaller: true, number: bobUser.extension, ringing: true });
    expect(outgoing.sipCallId).toBe(alice.wire.sent('INVITE')[0]!.callId);
    expect(alice.names()).toContain(PhoneEvent.ON_CALL_OUTGOING);
    expect(incoming).toMatchObject({
      isCaller: false,
      number: aliceUser.extension,
      displayName: 'Alice Liddell',
      ringing: true,
    });
    // A B2BUA: the callee's leg is a dialog of its own, with its own server call id.
    expect(incoming.sipCallId).not.toBe(outgoing.sipCallId);
    expect(incoming.callId).toMatch(SERVER_CALL_ID);
    expect(bob.wire.received('INVITE')[0]!.header('x-wazo-call-id')).toBe(incoming.callId);
    expect(wantsVideo).toBe(false);
    expect(bob.confab.Phone.getCallSessions()).toEqual([incoming]);
  });

  it('connects both ways: accepted events, distinct server call ids, each side hears the other tone and not its own, caller hangs up with BYE', async () => {
    const { alice, bob, bobUser } = await pair();
    const aliceStream = alice.next(PhoneEvent.ON_AUDIO_STREAM);
    const { outgoing, incoming } = await ring(alice, bob, bobUser.extension);
    await waitFor('progress at the caller', () => alice.names().includes(PhoneEvent.ON_PROGRESS));

    const aliceAccepted = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    const bobStream = bob.next(PhoneEvent.ON_AUDIO_STREAM);
    expect(await bob.confab.Phone.accept(incoming)).toBe(incoming.sipCallId);
    const [acceptedCall, camera] = await aliceAccepted;
    expect(acceptedCall).toBe(outgoing);
    expect(camera).toBe(false);
    expect(outgoing.callId).toMatch(SERVER_CALL_ID);
    expect(outgoing.callId).not.toBe(incoming.callId);
    expect(outgoing.isEstablished()).toBe(true);
    expect(outgoing.answerTime).not.toBeNull();
    await waitFor('bob accepted', () => bob.names().includes(PhoneEvent.ON_CALL_ACCEPTED));
    expect(bob.names()).toEqual([
      PhoneEvent.ON_REGISTERED,
      PhoneEvent.ON_CALL_INCOMING,
      PhoneEvent.ON_CALL_ANSWERED,
      PhoneEvent.ON_AUDIO_STREAM,
      PhoneEvent.ON_CALL_ACCEPTED,
    ]);

    const [aliceRemote] = await aliceStream;
    const [bobRemote] = await bobStream;
    expect(alice.confab.Phone.getRemoteStream(outgoing)).toBe(aliceRemote);
    const atAlice = createToneSink(aliceRemote.getAudioTracks()[0]!);
    const atBob = createToneSink(bobRemote.getAudioTracks()[0]!);
    try {
      await waitFor('audio at both ends', () => atAlice.frames > 100 && atBob.frames > 100, 15_000);
      atAlice.reset();
      atBob.reset();
      await sleep(1500);
      const heardByAlice = atAlice.analyse([ALICE_HZ, BOB_HZ]);
      const heardByBob = atBob.analyse([ALICE_HZ, BOB_HZ]);
      expect(hearsTone(heardByAlice, BOB_HZ), JSON.stringify(heardByAlice)).toBe(true);
      expect(hearsTone(heardByBob, ALICE_HZ), JSON.stringify(heardByBob)).toBe(true);
    } finally {
      atAlice.stop();
      atBob.stop();
    }
    const stats = await alice.confab.Phone.getStats(outgoing);
    const types: string[] = [];
    stats!.forEach((report: { type: string }) => types.push(report.type));
    expect(types).toContain('inbound-rtp');

    const bobEnded = bob.next(PhoneEvent.ON_CALL_ENDED);
    const aliceEnded = alice.next(PhoneEvent.ON_CALL_ENDED);
    expect(await alice.confab.Phone.hangup(outgoing)).toBe(true);
    expect(await aliceEnded).toEqual([outgoing, true]);
    expect(await bobEnded).toEqual([incoming, true]);
    const bye = alice.wire.sent('BYE');
    expect(bye.map((m) => m.callId)).toEqual([outgoing.sipCallId]);
    // The server relays the hang-up to the callee as a BYE of the callee's own dialog.
    expect(bob.wire.received('BYE').map((m) => m.callId)).toEqual([incoming.sipCallId]);
    expect(outgoing.endTime).not.toBeNull();
    expect(incoming.isTerminated()).toBe(true);
    for (const client of [alice, bob]) {
      for (const failure of FAILURE_EVENTS) {
        expect(client.names()).not.toContain(failure);
      }
      expect(client.names().at(-1)).toBe(PhoneEvent.ON_CALL_ENDED);
    }
    expect(await alice.confab.Phone.hangup(outgoing)).toBe(false);
    expect(alice.confab.Phone.getCallSessions()).toEqual([]);
    await serverIdle();
  });

  it('the callee hanging up ends the call at the caller with a BYE from the server', async () => {
    const { alice, bob, bobUser } = await pair();
    const { outgoing, incoming } = await ring(alice, bob, bobUser.extension);
    const established = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    await bob.confab.Phone.accept(incoming);
    await established;

    const aliceEnded = alice.next(PhoneEvent.ON_CALL_ENDED);
    expect(await bob.confab.Phone.hangup(incoming)).toBe(true);
    expect(await aliceEnded).toEqual([outgoing, true]);
    expect(alice.wire.received('BYE').map((m) => m.callId)).toEqual([outgoing.sipCallId]);
    expect(alice.wire.answered('BYE', 200)).toHaveLength(1);
    for (const failure of FAILURE_EVENTS) {
      expect(alice.names()).not.toContain(failure);
    }
    await serverIdle();
  });

  it('sets callId from the X-Wazo-Call-ID of the 200 OK before onCallAccepted when the callee answers without ringing', async () => {
    const { client: alice } = await person('Alice', ALICE_HZ);
    const desk = await confab.addUser({ firstname: 'Desk', webrtc: false });
    desks.push(
      await startDeskPhone(desk, confab.sipPort, supportScenario('uas-answer-at-once.xml')),
    );

    let callIdWhenAccepted: string | undefined;
    alice.confab.Phone.on(PhoneEvent.ON_CALL_ACCEPTED, (callSession) => {
      callIdWhenAccepted = callSession.callId;
    });
    const accepted = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    const outgoing = await alice.confab.Phone.call(desk.extension);
    await accepted;

    // No provisional response carried an id (the desk phone never rang): the 2xx did.
    const toInvite = alice.wire.responses('INVITE');
    expect(toInvite.filter((r) => r.status > 100 && r.status < 200)).toEqual([]);
    expect(
      toInvite.filter((r) => r.status < 200 && r.header('x-wazo-call-id') !== undefined),
    ).toEqual([]);
    const ok = toInvite.find((r) => r.status === 200)!;
    expect(ok.header('x-wazo-call-id')).toMatch(SERVER_CALL_ID);
    expect(callIdWhenAccepted).toBe(ok.header('x-wazo-call-id'));
    expect(outgoing.callId).toBe(callIdWhenAccepted);

    const ended = alice.next(PhoneEvent.ON_CALL_ENDED);
    await alice.confab.Phone.hangup(outgoing);
    await ended;
    // The desk phone got the BYE and answered it: its scenario completed.
    const result = await desks[0]!.done;
    expect(result.code, result.diagnostics).toBe(0);
    await serverIdle();
  });

  it('reject() answers 603 Decline; the caller gets 603 from the server, onCallRejected then onCallEnded', async () => {
    const { alice, bob, bobUser } = await pair();
    const { outgoing, incoming } = await ring(alice, bob, bobUser.extension);
    const aliceEnded = alice.next(PhoneEvent.ON_CALL_ENDED);
    await bob.confab.Phone.reject(incoming);
    await aliceEnded;

    expect(bob.wire.answered('INVITE', 603).map((m) => m.callId)).toEqual([incoming.sipCallId]);
    // RFC 3398: the decline reaches the caller as 603 (Q.850 cause 21, call rejected).
    expect(alice.wire.responses('INVITE', 603).map((m) => m.callId)).toEqual([outgoing.sipCallId]);
    expect(alice.names().slice(-2)).toEqual([
      PhoneEvent.ON_CALL_REJECTED,
      PhoneEvent.ON_CALL_ENDED,
    ]);
    expect(bob.names().slice(-1)).toEqual([PhoneEvent.ON_CALL_ENDED]);
    await serverIdle();
  });

  it('a caller hang-up while ringing sends CANCEL; the callee gets onCallCanceled(cs, false) then onCallEnded', async () => {
    const { alice, bob, bobUser } = await pair();
    const { outgoing, incoming } = await ring(alice, bob, bobUser.extension);
    const bobEnded = bob.next(PhoneEvent.ON_CALL_ENDED);
    const aliceEnded = alice.next(PhoneEvent.ON_CALL_ENDED);
    await alice.confab.Phone.hangup(outgoing);
    await Promise.all([bobEnded, aliceEnded]);

    expect(alice.wire.sent('CANCEL').map((m) => m.callId)).toEqual([outgoing.sipCallId]);
    expect(alice.wire.responses('INVITE', 487)).toHaveLength(1);
    expect(bob.wire.received('CANCEL').map((m) => m.callId)).toEqual([incoming.sipCallId]);
    const canceled = bob.events.find((e) => e.name === PhoneEvent.ON_CALL_CANCELED);
    expect(canceled?.args).toEqual([incoming, false]);
    expect(alice.names()).not.toContain(PhoneEvent.ON_CALL_REJECTED);
    expect(alice.names().at(-1)).toBe(PhoneEvent.ON_CALL_ENDED);
    await serverIdle();
  });

  it.each([
    { what: 'an unknown number', status: 404 },
    { what: 'a known number with no registered device', status: 480 },
  ])('reports a call to $what as rejected ($status) after call() resolved', async ({ status }) => {
    const { client: alice } = await person('Alice', ALICE_HZ);
    const number =
      status === 404 ? '4242' : (await confab.addUser({ firstname: 'Offline' })).extension;
    const ended = alice.next(PhoneEvent.ON_CALL_ENDED);
    const outgoing = await alice.confab.Phone.call(number);
    await ended;

    expect(alice.names().slice(-3)).toEqual([
      PhoneEvent.ON_CALL_OUTGOING,
      PhoneEvent.ON_CALL_REJECTED,
      PhoneEvent.ON_CALL_ENDED,
    ]);
    expect(alice.wire.responses('INVITE', status).map((m) => m.callId)).toEqual([
      outgoing.sipCallId,
    ]);
    expect(outgoing.isTerminated()).toBe(true);
  });

  it('fails the call when local media is refused: call() rejects PHONE_MEDIA_FAILED, onCallFailed then onCallEnded, no INVITE sent', async () => {
    const { client: alice } = await person('Alice', ALICE_HZ, { refuseMedia: true });
    const bob = await confab.addUser({ firstname: 'Bob' });
    const error = await rejection(alice.confab.Phone.call(bob.extension));

    expect(error).toMatchObject({ code: PhoneErrorCode.MediaFailed });
    await waitFor('call ended', () => alice.names().includes(PhoneEvent.ON_CALL_ENDED));
    expect(alice.names().slice(-3)).toEqual([
      PhoneEvent.ON_CALL_OUTGOING,
      PhoneEvent.ON_CALL_FAILED,
      PhoneEvent.ON_CALL_ENDED,
    ]);
    const failed = alice.events.find((e) => e.name === PhoneEvent.ON_CALL_FAILED)!;
    expect((failed.args[1] as PhoneError).code).toBe(PhoneErrorCode.MediaFailed);
    expect(alice.wire.sent('INVITE')).toEqual([]);
    expect(alice.confab.Phone.isRegistered()).toBe(true);
  });

  it('a callee that answers but refuses the audio stream (m-line port 0): the caller gets 488, onCallRejected then onCallEnded, never a 2xx', async () => {
    const { client: alice } = await person('Alice', ALICE_HZ);
    const desk = await confab.addUser({ firstname: 'Desk', webrtc: false });
    desks.push(
      await startDeskPhone(desk, confab.sipPort, supportScenario('uas-answer-audio-refused.xml')),
    );

    const ended = alice.next(PhoneEvent.ON_CALL_ENDED);
    const outgoing = await alice.confab.Phone.call(desk.extension);
    await ended;

    // The server cannot bridge a call without audio: it turns the callee's answer into 488 for
    // the caller (RFC 3261 §21.4.26) and ends the callee's dialog with BYE.
    const finals = alice.wire
      .responses('INVITE')
      .filter((r) => r.status >= 200 && r.status !== 401);
    expect(finals.map((r) => [r.status, r.callId])).toEqual([[488, outgoing.sipCallId]]);
    expect(alice.names().slice(-2)).toEqual([
      PhoneEvent.ON_CALL_REJECTED,
      PhoneEvent.ON_CALL_ENDED,
    ]);
    expect(alice.names()).not.toContain(PhoneEvent.ON_CALL_ACCEPTED);
    expect(alice.names()).not.toContain(PhoneEvent.ON_AUDIO_STREAM);
    expect(outgoing.isTerminated()).toBe(true);
    expect(alice.confab.Phone.getCallSessions()).toEqual([]);
    // The desk phone got the BYE and answered it: its scenario completed.
    const result = await desks[0]!.done;
    expect(result.code, result.diagnostics).toBe(0);
    await serverIdle();
  });

  it('disconnect() hangs up calls in progress before unregistering', async () => {
    const { alice, bob, bobUser, aliceUser } = await pair();
    const { incoming } = await ring(alice, bob, bobUser.extension);
    const established = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    await bob.confab.Phone.accept(incoming);
    await established;

    const bobEnded = bob.next(PhoneEvent.ON_CALL_ENDED);
    await alice.confab.Phone.disconnect();
    await bobEnded;
    expect(alice.names().slice(-2)).toEqual([PhoneEvent.ON_CALL_ENDED, PhoneEvent.ON_UNREGISTERED]);
    const bye = alice.wire.messages.findIndex((m) => m.direction === 'out' && m.method === 'BYE');
    const unregister = alice.wire.messages.findLastIndex(
      (m) => m.direction === 'out' && m.method === 'REGISTER' && m.status === 0,
    );
    expect(bye).toBeGreaterThan(-1);
    expect(unregister).toBeGreaterThan(bye);
    expect(await confab.isRegistered(aliceUser.extension)).toBe(false);
    await serverIdle();
  });

  /**
   * A WebSocket flow cannot be re-opened by the server (RFC 7118 §5): when it closes, the calls
   * on it end with it (RFC 5626 §5.2 for the registration, the same reasoning for the calls).
   */
  describe('callee connection lost', () => {
    /** Resolves true if `promise` settles within `ms`. */
    const within = (promise: Promise<unknown>, ms: number): Promise<boolean> =>
      Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);

    it('a callee whose SIP WebSocket drops while ringing makes the call fail for the caller at once (not at the 60 s ring timeout)', async () => {
      const { alice, bob, bobUser } = await pair();
      const { outgoing } = await ring(alice, bob, bobUser.extension);
      const ended = alice.next(PhoneEvent.ON_CALL_ENDED);
      bob.wire.sockets[0]!.drop();
      try {
        expect(await within(ended, 5000)).toBe(true);
        expect(
          alice.wire.responses('INVITE').some((r) => r.status >= 400 && r.status !== 401),
        ).toBe(true);
      } finally {
        await alice.confab.Phone.hangup(outgoing);
      }
    });

    it('a callee whose SIP WebSocket drops during the call makes the server hang up the caller with BYE', async () => {
      const { alice, bob, bobUser } = await pair();
      const { outgoing, incoming } = await ring(alice, bob, bobUser.extension);
      const established = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
      await bob.confab.Phone.accept(incoming);
      await established;
      const ended = alice.next(PhoneEvent.ON_CALL_ENDED);
      bob.wire.sockets[0]!.drop();
      try {
        expect(await within(ended, 5000)).toBe(true);
        expect(alice.wire.received('BYE').map((m) => m.callId)).toEqual([outgoing.sipCallId]);
      } finally {
        await alice.confab.Phone.hangup(outgoing);
      }
    });
  });

  describe('guards', () => {
    it('accept() of an unknown CallSession rejects PHONE_CALL_NOT_FOUND; hangup() of it resolves false', async () => {
      const { client: alice } = await person('Alice', ALICE_HZ);
      const stranger = new alice.confab.domain.CallSession({ sipCallId: 'nope' });
      expect(await rejection(alice.confab.Phone.accept(stranger))).toMatchObject({
        code: PhoneErrorCode.CallNotFound,
      });
      expect(await alice.confab.Phone.hangup(stranger)).toBe(false);
    });

    it('accept() of our own outgoing call is an InvalidStateError', async () => {
      const { alice, bob, bobUser } = await pair();
      const { outgoing } = await ring(alice, bob, bobUser.extension);
      expect(await rejection(alice.confab.Phone.accept(outgoing))).toMatchObject({
        code: 'INVALID_STATE',
      });
    });
  });
});
