/**
 * Phone against a stand-in registrar/relay (tests/support/sip-hub.ts) over in-memory WebSockets,
 * with real WebRTC media from @roamhq/wrtc: two users register, call each other and hear each
 * other's tone. The real-server versions of these scenarios live in tests/integration and
 * tests/e2e.
 */
import { afterEach, describe, expect, it } from 'vitest';
import wrtc from '@roamhq/wrtc';
import { createConfab, type Confab } from '../src/confab.js';
import type { CallSession } from '../src/domain/call-session.js';
import { PhoneErrorCode, type PhoneError } from '../src/errors.js';
import { PhoneEvent, type PhoneEventName } from '../src/phone/events.js';
import { PhoneState } from '../src/phone/phone.js';
import {
  DEMO_USERS,
  FakeDirectory,
  fakeFetch,
  hubAccounts,
  type FakeUser,
} from '../../../tests/support/fake-confab.js';
import {
  createToneSink,
  createToneSource,
  sleep,
  waitFor,
  type ToneSource,
} from '../../../tests/support/node-phone.js';
import { hearsTone } from '../../../tests/support/goertzel.js';
import { MemorySocket, SipHub, type SipHubOptions } from '../../../tests/support/sip-hub.js';

const ALICE_HZ = 500;
const BOB_HZ = 1300;

interface Recorded {
  name: PhoneEventName;
  args: unknown[];
}

interface Client {
  confab: Confab;
  tone: ToneSource;
  sockets: MemorySocket[];
  events: Recorded[];
  names(): PhoneEventName[];
  next(name: PhoneEventName): Promise<unknown[]>;
}

