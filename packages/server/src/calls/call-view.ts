/**
 * The wazo-calld Call object (wazo spec §4.3) built from a telephony {@link Channel}: what
 * `GET /users/me/calls` lists and what the call bus events carry.
 */
import { ChannelState, type Channel } from '../telephony/channel.js';

/** The Call object of wazo-calld (`CallSchema`), field for field. */
export interface CallView {
  call_id: string;
  conversation_id: string;
  user_uuid: string | null;
  /** Asterisk channel state; Confab produces `Down`, `Ring`, `Ringing` and `Up`. */
  status: string;
  /** `{peer call id: peer user uuid | null}` for every channel sharing a bridge. */
  talking_to: Record<string, string | null>;
  bridges: string[];
  /** ARI `creationtime` format: `2016-02-01T15:00:00.000+0000`. */
  creation_time: string;
  /** Python `isoformat()` with an offset: `2016-02-01T15:00:03.100000+00:00`. */
  answer_time: string | null;
  hangup_time: string | null;
  caller_id_name: string;
  caller_id_number: string;
  peer_caller_id_name: string;
  peer_caller_id_number: string;
  on_hold: boolean;
  muted: boolean;
  record_state: 'active' | 'inactive' | 'paused';
  is_caller: boolean;
  is_video: boolean;
  dialed_extension: string | null;
  sip_call_id: string | null;
  line_id: number | null;
  direction: 'internal' | 'inbound' | 'outbound' | 'unknown';
  parked: boolean;
}

/** `call_ended` data: the Call plus the Q.850 hangup cause. */
export interface EndedCallView extends CallView {
  reason_code: number;
}

/** What the view needs from call control: who a channel talks to. */
export interface TalkingToSource {
  talkingTo(channel: Channel): readonly Channel[];
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

function utcDateTime(date: Date): string {
  return (
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-` +
    `${pad(date.getUTCDate(), 2)}T${pad(date.getUTCHours(), 2)}:` +
    `${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}`
  );
}

/** ARI's `creationtime`: milliseconds and an offset without a colon (`…T15:00:00.000+0000`). */
export function formatAriTime(date: Date): string {
  return `${utcDateTime(date)}.${pad(date.getUTCMilliseconds(), 3)}+0000`;
}

/** Python `datetime.isoformat()` of an aware UTC datetime (`…T15:00:03.100000+00:00`). */
export function formatIsoTime(date: Date): string {
  return `${utcDateTime(date)}.${pad(date.getUTCMilliseconds() * 1000, 6)}+00:00`;
}

/** Wazo's serializer: an empty peer number falls back to the dialed extension. */
function peerNumber(number: string, dialedExtension: string | null): string {
  return number === '' ? (dialedExtension ?? '') : number;
}

/**
 * The live Call object of `channel`. Hung-up channels are never listed nor updated: they are
 * described once, by {@link endedCallView}.
 */
export function callView(channel: Channel, calls: TalkingToSource): CallView {
  const talkingTo: Record<string, string | null> = {};
  for (const peer of calls.talkingTo(channel)) {
    talkingTo[peer.id] = peer.userUuid;
  }
  return {
    call_id: channel.id,
    conversation_id: channel.conversationId,
    user_uuid: channel.userUuid,
    status: channel.state,
    talking_to: talkingTo,
    bridges: [...channel.bridges],
    creation_time: formatAriTime(channel.creationTime),
    answer_time: channel.answerTime === null ? null : formatIsoTime(channel.answerTime),
    hangup_time: channel.hangupTime === null ? null : formatIsoTime(channel.hangupTime),
    caller_id_name: channel.callerId.name,
    caller_id_number: channel.callerId.number,
    peer_caller_id_name: channel.connectedLine.name,
    peer_caller_id_number: peerNumber(channel.connectedLine.number, channel.dialedExtension),
    on_hold: channel.onHold,
    muted: channel.muted,
    record_state: 'inactive',
    is_caller: channel.isCaller,
    is_video: false,
    dialed_extension: channel.dialedExtension,
    sip_call_id: channel.sipCallId === '' ? null : channel.sipCallId,
    line_id: channel.lineId,
    // Every Confab call goes from one of our lines to another (no trunks yet).
    direction: 'internal',
    parked: false,
  };
}

/**
 * `call_ended` data, as wazo-calld's `channel_destroyed_event` builds it (spec §4.4):
 * `reason_code` (Q.850), `hangup_time`, no bridges, no peers, and the on_hold/muted/record_state
 * defaults. `lastState` is the state the channel left for Hungup (when the caller knows it).
 *
 * Wazo fills `caller_id_*` from the channel's *connected line* and `peer_caller_id_*` from its
 * *caller id* — the reverse of the live object. We reproduce that swap on purpose: the issue's
 * goal is that apps written against a real Wazo stack (and their workarounds for this quirk)
 * behave the same against Confab, and the spec lists it under "reproduce if bit-compatibility
 * matters". The peer number still falls back to the dialed extension, as the serializer does.
 */
export function endedCallView(channel: Channel, lastState?: ChannelState): EndedCallView {
  const hangupTime = channel.hangupTime ?? new Date();
  return {
    call_id: channel.id,
    conversation_id: channel.conversationId,
    user_uuid: channel.userUuid,
    // The state the channel was in when it hung up, as ARI reports a destroyed channel's.
    status: lastState ?? (channel.answerTime === null ? ChannelState.Down : ChannelState.Up),
    talking_to: {},
    bridges: [],
    creation_time: formatAriTime(channel.creationTime),
    answer_time: channel.answerTime === null ? null : formatIsoTime(channel.answerTime),
    hangup_time: formatIsoTime(hangupTime),
    caller_id_name: channel.connectedLine.name,
    caller_id_number: channel.connectedLine.number,
    peer_caller_id_name: channel.callerId.name,
    peer_caller_id_number: peerNumber(channel.callerId.number, channel.dialedExtension),
    on_hold: false,
    muted: false,
    record_state: 'inactive',
    is_caller: channel.isCaller,
    is_video: false,
    dialed_extension: channel.dialedExtension,
    sip_call_id: channel.sipCallId === '' ? null : channel.sipCallId,
    line_id: channel.lineId,
    direction: 'internal',
    parked: false,
    reason_code: channel.hangupCause ?? 16,
  };
}
