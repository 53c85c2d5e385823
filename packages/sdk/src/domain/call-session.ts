/**
 * `CallSession`: one call of the phone, as the application sees it (spec wazo-js-sdk §4).
 *
 * Identity: `sipCallId` is the SIP Call-ID of our dialog with the server; `callId` is the
 * server's id of our leg (calld `call_id`), learnt from the `X-Wazo-Call-ID` header of an
 * incoming INVITE or of the 18x/2xx responses to ours. `getId()` prefers the SIP one.
 *
 * Unlike `@wazo/sdk`, which builds a new snapshot on most events, Confab keeps **one
 * CallSession object per call** and updates it in place: the object an application got from
 * `Phone.call()` or `onCallIncoming` is the one every later event passes. Comparing with `is()`
 * or `getId()`, as Wazo applications do, keeps working.
 */
import { Call } from './call.js';

/** The SIP session state of a call, with the string values of SIP.js `SessionState`. */
export const SipStatus = {
  Initial: 'Initial',
  Establishing: 'Establishing',
  Established: 'Established',
  Terminating: 'Terminating',
  Terminated: 'Terminated',
} as const;
export type SipStatus = (typeof SipStatus)[keyof typeof SipStatus];

/** Fields of a {@link CallSession}; all optional except none. */
export interface CallSessionInit {
  callId?: string;
  sipCallId?: string;
  number?: string;
  displayName?: string;
  callerNumber?: string;
  dialedExtension?: string;
  isCaller?: boolean;
  answerTime?: Date | null;
  creationTime?: Date | null;
  endTime?: Date | null;
  cameraEnabled?: boolean;
  autoAnswer?: boolean;
  ringing?: boolean;
  paused?: boolean;
  muted?: boolean;
  sipStatus?: SipStatus;
  call?: Call | null;
}

/** The data fields, in the order `updateFrom` and `toJSON` visit them. */
const DATA_KEYS = [
  'callId',
  'sipCallId',
  'number',
  'displayName',
  'callerNumber',
  'dialedExtension',
  'isCaller',
  'answerTime',
  'creationTime',
  'endTime',
  'cameraEnabled',
  'autoAnswer',
  'ringing',
  'paused',
  'muted',
  'sipStatus',
  'call',
] as const satisfies readonly (keyof CallSessionInit)[];

type DataKey = (typeof DATA_KEYS)[number];

export class CallSession {
  /** Discriminant that survives minification (`@wazo/sdk` compatibility). */
  readonly type = 'CallSession';
  /** Server-side id of our leg (calld `call_id`), `''` until known. */
  callId: string;
  /** SIP Call-ID of our dialog. */
  sipCallId: string;
  /** The remote party's number (URI user part). */
  number: string;
  /** The remote party's display name, or the number. */
  displayName: string;
  /** The caller's number (the remote number for incoming calls, ours for outgoing ones). */
  callerNumber: string;
  /** What was dialled (outgoing calls). */
  dialedExtension: string;
  /** True for calls this phone placed. */
  isCaller: boolean;
  answerTime: Date | null;
  creationTime: Date | null;
  endTime: Date | null;
  /** Whether video is (to be) sent: an incoming offer with video, or a call placed with video. */
  cameraEnabled: boolean;
  /** Incoming INVITE asked to be answered automatically (`Answer-Mode: Auto`). */
  autoAnswer: boolean;
  /** Ringing: not answered yet, not ended. */
  ringing: boolean;
  /** Put on hold by this phone (`Phone.hold()`); remote holds are not reflected here. */
  paused: boolean;
  /** Local audio muted (`Phone.mute()`). */
  muted: boolean;
  sipStatus: SipStatus;
  /**
   * The calld view of this call (see {@link Call}): filled by the Phone from the websocket's
   * `call_created`/`call_updated` events, or by the application with {@link updateFrom}.
   */
  call: Call | null;

  constructor(init: CallSessionInit = {}) {
    this.callId = init.callId ?? '';
    this.sipCallId = init.sipCallId ?? '';
    this.number = init.number ?? '';
    this.displayName = init.displayName ?? init.number ?? '';
    this.callerNumber = init.callerNumber ?? '';
    this.dialedExtension = init.dialedExtension ?? '';
    this.isCaller = init.isCaller ?? false;
    this.answerTime = init.answerTime ?? null;
    this.creationTime = init.creationTime ?? null;
    this.endTime = init.endTime ?? null;
    this.cameraEnabled = init.cameraEnabled ?? false;
    this.autoAnswer = init.autoAnswer ?? false;
    this.ringing = init.ringing ?? false;
    this.paused = init.paused ?? false;
    this.muted = init.muted ?? false;
    this.sipStatus = init.sipStatus ?? SipStatus.Initial;
    this.call = init.call ?? null;
  }

