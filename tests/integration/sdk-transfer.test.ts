/**
 * Blind transfer end to end with three Confab SDK clients in Node (ws + @roamhq/wrtc) against a
 * real, in-process Confab server: alice calls bob, then `Phone.transfer()`s him to carol. The
 * server answers the REFER 202, keeps bob's leg, rings carol with bob as the caller, bridges bob
 * with carol once she answers (bob's RTP stream goes on: the same track now carries carol's
 * tone), and alice's session ends. Audio is verified with distinct tones and Goertzel; the event
 * websocket tells each user what happened to their call.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PhoneEvent, type BusEvent, type CallSession } from '@confab/sdk';
import type { Telephony } from '@confab/server';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { hearsTone } from '../support/goertzel.js';
import { createToneSink, listenUntil, waitFor, type ToneSink } from '../support/node-phone.js';
import {
  busEventsNamed,
  closeAll,
  createSdkClient,
  logInWithEvents,
  recordBusEvents,
  ring,
  type SdkClient,
} from '../support/sdk-client.js';

const ALICE_HZ = 500;
const BOB_HZ = 1300;
const CAROL_HZ = 2100;
const ALL_HZ = [ALICE_HZ, BOB_HZ, CAROL_HZ];

interface Person {
  user: TestLineUser;
  client: SdkClient;
  bus: BusEvent[];
}

describe('SDK blind transfer through a real Confab server', () => {
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

  /** A logged-in, registered client sending `frequency`, whose call events are recorded. */
  async function person(firstname: string, frequency: number): Promise<Person> {
    const user = await confab.addUser({ firstname, lastname: 'Transfer' });
    const client = createSdkClient({ frequency, origin: confab.origin });
    clients.push(client);
    const { Websocket } = client.confab;
    const bus = recordBusEvents(client, [
      Websocket.CALL_CREATED,
      Websocket.CALL_UPDATED,
      Websocket.CALL_ANSWERED,
      Websocket.CALL_ENDED,
    ]);
    await logInWithEvents(client, user);
    return { user, client, bus };
  }

  /** Accepts `incoming` at `callee`; resolves with a recorder on the callee's remote audio. */
  async function accept(callee: SdkClient, incoming: CallSession): Promise<ToneSink> {
    const stream = callee.next(PhoneEvent.ON_AUDIO_STREAM);
    await callee.confab.Phone.accept(incoming);
    const sink = createToneSink((await stream)[0].getAudioTracks()[0]!);
    sinks.push(sink);
    return sink;
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

  it('alice transfers bob to carol: carol rings with bob as the caller, bob and carol hear each other, alice’s call ends', async () => {
    const alice = await person('Alice', ALICE_HZ);
    const bob = await person('Bob', BOB_HZ);
    const carol = await person('Carol', CAROL_HZ);

    const aliceStream = alice.client.next(PhoneEvent.ON_AUDIO_STREAM);
    const { outgoing, incoming } = await ring(alice.client, bob.client, bob.user.extension);
    const aliceAccepted = alice.client.next(PhoneEvent.ON_CALL_ACCEPTED);
    const atBob = await accept(bob.client, incoming);
    await aliceAccepted;
    const atAlice = createToneSink((await aliceStream)[0].getAudioTracks()[0]!);
    sinks.push(atAlice);
    await waitFor('audio at alice and bob', () => atAlice.frames > 50 && atBob.frames > 50);
    expect(await hears(atBob, ALICE_HZ)).toBe(true);

    const carolRings = carol.client.next(PhoneEvent.ON_CALL_INCOMING);
    const aliceEnded = alice.client.next(PhoneEvent.ON_CALL_ENDED);
    await alice.client.confab.Phone.transfer(outgoing, carol.user.extension);
    const [atCarolSession] = await carolRings;
    // The transferee calls: carol sees bob's number and name.
    expect(atCarolSession.number).toBe(bob.user.extension);
    expect(atCarolSession.displayName).toContain('Bob');
    expect((await aliceEnded)[0]).toBe(outgoing);
    const referAccepted = alice.client.wire.responses('REFER', 202);
    expect(referAccepted).toHaveLength(1);

    const bobUpdated = bob.bus.length;
    const atCarol = await accept(carol.client, atCarolSession);
    await waitFor('audio at carol', () => atCarol.frames > 50);
    // bob's stream goes on (no renegotiation): it now carries carol's tone, and carol hears bob.
    expect(await hears(atBob, CAROL_HZ)).toBe(true);
    expect(await hears(atBob, ALICE_HZ, false)).toBe(false);
    expect(await hears(atCarol, BOB_HZ)).toBe(true);
    expect(
      bob.client.wire.received('INVITE').filter((m) => m.callId === incoming.sipCallId),
    ).toHaveLength(1);
    expect(incoming.isEstablished()).toBe(true);

    // Events: alice's call ended normally (16); carol got a new call; bob's call talks to it.
    await waitFor(
      'call_ended for alice',
      () => busEventsNamed(alice.bus, 'call_ended', outgoing.sipCallId).length > 0,
    );
    expect(
      busEventsNamed(alice.bus, 'call_ended', outgoing.sipCallId)[0]!.data['reason_code'],
    ).toBe(16);
    const carolCreated = busEventsNamed(carol.bus, 'call_created');
    expect(carolCreated).toHaveLength(1);
    const carolCallId = carolCreated[0]!.data['call_id'] as string;
    await waitFor('bob talking to carol', () =>
      bob.bus
        .slice(bobUpdated)
        .some(
          (e) =>
            e.name === 'call_updated' &&
            Object.keys(e.data['talking_to'] as Record<string, unknown>).includes(carolCallId),
        ),
    );
    expect(busEventsNamed(bob.bus, 'call_ended')).toEqual([]);
    await waitFor('bob’s CallSession follows', () =>
      incoming.getTalkingToIds().includes(carolCallId),
    );

    // bob hangs up: carol's call ends too, and nothing is left on the server.
    const carolEnded = carol.client.next(PhoneEvent.ON_CALL_ENDED);
    await bob.client.confab.Phone.hangup(incoming);
    await carolEnded;
    await waitFor('server channels released', () => {
      const stats = telephony().stats();
      return stats.channels === 0 && stats.bridges === 0;
    });
  });
});
