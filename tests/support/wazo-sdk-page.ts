/**
 * A Chromium page running the REAL `@wazo/sdk` (npm 0.44.x, its self-contained UMD bundle
 * `dist/wazo-sdk.js`, loaded unchanged) against Confab, for the compatibility e2e test.
 *
 * The page is an app of its own: a blank document served by a loopback HTTP server of the test
 * (./static-server.ts, {@link WAZO_APP_PAGE}), i.e. on another origin than Confab, as a real
 * app would be, so CORS is exercised too. The SDK itself only speaks https:// and wss:// to its
 * host (Confab's HTTPS listener with the development certificate; Chromium runs with
 * `--ignore-certificate-errors`). (A document fulfilled by Playwright's router on Confab's own
 * origin does not work: Chromium's Local Network Access checks then block its WebSockets to
 * 127.0.0.1, `net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS`.) The test
 * adds the bundle as a script tag, which sets `window.Wazo`. A small page-side glue
 * (`window.__wazoCompat`, plain JavaScript) drives the SDK through its documented simple API —
 * `Wazo.Auth.setHost/logIn`, `Wazo.Phone.connect/call/accept/hangup` — and records every
 * `Wazo.Phone` event, so the test can wait for events and assert their arguments.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { BrowserParticipant, InboundAudioStats, ProbeReport } from './browser.js';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The published browser bundle of `@wazo/sdk` (root devDependency). */
export const WAZO_SDK_BUNDLE = join(
  REPO_ROOT,
  'node_modules',
  '@wazo',
  'sdk',
  'dist',
  'wazo-sdk.js',
);

