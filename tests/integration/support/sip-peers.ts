/**
 * Helpers for the sip-*.test.ts integration tests: sipp desk phones (registration, callers,
 * callees) against a test server, live telephony counts, and polling.
 */
import type { TelephonyStats } from '@confab/server';
import { freePort, type TestLine, type TestServer } from './server.js';
import { runSipp, type SippOptions, type SippResult, type SippRun } from './sipp.js';

/** Polls `check` every 25 ms until it holds; throws (with `what`) after `timeoutMs`. */
export async function waitFor(
  check: () => boolean,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The live counts of the test server's telephony core. */
export function statsOf(test: TestServer): TelephonyStats {
  const stats = test.server.telephony.stats?.();
  if (!stats) {
    throw new Error('telephony stats unavailable');
  }
  return stats;
}

/** A sipp result that must have succeeded; the message carries sipp's own error log. */
export function expectSippSuccess(result: SippResult, label: string): void {
  if (result.code !== 0) {
    throw new Error(
      `${label}: sipp exited with ${String(result.code)}\n${result.errors || result.stdout}`,
    );
  }
}

/** Options common to the sipp helpers below. */
export interface PeerOptions extends SippOptions {
  /** Transport: sipp's `-t` mode. @default 'u1' */
  transport?: 'u1' | 'un' | 't1' | 'tn';
  /** More sipp arguments. */
  args?: readonly string[];
}

/** sipp gives up after this long (its -timeout), well within the test's own timeout. */
const SIPP_TIMEOUT_SECONDS = 15;

function withTimeout(options: PeerOptions): PeerOptions {
  return { timeoutSeconds: SIPP_TIMEOUT_SECONDS, ...options };
}

function transportArgs(options: PeerOptions): string[] {
  return ['-t', options.transport ?? 'u1'];
}

/**
 * Registers `line` with a Contact on `contactPort` (where its UAS instance listens) through
 * tests/sipp/register.xml and waits for the 200.
 */
export async function registerLine(
  test: TestServer,
  line: TestLine,
  contactPort: number,
  expires = 300,
  /** Registers the AOR under this host name instead of the server's address. */
  aorHost?: string,
): Promise<void> {
  const run = runSipp(
    aorHost === undefined ? 'register.xml' : 'register-aor.xml',
    [
      '-p',
      String(await freePort()),
      '-au',
      line.sipUsername,
      '-ap',
      line.sipSecret,
      '-s',
      line.sipUsername,
      '-key',
      'contact_port',
      String(contactPort),
      '-key',
      'expires',
      String(expires),
      `127.0.0.1:${test.sipPort}`,
    ],
    withTimeout(aorHost === undefined ? {} : { substitute: { aor_host: aorHost } }),
  );
  expectSippSuccess(await run.done, `register ${line.sipUsername}`);
}

/** A sipp UAS (desk phone) for `line` listening on `port`, running `scenario`. */
export function startCallee(
  scenario: string,
  line: TestLine,
  port: number,
  options: PeerOptions = {},
): SippRun {
  return runSipp(
    scenario,
    [
      '-p',
      String(port),
      '-s',
      line.sipUsername,
      ...transportArgs(options),
      ...(options.args ?? []),
    ],
    withTimeout(options),
  );
}

/** A sipp UAC placing a call from `caller` to `extension` with `scenario`. */
export async function startCaller(
  test: TestServer,
  scenario: string,
  caller: TestLine,
  extension: string,
  options: PeerOptions = {},
): Promise<SippRun> {
  return runSipp(
    scenario,
    [
      '-p',
      String(await freePort()),
      '-au',
      caller.sipUsername,
      '-ap',
      caller.sipSecret,
      '-s',
      extension,
      '-key',
      'caller',
      caller.sipUsername,
      ...transportArgs(options),
      ...(options.args ?? []),
      `127.0.0.1:${test.sipPort}`,
    ],
    withTimeout(options),
  );
}
