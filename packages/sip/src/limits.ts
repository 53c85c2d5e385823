/**
 * Bounds on untrusted input. Every parser entry point enforces them so that a peer can neither
 * make us allocate without bound nor spend unbounded CPU on one message.
 */

/** Options of `parseMessage` and `StreamFramer`. */
export interface ParseOptions {
  /**
   * Largest message accepted, start line + headers + body, in bytes. A UDP datagram cannot be
   * larger than 65,535 bytes anyway; stream transports use the same bound per message.
   * @default 65535
   */
  readonly maxMessageBytes?: number;
  /**
   * Largest number of header field values (after comma-joined list values are split).
   * @default 256
   */
  readonly maxHeaders?: number;
  /**
   * Longest start line or header field (after unfolding), in characters of the decoded text.
   * @default 8192
   */
  readonly maxHeaderLineBytes?: number;
}

/** {@link ParseOptions} with every default applied. */
export interface ParseLimits {
  readonly maxMessageBytes: number;
  readonly maxHeaders: number;
  readonly maxHeaderLineBytes: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = Object.freeze({
  maxMessageBytes: 65_535,
  maxHeaders: 256,
  maxHeaderLineBytes: 8192,
});

/** Options objects already resolved: transports pass the same object for every message. */
const RESOLVED = new WeakMap<ParseOptions, ParseLimits>();

/**
 * Applies the defaults to `options`.
 * @throws TypeError when a limit is not a positive safe integer (a caller mistake).
 */
export function resolveParseLimits(options?: ParseOptions): ParseLimits {
  if (options === undefined) {
    return DEFAULT_PARSE_LIMITS;
  }
  const known = RESOLVED.get(options);
  if (known !== undefined) {
    return known;
  }
  const limits: ParseLimits = {
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_PARSE_LIMITS.maxMessageBytes,
    maxHeaders: options.maxHeaders ?? DEFAULT_PARSE_LIMITS.maxHeaders,
    maxHeaderLineBytes: options.maxHeaderLineBytes ?? DEFAULT_PARSE_LIMITS.maxHeaderLineBytes,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new TypeError(`ParseOptions.${name} must be a positive integer, got ${String(value)}`);
    }
  }
  RESOLVED.set(options, limits);
  return limits;
}
