/** Runs sipp (Debian package sip-tester) scenarios from tests/sipp against a test server. */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isBound } from '../../support/ports.js';

export const SCENARIOS = fileURLToPath(new URL('../../sipp/', import.meta.url));

export interface SippResult {
  code: number | null;
  stdout: string;
  errors: string;
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

/** Starts `sipp -sf <scenario> …` bounded by sipp's own -timeout. */
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
      let scenarioFile = join(SCENARIOS, scenario);
      if (options.substitute) {
        let text = await readFile(scenarioFile, 'utf8');
        for (const [name, value] of Object.entries(options.substitute)) {
          text = text.replaceAll(`{{${name}}}`, value);
        }
        scenarioFile = join(dir, scenario);
        await writeFile(scenarioFile, text);
      }
      if (killed) {
        return { code: null, stdout: 'killed before it started', errors: '' };
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
      return { code, stdout, errors };
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
        `sipp exited (${String(exited.code)}) before listening on ${protocol} ${String(port)}\n${exited.errors || exited.stdout}`,
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
