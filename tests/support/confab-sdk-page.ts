/**
 * Driving the Confab SDK that the phone page (apps/phone) exposes as `window.confabPhone`,
 * directly through its API rather than the UI: a recorder of Phone events and of the event
 * websocket's `call_*` bus events, answering and placing calls, and audio measurement. Used by
 * the `@wazo/sdk` compatibility test, where the other party is not a Confab page.
 */
import type { Page } from 'playwright-core';
import type { CallSession } from '@confab/sdk';
import type { InboundAudioStats, ProbeReport } from './browser.js';
import './phone-page.js';

/** One recorded Phone event: its name and the CallSession id it was about. */
export interface ConfabPhoneEvent {
  name: string;
  callId: string | null;
}

/** One recorded bus event of the event websocket. */
export interface ConfabBusEvent {
  name: string;
  call_id: string;
  sip_call_id: string;
  status: string;
  user_uuid: string;
  reason_code: number | null;
}

interface Recorder {
  phone: ConfabPhoneEvent[];
  bus: ConfabBusEvent[];
  sessions: Map<string, CallSession>;
}

declare global {
  interface Window {
    __confabRecorder: Recorder;
  }
}

const PHONE_EVENTS = [
  'onCallIncoming',
  'onCallOutgoing',
  'onCallAccepted',
  'onCallEnded',
  'onCallFailed',
  'onCallRejected',
  'onCallCanceled',
] as const;
const BUS_EVENTS = ['call_created', 'call_updated', 'call_answered', 'call_ended'] as const;

const DEFAULT_TIMEOUT = 20_000;

/** Starts recording Phone and websocket events in a logged-in phone page. Idempotent. */
export async function installConfabRecorder(page: Page): Promise<void> {
  await page.evaluate(
    ([phoneEvents, busEvents]) => {
      if (window.__confabRecorder !== undefined) {
        return;
      }
      const recorder: Recorder = { phone: [], bus: [], sessions: new Map() };
      window.__confabRecorder = recorder;
      const confab = window.confabPhone;
      for (const name of phoneEvents) {
        confab.Phone.on(name, (...args: unknown[]) => {
          const cs = args[0] as CallSession | undefined;
          const id = cs !== undefined && typeof cs.getId === 'function' ? cs.getId() : null;
          if (cs !== undefined && id !== null) {
            recorder.sessions.set(id, cs);
          }
          recorder.phone.push({ name, callId: id });
        });
      }
      for (const name of busEvents) {
        confab.Websocket.on(name, (event) => {
          const data = event.data;
          recorder.bus.push({
            name,
            call_id: String(data['call_id']),
            sip_call_id: String(data['sip_call_id']),
            status: String(data['status']),
            user_uuid: String(data['user_uuid']),
            reason_code: typeof data['reason_code'] === 'number' ? data['reason_code'] : null,
          });
        });
      }
    },
    [PHONE_EVENTS, BUS_EVENTS] as const,
  );
}

/**
 * Waits for a recorded Phone event `name` (about call `id` when given), among the events from
 * index `from` on; returns its call id.
 */
export async function waitForConfabPhoneEvent(
  page: Page,
  name: string,
  id?: string,
  from = 0,
  timeout = DEFAULT_TIMEOUT,
): Promise<string> {
  const handle = await page.waitForFunction(
    ([n, i, f]) =>
      window.__confabRecorder.phone
        .slice(f)
        .find((e) => e.name === n && (i === undefined || e.callId === i))?.callId,
    [name, id, from] as const,
    { timeout },
  );
  return (await handle.jsonValue())!;
}

/** Waits for a recorded bus event `name` matching `sipCallId`. */
export async function waitForConfabBusEvent(
  page: Page,
  name: string,
  sipCallId: string,
  timeout = DEFAULT_TIMEOUT,
): Promise<ConfabBusEvent> {
  const handle = await page.waitForFunction(
    ([n, s]) => window.__confabRecorder.bus.find((e) => e.name === n && e.sip_call_id === s),
    [name, sipCallId] as const,
    { timeout },
  );
  return (await handle.jsonValue())!;
}

/** The recorded Phone events so far. */
export function confabPhoneEvents(page: Page): Promise<ConfabPhoneEvent[]> {
  return page.evaluate(() => window.__confabRecorder.phone);
}

/** `Phone.hangup(callSession)` for a recorded call. */
export async function confabHangup(page: Page, id: string): Promise<void> {
  await page.evaluate(async (i) => {
    const cs = window.__confabRecorder.sessions.get(i);
    if (cs === undefined) {
      throw new Error(`no CallSession ${i}`);
    }
    await window.confabPhone.Phone.hangup(cs);
  }, id);
}

/** The recorded bus events so far. */
export function confabBusEvents(page: Page): Promise<ConfabBusEvent[]> {
  return page.evaluate(() => window.__confabRecorder.bus);
}

/** A plain view of a recorded CallSession. */
export function confabCallView(
  page: Page,
  id: string,
): Promise<{ sipCallId: string; callId: string; number: string; displayName: string }> {
  return page.evaluate((i) => {
    const cs = window.__confabRecorder.sessions.get(i);
    if (cs === undefined) {
      throw new Error(`no CallSession ${i}`);
    }
    return {
      sipCallId: cs.sipCallId,
      callId: cs.callId,
      number: cs.number,
      displayName: cs.displayName,
    };
  }, id);
}

/** `Phone.accept(callSession)` for a recorded incoming call. */
export async function confabAccept(page: Page, id: string): Promise<void> {
  await page.evaluate(async (i) => {
    const cs = window.__confabRecorder.sessions.get(i);
    if (cs === undefined) {
      throw new Error(`no CallSession ${i}`);
    }
    await window.confabPhone.Phone.accept(cs);
  }, id);
}

/** `Phone.call(number)`; returns the new CallSession's id. */
export function confabCall(page: Page, number: string): Promise<string> {
  return page.evaluate(async (n) => {
    const cs = await window.confabPhone.Phone.call(n);
    window.__confabRecorder.sessions.set(cs.getId(), cs);
    return cs.getId();
  }, number);
}

/** Measures the tones of recorded call `id`'s remote stream. */
export async function confabMeasureCallAudio(
  page: Page,
  id: string,
  candidates: readonly number[],
  durationMs = 1500,
): Promise<ProbeReport> {
  const stream = await page.evaluateHandle((i) => {
    const cs = window.__confabRecorder.sessions.get(i);
    const remote = cs === undefined ? undefined : window.confabPhone.Phone.getRemoteStream(cs);
    if (remote === undefined) {
      throw new Error(`no remote media for call ${i}`);
    }
    return remote;
  }, id);
  const frequencies: number[] = [...candidates];
  return page.evaluate(([s, freqs, ms]) => window.__confabProbe.measure(s, freqs, ms), [
    stream,
    frequencies,
    durationMs,
  ] as const);
}

/** inbound-rtp audio stats of recorded call `id`. */
export function confabInboundAudio(page: Page, id: string): Promise<InboundAudioStats | null> {
  return page.evaluate((i) => {
    const cs = window.__confabRecorder.sessions.get(i);
    if (cs === undefined) {
      return null;
    }
    return window.__confabProbe.inboundAudio({
      getStats: async () => {
        const report = await window.confabPhone.Phone.getStats(cs);
        if (report === null) {
          throw new Error('no stats');
        }
        return report;
      },
    } as RTCPeerConnection);
  }, id);
}
