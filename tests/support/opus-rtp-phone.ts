/**
 * The media side of a SIP phone that speaks Opus over plain RTP/AVP (RFC 7587): a UDP socket
 * pair, an SDP offer with only Opus (and telephone-event/48000), a paced Opus tone out and the
 * received Opus decoded for Goertzel analysis. Signalling is the test's business.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { OpusDecoder, OpusEncoder, parseRtp, serializeRtp, ToneGenerator } from '@confab/media';
import { analyseTones, type ToneReport } from './goertzel.js';

/** Samples per 20 ms frame at the Opus RTP clock (RFC 7587 §4.1: 48 kHz). */
const FRAME = 960;

interface Received {
  sequenceNumber: number;
  payloadType: number;
  timestamp: number;
  payload: Uint8Array;
}

/** A plain RTP phone sending and receiving Opus on loopback. */
export class OpusRtpPhone {
  readonly received: Received[] = [];
  readonly #rtp: Socket;
  readonly #rtcp: Socket;
  readonly port: number;
  readonly payloadType: number;
  readonly eventPayloadType: number;
  #timer: NodeJS.Timeout | undefined;
  #remote: { address: string; port: number } | undefined;
  #stopEncoder: (() => void) | undefined;

  private constructor(rtp: Socket, rtcp: Socket, port: number, payloadType: number) {
    this.#rtp = rtp;
    this.#rtcp = rtcp;
    this.port = port;
    this.payloadType = payloadType;
    this.eventPayloadType = payloadType + 1;
    rtp.on('message', (data) => {
      const packet = parseRtp(data);
      if (packet) {
        this.received.push({
          sequenceNumber: packet.sequenceNumber,
          payloadType: packet.payloadType,
          timestamp: packet.timestamp,
          payload: Uint8Array.from(packet.payload),
        });
      }
    });
  }

  /** Binds an even RTP port with RTCP on the next one (RFC 3550 §11). */
  static async open(payloadType = 107): Promise<OpusRtpPhone> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const rtp = createSocket('udp4');
      await new Promise<void>((resolve) => rtp.bind(0, '127.0.0.1', resolve));
      const port = rtp.address().port;
      const rtcp = createSocket('udp4');
      const bound =
        port % 2 === 0 &&
        (await new Promise<boolean>((resolve) => {
          rtcp.once('error', () => resolve(false));
          rtcp.bind(port + 1, '127.0.0.1', () => resolve(true));
        }));
      if (bound) {
        return new OpusRtpPhone(rtp, rtcp, port, payloadType);
      }
      rtp.close();
      rtcp.close();
    }
    throw new Error('no even UDP port pair');
  }

  /** An SDP offer with Opus only, as an Opus-capable desk phone writes it. */
  offer(): string {
    const pt = this.payloadType;
    const event = this.eventPayloadType;
    return [
      'v=0',
      'o=opusphone 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${this.port} RTP/AVP ${pt} ${event}`,
      `a=rtpmap:${pt} opus/48000/2`,
      `a=fmtp:${pt} useinbandfec=1`,
      `a=rtpmap:${event} telephone-event/48000`,
      `a=fmtp:${event} 0-16`,
      'a=ptime:20',
      'a=sendrecv',
      '',
    ].join('\r\n');
  }

  /** Reads where to send from the answer (c= and m=). */
  applyAnswer(sdp: string): void {
    const address = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1];
    const port = /^m=audio (\d+) /m.exec(sdp)?.[1];
    if (address === undefined || port === undefined) {
      throw new Error('answer without c= or m=audio');
    }
    this.#remote = { address, port: Number(port) };
  }

  /** Starts sending a tone, one Opus frame every 20 ms of wall clock (catching up after stalls). */
  startTone(frequency: number): void {
    const remote = this.#remote;
    if (!remote) {
      throw new Error('no answer applied');
    }
    const encoder = new OpusEncoder({ sampleRate: 48_000 });
    const tone = new ToneGenerator({ frequency, sampleRate: 48_000, amplitude: 8000 });
    const started = performance.now();
    let sent = 0;
    this.#timer = setInterval(() => {
      const due = Math.floor((performance.now() - started) / 20);
      sent = Math.max(sent, due - 5);
      for (; sent <= due; sent++) {
        const packet = {
          marker: sent === 0,
          payloadType: this.payloadType,
          sequenceNumber: sent & 0xffff,
          timestamp: (sent * FRAME) >>> 0,
          ssrc: 0x51a7e0,
          csrcs: [],
          extension: undefined,
          payload: encoder.encode(tone.next(FRAME)),
        };
        this.#rtp.send(serializeRtp(packet), remote.port, remote.address);
      }
    }, 10);
    this.#stopEncoder = () => encoder.close();
  }

  /** The received Opus, in sequence order, decoded at 48 kHz, after `skip` packets. */
  decoded(skip = 10): Int16Array {
    const decoder = new OpusDecoder({ sampleRate: 48_000 });
    try {
      const frames = [...this.received]
        .filter((packet) => packet.payloadType === this.payloadType)
        .sort((a, b) => a.sequenceNumber - b.sequenceNumber)
        .slice(skip)
        .map((packet) => decoder.decode(packet.payload))
        .filter((pcm): pcm is Int16Array => pcm !== undefined)
        .map((pcm) => Int16Array.from(pcm));
      const out = new Int16Array(frames.reduce((n, frame) => n + frame.length, 0));
      let at = 0;
      for (const frame of frames) {
        out.set(frame, at);
        at += frame.length;
      }
      return out;
    } finally {
      decoder.close();
    }
  }

  analyse(candidates: readonly number[], skip?: number): ToneReport {
    return analyseTones(this.decoded(skip), 48_000, candidates);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopEncoder?.();
    this.#stopEncoder = undefined;
    await Promise.all(
      [this.#rtp, this.#rtcp].map(
        (socket) =>
          new Promise<void>((resolve) => {
            try {
              socket.close(() => resolve());
            } catch {
              resolve();
            }
          }),
      ),
    );
  }
}
