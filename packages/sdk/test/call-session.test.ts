import { describe, expect, it } from 'vitest';
import { Call } from '../src/domain/call.js';
import { CallSession, SipStatus } from '../src/domain/call-session.js';

const CALLD_CALL = {
  call_id: '1600000000.42',
  sip_call_id: 'abc@host',
  caller_id_name: 'Alice',
  caller_id_number: '1001',
  peer_caller_id_name: 'Bob',
  peer_caller_id_number: '1002',
  status: 'Up',
  on_hold: false,
  muted: true,
  is_caller: true,
  is_video: false,
  talking_to: { '1600000000.43': 'bob-uuid' },
  creation_time: '2026-01-01T10:00:00.000+00:00',
  answer_time: '2026-01-01T10:00:05.000+00:00',
  line_id: 3,
  record_state: 'inactive',
};

describe('CallSession identity', () => {
  it('getId() prefers the SIP Call-ID and falls back to the server call id', () => {
    expect(new CallSession({ sipCallId: 'sip-1', callId: '1.1' }).getId()).toBe('sip-1');
    expect(new CallSession({ callId: '1.1' }).getId()).toBe('1.1');
  });

  it('isId() matches either id and never an empty one', () => {
    const cs = new CallSession({ sipCallId: 'sip-1', callId: '1.1' });
    expect(cs.isId('sip-1')).toBe(true);
    expect(cs.isId('1.1')).toBe(true);
    expect(cs.isId('other')).toBe(false);
    expect(cs.isId('')).toBe(false);
    expect(new CallSession().isId('')).toBe(false);
  });

  it('is() matches a calld-derived session by SIP Call-ID or call id', () => {
    const mine = new CallSession({ sipCallId: 'abc@host' });
    expect(mine.is(new CallSession({ sipCallId: 'abc@host', callId: '9.9' }))).toBe(true);
    expect(mine.is(new CallSession({ callId: '9.9' }))).toBe(false);
    expect(mine.is(null)).toBe(false);
  });
});

describe('CallSession.updateFrom', () => {
  it('fills empty fields and overwrites differing ones (the @wazo/sdk rule)', () => {
    const mine = new CallSession({
      sipCallId: 'abc@host',
      number: '1002',
      displayName: '1002',
      isCaller: true,
    });
    const call = Call.parse(CALLD_CALL);
    const update = new CallSession({
      sipCallId: 'abc@host',
      callId: call.id,
      displayName: 'Bob',
      number: '1002',
      call,
    });
    mine.updateFrom(update);
    expect(mine.callId).toBe('1600000000.42');
    expect(mine.displayName).toBe('Bob');
    expect(mine.call).toBe(call);
    // Both defined and different: theirs wins, as in @wazo/sdk (isCaller true → false here).
    expect(mine.isCaller).toBe(false);
  });

  it('keeps a field when the other side has the same value', () => {
    const mine = new CallSession({ sipCallId: 's', number: '1002' });
    mine.updateFrom(new CallSession({ sipCallId: 's', number: '1002' }));
    expect(mine.number).toBe('1002');
  });
});

describe('CallSession.getTalkingToIds', () => {
  it('returns [] without a calld view', () => {
    expect(new CallSession().getTalkingToIds()).toEqual([]);
  });

  it('returns the keys of calld talking_to through the Call', () => {
    const cs = new CallSession({ call: Call.parse(CALLD_CALL) });
    expect(cs.getTalkingToIds()).toEqual(['1600000000.43']);
  });

  it('returns a copy that callers cannot use to change the Call', () => {
    const cs = new CallSession({ call: Call.parse(CALLD_CALL) });
    cs.getTalkingToIds().push('x');
    expect(cs.getTalkingToIds()).toEqual(['1600000000.43']);
  });
});

