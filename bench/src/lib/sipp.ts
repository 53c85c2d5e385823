/**
 * sipp (Debian sip-tester 3.6) as a load generator: runs a scenario under GNU time, so its own
 * CPU is measured exactly, and reads its final statistics line (`-trace_stat`).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnBounded, within } from './spawn.js';
import type { ExitStatus, Spawned } from './spawn.js';

/** The counters of sipp's statistics file this benchmark reads (cumulative values). */
export interface SippStats {
  successful: number;
  failed: number;
  failedTimeoutOnRecv: number;
  failedUnexpectedMessage: number;
  retransmissions: number;
  outOfCallMessages: number;
  deadCallMessages: number;
  /** Mean of response time 1 (first INVITE → 200 OK) in ms, 0 when not measured. */
  setupMeanMs: number;
  setupStdDevMs: number;
}

export interface SippResult {
  exit: ExitStatus;
  /** CPU seconds of sipp (GNU time), undefined when it was killed. */
  cpuSeconds: number | undefined;
  wallSeconds: number | undefined;
  stats: SippStats | undefined;
  stderr: string;
  errorFile: string;
}

export interface SippRun {
  readonly process: Spawned;
  readonly done: Promise<SippResult>;
  /**
   * Asks sipp itself (not the GNU time wrapper, which must live to report its CPU) to quit with
   * SIGINT; kills the whole group if it is still there after 3 s.
   */
  stop(): Promise<SippResult>;
}

/** `HH:MM:SS:uuuuuu` (sipp's duration format) in ms. */
function durationMs(text: string | undefined): number {
  const parts = (text ?? '').split(':').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) {
    return 0;
  }
  const [h, m, s, us] = parts as [number, number, number, number];
  return (h * 3600 + m * 60 + s) * 1000 + us / 1000;
}

/** The last line of a `-trace_stat` file, by column name. */
export function readSippStats(file: string): SippStats | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const header = lines[0]?.split(';');
  const last = lines.at(-1)?.split(';');
  if (!header || !last || lines.length < 2) {
    return undefined;
  }
  const value = (name: string): string | undefined => {
    const index = header.indexOf(name);
    return index >= 0 ? last[index] : undefined;
  };
  const count = (name: string): number => Number(value(name) ?? 0) || 0;
  return {
    successful: count('SuccessfulCall(C)'),
    failed: count('FailedCall(C)'),
    failedTimeoutOnRecv: count('FailedTimeoutOnRecv(C)'),
    failedUnexpectedMessage: count('FailedUnexpectedMessage(C)'),
    retransmissions: count('Retransmissions(C)'),
    outOfCallMessages: count('OutOfCallMsgs(C)'),
    deadCallMessages: count('DeadCallMsgs(C)'),
    setupMeanMs: durationMs(value('ResponseTime1(C)')),
    setupStdDevMs: durationMs(value('ResponseTime1StDev(C)')),
  };
}

/**
 * Starts `sipp -sf scenario … args` on 127.0.0.1, bounded by `timeoutSeconds` (sipp's own
 * `-timeout`, and a SIGKILL a few seconds later as a backstop).
 */
export function runSipp(
  scenario: string,
  args: readonly string[],
  options: { timeoutSeconds: number; stats?: boolean },
): SippRun {
  const dir = mkdtempSync(join(tmpdir(), 'confab-bench-sipp-'));
  const timesFile = join(dir, 'times.txt');
  const statsFile = join(dir, 'stats.csv');
  const errorFile = join(dir, 'errors.log');
  const sippArgs = [
    '-sf',
    scenario,
    '-i',
    '127.0.0.1',
    '-nostdin',
    '-timeout',
    `${options.timeoutSeconds}s`,
    '-trace_err',
    '-error_file',
    errorFile,
    ...(options.stats ? ['-trace_stat', '-stf', statsFile, '-fd', '1'] : []),
    ...args,
  ];
  const child = spawnBounded(
    '/usr/bin/time',
    ['-f', '%U %S %e', '-o', timesFile, 'sipp', ...sippArgs],
    { timeoutMs: (options.timeoutSeconds + 10) * 1000 },
  );
  const done = (async (): Promise<SippResult> => {
    const exit = await child.exited;
    let cpuSeconds: number | undefined;
    let wallSeconds: number | undefined;
    try {
      // GNU time prefixes "Command exited with non-zero status N" when sipp fails.
      const numbers = readFileSync(timesFile, 'utf8').trim().split('\n').at(-1)?.split(' ');
      const [user, system, wall] = (numbers ?? []).map(Number);
      if (user !== undefined && system !== undefined && Number.isFinite(user + system)) {
        cpuSeconds = user + system;
        wallSeconds = wall;
      }
    } catch {
      // Killed before GNU time could write.
    }
    return {
      exit,
      cpuSeconds,
      wallSeconds,
      stats: options.stats ? readSippStats(statsFile) : undefined,
      stderr: child.stderr(),
      errorFile,
    };
  })();
  const stop = async (): Promise<SippResult> => {
    try {
      const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
        .trim()
        .split(' ')
        .filter((pid) => pid !== '');
      for (const pid of children) {
        process.kill(Number(pid), 'SIGINT');
      }
    } catch {
      // Already gone.
    }
    const finished = await within(done, 3000, undefined);
    if (finished) {
      return finished;
    }
    child.kill('SIGKILL');
    return done;
  };
  return { process: child, done, stop };
}
