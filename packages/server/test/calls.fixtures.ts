/**
 * Channels without SIP for the call view, call events and calld route tests: a real
 * {@link Channel} (state table, events, hangup bookkeeping) whose dialog side is inert, and a
 * call control stand-in holding them in bridges.
 */
import { TypedEmitter, silentLogger } from '@confab/core';
import type { Clock, Flow, TimerHandle } from '@confab/sip';
import type { SipStack } from '../src/sip/stack.js';
import {
  Channel,
  ChannelState,
  type ChannelOptions,
  type PartyId,
} from '../src/telephony/channel.js';
import {
  OriginateError,
  OriginateErrorCode,
  type CallControlEvents,
  type OriginateRequest,
} from '../src/telephony/call-control.js';
import { HangupCause } from '../src/telephony/hangup-cause.js';
import type { MediaControl } from '../src/telephony/media-control.js';

export const TENANT = '11111111-1111-4111-8111-111111111111';

/** A clock fixed at 2026-05-05T08:00:00.123Z unless advanced. */
export class FixedClock implements Clock {
  now = (): number => this.time;
  time = Date.UTC(2026, 4, 5, 8, 0, 0, 123);
  setTimeout(): TimerHandle {
    throw new Error('no timers in these tests');
  }
  clearTimeout(): void {
    // no timers
  }
}

export interface TestChannelInit {
  id: string;
  userUuid: string | null;
  isCaller: boolean;
  callerId: PartyId;
  connectedLine: PartyId;
  dialedExtension?: string | null;
  conversationId?: string;
  lineId?: number | null;
  sipCallId?: string;
  clock?: FixedClock;
}

/** A channel whose SIP side does nothing: tests drive its state directly. */
export class TestChannel extends Channel {
  readonly isCaller: boolean;
  readonly sipCallId: string;
  readonly flow: Flow = { protocol: 'UDP', remoteAddress: '127.0.0.1', remotePort: 5060 };

  constructor(init: TestChannelInit) {
    const options: ChannelOptions = {
      id: init.id,
      stack: {} as SipStack,
      clock: init.clock ?? new FixedClock(),
      logger: silentLogger,
      userUuid: init.userUuid,
      tenantUuid: TENANT,
      lineId: init.lineId ?? null,
      webrtc: true,
      callerId: init.callerId,
      connectedLine: init.connectedLine,
      dialedExtension: init.dialedExtension ?? null,
      media: { reoffer: () => Promise.reject(new Error('no media')) },
      ...(init.conversationId === undefined ? {} : { conversationId: init.conversationId }),
    };
    super(options);
    this.isCaller = init.isCaller;
    this.sipCallId = init.sipCallId ?? `${init.id}@test`;
  }

  /** Moves the channel to `state` through the real transition table. */
  setState(state: ChannelState): void {
    this.transition(state);
  }

  hangup(cause: HangupCause = HangupCause.NormalClearing): void {
    this.finish(cause);
  }

  connectionLost(): void {
    this.finish(HangupCause.DestinationOutOfOrder);
  }
}

/** The part of call control the view, the events and the routes use. */
export class TestCallControl extends TypedEmitter<CallControlEvents> {
  readonly channels = new Map<string, Channel>();
  readonly bridges = new Map<string, Set<Channel>>();
  readonly calls: string[] = [];

  add(channel: Channel): void {
    this.channels.set(channel.id, channel);
    channel.once('hungup', () => {
      for (const [id, members] of this.bridges) {
        if (members.delete(channel)) {
          channel.bridges.delete(id);
          for (const other of members) {
            other.emit('updated');
          }
        }
      }
      this.channels.delete(channel.id);
      this.emit('channelEnded', channel);
    });
    this.emit('channelCreated', channel);
  }

  bridge(id: string, ...channels: Channel[]): void {
    this.bridges.set(id, new Set(channels));
    for (const channel of channels) {
      channel.bridges.add(id);
      channel.emit('updated');
    }
  }

  talkingTo(channel: Channel): Channel[] {
    const peers: Channel[] = [];
    for (const id of channel.bridges) {
      for (const other of this.bridges.get(id) ?? []) {
        if (other !== channel) {
          peers.push(other);
        }
      }
    }
    return peers;
  }

  setMuted(channel: Channel, muted: boolean): Promise<void> {
    this.calls.push(`mute ${channel.id} ${String(muted)}`);
    channel.setMuted(muted);
    return Promise.resolve();
  }

