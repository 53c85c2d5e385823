import { describe, expect, it } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import type { Logger } from '@confab/core';
import { InProcessEventBus, escapeBusKeyValue, userEvent } from '../src/events/bus.js';
import type { BusMessage } from '../src/events/bus.js';

const STACK = '11111111-1111-4111-8111-111111111111';
const TENANT = '22222222-2222-4222-8222-222222222222';
const ALICE = '33333333-3333-4333-8333-333333333333';

function message(name = 'call_updated'): BusMessage {
  return userEvent({
    name,
    data: { n: 1 },
    tenantUuid: TENANT,
    userUuid: ALICE,
    originUuid: STACK,
  });
}

describe('userEvent', () => {
  it('merges the wazo-bus headers into the body next to data (spec §7)', () => {
    const event = userEvent({
      name: 'call_updated',
      data: { call_id: '1' },
      tenantUuid: TENANT,
      userUuid: ALICE,
      originUuid: STACK,
      requiredAcl: `events.calls.${ALICE}`,
      time: Date.UTC(2026, 4, 5, 10, 0, 0, 123),
    });
    expect(event).toMatchObject({
      name: 'call_updated',
      origin_uuid: STACK,
      tenant_uuid: TENANT,
      [`user_uuid:${ALICE}`]: true,
      required_acl: `events.calls.${ALICE}`,
      required_access: 'event.call_updated',
      data: { call_id: '1' },
    });
    // Local time, microseconds, no offset.
    expect(event.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.123000$/);
    expect(Object.keys(event)).not.toContain('user_uuid:*');
  });

  it('marks a tenant-wide event with user_uuid:*', () => {
    const event = userEvent({
      name: 'x',
      data: null,
      tenantUuid: TENANT,
      userUuid: null,
      originUuid: STACK,
    });
    expect(event['user_uuid:*']).toBe(true);
    expect(Object.keys(event).filter((k) => k.startsWith('user_uuid:'))).toEqual(['user_uuid:*']);
  });

  it('defaults required_acl to events. + the routing key, or the name without one', () => {
    const base = { data: null, tenantUuid: TENANT, userUuid: ALICE, originUuid: STACK };
    expect(userEvent({ ...base, name: 'auth_x' }).required_acl).toBe('events.auth_x');
    expect(
      userEvent({ ...base, name: 'auth_x', routingKey: 'auth.sessions.s1.created' }).required_acl,
    ).toBe('events.auth.sessions.s1.created');
  });

  it('keeps an explicit null required_acl (delivered to every subscriber)', () => {
    const event = userEvent({
      name: 'x',
      data: null,
      tenantUuid: TENANT,
      userUuid: ALICE,
      originUuid: STACK,
      requiredAcl: null,
    });
    expect(event.required_acl).toBeNull();
  });

  it('serialises to the JSON body websocketd forwards', () => {
    const parsed = JSON.parse(JSON.stringify(message())) as Record<string, unknown>;
    expect(parsed[`user_uuid:${ALICE}`]).toBe(true);
    expect(parsed['data']).toEqual({ n: 1 });
  });
});

describe('escapeBusKeyValue', () => {
  it('escapes dots, hashes and stars as wazo-bus does', () => {
    expect(escapeBusKeyValue('1600000000.42')).toBe('1600000000__DOT__42');
    expect(escapeBusKeyValue('a#b*c')).toBe('a__HASH__b__STAR__c');
    expect(escapeBusKeyValue(ALICE)).toBe(ALICE);
  });
});

describe('InProcessEventBus', () => {
  it('delivers a message synchronously to every subscriber, in subscription order', () => {
    const bus = new InProcessEventBus();
    const seen: string[] = [];
    bus.subscribe((m) => seen.push(`a:${m.name}`));
    bus.subscribe((m) => seen.push(`b:${m.name}`));
    bus.publish(message('one'));
    expect(seen).toEqual(['a:one', 'b:one']);
  });

  it('contains a subscriber that throws: the others still get the message, the error is logged', () => {
    const errors: unknown[] = [];
    const logger: Logger = {
      child: () => logger,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (fields) => {
        errors.push(fields);
      },
    };
    const bus = new InProcessEventBus({ logger });
    const seen: string[] = [];
    bus.subscribe(() => {
      throw new Error('boom');
    });
    bus.subscribe((m) => seen.push(m.name));
    expect(() => {
      bus.publish(message('one'));
    }).not.toThrow();
    expect(seen).toEqual(['one']);
    expect(errors).toHaveLength(1);
  });

  it('stops delivering to an unsubscribed handler; unsubscribing twice is harmless', () => {
    const bus = new InProcessEventBus();
    const seen: string[] = [];
    const handler = (m: BusMessage): void => {
      seen.push(m.name);
    };
    const first = bus.subscribe(handler);
    bus.subscribe(handler);
    first();
    first();
    bus.publish(message('one'));
    expect(seen).toEqual(['one']);
    expect(bus.subscriberCount).toBe(1);
  });

  it('lets a handler unsubscribe itself during delivery without skipping the others', () => {
    const bus = new InProcessEventBus();
    const seen: string[] = [];
    const off = bus.subscribe(() => {
      seen.push('self');
      off();
    });
    bus.subscribe(() => seen.push('other'));
    bus.publish(message());
    bus.publish(message());
    expect(seen).toEqual(['self', 'other', 'other']);
  });

  it('after close drops subscribers, discards publications and refuses new subscribers', async () => {
    const bus = new InProcessEventBus();
    const seen: string[] = [];
    bus.subscribe((m) => seen.push(m.name));
    await bus.close();
    await bus.close();
    bus.publish(message());
    expect(seen).toEqual([]);
    expect(bus.state).toBe('closed');
    let thrown: unknown;
    try {
      bus.subscribe(() => undefined);
    } catch (err) {
      thrown = err;
    }
    expect(isInvalidStateError(thrown)).toBe(true);
  });
});
