/**
 * The Phone's side of ad-hoc conferences ({@link AdHocConference}): the calld REST calls
 * (spec wazo-server-protocols §5, plus Confab's `GET` and participant mute), the lookup of a
 * call's remote party, and the latest snapshot of every live conference, into which the
 * websocket's `conference_adhoc_*` events are folded.
 *
 * Events can arrive before the `POST` that creates a conference has answered (the server
 * publishes `conference_adhoc_created` and the joins while it moves the channels): events of
 * conference ids not known yet are kept (bounded) and replayed when the conference starts.
 */
import type { Logger } from '@confab/core';
import type { ConfabAuth } from '../auth/auth.js';
import { array, isRecord, record, requiredString } from '../api/json.js';
import {
  AdHocConference,
  type ConferenceBackend,
  type ConferenceView,
} from '../domain/adhoc-conference.js';
import { Call } from '../domain/call.js';
import type { CallSession } from '../domain/call-session.js';
import { ConferenceError, isConferenceError, ConferenceErrorCode } from '../errors.js';
import type { BusEvent } from '../websocket/websocket.js';

const ADHOC = '/api/calld/1.0/users/me/conferences/adhoc';
const EVENT_PREFIX = 'conference_adhoc_';
/** Events of not-yet-known conferences kept for replay. */
const MAX_UNCLAIMED = 256;
/** Finished conference ids remembered so that their late events are dropped, not kept. */
const MAX_FINISHED = 256;

/** What the conferences need from the Phone. */
export interface ConferenceHost {
  joinHost(host: CallSession): Promise<void>;
  hold(host: CallSession): Promise<void>;
  resume(host: CallSession): Promise<void>;
  mute(host: CallSession): void;
  unmute(host: CallSession): void;
  /** A live conference has a new snapshot. */
  updated(conference: AdHocConference): void;
  /** A conference finished (after its last `updated`). */
  ended(conference: AdHocConference): void;
}

interface UnclaimedEvent {
  conferenceId: string;
  name: string;
  callId: string | undefined;
}

function path(...parts: string[]): string {
  return [ADHOC, ...parts.map((p) => encodeURIComponent(p))].join('/');
}

export class PhoneConferences implements ConferenceBackend {
  readonly #auth: ConfabAuth;
  readonly #logger: Logger;
  readonly #host: ConferenceHost;
  readonly #live = new Map<string, AdHocConference>();
  readonly #unclaimed: UnclaimedEvent[] = [];
  /** The final snapshots of finished conferences (bounded), so stale instances see the end. */
  readonly #finished = new Map<string, AdHocConference>();

  constructor(auth: ConfabAuth, logger: Logger, host: ConferenceHost) {
    this.#auth = auth;
    this.#logger = logger;
    this.#host = host;
  }

  // ---------------------------------------------------------------------------------------
  // REST

