/**
 * The error taxonomy of the media engine.
 *
 * Every failure of a {@link MediaEngine} command that is not a caller mistake (`TypeError`) or a
 * call on a closed object (`InvalidStateError` from `@confab/core`) is a {@link MediaError} with a
 * stable code. Codes survive the worker-thread boundary unchanged (see `worker/protocol.ts`), so
 * callers match on `code`, never on the message.
 */
import { ConfabError, isConfabError } from '@confab/core';

/** The stable codes of {@link MediaError}. */
export const MediaErrorCode = {
  /** No leg with that id (never existed, or already closed). */
  LegNotFound: 'MEDIA_LEG_NOT_FOUND',
  /** No bridge with that id (never existed, or already unbridged). */
  BridgeNotFound: 'MEDIA_BRIDGE_NOT_FOUND',
  /** No mixer with that id (never existed, or already closed). */
  MixerNotFound: 'MEDIA_MIXER_NOT_FOUND',
  /**
   * The SDP is malformed, exceeds the limits, or offers nothing this engine can use (no audio
   * stream, no common codec, wrong transport profile). A SIP UAS answers 488 Not Acceptable Here
   * (RFC 3261 §21.4.26).
   */
  SdpInvalid: 'MEDIA_SDP_INVALID',
  /** No free UDP port in the configured range. */
  NoPorts: 'MEDIA_NO_PORTS',
  /** The leg already belongs to a bridge or a mixer. */
  LegBusy: 'MEDIA_LEG_BUSY',
  /**
   * The legs (or the leg and the mixer) live on different workers (create them with the same
   * `group`).
   */
  CrossWorker: 'MEDIA_CROSS_WORKER',
  /** The worker that owned the leg or bridge died; its legs were reported closed. */
  WorkerCrashed: 'MEDIA_WORKER_CRASHED',
  /** An unexpected failure inside the engine (a bug): the message says more. */
  Internal: 'MEDIA_INTERNAL',
} as const;

export type MediaErrorCode = (typeof MediaErrorCode)[keyof typeof MediaErrorCode];

/** A media engine failure with a stable {@link MediaErrorCode}. */
export class MediaError extends ConfabError {
  override readonly name = 'MediaError';
  declare readonly code: MediaErrorCode;

  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  static legNotFound(legId: string): MediaError {
    return new MediaError(MediaErrorCode.LegNotFound, `no media leg ${legId}`);
  }

  static bridgeNotFound(bridgeId: string): MediaError {
    return new MediaError(MediaErrorCode.BridgeNotFound, `no bridge ${bridgeId}`);
  }

  static mixerNotFound(mixerId: string): MediaError {
    return new MediaError(MediaErrorCode.MixerNotFound, `no mixer ${mixerId}`);
  }

  /** Unusable SDP; `reason` names what is wrong (it ends up in logs, not on the wire). */
  static sdpInvalid(reason: string, cause?: unknown): MediaError {
    return new MediaError(
      MediaErrorCode.SdpInvalid,
      `unusable SDP: ${reason}`,
      cause === undefined ? undefined : { cause },
    );
  }

  static noPorts(range: readonly [number, number]): MediaError {
    return new MediaError(MediaErrorCode.NoPorts, `no free UDP port in ${range[0]}-${range[1]}`);
  }

  static internal(message: string, cause?: unknown): MediaError {
    return new MediaError(
      MediaErrorCode.Internal,
      message,
      cause === undefined ? undefined : { cause },
    );
  }
}

const MEDIA_CODES: ReadonlySet<string> = new Set(Object.values(MediaErrorCode));

/** Cross-realm guard: true for a {@link MediaError}, including one rebuilt from a worker. */
export function isMediaError(value: unknown): value is MediaError {
  return isConfabError(value) && MEDIA_CODES.has(value.code);
}
