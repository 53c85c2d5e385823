/**
 * Test peers for leg tests: a werift client standing in for a browser, and small helpers.
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  useAudioLevelIndication,
  useSdesMid,
} from 'werift';
import type { RTCRtpTransceiver } from 'werift';
import type { RtpPacket } from '../src/rtp/packet.js';

/** Options of {@link WebRtcTestPeer}. */
export interface WebRtcTestPeerOptions {
  /** Opus payload type the peer offers. @default 109 */
  opusPayloadType?: number;
  /** telephone-event/48000 payload type the peer offers. @default 101 */
  eventPayloadType?: number;
  /**
   * Negotiate RFC 6464 `ssrc-audio-level`, offered as id 2 (after `sdes:mid`, so that a leg
   * using a fixed id would be caught). @default false
   */
  audioLevel?: boolean;
}

/** A werift client peer connection on loopback, sending and receiving raw RTP. */
export class WebRtcTestPeer {
  readonly pc: RTCPeerConnection;
  readonly transceiver: RTCRtpTransceiver;
  readonly received: RtpPacket[] = [];
  readonly opusPayloadType: number;
  readonly eventPayloadType: number;

  constructor(options: WebRtcTestPeerOptions = {}) {
    this.opusPayloadType = options.opusPayloadType ?? 109;
    this.eventPayloadType = options.eventPayloadType ?? 101;
    this.pc = new RTCPeerConnection({
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: 'audio/opus',
            clockRate: 48_000,
            channels: 2,
            payloadType: this.opusPayloadType,
          }),
          new RTCRtpCodecParameters({
            mimeType: 'audio/telephone-event',
            clockRate: 48_000,
            payloadType: this.eventPayloadType,
          }),
        ],
      },
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: ['127.0.0.1'],
      bundlePolicy: 'max-bundle',
      ...(options.audioLevel === true
        ? { headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()], video: [] } }
        : {}),
    });
    this.transceiver = this.pc.addTransceiver('audio', { direction: 'sendrecv' });
    // werift's ICE agent falls back to stun.l.google.com without a configured STUN server.
    (
      this.transceiver.dtlsTransport.iceTransport.connection as { stunServer?: unknown }
    ).stunServer = undefined;
    // Tracks appear when a remote description announces an SSRC (werift routes by a=ssrc, as
    // browsers do when they demultiplex without MID).
    const tracks = new WeakSet<object>();
    this.pc.onTrack.subscribe((track) => {
      // Every renegotiation announces the same track again.
      if (tracks.has(track)) {
        return;
      }
      tracks.add(track);
      track.onReceiveRtp.subscribe((packet) => {
        this.received.push({
          marker: packet.header.marker,
          payloadType: packet.header.payloadType,
          sequenceNumber: packet.header.sequenceNumber,
          timestamp: packet.header.timestamp,
          ssrc: packet.header.ssrc,
          csrcs: [],
          extension: undefined,
          payload: new Uint8Array(packet.payload),
        });
      });
    });
  }

  /** Creates and applies an offer; resolves with its SDP (after ICE gathering). */
  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return this.pc.localDescription!.sdp;
  }

  async applyAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** Applies a remote offer and resolves with our answer. */
  async answer(sdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    return this.pc.localDescription!.sdp;
  }

  async connected(): Promise<void> {
    if (this.pc.connectionState !== 'connected') {
      await this.pc.connectionStateChange.watch((state) => state === 'connected', 10_000);
    }
  }

  /** Sends a raw RTP packet with any payload type (bypassing werift's sender rewriting). */
  send(
    packet: Omit<RtpPacket, 'csrcs' | 'extension'>,
    extensions: readonly { id: number; payload: Uint8Array }[] = [],
  ): void {
    const header = new RtpHeader({
      marker: packet.marker,
      payloadType: packet.payloadType,
      sequenceNumber: packet.sequenceNumber,
      timestamp: packet.timestamp,
      ssrc: packet.ssrc,
      extension: extensions.length > 0,
      extensions: extensions.map(({ id, payload }) => ({ id, payload: Buffer.from(payload) })),
    });
    void this.transceiver.dtlsTransport.sendRtp(Buffer.from(packet.payload), header);
  }

  async close(): Promise<void> {
    await this.pc.close();
  }
}

/** Polls `condition` every 5 ms until it holds; rejects after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
