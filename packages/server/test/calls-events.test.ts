import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@confab/core';
import { callView, endedCallView, formatAriTime, formatIsoTime } from '../src/calls/call-view.js';
import { CallEventPublisher, callEventsAcl } from '../src/calls/events.js';
import { InProcessEventBus, type BusMessage } from '../src/events/bus.js';
import type { CallControl } from '../src/telephony/call-control.js';
import { ChannelState } from '../src/telephony/channel.js';
import { HangupCause } from '../src/telephony/hangup-cause.js';
import {
  FixedClock,
  TENANT,
  TestCallControl,
  TestChannel,
  aliceCallsBob,
} from './calls.fixtures.js';

const ALICE = 'a11ce000-0000-4000-8000-000000000001';
const BOB = 'b0b00000-0000-4000-8000-000000000002';
const STACK = '57ac4000-0000-4000-8000-000000000000';

const closers: (() => unknown)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) {
    close();
  }
});

function publisherOn(control: TestCallControl): BusMessage[] {
  const bus = new InProcessEventBus();
  const messages: BusMessage[] = [];
  bus.subscribe((message) => messages.push(message));
  const publisher = new CallEventPublisher({
    callControl: control as unknown as CallControl,
    bus,
    originUuid: STACK,
    logger: silentLogger,
    now: () => Date.UTC(2026, 4, 5, 8, 0, 0),
  });
  closers.push(() => {
    publisher.close();
  });
  return messages;
}

describe('call view (wazo spec §4.3)', () => {
  it('formats times as ARI (creation) and Python isoformat (answer, hangup) in UTC', () => {
    const date = new Date(Date.UTC(2026, 4, 5, 8, 0, 3, 100));
    expect(formatAriTime(date)).toBe('2026-05-05T08:00:03.100+0000');
    expect(formatIsoTime(date)).toBe('2026-05-05T08:00:03.100000+00:00');
  });

  it('describes an answered, bridged call from each side with talking_to, conversation and caller ids', () => {
    const control = new TestCallControl();
    const { alice, bob } = aliceCallsBob(control, { alice: ALICE, bob: BOB });
    expect(callView(alice, control)).toEqual({
      call_id: alice.id,
      conversation_id: alice.id,
      user_uuid: ALICE,
      status: 'Up',
      talking_to: { [bob.id]: BOB },
      bridges: ['bridge-1'],
      creation_time: '2026-05-05T08:00:00.123+0000',
      answer_time: '2026-05-05T08:00:02.623000+00:00',
      hangup_time: null,
      caller_id_name: 'Alice Liddell',
      caller_id_number: '1001',
      peer_caller_id_name: 'Bob Martin',
      peer_caller_id_number: '1002',
      on_hold: false,
      muted: false,
      record_state: 'inactive',
      is_caller: true,
      is_video: false,
      dialed_extension: '1002',
      sip_call_id: 'a84b4c76e66710@pc33',
      line_id: 1,
      direction: 'internal',
      parked: false,
    });
    expect(callView(bob, control)).toMatchObject({
      call_id: bob.id,
      conversation_id: alice.id,
      user_uuid: BOB,
      talking_to: { [alice.id]: ALICE },
      is_caller: false,
      peer_caller_id_number: '1001',
      line_id: 2,
    });
  });

  it('falls back to the dialed extension when the peer number is empty', () => {
    const control = new TestCallControl();
    const channel = new TestChannel({
      id: '1.1',
      userUuid: ALICE,
      isCaller: true,
      callerId: { name: 'Alice', number: '1001' },
      connectedLine: { name: '', number: '' },
      dialedExtension: '1002',
    });
    expect(callView(channel, control)).toMatchObject({
      peer_caller_id_number: '1002',
      talking_to: {},
      bridges: [],
      status: 'Down',
      answer_time: null,
    });
  });

  it('describes an ended call the way call_ended does: reason code, hangup time, no peers, caller and peer swapped', () => {
    const clock = new FixedClock();
    const control = new TestCallControl();
    const { alice } = aliceCallsBob(control, { alice: ALICE, bob: BOB }, clock);
    alice.setMuted(true);
    clock.time += 10_000;
    alice.hangup(HangupCause.UserBusy);
    expect(endedCallView(alice)).toMatchObject({
      call_id: alice.id,
      reason_code: 17,
      hangup_time: '2026-05-05T08:00:12.623000+00:00',
      talking_to: {},
      bridges: [],
      caller_id_name: 'Bob Martin',
      caller_id_number: '1002',
      peer_caller_id_name: 'Alice Liddell',
      peer_caller_id_number: '1001',
      muted: false,
      on_hold: false,
      is_caller: true,
      line_id: 1,
      sip_call_id: 'a84b4c76e66710@pc33',
    });
  });
});

