/**
 * Call bus events (wazo spec §4.4): call control's channels, observed through their public
 * events, published on the {@link EventBus} as wazo-calld publishes them.
 *
 * | channel / call control          | event                                   |
 * |---------------------------------|-----------------------------------------|
 * | `channelCreated`                | `call_created`                          |
 * | `stateChanged` (not to Hungup)  | `call_updated`, then `call_answered` on Up |
 * | `updated` (bridge enter/leave, connected line, mute, hold) | `call_updated` |
 * | `held` / `resumed`              | `call_held` / `call_resumed` `{call_id, user_uuid}` |
 * | `dtmf`                          | `call_dtmf_created` `{call_id, digit, user_uuid}` |
 * | `channelEnded`                  | `call_ended` (Call + `reason_code`)     |
 *
 * Every event is a UserEvent for the channel's owner within its tenant, with the required ACL
 * `events.calls.<user uuid>` (matched by a token's `events.calls.me`). Channels without an owner
 * produce no events (Wazo addresses them to nobody either).
 */
import type { Logger } from '@confab/core';
import { escapeBusKeyValue, userEvent, type EventBus } from '../events/bus.js';
import type { CallControl } from '../telephony/call-control.js';
import { ChannelState, type Channel } from '../telephony/channel.js';
import { callView, endedCallView } from './call-view.js';

/** Event names (wazo-bus `resources/calls/event.py`). */
export const CallEventName = {
  Created: 'call_created',
  Updated: 'call_updated',
  Answered: 'call_answered',
  Ended: 'call_ended',
  Held: 'call_held',
  Resumed: 'call_resumed',
  DtmfCreated: 'call_dtmf_created',
} as const;
export type CallEventName = (typeof CallEventName)[keyof typeof CallEventName];

/** Options of {@link CallEventPublisher}. */
export interface CallEventPublisherOptions {
  readonly callControl: CallControl;
  readonly bus: EventBus;
  /** The stack uuid (`origin_uuid` of every message). */
  readonly originUuid: string;
  readonly logger: Logger;
  /** Epoch milliseconds for the messages' `timestamp`. @default Date.now */
  readonly now?: () => number;
}

/** The ACL a token needs to receive the call events of `userUuid`. */
export function callEventsAcl(userUuid: string): string {
  return `events.calls.${escapeBusKeyValue(userUuid)}`;
}

/**
 * Publishes the call events of every channel of `callControl` until {@link close}. Listeners are
 * attached per channel when it is created and dropped when it ends, so nothing accumulates.
 */
export class CallEventPublisher {
  readonly #options: CallEventPublisherOptions;
  readonly #detach = new Map<Channel, () => void>();
  /** The state each ended channel left for Hungup (`status` of its call_ended). */
  readonly #lastState = new WeakMap<Channel, ChannelState>();
  readonly #offControl: (() => void)[];
  #closed = false;

  constructor(options: CallEventPublisherOptions) {
    this.#options = options;
    const control = options.callControl;
    const onCreated = (channel: Channel): void => {
      this.#watch(channel);
    };
    const onEnded = (channel: Channel): void => {
      const lastState = this.#lastState.get(channel);
      this.#unwatch(channel);
      this.#publish(channel, CallEventName.Ended, endedCallView(channel, lastState));
    };
    control.on('channelCreated', onCreated);
    control.on('channelEnded', onEnded);
    this.#offControl = [
      () => control.off('channelCreated', onCreated),
      () => control.off('channelEnded', onEnded),
    ];
    for (const channel of control.channels.values()) {
      this.#watch(channel, false);
    }
  }

  /** Stops publishing. Idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    for (const off of this.#offControl) {
      off();
    }
    for (const detach of this.#detach.values()) {
      detach();
    }
    this.#detach.clear();
  }

  #watch(channel: Channel, announce = true): void {
    if (this.#detach.has(channel) || channel.ended) {
      return;
    }
    const update = (): void => {
      if (!channel.ended) {
        this.#publish(channel, CallEventName.Updated, this.#view(channel));
      }
    };
    const onState = (from: ChannelState, to: ChannelState): void => {
      if (to === ChannelState.Hungup) {
        this.#lastState.set(channel, from);
        return;
      }
      update();
      if (to === ChannelState.Up) {
        this.#publish(channel, CallEventName.Answered, this.#view(channel));
      }
    };
    const onHeld = (): void => {
      this.#publish(channel, CallEventName.Held, {
        call_id: channel.id,
        user_uuid: channel.userUuid,
      });
    };
    const onResumed = (): void => {
      this.#publish(channel, CallEventName.Resumed, {
        call_id: channel.id,
        user_uuid: channel.userUuid,
      });
    };
    const onDtmf = (digit: string): void => {
      this.#publish(channel, CallEventName.DtmfCreated, {
        call_id: channel.id,
        digit,
        user_uuid: channel.userUuid,
      });
    };
    channel.on('stateChanged', onState);
    channel.on('updated', update);
    channel.on('held', onHeld);
    channel.on('resumed', onResumed);
    channel.on('dtmf', onDtmf);
    this.#detach.set(channel, () => {
      channel.off('stateChanged', onState);
      channel.off('updated', update);
      channel.off('held', onHeld);
      channel.off('resumed', onResumed);
      channel.off('dtmf', onDtmf);
    });
    if (announce) {
      this.#publish(channel, CallEventName.Created, this.#view(channel));
    }
  }

  #unwatch(channel: Channel): void {
    this.#detach.get(channel)?.();
    this.#detach.delete(channel);
  }

  #view(channel: Channel): ReturnType<typeof callView> {
    return callView(channel, this.#options.callControl);
  }

  #publish(channel: Channel, name: CallEventName, data: unknown): void {
    const userUuid = channel.userUuid;
    if (userUuid === null || this.#closed) {
      return;
    }
    try {
      this.#options.bus.publish(
        userEvent({
          name,
          data,
          tenantUuid: channel.tenantUuid,
          userUuid,
          originUuid: this.#options.originUuid,
          requiredAcl: callEventsAcl(userUuid),
          time: (this.#options.now ?? Date.now)(),
        }),
      );
    } catch (error) {
      // The bus contract says publish never throws; a broken one must not break call control.
      this.#options.logger.error({ err: error, event: name, callId: channel.id }, 'publish failed');
    }
  }
}
