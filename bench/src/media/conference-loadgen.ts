/**
 * The load generator of the conference benchmark, a child process of its own (forked with an
 * IPC channel) so that its CPU is apart from the mixer under test. It plays N plain RTP phones
 * on 127.0.0.1: every phone sends one pre-encoded 20 ms Opus (or PCMU) packet every 20 ms with the RFC 6464
 * `ssrc-audio-level` header extension, and counts the RTP packets that come back.
 *
 * Talkers send a tone (each its own frequency, a whole number of periods per 20 ms so the
 * 50-frame loop is seamless), encoded once; the others send encoded digital silence. The level
 * in the extension is computed from each frame's PCM (RFC 6464 §3: −dBov, 127 for silence), so
 * a mixer that reads it sees exactly what the audio holds.
 *
 * To prove the mixer under test mixes, `verify` keeps the payloads a few phones receive for a
 * while, decodes them and measures every talker's frequency (Goertzel).
 */
import dgram from 'node:dgram';
import {
  audioLevelElement,
  dbfs,
  decodeMulaw,
  encodeMulaw,
  OpusDecoder,
  OpusEncoder,
  serializeHeaderExtensions,
  ToneGenerator,
  toneAmplitude,
} from '@confab/media';
import { Pacer } from './peers.js';
import type { Peer } from './peers.js';

export const LEVEL_EXTENSION_ID = 1;
const FRAMES = 50;

/** The phones' codec: Opus 48 kHz mono or G.711 µ-law (PCMU) 8 kHz, 20 ms packets. */
export const PhoneCodec = { Opus: 'opus', Pcmu: 'pcmu' } as const;
export type PhoneCodec = (typeof PhoneCodec)[keyof typeof PhoneCodec];

export const CODEC_INFO: Record<
  PhoneCodec,
  { payloadType: number; sampleRate: number; samplesPerFrame: number }
> = {
  opus: { payloadType: 111, sampleRate: 48_000, samplesPerFrame: 960 },
  pcmu: { payloadType: 0, sampleRate: 8000, samplesPerFrame: 160 },
};

/** Requests from the parent. */
export type LoadgenRequest =
  | {
      id: number;
      type: 'open';
      codec: PhoneCodec;
      count: number;
      frequencies: (number | undefined)[];
    }
  | {
      id: number;
      type: 'targets';
      targets: { address: string; port: number; payloadType: number }[];
    }
  | { id: number; type: 'start' }
  | { id: number; type: 'counters' }
  | { id: number; type: 'verify'; indexes: number[]; seconds: number; frequencies: number[] }
  | { id: number; type: 'close' };

/** What one phone heard during `verify`: the amplitude of every talker frequency. */
export interface HeardTones {
  index: number;
  packets: number;
  /** Frequency (Hz) → amplitude in 16-bit sample units. */
  amplitudes: Record<string, number>;
  rmsDbfs: number;
}

export interface LoadgenCounters {
  sent: number;
  received: number;
  /** Received packets of the phone that received the fewest. */
  minReceived: number;
}

export type LoadgenReply =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

interface Frame {
  payload: Uint8Array;
  extension: Uint8Array;
}

/** 50 frames of a tone (or of silence) with their RFC 6464 level, encoded once. */
function encodeFrames(codec: PhoneCodec, frequency: number | undefined): Frame[] {
  const { sampleRate, samplesPerFrame } = CODEC_INFO[codec];
  const encoder =
    codec === PhoneCodec.Opus ? new OpusEncoder({ sampleRate: 48_000, channels: 1 }) : null;
  const tone =
    frequency === undefined
      ? undefined
      : new ToneGenerator({ frequency, sampleRate, amplitude: 6000 });
  const frames: Frame[] = [];
  for (let i = 0; i < FRAMES; i++) {
    const pcm = tone?.next(samplesPerFrame) ?? new Int16Array(samplesPerFrame);
    // RFC 6464 §3: the level is −dBov of the frame, 0..127 (127 = digital silence).
    const level = Math.min(127, Math.max(0, Math.round(-dbfs(pcm))));
    const extension = serializeHeaderExtensions([
      audioLevelElement(LEVEL_EXTENSION_ID, level, level < 127),
    ]);
    const payload = encoder ? encoder.encode(pcm) : encodeMulaw(pcm);
    frames.push({ payload, extension: extension.data });
  }
  encoder?.close();
  return frames;
}

/** One plain RTP phone. */
class Phone implements Peer {
  readonly socket: dgram.Socket;
  readonly #frames: readonly Frame[];
  readonly #samplesPerFrame: number;
  readonly #ssrc = Math.floor(Math.random() * 0xffffffff) >>> 0;
  #sequence = Math.floor(Math.random() * 0xffff);
  #timestamp = Math.floor(Math.random() * 0xffffffff) >>> 0;
  #target: { address: string; port: number; payloadType: number } | undefined;
  /** Payloads kept while verifying. */
  capture: Uint8Array[] | undefined;
  sent = 0;
  received = 0;

  constructor(socket: dgram.Socket, frames: readonly Frame[], samplesPerFrame: number) {
    this.socket = socket;
    this.#frames = frames;
    this.#samplesPerFrame = samplesPerFrame;
    socket.on('message', (data) => {
      // RTP only (RTCP packet types 200–204 in the second octet are not counted).
      const type = data[1] ?? 0;
      if (data.length < 12 || (type >= 200 && type <= 204)) {
        return;
      }
      this.received++;
      if (this.capture) {
        const payload = rtpPayload(data);
        if (payload) {
          this.capture.push(payload);
        }
      }
    });
  }