function world(users: readonly FakeUser[] = DEMO_USERS, hubOptions: SipHubOptions = {}) {
  const hub = new SipHub(hubAccounts(users), hubOptions);
  const directory = new FakeDirectory(users);
  const clients: Client[] = [];
  const make = (frequency: number, media: { fail?: boolean } = {}): Client => {
    const tone = createToneSource(frequency);
    const sockets: MemorySocket[] = [];
    const confab = createConfab({
      platform: {
        fetch: fakeFetch(directory),
        createWebSocket: (url, protocols) => {
          const socket = new MemorySocket(hub, url, protocols);
          sockets.push(socket);
          return socket;
        },
        RTCPeerConnection: wrtc.RTCPeerConnection,
        MediaStream: wrtc.MediaStream,
        getUserMedia: () =>
          media.fail === true
            ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
            : Promise.resolve(tone.createStream()),
        remoteAudio: undefined,
      },
    });
    confab.Auth.setHost('http://127.0.0.1:8080');
    const events: Recorded[] = [];
    for (const name of Object.values(PhoneEvent)) {
      confab.Phone.on(name, (...args: unknown[]) => events.push({ name, args }));
    }
    const client: Client = {
      confab,
      tone,
      sockets,
      events,
      names: () => events.map((e) => e.name),
      next: (name) =>
        new Promise((resolve) => confab.Phone.once(name, (...args: unknown[]) => resolve(args))),
    };
    clients.push(client);
    return client;
  };
  const login = async (client: Client, username: string): Promise<Client> => {
    const user = users.find((u) => u.username === username)!;
    await client.confab.Auth.logIn(user.username, user.password);
    await client.confab.Phone.connect({ iceGatheringTimeout: 1000 });
    return client;
  };
  const teardown = async (): Promise<void> => {
    for (const client of clients) {
      await client.confab.Phone.disconnect();
      client.tone.stop();
    }
  };
  return { hub, directory, make, login, teardown };
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

function setup(users?: readonly FakeUser[], hubOptions?: SipHubOptions) {
  const w = world(users, hubOptions);
  cleanup = w.teardown;
  return w;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Alice calls Bob; resolves once Bob saw the INVITE. */
async function ring(
  alice: Client,
  bob: Client,
): Promise<{ outgoing: CallSession; incoming: CallSession }> {
  const incoming = bob.next(PhoneEvent.ON_CALL_INCOMING);
  const outgoing = await alice.confab.Phone.call('1002');
  const [callSession] = await incoming;
  return { outgoing, incoming: callSession as CallSession };
}

describe('Phone.connect', () => {
  it('rejects with PHONE_NOT_AUTHENTICATED before Auth.logIn()', async () => {
    const w = setup();
    const alice = w.make(ALICE_HZ);
    expect(await rejection(alice.confab.Phone.connect())).toMatchObject({
      code: PhoneErrorCode.NotAuthenticated,
    });
    expect(alice.confab.Phone.state).toBe(PhoneState.Disconnected);
  });

  it('registers the WebRTC line with digest auth over /api/asterisk/ws?userUuid and resolves after the 200', async () => {
    const w = setup();
    const alice = w.make(ALICE_HZ);
    await w.login(alice, 'alice');
    expect(alice.confab.Phone.isRegistered()).toBe(true);
    expect(w.hub.isRegistered('alicesip')).toBe(true);
    expect(alice.names()).toEqual([PhoneEvent.ON_REGISTERED]);
    expect(alice.sockets[0]!.url).toBe(
      `ws://127.0.0.1:8080/api/asterisk/ws?userUuid=${w.directory.uuidOf('alice')}`,
    );
    const registers = w.hub.trace.filter((e) => e.startLine.startsWith('REGISTER'));
    expect(registers).toHaveLength(2); // unauthenticated, then with credentials after the 401
    expect(registers[1]!.text).toMatch(/^Authorization: Digest .*username="alicesip"/m);
    expect(registers[1]!.text).toMatch(/^User-Agent: confab-sdk$/m);
    expect(registers[1]!.text).toMatch(/^To: .*<sip:alicesip@127\.0\.0\.1>/m);
  });

  it('keeps listeners registered before connect() (@wazo/sdk drops them)', async () => {
    const w = setup();
    const alice = w.make(ALICE_HZ);
    let registered = 0;
    alice.confab.Phone.on(alice.confab.Phone.ON_REGISTERED, () => registered++);
    await w.login(alice, 'alice');
    expect(registered).toBe(1);
  });

  it('rejects with PHONE_REGISTRATION_FAILED and status 403 when the SIP secret is wrong', async () => {
    const users = DEMO_USERS.map((u) => ({ ...u }));
    const w = setup(users);
    // The directory hands out a secret the registrar does not accept.
    const hubUsers = hubAccounts(DEMO_USERS).map((a) => ({ ...a, password: 'other' }));
    const hub = new SipHub(hubUsers);
    const alice = w.make(ALICE_HZ);
    alice.confab.configure({
      platform: {
        fetch: fakeFetch(w.directory),
        createWebSocket: (url, protocols) => new MemorySocket(hub, url, protocols),
        RTCPeerConnection: wrtc.RTCPeerConnection,
        MediaStream: wrtc.MediaStream,
        remoteAudio: undefined,
      },
    });
    await alice.confab.Auth.logIn('alice', 'alice-password');
    const error = await rejection(alice.confab.Phone.connect());
    expect(error).toMatchObject({ code: PhoneErrorCode.RegistrationFailed, status: 403 });
    expect(alice.confab.Phone.state).toBe(PhoneState.Disconnected);
    expect(alice.names()).not.toContain(PhoneEvent.ON_REGISTERED);
  });

  it('rejects with PHONE_NO_WEBRTC_LINE when no line is flagged webrtc', async () => {
    const w = setup([{ ...DEMO_USERS[0]!, webrtc: false }]);
    const alice = w.make(ALICE_HZ);
    await alice.confab.Auth.logIn('alice', 'alice-password');
    expect(await rejection(alice.confab.Phone.connect())).toMatchObject({
      code: PhoneErrorCode.NoWebRtcLine,
    });
  });

  it('shares one registration between concurrent connect() calls', async () => {
    const w = setup();
    const alice = w.make(ALICE_HZ);
    await alice.confab.Auth.logIn('alice', 'alice-password');
    await Promise.all([alice.confab.Phone.connect(), alice.confab.Phone.connect()]);
    expect(alice.sockets).toHaveLength(1);
    expect(alice.names()).toEqual([PhoneEvent.ON_REGISTERED]);
  });

  it('goes Unregistered and emits onUnRegistered when the SIP WebSocket drops; connect() registers again', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    alice.sockets[0]!.drop();
    await waitFor('unregistered', () => alice.confab.Phone.state === PhoneState.Unregistered);
    expect(alice.names()).toEqual([PhoneEvent.ON_REGISTERED, PhoneEvent.ON_UNREGISTERED]);
    await alice.confab.Phone.connect();
    expect(alice.confab.Phone.isRegistered()).toBe(true);
    expect(w.hub.isRegistered('alicesip')).toBe(true);
  });
});

describe('Phone.disconnect', () => {
  it('unregisters (REGISTER Expires 0), emits onUnRegistered once, and is idempotent', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    await alice.confab.Phone.disconnect();
    await alice.confab.Phone.disconnect();
    expect(w.hub.isRegistered('alicesip')).toBe(false);
    expect(alice.confab.Phone.state).toBe(PhoneState.Disconnected);
    expect(alice.names()).toEqual([PhoneEvent.ON_REGISTERED, PhoneEvent.ON_UNREGISTERED]);
  });

  it('a connect() issued during disconnect() waits for it, then registers again', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const leaving = alice.confab.Phone.disconnect();
    const back = alice.confab.Phone.connect();
    await Promise.all([leaving, back]);
    expect(alice.confab.Phone.isRegistered()).toBe(true);
    expect(w.hub.isRegistered('alicesip')).toBe(true);
    expect(alice.names()).toEqual([
      PhoneEvent.ON_REGISTERED,
      PhoneEvent.ON_UNREGISTERED,
      PhoneEvent.ON_REGISTERED,
    ]);
  });

  it('aborts a connect() in progress with PHONE_ABORTED', async () => {
    const w = setup();
    const alice = w.make(ALICE_HZ);
    await alice.confab.Auth.logIn('alice', 'alice-password');
    const connecting = rejection(alice.confab.Phone.connect());
    await alice.confab.Phone.disconnect();
    expect(await connecting).toMatchObject({ code: PhoneErrorCode.Aborted });
    expect(alice.confab.Phone.state).toBe(PhoneState.Disconnected);
  });
});

