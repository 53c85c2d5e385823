/**
 * CPU accounting of processes and threads from /proc (Linux), and a description of the machine
 * a figure was measured on. Benchmarks report CPU time, not wall time: on a 2-core machine shared
 * with the load generator, CPU seconds per unit of work is the figure that survives noise.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';

let clockTicks: number | undefined;

/** Clock ticks per second of /proc times (`getconf CLK_TCK`, 100 on every common Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      clockTicks = 100;
    }
    if (!Number.isFinite(clockTicks) || clockTicks <= 0) {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** User and system CPU seconds of a process (all its threads) or one thread. */
export interface CpuTimes {
  user: number;
  system: number;
}

/** utime and stime of a `stat` file; the command name may contain spaces and parentheses. */
function parseStat(text: string): { name: string; times: CpuTimes } {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
  const ticks = ticksPerSecond();
  return {
    name: text.slice(open + 1, close),
    times: { user: Number(fields[11]) / ticks, system: Number(fields[12]) / ticks },
  };
}

/** CPU times of a whole process, or undefined once it is gone. */
export function processCpu(pid: number): CpuTimes | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).times;
  } catch {
    return undefined;
  }
}

/** One thread of a process with its CPU times. */
export interface ThreadCpu {
  tid: number;
  name: string;
  times: CpuTimes;
}

/** CPU times of every live thread of a process (threads that exited are not listed). */
export function threadsCpu(pid: number): ThreadCpu[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const threads: ThreadCpu[] = [];
  for (const tid of tids) {
    try {
      const { name, times } = parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      threads.push({ tid: Number(tid), name, times });
    } catch {
      // The thread exited between readdir and read.
    }
  }
  return threads;
}

/**
 * Per thread of a process, seconds spent runnable but waiting for a CPU (second field of
 * /proc/<pid>/task/<tid>/schedstat, ns), keyed by thread id. On a shared machine this is the
 * time the process wanted to run and could not.
 */
export function threadsRunQueueWait(pid: number): Map<number, number> {
  const waits = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return waits;
  }
  for (const tid of tids) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ');
      waits.set(Number(tid), Number(fields[1]) / 1e9);
    } catch {
      // The thread exited between readdir and read.
    }
  }
  return waits;
}

/** The largest run-queue wait growth of one thread between two readings, seconds. */
export function maxThreadWait(before: Map<number, number>, after: Map<number, number>): number {
  let max = 0;
  for (const [tid, wait] of after) {
    max = Math.max(max, wait - (before.get(tid) ?? 0));
  }
  return max;
}

/** Resident set size of a process in MiB, or undefined once it is gone. */
export function rssMiB(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export const cpuSeconds = (times: CpuTimes): number => times.user + times.system;

/** `after - before` in CPU seconds. */
export function cpuDelta(before: CpuTimes, after: CpuTimes): number {
  return cpuSeconds(after) - cpuSeconds(before);
}

/**
 * Per-thread CPU between two samples, busiest first. Node 20 names every thread `node`, so the
 * main thread is told apart only by its id (equal to the process id); the others are worker
 * threads, V8 platform helpers (GC, compilation) and the libuv pool.
 */
export function threadDeltas(
  before: readonly ThreadCpu[],
  after: readonly ThreadCpu[],
  pid: number,
): { tid: number; name: string; seconds: number }[] {
  const start = new Map(before.map((thread) => [thread.tid, thread.times]));
  return after
    .map((thread) => {
      const from = start.get(thread.tid) ?? { user: 0, system: 0 };
      const name = thread.tid === pid ? 'main' : `${thread.name}/${thread.tid}`;
      return { tid: thread.tid, name, seconds: cpuDelta(from, thread.times) };
    })
    .sort((a, b) => b.seconds - a.seconds);
}

/** What a figure was measured on. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  /** 1, 5 and 15 minute load averages when the run started. */
  loadAverage: [number, number, number];
}

export function machineInfo(): MachineInfo {
  const cores = cpus();
  const [one, five, fifteen] = loadavg();
  return {
    cpuModel: cores[0]?.model ?? 'unknown',
    cores: cores.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    loadAverage: [one ?? 0, five ?? 0, fifteen ?? 0],
  };
}

/** The 1-minute load average, rounded. */
export function load1(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

/**
 * Datagrams the kernel dropped on a UDP socket bound to `port` (any local address) because its
 * receive buffer was full: the `drops` column of /proc/net/udp. Undefined when no socket has
 * that port.
 */
export function udpDrops(port: number): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return undefined;
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let total: number | undefined;
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${hexPort}`)) {
      total = (total ?? 0) + Number(fields.at(-1) ?? 0);
    }
  }
  return total;
}
