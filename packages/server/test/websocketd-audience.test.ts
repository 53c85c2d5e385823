import { describe, expect, it } from 'vitest';
import { userEvent, type BusMessage } from '../src/events/bus.js';
import { audienceKey } from '../src/websocketd/server.js';

const TENANT = '11111111-1111-4111-8111-111111111111';
const USER = '22222222-2222-4222-8222-222222222222';

function call(overrides: Record<string, unknown> = {}): BusMessage {
  return {
    ...userEvent({
      name: 'call_updated',
      data: { call_id: '1.1', muted: false },
      tenantUuid: TENANT,
      userUuid: USER,
      originUuid: 'stack',
      requiredAcl: `events.calls.${USER}`,
      time: 1_700_000_000_000,
    }),
    ...overrides,
  };
}

describe('audienceKey (what a delivery decision reads of a message)', () => {
  it('is the same for messages that differ only in data, timestamp or origin', () => {
    expect(
      audienceKey(
        call({ data: { call_id: '1.1', muted: true }, timestamp: 'x', origin_uuid: 'y' }),
      ),
    ).toBe(audienceKey(call()));
  });

  it.each([
    ['name', { name: 'call_ended' }],
    ['tenant', { tenant_uuid: '33333333-3333-4333-8333-333333333333' }],
    ['required ACL', { required_acl: 'events.calls.other' }],
    ['null required ACL', { required_acl: null }],
    ['missing required ACL', { required_acl: undefined }],
    ['another user', { [`user_uuid:${USER}`]: undefined, 'user_uuid:other': true }],
    ['an extra user', { 'user_uuid:*': true }],
    ['a user header that is not true', { [`user_uuid:${USER}`]: 'true' }],
  ])('differs when the %s differs', (_what, overrides) => {
    expect(audienceKey(call(overrides))).not.toBe(audienceKey(call()));
  });

  it('tells a string ACL from a non-string one of the same text', () => {
    expect(audienceKey(call({ required_acl: 5 }))).not.toBe(
      audienceKey(call({ required_acl: '5' })),
    );
  });
});
