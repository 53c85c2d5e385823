/**
 * `AdHocConference`: a conference the user hosts, merged from their calls by the server
 * (calld ad-hoc API, spec wazo-server-protocols §5–6; SDK shape of `@wazo/sdk`'s
 * `AdHocAPIConference`, spec wazo-js-sdk §7). Made by `Phone.startConference(host, otherCalls)`.
 *
 * Participants are keyed by the **remote** party's calld call id of each of the user's calls
 * (`callSession.getTalkingToIds()[0]`), the ids the API and the `conference_adhoc_*` events use;
 * the host call's own peer is one of them. The values are the user's CallSessions toward them
 * (those legs are hung up by the server once merged; they still describe who the participant is).
 *
 * Snapshots, React-style: `start()` completes and returns the same instance; every other
 * mutator returns a **new** instance and leaves the one it was called on unchanged. The Phone
 * keeps the latest snapshot of each live conference, folds the websocket's `conference_adhoc_*`
 * events into it (participants joining and leaving, talking, server-side mute, deletion) and
 * emits each new snapshot as `onConferenceUpdated`; mutators start from that latest snapshot, so
 * calling one on an older instance does not lose what happened since.
 *
 * Deliberate differences from `@wazo/sdk`: `hangup()` empties `participants` (the original's
 * `participant: []` typo kept them), `removeParticipant()` does not mutate the instance it is
 * called on, `participantHasLeft()` uses the participant keys (the original used `getId()`, which
 * never matches them), and the host call is taken off hold when the conference starts or a
 * participant is added (placing the call to add holds it), unless the conference itself was held
 * with `hold()`. Beyond Wazo: talking and server-side mute state per participant.
 */
import { ConferenceError } from '../errors.js';
import { CallSession } from './call-session.js';

/** Lifecycle of a conference, derived from `started`/`finished`. */
export const ConferenceState = {
  /** Built, `start()` not done yet. */
  Created: 'Created',
  /** The server holds the conference. */
  Started: 'Started',
  /** Deleted, hung up, or its host call ended. */
  Finished: 'Finished',
} as const;
export type ConferenceState = (typeof ConferenceState)[keyof typeof ConferenceState];

/** What the Phone does for its conferences (REST calls, host leg control, event tracking). */
export interface ConferenceBackend {
  /** `POST …/conferences/adhoc` → the new conference id. */
  create(host: CallSession, participantCallIds: string[]): Promise<string>;
  /** `PUT …/adhoc/{id}/participants/{callId}`. */
  add(conferenceId: string, callId: string): Promise<void>;
  /** `DELETE …/adhoc/{id}/participants/{callId}`. */
  remove(conferenceId: string, callId: string): Promise<void>;
  /** `DELETE …/adhoc/{id}`; resolves false when the server no longer knows it (404). */
  delete(conferenceId: string): Promise<boolean>;
  /** `PUT …/adhoc/{id}/participants/{callId}/mute|unmute` (Confab extension). */
  setParticipantMuted(conferenceId: string, callId: string, muted: boolean): Promise<void>;
  /** `GET …/adhoc/{id}` (Confab extension). */
  fetch(conferenceId: string): Promise<ConferenceView>;
  /** The remote party's calld call id of one of our calls (asks calld when not known yet). */
  peerOf(callSession: CallSession): Promise<string>;
  /**
   * Takes the host call off hold and makes it the current call (never rejects: a failed resume
   * is logged and leaves the host held).
   */
  joinHost(host: CallSession): Promise<void>;
  hold(host: CallSession): Promise<void>;
  resume(host: CallSession): Promise<void>;
  mute(host: CallSession): void;
  unmute(host: CallSession): void;
  /** The latest snapshot of a started conference the backend tracks. */
  latest(conferenceId: string): AdHocConference | undefined;
  /** Records a new latest snapshot (and tracks a newly started conference). */
  publish(conference: AdHocConference): void;
}

