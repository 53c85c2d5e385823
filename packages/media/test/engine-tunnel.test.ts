import { MessageChannel } from 'node:worker_threads';
import { TypedEmitter } from '@confab/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createLinkRings, TunnelLink } from '../src/engine/tunnel.js';
import type { LegTunnel, RemoteLeg, TunnelMessage } from '../src/engine/tunnel.js';
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

  constructor(clock: TestClock, id = 'leg-1') {
    super();
    this.port = new FakePort(
      id,
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

/** Two workers' ends of one link (here in one thread), counting the messages each receives. */
interface Pair {
  /** The leg's worker's end. */
  legSide: TunnelLink;
  /** The mixer's worker's end. */
  mixerSide: TunnelLink;
  /** Messages that reached each end, by kind. */
  atMixer: TunnelMessage['t'][];
  atLeg: TunnelMessage['t'][];
}

const links: TunnelLink[] = [];
afterEach(() => {
  for (const link of links.splice(0)) {
    link.close();
  }
});

function pair(ringBytes?: number): Pair {
  const channel = new MessageChannel();
  const [toMixer, toLeg] = createLinkRings(ringBytes);
  const legSide = new TunnelLink({ port: channel.port1, send: toMixer, receive: toLeg });
  const mixerSide = new TunnelLink({ port: channel.port2, send: toLeg, receive: toMixer });
  links.push(legSide, mixerSide);
  const atMixer: TunnelMessage['t'][] = [];
  const atLeg: TunnelMessage['t'][] = [];
  channel.port2.on('message', (message: TunnelMessage) => atMixer.push(message.t));
  channel.port1.on('message', (message: TunnelMessage) => atLeg.push(message.t));
  return { legSide, mixerSide, atMixer, atLeg };
}

let nextId = 1;

function open(
  clock: TestClock,
  leg: FakeLeg,
  link: Pair = pair(),
): { tunnel: LegTunnel; proxy: RemoteLeg; closed: string[]; link: Pair } {
  const closed: string[] = [];
  const id = nextId++;
  const tunnel = link.legSide.openTunnel(leg, id, `tunnel:${id}`, () => closed.push('tunnel'));
  const proxy = link.mixerSide.attach(leg.id, id, tunnel.info, clock);
  proxy.on('state', (state) => {
    if (state === LegState.Closed) {
      closed.push('proxy');
    }
  });
  return { tunnel, proxy, closed, link };
}

/** What a mixer tick does for a proxy: a generated packet through its own output. */
function mixed(proxy: RemoteLeg, payload: Uint8Array): void {
  proxy.sendRtp(proxy.output.writeGenerated(payload, 111, 960));
}

describe('cross-worker tunnel (LegTunnel ↔ RemoteLeg on a TunnelLink)', () => {
  it('delivers the leg’s packets to the proxy at the mixer’s next read, with their RFC 6464 extension and the leg’s format', () => {
    const clock = new TestClock();
    const leg = new FakeLeg(clock);
    const { tunnel, proxy, link } = open(clock, leg, pair(4096));
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
    expect(received).toEqual([]);
    // The mixer's tick reads them from shared memory: no message, no wait.
    link.mixerSide.drain();
    expect(received.map((p) => readAudioLevel(p.extension, 3)?.level)).toEqual([5, 40, 127]);
    expect(received.map((p) => p.sequenceNumber)).toEqual([1, 2, 3]);
    expect(received[0]!.payload).toEqual(Uint8Array.of(1, 2, 3));
    expect(proxy.stats().packetsReceived).toBe(3);
    // Packets outlive the read: the ring's space is reused by the next ones.
    for (let i = 0; i < 40; i++) {
      tunnel.forward(source.next(new Uint8Array(1000).fill(0xee)));
      link.mixerSide.drain();
    }
    expect(received[0]!.payload).toEqual(Uint8Array.of(1, 2, 3));
    expect(received).toHaveLength(43);
    expect(link.atMixer).toEqual([]);
  });

  it('passes every leg’s packets in order through a ring smaller than the stream, wrapping around', () => {
    const clock = new TestClock();
    const link = pair(4096);
    const legs = [0, 1, 2].map((i) => new FakeLeg(clock, `leg-${i}`));
    const ends = legs.map((leg) => open(clock, leg, link));
    const received = new Map<string, number[]>();
    for (const { proxy } of ends) {
      received.set(proxy.id, []);
      proxy.on('rtp', (packet) => {
        received.get(proxy.id)!.push(packet.sequenceNumber);
        expect(packet.payload).toHaveLength(100 + (packet.sequenceNumber % 7));
      });
    }
    const sources = legs.map(
      (_, i) => new RtpSource({ ssrc: 0x100 + i, payloadType: 111, samplesPerPacket: 960 }),
    );
    // 200 ticks of one packet per leg (≈ 70 KB through a 4 KiB ring), read at every tick.
    for (let tick = 1; tick <= 200; tick++) {
      ends.forEach(({ tunnel }, i) => {
        tunnel.forward(sources[i]!.next(new Uint8Array(100 + (tick % 7))));
      });
      link.mixerSide.drain();
    }
    for (const { proxy } of ends) {
      expect(received.get(proxy.id)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    }
    expect(link.legSide.dropped).toBe(0);
  });

  it('drops what does not fit while the mixer’s worker does not read, and goes on once it does', () => {
    const clock = new TestClock();
    const link = pair(4096);
    const { tunnel, proxy } = open(clock, new FakeLeg(clock), link);
    const received: number[] = [];
    proxy.on('rtp', (packet) => received.push(packet.sequenceNumber));
    const source = new RtpSource({ ssrc: 0x42, payloadType: 111, samplesPerPacket: 960 });
    for (let i = 0; i < 100; i++) {
      tunnel.forward(source.next(new Uint8Array(200)));
    }
    link.mixerSide.drain();
    // 220-octet records: the ones that fitted in 4 KiB, the oldest first.
    expect(received.length).toBeGreaterThan(10);
    expect(received.length).toBeLessThan(20);
    expect(received).toEqual(Array.from({ length: received.length }, (_, i) => i + 1));
    expect(link.legSide.dropped).toBe(100 - received.length);
    tunnel.forward(source.next(new Uint8Array(200)));
    link.mixerSide.drain();
    expect(received.at(-1)).toBe(101);
  });

  it('sends what the mixer sends its remote legs in one tick as one message, a shared payload once', async () => {
    const clock = new TestClock();
    const link = pair();
    const legs = Array.from({ length: 5 }, (_, i) => new FakeLeg(clock, `leg-${i}`));
    const ends = legs.map((leg) => open(clock, leg, link));
    for (let tick = 0; tick < 3; tick++) {
      // One tick: a talker hears its own mix-minus-self, the others the shared full mix.
      const shared = Uint8Array.of(0x5a, tick, 1, 2, 3, 4, 5, 6, 7, 8);
      ends.forEach(({ proxy }, i) => mixed(proxy, i === 0 ? Uint8Array.of(0x0f, tick) : shared));
      await until(
        () => legs.every((leg) => leg.sent.length === tick + 1),
        `tick ${tick} at the legs`,
      );
      clock.advance(20);
    }
    expect(link.atLeg).toEqual(['media', 'media', 'media']);
    expect(link.mixerSide.batchesSent).toBe(3);
    for (const [i, leg] of legs.entries()) {
      expect(leg.sent.map((p) => p.payload[0])).toEqual(
        i === 0 ? [0x0f, 0x0f, 0x0f] : [0x5a, 0x5a, 0x5a],
      );
      expect(leg.sent.map((p) => p.payload[1])).toEqual([0, 1, 2]);
      // Each leg's stream: its SSRC, contiguous numbering, a marker bit where the mixer took over.
      expect(leg.sent.every((p) => p.ssrc === 0xa11ce)).toBe(true);
      expect(leg.sent.map((p) => p.sequenceNumber)).toEqual([1000, 1001, 1002]);
      expect(leg.sent.map((p) => p.marker)).toEqual([true, false, false]);
    }
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
      mixed(proxy, payload);
      await until(() => leg.sent.length === count + 1, 'a mixed packet at the leg');
      clock.advance(20);
    };
    for (let i = 0; i < 5; i++) {
      await sendThrough(first.proxy, Uint8Array.of(0xaa, i));
    }
    first.tunnel.close();
    await until(() => first.proxy.state === LegState.Closed, 'the proxy closes with the tunnel');

    // The next tunnel of the leg runs on the same link.
    const second = open(clock, leg, first.link);
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
    mixed(proxy, Uint8Array.of(1));
    await new Promise((resolve) => setTimeout(resolve, 30));
    leg.port.wantsMedia = true;
    tunnel.update();
    await until(() => proxy.wantsMedia, 'resume reaches the proxy');
    mixed(proxy, Uint8Array.of(2));
    await until(() => leg.sent.length === 1, 'the packet after resume');
    expect(leg.sent[0]!.payload).toEqual(Uint8Array.of(2));
  });

  it('sends the mixer’s packets queued before a close ahead of it', async () => {
    const clock = new TestClock();
    const leg = new FakeLeg(clock);
    const { tunnel, proxy, link } = open(clock, leg);
    mixed(proxy, Uint8Array.of(1));
    mixed(proxy, Uint8Array.of(2));
    await proxy.close();
    await until(() => tunnel.closed, 'the tunnel closes');
    expect(leg.sent.map((p) => p.payload[0])).toEqual([1, 2]);
    expect(link.atLeg).toEqual(['media', 'close']);
  });

  it('drops the packets a closed tunnel’s leg received before the mixer read them', async () => {
    const clock = new TestClock();
    const leg = new FakeLeg(clock);
    const { tunnel, proxy, link } = open(clock, leg);
    const received: RtpPacket[] = [];
    proxy.on('rtp', (packet) => received.push(packet));
    const source = new RtpSource({ ssrc: 0x77, payloadType: 111, samplesPerPacket: 960 });
    tunnel.forward(source.next(Uint8Array.of(1)));
    tunnel.close();
    await until(() => proxy.state === LegState.Closed, 'the proxy closes');
    link.mixerSide.drain();
    expect(received).toEqual([]);
  });

  it('closes both ends from either end, once each, and the link stays up for the others', async () => {
    const clock = new TestClock();
    const leg = new FakeLeg(clock);
    const link = pair();
    const fromProxy = open(clock, leg, link);
    await fromProxy.proxy.close();
    await until(() => fromProxy.tunnel.closed, 'the tunnel closes');
    await fromProxy.proxy.close();
    fromProxy.tunnel.close();
    expect(fromProxy.closed.sort()).toEqual(['proxy', 'tunnel']);

    const fromLeg = open(clock, leg, link);
    fromLeg.tunnel.close();
    await until(() => fromLeg.proxy.state === LegState.Closed, 'the proxy closes');
    expect(fromLeg.closed.sort()).toEqual(['proxy', 'tunnel']);
    expect(link.legSide.closed || link.mixerSide.closed).toBe(false);
  });

  it('closes every tunnel of a link on both sides when the link’s port closes (the other worker died)', async () => {
    const clock = new TestClock();
    const link = pair();
    const ends = [0, 1, 2].map((i) => open(clock, new FakeLeg(clock, `leg-${i}`), link));
    // The mixer's worker dies: its end of the channel goes away.
    link.mixerSide.close();
    await until(() => link.legSide.closed, 'the leg side sees the port close');
    for (const end of ends) {
      expect(end.tunnel.closed).toBe(true);
      expect(end.proxy.state).toBe(LegState.Closed);
      expect(end.closed.sort()).toEqual(['proxy', 'tunnel']);
    }
    // Nothing is sent on a closed link.
    ends[0]!.tunnel.forward(
      new RtpSource({ ssrc: 1, payloadType: 111, samplesPerPacket: 960 }).next(Uint8Array.of(1)),
    );
    expect(() =>
      link.legSide.openTunnel(new FakeLeg(clock, 'late'), 999, 'k', () => undefined),
    ).toThrow();
  });
});
