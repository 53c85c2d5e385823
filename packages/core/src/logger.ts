/**
 * The logging contract of every Confab component. It is the subset of pino's API we use, so the
 * server passes a pino child logger and the SDK or tests pass {@link silentLogger} or a console
 * adapter. Every component logs with context fields (`callId`, `legId`, …) as the first argument.
 */
export interface Logger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

const noop = (): void => undefined;

export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
