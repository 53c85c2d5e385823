/**
 * The public surface is a compatibility promise with `@wazo/sdk` applications: these tests fail
 * when a member, an event string or a listener signature drifts.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import confab, {
  Auth,
  CallSession,
  Phone,
  PhoneEvent,
  Websocket,
  createConfab,
  websocket,
  type PhoneEvents,
  type PhoneError,
} from '../src/index.js';
import * as nodeEntry from '../src/node.js';

describe('default export (Wazo-shaped)', () => {
  it('has Auth, Phone, Websocket, the lowercase websocket alias and domain.CallSession', () => {
    expect(confab.Auth).toBe(Auth);
    expect(confab.Phone).toBe(Phone);
    expect(confab.Websocket).toBe(Websocket);
    expect(confab.websocket).toBe(confab.Websocket);
    expect(websocket).toBe(Websocket);
    expect(confab.domain.CallSession).toBe(CallSession);
  });

  it('createConfab() makes independent instances (several users in one process)', () => {
    const a = createConfab();
    const b = createConfab();
    expect(a.Phone).not.toBe(b.Phone);
    expect(a.Auth).not.toBe(b.Auth);
    expect(a.Phone).not.toBe(confab.Phone);
  });
});

describe('Phone events', () => {
  it('keep the @wazo/sdk string values (spec §3.3)', () => {
    expect(PhoneEvent).toEqual({
      ON_REGISTERED: 'onRegistered',
      ON_UNREGISTERED: 'onUnRegistered',
      ON_CALL_OUTGOING: 'onCallOutgoing',
      ON_PROGRESS: 'onProgress',
      ON_CALL_INCOMING: 'onCallIncoming',
      ON_CALL_ANSWERED: 'onCallAnswered',
      ON_CALL_ACCEPTED: 'onCallAccepted',
      ON_CALL_REJECTED: 'onCallRejected',
      ON_CALL_CANCELED: 'onCallCanceled',
      ON_CALL_FAILED: 'onCallFailed',
      ON_CALL_ENDED: 'onCallEnded',
      ON_CALL_HELD: 'onCallHeld',
      ON_CALL_RESUMED: 'onCallResumed',
      ON_CALL_UNHELD: 'onCallUnHeld',
      ON_CALL_MUTED: 'onCallMuted',
      ON_CALL_UNMUTED: 'onCallUnmuted',
      ON_AUDIO_STREAM: 'onAudioStream',
      // Confab extensions (the spec lists no conference event on Phone).
      ON_CONFERENCE_UPDATED: 'onConferenceUpdated',
      ON_CONFERENCE_ENDED: 'onConferenceEnded',
    });
  });

  it('are reachable as Phone.ON_* constants', () => {
    for (const [key, value] of Object.entries(PhoneEvent)) {
      expect((Phone as unknown as Record<string, unknown>)[key]).toBe(value);
    }
  });

  it('pass @wazo/sdk listener arguments', () => {
    expectTypeOf<PhoneEvents['onCallIncoming']>().toEqualTypeOf<
      [callSession: CallSession, wantsToDoVideo: boolean]
    >();
    expectTypeOf<PhoneEvents['onCallAccepted']>().toEqualTypeOf<
      [callSession: CallSession, cameraEnabled: boolean]
    >();
    expectTypeOf<PhoneEvents['onCallEnded']>().toEqualTypeOf<
      [callSession: CallSession, wasCurrent: boolean]
    >();
    expectTypeOf<PhoneEvents['onCallCanceled']>().toEqualTypeOf<
      [callSession: CallSession, elsewhere: boolean]
    >();
    expectTypeOf<PhoneEvents['onCallFailed']>().toEqualTypeOf<
      [callSession: CallSession, error: PhoneError]
    >();
    expectTypeOf<PhoneEvents['onAudioStream']>().toEqualTypeOf<[stream: MediaStream]>();
    expectTypeOf<PhoneEvents['onRegistered']>().toEqualTypeOf<[]>();
    expectTypeOf<PhoneEvents['onCallHeld']>().toEqualTypeOf<[callSession: CallSession]>();
    expectTypeOf<PhoneEvents['onCallUnmuted']>().toEqualTypeOf<[callSession: CallSession]>();
  });

  it('Phone has the mid-call methods of the seeds (hold, resume, mute, unmute, sendDTMF, transfer)', () => {
    for (const method of ['hold', 'resume', 'unhold', 'mute', 'unmute', 'sendDTMF', 'transfer']) {
      expect(typeof (Phone as unknown as Record<string, unknown>)[method]).toBe('function');
    }
  });
});

describe('Websocket', () => {
  it('exposes the @wazo/sdk event constants and socket event names', () => {
    expect(Websocket.CALL_CREATED).toBe('call_created');
    expect(Websocket.CALL_UPDATED).toBe('call_updated');
    expect(Websocket.CALL_DTMF_CREATED).toBe('call_dtmf_created');
    expect(Websocket.CONFERENCE_ADHOC_PARTICIPANT_LEFT).toBe('conference_adhoc_participant_left');
    expect(Websocket.CONFERENCE_ADHOC_DELETED).toBe('conference_adhoc_deleted');
    expect(Websocket.INITIALIZED).toBe('initialized');
    expect(Websocket.ON_AUTH_FAILED).toBe('on_auth_failed');
  });

  it('Phone.startConference and domain.AdHocAPIConference exist, as in @wazo/sdk (spec §7)', () => {
    expect(typeof Phone.startConference).toBe('function');
    expect(confab.domain.AdHocAPIConference).toBe(confab.domain.AdHocConference);
    expectTypeOf<ReturnType<typeof Phone.startConference>>().toEqualTypeOf<
      Promise<InstanceType<typeof confab.domain.AdHocAPIConference>>
    >();
  });

  it('domain.Call.parse and domain.CallSession.parseCall are reachable as in @wazo/sdk', () => {
    const call = confab.domain.Call.parse({ call_id: '1.2', sip_call_id: 'x', status: 'Up' });
    expect(confab.domain.CallSession.parseCall(call)).toMatchObject({ callId: '1.2', call });
  });
});

describe('@confab/sdk/node', () => {
  it('exports nodePlatform, createNodeConfab and configureNode', () => {
    expect(typeof nodeEntry.nodePlatform).toBe('function');
    expect(typeof nodeEntry.createNodeConfab).toBe('function');
    expect(typeof nodeEntry.configureNode).toBe('function');
  });

  it('adapts a ws-style class: the TLS option reaches its constructor, remote audio is left to the app', () => {
    const seen: unknown[] = [];
    class FakeWs {
      readyState = 0;
      protocol = '';
      onopen = null;
      onclose = null;
      onerror = null;
      onmessage = null;
      constructor(url: string, protocols: string[], options?: { rejectUnauthorized?: boolean }) {
        seen.push(url, protocols, options);
      }
      send = (): void => undefined;
      close = (): void => undefined;
    }
    const platform = nodeEntry.nodePlatform({
      WebSocket: FakeWs,
      wrtc: { RTCPeerConnection: class {} as never, MediaStream: class {} as never },
      rejectUnauthorized: false,
    });
    platform.createWebSocket!('wss://h/api/asterisk/ws', ['sip']);
    expect(seen).toEqual(['wss://h/api/asterisk/ws', ['sip'], { rejectUnauthorized: false }]);
    expect(platform.remoteAudio).toBeUndefined();
    expect('remoteAudio' in platform).toBe(true);
  });
});