describe('call events (wazo spec §4.4)', () => {
  it('publishes the life of a call to each channel owner with the wazo-bus envelope', () => {
    const control = new TestCallControl();
    const messages = publisherOn(control);
    const { alice, bob } = aliceCallsBob(control, { alice: ALICE, bob: BOB });

    const created = messages.find((m) => m.name === 'call_created' && m[`user_uuid:${ALICE}`]);
    expect(created).toEqual({
      name: 'call_created',
      origin_uuid: STACK,
      timestamp: expect.any(String) as unknown,
      tenant_uuid: TENANT,
      [`user_uuid:${ALICE}`]: true,
      required_acl: `events.calls.${ALICE}`,
      required_access: 'event.call_created',
      data: expect.objectContaining({ call_id: alice.id, status: 'Down' }) as unknown,
    });
    const aliceEvents = messages
      .filter((m) => (m.data as { call_id?: string }).call_id === alice.id)
      .map((m) => `${m.name}:${(m.data as { status?: string }).status ?? ''}`);
    expect(aliceEvents).toEqual([
      'call_created:Down',
      'call_updated:Ring',
      'call_updated:Up',
      'call_answered:Up',
      // bridge enter
      'call_updated:Up',
    ]);
    expect(
      messages.every((m) => m.required_acl === callEventsAcl(m[`user_uuid:${BOB}`] ? BOB : ALICE)),
    ).toBe(true);
    const bridged = messages.at(-1);
    expect(bridged?.data).toMatchObject({ call_id: bob.id, talking_to: { [alice.id]: ALICE } });

    messages.length = 0;
    bob.hangup(HangupCause.NormalClearing);
    alice.hangup(HangupCause.NormalClearing);
    expect(messages.map((m) => `${m.name}:${(m.data as { call_id: string }).call_id}`)).toEqual([
      // bridge leave, one per remaining channel
      `call_updated:${alice.id}`,
      `call_ended:${bob.id}`,
      `call_ended:${alice.id}`,
    ]);
    expect(messages[1]?.data).toMatchObject({
      reason_code: 16,
      talking_to: {},
      bridges: [],
      status: 'Up',
    });
    expect(messages[1]?.[`user_uuid:${BOB}`]).toBe(true);
  });

  it('publishes mute as call_updated, hold and resume as call_held / call_resumed, DTMF as call_dtmf_created', () => {
    const control = new TestCallControl();
    const { alice } = aliceCallsBob(control, { alice: ALICE, bob: BOB });
    const messages = publisherOn(control);

    alice.setMuted(true);
    alice.setOnHold(true);
    alice.setOnHold(false);
    alice.emit('dtmf', '5');
    expect(messages.map((m) => m.name)).toEqual([
      'call_updated',
      'call_held',
      'call_updated',
      'call_resumed',
      'call_updated',
      'call_dtmf_created',
    ]);
    expect(messages[0]?.data).toMatchObject({ call_id: alice.id, muted: true });
    expect(messages[1]?.data).toEqual({ call_id: alice.id, user_uuid: ALICE });
    expect(messages[2]?.data).toMatchObject({ on_hold: true });
    expect(messages[3]?.data).toEqual({ call_id: alice.id, user_uuid: ALICE });
    expect(messages[5]?.data).toEqual({ call_id: alice.id, digit: '5', user_uuid: ALICE });
  });

  it('keeps a server hold when the endpoint re-INVITEs without holding, and reports one hold for both holders', () => {
    const control = new TestCallControl();
    const { alice } = aliceCallsBob(control, { alice: ALICE, bob: BOB });
    const messages = publisherOn(control);

    alice.setOnHold(true, 'server');
    alice.setOnHold(false, 'endpoint');
    expect(alice.onHold).toBe(true);
    alice.setOnHold(true, 'endpoint');
    alice.setOnHold(false, 'server');
    expect(alice.onHold).toBe(true);
    alice.setOnHold(false, 'endpoint');
    expect(alice.onHold).toBe(false);
    expect(messages.map((m) => m.name)).toEqual([
      'call_held',
      'call_updated',
      'call_resumed',
      'call_updated',
    ]);
  });

  it('reports in call_ended the state a channel hung up from (a cancelled callee leg: Ringing)', () => {
    const control = new TestCallControl();
    const messages = publisherOn(control);
    const callee = new TestChannel({
      id: '5.5',
      userUuid: BOB,
      isCaller: false,
      callerId: { name: 'Alice', number: '1001' },
      connectedLine: { name: 'Alice', number: '1001' },
      dialedExtension: '1002',
    });
    control.add(callee);
    callee.setState(ChannelState.Ringing);
    callee.hangup(HangupCause.NormalClearing);
    expect(messages.at(-1)).toMatchObject({
      name: 'call_ended',
      data: { call_id: '5.5', status: 'Ringing', answer_time: null, reason_code: 16 },
    });
  });

  it('escapes the user uuid in the required ACL and skips channels without an owner', () => {
    expect(callEventsAcl('a.b#c*')).toBe('events.calls.a__DOT__b__HASH__c__STAR__');
    const control = new TestCallControl();
    const messages = publisherOn(control);
    const orphan = new TestChannel({
      id: '9.9',
      userUuid: null,
      isCaller: true,
      callerId: { name: 'x', number: '1' },
      connectedLine: { name: 'y', number: '2' },
    });
    control.add(orphan);
    orphan.setState(ChannelState.Up);
    orphan.hangup();
    expect(messages).toEqual([]);
  });

  it('stops publishing and detaches from live channels once closed', () => {
    const control = new TestCallControl();
    const { alice } = aliceCallsBob(control, { alice: ALICE, bob: BOB });
    const messages = publisherOn(control);
    closers.splice(0).forEach((close) => close());
    alice.setMuted(true);
    alice.hangup();
    expect(messages).toEqual([]);
    expect(alice.listenerCount('updated')).toBe(0);
  });
});
