/**
 * Helpers for the sip-*.test.ts integration tests: sipp desk phones (registration, callers,
 * callees) against a test server, live telephony counts, and polling.
 */
import type { TelephonyStats } from '@confab/server';
import { peerPort } from '../../support/ports.js';
import type { TestLine, TestServer } from './server.js';
import {
  runSipp,
  untilListening,
  type SippOptions,
  type SippResult,
  type SippRun,
} from '../../support/sipp.js';

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
    // No -p: sipp binds a free port itself (5060 and up), which no other socket can take first.
    [
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

/** A sipp UAS and the port it listens on. */
export interface CalleeRun extends SippRun {
  readonly port: number;
}

/**
 * A sipp UAS (desk phone) for `line` running `scenario` on a port of its own (register it with
 * {@link registerLine}). Resolves once sipp listens, so that a request the server sends it from
 * then on is not lost.
 */
export async function startCallee(
  scenario: string,
  line: TestLine,
  options: PeerOptions = {},
): Promise<CalleeRun> {
  // sipp must be told its port (the registration names it): one from a private range.
  const port = await peerPort();
  const run = runSipp(
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
  const transport = options.transport ?? 'u1';
  await untilListening(run, port, transport.startsWith('t') ? 'tcp' : 'udp');
  return { ...run, port };
}

/** A sipp UAC placing a call from `caller` to `extension` with `scenario`. */
export function startCaller(
  test: TestServer,
  scenario: string,
  caller: TestLine,
  extension: string,
  options: PeerOptions = {},
): Promise<SippRun> {
  return Promise.resolve(
    runSipp(
      scenario,
      // No -p: sipp binds a free port itself.
      [
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
    ),
  );
}
