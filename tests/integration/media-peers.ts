/**
 * Real media peers for the media integration tests: a werift WebRTC client (what a browser
 * does) and a plain RTP phone (what a desk phone does), each sending an encoded tone and
 * keeping what it receives for Goertzel analysis.
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket as WeriftRtpPacket,
} from 'werift';
import type { RTCRtpTransceiver } from 'werift';
import {
  decodeMulaw,
  encodeMulaw,
  OpusDecoder,
  OpusEncoder,
  PortAllocator,
  RtpLeg,
  ToneGenerator,
} from '@confab/media';
import type { RtpPacket } from '@confab/media';

/** Polls `condition` every 10 ms until it holds; rejects after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Received {
  sequenceNumber: number;
  payload: Uint8Array;
}

/** Orders packets by sequence number (no wrap in these short tests) and drops duplicates. */
function inOrder(packets: readonly Received[]): Received[] {
  const seen = new Set<number>();
  return [...packets]
    .sort((a, b) => a.sequenceNumber - b.sequenceNumber)
    .filter((packet) => !seen.has(packet.sequenceNumber) && seen.add(packet.sequenceNumber));
}

/** A werift client on loopback that sends an Opus tone and decodes what it receives. */
export class WebRtcClient {
  readonly pc: RTCPeerConnection;
  readonly transceiver: RTCRtpTransceiver;
  readonly received: Received[] = [];

  constructor() {
    this.pc = new RTCPeerConnection({
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: 'audio/opus',
            clockRate: 48_000,
            channels: 2,
            payloadType: 109,
          }),
          new RTCRtpCodecParameters({
            mimeType: 'audio/telephone-event',
            clockRate: 48_000,
            payloadType: 101,
          }),
        ],
      },
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      bundlePolicy: 'max-bundle',
    });
    this.transceiver = this.pc.addTransceiver('audio', { direction: 'sendrecv' });
    // werift's ICE agent falls back to stun.l.google.com without a configured STUN server.
    (
      this.transceiver.dtlsTransport.iceTransport.connection as { stunServer?: unknown }
    ).stunServer = undefined;
    const tracks = new WeakSet<object>();
    this.pc.onTrack.subscribe((track) => {
      if (tracks.has(track)) {
        return;
      }
      tracks.add(track);
      track.onReceiveRtp.subscribe((packet) => {
        this.received.push({
          sequenceNumber: packet.header.sequenceNumber,
          payload: new Uint8Array(packet.payload),
        });
      });
    });
  }

  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return this.pc.localDescription!.sdp;
  }

  async applyAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  async answer(sdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return this.pc.localDescription!.sdp;
  }

  async connected(): Promise<void> {
    if (this.pc.connectionState !== 'connected') {
      await this.pc.connectionStateChange.watch((state) => state === 'connected', 15_000);
    }
  }

  /** Sends `frames` 20 ms Opus frames of a sine through werift's sender, `pacingMs` apart. */
  async sendTone(frequency: number, frames: number, pacingMs = 10): Promise<void> {
    const encoder = new OpusEncoder({ sampleRate: 48_000, channels: 1 });
    const tone = new ToneGenerator({ frequency, sampleRate: 48_000, amplitude: 8000 });
    const ssrc = this.transceiver.sender.ssrc;
    for (let i = 0; i < frames; i++) {
      const payload = encoder.encode(tone.next(960));
      const header = new RtpHeader({
        payloadType: 109,
        sequenceNumber: 1000 + i,
        timestamp: i * 960,
        ssrc,
        marker: i === 0,
      });
      await this.transceiver.sender.sendRtp(new WeriftRtpPacket(header, Buffer.from(payload)));
      await sleep(pacingMs);
    }
    encoder.close();
  }

  /** The received Opus stream decoded to 48 kHz mono PCM, after `skip` warm-up packets. */
  decoded(skip = 5): Int16Array {
    const decoder = new OpusDecoder({ sampleRate: 48_000, channels: 1 });
    const frames = inOrder(this.received)
      .slice(skip)
      .map((packet) => decoder.decode(packet.payload))
      .filter((pcm): pcm is Int16Array => pcm !== undefined);
    decoder.close();
    return concat(frames);
  }

  async close(): Promise<void> {
    await this.pc.close();
  }
}

/** A plain RTP phone (PCMU) built on the package's own RTP leg, outside any engine. */
export class RtpPhone {
  readonly leg: RtpLeg;
  readonly received: Received[] = [];

  private constructor(leg: RtpLeg) {
    this.leg = leg;
    leg.on('rtp', (packet: RtpPacket) => {
      if (packet.payloadType === 0) {
        this.received.push({ sequenceNumber: packet.sequenceNumber, payload: packet.payload });
      }
    });
  }

  static async open(portRange: [number, number]): Promise<RtpPhone> {
    return new RtpPhone(
      await RtpLeg.open({ portAllocator: new PortAllocator(portRange), codecs: ['PCMU'] }),
    );
  }

  async sendTone(frequency: number, frames: number, pacingMs = 10): Promise<void> {
    const tone = new ToneGenerator({ frequency, sampleRate: 8000, amplitude: 8000 });
    for (let i = 0; i < frames; i++) {
      this.leg.sendRtp(this.leg.output.writeGenerated(encodeMulaw(tone.next(160)), 0, 160));
      await sleep(pacingMs);
    }
  }

  /** The received PCMU decoded to 8 kHz PCM, after `skip` packets. */
  decoded(skip = 5): Int16Array {
    return concat(
      inOrder(this.received)
        .slice(skip)
        .map((packet) => decodeMulaw(packet.payload)),
    );
  }

  async close(): Promise<void> {
    await this.leg.close();
  }
}

function concat(frames: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, frame) => n + frame.length, 0));
  let at = 0;
  for (const frame of frames) {
    out.set(frame, at);
    at += frame.length;
  }
  return out;
}
