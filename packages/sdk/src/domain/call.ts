/**
 * `Call`: the calld view of one call leg, as sent by `GET /api/calld/1.0/users/me/calls` and the
 * `call_*` websocket events (spec wazo-js-sdk §4.4, wazo-server-protocols §4.3). Applications
 * attach it to their CallSession (`callSession.call`) to learn `talkingToIds`, the remote
 * channel ids that ad-hoc conferences are built from.
 */
import { array, isRecord, optionalString } from '../api/json.js';

/** Fields of a {@link Call}. */
export interface CallInit {
  id: string;
  sipCallId?: string;
  callerName?: string;
  callerNumber?: string;
  calleeName?: string;
  calleeNumber?: string;
  dialedExtension?: string;
  isCaller?: boolean;
  isVideo?: boolean;
  muted?: boolean;
  onHold?: boolean;
  /** calld status: `Up`, `Down`, `Ringing` (incoming), `Ring` (outgoing), … */
  status?: string;
  lineId?: number | null;
  startingTime?: Date | null;
  answerTime?: Date | null;
  hangupTime?: Date | null;
  talkingToIds?: string[];
  recordingState?: string;
}

function date(value: unknown): Date | null {
  if (typeof value !== 'string' || value === '') {
    return null;
  }
  const parsed = new Date(value);
  return Number.isNaN(parsed.getTime()) ? null : parsed;
}

/** One call leg as calld describes it. */
export class Call {
  readonly id: string;
  readonly sipCallId: string;
  readonly callerName: string;
  readonly callerNumber: string;
  readonly calleeName: string;
  readonly calleeNumber: string;
  readonly dialedExtension: string;
  readonly isCaller: boolean;
  readonly isVideo: boolean;
  readonly muted: boolean;
  readonly onHold: boolean;
  readonly status: string;
  readonly lineId: number | null;
  readonly startingTime: Date | null;
  readonly answerTime: Date | null;
  readonly hangupTime: Date | null;
  /** Keys of calld `talking_to`: the channel ids of the remote parties. */
  readonly talkingToIds: readonly string[];
  readonly recordingState: string;

  constructor(init: CallInit) {
    this.id = init.id;
    this.sipCallId = init.sipCallId ?? '';
    this.callerName = init.callerName ?? '';
    this.callerNumber = init.callerNumber ?? '';
    this.calleeName = init.calleeName ?? '';
    this.calleeNumber = init.calleeNumber ?? '';
    this.dialedExtension = init.dialedExtension ?? '';
    this.isCaller = init.isCaller ?? false;
    this.isVideo = init.isVideo ?? false;
    this.muted = init.muted ?? false;
    this.onHold = init.onHold ?? false;
    this.status = init.status ?? '';
    this.lineId = init.lineId ?? null;
    this.startingTime = init.startingTime ?? null;
    this.answerTime = init.answerTime ?? null;
    this.hangupTime = init.hangupTime ?? null;
    this.talkingToIds = init.talkingToIds ?? [];
    this.recordingState = init.recordingState ?? 'inactive';
  }

  /**
   * Builds a Call from a calld call object (snake_case JSON).
   * @throws TypeError if `data` is not an object with a string `call_id`.
   */
  static parse(data: unknown): Call {
    if (!isRecord(data) || typeof data['call_id'] !== 'string') {
      throw new TypeError('Call.parse: expected a calld call object with a call_id');
    }
    const talkingTo = data['talking_to'];
    const flag = (key: string): boolean => data[key] === true;
    const lineId = data['line_id'];
    return new Call({
      id: data['call_id'],
      sipCallId: optionalString(data, 'sip_call_id') ?? '',
      callerName: optionalString(data, 'caller_id_name') ?? '',
      callerNumber: optionalString(data, 'caller_id_number') ?? '',
      calleeName: optionalString(data, 'peer_caller_id_name') ?? '',
      calleeNumber: optionalString(data, 'peer_caller_id_number') ?? '',
      dialedExtension: optionalString(data, 'dialed_extension') ?? '',
      isCaller: flag('is_caller'),
      isVideo: flag('is_video'),
      muted: flag('muted'),
      onHold: flag('on_hold'),
      status: optionalString(data, 'status') ?? '',
      lineId: typeof lineId === 'number' ? lineId : null,
      startingTime: date(data['creation_time']),
      answerTime: date(data['answer_time']),
      hangupTime: date(data['hangup_time']),
      talkingToIds: isRecord(talkingTo)
        ? Object.keys(talkingTo)
        : array(talkingTo).filter((v) => typeof v === 'string'),
      recordingState: optionalString(data, 'record_state') ?? 'inactive',
    });
  }

  isUp(): boolean {
    return this.status === 'Up';
  }

  isRinging(): boolean {
    return this.status === 'Ringing' || this.status === 'Ring';
  }

  isOnHold(): boolean {
    return this.onHold;
  }

  /** Same calld call id. */
  is(other: Call | null | undefined): boolean {
    return other?.id === this.id;
  }
}
