import { MessageChannel } from 'node:worker_threads';
import { TypedEmitter } from '@confab/core';
import { afterEach, describe, expect, it } from 'vitest';
import { LegTunnel, RemoteLeg } from '../src/engine/tunnel.js';
import {
  audioLevelElement,
  readAudioLevel,
  serializeHeaderExtensions,
} from '../src/rtp/extensions.js';
import type { RtpPacket } from '../src/rtp/packet.js';
import { LegKind, LegState } from '../src/legs/types.js';
import type { LegEvents, LegStats, MediaLeg } from '../src/legs/types.js';
import { FakePort, OPUS, RtpSource, TestClock, format } from './bridge-fixtures.js';
import { until } from './legs-fixtures.js';

/** A leg as the tunnel sees it: a FakePort with a state and a kind. */
class FakeLeg extends TypedEmitter<LegEvents> implements MediaLeg {
  readonly kind = LegKind.WebRtc;
  state: LegState = LegState.Connected;
  readonly port: FakePort;

  constructor(clock: TestClock) {
    super();
    this.port = new FakePort(
      'leg-1',
      { ...format(OPUS, { payloadType: 101, clockRate: 48_000 }), audioLevelExtensionId: 3 },
      clock,
      0xa11ce,
    );
  }
  get id(): string {
    return this.port.id;
  }
  get format() {
    return this.port.format;
  }
  get output() {
    return this.port.output;
  }
  get wantsMedia(): boolean {
    return this.port.wantsMedia;
  }
  get sent(): RtpPacket[] {
    return this.port.sent;
  }
  sendRtp(packet: RtpPacket): void {
    this.port.sendRtp(packet);
  }
  createOffer(): Promise<string> {
    return Promise.resolve('');
  }
  acceptOffer(): Promise<string> {
    return Promise.resolve('');
  }
  acceptAnswer(): Promise<void> {
    return Promise.resolve();
  }
  stats(): LegStats {
    return {
      kind: this.kind,
      state: this.state,
      packetsReceived: 0,
      bytesReceived: 0,
      packetsSent: 0,
      bytesSent: 0,
      packetsDropped: 0,
    };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const channels: MessageChannel[] = [];
afterEach(() => {
  for (const channel of channels.splice(0)) {
    channel.port1.close();
  }
});

function open(
  clock: TestClock,
  leg: FakeLeg,
): { tunnel: LegTunnel; proxy: RemoteLeg; closed: string[] } {
  const channel = new MessageChannel();
  channels.push(channel);
  const closed: string[] = [];
  const tunnel = new LegTunnel(leg, channel.port1, `tunnel:${channels.length}`, () =>
    closed.push('tunnel'),
  );
  const proxy = new RemoteLeg({ id: leg.id, port: channel.port2, info: tunnel.info, clock });
  proxy.on('state', (state) => {
    if (state === LegState.Closed) {
      closed.push('proxy');
    }
  });
  return { tunnel, proxy, closed };
}

describe('cross-worker tunnel (LegTunnel ↔ RemoteLeg over a MessagePort)', () => {
  it('delivers the leg’s packets to the proxy with their RFC 6464 extension and the leg’s format', async () => {
    const clock = new TestClock();
    const leg = new FakeLeg(clock);
    const { tunnel, proxy } = open(clock, leg);
    expect(proxy.id).toBe(leg.id);
    expect(proxy.format).toEqual(leg.format);
    const received: RtpPacket[] = [];
    proxy.on('rtp', (packet) => received.push(packet));
    const source = new RtpSource({ ssrc: 0x1234, payloadType: 111, samplesPerPacket: 960 });
    for (const level of [5, 40, 127]) {
      tunnel.forward({
        ...source.next(Uint8Array.of(1, 2, 3)),
        extension: serializeHeaderExtensions([audioLevelElement(3, level, level < 127)]),
      });
    }
    await until(() => received.length === 3, 'packets at the proxy');
    expect(received.map((p) => readAudioLevel(p.extension, 3)?.level)).toEqual([5, 40, 127]);
    expect(received.map((p) => p.sequenceNumber)).toEqual([1, 2, 3]);
    expect(received[0]!.payload).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('sends the mixer’s packets with the leg’s SSRC, continuing its numbering, and a new tunnel continues again', async () => {
    const clock = new TestClock();
    const leg = new FakeLeg(clock);
    // The leg was in a relay bridge before: five relayed packets.
    const before = new RtpSource({ ssrc: 0x999, payloadType: 111, samplesPerPacket: 960 });
    for (let i = 0; i < 5; i++) {
      leg.sendRtp(leg.output.write(before.next(Uint8Array.of(i)), 'relay'));
      clock.advance(20);
    }
    const first = open(clock, leg);
    // Each packet is awaited at the leg before the clock moves (delivery is asynchronous).
    const sendThrough = async (proxy: RemoteLeg, payload: Uint8Array): Promise<void> => {
      const count = leg.sent.length;
      proxy.sendRtp(proxy.output.writeGenerated(payload, 111, 960));
      await until(() => leg.sent.length === count + 1, 'a mixed packet at the leg');
      clock.advance(20);
    };
    for (let i = 0; i < 5; i++) {
      await sendThrough(first.proxy, Uint8Array.of(0xaa, i));
    }
    first.tunnel.close();
    await until(() => first.proxy.state === LegState.Closed, 'the proxy closes with the tunnel');

    const second = open(clock, leg);
    for (let i = 0; i < 3; i++) {
      await sendThrough(second.proxy, Uint8Array.of(0xbb, i));
    }

    const sent = leg.sent;
    expect(sent.every((p) => p.ssrc === 0xa11ce)).toBe(true);
    expect(sent.map((p) => p.sequenceNumber)).toEqual(
      Array.from({ length: 13 }, (_, i) => 1000 + i),
    );
    // Marker bits where the source changed: relay → first mixer → second mixer.
    expect(sent.map((p) => p.marker)).toEqual([
      true,
      false,
      false,
      false,
      false,
      true,
      false,
      false,
      false,
      false,
      true,
      false,
      false,
    ]);
    // Timestamps keep advancing by one frame per 20 ms.
    for (let i = 1; i < sent.length; i++) {
      expect((sent[i]!.timestamp - sent[i - 1]!.timestamp) >>> 0).toBe(960);
    }
    expect(sent[7]!.payload).toEqual(Uint8Array.of(0xaa, 2));
  });

  it('tells the proxy about a renegotiation and does not send to a leg that wants no media', async () => {
    const clock = new TestClock();
    const leg = new FakeLeg(clock);
    const { tunnel, proxy } = open(clock, leg);
    leg.port.wantsMedia = false;
    tunnel.update();
    await until(() => !proxy.wantsMedia, 'hold reaches the proxy');
    proxy.sendRtp(proxy.output.writeGenerated(Uint8Array.of(1), 111, 960));
    await new Promise((resolve) => setTimeout(resolve, 30));
    leg.port.wantsMedia = true;
    tunnel.update();
    await until(() => proxy.wantsMedia, 'resume reaches the proxy');
    proxy.sendRtp(proxy.output.writeGenerated(Uint8Array.of(2), 111, 960));
    await until(() => leg.sent.length === 1, 'the packet after resume');
    expect(leg.sent[0]!.payload).toEqual(Uint8Array.of(2));
  });

  it('closes both ends from either end, once each', async () => {
    const clock = new TestClock();
    const leg = new FakeLeg(clock);
    const fromProxy = open(clock, leg);
    await fromProxy.proxy.close();
    await until(() => fromProxy.tunnel.closed, 'the tunnel closes');
    await fromProxy.proxy.close();
    fromProxy.tunnel.close();
    expect(fromProxy.closed.sort()).toEqual(['proxy', 'tunnel']);

    const fromLeg = open(clock, leg);
    fromLeg.tunnel.close();
    await until(() => fromLeg.proxy.state === LegState.Closed, 'the proxy closes');
    expect(fromLeg.closed.sort()).toEqual(['proxy', 'tunnel']);
  });
});
