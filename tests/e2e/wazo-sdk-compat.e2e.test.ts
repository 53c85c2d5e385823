/**
 * Compatibility: the REAL `@wazo/sdk` from npm (0.44.x, its published browser bundle, unchanged)
 * against Confab. Page A loads `wazo-sdk.js` on Confab's HTTPS origin and uses the SDK's simple
 * API the way its README documents it; page B is the Confab phone page driven through the
 * Confab SDK it exposes. Both Chromiums play their own tone as microphone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { launchParticipant, type BrowserParticipant } from '../support/browser.js';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';
import {
  confabAccept,
  confabCall,
  confabCallView,
  confabInboundAudio,
  confabMeasureCallAudio,
  installConfabRecorder,
  waitForConfabBusEvent,
  waitForConfabPhoneEvent,
} from '../support/confab-sdk-page.js';
import { logInViaUi, phoneDist } from '../support/phone-page.js';
import { makeToneDir, writeToneWav } from '../support/tones.js';
import { startStaticServer, type StaticServer } from '../support/static-server.js';
import { WAZO_APP_PAGE, WazoSdkPage, type WazoLoginInfo } from '../support/wazo-sdk-page.js';

const WAZO_HZ = 500;
const CONFAB_HZ = 1300;
const BOTH_HZ = [WAZO_HZ, CONFAB_HZ];

describe('the real @wazo/sdk (npm) against Confab', () => {
  let confab: TestConfab;
  let toneDir: string | undefined;
  let wazoParticipant: BrowserParticipant;
  let confabParticipant: BrowserParticipant;
  let wazo: WazoSdkPage;
  let app: StaticServer;
  let aliceInfo: WazoLoginInfo;
  let bobInfoUuid: string;
  const sipLog: string[] = [];

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
    wazoParticipant.page.on('websocket', (ws) => {
      if (ws.url().includes('asterisk')) {
        ws.on('framesent', (f) => sipLog.push('>>> ' + String(f.payload)));
        ws.on('framereceived', (f) => sipLog.push('<<< ' + String(f.payload)));
      }
    });
    wazo = await WazoSdkPage.open(wazoParticipant, `${app.origin}/`, confab.httpsOrigin);
    expect(await wazo.wazoGlobal()).toEqual({
      auth: 'function',
      phone: 'function',
      onCallIncoming: 'onCallIncoming',
    });
    const [aliceUser, bobUser] = confab.users;
    aliceInfo = await wazo.logIn(confab.httpsHost, aliceUser.username, aliceUser.password);
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

    await bobPage.evaluate(async (id) => {
      const cs = window.__confabRecorder.sessions.get(id)!;
      await window.confabPhone.Phone.hangup(cs);
    }, outgoingId);
    await Promise.all([
      wazo.waitForEvent('onCallEnded', incomingId),
      waitForConfabPhoneEvent(bobPage, 'onCallEnded', outgoingId),
    ]);
    await wazo.waitForBusEvent('call_ended', view.sipCallId);
    await expect.poll(() => confab.stats().bridges).toBe(0);
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
