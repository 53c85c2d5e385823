/**
 * The full product path: the real Confab server (in-process) serves the phone page (apps/phone);
 * two Chromium participants, each with its own tone as fake microphone, use it through the UI.
 * A wrong password shows the server's 401; both users log in and register; alice dials bob, bob
 * answers from the incoming banner, each page hears the other's tone (through the server's media
 * anchor) and not its own; alice hangs up and both pages show the end; bob rejects the next
 * call; bob logs out and the server forgets his registration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { launchParticipant, type BrowserParticipant } from '../support/browser.js';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';
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

describe('phone page through the real Confab server (Chromium ↔ Chromium)', () => {
  let confab: TestConfab;
  let toneDir: string | undefined;
  let alice: BrowserParticipant;
  let bob: BrowserParticipant;

  beforeAll(async () => {
    confab = await startTestConfab({ staticDir: phoneDist() });
    toneDir = makeToneDir();
    const dir = toneDir;
    [alice, bob] = await Promise.all([
      launchParticipant({ name: 'alice', toneWav: writeToneWav(dir, ALICE_HZ) }),
      launchParticipant({ name: 'bob', toneWav: writeToneWav(dir, BOB_HZ) }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([alice?.close(), bob?.close()]);
    await confab?.close();
    if (toneDir !== undefined) {
      rmSync(toneDir, { recursive: true, force: true });
    }
  });

  const diagnostics = (): string => [...alice.logs, ...bob.logs].slice(-40).join('\n');

  it('shows the login error and stays unregistered with a wrong password', async () => {
    const page = alice.page;
    await page.goto(`${confab.origin}/`);
    await page.getByTestId('login-username').fill(confab.users[0].username);
    await page.getByTestId('login-password').fill('wrong');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('error').waitFor();
    expect(await page.getByTestId('error').textContent()).toContain('401');
    expect(await page.getByTestId('status-registered').getAttribute('data-registered')).toBe(
      'false',
    );
    expect(await confab.isRegistered(confab.users[0].extension)).toBe(false);
  });

  it('logs both users in through the form served at /; the server field defaults to the page origin', async () => {
    const [aliceUser, bobUser] = confab.users;
    await alice.page.goto(`${confab.origin}/`);
    expect(await alice.page.getByTestId('login-server').inputValue()).toBe(confab.origin);
    await Promise.all([
      logInViaUi(alice.page, confab.origin, aliceUser.username, aliceUser.password),
      logInViaUi(bob.page, confab.origin, bobUser.username, bobUser.password),
    ]);
    expect(await confab.isRegistered(aliceUser.extension)).toBe(true);
    expect(await confab.isRegistered(bobUser.extension)).toBe(true);
    expect(await alice.page.getByTestId('user-number').textContent()).toBe(aliceUser.extension);
  });

  it('alice dials bob, bob answers from the banner, each page hears the other tone and not its own', async () => {
    const [aliceUser, bobUser] = confab.users;
    await dial(alice.page, bobUser.extension);
    expect(await waitForIncoming(bob.page)).toContain(aliceUser.extension);
    expect(['calling', 'ringing']).toContain((await readCallState(alice.page)).state);

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

    const [statsAlice, statsBob] = await Promise.all([
      callInboundAudio(alice.page),
      callInboundAudio(bob.page),
    ]);
    expect(statsAlice!.packetsReceived).toBeGreaterThan(0);
    expect(statsAlice!.totalAudioEnergy).toBeGreaterThan(0);
    expect(statsBob!.totalAudioEnergy).toBeGreaterThan(0);
    expect(confab.stats().bridges).toBe(1);
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
    await dial(alice.page, confab.users[1].extension);
    await waitForIncoming(bob.page);
    await bob.page.getByTestId('incoming-reject').click();
    await waitForCallState(alice.page, 'ended');
    expect(await readCallState(alice.page)).toEqual({ state: 'ended', reason: 'rejected' });
    await bob.page.getByTestId('incoming-banner').waitFor({ state: 'detached' });
  });

  it('logging out unregisters the phone on the server', async () => {
    await bob.page.getByTestId('logout').click();
    await bob.page.getByTestId('login-form').waitFor();
    expect(await bob.page.getByTestId('status-registered').getAttribute('data-registered')).toBe(
      'false',
    );
    expect(await confab.isRegistered(confab.users[1].extension)).toBe(false);
  });
});
