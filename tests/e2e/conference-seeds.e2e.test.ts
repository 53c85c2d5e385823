/**
 * The seeds' ad-hoc conference flow with four Chromium pages of the phone page (apps/phone),
 * each sending its own tone, through the real Confab server: alice calls bob, then carol (bob is
 * held), merges them (`startConference(callBob, [callCarol])` behind the Merge button) → all three
 * hear each other; alice calls dave and adds him → four; she mutes bob server-side and back;
 * removes carol (carol's call ends, `conference_adhoc_participant_left` for the others); ends the
 * conference (`conference_adhoc_deleted`, finished, no participants, every call over).
 *
 * At every step: each page's received audio holds the other members' tones and not its own (or
 * anyone outside), and the `conference_adhoc_*` events each page received are checked. Nobody's
 * browser renegotiates: the participants' pages apply exactly one remote description (the
 * initial offer) for the whole flow, and alice's pages never receive an offer from the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
import {
  launchParticipant,
  type BrowserParticipant,
  type ProbeReport,
} from '../support/browser.js';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import {
  REMOTE_SDP_PROBE_SOURCE,
  adhocEvents,
  dial,
  logInViaUi,
  measureCallAudio,
  phoneDist,
  recordAdhocEvents,
  remoteDescriptions,
  waitForCallState,
  waitForIncoming,
} from '../support/phone-page.js';
import { makeToneDir, writeToneWav } from '../support/tones.js';

const HZ = { alice: 500, bob: 1300, carol: 2100, dave: 2900 } as const;
type Name = keyof typeof HZ;
const ALL_HZ = Object.values(HZ);

describe("the seeds' ad-hoc conference with four Chromium pages", () => {
  let confab: TestConfab;
  let toneDir: string | undefined;
  const pages = {} as Record<Name, BrowserParticipant>;
  const users = {} as Record<Name, TestLineUser>;
  /** Each participant page's own call id (its channel at the server = the participant key). */
  const channel = {} as Record<Exclude<Name, 'alice'>, string>;
  let conferenceId = '';

  beforeAll(async () => {
    confab = await startTestConfab({ staticDir: phoneDist() });
    toneDir = makeToneDir();
    const dir = toneDir;
    const names = Object.keys(HZ) as Name[];
    const launched = await Promise.all(
      names.map((name) => launchParticipant({ name, toneWav: writeToneWav(dir, HZ[name]) })),
    );
    names.forEach((name, i) => (pages[name] = launched[i]!));
    for (const name of names) {
      users[name] = await confab.addUser({ firstname: name, lastname: 'Page' });
      await pages[name].context.addInitScript({ content: REMOTE_SDP_PROBE_SOURCE });
    }
    await Promise.all(
      names.map((name) =>
        logInViaUi(pages[name].page, confab.origin, users[name].username, users[name].password),
      ),
    );
    await Promise.all(names.map((name) => recordAdhocEvents(pages[name].page)));
  });

  afterAll(async () => {
    await Promise.all(Object.values(pages).map((p) => p.close()));
    await confab?.close();
    if (toneDir !== undefined) {
      rmSync(toneDir, { recursive: true, force: true });
    }
  });

  const diagnostics = (): string =>
    Object.values(pages)
      .flatMap((p) => p.logs)
      .slice(-40)
      .join('\n');

  /** What `name`'s current call receives, after 0.7 s for the audio in flight to drain. */
  async function heardAt(name: Name): Promise<ProbeReport> {
    await measureCallAudio(pages[name].page, ALL_HZ, 700);
    return measureCallAudio(pages[name].page, ALL_HZ, 1500);
  }

  /** `name` hears every member of `members` but itself, and nobody else (20 dB margin). */
  async function expectHears(name: Name, members: readonly Name[]): Promise<void> {
    const expected = members.filter((m) => m !== name).map((m) => HZ[m]);
    const absent = ALL_HZ.filter((f) => !expected.includes(f));
    const heardRight = (r: ProbeReport): boolean => {
      const p = (f: number): number => r.powers[f] ?? 0;
      if (expected.length === 0) {
        return ALL_HZ.every((f) => p(f) < 1e-5);
      }
      const weakest = Math.min(...expected.map(p));
      return weakest > 1e-5 && absent.every((f) => p(f) * 100 < weakest);
    };
    // A change (a merge, an add, a mute) reaches the page after a delay that grows with the
    // machine's load: measure again (up to 10 s) while the expected mix is not heard yet.
    const deadline = Date.now() + 10_000;
    let report = await heardAt(name);
    while (!heardRight(report) && Date.now() < deadline) {
      report = await measureCallAudio(pages[name].page, ALL_HZ, 1500);
    }
    const power = (f: number): number => report.powers[f] ?? 0;
    const detail = `${name} ${JSON.stringify(report)}\n${diagnostics()}`;
    if (process.env['DEBUG_TONES'] !== undefined) {
      console.log(name, members.join('+'), JSON.stringify(report.powers));
    }
    if (expected.length === 0) {
      // Silence: no candidate tone at all.
      for (const f of ALL_HZ) {
        expect(power(f), detail).toBeLessThan(1e-5);
      }
      return;
    }
    const weakest = Math.min(...expected.map(power));
    expect(weakest, detail).toBeGreaterThan(1e-5);
    for (const f of absent) {
      expect(
        power(f) * 100,
        `${name} must not hear ${f} Hz: ${JSON.stringify(report)}`,
      ).toBeLessThan(weakest);
    }
  }

  async function answerCall(from: Name, to: Exclude<Name, 'alice'>): Promise<void> {
    await dial(pages[from].page, users[to].extension);
    await waitForIncoming(pages[to].page);
    await pages[to].page.getByTestId('incoming-answer').click();
    await Promise.all([
      waitForCallState(pages[from].page, 'active'),
      waitForCallState(pages[to].page, 'active'),
    ]);
    channel[to] = await pages[to].page.evaluate(
      () => window.confabPhone.Phone.getCurrentCallSession()?.callId ?? '',
    );
    expect(channel[to]).not.toBe('');
  }

  /** The participant keys the page lists, sorted. */
  async function listedParticipants(page: Page): Promise<string[]> {
    const ids = await page
      .getByTestId('conference-participant')
      .evaluateAll((items) => items.map((item) => item.getAttribute('data-call-id') ?? ''));
    return ids.sort();
  }

  async function waitForParticipants(ids: string[]): Promise<void> {
    const page = pages.alice.page;
    await page.waitForFunction(
      (count) =>
        document.querySelectorAll('[data-testid="conference-participant"]').length === count,
      ids.length,
    );
    expect(await listedParticipants(page)).toEqual([...ids].sort());
  }

  async function eventNames(name: Name): Promise<string[]> {
    return (await adhocEvents(pages[name].page))
      .filter((e) => e.conferenceId === conferenceId)
      .map((e) => e.name);
  }

  async function waitForEvent(name: Name, event: string, callId?: string): Promise<void> {
    await pages[name].page.waitForFunction(
      ([id, wanted, call]) =>
        window.__confabAdhoc.some(
          (e) => e.conferenceId === id && e.name === wanted && (call === null || e.callId === call),
        ),
      [conferenceId, event, callId ?? null] as const,
    );
  }

  /** Participants' pages applied one remote offer (the call) and nothing else; alice no offer. */
  async function expectNoRenegotiation(participants: Exclude<Name, 'alice'>[]): Promise<void> {
    for (const name of participants) {
      expect(await remoteDescriptions(pages[name].page), name).toEqual([{ pc: 0, type: 'offer' }]);
    }
    const atAlice = await remoteDescriptions(pages.alice.page);
    if (process.env['DEBUG_TONES'] !== undefined) {
      console.log('alice remote descriptions', JSON.stringify(atAlice));
    }
    expect(atAlice.filter((d) => d.type !== 'answer')).toEqual([]);
  }

  it('alice calls bob, then carol: bob is held and hears nothing', async () => {
    await answerCall('alice', 'bob');
    await expectHears('bob', ['alice', 'bob']);
    await answerCall('alice', 'carol');
    await pages.alice.page.getByTestId('held-call').waitFor();
    await expectHears('alice', ['alice', 'carol']);
    await expectHears('carol', ['alice', 'carol']);
    await expectHears('bob', ['bob']);
  });

  it('Merge (startConference(callBob, [callCarol])): all three hear each other, without renegotiation', async () => {
    await pages.alice.page.getByTestId('conference-merge').click();
    const panel = pages.alice.page.locator('[data-testid="conference"][data-state="Started"]');
    await panel.waitFor();
    conferenceId = (await panel.getAttribute('data-conference-id')) ?? '';
    expect(conferenceId).toMatch(/^[0-9a-f-]{36}$/);
    await waitForParticipants([channel.bob, channel.carol]);
    // alice's leg to carol was hung up by the server; the bob call is back and current.
    await pages.alice.page.getByTestId('held-calls').waitFor({ state: 'detached' });
    await waitForCallState(pages.alice.page, 'active');
    const current = await pages.alice.page.evaluate(() => {
      const phone = window.confabPhone.Phone;
      return phone.getCallSessions().map((c) => ({ held: c.isOnHold(), peer: c.number }));
    });
    expect(current).toEqual([{ held: false, peer: users.bob.extension }]);

    await expectHears('alice', ['alice', 'bob', 'carol']);
    await expectHears('bob', ['alice', 'bob', 'carol']);
    await expectHears('carol', ['alice', 'bob', 'carol']);

    await waitForEvent('alice', 'conference_adhoc_participant_joined', channel.carol);
    expect((await eventNames('alice'))[0]).toBe('conference_adhoc_created');
    for (const name of ['bob', 'carol'] as const) {
      await waitForEvent(name, 'conference_adhoc_participant_joined');
      expect(await eventNames(name)).not.toContain('conference_adhoc_created');
    }
    await expectNoRenegotiation(['bob', 'carol']);
  });

  it('the participant list shows who talks, and a server-side mute silences bob for everyone', async () => {
    // Every page sends a continuous tone: both participants are shown talking.
    await pages.alice.page.waitForFunction(
      () =>
        document.querySelectorAll('[data-testid="conference-participant"][data-talking="true"]')
          .length === 2,
    );
    const bobRow = pages.alice.page.locator(
      `[data-testid="conference-participant"][data-call-id="${channel.bob}"]`,
    );
    await bobRow.getByTestId('conference-participant-mute').click();
    await pages.alice.page
      .locator(
        `[data-testid="conference-participant"][data-call-id="${channel.bob}"][data-muted="true"]`,
      )
      .waitFor();
    await waitForEvent('alice', 'conference_adhoc_participant_muted', channel.bob);
    await expectHears('carol', ['alice', 'carol']);
    await expectHears('alice', ['alice', 'carol']);
    // bob still hears everyone.
    await expectHears('bob', ['alice', 'bob', 'carol']);
    await bobRow.getByTestId('conference-participant-mute').click();
    await pages.alice.page
      .locator(
        `[data-testid="conference-participant"][data-call-id="${channel.bob}"][data-muted="false"]`,
      )
      .waitFor();
    await expectHears('carol', ['alice', 'bob', 'carol']);
  });

  it('alice calls dave and adds him: four hear each other', async () => {
    await answerCall('alice', 'dave');
    // Placing the call held the conference's host call: bob and carol go on without alice.
    await expectHears('bob', ['bob', 'carol']);
    await expectHears('dave', ['alice', 'dave']);
    await pages.alice.page.getByTestId('call-add-to-conference').click();
    await waitForParticipants([channel.bob, channel.carol, channel.dave]);
    await pages.alice.page.getByTestId('held-calls').waitFor({ state: 'detached' });

    const everyone: Name[] = ['alice', 'bob', 'carol', 'dave'];
    for (const name of everyone) {
      await expectHears(name, everyone);
    }
    await waitForEvent('alice', 'conference_adhoc_participant_joined', channel.dave);
    await waitForEvent('dave', 'conference_adhoc_participant_joined', channel.dave);
    await waitForEvent('bob', 'conference_adhoc_participant_joined', channel.dave);
    await expectNoRenegotiation(['bob', 'carol', 'dave']);
  });

  it("removing carol ends carol's call; the others get conference_adhoc_participant_left", async () => {
    const carolRow = pages.alice.page.locator(
      `[data-testid="conference-participant"][data-call-id="${channel.carol}"]`,
    );
    await carolRow.getByTestId('conference-participant-remove').click();
    await waitForCallState(pages.carol.page, 'ended');
    await waitForParticipants([channel.bob, channel.dave]);
    for (const name of ['alice', 'bob', 'dave'] as const) {
      await waitForEvent(name, 'conference_adhoc_participant_left', channel.carol);
    }
    expect(await eventNames('carol')).not.toContain('conference_adhoc_participant_left');
    const members: Name[] = ['alice', 'bob', 'dave'];
    for (const name of members) {
      await expectHears(name, members);
    }
    await expectNoRenegotiation(['bob', 'dave']);
  });

  it('End conference: everyone ends, conference_adhoc_deleted, finished with no participants', async () => {
    const finished = pages.alice.page.evaluate(
      () =>
        new Promise<{ finished: boolean; participants: number }>((resolve) => {
          window.confabPhone.Phone.once(window.confabPhone.Phone.ON_CONFERENCE_ENDED, (c) =>
            resolve({ finished: c.finished, participants: Object.keys(c.participants).length }),
          );
        }),
    );
    await pages.alice.page.getByTestId('conference-hangup').click();
    expect(await finished).toEqual({ finished: true, participants: 0 });
    await Promise.all(
      (['alice', 'bob', 'dave'] as const).map((name) =>
        waitForCallState(pages[name].page, 'ended'),
      ),
    );
    await pages.alice.page.locator('[data-testid="conference"][data-state="Finished"]').waitFor();
    expect(await pages.alice.page.getByTestId('conference-participant').count()).toBe(0);
    await waitForEvent('alice', 'conference_adhoc_deleted');
    for (const name of ['bob', 'carol', 'dave'] as const) {
      expect(await eventNames(name)).not.toContain('conference_adhoc_deleted');
    }
    for (const name of Object.keys(HZ) as Name[]) {
      expect(
        await pages[name].page.evaluate(() => window.confabPhone.Phone.getCallSessions().length),
      ).toBe(0);
    }
  });
});
