/**
 * `Phone`: the softphone facade (spec wazo-js-sdk §3). It registers the user's WebRTC line over
 * SIP-over-WebSocket (SIP.js 0.21) and places and answers calls, reporting them as
 * {@link CallSession}s through `@wazo/sdk`-compatible events (./events.ts).
 *
 * Mid-call controls: hold/resume by re-INVITE (placing or answering a call holds the current
 * one first, as `@wazo/sdk` does), mute (local track + calld `mute/start|stop`), DTMF (RFC 4733,
 * SIP INFO fallback), blind transfer (REFER). `callSession.call` follows the event websocket's
 * `call_created`/`call_updated` for our own legs (matched by SIP Call-ID).
 *
 * Ad-hoc conferences: `startConference(host, otherCalls)` asks the server to merge calls
 * (../domain/adhoc-conference.ts); the server moves the media, nobody renegotiates.
 *
 * Limits of this release: one registration per Phone; no automatic re-registration after the
 * SIP WebSocket drops (the phone goes `Unregistered` and emits `onUnRegistered`; call
 * `connect()` again); no attended transfer.
 *
 * Phone states (one `#transition()` checks this table):
 * ```txt
 * Disconnected ─connect()─▶ Connecting ─REGISTER 200─▶ Registered ◀─re-registered─┐
 *      ▲                        │                          │                      │
 *      │◀───────failure─────────┘                          └─lost/expired─▶ Unregistered
 *      └──── Disconnecting ◀──disconnect() (from Connecting, Registered, Unregistered)
 * ```
 */
import { InvalidStateError, TypedEmitter, type Listener } from '@confab/core';
import {
  Invitation,
  Inviter,
  Registerer,
  RegistererState,
  UserAgent,
  type Session as SipSession,
  type SessionDescriptionHandler,
} from 'sip.js';
import type { ConfabAuth } from '../auth/auth.js';
import { isRecord } from '../api/json.js';
import { AdHocConference, type ConferenceBackend } from '../domain/adhoc-conference.js';
import { Call } from '../domain/call.js';
import { CallSession } from '../domain/call-session.js';
import type { Session, SipLine } from '../domain/session.js';
import { isApiError, PhoneError } from '../errors.js';
import type { Platform, PlatformOverrides } from '../platform.js';
import type { SdkRuntime } from '../runtime.js';
import type { ServerAddress } from '../server-address.js';
import { CallLeg, CallLegState, type CallOutcome } from './call-leg.js';
import { PhoneConferences } from './conferences.js';
import { PhoneEvent, type PhoneEventName, type PhoneEvents } from './events.js';
import { createDomAudioOutput } from './remote-audio.js';
import { WebSocketTransport, type WebSocketTransportOptions } from './transport.js';
import { WebsocketEvent, type BusEvent, type ConfabWebsocket } from '../websocket/websocket.js';

export const PhoneState = {
  Disconnected: 'Disconnected',
  Connecting: 'Connecting',
  Registered: 'Registered',
  Unregistered: 'Unregistered',
  Disconnecting: 'Disconnecting',
} as const;
export type PhoneState = (typeof PhoneState)[keyof typeof PhoneState];

const TRANSITIONS: Record<PhoneState, readonly PhoneState[]> = {
  Disconnected: ['Connecting'],
  Connecting: ['Registered', 'Disconnecting', 'Disconnected'],
  Registered: ['Unregistered', 'Disconnecting'],
  Unregistered: ['Registered', 'Disconnecting'],
  Disconnecting: ['Disconnected'],
};

/** Options of {@link ConfabPhone.connect}. */
export interface PhoneConnectOptions {
  /**
   * Local media of calls (`@wazo/sdk` shape). `video` is used only by calls placed or answered
   * with video. @default { audio: true, video: false }
   */
  media?: { audio?: boolean | MediaTrackConstraints; video?: boolean | MediaTrackConstraints };
  /**
   * Shorthand of `media.audio`, as the seeds' examples write it (`connect({ audio: true,
   * video: true })`, which `@wazo/sdk` silently ignores). `media` wins when both are given.
   */
  audio?: boolean | MediaTrackConstraints;
  /** Shorthand of `media.video` (see {@link PhoneConnectOptions.audio}). */
  video?: boolean | MediaTrackConstraints;
  /** STUN/TURN servers. @default [] (the server is expected to be reachable directly) */
  iceServers?: RTCIceServer[];
  /** Milliseconds to wait for ICE candidates before sending an offer or answer. @default 2000 */
  iceGatheringTimeout?: number;
  /** REGISTER expiry asked for, in seconds (SIP.js refreshes before it lapses). @default 600 */
  registerExpires?: number;
  /** Milliseconds to wait for the SIP WebSocket to open. @default 10000 */
  connectionTimeout?: number;
  /**
   * Browser playback of remote audio: `false` to play it yourself (listen to `onAudioStream`),
   * or the element that receives the per-call `<audio>` elements. @default document.body
   */
  remoteAudio?: false | { container?: HTMLElement };
  /** Platform overrides for this phone, e.g. `getUserMedia` returning a synthetic stream. */
  platform?: PlatformOverrides;
  /** SIP `User-Agent`. @default 'confab-sdk' */
  userAgentString?: string;
  /** SIP.js log level forwarded to the SDK logger. @default 'warn' */
  sipLogLevel?: 'debug' | 'log' | 'warn' | 'error';
}

