/**
 * Server-side error taxonomy.
 *
 * Every error a user can cause by configuration or environment (a bad flag, a port in use, an
 * unreadable data directory, a duplicate username) is a {@link ConfabError} subclass with a stable
 * code and a message that names the flag or resource and the problem, so the CLI can print it as
 * one line without a stack trace ({@link isUserFacingError}). Anything else is a bug and keeps its
 * stack.
 */
import { ConfabError, isConfabError } from '@confab/core';

/** Configuration could not be validated. `issues` holds one line per problem. */
export class ConfigError extends ConfabError {
  override readonly name = 'ConfigError';
  /** One entry per invalid setting, each naming its source (`--http-port: …`). */
  readonly issues: readonly string[];

  constructor(issues: readonly string[], options?: { cause?: unknown }) {
    super('CONFIG_INVALID', issues.join('; '), options);
    this.issues = issues;
  }
}

/** Codes of {@link StoreError}. */
export const StoreErrorCode = {
  /** A unique constraint (username, email, extension, SIP username) would be violated. */
  Conflict: 'STORE_CONFLICT',
  /** A referenced row (for example the user of a new line) does not exist. */
  NotFound: 'STORE_NOT_FOUND',
  /** An input value is malformed (empty username, non-numeric extension, …). */
  Invalid: 'STORE_INVALID',
  /** The database could not be opened or migrated. */
  OpenFailed: 'STORE_OPEN_FAILED',
} as const;
export type StoreErrorCode = (typeof StoreErrorCode)[keyof typeof StoreErrorCode];

/** A store operation failed for a reason the caller can act on. */
export class StoreError extends ConfabError {
  override readonly name = 'StoreError';
  declare readonly code: StoreErrorCode;
  /**
   * The input field at fault, when there is one: `username`, `email`, `extension`,
   * `sipUsername`, `password`, `userUuid`, … (the camelCase input name, for API error details).
   */
  readonly field: string | undefined;

  constructor(
    code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown; field?: string },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.field = options?.field;
  }
}

/** Codes of {@link StartupError}. */
export const StartupErrorCode = {
  PortInUse: 'PORT_IN_USE',
  PortAccessDenied: 'PORT_ACCESS_DENIED',
  AddressNotAvailable: 'ADDRESS_NOT_AVAILABLE',
  ListenFailed: 'LISTEN_FAILED',
  DataDirUnusable: 'DATA_DIR_UNUSABLE',
  TlsInvalid: 'TLS_INVALID',
} as const;
export type StartupErrorCode = (typeof StartupErrorCode)[keyof typeof StartupErrorCode];

/** The server cannot start because of its environment (ports, files, certificates). */
export class StartupError extends ConfabError {
  override readonly name = 'StartupError';
  declare readonly code: StartupErrorCode;

  constructor(code: StartupErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * Maps a `listen()`/`bind()` failure to a {@link StartupError} whose message tells the user what to
 * change, for example `Port 8443/tcp (HTTPS) is already in use — choose another with --https-port`.
 *
 * `what` is either a label (`HTTPS`, `SIP`), in which case the port comes from the error and the
 * transport from its syscall (`bind` → udp, as dgram reports it; otherwise tcp), or a full
 * descriptor `5060/udp (SIP)` used as given.
 *
 * @param err - the error emitted by the server or socket
 * @param what - `HTTPS`, or `5060/udp (SIP)`
 * @param flag - the CLI flag that sets this port, e.g. `--https-port`
 */
export function describeListenError(err: unknown, what: string, flag: string): StartupError {
  const e = (
    typeof err === 'object' && err !== null ? err : {}
  ) as Partial<NodeJS.ErrnoException> & {
    port?: unknown;
    address?: unknown;
  };
  const transport = e.syscall === 'bind' ? 'udp' : 'tcp';
  const port = typeof e.port === 'number' ? String(e.port) : '?';
  const address = typeof e.address === 'string' ? e.address : undefined;
  const listener = /^\d{1,5}\/(tcp|udp|tls|ws|wss)\b/.test(what)
    ? what
    : `${port}/${transport} (${what})`;
  const options = { cause: err };
  switch (e.code) {
    case 'EADDRINUSE':
      return new StartupError(
        StartupErrorCode.PortInUse,
        `Port ${listener} is already in use — choose another with ${flag}`,
        options,
      );
    case 'EACCES':
    case 'EPERM':
      return new StartupError(
        StartupErrorCode.PortAccessDenied,
        `Not allowed to listen on port ${listener}: ports below 1024 need ` +
          `privileges — choose a port of 1024 or more with ${flag}`,
        options,
      );
    case 'EADDRNOTAVAIL':
      return new StartupError(
        StartupErrorCode.AddressNotAvailable,
        `Cannot listen on port ${listener}: ${address ?? 'the address'} is not an address of this machine — check --bind`,
        options,
      );
    default: {
      const reason = err instanceof Error ? err.message : String(err);
      return new StartupError(
        StartupErrorCode.ListenFailed,
        `Cannot listen on port ${listener}: ${reason}`,
        options,
      );
    }
  }
}

/**
 * Whether `err` is a mistake of the user or the environment, to be shown as one line without a
 * stack trace (configuration, start-up and store errors).
 */
export function isUserFacingError(err: unknown): err is ConfabError {
  return (
    isConfabError(err) &&
    (err instanceof ConfigError ||
      err instanceof StartupError ||
      err instanceof StoreError ||
      err.code === 'CONFIG_INVALID' ||
      Object.values<string>(StartupErrorCode).includes(err.code) ||
      Object.values<string>(StoreErrorCode).includes(err.code))
  );
}
