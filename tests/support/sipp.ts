/**
 * sipp (Debian package sip-tester) as a real SIP desk phone next to SDK clients: registers a
 * line over UDP and runs one UAS scenario on it. Used where the behaviour under test needs a peer
 * that a second SDK client cannot play (a phone that answers without ringing first, or that
 * refuses the audio stream in its answer).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBound, peerPort } from './ports.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Scenarios of this directory (`tests/support/sipp/<name>`). */
export function supportScenario(name: string): string {
  return join(REPO_ROOT, 'tests', 'support', 'sipp', name);
}

/** Scenarios shared with the SIP interop tests (`tests/sipp/<name>`). */
export function sharedScenario(name: string): string {
  return join(REPO_ROOT, 'tests', 'sipp', name);
}

/** How a sipp run ended. */
export interface SippResult {
  code: number | null;
  /** sipp's error log, or its output when the log is empty. */
  diagnostics: string;
}

/** A running sipp. */
export interface SippRun {
  readonly done: Promise<SippResult>;
  /** Kills sipp (SIGKILL), also when called before sipp was spawned; `done` then resolves. Idempotent. */
  kill(): void;
}

/**
 * Starts `sipp -sf <scenarioPath> -i 127.0.0.1 -m 1 …args`, bounded by sipp's own `-timeout`
 * so that a scenario that never completes cannot outlive the test.
 */
export function runSipp(
  scenarioPath: string,
  args: readonly string[],
  timeoutSeconds = 30,
): SippRun {
  let killed = false;
  let kill = (): void => undefined;
  const done = (async (): Promise<SippResult> => {
    const dir = await mkdtemp(join(tmpdir(), 'confab-sdk-sipp-'));
    const errorFile = join(dir, 'errors.log');
    try {
      if (killed) {
        return { code: null, diagnostics: 'killed before it started' };
      }
      const child = spawn(
        'sipp',
        [
          '-sf',
          scenarioPath,
          '-i',
          '127.0.0.1',
          '-m',
          '1',
          '-nostdin',
          '-timeout',
          `${timeoutSeconds}s`,
          '-trace_err',
          '-error_file',
          errorFile,
          ...args,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      kill = () => {
        child.kill('SIGKILL');
      };
      let output = '';
      const collect = (chunk: Buffer): void => {
        // Bounded: sipp's screen dumps can be large.
        if (output.length < 64_000) {
          output += chunk.toString();
        }
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      const code = await new Promise<number | null>((resolve) => {
        child.on('error', (error) => {
          output += `\n${error.message}`;
          resolve(null);
        });
        child.on('exit', (exitCode) => resolve(exitCode));
      });
      const errors = await readFile(errorFile, 'utf8').catch(() => '');
      return { code, diagnostics: errors || output };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  })();
  return {
    done,
    kill: () => {
      killed = true;
      kill();
    },
  };
}

/** A line's SIP account. */
export interface SippLine {
  sipUsername: string;
  sipSecret: string;
}

/**
 * Starts a desk phone for `line`: a UAS running `scenarioPath` on a UDP port of its own,
 * registered with the server at `127.0.0.1:<serverSipPort>` (digest, tests/sipp/register.xml).
 * Resolves once the UAS listens and the registration succeeded; the returned run ends when the
 * UAS scenario does.
 */
export async function startDeskPhone(
  line: SippLine,
  serverSipPort: number,
  scenarioPath: string,
): Promise<SippRun> {
  // The UAS is told its port (the registration names it): one from a private range, never from
  // the ephemeral range where any outgoing socket could take it first (see ./ports.ts).
  const uasPort = await peerPort();
  const uas = runSipp(scenarioPath, ['-p', String(uasPort), '-s', line.sipUsername]);
  let exited: SippResult | undefined;
  void uas.done.then((result) => {
    exited = result;
  });
  // Until it listens, an INVITE sent to it would be lost (and only retransmitted 500 ms later).
  const deadline = Date.now() + 10_000;
  while (!(await isBound(uasPort, 'udp'))) {
    if (exited !== undefined || Date.now() > deadline) {
      uas.kill();
      throw new Error(
        `sipp UAS did not listen on udp ${String(uasPort)}: ${exited?.diagnostics ?? 'timed out'}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // No -p: the registering sipp binds a free port itself (5060 and up).
  const register = runSipp(sharedScenario('register.xml'), [
    '-au',
    line.sipUsername,
    '-ap',
    line.sipSecret,
    '-s',
    line.sipUsername,
    '-key',
    'contact_port',
    String(uasPort),
    '-key',
    'expires',
    '300',
    `127.0.0.1:${serverSipPort}`,
  ]);
  const registered = await register.done;
  if (registered.code !== 0) {
    uas.kill();
    throw new Error(`sipp registration failed (${registered.code}): ${registered.diagnostics}`);
  }
  return uas;
}
