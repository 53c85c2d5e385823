/**
 * The codec contract used by transcoders and mixers: mono 16-bit PCM at the codec's own PCM
 * rate on one side, RTP payloads on the other.
 */

/** Turns mono PCM frames into RTP payloads. */
export interface AudioEncoder {
  /** PCM sample rate this encoder expects (Hz). */
  readonly sampleRate: number;
  /** RTP clock units per PCM sample (6 for Opus fed at 8 kHz, 1 for G.711). */
  readonly clockRatio: number;
  /**
   * Encodes one frame. The returned payload is a fresh buffer the caller may keep.
   * @throws TypeError if the frame length is not one the codec accepts.
   */
  encode(pcm: Int16Array): Uint8Array;
  /** Frees native resources; later calls throw. Idempotent. */
  close(): void;
}

/** Turns RTP payloads back into mono PCM. */
export interface AudioDecoder {
  /** PCM sample rate this decoder produces (Hz). */
  readonly sampleRate: number;
  /** RTP clock units per PCM sample. */
  readonly clockRatio: number;
  /**
   * Decodes one payload. Returns `undefined` if the payload is corrupt (network input never
   * throws). The returned samples are valid until the next call on this decoder.
   */
  decode(payload: Uint8Array): Int16Array | undefined;
  /**
   * Packet-loss concealment: synthesises `samples` PCM samples in place of lost media.
   * The returned samples are valid until the next call on this decoder.
   */
  conceal(samples: number): Int16Array;
  /** Frees native resources; later calls throw. Idempotent. */
  close(): void;
}