describe('calls between two registered phones', () => {
  it('delivers the call to the callee with its number, server call id and no video', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const bob = await w.login(w.make(BOB_HZ), 'bob');
    const incomingEvent = bob.next(PhoneEvent.ON_CALL_INCOMING);
    const outgoing = await alice.confab.Phone.call('1002');
    const [incoming, wantsVideo] = (await incomingEvent) as [CallSession, boolean];

    expect(outgoing).toMatchObject({ isCaller: true, number: '1002', ringing: true });
    expect(outgoing.sipCallId).not.toBe('');
    expect(alice.names()).toContain(PhoneEvent.ON_CALL_OUTGOING);
    expect(incoming).toMatchObject({
      isCaller: false,
      number: '1001',
      displayName: 'Alice Liddell',
      ringing: true,
    });
    expect(incoming.callId).toMatch(/^\d+\.\d+$/);
    expect(wantsVideo).toBe(false);
    expect(bob.confab.Phone.getCallSessions()).toEqual([incoming]);
  });

  it('connects both ways: accepted events, server call ids from 18x/2xx, and each side hears the other tone', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const bob = await w.login(w.make(BOB_HZ), 'bob');
    const aliceStream = alice.next(PhoneEvent.ON_AUDIO_STREAM);
    const { outgoing, incoming } = await ring(alice, bob);
    await waitFor('progress at the caller', () => alice.names().includes(PhoneEvent.ON_PROGRESS));
    const aliceAccepted = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    const bobStream = bob.next(PhoneEvent.ON_AUDIO_STREAM);
    const sipCallId = await bob.confab.Phone.accept(incoming);
    expect(sipCallId).toBe(incoming.sipCallId);
    const [acceptedCall, camera] = await aliceAccepted;
    expect(acceptedCall).toBe(outgoing);
    expect(camera).toBe(false);
    expect(outgoing.callId).toMatch(/^\d+\.\d+$/);
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

    const [aliceRemote] = (await aliceStream) as [MediaStream];
    const [bobRemote] = (await bobStream) as [MediaStream];
    expect(alice.confab.Phone.getRemoteStream(outgoing)).toBe(aliceRemote);
    const atAlice = createToneSink(aliceRemote.getAudioTracks()[0]!);
    const atBob = createToneSink(bobRemote.getAudioTracks()[0]!);
    try {
      await waitFor('audio frames', () => atAlice.frames > 50 && atBob.frames > 50);
      atAlice.reset();
      atBob.reset();
      await sleep(1200);
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
  });

  it('sets callId from the X-Wazo-Call-ID of the 200 OK before emitting onCallAccepted', async () => {
    const w = setup(undefined, { callIdOnProvisional: false });
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const bob = await w.login(w.make(BOB_HZ), 'bob');
    const { outgoing, incoming } = await ring(alice, bob);
    await waitFor('progress at the caller', () => alice.names().includes(PhoneEvent.ON_PROGRESS));
    expect(outgoing.callId).toBe('');
    let callIdWhenAccepted: string | undefined;
    alice.confab.Phone.on(PhoneEvent.ON_CALL_ACCEPTED, (callSession) => {
      callIdWhenAccepted = callSession.callId;
    });
    const accepted = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    await bob.confab.Phone.accept(incoming);
    await accepted;
    expect(callIdWhenAccepted).toMatch(/^\d+\.\d+$/);
  });

  it('ends the call on both sides when the caller hangs up (BYE), each with onCallEnded(wasCurrent)', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const bob = await w.login(w.make(BOB_HZ), 'bob');
    const { outgoing, incoming } = await ring(alice, bob);
    const established = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    await bob.confab.Phone.accept(incoming);
    await established;
    const bobEnded = bob.next(PhoneEvent.ON_CALL_ENDED);
    const aliceEnded = alice.next(PhoneEvent.ON_CALL_ENDED);
    expect(await alice.confab.Phone.hangup(outgoing)).toBe(true);
    expect(await aliceEnded).toEqual([outgoing, true]);
    expect(await bobEnded).toEqual([incoming, true]);
    expect(
      w.hub.trace.some((e) => e.startLine.startsWith('BYE ') && e.callId === outgoing.sipCallId),
    ).toBe(true);
    expect(outgoing.endTime).not.toBeNull();
    expect(incoming.isTerminated()).toBe(true);
    for (const client of [alice, bob]) {
      expect(client.names()).not.toContain(PhoneEvent.ON_CALL_REJECTED);
      expect(client.names()).not.toContain(PhoneEvent.ON_CALL_FAILED);
      expect(client.names()).not.toContain(PhoneEvent.ON_CALL_CANCELED);
      expect(client.names().at(-1)).toBe(PhoneEvent.ON_CALL_ENDED);
    }
    expect(await alice.confab.Phone.hangup(outgoing)).toBe(false);
    expect(alice.confab.Phone.getCallSessions()).toEqual([]);
  });

  it('reject() answers 603 Decline; the caller gets onCallRejected then onCallEnded', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const bob = await w.login(w.make(BOB_HZ), 'bob');
    const { outgoing, incoming } = await ring(alice, bob);
    const aliceEnded = alice.next(PhoneEvent.ON_CALL_ENDED);
    await bob.confab.Phone.reject(incoming);
    await aliceEnded;
    expect(
      w.hub.trace.some(
        (e) => e.startLine === 'SIP/2.0 603 Decline' && e.callId === outgoing.sipCallId,
      ),
    ).toBe(true);
    expect(alice.names().slice(-2)).toEqual([
      PhoneEvent.ON_CALL_REJECTED,
      PhoneEvent.ON_CALL_ENDED,
    ]);
    expect(bob.names().slice(-1)).toEqual([PhoneEvent.ON_CALL_ENDED]);
  });

  it('a caller hangup while ringing sends CANCEL; the callee gets onCallCanceled(cs, false) then onCallEnded', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const bob = await w.login(w.make(BOB_HZ), 'bob');
    const { outgoing, incoming } = await ring(alice, bob);
    const bobEnded = bob.next(PhoneEvent.ON_CALL_ENDED);
    const aliceEnded = alice.next(PhoneEvent.ON_CALL_ENDED);
    await alice.confab.Phone.hangup(outgoing);
    await Promise.all([bobEnded, aliceEnded]);
    expect(
      w.hub.trace.some((e) => e.startLine.startsWith('CANCEL ') && e.callId === outgoing.sipCallId),
    ).toBe(true);
    const canceled = bob.events.find((e) => e.name === PhoneEvent.ON_CALL_CANCELED);
    expect(canceled?.args).toEqual([incoming, false]);
    expect(alice.names()).not.toContain(PhoneEvent.ON_CALL_REJECTED);
  });

  it('reports a call to an unknown number as rejected (404) after call() resolved', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const ended = alice.next(PhoneEvent.ON_CALL_ENDED);
    const outgoing = await alice.confab.Phone.call('4242');
    await ended;
    expect(alice.names().slice(-3)).toEqual([
      PhoneEvent.ON_CALL_OUTGOING,
      PhoneEvent.ON_CALL_REJECTED,
      PhoneEvent.ON_CALL_ENDED,
    ]);
    expect(
      w.hub.trace.some(
        (e) => e.startLine === 'SIP/2.0 404 Not Found' && e.callId === outgoing.sipCallId,
      ),
    ).toBe(true);
  });

  it('fails the call when local media is refused: call() rejects PHONE_MEDIA_FAILED, onCallFailed then onCallEnded', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ, { fail: true }), 'alice');
    const error = await rejection(alice.confab.Phone.call('1002'));
    expect(error).toMatchObject({ code: PhoneErrorCode.MediaFailed });
    await waitFor('call ended', () => alice.names().includes(PhoneEvent.ON_CALL_ENDED));
    expect(alice.names().slice(-3)).toEqual([
      PhoneEvent.ON_CALL_OUTGOING,
      PhoneEvent.ON_CALL_FAILED,
      PhoneEvent.ON_CALL_ENDED,
    ]);
    const failed = alice.events.find((e) => e.name === PhoneEvent.ON_CALL_FAILED)!;
    expect((failed.args[1] as PhoneError).code).toBe(PhoneErrorCode.MediaFailed);
    expect(w.hub.trace.some((e) => e.startLine.startsWith('INVITE '))).toBe(false);
  });

  it('disconnect() hangs up calls in progress', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const bob = await w.login(w.make(BOB_HZ), 'bob');
    const { incoming } = await ring(alice, bob);
    const established = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    await bob.confab.Phone.accept(incoming);
    await established;
    const bobEnded = bob.next(PhoneEvent.ON_CALL_ENDED);
    await alice.confab.Phone.disconnect();
    await bobEnded;
    expect(alice.names().slice(-2)).toEqual([PhoneEvent.ON_CALL_ENDED, PhoneEvent.ON_UNREGISTERED]);
  });
});