  setOnHold(channel: Channel, held: boolean): Promise<void> {
    this.calls.push(`hold ${channel.id} ${String(held)}`);
    channel.setOnHold(held);
    return Promise.resolve();
  }

  /** Extensions that exist, and lines with a registered device (for {@link originate}). */
  readonly extensions = new Set(['1002']);
  readonly registeredLines = new Set<number>();

  originate(request: OriginateRequest): Promise<Channel> {
    const { line, extension } = request;
    this.calls.push(`originate ${line.id} ${extension}`);
    if (!this.extensions.has(extension)) {
      return Promise.reject(new OriginateError(OriginateErrorCode.InvalidExtension, extension));
    }
    if (!this.registeredLines.has(line.id)) {
      return Promise.reject(new OriginateError(OriginateErrorCode.OriginUnavailable, 'no device'));
    }
    const channel = new TestChannel({
      id: `1778000001.${this.channels.size + 1}`,
      userUuid: line.userUuid,
      isCaller: true,
      callerId: { name: 'Me', number: line.extension },
      connectedLine: { name: 'Them', number: extension },
      dialedExtension: extension,
      lineId: line.id,
    });
    this.add(channel);
    return Promise.resolve(channel);
  }

  playDtmf(channel: Channel, digits: string): void {
    this.calls.push(`dtmf ${channel.id} ${digits}`);
    for (const digit of digits) {
      channel.emit('dtmf', digit);
    }
  }
}

/** Alice (caller, 1001) talking to Bob (callee, 1002), answered and bridged. */
export function aliceCallsBob(
  control: TestCallControl,
  users: { alice: string; bob: string },
  clock = new FixedClock(),
): { alice: TestChannel; bob: TestChannel } {
  const aliceParty = { name: 'Alice Liddell', number: '1001' };
  const bobParty = { name: 'Bob Martin', number: '1002' };
  const alice = new TestChannel({
    id: '1778000000.1',
    userUuid: users.alice,
    isCaller: true,
    callerId: aliceParty,
    connectedLine: bobParty,
    dialedExtension: '1002',
    lineId: 1,
    sipCallId: 'a84b4c76e66710@pc33',
    clock,
  });
  const bob = new TestChannel({
    id: '1778000000.2',
    userUuid: users.bob,
    isCaller: false,
    callerId: aliceParty,
    connectedLine: aliceParty,
    dialedExtension: '1002',
    conversationId: alice.id,
    lineId: 2,
    clock,
  });
  control.add(alice);
  control.add(bob);
  bob.setState(ChannelState.Ringing);
  alice.setState(ChannelState.Ring);
  clock.time += 2500;
  bob.setState(ChannelState.Up);
  alice.setState(ChannelState.Up);
  control.bridge('bridge-1', alice, bob);
  return { alice, bob };
}

/** A media engine stand-in for {@link CallControl} tests, recording what it was asked. */
export interface RecordingMedia {
  readonly media: MediaControl;
  /** Legs closed, in order. */
  readonly closed: string[];
  /** Legs created so far (`leg-1`, `leg-2`, …). */
  readonly legCount: () => number;
}

/**
 * Legs named `leg-1`, `leg-2`, … whose SDP steps and relay bridging succeed; mixer commands
 * reject (no call-control test reaches them). `overrides` replace single commands.
 */
export function recordingMedia(overrides: Partial<MediaControl> = {}): RecordingMedia {
  let legs = 0;
  const closed: string[] = [];
  const unused = (): Promise<never> => Promise.reject(new Error('unused'));
  const media: MediaControl = {
    createLeg: () => Promise.resolve(`leg-${++legs}`),
    createOffer: () => Promise.resolve('v=0\r\n'),
    acceptOffer: () => Promise.resolve('v=0\r\n'),
    acceptAnswer: () => Promise.resolve(),
    bridge: () => Promise.resolve('media-bridge'),
    unbridge: () => Promise.resolve(),
    closeLeg: (legId) => {
      closed.push(legId);
      return Promise.resolve();
    },
    createMixer: unused,
    addToMixer: unused,
    removeFromMixer: unused,
    startMixer: unused,
    closeMixer: unused,
    setMuted: () => Promise.resolve(),
    setHeld: () => Promise.resolve(),
    onEvent: () => () => undefined,
    ...overrides,
  };
  return { media, closed, legCount: () => legs };
}
