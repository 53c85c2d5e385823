/**
 * Mid-call controls of the SDK (Node clients on ws + @roamhq/wrtc) against a real, in-process
 * Confab server: hold/resume by re-INVITE with the audio stopping and coming back (Goertzel on
 * the received tones), mute (local track silenced, calld request made), DTMF as RFC 4733 events
 * that the server's media engine decodes, auto-hold when a second call is placed, and a blind
 * transfer to an unknown number refused (REFER → 404) without harming the call (successful
 * transfers: sdk-transfer.test.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PhoneErrorCode, PhoneEvent, type CallSession, type PhoneError } from '@confab/sdk';
import type { Telephony } from '@confab/server';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { hearsTone } from '../support/goertzel.js';
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
const ALL_HZ = [ALICE_HZ, BOB_HZ, CAROL_HZ];

describe('SDK mid-call controls through a real Confab server', () => {
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

  function telephony(): Telephony {
    return confab.server.telephony as unknown as Telephony;
  }

  /** The server's channel of the SIP dialog `sipCallId`. */
  function serverChannel(sipCallId: string) {
    const channel = [...telephony().callControl.channels.values()].find(
      (c) => c.sipCallId === sipCallId,
    );
    if (channel === undefined) {
      throw new Error(`no server channel for ${sipCallId}`);
    }
    return channel;
  }

  async function person(
    firstname: string,
    frequency: number,
  ): Promise<{ user: TestLineUser; client: SdkClient }> {
    const user = await confab.addUser({ firstname, lastname: 'Control' });
    const client = createSdkClient({ frequency, origin: confab.origin });
    clients.push(client);
    await client.logIn(user);
    return { user, client };
  }

  /** An established call from `caller` to `callee`, with a recorder on each side's remote audio. */
  async function connect(
    caller: SdkClient,
    callee: SdkClient,
    number: string,
  ): Promise<{
    outgoing: CallSession;
    incoming: CallSession;
    atCaller: ToneSink;
    atCallee: ToneSink;
  }> {
    const callerStream = caller.next(PhoneEvent.ON_AUDIO_STREAM);
    const { outgoing, incoming } = await ring(caller, callee, number);
    const accepted = caller.next(PhoneEvent.ON_CALL_ACCEPTED);
    const calleeStream = callee.next(PhoneEvent.ON_AUDIO_STREAM);
    await callee.confab.Phone.accept(incoming);
    await accepted;
    const atCaller = createToneSink((await callerStream)[0].getAudioTracks()[0]!);
    const atCallee = createToneSink((await calleeStream)[0].getAudioTracks()[0]!);
    sinks.push(atCaller, atCallee);
    await waitFor('audio at both ends', () => atCaller.frames > 50 && atCallee.frames > 50, 15_000);
    return { outgoing, incoming, atCaller, atCallee };
  }

  /**
   * Whether `sink` hears `frequency` over a 1.5 s window, after 0.7 s for the audio already in
   * flight (jitter buffers at the server and the receiver) to drain; measured again (up to 10 s)
   * while the answer is not yet the `expected` one, i.e. while a change is still on its way.
   */
  async function hears(sink: ToneSink, frequency: number, expected = true): Promise<boolean> {
    const [report] = await listenUntil(
      [sink],
      ALL_HZ,
      ([r]) => hearsTone(r!, frequency) === expected,
    );
    if (process.env['DEBUG_TONES'] !== undefined) {
      console.log(frequency, JSON.stringify(report), sink.frames);
    }
    return hearsTone(report!, frequency);
  }

  it('hold() sends a sendonly re-INVITE, the server marks the channel held and audio stops both ways; resume() brings it back', async () => {
    const { client: alice } = await person('Alice', ALICE_HZ);
    const { client: bob, user: bobUser } = await person('Bob', BOB_HZ);
    const { outgoing, atCaller, atCallee } = await connect(alice, bob, bobUser.extension);
    expect(await hears(atCallee, ALICE_HZ)).toBe(true);

    const held = alice.next(PhoneEvent.ON_CALL_HELD);
    expect(await alice.confab.Phone.hold(outgoing)).toBe(true);
    expect(await held).toEqual([outgoing]);
    expect(outgoing.isOnHold()).toBe(true);
    const invites = alice.wire.sent('INVITE').filter((m) => m.callId === outgoing.sipCallId);
    expect(invites.at(-1)!.text).toMatch(/^a=sendonly\r?$/m);
    expect(invites.filter((m) => /^a=sendonly\r?$/m.test(m.text))).toHaveLength(1);
    expect(serverChannel(outgoing.sipCallId).onHold).toBe(true);
    // Audio stops both ways: our microphone is silenced, and the server sends us nothing.
    expect(await hears(atCallee, ALICE_HZ, false)).toBe(false);
    expect(await hears(atCaller, BOB_HZ, false)).toBe(false);
    // A second hold is a no-op.
    expect(await alice.confab.Phone.hold(outgoing)).toBe(false);

    const resumed = alice.next(PhoneEvent.ON_CALL_RESUMED);
    const unheld = alice.next(PhoneEvent.ON_CALL_UNHELD);
    expect(await alice.confab.Phone.resume(outgoing)).toBe(true);
    expect(await resumed).toEqual([outgoing]);
    expect(await unheld).toEqual([outgoing]);
    expect(outgoing.isOnHold()).toBe(false);
    expect(alice.wire.sent('INVITE').at(-1)!.text).toMatch(/^a=sendrecv\r?$/m);
    expect(serverChannel(outgoing.sipCallId).onHold).toBe(false);
    expect(await hears(atCallee, ALICE_HZ)).toBe(true);
    expect(await hears(atCaller, BOB_HZ)).toBe(true);
    expect(await alice.confab.Phone.resume(outgoing)).toBe(false);
    expect(alice.names()).not.toContain(PhoneEvent.ON_CALL_FAILED);
  });

  it('mute() silences the local audio only, asks calld with the server call id, unmute() restores it', async () => {
    const { client: alice } = await person('Alice', ALICE_HZ);
    const { client: bob, user: bobUser } = await person('Bob', BOB_HZ);
    const { outgoing, atCaller, atCallee } = await connect(alice, bob, bobUser.extension);

    const muted = alice.next(PhoneEvent.ON_CALL_MUTED);
    alice.confab.Phone.mute(outgoing);
    expect(await muted).toEqual([outgoing]);
    expect(outgoing.isMuted()).toBe(true);
    expect(await hears(atCallee, ALICE_HZ, false)).toBe(false);
    // Muting is one-way: alice still hears bob.
    expect(await hears(atCaller, BOB_HZ)).toBe(true);
    const path = `/api/calld/1.0/users/me/calls/${encodeURIComponent(outgoing.callId)}/mute/start`;
    await waitFor('the calld mute request', () =>
      alice.http.some((x) => x.method === 'PUT' && x.path === path && x.status !== 0),
    );
    expect(alice.http.find((x) => x.path === path)!.status).toBe(204);
    expect(serverChannel(outgoing.sipCallId).muted).toBe(true);

    const unmuted = alice.next(PhoneEvent.ON_CALL_UNMUTED);
    alice.confab.Phone.unmute(outgoing);
    expect(await unmuted).toEqual([outgoing]);
    expect(outgoing.isMuted()).toBe(false);
    expect(await hears(atCallee, ALICE_HZ)).toBe(true);
    expect(alice.http.some((x) => x.method === 'PUT' && x.path.endsWith('/mute/stop'))).toBe(true);
    expect(serverChannel(outgoing.sipCallId).muted).toBe(false);
  });

  it('sendDTMF(tone, callSession) without an RTCDTMFSender (wrtc) falls back to SIP INFO dtmf-relay, which the server decodes', async () => {
    const { client: alice } = await person('Alice', ALICE_HZ);
    const { client: bob, user: bobUser } = await person('Bob', BOB_HZ);
    const { outgoing } = await connect(alice, bob, bobUser.extension);
    const digits: string[] = [];
    serverChannel(outgoing.sipCallId).on('dtmf', (digit) => digits.push(digit));

    // wrtc has no RTCDTMFSender; the RFC 4733 path is exercised in Chromium (tests/e2e).
    expect(await alice.confab.Phone.sendDTMF('1', outgoing)).toBe('info');
    expect(await alice.confab.Phone.sendDTMF('9#', outgoing)).toBe('info');
    await waitFor('three digits at the server', () => digits.length >= 3);
    expect(digits).toEqual(['1', '9', '#']);
    const infos = alice.wire.sent('INFO');
    expect(infos.map((m) => m.callId)).toEqual(Array(3).fill(outgoing.sipCallId));
    expect(infos[0]!.header('content-type')).toBe('application/dtmf-relay');
    expect(infos[0]!.text).toMatch(/\r\n\r\nSignal=1\r\nDuration=100$/);
    expect(alice.wire.responses('INFO', 200)).toHaveLength(3);
    await expect(alice.confab.Phone.sendDTMF('x', outgoing)).rejects.toThrow(TypeError);
    await expect(alice.confab.Phone.sendDTMF('', outgoing)).rejects.toThrow(TypeError);
  });

  it('placing a second call holds the first one; resuming the first holds the second', async () => {
    const { client: alice } = await person('Alice', ALICE_HZ);
    const { client: bob, user: bobUser } = await person('Bob', BOB_HZ);
    const { client: carol, user: carolUser } = await person('Carol', CAROL_HZ);
    const first = await connect(alice, bob, bobUser.extension);

    const held = alice.next(PhoneEvent.ON_CALL_HELD);
    const second = await connect(alice, carol, carolUser.extension);
    expect(await held).toEqual([first.outgoing]);
    expect(first.outgoing.isOnHold()).toBe(true);
    expect(serverChannel(first.outgoing.sipCallId).onHold).toBe(true);
    expect(alice.confab.Phone.getCurrentCallSession()).toBe(second.outgoing);
    // Bob no longer hears alice; carol does.
    expect(await hears(first.atCallee, ALICE_HZ, false)).toBe(false);
    expect(await hears(second.atCallee, ALICE_HZ)).toBe(true);

    const secondHeld = alice.next(PhoneEvent.ON_CALL_HELD);
    expect(await alice.confab.Phone.resume(first.outgoing)).toBe(true);
    expect(await secondHeld).toEqual([second.outgoing]);
    expect(second.outgoing.isOnHold()).toBe(true);
    expect(first.outgoing.isOnHold()).toBe(false);
    expect(alice.confab.Phone.getCurrentCallSession()).toBe(first.outgoing);
    expect(await hears(first.atCallee, ALICE_HZ)).toBe(true);
    expect(await hears(second.atCallee, ALICE_HZ, false)).toBe(false);
  });

  it('transfer() to an unknown number sends a REFER that the server refuses (404); the call goes on', async () => {
    const { client: alice } = await person('Alice', ALICE_HZ);
    const { client: bob, user: bobUser } = await person('Bob', BOB_HZ);
    const { outgoing, atCallee } = await connect(alice, bob, bobUser.extension);

    const error = (await rejection(alice.confab.Phone.transfer(outgoing, '1999'))) as PhoneError;
    expect(error.code).toBe(PhoneErrorCode.CallFailed);
    // No line has extension 1999: the REFER is refused before anything changes.
    expect(error.status).toBe(404);
    const refer = alice.wire.sent('REFER');
    expect(refer).toHaveLength(1);
    expect(refer[0]!.header('refer-to')).toMatch(/^<?sip:1999@/);
    expect(outgoing.isEstablished()).toBe(true);
    expect(await hears(atCallee, ALICE_HZ)).toBe(true);
  });

  it('accepting a second incoming call holds the established one', async () => {
    const { client: alice, user: aliceUser } = await person('Alice', ALICE_HZ);
    const { client: bob, user: bobUser } = await person('Bob', BOB_HZ);
    const { client: carol } = await person('Carol', CAROL_HZ);
    const first = await connect(alice, bob, bobUser.extension);

    const { incoming } = await ring(carol, alice, aliceUser.extension);
    // Ringing alone holds nothing.
    expect(first.outgoing.isOnHold()).toBe(false);
    const held = alice.next(PhoneEvent.ON_CALL_HELD);
    const accepted = carol.next(PhoneEvent.ON_CALL_ACCEPTED);
    await alice.confab.Phone.accept(incoming);
    expect(await held).toEqual([first.outgoing]);
    await accepted;
    expect(first.outgoing.isOnHold()).toBe(true);
    expect(alice.confab.Phone.getCurrentCallSession()).toBe(incoming);
    expect(await hears(first.atCallee, ALICE_HZ, false)).toBe(false);
  });

  it('connect({ audio, video }) as the seeds write it sets the media constraints of calls', async () => {
    const user = await confab.addUser({ firstname: 'Seed', lastname: 'Control' });
    const { user: bobUser } = await person('Bob', BOB_HZ);
    const client = createSdkClient({ frequency: ALICE_HZ, origin: confab.origin });
    clients.push(client);
    const asked: MediaStreamConstraints[] = [];
    await client.confab.Auth.logIn(user.username, user.password);
    await client.confab.Phone.connect({
      audio: { echoCancellation: false },
      video: true,
      iceGatheringTimeout: 1000,
      platform: {
        getUserMedia: (constraints) => {
          asked.push(constraints);
          return Promise.resolve(client.tone.createStream());
        },
      },
    });
    await client.confab.Phone.call(bobUser.extension);
    // Video is only asked for calls placed with video.
    expect(asked).toEqual([{ audio: { echoCancellation: false }, video: false }]);
  });

  describe('guards', () => {
    it('hold, mute and DTMF need an established call of this phone', async () => {
      const { client: alice } = await person('Alice', ALICE_HZ);
      const { client: bob, user: bobUser } = await person('Bob', BOB_HZ);
      const { outgoing, incoming } = await ring(alice, bob, bobUser.extension);
      await expect(alice.confab.Phone.hold(outgoing)).rejects.toMatchObject({
        code: 'INVALID_STATE',
      });
      await expect(bob.confab.Phone.sendDTMF('1', incoming)).rejects.toMatchObject({
        code: 'INVALID_STATE',
      });
      // Another phone's call is unknown here.
      let thrown: unknown;
      try {
        alice.confab.Phone.mute(incoming);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({ code: PhoneErrorCode.CallNotFound });
      await expect(alice.confab.Phone.transfer(outgoing, ' ')).rejects.toThrow(TypeError);
    });

    it('hold or resume while a hold re-INVITE is in flight is refused (RFC 3261 §14.1); the first one completes', async () => {
      const { client: alice } = await person('Alice', ALICE_HZ);
      const { client: bob, user: bobUser } = await person('Bob', BOB_HZ);
      const { outgoing } = await connect(alice, bob, bobUser.extension);
      const first = alice.confab.Phone.hold(outgoing);
      await expect(alice.confab.Phone.resume(outgoing)).rejects.toMatchObject({
        code: 'INVALID_STATE',
      });
      await expect(alice.confab.Phone.hold(outgoing)).rejects.toMatchObject({
        code: 'INVALID_STATE',
      });
      expect(await first).toBe(true);
      expect(outgoing.isOnHold()).toBe(true);
    });

    it('a hold in flight when the call is hung up settles (accepted first, or refused as the call ended)', async () => {
      const { client: alice } = await person('Alice', ALICE_HZ);
      const { client: bob, user: bobUser } = await person('Bob', BOB_HZ);
      const { outgoing } = await connect(alice, bob, bobUser.extension);
      const ended = alice.next(PhoneEvent.ON_CALL_ENDED);
      const hold = alice.confab.Phone.hold(outgoing).then(
        (changed) => ({ changed }),
        (error: unknown) => ({ error }),
      );
      await alice.confab.Phone.hangup(outgoing);
      await ended;
      const outcome = await hold;
      if ('error' in outcome) {
        expect(outcome.error).toMatchObject({ code: 'INVALID_STATE' });
      } else {
        expect(outcome.changed).toBe(true);
      }
    });
  });
});
