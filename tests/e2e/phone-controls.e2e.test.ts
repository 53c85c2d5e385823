/**
 * Mid-call controls of the phone page (apps/phone) in Chromium through the real Confab server:
 * hold/resume (the audio stops and comes back, measured in the pages), mute, the DTMF keypad
 * (RFC 4733 from Chromium's RTCDTMFSender, decoded by the server and reported as
 * `call_dtmf_created` on the page's event websocket), and a second call that auto-holds the first
 * one (carol is a Node SDK client), then swapping back from the "On hold" list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import type { Telephony } from '@confab/server';
import {
  launchParticipant,
  type BrowserParticipant,
  type ProbeReport,
} from '../support/browser.js';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import {
  dial,
  logInViaUi,
  measureCallAudio,
  phoneDist,
  waitForCallState,
  waitForIncoming,
} from '../support/phone-page.js';
import { waitFor } from '../support/node-phone.js';
import { createSdkClient, type SdkClient } from '../support/sdk-client.js';
import { makeToneDir, writeToneWav } from '../support/tones.js';

const ALICE_HZ = 500;
const BOB_HZ = 1300;
const CAROL_HZ = 2100;
const ALL_HZ = [ALICE_HZ, BOB_HZ, CAROL_HZ];

describe('phone page mid-call controls (Chromium ↔ Chromium, plus a Node SDK client)', () => {
  let confab: TestConfab;
  let toneDir: string | undefined;
  let alice: BrowserParticipant;
  let bob: BrowserParticipant;
  let carol: SdkClient | undefined;
  let carolUser: TestLineUser;

  beforeAll(async () => {
    confab = await startTestConfab({ staticDir: phoneDist() });
    toneDir = makeToneDir();
    const dir = toneDir;
    [alice, bob] = await Promise.all([
      launchParticipant({ name: 'alice', toneWav: writeToneWav(dir, ALICE_HZ) }),
      launchParticipant({ name: 'bob', toneWav: writeToneWav(dir, BOB_HZ) }),
    ]);
    const [aliceUser, bobUser] = confab.users;
    await Promise.all([
      logInViaUi(alice.page, confab.origin, aliceUser.username, aliceUser.password),
      logInViaUi(bob.page, confab.origin, bobUser.username, bobUser.password),
    ]);
    carolUser = await confab.addUser({ firstname: 'Carol', lastname: 'Node' });
    carol = createSdkClient({ frequency: CAROL_HZ, origin: confab.origin });
    await carol.logIn(carolUser);
  });

  afterAll(async () => {
    await carol?.close();
    await Promise.all([alice?.close(), bob?.close()]);
    await confab?.close();
    if (toneDir !== undefined) {
      rmSync(toneDir, { recursive: true, force: true });
    }
  });

  const diagnostics = (): string => [...alice.logs, ...bob.logs].slice(-40).join('\n');

  /**
   * What `participant` receives on its current call over 1.5 s, after 0.7 s for the jitter
   * buffers to drain; measured again (up to 10 s) while whether it hears `frequency` is not yet
   * `expected`, i.e. while a change (hold, mute, a second call) is still on its way.
   */
  async function heardAt(
    participant: BrowserParticipant,
    frequency: number,
    expected: boolean,
  ): Promise<ProbeReport> {
    const deadline = Date.now() + 10_000;
    await measureCallAudio(participant.page, ALL_HZ, 700);
    let report = await measureCallAudio(participant.page, ALL_HZ, 1500);
    while (hears(report, frequency) !== expected && Date.now() < deadline) {
      report = await measureCallAudio(participant.page, ALL_HZ, 1500);
    }
    return report;
  }

  function hears(report: ProbeReport, frequency: number): boolean {
    const others = ALL_HZ.filter((f) => f !== frequency).map((f) => report.powers[f] ?? 0);
    const power = report.powers[frequency] ?? 0;
    return report.dominant === frequency && others.every((p) => power > 20 * p);
  }

  function serverChannels(): Telephony['callControl']['channels'] {
    return (confab.server.telephony as unknown as Telephony).callControl.channels;
  }

  async function currentSipCallId(participant: BrowserParticipant): Promise<string> {
    return participant.page.evaluate(
      () => window.confabPhone.Phone.getCurrentCallSession()?.sipCallId ?? '',
    );
  }

  it('alice calls bob; hold stops the audio both ways, resume brings it back', async () => {
    await dial(alice.page, confab.users[1].extension);
    await waitForIncoming(bob.page);
    await bob.page.getByTestId('incoming-answer').click();
    await Promise.all([
      waitForCallState(alice.page, 'active'),
      waitForCallState(bob.page, 'active'),
    ]);
    expect(hears(await heardAt(bob, ALICE_HZ, true), ALICE_HZ), diagnostics()).toBe(true);

    await alice.page.getByTestId('call-hold').click();
    await alice.page.locator('[data-testid="call-hold"][data-held="true"]').waitFor();
    expect(await alice.page.getByTestId('call-hold').textContent()).toBe('Resume');
    const sipCallId = await currentSipCallId(alice);
    const channel = [...serverChannels().values()].find((c) => c.sipCallId === sipCallId);
    expect(channel?.onHold).toBe(true);
    const [atBob, atAlice] = [
      await heardAt(bob, ALICE_HZ, false),
      await heardAt(alice, BOB_HZ, false),
    ];
    expect(hears(atBob, ALICE_HZ), JSON.stringify(atBob)).toBe(false);
    expect(hears(atAlice, BOB_HZ), JSON.stringify(atAlice)).toBe(false);

    await alice.page.getByTestId('call-hold').click();
    await alice.page.locator('[data-testid="call-hold"][data-held="false"]').waitFor();
    expect(channel?.onHold).toBe(false);
    expect(hears(await heardAt(bob, ALICE_HZ, true), ALICE_HZ), diagnostics()).toBe(true);
    expect(hears(await heardAt(alice, BOB_HZ, true), BOB_HZ), diagnostics()).toBe(true);
  });

  it('mute silences alice at bob only; unmute restores it', async () => {
    await alice.page.getByTestId('call-mute').click();
    await alice.page.locator('[data-testid="call-mute"][data-muted="true"]').waitFor();
    expect(hears(await heardAt(bob, ALICE_HZ, false), ALICE_HZ)).toBe(false);
    expect(hears(await heardAt(alice, BOB_HZ, true), BOB_HZ)).toBe(true);
    await alice.page.getByTestId('call-mute').click();
    await alice.page.locator('[data-testid="call-mute"][data-muted="false"]').waitFor();
    expect(hears(await heardAt(bob, ALICE_HZ, true), ALICE_HZ), diagnostics()).toBe(true);
  });

  it('the keypad sends RFC 4733 digits: the server decodes them and the page gets call_dtmf_created', async () => {
    const sipCallId = await currentSipCallId(alice);
    const channel = [...serverChannels().values()].find((c) => c.sipCallId === sipCallId)!;
    const atServer: string[] = [];
    channel.on('dtmf', (digit) => atServer.push(digit));
    await alice.page.evaluate(() => {
      const w = window as unknown as { dtmfEvents: string[] };
      w.dtmfEvents = [];
      const { Websocket } = window.confabPhone;
      Websocket.on(Websocket.CALL_DTMF_CREATED, ({ data }) => {
        w.dtmfEvents.push(String(data['digit']));
      });
    });

    await alice.page.getByTestId('dtmf-5').click();
    await alice.page.getByTestId('dtmf-hash').click();
    await alice.page.locator('[data-testid="dtmf-sent"]', { hasText: '5#' }).waitFor();
    // The way the SDK sent it: Chromium negotiates telephone-event, so RTP events, not SIP INFO.
    const way = await alice.page.evaluate(() => {
      const phone = window.confabPhone.Phone;
      return phone.sendDTMF('3', phone.getCurrentCallSession()!);
    });
    expect(way).toBe('rtp');
    await waitFor('three digits at the server', () => atServer.length >= 3, 10_000).catch(
      () => undefined,
    );
    expect(atServer).toEqual(['5', '#', '3']);
    await alice.page.waitForFunction(
      () => (window as unknown as { dtmfEvents: string[] }).dtmfEvents.length >= 3,
    );
    expect(
      await alice.page.evaluate(() => (window as unknown as { dtmfEvents: string[] }).dtmfEvents),
    ).toEqual(['5', '#', '3']);
  });

  it('a second call holds the first one; resuming it from the list holds the second', async () => {
    const incoming = carol!.next('onCallIncoming');
    await dial(alice.page, carolUser.extension);
    const [carolCall] = await incoming;
    await alice.page.getByTestId('held-call').waitFor();
    expect(await alice.page.getByTestId('held-call-peer').textContent()).toContain(
      confab.users[1].extension,
    );
    await carol!.confab.Phone.accept(carolCall);
    await waitForCallState(alice.page, 'active');
    expect(hears(await heardAt(alice, CAROL_HZ, true), CAROL_HZ), diagnostics()).toBe(true);
    expect(hears(await heardAt(bob, ALICE_HZ, false), ALICE_HZ)).toBe(false);

    await alice.page.getByTestId('held-call-resume').click();
    await waitFor('the bob call resumed', async () => {
      const held = await alice.page.getByTestId('held-call-peer').textContent();
      return held?.includes(carolUser.extension) === true;
    });
    expect(await alice.page.getByTestId('call-peer').textContent()).toContain(
      confab.users[1].extension,
    );
    expect(hears(await heardAt(bob, ALICE_HZ, true), ALICE_HZ), diagnostics()).toBe(true);
    expect(hears(await heardAt(alice, BOB_HZ, true), BOB_HZ), diagnostics()).toBe(true);

    await alice.page.evaluate(() => {
      const w = window as unknown as { endedEvents: string[] };
      w.endedEvents = [];
      const { Websocket } = window.confabPhone;
      Websocket.on(Websocket.CALL_ENDED, ({ data }) => {
        w.endedEvents.push(String(data['sip_call_id']));
      });
    });
    const [bobCallId, carolCallId] = await alice.page.evaluate(() => {
      const phone = window.confabPhone.Phone;
      const current = phone.getCurrentCallSession()!;
      const other = phone.getCallSessions().find((c) => !c.is(current))!;
      return [current.sipCallId, other.sipCallId];
    });
    await alice.page.getByTestId('held-call-hangup').click();
    await alice.page.getByTestId('held-calls').waitFor({ state: 'detached' });
    await alice.page.getByTestId('call-hangup').click();
    await Promise.all([waitForCallState(alice.page, 'ended'), waitForCallState(bob.page, 'ended')]);
    // Both of alice's legs ended, each reported once on her event websocket.
    await alice.page.waitForFunction(
      () => (window as unknown as { endedEvents: string[] }).endedEvents.length >= 2,
    );
    const ended = await alice.page.evaluate(
      () => (window as unknown as { endedEvents: string[] }).endedEvents,
    );
    expect([...ended].sort()).toEqual([bobCallId, carolCallId].sort());
  });
});
