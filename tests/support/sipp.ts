/**
 * sipp (Debian package sip-tester) for the tests: runs scenarios of tests/sipp (and of
 * tests/support/sipp) against a test server, waits until a sipp peer listens, and plays a real
 * SIP desk phone next to SDK clients (a line registered over UDP running one UAS scenario) where
 * the behaviour under test needs a peer that a second SDK client cannot play (a phone that
 * answers without ringing first, or that refuses the audio stream in its answer).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBound, peerPort } from './ports.js';

/** The SIP interop scenarios (`tests/sipp/`). */
export const SCENARIOS = fileURLToPath(new URL('../sipp/', import.meta.url));

/** Scenarios of this directory (`tests/support/sipp/<name>`). */
export function supportScenario(name: string): string {
  return fileURLToPath(new URL(`./sipp/${name}`, import.meta.url));
}

/** Scenarios shared with the SIP interop tests (`tests/sipp/<name>`). */
export function sharedScenario(name: string): string {
  return join(SCENARIOS, name);
}

/** How a sipp run ended. */
export interface SippResult {
  code: number | null;
  /** sipp's output (bounded). */
  stdout: string;
  /** sipp's error log (`-trace_err`). */
  errors: string;
  /** The error log, or the output when the log is empty. */
  diagnostics: string;
}

export interface SippRun {
  /** Resolves when sipp exits. */
  done: Promise<SippResult>;
  /** Kills sipp (SIGKILL), also when called before sipp was spawned; `done` then resolves. */
  kill(): void;
}

export interface SippOptions {
  /** sipp's own -timeout, seconds. */
  timeoutSeconds?: number;
  /** `{{name}}` placeholders of the scenario replaced by these values (sipp needs literal status codes). */
  substitute?: Readonly<Record<string, string>>;
}

/**
 * Starts `sipp -sf <scenario> -i 127.0.0.1 -m 1 …args`, bounded by sipp's own `-timeout` so that
 * a scenario that never completes cannot outlive the test. `scenario` is a path, or a name in
 * {@link SCENARIOS}.
 */
export function runSipp(
  scenario: string,
  args: readonly string[],
  options: SippOptions = {},
): SippRun {
  const timeoutSeconds = options.timeoutSeconds ?? 30;
  let killed = false;
  let killer = (): void => undefined;
  const run = async (): Promise<SippResult> => {
    const dir = await mkdtemp(join(tmpdir(), 'confab-sipp-'));
    try {
      const errorFile = join(dir, 'errors.log');
      let scenarioFile = isAbsolute(scenario) ? scenario : join(SCENARIOS, scenario);
      if (options.substitute) {
        let text = await readFile(scenarioFile, 'utf8');
        for (const [name, value] of Object.entries(options.substitute)) {
          text = text.replaceAll(`{{${name}}}`, value);
        }
        scenarioFile = join(dir, basename(scenario));
        await writeFile(scenarioFile, text);
      }
      if (killed) {
        return { code: null, stdout: '', errors: '', diagnostics: 'killed before it started' };
      }
      const child = spawn(
        'sipp',
        [
          '-sf',
          scenarioFile,
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
      killer = () => child.kill('SIGKILL');
      let stdout = '';
      const collect = (chunk: Buffer): void => {
        // Bounded: sipp's screen dumps can be large.
        if (stdout.length < 64_000) {
          stdout += chunk.toString();
        }
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      const code = await new Promise<number | null>((resolve) => {
        child.on('error', (error) => {
          stdout += `\n${error.message}`;
          resolve(null);
        });
        child.on('exit', (exitCode) => {
          resolve(exitCode);
        });
      });
      const errors = await readFile(errorFile, 'utf8').catch(() => '');
      return { code, stdout, errors, diagnostics: errors || stdout };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  const done = run();
  return {
    done,
    kill: () => {
      killed = true;
      killer();
    },
  };
}

/**
 * Resolves once `run` has bound `port` on 127.0.0.1 (a UDP socket, or a TCP listener), so that a
 * request sent to it from now on is received; rejects with sipp's diagnostics when it exits
 * first (e.g. it could not bind), or after `timeoutMs`.
 */
export async function untilListening(
  run: SippRun,
  port: number,
  protocol: 'udp' | 'tcp',
  timeoutMs = 10_000,
): Promise<void> {
  let exited: SippResult | undefined;
  void run.done.then((result) => {
    exited = result;
  });
  const deadline = Date.now() + timeoutMs;
  while (!(await isBound(port, protocol))) {
    if (exited !== undefined) {
      throw new Error(
        `sipp exited (${String(exited.code)}) before listening on ${protocol} ${String(port)}\n${exited.diagnostics}`,
      );
    }
    if (Date.now() > deadline) {
      run.kill();
      throw new Error(
        `sipp did not listen on ${protocol} ${String(port)} within ${String(timeoutMs)} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
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
  // Until it listens, an INVITE sent to it would be lost (and only retransmitted 500 ms later).
  await untilListening(uas, uasPort, 'udp');
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
