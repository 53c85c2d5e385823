/**
 * The full product path: the real Confab server (in-process) serves the phone page; two
 * Chromium participants, each with its own tone as fake microphone, log in through the UI;
 * alice dials 1002, bob answers from the incoming banner, each page hears the other's tone
 * (through the server's media anchor) and not its own; alice hangs up; both pages show the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { launchParticipant, type BrowserParticipant } from '../support/browser.js';
import {
  serverExportsStartConfab,
  startTestConfab,
  type TestConfab,
} from '../support/confab-server.js';
import {
  callInboundAudio,
  dial,
  logInViaUi,
  measureCallAudio,
  phoneDist,
  readCallState,
  waitForCallState,
  waitForIncoming,
} from '../support/phone-page.js';
import { makeToneDir, writeToneWav } from '../support/tones.js';

const serverReady = await serverExportsStartConfab();

const ALICE_HZ = 500;
const BOB_HZ = 1300;

describe.skipIf(!serverReady)(
  'two-party call through the real Confab server (Chromium ↔ Chromium)',
  () => {
    let confab: TestConfab;
    let toneDir: string;
    let alice: BrowserParticipant;
    let bob: BrowserParticipant;

    beforeAll(async () => {
      confab = await startTestConfab({ staticDir: phoneDist() });
      toneDir = makeToneDir();
      [alice, bob] = await Promise.all([
        launchParticipant({ name: 'alice', toneWav: writeToneWav(toneDir, ALICE_HZ) }),
        launchParticipant({ name: 'bob', toneWav: writeToneWav(toneDir, BOB_HZ) }),
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

    it('both users log in through the page served at / and register', async () => {
      const [aliceUser, bobUser] = confab.users;
      await Promise.all([
        logInViaUi(alice.page, confab.origin, aliceUser.username, aliceUser.password),
        logInViaUi(bob.page, confab.origin, bobUser.username, bobUser.password),
      ]);
      expect(await alice.page.getByTestId('user-number').textContent()).toBe('1001');
    });

    it('alice dials 1002, bob answers, each page hears the other tone and not its own', async () => {
      await dial(alice.page, '1002');
      expect(await waitForIncoming(bob.page)).toContain('1001');
      await bob.page.getByTestId('incoming-answer').click();
      await Promise.all([
        waitForCallState(alice.page, 'active'),
        waitForCallState(bob.page, 'active'),
      ]);

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
      expect(statsAlice!.totalAudioEnergy).toBeGreaterThan(0);
      expect(statsBob!.totalAudioEnergy).toBeGreaterThan(0);
    });

    it('alice hangs up and both pages show the end of the call', async () => {
      await alice.page.getByTestId('call-hangup').click();
      await Promise.all([
        waitForCallState(alice.page, 'ended'),
        waitForCallState(bob.page, 'ended'),
      ]);
      expect(await readCallState(alice.page)).toEqual({ state: 'ended', reason: 'hangup' });
      expect(await readCallState(bob.page)).toEqual({ state: 'ended', reason: 'hangup' });
    });
  },
);
