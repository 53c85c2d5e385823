/**
 * The error taxonomy shared by every Confab package.
 *
 * - {@link ConfabError}: the root, with a stable string `code` that tests and API layers match on
 *   (never the message text).
 * - `TypeError` (built in) is for caller mistakes such as a wrong argument type.
 * - {@link InvalidStateError}: the object is in a state where the operation is not allowed
 *   (closed, ended, not yet started).
 * - {@link UnsupportedError}: the operation is valid but not supported here.
 * - Packages subclass {@link ConfabError} with their own codes (for example `SipParseError`).
 */
export class ConfabError extends Error {
  override readonly name: string = 'ConfabError';
  /** A stable, upper-snake-case identifier such as `SIP_PARSE_ERROR`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export class InvalidStateError extends ConfabError {
  override readonly name = 'InvalidStateError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_STATE', message, options);
  }

  /** The object was closed: every method of a closed object rejects with this. */
  static closed(what: string): InvalidStateError {
    return new InvalidStateError(`${what} is closed`);
  }

  /** A state machine refused a transition. */
  static transition(what: string, from: string, to: string): InvalidStateError {
    return new InvalidStateError(`${what}: invalid transition ${from} -> ${to}`);
  }
}

export class UnsupportedError extends ConfabError {
  override readonly name = 'UnsupportedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNSUPPORTED', message, options);
  }
}

/** Cross-realm guard (works for errors created in workers or other bundles). */
export function isConfabError(value: unknown): value is ConfabError {
  return (
    value instanceof ConfabError ||
    (value instanceof Error &&
      'code' in value &&
      typeof value.code === 'string' &&
      /^[A-Z][A-Z0-9_]*$/.test(value.code))
  );
}

export function isInvalidStateError(value: unknown): value is InvalidStateError {
  return isConfabError(value) && value.code === 'INVALID_STATE';
}
