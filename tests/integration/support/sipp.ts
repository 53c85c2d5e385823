/** Runs sipp (Debian package sip-tester) scenarios from tests/sipp against a test server. */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCENARIOS = fileURLToPath(new URL('../../sipp/', import.meta.url));

export interface SippResult {
  code: number | null;
  stdout: string;
  errors: string;
}

export interface SippRun {
  /** Resolves when sipp exits. */
  done: Promise<SippResult>;
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
  const run = async (): Promise<SippResult> => {
    const dir = await mkdtemp(join(tmpdir(), 'confab-sipp-'));
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
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', (exitCode) => {
        resolve(exitCode);
      });
    });
    const errors = await readFile(errorFile, 'utf8').catch(() => '');
    return { code, stdout, errors };
  };
  let killer = (): void => undefined;
  const done = run();
  return {
    done,
    kill: () => {
      killer();
    },
  };
}