describe('Phone call guards', () => {
  it('call() rejects with PHONE_NOT_CONNECTED before connect(), and TypeError for an empty number', async () => {
    const w = setup();
    const alice = w.make(ALICE_HZ);
    expect(await rejection(alice.confab.Phone.call('1002'))).toMatchObject({
      code: PhoneErrorCode.NotConnected,
    });
    await w.login(alice, 'alice');
    expect(await rejection(alice.confab.Phone.call('  '))).toBeInstanceOf(TypeError);
  });

  it('accept() of an unknown CallSession rejects PHONE_CALL_NOT_FOUND; hangup() resolves false', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const stranger = new alice.confab.domain.CallSession({ sipCallId: 'nope' });
    expect(await rejection(alice.confab.Phone.accept(stranger))).toMatchObject({
      code: PhoneErrorCode.CallNotFound,
    });
    expect(await alice.confab.Phone.hangup(stranger)).toBe(false);
  });

  it('accept() of our own outgoing call is an InvalidStateError', async () => {
    const w = setup();
    const alice = await w.login(w.make(ALICE_HZ), 'alice');
    const bob = await w.login(w.make(BOB_HZ), 'bob');
    const { outgoing } = await ring(alice, bob);
    expect(await rejection(alice.confab.Phone.accept(outgoing))).toMatchObject({
      code: 'INVALID_STATE',
    });
  });
});
