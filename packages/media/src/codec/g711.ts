/**
 * ITU-T G.711 μ-law (PCMU) and A-law (PCMA), table-based.
 *
 * The tables are built once from the ITU-T G.191 reference algorithms. Those algorithms read
 * only the top 14 bits (μ-law) or 13 bits (A-law, of which the 4 lowest are dropped by the
 * segment rule) of a 16-bit sample, and treat negative samples as one's complement, so an
 * encode table indexed by `sample >> 2` (μ-law) or `sample >> 4` (A-law) is exact.
 * Codewords are the transmitted octets (μ-law bits inverted, A-law even bits inverted), so
 * silence is 0xFF in PCMU and 0xD5 in PCMA (RFC 3551 §4.5.14).
 */
import { InvalidStateError } from '@confab/core';
import type { AudioDecoder, AudioEncoder } from './types.js';

/** The PCMU octet for digital silence. */
export const MULAW_SILENCE = 0xff;
/** The PCMA octet for digital silence. */
export const ALAW_SILENCE = 0xd5;

/** G.191 `ulaw_compress` for one 16-bit sample. */
function mulawCompress(sample: number): number {
  // One's complement magnitude of the 14-bit sample, biased by 33 (G.711 §3.3).
  let magnitude = (sample < 0 ? ~sample >> 2 : sample >> 2) + 33;
  if (magnitude > 0x1fff) {
    magnitude = 0x1fff;
  }
  let segment = 1;
  for (let i = magnitude >> 6; i !== 0; i >>= 1) {
    segment++;
  }
  const high = 8 - segment;
  const low = 0x0f - ((magnitude >> segment) & 0x0f);
  const code = (high << 4) | low;
  return sample >= 0 ? code | 0x80 : code;
}

/** G.191 `ulaw_expand` for one octet. */
function mulawExpand(code: number): number {
  const inverted = ~code & 0xff;
  const exponent = (inverted >> 4) & 0x07;
  const mantissa = inverted & 0x0f;
  const step = 4 << (exponent + 1);
  const magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
  return code < 0x80 ? -magnitude : magnitude;
}

/** G.191 `alaw_compress` for one 16-bit sample. */
function alawCompress(sample: number): number {
  let ix = sample < 0 ? ~sample >> 4 : sample >> 4;
  if (ix > 15) {
    let exponent = 1;
    while (ix > 16 + 15) {
      ix >>= 1;
      exponent++;
    }
    ix = ix - 16 + (exponent << 4);
  }
  if (sample >= 0) {
    ix |= 0x80;
  }
  return ix ^ 0x55;
}

/** G.191 `alaw_expand` for one octet. */
function alawExpand(code: number): number {
  const ix = (code ^ 0x55) & 0x7f;
  const exponent = ix >> 4;
  let mantissa = ix & 0x0f;
  if (exponent > 0) {
    mantissa += 16;
  }
  mantissa = (mantissa << 4) + 8;
  if (exponent > 1) {
    mantissa <<= exponent - 1;
  }
  return code > 0x7f ? mantissa : -mantissa;
}

/** μ-law encode table indexed by `(sample >> 2) + 8192`. */
const MULAW_ENCODE = new Uint8Array(1 << 14);
/** A-law encode table indexed by `(sample >> 4) + 2048`. */
const ALAW_ENCODE = new Uint8Array(1 << 12);
const MULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
/** Direct PCMU → PCMA and PCMA → PCMU octet maps (decode then encode). */
const MULAW_TO_ALAW = new Uint8Array(256);
const ALAW_TO_MULAW = new Uint8Array(256);

for (let i = 0; i < MULAW_ENCODE.length; i++) {
  MULAW_ENCODE[i] = mulawCompress((i - 8192) << 2);
}
for (let i = 0; i < ALAW_ENCODE.length; i++) {
  ALAW_ENCODE[i] = alawCompress((i - 2048) << 4);
}
for (let i = 0; i < 256; i++) {
  MULAW_DECODE[i] = mulawExpand(i);
  ALAW_DECODE[i] = alawExpand(i);
}
for (let i = 0; i < 256; i++) {
  MULAW_TO_ALAW[i] = ALAW_ENCODE[(MULAW_DECODE[i]! >> 4) + 2048]!;
  ALAW_TO_MULAW[i] = MULAW_ENCODE[(ALAW_DECODE[i]! >> 2) + 8192]!;
}

/** Encodes one 16-bit sample to a PCMU octet. */
export function mulawEncodeSample(sample: number): number {
  return MULAW_ENCODE[(clamp16(sample) >> 2) + 8192]!;
}

/** Decodes one PCMU octet to a 16-bit sample. */
export function mulawDecodeSample(code: number): number {
  return MULAW_DECODE[code & 0xff]!;
}

/** Encodes one 16-bit sample to a PCMA octet. */
export function alawEncodeSample(sample: number): number {
  return ALAW_ENCODE[(clamp16(sample) >> 4) + 2048]!;
}

/** Decodes one PCMA octet to a 16-bit sample. */
export function alawDecodeSample(code: number): number {
  return ALAW_DECODE[code & 0xff]!;
}

/**
 * Encodes PCM to PCMU. Writes into `out` when given (it must hold `pcm.length` octets) and
 * returns the written view; otherwise allocates.
 */
