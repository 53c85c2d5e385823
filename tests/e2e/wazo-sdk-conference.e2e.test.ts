/**
 * Compatibility: the REAL `@wazo/sdk` (npm 0.44.x, its browser bundle, unchanged) drives an
 * ad-hoc conference on Confab. The host is a Chromium page (an app on its own origin, https/wss
 * to Confab) that calls Confab-SDK users — Node clients (ws + @roamhq/wrtc), each sending its own
 * tone — and merges the calls with `Wazo.Phone.startConference(host, [other])`, which posts to
 * calld's ad-hoc API; then `addParticipant`, `removeParticipant` and `hangup` on the
 * `AdHocAPIConference` it returned. Checked: everyone hears the others and not themselves
 * (Goertzel), the calld conference REST calls the SDK made all succeeded (201/204), the
 * conference events `Wazo.Websocket` relays, and nothing is left on the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { PhoneEvent } from '@confab/sdk';
import { launchParticipant, type BrowserParticipant } from '../support/browser.js';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { AdhocWorld, hearsExactly, telephonyOf, type Person } from '../support/adhoc.js';
import { createToneSink, sleep, waitFor, type ToneSink } from '../support/node-phone.js';
import { makeToneDir, writeToneWav } from '../support/tones.js';
import { startStaticServer, type StaticServer } from '../support/static-server.js';
import { WAZO_APP_PAGE, WazoSdkPage } from '../support/wazo-sdk-page.js';
import type { ToneReport } from '../support/goertzel.js';

const HZ = { alice: 500, bob: 900, carol: 1300, dave: 1700 } as const;
const ALL_HZ = Object.values(HZ);
/**
 * The host's microphone without Chromium's voice processing: its noise suppression and gain
 * control fade a steady test tone by ~20 dB within seconds (measured: 0.006 → 0.0007 at a peer
 * in a plain two-party call), which would unbalance the mix the test measures. The SDK passes
 * `media.audio` to getUserMedia only when it names a device (`deviceId.exact`).
 */
const RAW_TONE: MediaTrackConstraints = {
  deviceId: { exact: 'default' },
  echoCancellation: false,
  noiseSuppression: false,
  autoGainControl: false,
};
const ADHOC_PATH = '/api/calld/1.0/users/me/conferences/adhoc';