  /** A copy of `other` (the calld view is shared, not cloned). */
  static newFrom(other: CallSession): CallSession {
    const copy = new CallSession();
    for (const key of DATA_KEYS) {
      assign(copy, key, other[key]);
    }
    return copy;
  }

  /**
   * A CallSession describing a calld call (`Call.parse` of a REST item or `call_*` event), for
   * apps that fold events into their CallSessions with {@link updateFrom}, as the `@wazo/sdk`
   * examples do. The remote party is calld's peer; `paused`, `muted`, `cameraEnabled` follow
   * calld's `on_hold`, `muted`, `is_video`.
   */
  static parseCall(call: Call): CallSession {
    return new CallSession({
      callId: call.id,
      sipCallId: call.sipCallId,
      number: call.calleeNumber,
      displayName: call.calleeName || call.calleeNumber,
      callerNumber: call.callerNumber,
      dialedExtension: call.dialedExtension,
      isCaller: call.isCaller,
      creationTime: call.startingTime,
      answerTime: call.answerTime ?? (call.isUp() ? (call.startingTime ?? new Date()) : null),
      endTime: call.hangupTime,
      ringing: call.isRinging(),
      paused: call.onHold,
      muted: call.muted,
      cameraEnabled: call.isVideo,
      call,
    });
  }

  /**
   * Attaches the calld view of this call (the Phone does it for every `call_created` and
   * `call_updated` event of our leg) and learns the server call id from it when still unknown.
   */
  attachCall(call: Call): void {
    if (call.sipCallId !== '' && this.sipCallId !== '' && call.sipCallId !== this.sipCallId) {
      throw new TypeError('CallSession.attachCall(): the call belongs to another SIP dialog');
    }
    this.call = call;
    if (this.callId === '') {
      this.callId = call.id;
    }
  }

  /** Backed by `answerTime` (`@wazo/sdk` compatibility). */
  get answered(): boolean {
    return this.answerTime !== null;
  }

  /** `sipCallId`, or `callId` when the SIP one is unknown. */
  getId(): string {
    return this.sipCallId || this.callId;
  }

  /** Whether `id` names this call (its `getId()`, SIP Call-ID or server call id). */
  isId(id: string | null | undefined): boolean {
    if (!id) {
      return false;
    }
    return id === this.getId() || id === this.sipCallId || id === this.callId;
  }

  /** Whether `other` describes the same call. */
  is(other: CallSession | null | undefined): boolean {
    return other != null && (this.isId(other.sipCallId) || this.isId(other.callId));
  }

  /**
   * Copies the fields of `other` onto this object, with `@wazo/sdk`'s rule: a field is copied
   * when ours is falsy and theirs truthy, or when both are defined and differ. Applications use
   * it to fold calld events (`CallSession.parseCall` results) into the CallSessions they hold.
   */
  updateFrom(other: CallSession): void {
    for (const key of DATA_KEYS) {
      const mine = this[key] as unknown;
      const theirs = other[key] as unknown;
      if ((!mine && theirs) || (mine !== undefined && theirs !== undefined && mine !== theirs)) {
        assign(this, key, other[key]);
      }
    }
  }

  /** Remote channel ids from the calld view (`call.talkingToIds`), or `[]` without one. */
  getTalkingToIds(): string[] {
    return this.call ? [...this.call.talkingToIds] : [];
  }

  /** Incoming and not answered yet. */
  isIncoming(): boolean {
    return !this.isCaller && !this.answered;
  }

  isOutgoing(): boolean {
    return this.isCaller;
  }

  isAnswered(): boolean {
    return this.answered;
  }

  isRinging(): boolean {
    return this.ringing;
  }

  isOnHold(): boolean {
    return this.paused;
  }

  isMuted(): boolean {
    return this.muted;
  }

  isCameraEnabled(): boolean {
    return this.cameraEnabled;
  }

  isEstablished(): boolean {
    return this.sipStatus === SipStatus.Established;
  }

  isTerminating(): boolean {
    return this.sipStatus === SipStatus.Terminating;
  }

  isTerminated(): boolean {
    return this.sipStatus === SipStatus.Terminated;
  }

  /** Seconds since the answer (or creation), up to the end or `now`. */
  getElapsedTimeInSeconds(now: Date = new Date()): number {
    const start = this.answerTime ?? this.creationTime;
    if (start === null) {
      return 0;
    }
    const end = this.endTime ?? now;
    return Math.max(0, Math.floor((end.getTime() - start.getTime()) / 1000));
  }

  toJSON(): Record<string, unknown> {
    const json: Record<string, unknown> = { type: this.type };
    for (const key of DATA_KEYS) {
      json[key] = this[key];
    }
    return json;
  }
}

function assign<K extends DataKey>(target: CallSession, key: K, value: CallSession[K]): void {
  target[key] = value;
}
