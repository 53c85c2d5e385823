/**
 * Errors raised while reading SIP from the network.
 *
 * Every failure of `parseMessage`, `StreamFramer`, the URI/header-value parsers and the message
 * accessors is a {@link SipParseError}: nothing else escapes those entry points, whatever the
 * input bytes. The error tells a UAS what to answer (`status`) and, when the message was
 * readable enough, hands back the `partial` message a response can be built from (RFC 3261
 * §8.2.6: Via, From, To, Call-ID and CSeq are copied into the response).
 */
import { ConfabError } from '@confab/core';
import type { SipMessage } from './message.js';

/** The stable codes of {@link SipParseError}. */
export const SipParseErrorCode = {
  /** The bytes do not follow the RFC 3261 §25 grammar. */
  ParseError: 'SIP_PARSE_ERROR',
  /** A mandatory header is absent or unreadable (RFC 3261 §8.1.1, §8.2.6). */
  MissingHeader: 'SIP_MISSING_HEADER',
  /** The message exceeds a configured limit (`ParseOptions`). */
  MessageTooLarge: 'SIP_MESSAGE_TOO_LARGE',
  /** The SIP-Version is not `SIP/2.0` (RFC 3261 §21.5.6). */
  VersionNotSupported: 'SIP_VERSION_NOT_SUPPORTED',
  /** The URI scheme is neither `sip` nor `sips` (RFC 3261 §8.2.2.1, §21.4.15). */
  UnsupportedUriScheme: 'SIP_UNSUPPORTED_URI_SCHEME',
  /** Content-Length is absent on a stream, malformed, or disagrees with the body (RFC 3261 §18.3). */
  BadContentLength: 'SIP_BAD_CONTENT_LENGTH',
} as const;

export type SipParseErrorCode = (typeof SipParseErrorCode)[keyof typeof SipParseErrorCode];

const DEFAULT_STATUS: Readonly<Record<SipParseErrorCode, number>> = {
  SIP_PARSE_ERROR: 400,
  SIP_MISSING_HEADER: 400,
  SIP_MESSAGE_TOO_LARGE: 513,
  SIP_VERSION_NOT_SUPPORTED: 505,
  SIP_UNSUPPORTED_URI_SCHEME: 416,
  SIP_BAD_CONTENT_LENGTH: 400,
};

/** Options of the {@link SipParseError} constructor. */
export interface SipParseErrorOptions {
  /** The response status a UAS should send; defaults per code (400, 413/513, 416, 505). */
  readonly status?: number;
  /** The message as far as it could be read (see {@link SipParseError.partial}). */
  readonly partial?: SipMessage | undefined;
  readonly cause?: unknown;
}

/**
 * Unreadable or unacceptable SIP input.
 *
 * `status` is only meaningful for requests: a malformed response is silently discarded
 * (RFC 3261 §18.1.2, §18.3).
 */
export class SipParseError extends ConfabError {
  override readonly name = 'SipParseError';
  declare readonly code: SipParseErrorCode;
  /**
   * The response a UAS should send: 400 (malformed, missing header, bad Content-Length),
   * 413 (body too large), 513 (header section too large), 414 (Request-URI too long),
   * 416 (unsupported URI scheme) or 505 (version not supported).
   */
  readonly status: number;
  /**
   * Set when the start line and the headers a response copies (Via, From, To, Call-ID, CSeq)
   * were readable, so that the UAS can answer with {@link status}. For a request whose
   * Request-URI could not be read (416, 400 on a malformed URI, 414), `partial.uri` is a
   * placeholder `sip:` URI with an empty host.
   */
  readonly partial: SipMessage | undefined;

  constructor(code: SipParseErrorCode, message: string, options: SipParseErrorOptions = {}) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status ?? DEFAULT_STATUS[code];
    this.partial = options.partial;
  }

  /** Input that does not follow the grammar (400). */
  static malformed(message: string, partial?: SipMessage): SipParseError {
    return new SipParseError(SipParseErrorCode.ParseError, message, { partial });
  }

  /** A mandatory header that is absent or unreadable (400). */
  static missingHeader(name: string, cause?: unknown): SipParseError {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    return new SipParseError(
      SipParseErrorCode.MissingHeader,
      `missing or malformed ${name} header${detail}`,
      cause === undefined ? {} : { cause },
    );
  }

  /** Returns a copy of this error carrying `partial`. */
  withPartial(partial: SipMessage | undefined): SipParseError {
    if (partial === undefined || partial === this.partial) {
      return this;
    }
    return new SipParseError(this.code, this.message, {
      status: this.status,
      partial,
      ...(this.cause === undefined ? {} : { cause: this.cause }),
    });
  }
}

/** Cross-realm guard for {@link SipParseError}. */
export function isSipParseError(value: unknown): value is SipParseError {
  return (
    value instanceof SipParseError ||
    (value instanceof Error &&
      value.name === 'SipParseError' &&
      'code' in value &&
      typeof value.code === 'string' &&
      'status' in value &&
      typeof value.status === 'number')
  );
}