/** Server view of a conference (`GET …/adhoc/{id}`). */
export interface ConferenceView {
  conferenceId: string;
  participants: {
    callId: string;
    talking: boolean;
    muted: boolean;
    /** Caller id of the participant's channel, when the server gives it. */
    name?: string;
    number?: string;
  }[];
}

/** Arguments of the constructor (`@wazo/sdk` `ConferenceArguments`, plus Confab's state). */
export interface AdHocConferenceInit {
  /** The Phone (or anything implementing {@link ConferenceBackend}, for tests). */
  phone: { readonly conferenceBackend: ConferenceBackend };
  host: CallSession;
  participants?: Record<string, CallSession>;
  started?: boolean;
  finished?: boolean;
  answerTime?: Date | null;
  conferenceId?: string;
  muted?: boolean;
  paused?: boolean;
  talking?: Record<string, boolean>;
  mutedParticipants?: Record<string, boolean>;
}

/** A participant: its CallSession or its call id (the participant key). */
export type ParticipantRef = CallSession | string;

type ConferenceFields = Partial<Omit<AdHocConferenceInit, 'phone' | 'host'>>;

export class AdHocConference {
  /** The Phone that made it. */
  readonly phone: AdHocConferenceInit['phone'];
  /** The user's call that stays up: its leg is the user's seat in the conference. */
  readonly host: CallSession;
  /** Participants by remote calld call id (see the module comment). */
  participants: Readonly<Record<string, CallSession>>;
  started: boolean;
  finished: boolean;
  /** Answer time of the first participant's call. */
  answerTime: Date | null;
  /** calld `conference_id` (a UUID), `''` until started. */
  conferenceId: string;
  /** The host's microphone is muted (`mute()`). */
  muted: boolean;
  /** The conference was put on hold with `hold()` (the host leg is held). */
  paused: boolean;
  /**
   * Who talks now, by call id: participants' keys and the host leg's own `callId`
   * (`conference_adhoc_participant_talk_started|stopped`, Confab extension).
   */
  talking: Readonly<Record<string, boolean>>;
  /** Participants muted by the server for everyone (`muteParticipant()`), by call id. */
  mutedParticipants: Readonly<Record<string, boolean>>;

  constructor(init: AdHocConferenceInit) {
    this.phone = init.phone;
    this.host = init.host;
    this.participants = { ...init.participants };
    this.started = init.started ?? false;
    this.finished = init.finished ?? false;
    this.answerTime = init.answerTime ?? null;
    this.conferenceId = init.conferenceId ?? '';
    this.muted = init.muted ?? false;
    this.paused = init.paused ?? false;
    this.talking = { ...init.talking };
    this.mutedParticipants = { ...init.mutedParticipants };
  }

