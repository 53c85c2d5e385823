/**
 * Load-generating media peers for the relay benchmark, as cheap as they can be made so the
 * 2-core machine spends its time in the engine under test: pre-encoded payloads, no decoding,
 * received packets only counted.
 *
 * - {@link WebRtcPeer}: a werift client (what a browser does), DTLS-SRTP, Opus. It sends through
 *   `RTCDtlsTransport.sendRtp` (SRTP + one datagram), skipping the sender's per-packet rewriting.
 * - {@link RtpPeer}: a bare UDP socket speaking RTP/AVP PCMU (what a desk phone does).
 */
import dgram from 'node:dgram';
import { RTCPeerConnection, RTCRtpCodecParameters, RtpHeader } from 'werift';
import type { RTCRtpTransceiver } from 'werift';
import { encodeMulaw, OpusEncoder, ToneGenerator } from '@confab/media';

/** 20 ms Opus frames of a tone, encoded once and replayed in a loop by every peer. */
export function opusFrames(count = 50, frequency = 440): Buffer[] {
  const encoder = new OpusEncoder({ sampleRate: 48_000, channels: 1 });
  const tone = new ToneGenerator({ frequency, sampleRate: 48_000, amplitude: 8000 });
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(Buffer.from(encoder.encode(tone.next(960))));
  }
  encoder.close();
  return frames;
}

/** 20 ms PCMU frames (160 octets) of a tone. */
export function pcmuFrames(count = 50, frequency = 1000): Buffer[] {
  const tone = new ToneGenerator({ frequency, sampleRate: 8000, amplitude: 8000 });
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    frames.push(Buffer.from(encodeMulaw(tone.next(160))));
  }
  return frames;
}

/** What the pacer drives. */
export interface Peer {
  /** Sends the next 20 ms frame. */
  sendFrame(): void;
  readonly sent: number;
  readonly received: number;
  close(): Promise<void>;
}

const OPUS_PT = 109;

/** A werift client peer connection on loopback. */
export class WebRtcPeer implements Peer {
  readonly pc: RTCPeerConnection;
  readonly #transceiver: RTCRtpTransceiver;
  readonly #frames: readonly Buffer[];
  #sequence = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff);
  #negotiatedPt: number | undefined;
  sent = 0;
  received = 0;