/** The app's blank document, to serve with ./static-server.ts. */
export const WAZO_APP_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>@wazo/sdk compatibility</title></head><body></body></html>`;

/** One `Wazo.Phone` event as recorded in the page. */
export interface RecordedPhoneEvent {
  /** The event's string value, e.g. `onCallIncoming`. */
  name: string;
  /** `getId()` of the CallSession argument(s), in argument order. */
  callIds: string[];
  /** Arguments that are not CallSessions, JSON-safe (booleans, strings, numbers). */
  scalars: (string | number | boolean | null)[];
  /** Milliseconds since the page's time origin. */
  at: number;
}

/** A calld event as `Wazo.Websocket` relayed it to the app. */
export interface WazoBusEvent {
  name: string;
  call_id: string;
  sip_call_id: string;
  status: string;
  user_uuid: string;
  /** `muted` of the call object (false when absent). */
  muted: boolean;
  /** `digit` of `call_dtmf_created`. */
  digit: string | null;
}

/** What `Wazo.Auth.logIn` resolved with (a `Session`). */
export interface WazoLoginInfo {
  uuid: string;
  tenantUuid: string;
  token: string;
  refreshToken: string;
  displayName: string;
  sipLines: { username: string; isWebRtc: boolean }[];
  webRtcLine: string | null;
  engineVersion: string | null;
}

/** A plain view of a `CallSession` of the real SDK. */
export interface WazoCallView {
  id: string;
  sipCallId: string;
  callId: string;
  number: string;
  displayName: string;
  isCaller: boolean;
  answered: boolean;
  sipStatus: string;
}

/** A plain view of the page's current `AdHocAPIConference` of the real SDK. */
export interface WazoConferenceView {
  conferenceId: string;
  started: boolean;
  finished: boolean;
  paused: boolean;
  /** `getId()` (SIP Call-ID) of the host CallSession. */
  hostId: string;
  /** Keys of `participants`: the remote calld call ids (talking-to ids). */
  participantKeys: string[];
}

/**
 * Page-side glue, plain JavaScript (added as a script after the bundle). It uses only the simple
 * API's documented members. Listeners are added AFTER `Wazo.Phone.connect()`: the original's
 * `connect()` calls `_transferEvents()`, which `unbind()`s every listener added before it
 * (wazo-js-sdk spec §3.3, a known bug of the original that apps work around this way).
 */
const GLUE_SOURCE = String.raw`
(() => {
  const Wazo = window.Wazo;
  const events = [];
  const sessions = new Map();
  const isCallSession = (value) => !!value && typeof value === 'object' && typeof value.getId === 'function';
  const view = (cs) => ({
    id: cs.getId(), sipCallId: cs.sipCallId || '', callId: cs.callId || '', number: cs.number || '',
    displayName: cs.displayName || '', isCaller: !!cs.isCaller, answered: !!cs.answered,
    sipStatus: cs.sipStatus || '',
  });
  // The calld view of each SIP call, from call_created/call_updated (keyed by sip_call_id).
  const calldViews = new Map();
  // What the README's apps do (wazo-js-sdk spec §4.4): 0.44 never fills callSession.callId nor
  // callSession.call itself, so the app merges calld's view into its CallSessions.
  const fillFromCalld = (cs) => {
    const data = calldViews.get(cs.sipCallId);
    if (data) { cs.updateFrom(Wazo.domain.CallSession.parseCall(Wazo.domain.Call.parse(data))); }
  };
  const record = (name, args) => {
    const callIds = [];
    const scalars = [];
    for (const arg of args) {
      if (isCallSession(arg)) {
        callIds.push(arg.getId());
        // The SDK hands out a new CallSession snapshot on most events (spec §4.3): keep the latest.
        fillFromCalld(arg);
        sessions.set(arg.getId(), arg);
      } else if (arg === null || ['string', 'number', 'boolean'].includes(typeof arg)) {
        scalars.push(arg);
      }
    }
    events.push({ name, callIds, scalars, at: performance.now() });
  };
  const session = (id) => {
    const cs = sessions.get(id);
    if (!cs) { throw new Error('no CallSession ' + id + ' seen in the page'); }
    return cs;
  };
  const bus = [];
  let conference = null;
  const conferenceEvents = [];
  const conferenceView = () => conference && {
    conferenceId: conference.conferenceId, started: conference.started, finished: conference.finished,
    paused: conference.paused, hostId: conference.host.getId(),
    participantKeys: Object.keys(conference.participants),
  };
  // What an app does with the conference events Wazo.Websocket relays (spec §7.4): on
  // participant_left it drops participants[call_id] itself, because the SDK's
  // participantHasLeft(leaver) deletes participants[leaver.getId()], a SIP Call-ID that never
  // matches the talking-to keys (§7.2, a bug of the original); on deleted it drops the object.
  const listenToConferences = () => {
    for (const name of ['conference_adhoc_created', 'conference_adhoc_participant_joined',
      'conference_adhoc_participant_left', 'conference_adhoc_deleted']) {
      Wazo.Websocket.on(name, (event) => {
        const data = (event && event.data) || {};
        conferenceEvents.push(name + (data.call_id === undefined ? '' : ' ' + data.call_id));
        if (!conference || data.conference_id !== conference.conferenceId) { return; }
        if (name === 'conference_adhoc_participant_left') {
          delete conference.participants[data.call_id];
        } else if (name === 'conference_adhoc_deleted') {
          conference = null;
        }
      });
    }
  };
  window.__wazoCompat = {
    events,
    bus,
    view: (id) => view(session(id)),
    async logIn(host, username, password, clientId) {
      // init() first (it resets the host): with a client id, logIn asks for an offline token
      // and gets a refresh token (spec §2.2).
      Wazo.Auth.init(clientId, 3600, null, null, false);
      Wazo.Auth.setHost(host);
      const s = await Wazo.Auth.logIn(username, password);
      // logIn opened Wazo.Websocket (spec §2.3 step 4); listen to the calld events it relays.
      for (const name of ['call_created', 'call_updated', 'call_answered', 'call_ended',
        'call_held', 'call_resumed', 'call_dtmf_created']) {
        Wazo.Websocket.on(name, (event) => {
          const data = (event && event.data) || {};
          bus.push({ name, call_id: String(data.call_id), sip_call_id: String(data.sip_call_id),
                     status: String(data.status), user_uuid: String(data.user_uuid),
                     muted: data.muted === true, digit: data.digit === undefined ? null : String(data.digit) });
          if (name === 'call_created' || name === 'call_updated') {
            calldViews.set(data.sip_call_id, data);
            for (const cs of sessions.values()) { fillFromCalld(cs); }
          }
        });
      }
      listenToConferences();
      const lines = (s.profile && s.profile.sipLines) || [];
      const webRtc = s.primaryWebRtcLine();
      return {
        uuid: s.uuid, tenantUuid: s.tenantUuid || '', token: s.token, refreshToken: s.refreshToken || '', displayName: s.displayName(),
        sipLines: lines.map((l) => ({ username: l.username, isWebRtc: l.isWebRtc() })),
        webRtcLine: webRtc ? webRtc.username : null, engineVersion: s.engineVersion || null,
      };
    },
    async connect(audio) {
      await Wazo.Phone.connect({ media: { audio: audio || true, video: false } });
      for (const key of Object.keys(Wazo.Phone)) {
        const name = Wazo.Phone[key];
        if (key.startsWith('ON_') && typeof name === 'string') {
          Wazo.Phone.on(name, (...args) => record(name, args));
        }
      }
    },
    isRegistered: () => !!Wazo.Phone.phone && Wazo.Phone.phone.isRegistered(),
    async call(number) {
      const cs = await Wazo.Phone.call(number);
      if (!cs) { throw new Error('Wazo.Phone.call resolved ' + cs); }
      sessions.set(cs.getId(), cs);
      return view(cs);
    },
    async accept(id) { return Wazo.Phone.accept(session(id)); },
    async reject(id) { await Wazo.Phone.reject(session(id)); },
    async hold(id) { await Wazo.Phone.hold(session(id)); },
    async resume(id) { await Wazo.Phone.resume(session(id)); },
    sendDTMF(tone, id) { Wazo.Phone.sendDTMF(tone, session(id)); },
    transfer(id, target) { Wazo.Phone.transfer(session(id), target); },
    muteViaAPI(id) { Wazo.Phone.muteViaAPI(session(id)); },
    unmuteViaAPI(id) { Wazo.Phone.unmuteViaAPI(session(id)); },
    forceRefreshToken: () => Wazo.Auth.forceRefreshToken(),
    async disconnect() { await Wazo.Phone.disconnect(); },
    async runChecks(names) {
      const checker = new Wazo.Checker(Wazo.Auth.getHost(), Wazo.Auth.getSession());
      checker.checks = checker.checks.filter((c) => names.includes(c.name));
      const results = [];
      await checker.check(() => undefined, (name, result) => {
        results.push({ name, error: result instanceof Error ? result.message : null });
      });
      return results;
    },
    async logout() { await Wazo.Auth.logout(); },
    async hangup(id) { return Wazo.Phone.hangup(session(id)); },
    remoteStream: (id) => Wazo.Phone.getRemoteStream(session(id)),
    async stats(id) { return Wazo.Phone.getStats(session(id)); },
    remoteAudioElements: () => document.querySelectorAll('audio[id^="audio-"]').length,
    talkingTo: (id) => session(id).getTalkingToIds(),
    callIdOf: (id) => session(id).callId || '',
    // Ad-hoc conferences (spec §6–7): the app keeps the latest AdHocAPIConference, replacing its
    // reference after each mutator as the SDK's immutable style expects (§7.5).
    conferenceEvents,
    async startConference(hostId, otherIds) {
      conference = await Wazo.Phone.startConference(session(hostId), otherIds.map(session));
      return conferenceView();
    },
    async addToConference(id) {
      conference = await conference.addParticipant(session(id));
      return conferenceView();
    },
    async removeFromConference(id) {
      conference = await conference.removeParticipant(session(id));
      return conferenceView();
    },
    // resume() re-INVITEs the host leg without waiting (phone.resume is not awaited by the SDK).
    resumeConference() {
      conference = conference.resume();
      return conferenceView();
    },
    async hangupConference() {
      conference = await conference.hangup();
      const result = conferenceView();
      // Workaround (spec §7.2): hangup() passes \`participant: []\` (a typo), so the finished
      // conference still lists its participants; the app drops the whole object instead.
      conference = null;
      return result;
    },
    conferenceView: () => conferenceView(),
    adhocApiEnabled: () => Wazo.getApiClient().calld.isAhHocConferenceAPIEnabled(),
  };
})();
`;

declare global {
  interface Window {
    __wazoCompat: {
      events: RecordedPhoneEvent[];
      bus: WazoBusEvent[];
      view(id: string): WazoCallView;
      logIn(
        host: string,
        username: string,
        password: string,
        clientId: string,
      ): Promise<WazoLoginInfo>;
      connect(audio?: MediaTrackConstraints): Promise<void>;
      isRegistered(): boolean;
      call(number: string): Promise<WazoCallView>;
      accept(id: string): Promise<string | null>;
      reject(id: string): Promise<void>;
      hold(id: string): Promise<void>;
      resume(id: string): Promise<void>;
      sendDTMF(tone: string, id: string): void;
      transfer(id: string, target: string): void;
      muteViaAPI(id: string): void;
      unmuteViaAPI(id: string): void;
      forceRefreshToken(): Promise<string | null>;
      disconnect(): Promise<void>;
      runChecks(names: string[]): Promise<{ name: string; error: string | null }[]>;
      logout(): Promise<void>;
      hangup(id: string): Promise<boolean>;
      remoteStream(id: string): MediaStream | null;
      stats(id: string): Promise<RTCStatsReport | null | undefined>;
      remoteAudioElements(): number;
      talkingTo(id: string): string[];
      callIdOf(id: string): string;
      conferenceEvents: string[];
      startConference(hostId: string, otherIds: string[]): Promise<WazoConferenceView>;
      addToConference(id: string): Promise<WazoConferenceView>;
      removeFromConference(id: string): Promise<WazoConferenceView>;
      resumeConference(): WazoConferenceView;
      hangupConference(): Promise<WazoConferenceView>;
      conferenceView(): WazoConferenceView | null;
      adhocApiEnabled(): Promise<boolean>;
    };
  }
}

const DEFAULT_TIMEOUT = 20_000;

/** Drives the real `@wazo/sdk` in one participant's page. */
export class WazoSdkPage {
  readonly page: Page;
  /** Every HTTP response the page got from Confab (`METHOD path → status`), in order. */
  readonly confabRequests: { method: string; path: string; status: number }[] = [];

  readonly participant: BrowserParticipant;
  /** SIP messages on the SIP websocket (`/api/asterisk/ws`), prefixed `>>> ` (sent) / `<<< `. */
  readonly sipMessages: string[] = [];
  /** How many event websockets (`/api/websocketd/`) the SDK opened. */
  eventSocketsOpened = 0;
  /** How many of them are still open. */
  eventSocketsOpen = 0;
  /** JSON frames of the event websockets, in order (`out`: sent by the SDK). */
  readonly eventFrames: { direction: 'in' | 'out'; message: { op?: string; code?: number } }[] = [];

  private constructor(participant: BrowserParticipant, confabOrigin: string) {
    this.participant = participant;
    this.page = participant.page;
    const wssOrigin = confabOrigin.replace(/^https/, 'wss');
    this.page.on('websocket', (ws) => {
      if (ws.url().startsWith(`${wssOrigin}/api/asterisk/ws`)) {
        ws.on('framesent', (frame) => this.sipMessages.push(`>>> ${String(frame.payload)}`));
        ws.on('framereceived', (frame) => this.sipMessages.push(`<<< ${String(frame.payload)}`));
        return;
      }
      if (!ws.url().startsWith(`${wssOrigin}/api/websocketd/`)) {
        return;
      }
      this.eventSocketsOpened++;
      this.eventSocketsOpen++;
      ws.on('close', () => {
        this.eventSocketsOpen--;
      });
      const push = (direction: 'in' | 'out', payload: string | Buffer): void => {
        try {
          this.eventFrames.push({ direction, message: JSON.parse(String(payload)) as object });
        } catch {
          // not JSON: irrelevant here
        }
      };
      ws.on('framesent', (frame) => push('out', frame.payload));
      ws.on('framereceived', (frame) => push('in', frame.payload));
    });
    this.page.on('response', (response) => {
      const url = new URL(response.url());
      if (url.origin === confabOrigin) {
        this.confabRequests.push({
          method: response.request().method(),
          path: url.pathname,
          status: response.status(),
        });
      }
    });
  }

  /**
   * Opens `url` (a page serving {@link WAZO_APP_PAGE}) and loads the unchanged bundle into it,
   * then the glue. `confabOrigin` (`https://127.0.0.1:<port>`) is whose responses are recorded.
   */
  static async open(
    participant: BrowserParticipant,
    url: string,
    confabOrigin: string,
  ): Promise<WazoSdkPage> {
    const wazoPage = new WazoSdkPage(participant, confabOrigin);
    await participant.page.goto(url);
    await participant.page.addScriptTag({ path: WAZO_SDK_BUNDLE });
    await participant.page.addScriptTag({ content: GLUE_SOURCE });
    return wazoPage;
  }

  /** `typeof window.Wazo.Phone.connect` etc., to prove the bundle set its global. */
  wazoGlobal(): Promise<{ auth: string; phone: string; onCallIncoming: string }> {
    return this.page.evaluate(() => {
      const wazo = (
        window as unknown as {
          Wazo: {
            Auth?: { logIn?: unknown };
            Phone?: { connect?: unknown; ON_CALL_INCOMING?: unknown };
          };
        }
      ).Wazo;
      return {
        auth: typeof wazo.Auth?.logIn,
        phone: typeof wazo.Phone?.connect,
        onCallIncoming: String(wazo.Phone?.ON_CALL_INCOMING),
      };
    });
  }

  /**
   * `Wazo.Auth.init(clientId, …)`, `Wazo.Auth.setHost(host)`, then
   * `Wazo.Auth.logIn(username, password)`.
   */
  logIn(
    host: string,
    username: string,
    password: string,
    clientId = 'wazo-sdk-compat',
  ): Promise<WazoLoginInfo> {
    return this.page.evaluate(([h, u, p, c]) => window.__wazoCompat.logIn(h, u, p, c), [
      host,
      username,
      password,
      clientId,
    ] as const);
  }

  /** `Wazo.Phone.reject(callSession)`. */
  reject(id: string): Promise<void> {
    return this.page.evaluate((i) => window.__wazoCompat.reject(i), id);
  }

  /** `Wazo.Phone.hold(callSession)` (a re-INVITE). */
  hold(id: string): Promise<void> {
    return this.page.evaluate((i) => window.__wazoCompat.hold(i), id);
  }

  /** `Wazo.Phone.resume(callSession)`. */
  resume(id: string): Promise<void> {
    return this.page.evaluate((i) => window.__wazoCompat.resume(i), id);
  }

  /** `Wazo.Phone.sendDTMF(tone, callSession)` (RFC 4733 from the browser). */
  sendDTMF(tone: string, id: string): Promise<void> {
    return this.page.evaluate(([t, i]) => window.__wazoCompat.sendDTMF(t, i), [tone, id] as const);
  }

  /** `Wazo.Phone.transfer(callSession, target)`: blind transfer (hold, then REFER). */
  transfer(id: string, target: string): Promise<void> {
    return this.page.evaluate(([i, t]) => window.__wazoCompat.transfer(i, t), [
      id,
      target,
    ] as const);
  }

  /** `Wazo.Phone.muteViaAPI` / `unmuteViaAPI` (calld, needs `callSession.callId`). */
  muteViaAPI(id: string, mute: boolean): Promise<void> {
    return this.page.evaluate(
      ([i, m]) => (m ? window.__wazoCompat.muteViaAPI(i) : window.__wazoCompat.unmuteViaAPI(i)),
      [id, mute] as const,
    );
  }

  /** `Wazo.Auth.forceRefreshToken()`: the new token. */
  forceRefreshToken(): Promise<string | null> {
    return this.page.evaluate(() => window.__wazoCompat.forceRefreshToken());
  }

  /**
   * Runs the checks named `names` of the SDK's connectivity checker (`new Wazo.Checker(host,
   * session).check()`); `error` is the failed check's message.
   */
  runChecks(names: readonly string[]): Promise<{ name: string; error: string | null }[]> {
    return this.page.evaluate((n) => window.__wazoCompat.runChecks(n), [...names]);
  }

  /** `Wazo.Phone.disconnect()`. */
  disconnect(): Promise<void> {
    return this.page.evaluate(() => window.__wazoCompat.disconnect());
  }

  /** `Wazo.Auth.logout()`. */
  logout(): Promise<void> {
    return this.page.evaluate(() => window.__wazoCompat.logout());
  }

  /**
   * `Wazo.Phone.connect()`, then waits for the SIP registration (connect does not, spec §3.1).
   * `audio`: the `media.audio` constraints (the SDK uses them only with a `deviceId.exact`).
   */
  async connect(timeout = DEFAULT_TIMEOUT, audio?: MediaTrackConstraints): Promise<void> {
    await this.page.evaluate((a) => window.__wazoCompat.connect(a), audio);
    await this.page.waitForFunction(() => window.__wazoCompat.isRegistered(), undefined, {
      timeout,
    });
  }

  call(number: string): Promise<WazoCallView> {
    return this.page.evaluate((n) => window.__wazoCompat.call(n), number);
  }

  accept(id: string): Promise<string | null> {
    return this.page.evaluate((i) => window.__wazoCompat.accept(i), id);
  }

  hangup(id: string): Promise<boolean> {
    return this.page.evaluate((i) => window.__wazoCompat.hangup(i), id);
  }

  view(id: string): Promise<WazoCallView> {
    return this.page.evaluate((i) => window.__wazoCompat.view(i), id);
  }

  events(): Promise<RecordedPhoneEvent[]> {
    return this.page.evaluate(() => window.__wazoCompat.events);
  }

  /**
   * Waits for the first `Wazo.Phone` event named `name` (optionally about call `id`) among the
   * events recorded from index `from` on.
   */
  async waitForEvent(
    name: string,
    id?: string,
    timeout = DEFAULT_TIMEOUT,
    from = 0,
  ): Promise<RecordedPhoneEvent> {
    const handle = await this.page.waitForFunction(
      ([n, i, f]) =>
        window.__wazoCompat.events
          .slice(f)
          .find((e) => e.name === n && (i === undefined || e.callIds.includes(i))),
      [name, id, from] as const,
      { timeout },
    );
    return (await handle.jsonValue())!;
  }

  /**
   * Waits for a calld event `name` about SIP call `sipCallId` (any call when `''`) whose fields
   * match `where`, relayed by `Wazo.Websocket`.
   */
  async waitForBusEvent(
    name: string,
    sipCallId: string,
    where: Partial<WazoBusEvent> = {},
    timeout = DEFAULT_TIMEOUT,
  ): Promise<WazoBusEvent> {
    const handle = await this.page.waitForFunction(
      ([n, s, w]) =>
        window.__wazoCompat.bus.find(
          (e) =>
            e.name === n &&
            (s === '' || e.sip_call_id === s) &&
            Object.entries(w).every(([k, v]) => e[k as keyof WazoBusEvent] === v),
        ),
      [name, sipCallId, where] as const,
      { timeout },
    );
    return (await handle.jsonValue())!;
  }

  /** `callSession.getTalkingToIds()` (filled from calld's view, see the glue). */
  talkingTo(id: string): Promise<string[]> {
    return this.page.evaluate((i) => window.__wazoCompat.talkingTo(i), id);
  }

  /** `callSession.callId`: calld's id of our own leg ('' while unknown). */
  callIdOf(id: string): Promise<string> {
    return this.page.evaluate((i) => window.__wazoCompat.callIdOf(i), id);
  }

  /** `Wazo.Phone.startConference(host, others)` (POST calld `…/conferences/adhoc`). */
  startConference(hostId: string, otherIds: readonly string[]): Promise<WazoConferenceView> {
    const args: [string, string[]] = [hostId, [...otherIds]];
    return this.page.evaluate(([h, o]) => window.__wazoCompat.startConference(h, o), args);
  }

  /** `conference.addParticipant(callSession)` (PUT `…/participants/{talking-to id}`). */
  addToConference(id: string): Promise<WazoConferenceView> {
    return this.page.evaluate((i) => window.__wazoCompat.addToConference(i), id);
  }

  /** `conference.removeParticipant(callSession)` (DELETE `…/participants/{talking-to id}`). */
  removeFromConference(id: string): Promise<WazoConferenceView> {
    return this.page.evaluate((i) => window.__wazoCompat.removeFromConference(i), id);
  }

  /** `conference.resume()`: re-INVITEs the host leg off hold (not awaited by the SDK). */
  resumeConference(): Promise<WazoConferenceView> {
    return this.page.evaluate(() => window.__wazoCompat.resumeConference());
  }

  /** `conference.hangup()` (DELETE `…/adhoc/{id}`); the app then drops the object. */
  hangupConference(): Promise<WazoConferenceView> {
    return this.page.evaluate(() => window.__wazoCompat.hangupConference());
  }

  /** The app's current conference object (null once deleted or hung up). */
  conferenceView(): Promise<WazoConferenceView | null> {
    return this.page.evaluate(() => window.__wazoCompat.conferenceView());
  }

  /** The SDK's deprecated `calld.isAhHocConferenceAPIEnabled()` (HEAD on the collection). */
  adhocApiEnabled(): Promise<boolean> {
    return this.page.evaluate(() => window.__wazoCompat.adhocApiEnabled());
  }

  /** Conference events relayed by `Wazo.Websocket`, as `name call_id` strings. */
  conferenceEvents(): Promise<string[]> {
    return this.page.evaluate(() => window.__wazoCompat.conferenceEvents);
  }

  remoteAudioElementCount(): Promise<number> {
    return this.page.evaluate(() => window.__wazoCompat.remoteAudioElements());
  }

  /** Measures the tones of call `id`'s remote stream (`Wazo.Phone.getRemoteStream`). */
  async measureCallAudio(
    id: string,
    candidates: readonly number[],
    durationMs = 1500,
  ): Promise<ProbeReport> {
    const stream = await this.page.evaluateHandle((i) => {
      const remote = window.__wazoCompat.remoteStream(i);
      if (remote === null) {
        throw new Error(`Wazo.Phone.getRemoteStream(${i}) is null`);
      }
      return remote;
    }, id);
    const frequencies: number[] = [...candidates];
    return this.page.evaluate(([s, freqs, ms]) => window.__confabProbe.measure(s, freqs, ms), [
      stream,
      frequencies,
      durationMs,
    ] as const);
  }

  /** inbound-rtp audio stats of call `id` (`Wazo.Phone.getStats`). */
  callInboundAudio(id: string): Promise<InboundAudioStats | null> {
    return this.page.evaluate(
      (i) =>
        window.__confabProbe.inboundAudio({
          getStats: async () => {
            const report = await window.__wazoCompat.stats(i);
            if (report === null || report === undefined) {
              throw new Error('no stats');
            }
            return report;
          },
        } as RTCPeerConnection),
      id,
    );
  }
}