export function encodeMulaw(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  const target = outputBytes(pcm.length, out);
  for (let i = 0; i < pcm.length; i++) {
    target[i] = MULAW_ENCODE[(pcm[i]! >> 2) + 8192]!;
  }
  return target;
}

/** Decodes PCMU to PCM (into `out` when given, which must hold `bytes.length` samples). */
export function decodeMulaw(bytes: Uint8Array, out?: Int16Array): Int16Array {
  const target = outputSamples(bytes.length, out);
  for (let i = 0; i < bytes.length; i++) {
    target[i] = MULAW_DECODE[bytes[i]!]!;
  }
  return target;
}

/** Encodes PCM to PCMA (into `out` when given, which must hold `pcm.length` octets). */
export function encodeAlaw(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  const target = outputBytes(pcm.length, out);
  for (let i = 0; i < pcm.length; i++) {
    target[i] = ALAW_ENCODE[(pcm[i]! >> 4) + 2048]!;
  }
  return target;
}

/** Decodes PCMA to PCM (into `out` when given, which must hold `bytes.length` samples). */
export function decodeAlaw(bytes: Uint8Array, out?: Int16Array): Int16Array {
  const target = outputSamples(bytes.length, out);
  for (let i = 0; i < bytes.length; i++) {
    target[i] = ALAW_DECODE[bytes[i]!]!;
  }
  return target;
}

/**
 * Converts PCMU octets to PCMA octets (or the reverse) without a PCM round trip, as G.711
 * gateways do. Same result as decode-then-encode.
 */
export function transcodeG711(
  bytes: Uint8Array,
  from: 'PCMU' | 'PCMA',
  out?: Uint8Array,
): Uint8Array {
  const map = from === 'PCMU' ? MULAW_TO_ALAW : ALAW_TO_MULAW;
  const target = outputBytes(bytes.length, out);
  for (let i = 0; i < bytes.length; i++) {
    target[i] = map[bytes[i]!]!;
  }
  return target;
}

/** A G.711 encoder behind the common {@link AudioEncoder} contract (any frame length). */
export class G711Encoder implements AudioEncoder {
  readonly sampleRate = 8000;
  readonly clockRatio = 1;
  readonly #law: 'PCMU' | 'PCMA';
  #closed = false;

  constructor(law: 'PCMU' | 'PCMA') {
    this.#law = law;
  }

  encode(pcm: Int16Array): Uint8Array {
    if (this.#closed) {
      throw InvalidStateError.closed('G711Encoder');
    }
    return this.#law === 'PCMU' ? encodeMulaw(pcm) : encodeAlaw(pcm);
  }

  close(): void {
    this.#closed = true;
  }
}

/**
 * A G.711 decoder behind the common {@link AudioDecoder} contract. Concealment fades the last
 * decoded frame out (repeated at half amplitude per repetition) rather than inserting a hard
 * gap, a cheap approximation of G.711 Appendix I.
 */
export class G711Decoder implements AudioDecoder {
  readonly sampleRate = 8000;
  readonly clockRatio = 1;
  readonly #law: 'PCMU' | 'PCMA';
  /** The last decoded frame (what concealment repeats). */
  #decoded: Int16Array = new Int16Array(0);
  #decodedBuffer = new Int16Array(160);
  #concealBuffer = new Int16Array(160);
  #lostInRow = 0;
  #closed = false;

  constructor(law: 'PCMU' | 'PCMA') {
    this.#law = law;
  }

  decode(payload: Uint8Array): Int16Array {
    this.#check();
    if (this.#decodedBuffer.length < payload.length) {
      this.#decodedBuffer = new Int16Array(payload.length);
    }
    const out = this.#decodedBuffer.subarray(0, payload.length);
    this.#decoded = this.#law === 'PCMU' ? decodeMulaw(payload, out) : decodeAlaw(payload, out);
    this.#lostInRow = 0;
    return this.#decoded;
  }

  conceal(samples: number): Int16Array {
    this.#check();
    if (this.#concealBuffer.length < samples) {
      this.#concealBuffer = new Int16Array(samples);
    }
    const out = this.#concealBuffer.subarray(0, samples);
    const last = this.#decoded;
    this.#lostInRow++;
    if (last.length === 0 || this.#lostInRow > 4) {
      out.fill(0);
      return out;
    }
    const shift = this.#lostInRow;
    for (let i = 0; i < samples; i++) {
      out[i] = last[i % last.length]! >> shift;
    }
    return out;
  }

  close(): void {
    this.#closed = true;
  }

  #check(): void {
    if (this.#closed) {
      throw InvalidStateError.closed('G711Decoder');
    }
  }
}

function clamp16(sample: number): number {
  return sample > 32767 ? 32767 : sample < -32768 ? -32768 : sample | 0;
}

function outputBytes(length: number, out: Uint8Array | undefined): Uint8Array {
  if (out === undefined) {
    return new Uint8Array(length);
  }
  if (out.length < length) {
    throw new RangeError(`output holds ${out.length} octets, ${length} needed`);
  }
  return out.subarray(0, length);
}

function outputSamples(length: number, out: Int16Array | undefined): Int16Array {
  if (out === undefined) {
    return new Int16Array(length);
  }
  if (out.length < length) {
    throw new RangeError(`output holds ${out.length} samples, ${length} needed`);
  }
  return out.subarray(0, length);
}
