/**
 * How the Phone folds `conference_adhoc_*` events into AdHocConference snapshots (no network:
 * these paths make no request). The REST paths and the audio run against the real server in
 * tests/integration/sdk-conference.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@confab/core';
import type { ConfabAuth } from '../src/auth/auth.js';
import { AdHocConference, ConferenceState } from '../src/domain/adhoc-conference.js';
import { Call } from '../src/domain/call.js';
import { CallSession } from '../src/domain/call-session.js';
import { PhoneConferences } from '../src/phone/conferences.js';

const ID = '6f1c2a9e-0000-4000-8000-000000000001';

function leg(sipCallId: string, callId: string, peer: string): CallSession {
  const cs = new CallSession({ sipCallId, callId });
  cs.attachCall(new Call({ id: callId, sipCallId, talkingToIds: [peer] }));
  return cs;
}

function setup() {
  const updated: AdHocConference[] = [];
  const ended: AdHocConference[] = [];
  const backend = new PhoneConferences({} as ConfabAuth, silentLogger, {
    joinHost: () => Promise.resolve(),
    hold: () => Promise.resolve(),
    resume: () => Promise.resolve(),
    mute: () => undefined,
    unmute: () => undefined,
    updated: (c) => updated.push(c),
    ended: (c) => ended.push(c),
  });
  const host = leg('sip-h', 'h.1', 'p.1');
  const other = leg('sip-o', 'h.2', 'p.2');
  const conference = new AdHocConference({
    phone: { conferenceBackend: backend },
    host,
    participants: { 'p.1': host, 'p.2': other },
    conferenceId: ID,
    started: true,
  });
  const event = (name: string, callId?: string) =>
    backend.onBusEvent({
      name,
      data: { conference_id: ID, ...(callId === undefined ? {} : { call_id: callId }) },
    });
  return { backend, conference, host, other, updated, ended, event };
}

describe('AdHocConference snapshots and conference_adhoc_* events', () => {
  it('events that arrive before the conference is known are replayed when it starts', () => {
    const { backend, conference, updated, event } = setup();
    event('conference_adhoc_created');
    event('conference_adhoc_participant_joined', 'p.1');
    event('conference_adhoc_participant_joined', 'p.3');
    event('conference_adhoc_participant_talk_started', 'p.1');
    expect(updated).toEqual([]);
    backend.publish(conference);
    const latest = backend.latest(ID)!;
    expect(Object.keys(latest.participants).sort()).toEqual(['p.1', 'p.2', 'p.3']);
    expect(latest.participants['p.3']!.callId).toBe('p.3');
    expect(latest.isTalking('p.1')).toBe(true);
    expect(updated.at(-1)).toBe(latest);
    // The instance that was started is left as it was.
    expect(Object.keys(conference.participants)).toEqual(['p.1', 'p.2']);
  });

  it("joins of the host's own leg and of known participants change nothing", () => {
    const { backend, conference, updated, event } = setup();
    backend.publish(conference);
    const before = updated.length;
    event('conference_adhoc_participant_joined', 'h.1');
    event('conference_adhoc_participant_joined', 'p.2');
    expect(updated).toHaveLength(before);
    expect(backend.latest(ID)).toBe(conference);
  });

  it('talk and mute events make new snapshots; the host talks under its own call id', () => {
    const { backend, conference, host, other, event } = setup();
    backend.publish(conference);
    event('conference_adhoc_participant_talk_started', 'p.2');
    event('conference_adhoc_participant_talk_started', 'h.1');
    event('conference_adhoc_participant_muted', 'p.2');
    let latest = backend.latest(ID)!;
    expect(latest).not.toBe(conference);
    expect(latest.isTalking(other)).toBe(true);
    expect(latest.isTalking(host)).toBe(true);
    expect(latest.isParticipantMuted(other)).toBe(true);
    expect(conference.isTalking(other)).toBe(false);
    event('conference_adhoc_participant_talk_stopped', 'p.2');
    event('conference_adhoc_participant_unmuted', 'p.2');
    latest = backend.latest(ID)!;
    expect(latest.isTalking('p.2')).toBe(false);
    expect(latest.isParticipantMuted('p.2')).toBe(false);
  });

  it('participant_left removes that participant; the host leaving finishes the conference', () => {
    const { backend, conference, ended, event } = setup();
    backend.publish(conference);
    event('conference_adhoc_participant_talk_started', 'p.2');
    event('conference_adhoc_participant_left', 'p.2');
    const latest = backend.latest(ID)!;
    expect(Object.keys(latest.participants)).toEqual(['p.1']);
    expect(latest.talking).toEqual({});
    expect(ended).toEqual([]);
    event('conference_adhoc_participant_left', 'h.1');
    expect(ended).toHaveLength(1);
    expect(ended[0]!.finished).toBe(true);
    expect(ended[0]!.participants).toEqual({});
    expect(ended[0]!.state).toBe(ConferenceState.Finished);
  });

  it('conference_adhoc_deleted finishes it once; later events and a second deletion are ignored', () => {
    const { backend, conference, updated, ended, event } = setup();
    backend.publish(conference);
    event('conference_adhoc_deleted');
    event('conference_adhoc_deleted');
    event('conference_adhoc_participant_joined', 'p.9');
    expect(ended).toHaveLength(1);
    expect(updated.at(-1)).toBe(ended[0]);
    expect(backend.latest(ID)).toBe(ended[0]);
    expect(ended[0]!.hasParticipants()).toBe(false);
  });

  it("the host call ending finishes the conference (the server's deletion may not come)", () => {
    const { backend, conference, host, ended } = setup();
    backend.publish(conference);
    backend.onCallEnded(CallSession.newFrom(host));
    expect(ended).toHaveLength(1);
    expect(ended[0]!.finished).toBe(true);
  });

  it('participantHasLeft() returns a new snapshot built on the latest one, by key or by CallSession', () => {
    const { backend, conference, other, event } = setup();
    backend.publish(conference);
    event('conference_adhoc_participant_joined', 'p.3');
    // Called on the older instance: the join that happened since is kept.
    const next = conference.participantHasLeft(other);
    expect(next).not.toBe(conference);
    expect(Object.keys(next.participants).sort()).toEqual(['p.1', 'p.3']);
    expect(Object.keys(next.participantHasLeft('p.3').participants)).toEqual(['p.1']);
    expect(Object.keys(conference.participants)).toEqual(['p.1', 'p.2']);
  });

  it('once finished, later mutators resolve to the final snapshot (the end wins)', () => {
    const { backend, conference, other, ended, event } = setup();
    backend.publish(conference);
    event('conference_adhoc_deleted');
    expect(conference.participantHasLeft(other)).toBe(ended[0]);
    expect(conference.mute()).toBe(ended[0]);
    expect(ended).toHaveLength(1);
  });

  it('mute() and unmute() act on the host and return new snapshots', () => {
    const { backend, conference } = setup();
    backend.publish(conference);
    const muted = conference.mute();
    expect(muted).not.toBe(conference);
    expect(muted.isMuted()).toBe(true);
    expect(conference.isMuted()).toBe(false);
    expect(muted.unmute().isMuted()).toBe(false);
  });
});
