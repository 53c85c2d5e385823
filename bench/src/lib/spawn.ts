/**
 * Child processes of a benchmark, bounded in time: each runs in its own process group and is
 * killed (the group, so wrappers take their children along) when its deadline passes or when the
 * benchmark stops. Only processes started here are ever signalled.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Spawned {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** Last few KiB of standard error. */
  stderr(): string;
  /** Signals the process group (default SIGTERM); no-op once exited. */
  kill(signal?: NodeJS.Signals): void;
}

export interface SpawnOptions {
  /** Killed with SIGKILL after this long. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with standard output chunks; standard output is discarded when absent. */
  onStdout?: (text: string) => void;
  /** Opens a Node IPC channel (`child.send` / `process.send`); the command must be node. */
  ipc?: boolean;
}

const live = new Set<Spawned>();
const STDERR_KEEP = 8192;

/** Starts `command args…` in a new process group with a hard deadline. */
export function spawnBounded(
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): Spawned {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: [
      'ignore',
      options.onStdout ? 'pipe' : 'ignore',
      'pipe',
      ...(options.ipc ? (['ipc'] as const) : []),
    ],
  });
  if (child.pid === undefined) {
    throw new Error(`cannot start ${command}`);
  }
  const pid = child.pid;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-STDERR_KEEP);
  });
  if (options.onStdout) {
    const onStdout = options.onStdout;
    child.stdout?.on('data', (chunk: Buffer) => {
      onStdout(chunk.toString());
    });
  }
  let done = false;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', () => {
      done = true;
      resolve({ code: null, signal: null });
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  const kill = (signal: NodeJS.Signals = 'SIGTERM'): void => {
    if (done) {
      return;
    }
    try {
      process.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  };
  const timer = setTimeout(() => {
    kill('SIGKILL');
  }, options.timeoutMs);
  const spawned: Spawned = { pid, child, exited, stderr: () => stderr, kill };
  live.add(spawned);
  void exited.then(() => {
    clearTimeout(timer);
    live.delete(spawned);
  });
  return spawned;
}

/** Kills every process group this module started that is still running. */
export function killAll(): void {
  for (const spawned of live) {
    spawned.kill('SIGKILL');
  }
}

let hooked = false;

/** Makes sure Ctrl-C or an uncaught error never leaves a child running. */
export function killChildrenOnExit(): void {
  if (hooked) {
    return;
  }
  hooked = true;
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with `promise`, or with `fallback` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => {
      resolve(fallback);
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