  constructor(frames: readonly Buffer[]) {
    this.#frames = frames;
    this.pc = new RTCPeerConnection({
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: 'audio/opus',
            clockRate: 48_000,
            channels: 2,
            payloadType: OPUS_PT,
          }),
        ],
      },
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      bundlePolicy: 'max-bundle',
    });
    this.#transceiver = this.pc.addTransceiver('audio', { direction: 'sendrecv' });
    // werift's ICE agent falls back to stun.l.google.com without a configured STUN server:
    // loopback only, so clear it before gathering.
    (
      this.#transceiver.dtlsTransport.iceTransport.connection as { stunServer?: unknown }
    ).stunServer = undefined;
    const tracks = new WeakSet<object>();
    this.pc.onTrack.subscribe((track) => {
      if (tracks.has(track)) {
        return;
      }
      tracks.add(track);
      track.onReceiveRtp.subscribe(() => {
        this.received++;
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

  async connected(timeoutMs = 20_000): Promise<void> {
    if (this.pc.connectionState !== 'connected') {
      await this.pc.connectionStateChange.watch((state) => state === 'connected', timeoutMs);
    }
  }

  /**
   * The negotiated Opus payload type: ours (109) when we offered, the engine's when it offered
   * (an answer adopts the offerer's numbers, RFC 3264 §6.1).
   */
  get #payloadType(): number {
    this.#negotiatedPt ??= this.#transceiver.codecs[0]?.payloadType;
    return this.#negotiatedPt ?? OPUS_PT;
  }

  sendFrame(): void {
    const payload = this.#frames[this.sent % this.#frames.length]!;
    const header = new RtpHeader({
      payloadType: this.#payloadType,
      sequenceNumber: this.#sequence,
      timestamp: this.#timestamp,
      ssrc: this.#transceiver.sender.ssrc,
      marker: this.sent === 0,
    });
    this.#sequence = (this.#sequence + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + 960) >>> 0;
    this.sent++;
    void this.#transceiver.dtlsTransport.sendRtp(payload, header);
  }

  async close(): Promise<void> {
    await this.pc.close();
  }
}

/** A bare RTP/AVP PCMU endpoint on a UDP socket of 127.0.0.1. */
export class RtpPeer implements Peer {
  readonly #socket: dgram.Socket;
  readonly #frames: readonly Buffer[];
  readonly #ssrc = Math.floor(Math.random() * 0xffffffff) >>> 0;
  #sequence = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff);
  #remote: { address: string; port: number } | undefined;
  sent = 0;
  received = 0;

  private constructor(socket: dgram.Socket, frames: readonly Buffer[]) {
    this.#socket = socket;
    this.#frames = frames;
    socket.on('message', (data) => {
      // RTP only (RTCP packet types 200–204 in the second octet are not counted).
      const type = data[1] ?? 0;
      if (data.length >= 12 && (type < 200 || type > 204)) {
        this.received++;
      }
    });
  }

  static async open(frames: readonly Buffer[]): Promise<RtpPeer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new RtpPeer(socket, frames);
  }

  get port(): number {
    return this.#socket.address().port;
  }

  /**
   * Our answer to the engine's offer: PCMU on our socket. The engine's address and port are
   * read from the offer's c= and m= lines.
   */
  answer(offer: string): string {
    const port = /^m=audio (\d+) /m.exec(offer)?.[1];
    const address = /^c=IN IP4 (\S+)/m.exec(offer)?.[1];
    if (port === undefined || address === undefined) {
      throw new Error(`cannot read the engine's RTP address from:\n${offer}`);
    }
    this.#remote = { address, port: Number(port) };
    return [
      'v=0',
      `o=- ${this.#ssrc} 1 IN IP4 127.0.0.1`,
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${this.port} RTP/AVP 0`,
      'a=rtpmap:0 PCMU/8000',
      'a=sendrecv',
      '',
    ].join('\r\n');
  }

  sendFrame(): void {
    const remote = this.#remote;
    if (!remote) {
      return;
    }
    const payload = this.#frames[this.sent % this.#frames.length]!;
    const packet = Buffer.allocUnsafe(12 + payload.length);
    packet[0] = 0x80;
    packet[1] = this.sent === 0 ? 0x80 : 0x00; // marker on the first packet, PT 0 (PCMU)
    packet.writeUInt16BE(this.#sequence, 2);
    packet.writeUInt32BE(this.#timestamp, 4);
    packet.writeUInt32BE(this.#ssrc, 8);
    payload.copy(packet, 12);
    this.#sequence = (this.#sequence + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + 160) >>> 0;
    this.sent++;
    this.#socket.send(packet, remote.port, remote.address);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#socket.close(() => {
        resolve();
      });
    });
  }
}

/**
 * Sends one frame every 20 ms from every peer, staggered over the 20 ms period (like
 * independent phones), catching up after late timer ticks so the average stays 50 packets/s.
 */
export class Pacer {
  readonly #peers: readonly Peer[];
  readonly #started = performance.now();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #due: number[];

  constructor(peers: readonly Peer[], tickMs = 5) {
    this.#peers = peers;
    this.#due = peers.map((_, index) => (index % 4) * 5);
    this.#timer = setInterval(() => {
      this.#tick();
    }, tickMs);
  }

  #tick(): void {
    const elapsed = performance.now() - this.#started;
    for (let i = 0; i < this.#peers.length; i++) {
      // At most 3 frames of catch-up per tick: a stall must not become a burst of hundreds.
      for (let burst = 0; burst < 3 && this.#due[i]! <= elapsed; burst++) {
        this.#peers[i]!.sendFrame();
        this.#due[i]! += 20;
      }
      if (this.#due[i]! <= elapsed) {
        // Too far behind: drop the backlog rather than flood.
        this.#due[i] = elapsed + 20;
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