  async #call<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    parse: (body: unknown) => T,
    body?: unknown,
  ): Promise<T> {
    try {
      return await this.#auth.request({
        method,
        path: url,
        ...(body === undefined ? {} : { body }),
        parse,
      });
    } catch (error) {
      throw ConferenceError.fromApiError(error);
    }
  }

  async create(host: CallSession, participantCallIds: string[]): Promise<string> {
    const hostCallId = await this.#ownCallId(host);
    return this.#call(
      'POST',
      ADHOC,
      (body) => requiredString(record(body, 'conference'), 'conference_id', 'conference'),
      { host_call_id: hostCallId, participant_call_ids: participantCallIds },
    );
  }

  async add(conferenceId: string, callId: string): Promise<void> {
    await this.#call('PUT', path(conferenceId, 'participants', callId), () => undefined);
  }

  async remove(conferenceId: string, callId: string): Promise<void> {
    await this.#call('DELETE', path(conferenceId, 'participants', callId), () => undefined);
  }

  async delete(conferenceId: string): Promise<boolean> {
    try {
      await this.#call('DELETE', path(conferenceId), () => undefined);
      return true;
    } catch (error) {
      if (isConferenceError(error) && error.code === ConferenceErrorCode.NotFound) {
        return false;
      }
      throw error;
    }
  }

  async setParticipantMuted(conferenceId: string, callId: string, muted: boolean): Promise<void> {
    await this.#call(
      'PUT',
      path(conferenceId, 'participants', callId, muted ? 'mute' : 'unmute'),
      () => undefined,
    );
  }

  async fetch(conferenceId: string): Promise<ConferenceView> {
    return this.#call('GET', path(conferenceId), (body) => {
      const view = record(body, 'conference');
      const items = array(view['participants'] ?? view['items']);
      return {
        conferenceId,
        participants: items.filter(isRecord).flatMap((item) => {
          const callId = item['call_id'];
          if (typeof callId !== 'string' || callId === '') {
            return [];
          }
          const name = item['caller_id_name'];
          const number = item['caller_id_number'];
          return [
            {
              callId,
              talking: item['talking'] === true,
              muted: item['muted'] === true,
              ...(typeof name === 'string' ? { name } : {}),
              ...(typeof number === 'string' ? { number } : {}),
            },
          ];
        }),
      };
    });
  }

  async peerOf(callSession: CallSession): Promise<string> {
    let peer = callSession.getTalkingToIds()[0];
    if (peer === undefined) {
      await this.#refreshCall(callSession);
      peer = callSession.getTalkingToIds()[0];
    }
    if (peer === undefined) {
      throw ConferenceError.unknownPeer(callSession.getId());
    }
    return peer;
  }

  async #ownCallId(callSession: CallSession): Promise<string> {
    if (callSession.callId === '') {
      await this.#refreshCall(callSession);
    }
    if (callSession.callId === '') {
      throw ConferenceError.unknownHost(callSession.getId());
    }
    return callSession.callId;
  }

  /** Attaches calld's current view of our leg (`GET /users/me/calls`, matched by SIP Call-ID). */
  async #refreshCall(callSession: CallSession): Promise<void> {
    if (callSession.sipCallId === '') {
      return;
    }
    const items = await this.#auth.request({
      method: 'GET',
      path: '/api/calld/1.0/users/me/calls',
      parse: (body) => array(isRecord(body) ? body['items'] : undefined),
    });
    const mine = items.find(
      (item) => isRecord(item) && item['sip_call_id'] === callSession.sipCallId,
    );
    if (mine !== undefined) {
      callSession.attachCall(Call.parse(mine));
    }
  }

  // ---------------------------------------------------------------------------------------
  // Host leg

  joinHost(host: CallSession): Promise<void> {
    return this.#host.joinHost(host);
  }

  hold(host: CallSession): Promise<void> {
    return this.#host.hold(host);
  }

  resume(host: CallSession): Promise<void> {
    return this.#host.resume(host);
  }

  mute(host: CallSession): void {
    this.#host.mute(host);
  }

  unmute(host: CallSession): void {
    this.#host.unmute(host);
  }

  // ---------------------------------------------------------------------------------------
  // Snapshots and events

  latest(conferenceId: string): AdHocConference | undefined {
    return this.#live.get(conferenceId) ?? this.#finished.get(conferenceId);
  }

  publish(conference: AdHocConference): void {
    const id = conference.conferenceId;
    if (id === '' || this.#finished.has(id)) {
      return;
    }
    const isNew = !this.#live.has(id);
    this.#set(conference);
    if (isNew) {
      // Replay what arrived before the POST answered.
      const mine = this.#unclaimed.filter((e) => e.conferenceId === id);
      this.#unclaimed.splice(
        0,
        this.#unclaimed.length,
        ...this.#unclaimed.filter((e) => e.conferenceId !== id),
      );
      for (const event of mine) {
        this.#apply(id, event.name, event.callId);
      }
    }
  }

  /** A `conference_adhoc_*` event from the websocket. */
  onBusEvent(event: BusEvent): void {
    if (!event.name.startsWith(EVENT_PREFIX) || !isRecord(event.data)) {
      return;
    }
    const conferenceId = event.data['conference_id'];
    if (typeof conferenceId !== 'string' || conferenceId === '') {
      return;
    }
    const rawCallId = event.data['call_id'];
    const callId = typeof rawCallId === 'string' && rawCallId !== '' ? rawCallId : undefined;
    if (this.#live.has(conferenceId)) {
      this.#apply(conferenceId, event.name, callId);
    } else if (!this.#finished.has(conferenceId)) {
      this.#unclaimed.push({ conferenceId, name: event.name, callId });
      if (this.#unclaimed.length > MAX_UNCLAIMED) {
        this.#unclaimed.shift();
      }
    }
  }

  /** Our leg `callSession` ended: a conference it hosted is over for us. */
  onCallEnded(callSession: CallSession): void {
    for (const conference of [...this.#live.values()]) {
      if (conference.host === callSession || conference.host.is(callSession)) {
        const next = conference.hostEnded();
        if (next !== undefined) {
          this.#set(next);
        }
      }
    }
  }

  #apply(conferenceId: string, name: string, callId: string | undefined): void {
    const current = this.#live.get(conferenceId);
    const next = current?.applyEvent(name, callId);
    if (next !== undefined) {
      this.#logger.debug(
        { component: 'conference', conferenceId, name, callId },
        'conference event',
      );
      this.#set(next);
    }
  }

  #set(conference: AdHocConference): void {
    const id = conference.conferenceId;
    if (conference.finished) {
      this.#live.delete(id);
      this.#finished.set(id, conference);
      if (this.#finished.size > MAX_FINISHED) {
        const oldest = this.#finished.keys().next().value;
        if (oldest !== undefined) {
          this.#finished.delete(oldest);
        }
      }
      this.#host.updated(conference);
      this.#host.ended(conference);
      return;
    }
    this.#live.set(id, conference);
    this.#host.updated(conference);
  }
}
