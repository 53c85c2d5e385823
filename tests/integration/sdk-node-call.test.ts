/**
 * Two Node clients built on the SDK (ws + @roamhq/wrtc) call each other through a real,
 * in-process Confab server: registration, INVITE routing through the B2BUA, answer, audio in
 * both directions through the server's media anchor (each side hears the other's tone and not
 * its own), and hang-up on both sides.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import wrtc from '@roamhq/wrtc';
import { PhoneEvent, type CallSession, type Confab, type PhoneEventName } from '@confab/sdk';
import { createNodeConfab } from '@confab/sdk/node';
import {
  serverExportsStartConfab,
  startTestConfab,
  type TestConfab,
} from '../support/confab-server.js';
import { hearsTone } from '../support/goertzel.js';
import {
  createToneSink,
  createToneSource,
  sleep,
  waitFor,
  type ToneSource,
} from '../support/node-phone.js';

const serverReady = await serverExportsStartConfab();

const ALICE_HZ = 500;
const BOB_HZ = 1300;

interface NodeClient {
  confab: Confab;
  tone: ToneSource;
  events: PhoneEventName[];
  next(name: PhoneEventName): Promise<unknown[]>;
}

function nodeClient(frequency: number): NodeClient {
  const tone = createToneSource(frequency);
  const confab = createNodeConfab({
    WebSocket,
    wrtc,
    getUserMedia: () => Promise.resolve(tone.createStream()),
  });
  const events: PhoneEventName[] = [];
  for (const name of Object.values(PhoneEvent)) {
    confab.Phone.on(name, () => events.push(name));
  }
  return {
    confab,
    tone,
    events,
    next: (name) =>
      new Promise((resolve) => confab.Phone.once(name, (...args: unknown[]) => resolve(args))),
  };
}

describe.skipIf(!serverReady)('SDK Node clients through a real Confab server', () => {
  let confab: TestConfab;
  let alice: NodeClient;
  let bob: NodeClient;

  beforeAll(async () => {
    confab = await startTestConfab();
    alice = nodeClient(ALICE_HZ);
    bob = nodeClient(BOB_HZ);
    for (const [client, user] of [
      [alice, confab.users[0]],
      [bob, confab.users[1]],
    ] as const) {
      client.confab.Auth.setHost(confab.origin);
      await client.confab.Auth.logIn(user.username, user.password);
      await client.confab.Phone.connect({ iceGatheringTimeout: 1000 });
    }
  });

  afterAll(async () => {
    for (const client of [alice, bob]) {
      await client?.confab.Phone.disconnect();
      await client?.confab.Auth.logout();
      client?.tone.stop();
    }
    await confab?.close();
  });

  it('logs both users in and registers their WebRTC lines', () => {
    expect(alice.confab.Phone.isRegistered()).toBe(true);
    expect(bob.confab.Phone.isRegistered()).toBe(true);
    expect(alice.confab.Auth.getSession()?.primaryNumber()).toBe('1001');
  });

  it('alice calls 1002, bob answers, both hear each other and not themselves, alice hangs up', async () => {
    const incoming = bob.next(PhoneEvent.ON_CALL_INCOMING);
    const aliceAudio = alice.next(PhoneEvent.ON_AUDIO_STREAM);
    const outgoing = await alice.confab.Phone.call('1002');
    const [bobCall] = (await incoming) as [CallSession];
    expect(bobCall.number).toBe('1001');
    // The server tells each WebRTC leg its own call id (X-Wazo-Call-ID).
    expect(bobCall.callId).not.toBe('');

    const bobAudio = bob.next(PhoneEvent.ON_AUDIO_STREAM);
    const aliceAccepted = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    await bob.confab.Phone.accept(bobCall);
    await aliceAccepted;
    expect(outgoing.callId).not.toBe('');
    expect(outgoing.callId).not.toBe(bobCall.callId);

    const [aliceRemote] = (await aliceAudio) as [MediaStream];
    const [bobRemote] = (await bobAudio) as [MediaStream];
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

    const bobEnded = bob.next(PhoneEvent.ON_CALL_ENDED);
    const aliceEnded = alice.next(PhoneEvent.ON_CALL_ENDED);
    expect(await alice.confab.Phone.hangup(outgoing)).toBe(true);
    await Promise.all([aliceEnded, bobEnded]);
    expect(alice.events).not.toContain(PhoneEvent.ON_CALL_FAILED);
    expect(bob.events).not.toContain(PhoneEvent.ON_CALL_FAILED);
  });

  it('bob rejects: alice gets onCallRejected then onCallEnded', async () => {
    const incoming = bob.next(PhoneEvent.ON_CALL_INCOMING);
    const aliceEnded = alice.next(PhoneEvent.ON_CALL_ENDED);
    await alice.confab.Phone.call('1002');
    const [bobCall] = (await incoming) as [CallSession];
    await bob.confab.Phone.reject(bobCall);
    await aliceEnded;
    expect(alice.events.slice(-2)).toEqual([PhoneEvent.ON_CALL_REJECTED, PhoneEvent.ON_CALL_ENDED]);
  });
});
