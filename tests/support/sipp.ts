/**
 * sipp (Debian package sip-tester) as a real SIP desk phone next to SDK clients: registers a
 * line over UDP and runs one UAS scenario on it. Used where the behaviour under test needs a peer
 * that a second SDK client cannot play (a phone that answers without ringing first, or that
 * refuses the audio stream in its answer).
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  /** Kills sipp (SIGKILL); `done` then resolves. Idempotent. */
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
  let kill = (): void => undefined;
  const done = (async (): Promise<SippResult> => {
    const dir = await mkdtemp(join(tmpdir(), 'confab-sdk-sipp-'));
    const errorFile = join(dir, 'errors.log');
    try {
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
        child.on('error', () => resolve(null));
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
      kill();
    },
  };
}

/** A UDP port of 127.0.0.1 free at the time of the call. */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  const port = await new Promise<number>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve(socket.address().port));
  });
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** A line's SIP account. */
export interface SippLine {
  sipUsername: string;
  sipSecret: string;
}

/**
 * Starts a desk phone for `line`: a UAS running `scenarioPath` on a free UDP port, registered
 * with the server at `127.0.0.1:<serverSipPort>` (digest, tests/sipp/register.xml). Resolves once
 * the registration succeeded; the returned run ends when the UAS scenario does.
 */
export async function startDeskPhone(
  line: SippLine,
  serverSipPort: number,
  scenarioPath: string,
): Promise<SippRun> {
  const uasPort = await freeUdpPort();
  const uas = runSipp(scenarioPath, ['-p', String(uasPort), '-s', line.sipUsername]);
  const register = runSipp(sharedScenario('register.xml'), [
    '-p',
    String(await freeUdpPort()),
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