  set target(target: { address: string; port: number; payloadType: number }) {
    this.#target = target;
  }

  sendFrame(): void {
    const target = this.#target;
    if (!target) {
      return;
    }
    const frame = this.#frames[this.sent % this.#frames.length]!;
    const ext = frame.extension;
    // RFC 3550 §5.1 header with X set, then the RFC 8285 one-byte-header extension block.
    const packet = Buffer.allocUnsafe(12 + 4 + ext.length + frame.payload.length);
    packet[0] = 0x90;
    packet[1] = (this.sent === 0 ? 0x80 : 0) | target.payloadType;
    packet.writeUInt16BE(this.#sequence, 2);
    packet.writeUInt32BE(this.#timestamp, 4);
    packet.writeUInt32BE(this.#ssrc, 8);
    packet.writeUInt16BE(0xbede, 12);
    packet.writeUInt16BE(ext.length / 4, 14);
    packet.set(ext, 16);
    packet.set(frame.payload, 16 + ext.length);
    this.#sequence = (this.#sequence + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + this.#samplesPerFrame) >>> 0;
    this.sent++;
    this.socket.send(packet, target.port, target.address);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.socket.close(() => {
        resolve();
      });
    });
  }
}

/** The payload of an RTP packet (RFC 3550 §5.1: CSRCs, extension and padding skipped). */
function rtpPayload(data: Buffer): Uint8Array | undefined {
  let offset = 12 + (data[0]! & 0x0f) * 4;
  if (data[0]! & 0x10) {
    if (data.length < offset + 4) {
      return undefined;
    }
    offset += 4 + data.readUInt16BE(offset + 2) * 4;
  }
  let end = data.length;
  if (data[0]! & 0x20) {
    end -= data[end - 1]!;
  }
  return end > offset ? new Uint8Array(data.subarray(offset, end)) : undefined;
}

async function openSocket(): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

let phones: Phone[] = [];
let pacer: Pacer | undefined;
let phoneCodec: PhoneCodec = PhoneCodec.Opus;

async function verify(indexes: number[], seconds: number, frequencies: number[]) {
  const { sampleRate } = CODEC_INFO[phoneCodec];
  const watched = indexes.map((index) => phones[index]!);
  for (const phone of watched) {
    phone.capture = [];
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return watched.map((phone, i): HeardTones => {
    const payloads = phone.capture ?? [];
    phone.capture = undefined;
    const decoder =
      phoneCodec === PhoneCodec.Opus ? new OpusDecoder({ sampleRate: 48_000, channels: 1 }) : null;
    const chunks = payloads.map((payload) =>
      decoder ? (decoder.decode(payload) ?? new Int16Array(960)) : decodeMulaw(payload),
    );
    decoder?.close();
    const pcm = new Int16Array(chunks.reduce((total, chunk) => total + chunk.length, 0));
    let at = 0;
    for (const chunk of chunks) {
      pcm.set(chunk, at);
      at += chunk.length;
    }
    // Skip the first 100 ms (decoder warm-up); whole 20 ms frames keep whole periods.
    const start = Math.min(pcm.length, sampleRate / 10);
    const amplitudes: Record<string, number> = {};
    for (const frequency of frequencies) {
      amplitudes[String(frequency)] = Math.round(toneAmplitude(pcm, sampleRate, frequency, start));
    }
    return {
      index: indexes[i]!,
      packets: payloads.length,
      amplitudes,
      rmsDbfs: Math.round(dbfs(pcm, start) * 10) / 10,
    };
  });
}

async function handle(request: LoadgenRequest): Promise<unknown> {
  switch (request.type) {
    case 'open': {
      const cache = new Map<number | undefined, Frame[]>();
      phoneCodec = request.codec;
      phones = [];
      for (let i = 0; i < request.count; i++) {
        const frequency = request.frequencies[i];
        let frames = cache.get(frequency);
        if (!frames) {
          frames = encodeFrames(request.codec, frequency);
          cache.set(frequency, frames);
        }
        phones.push(
          new Phone(await openSocket(), frames, CODEC_INFO[request.codec].samplesPerFrame),
        );
      }
      return phones.map((phone) => phone.socket.address().port);
    }
    case 'targets':
      request.targets.forEach((target, index) => {
        phones[index]!.target = target;
      });
      return null;
    case 'start':
      pacer = new Pacer(phones);
      return null;
    case 'counters': {
      let sent = 0;
      let received = 0;
      let minReceived = Number.POSITIVE_INFINITY;
      for (const phone of phones) {
        sent += phone.sent;
        received += phone.received;
        minReceived = Math.min(minReceived, phone.received);
      }
      const counters: LoadgenCounters = {
        sent,
        received,
        minReceived: phones.length ? minReceived : 0,
      };
      return counters;
    }
    case 'verify':
      return verify(request.indexes, request.seconds, request.frequencies);
    case 'close':
      pacer?.stop();
      await Promise.all(phones.map((phone) => phone.close()));
      phones = [];
      return null;
  }
}

process.on('message', (request: LoadgenRequest) => {
  handle(request).then(
    (result) => {
      process.send?.({ id: request.id, ok: true, result } satisfies LoadgenReply);
      if (request.type === 'close') {
        process.disconnect();
      }
    },
    (error: unknown) => {
      process.send?.({
        id: request.id,
        ok: false,
        error: error instanceof Error ? error.message : String(error),
      } satisfies LoadgenReply);
    },
  );
});

// The parent went away: never outlive it.
process.on('disconnect', () => {
  pacer?.stop();
  process.exit(0);
});

process.send?.({ id: 0, ok: true, result: 'ready' } satisfies LoadgenReply);
