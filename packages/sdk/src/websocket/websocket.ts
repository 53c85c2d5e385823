/**
 * `Websocket`: the Wazo event websocket (`wss://host/api/websocketd/`, spec wazo-js-sdk §8).
 *
 * In this release it only holds listeners and the event-name constants, so applications can
 * register `Websocket.on(Websocket.CALL_UPDATED, …)` now: registration before the socket opens
 * is how `@wazo/sdk` applications work too. Opening the socket (login → `init`/`subscribe *`/
 * `start`, v2 envelopes, token renewal, reconnection) arrives with the next release; until then
 * no event is delivered.
 */
import { TypedEmitter, type Listener } from '@confab/core';

/** A bus event as websocketd v2 delivers it (`data` of the `event` op). */
export interface BusEvent<T = Record<string, unknown>> {
  name: string;
  origin_uuid?: string;
  required_acl?: string;
  data: T;
}

/** Event names with `@wazo/sdk`'s constant names and values (the subset Confab's server sends). */
export const WebsocketEvent = {
  CALL_CREATED: 'call_created',
  CALL_UPDATED: 'call_updated',
  CALL_ANSWERED: 'call_answered',
  CALL_ENDED: 'call_ended',
  CALL_HELD: 'call_held',
  CALL_RESUMED: 'call_resumed',
  CALL_DTMF_CREATED: 'call_dtmf_created',
  CONFERENCE_ADHOC_PARTICIPANT_LEFT: 'conference_adhoc_participant_left',
  CONFERENCE_ADHOC_DELETED: 'conference_adhoc_deleted',
  AUTH_SESSION_EXPIRE_SOON: 'auth_session_expire_soon',
} as const;
export type WebsocketEventName = (typeof WebsocketEvent)[keyof typeof WebsocketEvent];

export type WebsocketEvents = Record<string, unknown[]>;

export class ConfabWebsocket {
  readonly CALL_CREATED = WebsocketEvent.CALL_CREATED;
  readonly CALL_UPDATED = WebsocketEvent.CALL_UPDATED;
  readonly CALL_ANSWERED = WebsocketEvent.CALL_ANSWERED;
  readonly CALL_ENDED = WebsocketEvent.CALL_ENDED;
  readonly CALL_HELD = WebsocketEvent.CALL_HELD;
  readonly CALL_RESUMED = WebsocketEvent.CALL_RESUMED;
  readonly CALL_DTMF_CREATED = WebsocketEvent.CALL_DTMF_CREATED;
  readonly CONFERENCE_ADHOC_PARTICIPANT_LEFT = WebsocketEvent.CONFERENCE_ADHOC_PARTICIPANT_LEFT;
  readonly CONFERENCE_ADHOC_DELETED = WebsocketEvent.CONFERENCE_ADHOC_DELETED;
  readonly AUTH_SESSION_EXPIRE_SOON = WebsocketEvent.AUTH_SESSION_EXPIRE_SOON;

  readonly #emitter = new TypedEmitter<WebsocketEvents>();

  /** Adds a listener for a bus event name; returns a function that removes it. */
  on(event: string, listener: Listener<[event: BusEvent]>): () => void {
    return this.#emitter.on(event, listener as Listener<unknown[]>);
  }

  once(event: string, listener: Listener<[event: BusEvent]>): () => void {
    return this.#emitter.once(event, listener as Listener<unknown[]>);
  }

  off(event: string, listener: Listener<[event: BusEvent]>): void {
    this.#emitter.off(event, listener as Listener<unknown[]>);
  }

  /** Removes every listener (`@wazo/sdk` `unbind()`). */
  unbind(): void {
    this.#emitter.removeAllListeners();
  }
}
