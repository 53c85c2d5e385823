/**
 * The event bus: how the platform's producers (telephony, auth) reach its consumers (the event
 * websocket, tests, later webhooks) without knowing each other.
 *
 * Messages have the shape wazo-bus publishes (wazo spec §7): the AMQP routing headers (`name`,
 * `origin_uuid`, `timestamp`, `tenant_uuid`, `user_uuid:<uuid>`, `required_acl`,
 * `required_access`) merged into the body next to `data`. The event websocket forwards that body
 * as is, so whatever a producer publishes is exactly what `@wazo/sdk` receives.
 *
 * {@link EventBus} is the seam for a multi-process deployment: a NATS or Redis implementation
 * publishes the JSON body on a subject/channel and delivers what it receives to its subscribers.
 * The contract such an implementation must keep:
 *
 * - `publish` never throws and never blocks on the network (queue and send in the background);
 * - a message is delivered to every subscriber present when it is published, at most once, in
 *   publication order per producer;
 * - a subscriber that throws does not affect the others nor the publisher;
 * - messages are treated as immutable by everyone once published (subscribers share them).
 */
import { InvalidStateError, silentLogger } from '@confab/core';
import type { Logger } from '@confab/core';
import { formatLocalTimestamp } from '../auth/time.js';

/** A bus message as wazo-bus publishes it (spec §7): routing headers merged into the body. */
export interface BusMessage {
  /** The event name, e.g. `call_updated`. */
  name: string;
  /** The stack uuid of the publisher (`xivo_uuid`). */
  origin_uuid: string;
  /** Local time, ISO 8601 with microseconds and no offset (Python `datetime.now().isoformat()`). */
  timestamp: string;
  tenant_uuid: string;
  /**
   * The ACL a token needs to receive the message; `null` means anyone subscribed may. A message
   * without this key is never delivered by the event websocket (spec §8.4).
   */
  required_acl: string | null;
  /** `event.<name>`. */
  required_access: string;
  /** The event content, e.g. the call object. */
  data: unknown;
  /** `user_uuid:<uuid>: true` for the user the event concerns; `user_uuid:*: true` for all. */
  readonly [header: `user_uuid:${string}`]: boolean;
}

/** Receives bus messages. */
export type BusHandler = (message: BusMessage) => void;

/**
 * A publish/subscribe bus of {@link BusMessage}s. See the module comment for the contract a
 * distributed (NATS, Redis) implementation has to keep.
 */
export interface EventBus {
  /** Delivers `message` to every current subscriber. Never throws. */
  publish(message: BusMessage): void;
  /** Adds a subscriber; returns a function that removes it (idempotent). */
  subscribe(handler: BusHandler): () => void;
  /** Drops every subscriber; later publications are discarded. Idempotent. */
  close(): Promise<void>;
}

/** States of an {@link InProcessEventBus}: `open` → `closed` (terminal). */
export const EventBusState = { Open: 'open', Closed: 'closed' } as const;
export type EventBusState = (typeof EventBusState)[keyof typeof EventBusState];

const TRANSITIONS: Readonly<Record<EventBusState, readonly EventBusState[]>> = {
  open: ['closed'],
  closed: [],
};

/** Options of {@link InProcessEventBus}. */
export interface InProcessEventBusOptions {
  /** Receives the errors of subscribers. @default silentLogger */
  readonly logger?: Logger;
}

/**
 * The single-process {@link EventBus}: synchronous fan-out to the subscribers, in subscription
 * order. A subscriber that throws is logged and skipped; the publisher never sees the error.
 *
 * Publishing after {@link InProcessEventBus.close} is a silent no-op, not an error: producers
 * such as telephony still hang calls up (and publish `call_ended`) while the server shuts down.
 */
export class InProcessEventBus implements EventBus {
  #state: EventBusState = EventBusState.Open;
  readonly #logger: Logger;
  /** Copy-on-write, so publish iterates without copying and (un)subscribing from a handler is safe. */
  #handlers: readonly BusHandler[] = [];

  constructor(options: InProcessEventBusOptions = {}) {
    this.#logger = (options.logger ?? silentLogger).child({ component: 'bus' });
  }

