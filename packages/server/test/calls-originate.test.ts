/**
 * CallControl.originate's failure paths without a network (its happy path, with real phones,
 * is in tests/integration/calld-calls.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@confab/core';
import { FakeClock } from '@confab/sip';
import type { SipStack } from '../src/sip/stack.js';
import type { SipAuthenticator } from '../src/telephony/authenticator.js';
import {
  CallControl,
  OriginateError,
  OriginateErrorCode,
  type OriginateRequest,
} from '../src/telephony/call-control.js';
import type { Channel } from '../src/telephony/channel.js';
import type { MediaControl } from '../src/telephony/media-control.js';
import type { Binding, Registrar } from '../src/telephony/registrar.js';
import { MemoryStore } from './api.fixtures.js';
import { recordingMedia } from './calls.fixtures.js';

function setUp(options: { bindings: number; media: Partial<MediaControl> }) {
  const store = new MemoryStore();
  const alice = store.addUser({ username: 'alice', password: 'x', firstname: 'Alice' });
  const bob = store.addUser({ username: 'bob', password: 'x', firstname: 'Bob' });
  const line = store.addLine({ userUuid: alice.uuid, extension: '1001', webrtc: true });
  store.addLine({ userUuid: bob.uuid, extension: '1002', webrtc: true });
  const binding = {
    webrtc: true,
    contactUri: {
      scheme: 'sip',
      user: 'alice',
      password: undefined,
      host: '127.0.0.1',
      port: 5099,
      params: new Map(),
      headers: new Map(),
    },
    flow: { protocol: 'WS', remoteAddress: '127.0.0.1', remotePort: 5099, connectionId: 'c1' },
  } as unknown as Binding;
  const sent: string[] = [];
  // Enough of a SIP stack for an INVITE to go out (nothing answers it).
  const stack = {
    userAgent: 'test',
    contactUri: () => 'sip:ch@127.0.0.1',
    sendRequest: (request: { method: string }) => {
      sent.push(request.method);
      return { on: () => undefined };
    },
    registerDialog: () => undefined,
    retireDialog: () => undefined,
  } as unknown as SipStack;
  const registrar = {
    contactsFor: () => Array.from({ length: options.bindings }, () => binding),
  } as unknown as Registrar;
  const { media, closed } = recordingMedia(options.media);
  const control = new CallControl({
    stack,
    store,
    registrar,
    authenticator: {} as SipAuthenticator,
    media,
    clock: new FakeClock(Date.UTC(2026, 4, 5)),
    logger: silentLogger,
    domain: 'confab.test',
  });
  const ended: Channel[] = [];
  control.on('channelEnded', (channel) => ended.push(channel));
  const request = (extension: string): OriginateRequest => ({ line, extension });
  return { control, request, ended, closed, sent };
}

function originateError(code: OriginateErrorCode): (error: unknown) => boolean {
  return (error) => error instanceof OriginateError && error.code === code;
}

describe('CallControl.originate', () => {
  it('rejects an unknown extension before creating any channel', async () => {
    const { control, request } = setUp({ bindings: 1, media: {} });
    await expect(control.originate(request('9999'))).rejects.toSatisfy(
      originateError(OriginateErrorCode.InvalidExtension),
    );
    expect(control.channels.size).toBe(0);
  });

  it("rejects when the user's line has no registered device", async () => {
    const { control, request } = setUp({ bindings: 0, media: {} });
    await expect(control.originate(request('1002'))).rejects.toSatisfy(
      originateError(OriginateErrorCode.OriginUnavailable),
    );
    expect(control.channels.size).toBe(0);
  });

  it("ends the user's leg and releases its media when the offer cannot be made", async () => {
    const { control, request, ended, closed } = setUp({
      bindings: 1,
      media: { createOffer: () => Promise.reject(new Error('no ports')) },
    });
    await expect(control.originate(request('1002'))).rejects.toThrow('no ports');
    expect(control.channels.size).toBe(0);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ isCaller: true, dialedExtension: '1002', hangupCause: 41 });
    expect(closed).toEqual(['leg-1']);
  });

  it("ends the user's leg when its media leg cannot be created", async () => {
    const { control, request, ended } = setUp({
      bindings: 1,
      media: { createLeg: () => Promise.reject(new Error('worker gone')) },
    });
    await expect(control.originate(request('1002'))).rejects.toThrow('worker gone');
    expect(control.channels.size).toBe(0);
    expect(ended).toHaveLength(1);
  });

  it("sends the INVITE to the user's device and lists the user's leg as the caller", async () => {
    const { control, request, sent } = setUp({ bindings: 1, media: {} });
    const channel = await control.originate(request('1002'));
    expect(sent).toEqual(['INVITE']);
    expect(control.channels.get(channel.id)).toBe(channel);
    expect(channel).toMatchObject({ isCaller: true, dialedExtension: '1002', state: 'Down' });
    expect(channel.connectedLine.number).toBe('1002');
  });
});

describe('CallControl mute and hold', () => {
  it('drop a media failure caused by the channel hanging up meanwhile, and leave the flags', async () => {
    const live: { channel?: Channel } = {};
    const { control, request } = setUp({
      bindings: 1,
      media: {
        setMuted: () => {
          // The leg is closed under the command, as when the call ends during the request.
          live.channel?.hangup();
          return Promise.reject(new Error('MEDIA_LEG_NOT_FOUND'));
        },
      },
    });
    const channel = await control.originate(request('1002'));
    live.channel = channel;
    await expect(control.setMuted(channel, true)).resolves.toBeUndefined();
    expect(channel.muted).toBe(false);
    expect(channel.ended).toBe(true);
  });

  it('propagate a media failure on a live channel', async () => {
    const { control, request } = setUp({
      bindings: 1,
      media: { setHeld: () => Promise.reject(new Error('worker gone')) },
    });
    const channel = await control.originate(request('1002'));
    await expect(control.setOnHold(channel, true)).rejects.toThrow('worker gone');
    expect(channel.onHold).toBe(false);
  });
});