/** Dependencies of {@link ConfabPhone}. */
export interface PhoneDependencies {
  auth: ConfabAuth;
  runtime: SdkRuntime;
  /** The instance's event websocket: `call_created`/`call_updated` fill `callSession.call`. */
  websocket?: ConfabWebsocket;
}

interface Connection {
  readonly ua: UserAgent;
  readonly registerer: Registerer;
  readonly server: ServerAddress;
  readonly session: Session;
  readonly platform: Platform;
  readonly media: {
    audio: boolean | MediaTrackConstraints;
    video: boolean | MediaTrackConstraints;
  };
  readonly iceServers: RTCIceServer[];
  readonly iceGatheringTimeout: number;
}

/** How long disconnect() lets the calls' CANCEL/BYE go out and be answered. */
const HANGUP_WAIT_MS = 2000;
/** How long disconnect() lets SIP.js stop gracefully before closing the socket under it. */
const STOP_WAIT_MS = 2000;

/** Resolves true once `promise` settled, or false after `ms` (at once for 0 if still pending). */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true as const,
        () => true as const,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const USER_PART_SAFE = /[A-Za-z0-9\-_.!~*'()&=+$,;?/]/;

/** Percent-encodes what RFC 3261 §25.1 does not allow in a user part (e.g. `#`). */
function escapeUser(user: string): string {
  let out = '';
  for (const char of user) {
    out += USER_PART_SAFE.test(char)
      ? char
      : Array.from(
          new TextEncoder().encode(char),
          (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
        ).join('');
  }
  return out;
}

/** Whether an SDP offer asks for video (an `m=video` line with a non-zero port). */
function offersVideo(sdp: string | undefined): boolean {
  return sdp !== undefined && /^m=video\s+[1-9]\d*\s/m.test(sdp);
}

export class ConfabPhone {
  readonly ON_REGISTERED = PhoneEvent.ON_REGISTERED;
  readonly ON_UNREGISTERED = PhoneEvent.ON_UNREGISTERED;
  readonly ON_CALL_OUTGOING = PhoneEvent.ON_CALL_OUTGOING;
  readonly ON_PROGRESS = PhoneEvent.ON_PROGRESS;
  readonly ON_CALL_INCOMING = PhoneEvent.ON_CALL_INCOMING;
  readonly ON_CALL_ANSWERED = PhoneEvent.ON_CALL_ANSWERED;
  readonly ON_CALL_ACCEPTED = PhoneEvent.ON_CALL_ACCEPTED;
  readonly ON_CALL_REJECTED = PhoneEvent.ON_CALL_REJECTED;
  readonly ON_CALL_CANCELED = PhoneEvent.ON_CALL_CANCELED;
  readonly ON_CALL_FAILED = PhoneEvent.ON_CALL_FAILED;
  readonly ON_CALL_ENDED = PhoneEvent.ON_CALL_ENDED;
  readonly ON_AUDIO_STREAM = PhoneEvent.ON_AUDIO_STREAM;
  readonly ON_CALL_HELD = PhoneEvent.ON_CALL_HELD;
  readonly ON_CALL_RESUMED = PhoneEvent.ON_CALL_RESUMED;
  readonly ON_CALL_UNHELD = PhoneEvent.ON_CALL_UNHELD;
  readonly ON_CALL_MUTED = PhoneEvent.ON_CALL_MUTED;
  readonly ON_CALL_UNMUTED = PhoneEvent.ON_CALL_UNMUTED;
  readonly ON_CONFERENCE_UPDATED = PhoneEvent.ON_CONFERENCE_UPDATED;
  readonly ON_CONFERENCE_ENDED = PhoneEvent.ON_CONFERENCE_ENDED;

  readonly #auth: ConfabAuth;
  readonly #runtime: SdkRuntime;
  readonly #emitter = new TypedEmitter<PhoneEvents>();
  #state: PhoneState = PhoneState.Disconnected;
  #connection: Connection | undefined;
  #connecting: Promise<void> | undefined;
  #disconnecting: Promise<void> | undefined;
  /** Bumped by disconnect(): an in-flight connect() that sees another value was aborted. */
  #generation = 0;
  readonly #legs = new Map<SipSession, CallLeg>();
  #current: CallLeg | undefined;
  readonly #conferences: PhoneConferences;

  constructor(dependencies: PhoneDependencies) {
    this.#auth = dependencies.auth;
    this.#runtime = dependencies.runtime;
    this.#conferences = new PhoneConferences(
      dependencies.auth,
      dependencies.runtime.logger.child({ component: 'conference' }),
      {
        joinHost: (host) => this.#joinConference(host),
        hold: async (host) => {
          await this.hold(host);
        },
        resume: async (host) => {
          await this.resume(host);
        },
        mute: (host) => this.mute(host),
        unmute: (host) => this.unmute(host),
        updated: (conference) => this.#emit(PhoneEvent.ON_CONFERENCE_UPDATED, conference),
        ended: (conference) => this.#emit(PhoneEvent.ON_CONFERENCE_ENDED, conference),
      },
    );
    dependencies.websocket?.observe((event) => this.#onBusEvent(event));
  }

  /**
   * What {@link AdHocConference}s of this phone use to reach the server and the host call.
   * @internal
   */
  get conferenceBackend(): ConferenceBackend {
    return this.#conferences;
  }

  /**
   * `call_created`/`call_updated` of one of our legs (same SIP Call-ID) attach calld's view to
   * its CallSession (spec wazo-js-sdk §4.4: `@wazo/sdk` leaves this to the application).
   */
  #onBusEvent(event: BusEvent): void {
    this.#conferences.onBusEvent(event);
    if (event.name !== WebsocketEvent.CALL_CREATED && event.name !== WebsocketEvent.CALL_UPDATED) {
      return;
    }
    if (!isRecord(event.data) || typeof event.data['sip_call_id'] !== 'string') {
      return;
    }
    const sipCallId = event.data['sip_call_id'];
    const leg = [...this.#legs.values()].find((l) => l.callSession.sipCallId === sipCallId);
    if (leg === undefined) {
      return;
    }
    let call: Call;
    try {
      call = Call.parse(event.data);
    } catch (error) {
      this.#runtime.logger.warn({ err: error }, `ignoring a malformed ${event.name}`);
      return;
    }
    leg.callSession.attachCall(call);
  }

  // ---------------------------------------------------------------------------------------
  // Events

  /** Adds a listener; returns a function that removes it. Listeners survive connect(). */
  on<K extends PhoneEventName>(event: K, listener: Listener<PhoneEvents[K]>): () => void {
    return this.#emitter.on(event, listener);
  }

  once<K extends PhoneEventName>(event: K, listener: Listener<PhoneEvents[K]>): () => void {
    return this.#emitter.once(event, listener);
  }

  off<K extends PhoneEventName>(event: K, listener: Listener<PhoneEvents[K]>): void {
    this.#emitter.off(event, listener);
  }

  /** Removes every listener (`@wazo/sdk` `unbind()`). */
  unbind(): void {
    this.#emitter.removeAllListeners();
  }

  #emit<K extends PhoneEventName>(event: K, ...args: PhoneEvents[K]): void {
    this.#emitter.emit(event, ...args);
  }

  // ---------------------------------------------------------------------------------------
  // Registration

  get state(): PhoneState {
    return this.#state;
  }

  isRegistered(): boolean {
    return this.#state === PhoneState.Registered;
  }

  /**
   * Connects the SIP WebSocket and registers the user's WebRTC line (or `sipLine`); resolves once
   * the registrar accepted the REGISTER (stricter than `@wazo/sdk`, which resolves earlier).
   * When already registered it only resolves. Concurrent calls share one attempt.
   * @throws PhoneError `PHONE_NOT_AUTHENTICATED`, `PHONE_NO_WEBRTC_LINE`,
   *   `PHONE_TRANSPORT_FAILED`, `PHONE_REGISTRATION_FAILED` (with the SIP status),
   *   `PHONE_ABORTED` if disconnect() interrupted it
   */
  async connect(options: PhoneConnectOptions = {}, sipLine?: SipLine): Promise<void> {
    switch (this.#state) {
      case PhoneState.Registered:
        return;
      case PhoneState.Connecting:
        return this.#connecting;
      case PhoneState.Disconnecting:
      case PhoneState.Unregistered:
        await this.disconnect();
        // Another caller may have started connecting meanwhile: decide again.
        return this.connect(options, sipLine);
      case PhoneState.Disconnected:
        break;
    }
    const session = this.#auth.getSession();
    const server = this.#auth.getServer();
    if (session === undefined || server === undefined) {
      throw PhoneError.notAuthenticated();
    }
    const line = sipLine ?? session.primaryWebRtcLine();
    if (line === undefined) {
      throw PhoneError.noWebRtcLine();
    }
    const attempt = this.#start(session, server, line, options);
    this.#connecting = attempt;
    try {
      await attempt;
    } finally {
      if (this.#connecting === attempt) {
        this.#connecting = undefined;
      }
    }
  }

  async #start(
    session: Session,
    server: ServerAddress,
    line: SipLine,
    options: PhoneConnectOptions,
  ): Promise<void> {
    const generation = this.#generation;
    this.#transition(PhoneState.Connecting);
    const logger = this.#runtime.logger.child({ component: 'phone', line: line.username });
    const platform = this.#platformFor(options);
    const wsUrl = `${server.wsOrigin}/api/asterisk/ws?userUuid=${encodeURIComponent(session.uuid)}`;
    const uri = UserAgent.makeURI(`sip:${escapeUser(line.username)}@${server.hostname}`);
    if (uri === undefined) {
      this.#transition(PhoneState.Disconnected);
      throw new TypeError(`Cannot build a SIP URI for line ${line.username}`);
    }
    const transportOptions: WebSocketTransportOptions = {
      server: wsUrl,
      createWebSocket: platform.createWebSocket,
      logger,
      ...(options.connectionTimeout === undefined
        ? {}
        : { connectionTimeout: options.connectionTimeout }),
    };
    const ua = new UserAgent({
      uri,
      authorizationUsername: line.username,
      authorizationPassword: line.secret,
      ...(session.displayName() === '' ? {} : { displayName: session.displayName() }),
      userAgentString: options.userAgentString ?? 'confab-sdk',
      transportConstructor: WebSocketTransport,
      transportOptions,
      sessionDescriptionHandlerFactory: (sipSession) => this.#createMedia(sipSession),
      // The server decides how long a call rings (@wazo/sdk does the same).
      noAnswerTimeout: 86_400,
      logBuiltinEnabled: false,
      logLevel: options.sipLogLevel ?? 'warn',
      logConnector: (level, category, _label, content) => {
        const fields = { category };
        if (level === 'error') {
          logger.error(fields, content);
        } else if (level === 'warn') {
          logger.warn(fields, content);
        } else {
          logger.debug(fields, content);
        }
      },
      delegate: {
        onInvite: (invitation) => this.#onInvite(invitation),
        onDisconnect: (error) => {
          if (error !== undefined) {
            this.#onRegistrationLost('SIP WebSocket lost');
          }
        },
      },
    });
    const registerer = new Registerer(ua, { expires: options.registerExpires ?? 600 });
    this.#connection = {
      ua,
      registerer,
      server,
      session,
      platform,
      media: {
        audio: options.media?.audio ?? options.audio ?? true,
        video: options.media?.video ?? options.video ?? false,
      },
      iceServers: options.iceServers ?? [],
      iceGatheringTimeout: options.iceGatheringTimeout ?? 2000,
    };
    const aborted = (): boolean => generation !== this.#generation;
    try {
      try {
        await ua.start();
      } catch (error) {
        throw aborted() ? PhoneError.aborted() : PhoneError.transportFailed(wsUrl, error);
      }
      if (aborted()) {
        throw PhoneError.aborted();
      }
      try {
        await this.#register(registerer);
      } catch (error) {
        throw aborted() ? PhoneError.aborted() : error;
      }
      if (aborted()) {
        throw PhoneError.aborted();
      }
    } catch (error) {
      if (!aborted()) {
        this.#connection = undefined;
        await ua.stop().catch(() => undefined);
        this.#transition(PhoneState.Disconnected);
      }
      throw error;
    }
    registerer.stateChange.addListener((state) => {
      if (state === RegistererState.Registered && this.#state === PhoneState.Unregistered) {
        this.#transition(PhoneState.Registered);
        this.#emit(PhoneEvent.ON_REGISTERED);
      } else if (state === RegistererState.Unregistered) {
        this.#onRegistrationLost('registration ended');
      }
    });
    this.#transition(PhoneState.Registered);
    logger.info({ server: server.authority }, 'registered');
    this.#emit(PhoneEvent.ON_REGISTERED);
  }

  #register(registerer: Registerer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onState = (state: RegistererState): void => {
        if (state === RegistererState.Registered) {
          registerer.stateChange.removeListener(onState);
          resolve();
        }
      };
      registerer.stateChange.addListener(onState);
      registerer
        .register({
          requestDelegate: {
            onReject: (response) => {
              registerer.stateChange.removeListener(onState);
              const { statusCode, reasonPhrase } = response.message;
              reject(PhoneError.registrationFailed(statusCode ?? 0, reasonPhrase ?? ''));
            },
          },
        })
        .catch((error: unknown) => {
          registerer.stateChange.removeListener(onState);
          reject(PhoneError.transportFailed('the registrar', error));
        });
    });
  }

  #onRegistrationLost(why: string): void {
    if (this.#state !== PhoneState.Registered) {
      return;
    }
    this.#runtime.logger.warn({ component: 'phone' }, `unregistered: ${why}`);
    this.#transition(PhoneState.Unregistered);
    this.#emit(PhoneEvent.ON_UNREGISTERED);
  }

  /**
   * Hangs up every call, unregisters (waiting at most 3 s for the registrar) and closes the SIP
   * WebSocket. Bounded whatever the state of the connection: with the SIP WebSocket already
   * lost it does not wait for any answer. Idempotent; never rejects.
   */
  async disconnect(): Promise<void> {
    switch (this.#state) {
      case PhoneState.Disconnected:
        return;
      case PhoneState.Disconnecting:
        return this.#disconnecting;
      default:
        break;
    }
    const wasRegistered = this.#state === PhoneState.Registered;
    this.#generation++;
    this.#transition(PhoneState.Disconnecting);
    const connection = this.#connection;
    this.#connection = undefined;
    // Started on the next microtask so that `#disconnecting` is set before any listener of
    // the hang-ups below runs (and, say, calls connect()).
    const done = Promise.resolve().then(async () => {
      // With the SIP WebSocket gone nothing can reach the server, and SIP.js would only wait
      // out its transaction timers (a callee's BYE waits for the ACK until Timer H, 64·T1 =
      // 32 s, RFC 3261 §17.2.1): the hang-ups still run, to tear down local state, unawaited.
      const online = connection?.ua.isConnected() ?? false;
      const hangups = Promise.all(
        [...this.#legs.values()].map((leg) => leg.hangup().catch(() => false)),
      );
      await settledWithin(hangups, online ? HANGUP_WAIT_MS : 0);
      if (connection !== undefined) {
        if (online && connection.registerer.state === RegistererState.Registered) {
          await this.#unregister(connection.registerer);
        }
        const stop = connection.ua.stop().catch((error: unknown) => {
          this.#runtime.logger.warn({ err: error }, 'SIP user agent stop failed');
        });
        // SIP.js's graceful stop waits for every final response; a silent server or a dead
        // socket must not keep disconnect() waiting, so the socket is closed regardless.
        if (!(await settledWithin(stop, online ? STOP_WAIT_MS : 0))) {
          await connection.ua.transport.dispose().catch(() => undefined);
        }
      }
    });
    this.#disconnecting = done;
    await done;
    this.#disconnecting = undefined;
    this.#transition(PhoneState.Disconnected);
    if (wasRegistered) {
      this.#emit(PhoneEvent.ON_UNREGISTERED);
    }
  }

  #unregister(registerer: Registerer): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 3000);
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      registerer
        .unregister({ requestDelegate: { onAccept: finish, onReject: finish } })
        .catch(finish);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Calls

  /**
   * Calls `number` (`sip:{number}@{host}`); resolves with its CallSession once the INVITE is sent.
   * `onCallOutgoing` fires before; then `onProgress`, `onCallAccepted` or `onCallRejected`, and
   * always `onCallEnded` last.
   * An established current call is put on hold first (spec wazo-js-sdk §3.2); if the server
   * refuses that hold, the new call is not placed and the hold's error is thrown.
   * @throws TypeError for an empty number; PhoneError `PHONE_NOT_CONNECTED`,
   *   `PHONE_MEDIA_FAILED` or `PHONE_CALL_FAILED` (the call then also emits its failure events)
   */
  async call(number: string, withVideo = false): Promise<CallSession> {
    const dialled = number.trim();
    if (dialled === '') {
      throw new TypeError('Phone.call(): the number is empty');
    }
    const connection = this.#requireConnection();
    const target = UserAgent.makeURI(`sip:${escapeUser(dialled)}@${connection.server.hostname}`);
    if (target === undefined) {
      throw new TypeError(`Phone.call(): cannot dial "${dialled.slice(0, 64)}"`);
    }
    await this.#holdCurrentCall(undefined);
    const inviter = new Inviter(connection.ua, target, { earlyMedia: true });
    const callSession = new CallSession({
      sipCallId: inviter.request.callId,
      number: dialled,
      displayName: dialled,
      dialedExtension: dialled,
      callerNumber: connection.session.primaryNumber() ?? '',
      isCaller: true,
      creationTime: new Date(),
      ringing: true,
      cameraEnabled: withVideo,
    });
    const leg = this.#track(inviter, callSession);
    this.#current = leg;
    this.#emit(PhoneEvent.ON_CALL_OUTGOING, callSession);
    await leg.invite(this.#constraints(connection, withVideo));
    return callSession;
  }

  /**
   * Answers an incoming call (with video if `cameraEnabled` and offered); resolves with its SIP
   * Call-ID once the 200 OK is sent. Emits `onCallAnswered` first, `onCallAccepted` when
   * established.
   * @throws PhoneError `PHONE_CALL_NOT_FOUND`; InvalidStateError if it is not ringing
   */
  async accept(callSession: CallSession, cameraEnabled = false): Promise<string> {
    const connection = this.#requireConnection();
    const leg = this.#legOf(callSession);
    if (leg.isOutgoing || leg.state !== CallLegState.Ringing) {
      throw new InvalidStateError(
        `Phone.accept(): call ${callSession.getId()} is not ringing here`,
      );
    }
    const video = cameraEnabled && callSession.cameraEnabled;
    callSession.cameraEnabled = video;
    await this.#holdCurrentCall(leg);
    this.#current = leg;
    this.#emit(PhoneEvent.ON_CALL_ANSWERED, leg.callSession);
    await leg.accept(this.#constraints(connection, video));
    return leg.callSession.sipCallId;
  }

  /**
   * Declines an unanswered call: `603 Decline` if incoming, CANCEL if outgoing.
   * @throws PhoneError `PHONE_CALL_NOT_FOUND`; InvalidStateError once the call is answered
   */
  async reject(callSession: CallSession): Promise<void> {
    await this.#legOf(callSession).reject();
  }

  /**
   * Ends a call in any state (CANCEL, reject or BYE). Resolves false if the call is unknown or
   * already over.
   */
  async hangup(callSession: CallSession): Promise<boolean> {
    const leg = this.#findLeg(callSession);
    return leg === undefined ? false : leg.hangup();
  }

  /**
   * Puts an established call on hold: re-INVITE with a `sendonly` offer, local audio silenced
   * (spec wazo-js-sdk §9.6). Emits `onCallHeld` once the server accepted it; resolves false
   * (and emits nothing) if the call was already held.
   * @throws PhoneError `PHONE_CALL_NOT_FOUND`, `PHONE_CALL_FAILED` (re-INVITE refused);
   *   InvalidStateError if the call is not established or a hold/resume is in progress
   */
  async hold(callSession: CallSession): Promise<boolean> {
    const leg = this.#legOf(callSession);
    if (!(await leg.setHold(true))) {
      return false;
    }
    leg.callSession.paused = true;
    this.#emit(PhoneEvent.ON_CALL_HELD, leg.callSession);
    return true;
  }

  /**
   * Resumes a held call (re-INVITE `sendrecv`), holding the current call first if it is another
   * one. Emits `onCallResumed` and `onCallUnHeld`; resolves false if the call was not held.
   * @throws as {@link hold}
   */
  async resume(callSession: CallSession): Promise<boolean> {
    const leg = this.#legOf(callSession);
    if (!leg.held) {
      return false;
    }
    await this.#holdCurrentCall(leg);
    if (!(await leg.setHold(false))) {
      return false;
    }
    this.#current = leg;
    leg.callSession.paused = false;
    this.#emit(PhoneEvent.ON_CALL_RESUMED, leg.callSession);
    this.#emit(PhoneEvent.ON_CALL_UNHELD, leg.callSession);
    return true;
  }

  /** Deprecated alias of {@link resume} (`@wazo/sdk`). */
  unhold(callSession: CallSession): Promise<boolean> {
    return this.resume(callSession);
  }

  /**
   * Silences the local audio of a call and, when `withApi` and the server call id is known, tells
   * calld (`PUT /users/me/calls/{id}/mute/start`, fire-and-forget; a 404 from servers without the
   * endpoint is ignored). Emits `onCallMuted`.
   * @throws PhoneError `PHONE_CALL_NOT_FOUND`
   */
  mute(callSession: CallSession, withApi = true): void {
    this.#setMuted(callSession, true, withApi);
  }

  /** Restores the local audio (and calld `mute/stop`). Emits `onCallUnmuted`. */
  unmute(callSession: CallSession, withApi = true): void {
    this.#setMuted(callSession, false, withApi);
  }

  #setMuted(callSession: CallSession, muted: boolean, withApi: boolean): void {
    const leg = this.#legOf(callSession);
    leg.setMuted(muted);
    leg.callSession.muted = muted;
    const callId = leg.callSession.callId;
    if (withApi && callId !== '') {
      void this.#auth
        .request({
          method: 'PUT',
          path: `/api/calld/1.0/users/me/calls/${encodeURIComponent(callId)}/mute/${muted ? 'start' : 'stop'}`,
          parse: () => undefined,
        })
        .catch((error: unknown) => {
          if (!(isApiError(error) && error.status === 404)) {
            this.#runtime.logger.warn({ err: error, callId }, 'calld mute request failed');
          }
        });
    }
    this.#emit(muted ? PhoneEvent.ON_CALL_MUTED : PhoneEvent.ON_CALL_UNMUTED, leg.callSession);
  }

  /**
   * Sends DTMF tones on an established call (argument order of `@wazo/sdk`): RFC 4733 events in
   * the audio stream, or SIP INFO `application/dtmf-relay` when telephone-event was not
   * negotiated. Resolves with the way they were sent.
   * @throws TypeError for characters other than `0-9 A-D * # ,`; PhoneError
   *   `PHONE_CALL_NOT_FOUND`; InvalidStateError if the call is not established
   */
  async sendDTMF(tone: string, callSession: CallSession): Promise<'rtp' | 'info'> {
    if (!/^[0-9A-Da-d*#,]{1,64}$/.test(tone)) {
      throw new TypeError(`Phone.sendDTMF(): invalid tones "${tone.slice(0, 64)}"`);
    }
    return this.#legOf(callSession).sendDtmf(tone.toUpperCase());
  }

  /**
   * Blind transfer of an established call to `target` (`sip:{target}@{host}`) with SIP REFER
   * (RFC 3515); our leg is hung up once the REFER is accepted (202). When the server refuses it
   * (e.g. 404 for an unknown number) the promise rejects and the call goes on.
   * @throws TypeError for an empty target; PhoneError `PHONE_CALL_NOT_FOUND`,
   *   `PHONE_CALL_FAILED` (with the SIP status); InvalidStateError if not established
   */
  async transfer(callSession: CallSession, target: string): Promise<void> {
    const connection = this.#requireConnection();
    const leg = this.#legOf(callSession);
    const dialled = target.trim();
    const uri =
      dialled === ''
        ? undefined
        : UserAgent.makeURI(`sip:${escapeUser(dialled)}@${connection.server.hostname}`);
    if (uri === undefined) {
      throw new TypeError(`Phone.transfer(): cannot transfer to "${dialled.slice(0, 64)}"`);
    }
    await leg.refer(uri);
  }

  /**
   * Merges calls into an ad-hoc conference hosted by this user (spec wazo-js-sdk §6–7): the
   * remote parties of `host` and of every call of `otherCalls` are keyed by their calld call
   * ids (`getTalkingToIds()[0]`, asked from calld when a call's view has not arrived yet) and
   * `POST /api/calld/1.0/users/me/conferences/adhoc` is sent. The server hangs up the user's
   * legs toward the other calls (`onCallEnded` follows for them) and moves everyone into its
   * mixer; `host` stays up and is taken off hold. Later changes arrive as `onConferenceUpdated`.
   * @throws PhoneError `PHONE_NOT_CONNECTED`, `PHONE_CALL_NOT_FOUND` (host unknown here);
   *   ConferenceError for a refusal of the server (spec §5.6) or a call without known peer;
   *   ApiError for other REST failures
   */
  async startConference(
    host: CallSession,
    otherCalls: CallSession[] = [],
  ): Promise<AdHocConference> {
    this.#requireConnection();
    const hostLeg = this.#legOf(host);
    const participants: Record<string, CallSession> = {};
    for (const callSession of [hostLeg.callSession, ...otherCalls]) {
      participants[await this.#conferences.peerOf(callSession)] = callSession;
    }
    const conference = new AdHocConference({
      phone: this,
      host: hostLeg.callSession,
      participants,
    });
    return conference.start();
  }

  /** Brings the host call of a conference back: off hold, and the current call. */
  async #joinConference(host: CallSession): Promise<void> {
    const leg = this.#findLeg(host);
    if (leg?.state !== CallLegState.Established) {
      return;
    }
    this.#current = leg;
    if (!leg.held) {
      return;
    }
    try {
      if (await leg.setHold(false)) {
        leg.callSession.paused = false;
        this.#emit(PhoneEvent.ON_CALL_RESUMED, leg.callSession);
        this.#emit(PhoneEvent.ON_CALL_UNHELD, leg.callSession);
      }
    } catch (error) {
      this.#runtime.logger.warn(
        { err: error, call: host.getId() },
        'could not take the conference host call off hold',
      );
    }
  }

  /** Holds the current established call unless it is `except` (auto-hold, spec §3.2). */
  async #holdCurrentCall(except: CallLeg | undefined): Promise<void> {
    const current = this.#current;
    if (
      current === undefined ||
      current === except ||
      current.state !== CallLegState.Established ||
      current.held
    ) {
      return;
    }
    await this.hold(current.callSession);
  }

  /** The calls in progress. */
  getCallSessions(): CallSession[] {
    return [...this.#legs.values()].map((leg) => leg.callSession);
  }

  /** The last call placed or answered, while it lasts. */
  getCurrentCallSession(): CallSession | undefined {
    return this.#current?.callSession;
  }

  /** The remote media of a call (tracks appear as negotiated). */
  getRemoteStream(callSession: CallSession): MediaStream | undefined {
    return this.#findLeg(callSession)?.media?.remoteStream;
  }

  /** The local media a call sends. */
  getLocalStream(callSession: CallSession): MediaStream | undefined {
    return this.#findLeg(callSession)?.media?.localStream;
  }

  /** `RTCPeerConnection.getStats()` of a call, or null without media. */
  async getStats(callSession: CallSession): Promise<RTCStatsReport | null> {
    const pc = this.#findLeg(callSession)?.media?.peerConnection;
    return pc === undefined ? null : pc.getStats();
  }

  #requireConnection(): Connection {
    if (this.#state !== PhoneState.Registered || this.#connection === undefined) {
      throw PhoneError.notConnected();
    }
    return this.#connection;
  }

  #findLeg(callSession: CallSession): CallLeg | undefined {
    for (const leg of this.#legs.values()) {
      if (leg.callSession === callSession || leg.callSession.is(callSession)) {
        return leg;
      }
    }
    return undefined;
  }

  #legOf(callSession: CallSession): CallLeg {
    const leg = this.#findLeg(callSession);
    if (leg === undefined) {
      throw PhoneError.callNotFound(callSession.getId());
    }
    return leg;
  }

  #constraints(connection: Connection, video: boolean): MediaStreamConstraints {
    return {
      audio: connection.media.audio,
      video: video ? connection.media.video || true : false,
    };
  }

  #platformFor(options: PhoneConnectOptions): Platform {
    const platform: Platform = { ...this.#runtime.platform, ...options.platform };
    if (options.remoteAudio === false) {
      platform.remoteAudio = undefined;
    } else if (options.remoteAudio?.container !== undefined) {
      platform.remoteAudio = createDomAudioOutput({ container: options.remoteAudio.container });
    }
    return platform;
  }

  #createMedia(sipSession: SipSession): SessionDescriptionHandler {
    const leg = this.#legs.get(sipSession);
    if (leg === undefined) {
      // Only sessions created through this Phone exist on its user agent.
      throw new InvalidStateError('media requested for an unknown SIP session');
    }
    return leg.createMedia({ audio: true, video: false });
  }

  #onInvite(invitation: Invitation): void {
    const connection = this.#connection;
    if (connection === undefined) {
      void invitation.reject({ statusCode: 480 }).catch(() => undefined);
      return;
    }
    const remote = invitation.remoteIdentity;
    const number = remote.uri.user ?? '';
    const callId = invitation.request.getHeader('X-Wazo-Call-ID')?.trim() ?? '';
    const callSession = new CallSession({
      sipCallId: invitation.request.callId,
      callId: callId.length <= 128 ? callId : '',
      number,
      displayName: remote.displayName || number,
      callerNumber: number,
      isCaller: false,
      creationTime: new Date(),
      ringing: true,
      cameraEnabled: offersVideo(invitation.body),
      autoAnswer: /^\s*auto\s*$/i.test(invitation.request.getHeader('Answer-Mode') ?? ''),
    });
    this.#track(invitation, callSession);
    this.#emit(PhoneEvent.ON_CALL_INCOMING, callSession, callSession.cameraEnabled);
  }

  /** Registers a leg and maps its events to the public ones. */
  #track(session: Inviter | Invitation, callSession: CallSession): CallLeg {
    const connection = this.#connection!;
    const leg = new CallLeg(session, callSession, {
      platform: connection.platform,
      logger: this.#runtime.logger.child({ component: 'call' }),
      iceServers: connection.iceServers,
      iceGatheringTimeout: connection.iceGatheringTimeout,
    });
    this.#legs.set(session, leg);
    leg.events.on('progress', () => this.#emit(PhoneEvent.ON_PROGRESS, callSession));
    leg.events.on('established', () =>
      this.#emit(PhoneEvent.ON_CALL_ACCEPTED, callSession, callSession.cameraEnabled),
    );
    leg.events.on('remoteAudio', (stream) => {
      connection.platform.remoteAudio?.attach(callSession, stream);
      this.#emit(PhoneEvent.ON_AUDIO_STREAM, stream);
    });
    leg.events.on('terminated', (outcome) => this.#onLegTerminated(leg, connection, outcome));
    return leg;
  }

  #onLegTerminated(leg: CallLeg, connection: Connection, outcome: CallOutcome): void {
    this.#legs.delete(leg.session);
    connection.platform.remoteAudio?.detach(leg.callSession);
    const wasCurrent = this.#current === leg;
    if (wasCurrent) {
      this.#current = undefined;
    }
    const callSession = leg.callSession;
    switch (outcome.kind) {
      case 'rejected':
        this.#emit(PhoneEvent.ON_CALL_REJECTED, callSession);
        break;
      case 'canceled':
        this.#emit(PhoneEvent.ON_CALL_CANCELED, callSession, outcome.elsewhere);
        break;
      case 'failed':
        this.#emit(PhoneEvent.ON_CALL_FAILED, callSession, outcome.error);
        break;
      case 'completed':
        break;
    }
    this.#emit(PhoneEvent.ON_CALL_ENDED, callSession, wasCurrent);
    this.#conferences.onCallEnded(callSession);
  }

  #transition(to: PhoneState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(to)) {
      throw InvalidStateError.transition('Phone', from, to);
    }
    this.#state = to;
    this.#runtime.logger.debug({ component: 'phone', from, to }, 'phone state');
  }
}
