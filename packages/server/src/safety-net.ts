/**
 * The last-resort handler of `confab start` for promise rejections nobody handled.
 *
 * Node's default for an unhandled rejection is to end the process. On a server that would let
 * one bug reached by one request (a SIP message, an API call) drop every call in progress, and
 * the rule is that input never crashes the server. So the rejection is logged at error level
 * with its stack — the bug stays visible in the logs — and the server keeps serving. Every code
 * path is still expected to handle its own failures; this only catches the ones that slipped.
 *
 * `uncaughtException` is deliberately left to Node: a synchronous throw that unwound to the event
 * loop may have left state half-updated, and exiting (for a supervisor to restart) is safer.
 */
import type { Logger } from '@confab/core';

/** What {@link installRejectionNet} listens on: `process`, or a stand-in in tests. */
export interface RejectionSource {
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  off(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
}

/** Logs unhandled rejections instead of exiting. Returns the function that uninstalls it. */
export function installRejectionNet(logger: Logger, source: RejectionSource = process): () => void {
  const onRejection = (reason: unknown): void => {
    const err =
      reason instanceof Error ? reason : new Error(`non-error rejection: ${String(reason)}`);
    logger.error({ err }, 'unhandled promise rejection (a bug): logged, the server keeps serving');
  };
  source.on('unhandledRejection', onRejection);
  return () => {
    source.off('unhandledRejection', onRejection);
  };
}