describe('CallSession state helpers', () => {
  it('answered follows answerTime and isIncoming() means unanswered and not ours', () => {
    const cs = new CallSession({ isCaller: false });
    expect(cs.answered).toBe(false);
    expect(cs.isIncoming()).toBe(true);
    cs.answerTime = new Date();
    expect(cs.answered).toBe(true);
    expect(cs.isIncoming()).toBe(false);
  });

  it('isEstablished()/isTerminated() read sipStatus', () => {
    const cs = new CallSession({ sipStatus: SipStatus.Established });
    expect(cs.isEstablished()).toBe(true);
    cs.sipStatus = SipStatus.Terminated;
    expect(cs.isTerminated()).toBe(true);
  });

  it('getElapsedTimeInSeconds() counts from the answer to the end', () => {
    const cs = new CallSession({
      creationTime: new Date('2026-01-01T10:00:00Z'),
      answerTime: new Date('2026-01-01T10:00:05Z'),
      endTime: new Date('2026-01-01T10:01:05Z'),
    });
    expect(cs.getElapsedTimeInSeconds()).toBe(60);
  });

  it('newFrom() copies every data field into a distinct object', () => {
    const original = new CallSession({ sipCallId: 's', callId: 'c', number: 'n', isCaller: true });
    const copy = CallSession.newFrom(original);
    expect(copy).not.toBe(original);
    expect(copy.toJSON()).toEqual(original.toJSON());
  });
});

describe('Call.parse', () => {
  it('maps the calld call object', () => {
    const call = Call.parse(CALLD_CALL);
    expect(call).toMatchObject({
      id: '1600000000.42',
      sipCallId: 'abc@host',
      callerName: 'Alice',
      calleeNumber: '1002',
      isCaller: true,
      muted: true,
      onHold: false,
      lineId: 3,
      talkingToIds: ['1600000000.43'],
    });
    expect(call.isUp()).toBe(true);
    expect(call.answerTime?.toISOString()).toBe('2026-01-01T10:00:05.000Z');
  });

  it('rejects a body without call_id', () => {
    expect(() => Call.parse({ sip_call_id: 'x' })).toThrow(TypeError);
    expect(() => Call.parse(null)).toThrow(TypeError);
  });
});

describe('CallSession.parseCall and attachCall', () => {
  it('parseCall() maps a calld call onto a CallSession that updateFrom() folds into ours (the seeds way)', () => {
    const call = Call.parse(CALLD_CALL);
    const parsed = CallSession.parseCall(call);
    expect(parsed).toMatchObject({
      callId: '1600000000.42',
      sipCallId: 'abc@host',
      number: '1002',
      displayName: 'Bob',
      callerNumber: '1001',
      isCaller: true,
      paused: false,
      muted: true,
      call,
    });
    expect(parsed.isAnswered()).toBe(true);
    expect(parsed.getTalkingToIds()).toEqual(['1600000000.43']);

    const mine = new CallSession({ sipCallId: 'abc@host', number: '1002', isCaller: true });
    expect(mine.is(parsed)).toBe(true);
    mine.updateFrom(parsed);
    expect(mine.callId).toBe('1600000000.42');
    expect(mine.getTalkingToIds()).toEqual(['1600000000.43']);
  });

  it('parseCall() of a ringing call is unanswered and ringing', () => {
    const parsed = CallSession.parseCall(
      Call.parse({ ...CALLD_CALL, status: 'Ringing', answer_time: null }),
    );
    expect(parsed.isAnswered()).toBe(false);
    expect(parsed.isRinging()).toBe(true);
  });

  it('attachCall() sets call and learns an unknown callId without touching the local fields', () => {
    const mine = new CallSession({ sipCallId: 'abc@host', displayName: 'Bobby', muted: false });
    mine.attachCall(Call.parse(CALLD_CALL));
    expect(mine.callId).toBe('1600000000.42');
    expect(mine.call?.id).toBe('1600000000.42');
    expect(mine.displayName).toBe('Bobby');
    expect(mine.muted).toBe(false);
    const known = new CallSession({ sipCallId: 'abc@host', callId: 'from-header' });
    known.attachCall(Call.parse(CALLD_CALL));
    expect(known.callId).toBe('from-header');
  });

  it('attachCall() refuses the call of another SIP dialog', () => {
    const mine = new CallSession({ sipCallId: 'other@host' });
    expect(() => mine.attachCall(Call.parse(CALLD_CALL))).toThrow(TypeError);
    expect(mine.call).toBeNull();
  });
});