  get #backend(): ConferenceBackend {
    return this.phone.conferenceBackend;
  }

  get state(): ConferenceState {
    if (this.finished) {
      return ConferenceState.Finished;
    }
    return this.started ? ConferenceState.Started : ConferenceState.Created;
  }

  /**
   * Asks the server to merge the calls (`POST /users/me/conferences/adhoc` with the host's
   * call id and the participant keys); resolves with **this** instance, now started. The server
   * hangs up the user's other legs toward the participants (`onCallEnded` follows for them) and
   * the host call is taken off hold.
   * @throws ConferenceError (`CONFERENCE_HOST_CALL_NOT_FOUND`, `…_PARTICIPANT_CALL_NOT_FOUND`,
   *   `…_HOST_ALREADY_IN_CONFERENCE`, …), ApiError for other failures;
   *   `CONFERENCE_NOT_ACTIVE` if it already finished
   */
  async start(): Promise<this> {
    if (this.finished) {
      throw ConferenceError.notActive(this.conferenceId, 'has finished');
    }
    if (this.started) {
      return this;
    }
    const backend = this.#backend;
    this.conferenceId = await backend.create(
      this.host,
      Object.keys(this.participants).filter((id) => id !== '' && id !== 'undefined'),
    );
    this.started = true;
    this.answerTime = Object.values(this.participants)[0]?.answerTime ?? null;
    // Track it before anything else can await: events of the new conference fold into it.
    backend.publish(this);
    await backend.joinHost(this.host);
    return this;
  }

  /**
   * Moves the remote party of another of the user's calls into the conference
   * (`PUT …/participants/{key}`); the server hangs up the user's leg toward it. The host call is
   * taken off hold (placing that call held it) unless the conference was held with `hold()`.
   * @returns a new instance with the participant
   * @throws ConferenceError (`…_PARTICIPANT_CALL_NOT_FOUND`,
   *   `…_PARTICIPANT_ALREADY_IN_CONFERENCE`, `CONFERENCE_NOT_FOUND`, `CONFERENCE_NOT_ACTIVE`)
   */
  async addParticipant(callSession: CallSession): Promise<AdHocConference> {
    const base = this.#active();
    const backend = this.#backend;
    const key = await backend.peerOf(callSession);
    await backend.add(base.conferenceId, key);
    let next = this.#next({
      participants: { ...this.#current().participants, [key]: callSession },
    });
    if (!next.paused) {
      await backend.joinHost(this.host);
      next = backend.latest(next.conferenceId) ?? next;
    }
    return next;
  }

  /**
   * Removes a participant: the server **hangs up** its call (there is no un-merge), and the
   * others get `conference_adhoc_participant_left`.
   * @returns a new instance without it
   * @throws ConferenceError (`…_PARTICIPANT_CALL_NOT_FOUND` if it is not a participant,
   *   `CONFERENCE_NOT_FOUND`, `CONFERENCE_NOT_ACTIVE`)
   */
  async removeParticipant(participant: ParticipantRef): Promise<AdHocConference> {
    const base = this.#active();
    const key = this.#keyOf(base, participant);
    await this.#backend.remove(base.conferenceId, key);
    return this.#next(withoutParticipant(this.#current(), key));
  }

  /**
   * Ends the conference for everyone (`DELETE …/adhoc/{id}`: the server hangs up every call in
   * it, then sends `conference_adhoc_deleted`). Idempotent: a conference that already finished,
   * or that the server no longer knows, resolves the same way without error.
   * @returns a new instance with `finished: true` and no participants
   */
  async hangup(): Promise<AdHocConference> {
    const current = this.#current();
    if (current.started && !current.finished) {
      await this.#backend.delete(current.conferenceId);
    }
    return this.#next(finishedFields());
  }

  /** Local bookkeeping of a participant that left (no request). @returns a new instance */
  participantHasLeft(leaver: ParticipantRef): AdHocConference {
    const current = this.#current();
    const key = findKey(current, leaver);
    return key === undefined ? this.#next({}) : this.#next(withoutParticipant(current, key));
  }

  /** Mutes the host's microphone (local track and calld mute). @returns a new instance */
  mute(): AdHocConference {
    this.#backend.mute(this.host);
    return this.#next({ muted: true });
  }

  /** Unmutes the host's microphone. @returns a new instance */
  unmute(): AdHocConference {
    this.#backend.unmute(this.host);
    return this.#next({ muted: false });
  }

  /** Holds the host call (the others go on talking). @returns a new instance */
  async hold(): Promise<AdHocConference> {
    await this.#backend.hold(this.host);
    return this.#next({ paused: true });
  }

  /** Resumes the held host call. @returns a new instance */
  async resume(): Promise<AdHocConference> {
    await this.#backend.resume(this.host);
    return this.#next({ paused: false });
  }

  /**
   * Mutes a participant for everyone, in the server's mixer (Confab extension,
   * `PUT …/participants/{key}/mute`). @returns a new instance
   */
  async muteParticipant(participant: ParticipantRef): Promise<AdHocConference> {
    return this.#setParticipantMuted(participant, true);
  }

  /** Lifts {@link muteParticipant} (`PUT …/participants/{key}/unmute`). @returns a new instance */
  async unmuteParticipant(participant: ParticipantRef): Promise<AdHocConference> {
    return this.#setParticipantMuted(participant, false);
  }

  async #setParticipantMuted(
    participant: ParticipantRef,
    muted: boolean,
  ): Promise<AdHocConference> {
    const base = this.#active();
    const key = this.#keyOf(base, participant);
    await this.#backend.setParticipantMuted(base.conferenceId, key, muted);
    return this.#next({
      mutedParticipants: { ...this.#current().mutedParticipants, [key]: muted },
    });
  }

  /**
   * Reloads the participants' talking and mute state from the server (Confab extension,
   * `GET …/adhoc/{id}`). @returns a new instance
   */
  async refresh(): Promise<AdHocConference> {
    const base = this.#active();
    const view = await this.#backend.fetch(base.conferenceId);
    const current = this.#current();
    const participants: Record<string, CallSession> = {};
    const talking: Record<string, boolean> = {};
    const mutedParticipants: Record<string, boolean> = {};
    for (const p of view.participants) {
      talking[p.callId] = p.talking;
      if (p.callId === this.host.callId) {
        continue;
      }
      participants[p.callId] =
        current.participants[p.callId] ?? placeholder(p.callId, p.name, p.number);
      mutedParticipants[p.callId] = p.muted;
    }
    return this.#next({ participants, talking, mutedParticipants });
  }

  getParticipants(): CallSession[] {
    return Object.values(this.participants);
  }

  hasParticipants(): boolean {
    return Object.keys(this.participants).length > 0;
  }

  isOnHold(): boolean {
    return this.paused;
  }

  isMuted(): boolean {
    return this.muted;
  }

  /** Whether a participant (or the host, by its CallSession) is talking now. */
  isTalking(who: ParticipantRef): boolean {
    if (typeof who !== 'string' && who === this.host) {
      return this.talking[this.host.callId] === true;
    }
    const key = findKey(this, who) ?? (typeof who === 'string' ? who : undefined);
    return key !== undefined && this.talking[key] === true;
  }

  /** Whether a participant is muted server-side ({@link muteParticipant}). */
  isParticipantMuted(who: ParticipantRef): boolean {
    const key = findKey(this, who);
    return key !== undefined && this.mutedParticipants[key] === true;
  }

  /**
   * Folds one `conference_adhoc_*` event of this conference into a new snapshot, or returns
   * undefined when it changes nothing. Used by the Phone.
   * @internal
   */
  applyEvent(name: string, callId: string | undefined): AdHocConference | undefined {
    if (this.finished) {
      return undefined;
    }
    switch (name) {
      case 'conference_adhoc_deleted':
        return this.#derive(finishedFields());
      case 'conference_adhoc_participant_joined':
        if (callId === undefined || callId === this.host.callId || callId in this.participants) {
          return undefined;
        }
        return this.#derive({
          participants: { ...this.participants, [callId]: placeholder(callId) },
        });
      case 'conference_adhoc_participant_left':
        if (callId === undefined) {
          return undefined;
        }
        if (callId === this.host.callId) {
          // The host's seat is gone: the server hangs everyone up (spec §6.3).
          return this.#derive(finishedFields());
        }
        return callId in this.participants || callId in this.talking
          ? this.#derive(withoutParticipant(this, callId))
          : undefined;
      case 'conference_adhoc_participant_talk_started':
      case 'conference_adhoc_participant_talk_stopped': {
        const talking = name.endsWith('started');
        if (callId === undefined || (this.talking[callId] ?? false) === talking) {
          return undefined;
        }
        return this.#derive({ talking: { ...this.talking, [callId]: talking } });
      }
      case 'conference_adhoc_participant_muted':
      case 'conference_adhoc_participant_unmuted': {
        const muted = name.endsWith('_muted');
        if (callId === undefined || (this.mutedParticipants[callId] ?? false) === muted) {
          return undefined;
        }
        return this.#derive({ mutedParticipants: { ...this.mutedParticipants, [callId]: muted } });
      }
      default:
        return undefined;
    }
  }

  /**
   * The snapshot after the host call ended: finished, no participants. Used by the Phone.
   * @internal
   */
  hostEnded(): AdHocConference | undefined {
    return this.finished ? undefined : this.#derive(finishedFields());
  }

  toJSON(): Record<string, unknown> {
    return {
      conferenceId: this.conferenceId,
      host: this.host,
      participants: this.participants,
      started: this.started,
      finished: this.finished,
      answerTime: this.answerTime,
      muted: this.muted,
      paused: this.paused,
      talking: this.talking,
      mutedParticipants: this.mutedParticipants,
    };
  }

  /** The latest snapshot of this conference (this one until started, or if not tracked). */
  #current(): AdHocConference {
    return this.conferenceId === '' ? this : (this.#backend.latest(this.conferenceId) ?? this);
  }

  /** The latest snapshot, which must be started and not finished. */
  #active(): AdHocConference {
    const current = this.#current();
    if (!current.started) {
      throw ConferenceError.notActive(current.conferenceId, 'has not been started');
    }
    if (current.finished) {
      throw ConferenceError.notActive(current.conferenceId, 'has finished');
    }
    return current;
  }

  #keyOf(base: AdHocConference, participant: ParticipantRef): string {
    const key = findKey(base, participant);
    if (key === undefined) {
      throw ConferenceError.notParticipant(
        typeof participant === 'string' ? participant : participant.getId(),
      );
    }
    return key;
  }

  /** A new snapshot: the latest one with `changes`, published as the new latest. */
  #next(changes: ConferenceFields): AdHocConference {
    const current = this.#current();
    if (current.finished) {
      // It ended meanwhile (e.g. deleted while a request was in flight): the end wins.
      return current;
    }
    const next = current.#derive(changes);
    if (next.started) {
      this.#backend.publish(next);
    }
    return next;
  }

  #derive(changes: ConferenceFields): AdHocConference {
    return new AdHocConference({
      phone: this.phone,
      host: this.host,
      participants: { ...this.participants },
      started: this.started,
      finished: this.finished,
      answerTime: this.answerTime,
      conferenceId: this.conferenceId,
      muted: this.muted,
      paused: this.paused,
      talking: { ...this.talking },
      mutedParticipants: { ...this.mutedParticipants },
      ...changes,
    });
  }
}

