/**
 * Page-object helpers for the Confab phone page (apps/phone) in a real Chromium: log in through
 * the form, dial, answer, hang up, read the call state, and measure the audio the page receives
 * with the in-page probe of ./browser.ts. They only use the page's `data-testid`s and the SDK
 * instance it exposes as `window.confabPhone`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { Confab } from '@confab/sdk';
import type { InboundAudioStats, ProbeReport } from './browser.js';

declare global {
  interface Window {
    confabPhone: Confab;
  }
}

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** apps/phone/dist, built first if it is missing (the root `npm test` builds it anyway). */
export function phoneDist(): string {
  const dist = join(REPO_ROOT, 'apps', 'phone', 'dist');
  if (!existsSync(join(dist, 'index.html'))) {
    execFileSync('npm', ['run', 'build', '-w', '@confab/phone'], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
  }
  return dist;
}

/** Call states of the page (`data-state` of `call-state`). */
export type PageCallState = 'idle' | 'calling' | 'ringing' | 'connecting' | 'active' | 'ended';

const DEFAULT_TIMEOUT = 20_000;

/** Opens the page at `origin`, logs in through the form and waits for "Registered". */
export async function logInViaUi(
  page: Page,
  origin: string,
  username: string,
  password: string,
): Promise<void> {
  await page.goto(`${origin}/`);
  await page.getByTestId('login-server').fill(origin);
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page
    .locator('[data-testid="status-registered"][data-registered="true"]')
    .waitFor({ timeout: DEFAULT_TIMEOUT });
}

/** Waits until the call panel shows `state`. */
export async function waitForCallState(
  page: Page,
  state: PageCallState,
  timeout = DEFAULT_TIMEOUT,
): Promise<void> {
  await page.locator(`[data-testid="call-state"][data-state="${state}"]`).waitFor({ timeout });
}

/** The call panel's state and, once ended, its reason. */
export async function readCallState(
  page: Page,
): Promise<{ state: string | null; reason: string | null }> {
  const element = page.getByTestId('call-state');
  return {
    state: await element.getAttribute('data-state'),
    reason: await element.getAttribute('data-reason'),
  };
}

/** Types `number` and presses Call. */
export async function dial(page: Page, number: string): Promise<void> {
  await page.getByTestId('dial-number').fill(number);
  await page.getByTestId('dial-call').click();
}

/** Waits for the incoming-call banner and returns the caller text it shows. */
export async function waitForIncoming(page: Page, timeout = DEFAULT_TIMEOUT): Promise<string> {
  await page.getByTestId('incoming-banner').waitFor({ timeout });
  return (await page.getByTestId('incoming-caller').textContent()) ?? '';
}

/** Measures the tones of the current call's remote stream (through the SDK the page exposes). */
export async function measureCallAudio(
  page: Page,
  candidates: readonly number[],
  durationMs = 1500,
): Promise<ProbeReport> {
  const stream = await page.evaluateHandle(() => {
    const phone = window.confabPhone.Phone;
    const call = phone.getCurrentCallSession();
    const remote = call === undefined ? undefined : phone.getRemoteStream(call);
    if (remote === undefined) {
      throw new Error('no current call with remote media');
    }
    return remote;
  });
  const frequencies: number[] = [...candidates];
  return page.evaluate(([s, freqs, ms]) => window.__confabProbe.measure(s, freqs, ms), [
    stream,
    frequencies,
    durationMs,
  ] as const);
}

/** inbound-rtp audio stats of the current call (`Phone.getStats`). */
export async function callInboundAudio(page: Page): Promise<InboundAudioStats | null> {
  return page.evaluate(() => {
    const phone = window.confabPhone.Phone;
    const call = phone.getCurrentCallSession();
    if (call === undefined) {
      return null;
    }
    return window.__confabProbe.inboundAudio({
      getStats: async () => {
        const report = await phone.getStats(call);
        if (report === null) {
          throw new Error('no stats');
        }
        return report;
      },
    } as RTCPeerConnection);
  });
}

/** The `<audio>` elements the SDK created for calls, inside the page's remote-audio container. */
export async function remoteAudioElementCount(page: Page): Promise<number> {
  return page.locator('[data-testid="remote-audio"] audio').count();
}

/**
 * Page-side source that records every `setRemoteDescription` of every RTCPeerConnection
 * (`window.__confabSdp`: the description types, in order). A server-initiated re-INVITE reaches
 * a page as a remote **offer** on an existing connection; answers are the page's own offers
 * being answered. Installed with `context.addInitScript` before the page loads.
 */
export const REMOTE_SDP_PROBE_SOURCE = String.raw`
(() => {
  if (window.__confabSdp) { return; }
  window.__confabSdp = [];
  const original = RTCPeerConnection.prototype.setRemoteDescription;
  let next = 0;
  const ids = new WeakMap();
  RTCPeerConnection.prototype.setRemoteDescription = function (description, ...rest) {
    if (!ids.has(this)) { ids.set(this, next++); }
    window.__confabSdp.push({ pc: ids.get(this), type: description && description.type });
    return original.call(this, description, ...rest);
  };
})();
`;

/** One `setRemoteDescription` seen in a page: which connection, offer or answer. */
export interface RemoteSdp {
  pc: number;
  type: string;
}

declare global {
  interface Window {
    __confabSdp: RemoteSdp[];
    __confabAdhoc: { name: string; conferenceId: string; callId: string | null }[];
  }
}

/** The remote descriptions the page applied so far (needs {@link REMOTE_SDP_PROBE_SOURCE}). */
export async function remoteDescriptions(page: Page): Promise<RemoteSdp[]> {
  return page.evaluate(() => [...window.__confabSdp]);
}

/** Starts recording the `conference_adhoc_*` events of the page's event websocket. */
export async function recordAdhocEvents(page: Page): Promise<void> {
  await page.evaluate(() => {
    window.__confabAdhoc = [];
    const { Websocket } = window.confabPhone;
    const names = Object.values(Websocket)
      .filter((v): v is string => typeof v === 'string' && v.startsWith('conference_adhoc_'))
      .filter((v, i, all) => all.indexOf(v) === i);
    for (const name of names) {
      Websocket.on(name, ({ data }) => {
        window.__confabAdhoc.push({
          name,
          conferenceId: String(data['conference_id']),
          callId: typeof data['call_id'] === 'string' ? data['call_id'] : null,
        });
      });
    }
  });
}

/** The `conference_adhoc_*` events recorded so far (see {@link recordAdhocEvents}). */
export async function adhocEvents(
  page: Page,
): Promise<{ name: string; conferenceId: string; callId: string | null }[]> {
  return page.evaluate(() => [...window.__confabAdhoc]);
}
