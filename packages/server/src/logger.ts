/**
 * The server's logger: pino, JSON lines, no pretty-printing in-process (pipe through `pino-pretty`
 * to read them). Logs go to standard error so that standard output carries only what a person
 * reads (the start-up banner, CLI tables).
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from './config.js';

/** A pino logger; it satisfies `Logger` of `@confab/core` and Fastify's logger contract. */
export type ServerLogger = PinoLogger;

export interface CreateLoggerOptions {
  /** @default 'info' */
  level?: LogLevel | 'silent';
  /** Where JSON lines go. @default standard error */
  destination?: DestinationStream;
}

/** Creates the root logger; components take `logger.child({ component: '…' })`. */
export function createLogger(options: CreateLoggerOptions = {}): ServerLogger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination(2),
  );
}
