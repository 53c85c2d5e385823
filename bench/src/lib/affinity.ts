/**
 * CPU affinity of benchmark processes with util-linux `taskset`: a child started as
 * `taskset -c <list> <command> …` (taskset sets its own affinity, then execs the command, so the
 * pid is the command's) has every thread it ever creates on those CPUs, since a new thread
 * inherits its creator's affinity. `threadsAffinity` reads back what each thread of a process is
 * allowed, to check it in the report.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export const TASKSET = '/usr/bin/taskset';

export function tasksetAvailable(): boolean {
  return existsSync(TASKSET);
}

/** CPU numbers of a taskset-style list (`0`, `0-1`, `0,2-3`); throws on anything else. */
export function parseCpuList(list: string): number[] {
  const cpus = new Set<number>();
  for (const part of list.split(',')) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!range) {
      throw new Error(`not a CPU list: ${list}`);
    }
    const first = Number(range[1]);
    const last = range[2] === undefined ? first : Number(range[2]);
    if (last < first || last - first > 1024) {
      throw new Error(`not a CPU list: ${list}`);
    }
    for (let cpu = first; cpu <= last; cpu++) {
      cpus.add(cpu);
    }
  }
  return [...cpus].sort((a, b) => a - b);
}

/** `command args…` run on `cpuList` only: the program and arguments to spawn. */
export function pinnedCommand(
  cpuList: string | undefined,
  command: string,
  args: readonly string[],
): { command: string; args: string[] } {
  return cpuList === undefined
    ? { command, args: [...args] }
    : { command: TASKSET, args: ['-c', cpuList, command, ...args] };
}

/** Moves every thread of this process (and the threads it creates from now on) to `cpuList`. */
export function pinSelf(cpuList: string): void {
  const result = spawnSync(TASKSET, ['-a', '-p', '-c', cpuList, String(process.pid)], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (result.status !== 0) {
    throw new Error(`taskset -a -p -c ${cpuList} ${process.pid}: ${result.stderr}`);
  }
}

/**
 * The distinct `Cpus_allowed_list` values of a process's threads (one value when every thread
 * is pinned alike), or an empty list once the process is gone.
 */
export function threadsAffinity(pid: number): string[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const lists = new Set<string>();
  for (const tid of tids) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1];
      if (list !== undefined) {
        lists.add(list);
      }
    } catch {
      // The thread exited between readdir and read.
    }
  }
  return [...lists].sort();
}
