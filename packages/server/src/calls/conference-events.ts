/**
 * Ad-hoc conference bus events (wazo spec §6.5; the talk and mute events are Confab's, shaped the
 * same way). Every event is a UserEvent (`service: calld`) in the host's tenant; its required ACL
 * is `events.` + its routing key, e.g. `events.conferences.users.<uuid>.adhoc.participants.joined`,
 * which a user token's `events.conferences.users.me.#` matches.
 *
 * | event | data | recipients |
 * |---|---|---|
 * | `conference_adhoc_created` | `{conference_id}` | the host user, before any channel moves |
 * | `conference_adhoc_participant_joined` | `{conference_id, call_id}` | each distinct owner of a channel now in the conference, the host user always; when the host's channel enters, the host also gets one per channel already in (its own included) |
 * | `conference_adhoc_participant_left` | `{conference_id, call_id}` | each distinct owner of a channel still in, plus the host user always |
 * | `conference_adhoc_participant_talk_started` / `_talk_stopped` | `{conference_id, call_id}` | as `participant_left`: the owners of the channels in, and the host |
 * | `conference_adhoc_participant_muted` / `_unmuted` | `{conference_id, call_id}` | same |
 * | `conference_adhoc_deleted` | `{conference_id}` | the host user |
 */
import type { Logger } from '@confab/core';
import { escapeBusKeyValue, userEvent, type EventBus } from '../events/bus.js';
import type { AdhocConference, AdhocConferences } from '../telephony/conference.js';
import type { Channel } from '../telephony/channel.js';

/** Event names and the last segments of their routing keys. */
export const ConferenceEventName = {
  Created: 'conference_adhoc_created',
  Deleted: 'conference_adhoc_deleted',
  ParticipantJoined: 'conference_adhoc_participant_joined',
  ParticipantLeft: 'conference_adhoc_participant_left',
  ParticipantTalkStarted: 'conference_adhoc_participant_talk_started',
  ParticipantTalkStopped: 'conference_adhoc_participant_talk_stopped',
  ParticipantMuted: 'conference_adhoc_participant_muted',
  ParticipantUnmuted: 'conference_adhoc_participant_unmuted',
} as const;
export type ConferenceEventName = (typeof ConferenceEventName)[keyof typeof ConferenceEventName];

const ROUTING_SUFFIX: Readonly<Record<ConferenceEventName, string>> = {
  conference_adhoc_created: 'adhoc.created',
  conference_adhoc_deleted: 'adhoc.deleted',
  conference_adhoc_participant_joined: 'adhoc.participants.joined',
  conference_adhoc_participant_left: 'adhoc.participants.left',
  conference_adhoc_participant_talk_started: 'adhoc.participants.talk_started',
  conference_adhoc_participant_talk_stopped: 'adhoc.participants.talk_stopped',
  conference_adhoc_participant_muted: 'adhoc.participants.muted',
  conference_adhoc_participant_unmuted: 'adhoc.participants.unmuted',
};

/** The routing key of a conference event for `userUuid` (wazo-bus `routing_key_fmt`). */
export function conferenceRoutingKey(name: ConferenceEventName, userUuid: string): string {
  return `conferences.users.${escapeBusKeyValue(userUuid)}.${ROUTING_SUFFIX[name]}`;
}

export interface ConferenceEventPublisherOptions {
  readonly conferences: AdhocConferences;
  readonly bus: EventBus;
  readonly originUuid: string;
  readonly logger: Logger;
  /** Epoch milliseconds for the messages' `timestamp`. @default Date.now */
  readonly now?: () => number;
}

/** Publishes the events of every conference of `conferences` until {@link close}. */
export class ConferenceEventPublisher {
  readonly #options: ConferenceEventPublisherOptions;
  readonly #offCreated: () => void;
  #closed = false;

  constructor(options: ConferenceEventPublisherOptions) {
    this.#options = options;
    this.#offCreated = options.conferences.on('conferenceCreated', (conference) => {
      this.#watch(conference);
    });
  }

  /** Stops publishing. Idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#offCreated();
  }

  #watch(conference: AdhocConference): void {
    const id = conference.id;
    const toHost = (name: ConferenceEventName, data: unknown): void => {
      this.#publish(conference, name, data, [conference.hostUserUuid]);
    };
    const toMembers = (name: ConferenceEventName, callId: string): void => {
      this.#publish(
        conference,
        name,
        { conference_id: id, call_id: callId },
        recipients(conference),
      );
    };
    toHost(ConferenceEventName.Created, { conference_id: id });
    const offs = [
      conference.on('participantJoined', (channel: Channel) => {
        toMembers(ConferenceEventName.ParticipantJoined, channel.id);
        if (channel.id === conference.hostCallId) {
          for (const member of conference.members) {
            toHost(ConferenceEventName.ParticipantJoined, {
              conference_id: id,
              call_id: member.id,
            });
          }
        }
      }),
      conference.on('participantLeft', (channel: Channel) => {
        toMembers(ConferenceEventName.ParticipantLeft, channel.id);
      }),
      conference.on('talking', (channel: Channel, talking: boolean) => {
        toMembers(
          talking
            ? ConferenceEventName.ParticipantTalkStarted
            : ConferenceEventName.ParticipantTalkStopped,
          channel.id,
        );
      }),
      conference.on('muted', (channel: Channel, muted: boolean) => {
        toMembers(
          muted ? ConferenceEventName.ParticipantMuted : ConferenceEventName.ParticipantUnmuted,
          channel.id,
        );
      }),
    ];
    conference.once('ended', () => {
      toHost(ConferenceEventName.Deleted, { conference_id: id });
      for (const off of offs) {
        off();
      }
    });
  }

  #publish(
    conference: AdhocConference,
    name: ConferenceEventName,
    data: unknown,
    users: Iterable<string>,
  ): void {
    if (this.#closed) {
      return;
    }
    for (const userUuid of users) {
      try {
        this.#options.bus.publish(
          userEvent({
            name,
            data,
            tenantUuid: conference.tenantUuid,
            userUuid,
            originUuid: this.#options.originUuid,
            routingKey: conferenceRoutingKey(name, userUuid),
            time: (this.#options.now ?? Date.now)(),
          }),
        );
      } catch (error) {
        this.#options.logger.error(
          { err: error, event: name, conferenceId: conference.id },
          'publish failed',
        );
      }
    }
  }
}

/** The distinct owners of the channels in the conference, and the host user. */
function recipients(conference: AdhocConference): Set<string> {
  const users = new Set<string>([conference.hostUserUuid]);
  for (const member of conference.members) {
    if (member.userUuid !== null) {
      users.add(member.userUuid);
    }
  }
  return users;
}