describe('the real @wazo/sdk conference API against Confab', () => {
  let confab: TestConfab;
  let app: StaticServer;
  let toneDir: string | undefined;
  let host: BrowserParticipant;
  let wazo: WazoSdkPage;
  let alice: TestLineUser;
  let world: AdhocWorld;

  beforeAll(async () => {
    confab = await startTestConfab();
    app = await startStaticServer({ pages: { '/': WAZO_APP_PAGE } });
    toneDir = makeToneDir();
    host = await launchParticipant({ name: 'wazo-host', toneWav: writeToneWav(toneDir, HZ.alice) });
    world = new AdhocWorld(confab);
  });

  afterAll(async () => {
    await world?.close();
    await host?.close();
    await confab?.close();
    await app?.close();
    if (toneDir !== undefined) {
      rmSync(toneDir, { recursive: true, force: true });
    }
  });

  const diagnostics = (): string => host.logs.slice(-40).join('\n');

  async function step<T>(label: string, promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      throw new Error(`${label}: ${String(error)}\n${diagnostics()}`);
    }
  }

  /** The host page calls `peer` (a Node Confab-SDK client), who answers. */
  async function callFromHost(
    peer: Person,
  ): Promise<{ id: string; atPeer: ToneSink; incoming: { callId: string } }> {
    const rings = peer.client.next(PhoneEvent.ON_CALL_INCOMING);
    const outgoing = await step(`alice calls ${peer.name}`, wazo.call(peer.user.extension));
    const [incoming] = await step(`${peer.name} rings`, rings);
    const stream = peer.client.next(PhoneEvent.ON_AUDIO_STREAM);
    await peer.client.confab.Phone.accept(incoming);
    await step(`alice sees ${peer.name} answer`, wazo.waitForEvent('onCallAccepted', outgoing.id));
    const atPeer = createToneSink((await stream)[0].getAudioTracks()[0]!);
    world.sinks.push(atPeer);
    await waitFor(`audio at ${peer.name}`, () => atPeer.frames > 50, 15_000);
    // What startConference keys participants by: the remote calld call id of each host leg,
    // from calld's call_updated (the app fills its CallSessions, spec §4.4), and our own leg's
    // id (host_call_id) from X-Wazo-Call-ID.
    await waitFor(`talking-to id of the call to ${peer.name}`, async () => {
      const ids = await wazo.talkingTo(outgoing.id);
      return ids.length === 1 && ids[0] === incoming.callId;
    });
    expect(await wazo.callIdOf(outgoing.id)).not.toBe('');
    return { id: outgoing.id, atPeer, incoming };
  }

  /** What the host page hears on its surviving call, alongside the Node sinks. */
  async function listen(
    hostCallId: string,
    sinks: ToneSink[],
  ): Promise<[ToneReport, ...ToneReport[]]> {
    await sleep(700);
    for (const sink of sinks) {
      sink.reset();
    }
    const atHost = await wazo.measureCallAudio(hostCallId, ALL_HZ, 1500);
    const reports = sinks.map((sink) => sink.analyse(ALL_HZ));
    return [{ powers: atHost.powers } as ToneReport, ...reports];
  }

  function adhocRequests(): string[] {
    return wazo.confabRequests
      .filter((r) => r.path.startsWith(ADHOC_PATH))
      .map((r) => `${r.method} ${r.path.slice(ADHOC_PATH.length)} ${r.status}`);
  }

  it('startConference merges two calls, addParticipant brings a third, removeParticipant hangs one up, hangup ends it: audio at each step, every REST call a success, nothing left', async () => {
    alice = await confab.addUser({ firstname: 'Alice', lastname: 'Wazo' });
    wazo = await WazoSdkPage.open(host, `${app.origin}/`, confab.httpsOrigin);
    await step('log in', wazo.logIn(confab.httpsHost, alice.username, alice.password));
    // The SDK's deprecated probe (HEAD on the collection): false, as against wazo-calld (405).
    expect(await wazo.adhocApiEnabled()).toBe(false);
    expect(wazo.confabRequests.at(-1)).toEqual({
      method: 'HEAD',
      path: ADHOC_PATH,
      status: 405,
    });
    await step('connect', wazo.connect(undefined, RAW_TONE));
    const bob = await world.person('bob', HZ.bob);
    const carol = await world.person('carol', HZ.carol);
    const dave = await world.person('dave', HZ.dave);

    const toBob = await callFromHost(bob);
    // The SDK auto-holds the call to bob when alice calls carol (spec §3.2).
    const toCarol = await callFromHost(carol);
    const P1 = toBob.incoming.callId;
    const P2 = toCarol.incoming.callId;

    const started = await step('startConference', wazo.startConference(toBob.id, [toCarol.id]));
    expect(started).toMatchObject({ started: true, finished: false, hostId: toBob.id });
    expect(started.conferenceId).toMatch(/^[0-9a-f-]{36}$/);
    expect(started.participantKeys.sort()).toEqual([P1, P2].sort());
    // The server hung up alice's own leg toward carol; only the host dialog survives.
    await step('alice’s leg to carol ends', wazo.waitForEvent('onCallEnded', toCarol.id));
    // The call to bob is still held from calling carol: resume it as the conference's host.
    const eventsBefore = (await wazo.events()).length;
    await wazo.resumeConference();
    await step('host resumed', wazo.waitForEvent('onCallResumed', toBob.id, 20_000, eventsBefore));
    {
      const [atAlice, atBob, atCarol] = await listen(toBob.id, [toBob.atPeer, toCarol.atPeer]);
      expect(hearsExactly(atAlice, [HZ.bob, HZ.carol], [HZ.alice]), JSON.stringify(atAlice)).toBe(
        true,
      );
      expect(hearsExactly(atBob!, [HZ.alice, HZ.carol], [HZ.bob]), JSON.stringify(atBob)).toBe(
        true,
      );
      expect(hearsExactly(atCarol!, [HZ.alice, HZ.bob], [HZ.carol]), JSON.stringify(atCarol)).toBe(
        true,
      );
    }

    // addParticipant: a new call to dave (which auto-holds the conference leg), merged in.
    const toDave = await callFromHost(dave);
    const P3 = toDave.incoming.callId;
    const added = await step('addParticipant', wazo.addToConference(toDave.id));
    expect(added.conferenceId).toBe(started.conferenceId);
    expect(added.participantKeys.sort()).toEqual([P1, P2, P3].sort());
    await step('alice’s leg to dave ends', wazo.waitForEvent('onCallEnded', toDave.id));
    const beforeResume = (await wazo.events()).length;
    await wazo.resumeConference();
    await step(
      'host resumed again',
      wazo.waitForEvent('onCallResumed', toBob.id, 20_000, beforeResume),
    );
    {
      const [atAlice, atDave] = await listen(toBob.id, [toDave.atPeer]);
      expect(
        hearsExactly(atAlice, [HZ.bob, HZ.carol, HZ.dave], [HZ.alice]),
        JSON.stringify(atAlice),
      ).toBe(true);
      expect(
        hearsExactly(atDave!, [HZ.alice, HZ.bob, HZ.carol], [HZ.dave]),
        JSON.stringify(atDave),
      ).toBe(true);
    }

    // removeParticipant: carol is hung up; the app's object no longer lists her.
    const carolEnded = carol.client.next(PhoneEvent.ON_CALL_ENDED);
    const removed = await step('removeParticipant', wazo.removeFromConference(toCarol.id));
    expect(removed.participantKeys.sort()).toEqual([P1, P3].sort());
    await step('carol hung up', carolEnded);
    await waitFor('participant_left relayed by Wazo.Websocket', async () =>
      (await wazo.conferenceEvents()).includes(`conference_adhoc_participant_left ${P2}`),
    );
    {
      const [atAlice, atBob] = await listen(toBob.id, [toBob.atPeer]);
      expect(
        hearsExactly(atAlice, [HZ.bob, HZ.dave], [HZ.alice, HZ.carol]),
        JSON.stringify(atAlice),
      ).toBe(true);
      expect(
        hearsExactly(atBob!, [HZ.alice, HZ.dave], [HZ.bob, HZ.carol]),
        JSON.stringify(atBob),
      ).toBe(true);
    }

    // hangup: everyone is hung up, the host's call ends in the page.
    const ended = [bob, dave].map((p) => p.client.next(PhoneEvent.ON_CALL_ENDED));
    const finished = await step('conference hangup', wazo.hangupConference());
    expect(finished.finished).toBe(true);
    await step('participants hung up', Promise.all(ended));
    await step('host call ends', wazo.waitForEvent('onCallEnded', toBob.id));
    await waitFor('deleted relayed by Wazo.Websocket', async () =>
      (await wazo.conferenceEvents()).includes('conference_adhoc_deleted'),
    );
    expect(await wazo.conferenceView()).toBeNull();

    // The server answered every calld conference call the real SDK made with success, and
    // every other REST call of the page too.
    const id = started.conferenceId;
    expect(adhocRequests()).toEqual([
      `HEAD  405`,
      `POST  201`,
      `PUT /${id}/participants/${P3} 204`,
      `DELETE /${id}/participants/${P2} 204`,
      `DELETE /${id} 204`,
    ]);
    const failures = wazo.confabRequests.filter(
      (r) => r.status >= 400 && !(r.method === 'HEAD' && r.path === ADHOC_PATH),
    );
    expect(failures).toEqual([]);

    await waitFor('no channel nor bridge left', () => {
      const stats = confab.stats();
      return stats.channels === 0 && stats.bridges === 0;
    });
    await waitFor('no media leg nor mixer left', async () => {
      const media = await telephonyOf(confab).mediaStats();
      return media?.legs === 0 && media.mixers === 0;
    });
    expect(telephonyOf(confab).conferences.conferences.size).toBe(0);
  });
});
