/**
 * Compatibility: the REAL `@wazo/sdk` from npm (0.44.x, its published browser bundle, unchanged)
 * against Confab. Page A is an app on its own origin that loads `wazo-sdk.js` and uses the SDK's
 * simple API as its README documents it (https/wss to Confab with the development certificate);
 * page B is the Confab phone page, driven through the Confab SDK it exposes. Each Chromium plays
 * its own tone as microphone, so each page must hear the other's frequency and not its own.
 *
 * Covered: login (token, confd user/infos/merged SIP endpoint), wss registration with digest,
 * calls both ways with audio, hang-up from either side, blind transfer (REFER), reject, CANCEL
 * while ringing, DTMF, mute through calld, hold/resume re-INVITEs, a camera call (video declined),
 * token refresh with the event websocket's token swap, the SDK's own `Wazo.Checker`, disconnect
 * (unregister) and logout (refresh token deleted), and the calld events `Wazo.Websocket` relays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import {
  launchParticipant,
  type BrowserParticipant,
  type ProbeReport,
} from '../support/browser.js';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';
import {
  confabAccept,
  confabCall,
  confabCallView,
  confabHangup,
  confabPhoneEvents,
  confabInboundAudio,
  confabMeasureCallAudio,
  installConfabRecorder,
  waitForConfabBusEvent,
  waitForConfabPhoneEvent,
} from '../support/confab-sdk-page.js';
import { logInViaUi, phoneDist } from '../support/phone-page.js';
import { createSdkClient, type SdkClient } from '../support/sdk-client.js';
import { PhoneEvent } from '@confab/sdk';
import { makeToneDir, writeToneWav } from '../support/tones.js';
import { startStaticServer, type StaticServer } from '../support/static-server.js';
import { WAZO_APP_PAGE, WazoSdkPage, type WazoLoginInfo } from '../support/wazo-sdk-page.js';

const WAZO_HZ = 500;
const CONFAB_HZ = 1300;
const CAROL_HZ = 2100;
const BOTH_HZ = [WAZO_HZ, CONFAB_HZ];
/** The app's `Wazo.Auth.init` client id (what its refresh token is bound to). */
const CLIENT_ID = 'wazo-sdk-compat';