/** `@wazo/sdk`'s class name. */
export { AdHocConference as AdHocAPIConference };

/** The participant key of `who`: a key itself, or the key whose CallSession is (or is like) it. */
function findKey(conference: AdHocConference, who: ParticipantRef): string | undefined {
  if (typeof who === 'string') {
    return who in conference.participants ? who : undefined;
  }
  for (const [key, callSession] of Object.entries(conference.participants)) {
    if (callSession === who) {
      return key;
    }
  }
  for (const [key, callSession] of Object.entries(conference.participants)) {
    if (callSession.is(who)) {
      return key;
    }
  }
  const peer = who.getTalkingToIds()[0];
  return peer !== undefined && peer in conference.participants ? peer : undefined;
}

function withoutParticipant(conference: AdHocConference, key: string): ConferenceFields {
  const participants = { ...conference.participants };
  const talking = { ...conference.talking };
  const mutedParticipants = { ...conference.mutedParticipants };
  delete participants[key];
  delete talking[key];
  delete mutedParticipants[key];
  return { participants, talking, mutedParticipants };
}

function finishedFields(): ConferenceFields {
  return { finished: true, participants: {}, talking: {}, mutedParticipants: {} };
}

/** A participant the server reported that none of our calls describes. */
function placeholder(callId: string, name?: string, number?: string): CallSession {
  return new CallSession({
    callId,
    number: number ?? '',
    displayName: [name, number].find((v) => v !== undefined && v !== '') ?? callId,
  });
}
