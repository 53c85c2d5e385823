/**
 * Events of `Phone`, with the string values and listener arguments of `@wazo/sdk`
 * (spec wazo-js-sdk §3.3), so Wazo applications subscribe unchanged:
 * `Phone.on(Phone.ON_CALL_INCOMING, (callSession, wantsVideo) => …)`.
 *
 * Only events this SDK really emits are declared. Differences from `@wazo/sdk`:
 * `onCallFailed` is emitted (Wazo declares it and never emits it) and carries the error;
 * listeners registered before `connect()` are kept (Wazo drops them).
 */
import type { AdHocConference } from '../domain/adhoc-conference.js';
import type { CallSession } from '../domain/call-session.js';
import type { PhoneError } from '../errors.js';

export const PhoneEvent = {
  /** The SIP registration was accepted. `()` */
  ON_REGISTERED: 'onRegistered',
  /** Unregistered: `disconnect()`, registration lost, or SIP WebSocket lost. `()` */
  ON_UNREGISTERED: 'onUnRegistered',
  /** `call()` sent the INVITE. `(callSession)` */
  ON_CALL_OUTGOING: 'onCallOutgoing',
  /** A provisional response (180/183) to our INVITE. `(callSession)` */
  ON_PROGRESS: 'onProgress',
  /** An INVITE arrived. `(callSession, wantsToDoVideo)` */
  ON_CALL_INCOMING: 'onCallIncoming',
  /** `accept()` was called, before the 200 OK is sent. `(callSession)` */
  ON_CALL_ANSWERED: 'onCallAnswered',
  /** The call is established, for both directions. `(callSession, cameraEnabled)` */
  ON_CALL_ACCEPTED: 'onCallAccepted',
  /** Our INVITE got a final negative response from the network (e.g. 486, 603, 404). `(callSession)` */
  ON_CALL_REJECTED: 'onCallRejected',
  /** The caller cancelled an incoming call. `(callSession, elsewhere)` */
  ON_CALL_CANCELED: 'onCallCanceled',
  /** The call could not be set up or lost its media. `(callSession, error)` */
  ON_CALL_FAILED: 'onCallFailed',
  /** The call is over, whatever the reason; always the last event of a call. `(callSession, wasCurrent)` */
  ON_CALL_ENDED: 'onCallEnded',
  /** `hold()` succeeded (the server accepted the `sendonly` re-INVITE). `(callSession)` */
  ON_CALL_HELD: 'onCallHeld',
  /** `resume()` succeeded; emitted together with {@link PhoneEvent.ON_CALL_UNHELD}. `(callSession)` */
  ON_CALL_RESUMED: 'onCallResumed',
  /** Same moment as `onCallResumed` (`@wazo/sdk` emits both). `(callSession)` */
  ON_CALL_UNHELD: 'onCallUnHeld',
  /** `mute()` silenced the local audio. `(callSession)` */
  ON_CALL_MUTED: 'onCallMuted',
  /** `unmute()` restored the local audio. `(callSession)` */
  ON_CALL_UNMUTED: 'onCallUnmuted',
  /** Remote audio arrived; browsers already play it. `(mediaStream)` */
  ON_AUDIO_STREAM: 'onAudioStream',
  /**
   * Confab extension (`@wazo/sdk` has no conference event on Phone): a live ad-hoc conference
   * has a new snapshot — started, a participant joined or left, talking or server-side mute
   * changed, or it finished. React apps store it (`setConference`). `(conference)`
   */
  ON_CONFERENCE_UPDATED: 'onConferenceUpdated',
  /**
   * Confab extension: an ad-hoc conference finished (`conference_adhoc_deleted`, `hangup()`, or
   * its host call ended); the snapshot has `finished: true` and no participants. `(conference)`
   */
  ON_CONFERENCE_ENDED: 'onConferenceEnded',
} as const;
export type PhoneEventName = (typeof PhoneEvent)[keyof typeof PhoneEvent];

/** Listener arguments of every {@link PhoneEvent}. */
export interface PhoneEvents {
  onRegistered: [];
  onUnRegistered: [];
  onCallOutgoing: [callSession: CallSession];
  onProgress: [callSession: CallSession];
  onCallIncoming: [callSession: CallSession, wantsToDoVideo: boolean];
  onCallAnswered: [callSession: CallSession];
  onCallAccepted: [callSession: CallSession, cameraEnabled: boolean];
  onCallRejected: [callSession: CallSession];
  onCallCanceled: [callSession: CallSession, elsewhere: boolean];
  onCallFailed: [callSession: CallSession, error: PhoneError];
  onCallEnded: [callSession: CallSession, wasCurrent: boolean];
  onCallHeld: [callSession: CallSession];
  onCallResumed: [callSession: CallSession];
  onCallUnHeld: [callSession: CallSession];
  onCallMuted: [callSession: CallSession];
  onCallUnmuted: [callSession: CallSession];
  onAudioStream: [stream: MediaStream];
  onConferenceUpdated: [conference: AdHocConference];
  onConferenceEnded: [conference: AdHocConference];
  [event: string]: unknown[];
}
