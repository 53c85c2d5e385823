/**
 * The phone page (apps/phone) in two real Chromium browsers, against the stand-in server of
 * tests/support/fake-confab.ts (REST login + SIP registrar/relay; media flows browser to browser).
 * It proves the page and the SDK end to end in a real browser while the Confab server is being
 * built; tests/e2e/call.e2e.test.ts runs the same scenario against the real server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { launchParticipant, type BrowserParticipant } from '../support/browser.js';
import { DEMO_USERS, startFakeConfab, type FakeConfab } from '../support/fake-confab.js';
import {
  callInboundAudio,
  dial,
  logInViaUi,
  measureCallAudio,
  phoneDist,
  readCallState,
  remoteAudioElementCount,
  waitForCallState,
  waitForIncoming,
} from '../support/phone-page.js';
import { makeToneDir, writeToneWav } from '../support/tones.js';

const ALICE_HZ = 500;
const BOB_HZ = 1300;
const [ALICE, BOB] = DEMO_USERS as [(typeof DEMO_USERS)[0], (typeof DEMO_USERS)[0]];

describe('phone page against the stand-in server (Chromium ↔ Chromium)', () => {
  let server: FakeConfab;
  let toneDir: string;
  let alice: BrowserParticipant;
  let bob: BrowserParticipant;

  beforeAll(async () => {
    server = await startFakeConfab({ staticRoot: phoneDist() });
    toneDir = makeToneDir();
    [alice, bob] = await Promise.all([
      launchParticipant({ name: 'alice', toneWav: writeToneWav(toneDir, ALICE_HZ) }),
      launchParticipant({ name: 'bob', toneWav: writeToneWav(toneDir, BOB_HZ) }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([alice?.close(), bob?.close()]);
    await server?.close();
    rmSync(toneDir, { recursive: true, force: true });
  });

  const diagnostics = (): string => [...alice.logs, ...bob.logs].slice(-40).join('\n');

  it('shows a login error and stays unregistered with a wrong password', async () => {
    const page = alice.page;
    await page.goto(`${server.origin}/`);
    await page.getByTestId('login-username').fill(ALICE.username);
    await page.getByTestId('login-password').fill('wrong');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('error').waitFor();
    expect(await page.getByTestId('error').textContent()).toContain('401');
    expect(await page.getByTestId('status-registered').getAttribute('data-registered')).toBe(
      'false',
    );
  });

  it('logs both users in through the form; the server field defaults to the page origin', async () => {
    await alice.page.goto(`${server.origin}/`);
    expect(await alice.page.getByTestId('login-server').inputValue()).toBe(server.origin);
    await Promise.all([
      logInViaUi(alice.page, server.origin, ALICE.username, ALICE.password),
      logInViaUi(bob.page, server.origin, BOB.username, BOB.password),
    ]);
    expect(server.hub.isRegistered(ALICE.sipUsername)).toBe(true);
    expect(server.hub.isRegistered(BOB.sipUsername)).toBe(true);
    expect(await alice.page.getByTestId('user-number').textContent()).toBe('1001');
  });

  it('alice calls 1002, bob answers from the banner, each hears the other tone and not its own', async () => {
    await dial(alice.page, BOB.extension);
    const caller = await waitForIncoming(bob.page);
    expect(caller).toContain(ALICE.extension);
    const state = await readCallState(alice.page);
    expect(['calling', 'ringing']).toContain(state.state);

    await bob.page.getByTestId('incoming-answer').click();
    await Promise.all([
      waitForCallState(alice.page, 'active'),
      waitForCallState(bob.page, 'active'),
    ]);
    expect(await bob.page.getByTestId('incoming-banner').count()).toBe(0);
    expect(await remoteAudioElementCount(alice.page)).toBe(1);
    expect(await remoteAudioElementCount(bob.page)).toBe(1);

    // Let the jitter buffers settle, then measure.
    await measureCallAudio(alice.page, [ALICE_HZ, BOB_HZ], 500);
    const [atAlice, atBob] = await Promise.all([
      measureCallAudio(alice.page, [ALICE_HZ, BOB_HZ], 2000),
      measureCallAudio(bob.page, [ALICE_HZ, BOB_HZ], 2000),
    ]);
    expect(atAlice.dominant, JSON.stringify(atAlice) + diagnostics()).toBe(BOB_HZ);
    expect(atAlice.powers[BOB_HZ]!).toBeGreaterThan(20 * atAlice.powers[ALICE_HZ]!);
    expect(atBob.dominant, JSON.stringify(atBob) + diagnostics()).toBe(ALICE_HZ);
    expect(atBob.powers[ALICE_HZ]!).toBeGreaterThan(20 * atBob.powers[BOB_HZ]!);

    const stats = await callInboundAudio(alice.page);
    expect(stats!.packetsReceived).toBeGreaterThan(0);
    expect(stats!.totalAudioEnergy).toBeGreaterThan(0);
  });

  it('alice hangs up and both pages show the end of the call', async () => {
    await alice.page.getByTestId('call-hangup').click();
    await Promise.all([waitForCallState(alice.page, 'ended'), waitForCallState(bob.page, 'ended')]);
    expect(await readCallState(alice.page)).toEqual({ state: 'ended', reason: 'hangup' });
    expect(await readCallState(bob.page)).toEqual({ state: 'ended', reason: 'hangup' });
    expect(await alice.page.getByTestId('call-hangup').count()).toBe(0);
    expect(await remoteAudioElementCount(alice.page)).toBe(0);
  });

  it('bob rejects the next call: alice sees it declined and bob’s banner goes away', async () => {
    await dial(alice.page, BOB.extension);
    await waitForIncoming(bob.page);
    await bob.page.getByTestId('incoming-reject').click();
    await waitForCallState(alice.page, 'ended');
    expect(await readCallState(alice.page)).toEqual({ state: 'ended', reason: 'rejected' });
    await bob.page.getByTestId('incoming-banner').waitFor({ state: 'detached' });
  });

  it('logging out unregisters the phone', async () => {
    await bob.page.getByTestId('logout').click();
    await bob.page.getByTestId('login-form').waitFor();
    expect(await bob.page.getByTestId('status-registered').getAttribute('data-registered')).toBe(
      'false',
    );
    expect(server.hub.isRegistered(BOB.sipUsername)).toBe(false);
  });
});