  get state(): EventBusState {
    return this.#state;
  }

  /** Current subscribers (for leak checks). */
  get subscriberCount(): number {
    return this.#handlers.length;
  }

  publish(message: BusMessage): void {
    const handlers = this.#handlers;
    for (const handler of handlers) {
      try {
        handler(message);
      } catch (err) {
        this.#logger.error({ err, event: message.name }, 'bus subscriber threw');
      }
    }
  }

  /** @throws InvalidStateError if the bus is closed. */
  subscribe(handler: BusHandler): () => void {
    if (this.#state !== EventBusState.Open) {
      throw InvalidStateError.closed('InProcessEventBus');
    }
    // Wrapped, so the same function subscribed twice is two subscriptions removed one at a time.
    const entry: BusHandler = (message) => {
      handler(message);
    };
    this.#handlers = [...this.#handlers, entry];
    return () => {
      this.#handlers = this.#handlers.filter((h) => h !== entry);
    };
  }

  close(): Promise<void> {
    if (this.#state !== EventBusState.Closed) {
      this.#transition(EventBusState.Closed);
      this.#handlers = [];
    }
    return Promise.resolve();
  }

  #transition(to: EventBusState): void {
    if (!TRANSITIONS[this.#state].includes(to)) {
      throw InvalidStateError.transition('InProcessEventBus', this.#state, to);
    }
    this.#logger.debug({ from: this.#state, to }, 'event bus state');
    this.#state = to;
  }
}

/** Input of {@link userEvent}. */
export interface UserEventInput {
  readonly name: string;
  readonly data: unknown;
  readonly tenantUuid: string;
  /** The user the event concerns; `null` for a tenant-wide event (`user_uuid:*`). */
  readonly userUuid: string | null;
  /** The publishing stack's uuid (the token service's `stackUuid`). */
  readonly originUuid: string;
  /**
   * The AMQP routing key of the event (wazo-bus `routing_key_fmt`, already formatted with
   * {@link escapeBusKeyValue}d values), used for the default `required_acl`. @default name
   */
  readonly routingKey?: string;
  /**
   * The ACL a token needs to receive it, e.g. `events.calls.<user uuid>` for call events
   * (build it with {@link escapeBusKeyValue}); `null` for everyone.
   * @default `events.` + the routing key (spec §7)
   */
  readonly requiredAcl?: string | null;
  /** Epoch milliseconds of the `timestamp` header. @default Date.now() */
  readonly time?: number;
}

/**
 * Builds a wazo-bus `UserEvent` body (spec §7): the headers merged into the top level, plus
 * `data`. Tenant-wide when `userUuid` is `null`.
 *
 * @example
 * ```ts
 * bus.publish(
 *   userEvent({
 *     name: 'call_updated',
 *     data: call,
 *     tenantUuid,
 *     userUuid,
 *     originUuid: tokens.stackUuid,
 *     requiredAcl: `events.calls.${escapeBusKeyValue(userUuid)}`,
 *   }),
 * );
 * ```
 */
export function userEvent(input: UserEventInput): BusMessage {
  const requiredAcl =
    input.requiredAcl === undefined
      ? `events.${input.routingKey ?? input.name}`
      : input.requiredAcl;
  // A computed key widens to `string`; the cast restores the template-literal header type.
  const userHeader = { [`user_uuid:${input.userUuid ?? '*'}`]: true } as Record<
    `user_uuid:${string}`,
    boolean
  >;
  const message: BusMessage = {
    name: input.name,
    origin_uuid: input.originUuid,
    timestamp: formatLocalTimestamp(input.time ?? Date.now()),
    tenant_uuid: input.tenantUuid,
    ...userHeader,
    required_acl: requiredAcl,
    required_access: `event.${input.name}`,
    data: input.data,
  };
  return message;
}

/**
 * Escapes a value before it is formatted into a routing key or a required ACL, as wazo-bus does:
 * `.`, `#` and `*` would otherwise add segments or wildcards (spec §7).
 */
export function escapeBusKeyValue(value: string): string {
  return value.replaceAll('.', '__DOT__').replaceAll('#', '__HASH__').replaceAll('*', '__STAR__');
}