describe('the real @wazo/sdk (npm) against Confab', () => {
  let confab: TestConfab;
  let toneDir: string | undefined;
  let wazoParticipant: BrowserParticipant;
  let confabParticipant: BrowserParticipant;
  let wazo: WazoSdkPage;
  let app: StaticServer;
  let aliceInfo: WazoLoginInfo;
  let bobInfoUuid: string;
  let carol: SdkClient | undefined;

  beforeAll(async () => {
    confab = await startTestConfab({ staticDir: phoneDist() });
    app = await startStaticServer({ pages: { '/': WAZO_APP_PAGE } });
    toneDir = makeToneDir();
    const dir = toneDir;
    [wazoParticipant, confabParticipant] = await Promise.all([
      launchParticipant({ name: 'wazo', toneWav: writeToneWav(dir, WAZO_HZ) }),
      launchParticipant({ name: 'confab', toneWav: writeToneWav(dir, CONFAB_HZ) }),
    ]);
  });

  afterAll(async () => {
    await carol?.close();
    await Promise.all([wazoParticipant?.close(), confabParticipant?.close()]);
    await confab?.close();
    await app?.close();
    if (toneDir !== undefined) {
      rmSync(toneDir, { recursive: true, force: true });
    }
  });

  const diagnostics = (): string =>
    [...wazoParticipant.logs, ...confabParticipant.logs].slice(-60).join('\n');

  it('logs in with Wazo.Auth and registers with Wazo.Phone.connect over wss', async () => {
    wazo = await WazoSdkPage.open(wazoParticipant, `${app.origin}/`, confab.httpsOrigin);
    expect(await wazo.wazoGlobal()).toEqual({
      auth: 'function',
      phone: 'function',
      onCallIncoming: 'onCallIncoming',
    });
    const [aliceUser, bobUser] = confab.users;
    aliceInfo = await wazo.logIn(
      confab.httpsHost,
      aliceUser.username,
      aliceUser.password,
      CLIENT_ID,
    );
    expect(aliceInfo.displayName).toBe('Alice Test');
    // The line's SIP endpoint came from the confd merged view, flagged webrtc=yes.
    expect(aliceInfo.sipLines).toHaveLength(1);
    expect(aliceInfo.webRtcLine).toBe(aliceInfo.sipLines[0]!.username);
    await wazo.connect().catch((error: unknown) => {
      throw new Error(`${String(error)}\n${diagnostics()}`);
    });
    await wazo.waitForEvent('onRegistered');
    expect(await confab.isRegistered(aliceUser.extension)).toBe(true);
    await logInViaUi(confabParticipant.page, confab.origin, bobUser.username, bobUser.password);
    await installConfabRecorder(confabParticipant.page);
    bobInfoUuid = await confabParticipant.page.evaluate(
      () => window.confabPhone.Auth.getSession()?.uuid ?? '',
    );
  });

  /** Both pages hear the other's tone, not their own, and get RTP with energy. */
  async function expectAudioBothWays(wazoCallId: string, confabCallId: string): Promise<void> {
    const bobPage = confabParticipant.page;
    // Let the jitter buffers settle, then measure both pages at once.
    await Promise.all([
      wazo.measureCallAudio(wazoCallId, BOTH_HZ, 500),
      confabMeasureCallAudio(bobPage, confabCallId, BOTH_HZ, 500),
    ]);
    const [atWazo, atConfab] = await Promise.all([
      wazo.measureCallAudio(wazoCallId, BOTH_HZ, 2000),
      confabMeasureCallAudio(bobPage, confabCallId, BOTH_HZ, 2000),
    ]);
    expect(atWazo.dominant, JSON.stringify(atWazo) + diagnostics()).toBe(CONFAB_HZ);
    expect(atWazo.powers[CONFAB_HZ]!).toBeGreaterThan(20 * atWazo.powers[WAZO_HZ]!);
    expect(atConfab.dominant, JSON.stringify(atConfab) + diagnostics()).toBe(WAZO_HZ);
    expect(atConfab.powers[WAZO_HZ]!).toBeGreaterThan(20 * atConfab.powers[CONFAB_HZ]!);
    const [statsWazo, statsConfab] = await Promise.all([
      wazo.callInboundAudio(wazoCallId),
      confabInboundAudio(bobPage, confabCallId),
    ]);
    expect(statsWazo!.packetsReceived).toBeGreaterThan(0);
    expect(statsWazo!.totalAudioEnergy).toBeGreaterThan(0);
    expect(statsConfab!.totalAudioEnergy).toBeGreaterThan(0);
  }

  it('the wazo-sdk user calls a Confab-sdk user who answers; audio both ways; the wazo side hangs up and both ends see it', async () => {
    const [aliceUser, bobUser] = confab.users;
    const bobPage = confabParticipant.page;
    const outgoing = await wazo.call(bobUser.extension);
    expect(outgoing.isCaller).toBe(true);
    expect(outgoing.number).toBe(bobUser.extension);
    await wazo.waitForEvent('onCallOutgoing', outgoing.id);

    const incomingId = await waitForConfabPhoneEvent(bobPage, 'onCallIncoming');
    const incoming = await confabCallView(bobPage, incomingId);
    expect(incoming.number).toBe(aliceUser.extension);
    // The caller's name comes from the From display name the wazo-sdk sent ("First Last").
    expect(incoming.displayName).toBe('Alice Test');
    await wazo.waitForEvent('onProgress', outgoing.id);

    await confabAccept(bobPage, incomingId);
    await Promise.all([
      wazo.waitForEvent('onCallAccepted', outgoing.id),
      waitForConfabPhoneEvent(bobPage, 'onCallAccepted', incomingId),
    ]);
    // The SDK plays remote audio through its own hidden <audio id="audio-{sipCallId}">.
    expect(await wazo.remoteAudioElementCount()).toBe(1);
    await expectAudioBothWays(outgoing.id, incomingId);
    expect(confab.stats().bridges).toBe(1);

    // Wazo.Websocket (opened by logIn) relays the calld events of alice's leg; its sip_call_id is
    // the SIP Call-ID of the wazo-sdk's INVITE (how apps map events to CallSessions).
    const created = await wazo.waitForBusEvent('call_created', outgoing.sipCallId);
    expect(created.user_uuid).toBe(aliceInfo.uuid);
    expect((await wazo.waitForBusEvent('call_answered', outgoing.sipCallId)).status).toBe('Up');

    expect(await wazo.hangup(outgoing.id)).toBe(true);
    await Promise.all([
      wazo.waitForEvent('onCallEnded', outgoing.id),
      waitForConfabPhoneEvent(bobPage, 'onCallEnded', incomingId),
    ]);
    const ended = await waitForConfabBusEvent(bobPage, 'call_ended', incoming.sipCallId);
    expect(ended.user_uuid).toBe(bobInfoUuid);
    expect(ended.reason_code).toBe(16); // Q.850 normal clearing
    await wazo.waitForBusEvent('call_ended', outgoing.sipCallId);
    await expect.poll(() => confab.stats().bridges).toBe(0);
    expect(await wazo.remoteAudioElementCount()).toBe(0);
  });

  it('a Confab-sdk user calls the wazo-sdk user, who gets onCallIncoming and accepts; audio both ways; the Confab side hangs up', async () => {
    const [aliceUser, bobUser] = confab.users;
    const bobPage = confabParticipant.page;
    const outgoingId = await confabCall(bobPage, aliceUser.extension);

    const incoming = await wazo.waitForEvent('onCallIncoming');
    const incomingId = incoming.callIds[0]!;
    expect(incoming.scalars).toEqual([false]); // wantsVideo
    const view = await wazo.view(incomingId);
    expect(view.isCaller).toBe(false);
    expect(view.number).toBe(bobUser.extension);
    expect(view.displayName).toBe('Bob Test');

    await wazo.accept(incomingId);
    await Promise.all([
      wazo.waitForEvent('onCallAccepted', incomingId),
      waitForConfabPhoneEvent(bobPage, 'onCallAccepted', outgoingId),
    ]);
    await expectAudioBothWays(incomingId, outgoingId);

    await confabHangup(bobPage, outgoingId);
    await Promise.all([
      wazo.waitForEvent('onCallEnded', incomingId),
      waitForConfabPhoneEvent(bobPage, 'onCallEnded', outgoingId),
    ]);
    await wazo.waitForBusEvent('call_ended', view.sipCallId);
    await expect.poll(() => confab.stats().bridges).toBe(0);
  });

  /** `promise`, or a failure after `ms` naming `step`, with the wazo page's last SIP messages. */
  async function within<T>(step: string, promise: Promise<T>, ms = 20_000): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const sip = wazo.sipMessages.slice(-8).join('\n----\n');
        reject(new Error(`${step}: no outcome after ${ms} ms\n${sip}\n${diagnostics()}`));
      }, ms);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether `report` is dominated by `frequency` (20× the other tone's power). */
  function hears(report: ProbeReport, frequency: number): boolean {
    const other = frequency === WAZO_HZ ? CONFAB_HZ : WAZO_HZ;
    return report.dominant === frequency && report.powers[frequency]! > 20 * report.powers[other]!;
  }

  /**
   * What bob's page hears on call `id` over 1.5 s, after the jitter buffer drained; measured again
   * (up to 10 s) while whether it hears alice is not yet `expected` (a mute or hold on its way).
   */
  async function heardByConfab(id: string, expected: boolean): Promise<ProbeReport> {
    const deadline = Date.now() + 10_000;
    await confabMeasureCallAudio(confabParticipant.page, id, BOTH_HZ, 700);
    let report = await confabMeasureCallAudio(confabParticipant.page, id, BOTH_HZ, 1500);
    while (hears(report, WAZO_HZ) !== expected && Date.now() < deadline) {
      report = await confabMeasureCallAudio(confabParticipant.page, id, BOTH_HZ, 1500);
    }
    return report;
  }

  /** wazo calls bob and bob answers; returns both CallSession ids and the wazo side's view. */
  async function establishFromWazo(): Promise<{
    wazoId: string;
    confabId: string;
    sipCallId: string;
  }> {
    const bobPage = confabParticipant.page;
    const known = (await confabPhoneEvents(bobPage)).length;
    const outgoing = await wazo.call(confab.users[1].extension);
    const confabId = await waitForConfabPhoneEvent(bobPage, 'onCallIncoming', undefined, known);
    await confabAccept(bobPage, confabId);
    await Promise.all([
      wazo.waitForEvent('onCallAccepted', outgoing.id),
      waitForConfabPhoneEvent(bobPage, 'onCallAccepted', confabId),
    ]);
    return { wazoId: outgoing.id, confabId, sipCallId: outgoing.sipCallId };
  }

  it('mid-call from the wazo-sdk: DTMF reaches Wazo.Websocket as call_dtmf_created; muteViaAPI and hold/resume stop and restore the audio bob hears', async () => {
    const { wazoId, confabId, sipCallId } = await establishFromWazo();
    expect(hears(await heardByConfab(confabId, true), WAZO_HZ), diagnostics()).toBe(true);

    // The app filled callSession.callId from call_created (0.44 does not, spec §3.4).
    const callId = (await wazo.waitForBusEvent('call_created', sipCallId)).call_id;
    await expect.poll(async () => (await wazo.view(wazoId)).callId).toBe(callId);

    await wazo.sendDTMF('5', wazoId);
    await wazo.waitForBusEvent('call_dtmf_created', '', { call_id: callId, digit: '5' });

    // Mute through calld (PUT /users/me/calls/{id}/mute/start): the server drops alice's audio.
    await wazo.muteViaAPI(wazoId, true);
    await wazo.waitForBusEvent('call_updated', sipCallId, { muted: true });
    expect(hears(await heardByConfab(confabId, false), WAZO_HZ)).toBe(false);
    await wazo.muteViaAPI(wazoId, false);
    await wazo.waitForBusEvent('call_updated', sipCallId, { muted: false, status: 'Up' });
    expect(hears(await heardByConfab(confabId, true), WAZO_HZ), diagnostics()).toBe(true);

    // Hold is a re-INVITE (sendonly) from the SDK, which also mutes its microphone.
    await wazo.hold(wazoId);
    await wazo.waitForEvent('onCallHeld', wazoId);
    await wazo.waitForBusEvent('call_held', '', { call_id: callId });
    expect(hears(await heardByConfab(confabId, false), WAZO_HZ)).toBe(false);
    await wazo.resume(wazoId);
    await wazo.waitForEvent('onCallResumed', wazoId);
    await wazo.waitForBusEvent('call_resumed', '', { call_id: callId });
    expect(hears(await heardByConfab(confabId, true), WAZO_HZ), diagnostics()).toBe(true);
    expect(hears(await wazo.measureCallAudio(wazoId, BOTH_HZ, 1500), CONFAB_HZ)).toBe(true);

    await confabHangup(confabParticipant.page, confabId);
    await wazo.waitForEvent('onCallEnded', wazoId);
    await expect.poll(() => confab.stats().bridges).toBe(0);
  });

  it('the wazo-sdk user blind-transfers the Confab-sdk user to a third user (REFER): bob then hears carol, the wazo call ends', async () => {
    const carolUser = await confab.addUser({ firstname: 'Carol', lastname: 'Node' });
    carol = createSdkClient({ frequency: CAROL_HZ, origin: confab.origin });
    await within('carol logs in', carol.logIn(carolUser));
    const { wazoId, confabId } = await within('wazo calls bob', establishFromWazo());
    const carolRings = carol.next(PhoneEvent.ON_CALL_INCOMING);

    await wazo.transfer(wazoId, carolUser.extension);
    const [atCarol] = await within('carol rings', carolRings);
    // The transferee places the new call: carol sees bob.
    expect(atCarol.number).toBe(confab.users[1].extension);
    await within('the wazo call ends', wazo.waitForEvent('onCallEnded', wazoId));
    expect(
      wazo.sipMessages.some((m) => m.startsWith('<<< SIP/2.0 202') && m.includes(' REFER')),
    ).toBe(true);
    await carol.confab.Phone.accept(atCarol);

    // bob's call goes on without renegotiation and now carries carol's tone.
    const all = [...BOTH_HZ, CAROL_HZ];
    await expect
      .poll(
        async () =>
          (await confabMeasureCallAudio(confabParticipant.page, confabId, all, 1000)).dominant,
        { timeout: 15_000 },
      )
      .toBe(CAROL_HZ);
    await confabHangup(confabParticipant.page, confabId);
    await expect.poll(() => confab.stats().channels).toBe(0);
  });

  it('the wazo-sdk user rejects a call from the Confab-sdk user: the caller sees it rejected', async () => {
    const bobPage = confabParticipant.page;
    const knownWazo = (await wazo.events()).length;
    const outgoingId = await confabCall(bobPage, confab.users[0].extension);
    const incoming = await wazo.waitForEvent('onCallIncoming', undefined, undefined, knownWazo);
    await wazo.reject(incoming.callIds[0]!);
    await waitForConfabPhoneEvent(bobPage, 'onCallRejected', outgoingId);
    await waitForConfabPhoneEvent(bobPage, 'onCallEnded', outgoingId);
    await wazo.waitForEvent('onCallEnded', incoming.callIds[0]);
    await expect.poll(() => confab.stats().channels).toBe(0);
  });

  it('the wazo-sdk user hangs up while the Confab-sdk user still rings (CANCEL): the callee sees it cancelled', async () => {
    const bobPage = confabParticipant.page;
    const known = (await confabPhoneEvents(bobPage)).length;
    const outgoing = await wazo.call(confab.users[1].extension);
    const incomingId = await waitForConfabPhoneEvent(bobPage, 'onCallIncoming', undefined, known);
    await wazo.waitForEvent('onProgress', outgoing.id);
    await wazo.hangup(outgoing.id);
    await waitForConfabPhoneEvent(bobPage, 'onCallCanceled', incomingId);
    await waitForConfabPhoneEvent(bobPage, 'onCallEnded', incomingId);
    await wazo.waitForEvent('onCallEnded', outgoing.id);
    await expect.poll(() => confab.stats().channels).toBe(0);
  });

  it("the SDK's own connectivity checker (Wazo.Checker) passes its event-websocket heartbeat, SIP transport heartbeat and WebRTC call checks", async () => {
    // The other checks need services Confab does not have (chatd, dird, webhookd, amid) or a
    // STUN server on the internet.
    const results = await wazo.runChecks([
      'Event transport (WS)',
      'WebRTC Transport (WS) ~30s',
      'WebRTC',
    ]);
    expect(results).toEqual([
      { name: 'Event transport (WS)', error: null },
      { name: 'WebRTC Transport (WS) ~30s', error: null },
      { name: 'WebRTC', error: null },
    ]);
  });

  it('Wazo.Auth.forceRefreshToken gets a new token from the refresh token and swaps it on the open event websocket (op token), which outlives the old token', async () => {
    const socketsBefore = wazo.eventSocketsOpened;
    const framesBefore = wazo.eventFrames.length;
    const token = await wazo.forceRefreshToken();
    expect(token).toEqual(expect.any(String));
    expect(token).not.toBe(aliceInfo.token);
    await expect
      .poll(() =>
        wazo.eventFrames
          .slice(framesBefore)
          .map((f) => `${f.direction} ${f.message.op ?? ''} ${f.message.code ?? ''}`),
      )
      .toEqual(['out token ', 'in token 0']);
    // Revoking the first token closes sockets still using it (4003); this one swapped, so it
    // stays open and a call's events keep flowing on it. (Wazo.Auth.getSession().token keeps
    // the first token — the SDK hands new ones to the app's setOnRefreshToken callback — so
    // the SDK's own checks would now fail: they run before this test.)
    const revoked = await fetch(`${confab.origin}/api/auth/0.1/token/${aliceInfo.token}`, {
      method: 'DELETE',
    });
    expect(revoked.status).toBe(200);
    const { wazoId, confabId, sipCallId } = await establishFromWazo();
    await wazo.waitForBusEvent('call_answered', sipCallId);
    expect(wazo.eventSocketsOpened).toBe(socketsBefore);
    await wazo.hangup(wazoId);
    await waitForConfabPhoneEvent(confabParticipant.page, 'onCallEnded', confabId);
  });

  it('a video call from the wazo-sdk (camera on) connects with audio both ways; Confab declines the video stream', async () => {
    const bobPage = confabParticipant.page;
    const known = (await confabPhoneEvents(bobPage)).length;
    const outgoing = await wazo.page.evaluate(async (n) => {
      const cs = await (
        window as unknown as {
          Wazo: { Phone: { call(n: string, video: boolean): Promise<{ getId(): string }> } };
        }
      ).Wazo.Phone.call(n, true);
      return cs.getId();
    }, confab.users[1].extension);
    const confabId = await waitForConfabPhoneEvent(bobPage, 'onCallIncoming', undefined, known);
    await confabAccept(bobPage, confabId);
    await Promise.all([
      wazo.waitForEvent('onCallAccepted', outgoing),
      waitForConfabPhoneEvent(bobPage, 'onCallAccepted', confabId),
    ]);
    // onCallAccepted(callSession, cameraEnabled)
    expect((await wazo.waitForEvent('onCallAccepted', outgoing)).scalars).toEqual([true]);
    // The answer keeps the offer's m-lines in order and declines video with port 0 (RFC 3264 §6).
    const answer = wazo.sipMessages.find(
      (m) =>
        m.startsWith('<<< SIP/2.0 200') &&
        m.includes(`Call-ID: ${outgoing}`) &&
        m.includes('m=audio'),
    );
    expect(answer, wazo.sipMessages.slice(-6).join('\n')).toBeDefined();
    expect(answer!.match(/^m=\w+ \d+/gm)).toEqual([
      expect.stringMatching(/^m=audio [1-9]/),
      'm=video 0',
    ]);
    await expectAudioBothWays(outgoing, confabId);
    await wazo.hangup(outgoing);
    await waitForConfabPhoneEvent(bobPage, 'onCallEnded', confabId);
  });

  it('Wazo.Phone.disconnect unregisters the line; Wazo.Auth.logout deletes the refresh token and closes the event websocket', async () => {
    await wazo.disconnect();
    await expect.poll(() => confab.isRegistered(confab.users[0].extension)).toBe(false);
    const refreshWith = async (): Promise<number> =>
      (
        await fetch(`${confab.origin}/api/auth/0.1/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: aliceInfo.refreshToken, client_id: CLIENT_ID }),
        })
      ).status;
    expect(await refreshWith()).toBe(200);
    expect(wazo.eventSocketsOpen).toBe(1);
    await wazo.logout();
    // DELETE /users/me/tokens/{client_id}: the refresh token is gone.
    expect(await refreshWith()).toBe(401);
    // logout also DELETEs Wazo.Auth.getSession().token, which is still the login token (revoked
    // by the previous test); tokens already issued by refresh stay valid (wazo-auth, spec §3.4).
    await expect.poll(() => wazo.eventSocketsOpen).toBe(0);
  });

  it('every request the wazo-sdk made to Confab succeeded', () => {
    const failed = wazo.confabRequests.filter((r) => r.status >= 400);
    expect(failed).toEqual([]);
    expect(wazo.confabRequests.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining([
        'POST /api/auth/0.1/token',
        `GET /api/confd/1.1/users/${aliceInfo.uuid}`,
        'GET /api/confd/1.1/infos',
      ]),
    );
  });
});
