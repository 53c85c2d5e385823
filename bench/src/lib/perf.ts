/**
 * Linux `perf` sampling of a whole process (every thread, kernel included), to complement V8's
 * CPU profiles, which see only JavaScript and the main thread: where the time goes between the
 * kernel (UDP send/receive, scheduling), Node's native code (V8 runtime, libuv, OpenSSL, which
 * is linked into the `node` binary) and JIT-compiled JavaScript.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnBounded } from './spawn.js';

const run = promisify(execFile);

/** A `perf report` row: share of the samples, percent. */
export interface PerfRow {
  percent: number;
  name: string;
}

export interface PerfSummary {
  samples: number;
  /** By area of work, from the symbols (see {@link areaOf}). */
  byArea: PerfRow[];
  /** By shared object: `[kernel.kallsyms]`, `node`, `[JIT] tid …` (JavaScript), `libc.so.6`. */
  byObject: PerfRow[];
  /** Hottest symbols (self time), kernel ones marked `[k]`. */
  topSymbols: PerfRow[];
}

/**
 * The area a sampled symbol belongs to. `Builtins_*` are V8's interpreter, inline caches and
 * builtins (JavaScript execution outside optimised code); JIT code appears as raw addresses or
 * `[JIT]`; OpenSSL is linked into the `node` binary.
 */
export function areaOf(symbol: string): string {
  const name = symbol.replace(/^\[[.k]\]\s+/, '');
  if (symbol.startsWith('[k]')) {
    return 'kernel';
  }
  if (/^0x[0-9a-f]+$/.test(name) || name.startsWith('LazyCompile:') || name.startsWith('JS:')) {
    return 'JavaScript (optimised/JIT code)';
  }
  if (name.startsWith('Builtins_')) {
    return 'JavaScript (V8 interpreter, ICs, builtins)';
  }
  if (/compiler::|Compile|Maglev|Turbofan|Baseline|Parser|Scanner/.test(name)) {
    return 'V8 compiler';
  }
  if (
    /Scavenge|MarkCompact|Sweeper|Heap::|Marking|Evacuat|GC|ConcurrentMarking|Mark\w*Visitor/.test(
      name,
    )
  ) {
    return 'V8 garbage collector';
  }
  if (
    /^(EVP_|ossl_|aes|gcm_|CRYPTO_|sha\d|SHA\d|md5|MD5|HMAC|ChaCha|poly1305|bn_|BN_|x25519|ecp_|OPENSSL)/i.test(
      name,
    )
  ) {
    return 'OpenSSL (crypto)';
  }
  if (/^(uv_|uv__)/.test(name)) {
    return 'libuv';
  }
  if (name.startsWith('node::')) {
    return 'Node C++ bindings';
  }
  if (name.startsWith('v8::')) {
    return 'V8 runtime (other)';
  }
  if (
    /^(__libc_|__GI_|_int_|malloc|free|cfree|__memmove|__memcpy|__memset|__mem|__str|pthread_)/.test(
      name,
    )
  ) {
    return 'libc (syscall wrappers, malloc, memcpy)';
  }
  return 'other';
}

function groupByArea(rows: readonly PerfRow[]): PerfRow[] {
  const areas = new Map<string, number>();
  for (const row of rows) {
    const area = areaOf(row.name);
    areas.set(area, (areas.get(area) ?? 0) + row.percent);
  }
  return [...areas.entries()]
    .map(([name, percent]) => ({ name, percent: Math.round(percent * 10) / 10 }))
    .sort((a, b) => b.percent - a.percent);
}

/** True when `perf` can be run here. */
export async function perfAvailable(): Promise<boolean> {
  try {
    await run('perf', ['--version']);
    return true;
  } catch {
    return false;
  }
}

function parseReport(text: string, limit: number): PerfRow[] {
  const rows: PerfRow[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s+([\d.]+)%\s+(.+?)\s*$/.exec(line);
    if (match) {
      // JIT objects are per thread id; one row for all JavaScript.
      const name = match[2]!.replace(/^\[JIT\] tid \d+$/, '[JIT] (JavaScript)');
      const existing = rows.find((row) => row.name === name);
      if (existing) {
        existing.percent += Number(match[1]);
      } else {
        rows.push({ percent: Number(match[1]), name });
      }
    }
  }
  return rows.sort((a, b) => b.percent - a.percent).slice(0, limit);
}

/**
 * Samples process `pid` at 999 Hz for `seconds` and summarises. Resolves undefined when perf is
 * missing or fails (the benchmark goes on without it).
 */
export async function perfRecord(
  pid: number,
  seconds: number,
  top = 25,
): Promise<PerfSummary | undefined> {
  if (!(await perfAvailable())) {
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'confab-bench-perf-'));
  const data = join(dir, 'perf.data');
  try {
    const recorder = spawnBounded(
      'perf',
      ['record', '-q', '-F', '999', '-p', String(pid), '-o', data, '--', 'sleep', String(seconds)],
      { timeoutMs: (seconds + 30) * 1000 },
    );
    const status = await recorder.exited;
    if (status.code !== 0) {
      return undefined;
    }
    const report = async (sort: string): Promise<string> =>
      (
        await run(
          'perf',
          ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', '--sort', sort],
          { maxBuffer: 64 * 1024 * 1024 },
        )
      ).stdout;
    const byObjectText = await report('dso');
    const symbols = parseReport(await report('sym'), Number.POSITIVE_INFINITY);
    // "# Samples: 12K of event 'cpu-clock:pppH'"
    const sampleMatch = /# Samples: ([\d.]+)([KM]?)/.exec(byObjectText);
    const scale = sampleMatch?.[2] === 'K' ? 1e3 : sampleMatch?.[2] === 'M' ? 1e6 : 1;
    return {
      samples: sampleMatch ? Number(sampleMatch[1]) * scale : 0,
      byObject: parseReport(byObjectText, 10),
      byArea: groupByArea(symbols),
      topSymbols: symbols.slice(0, top),
    };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Plain-text rendering. */
export function formatPerfSummary(title: string, summary: PerfSummary): string {
  const rows = (list: readonly PerfRow[]): string[] =>
    list.map((row) => `  ${row.percent.toFixed(1).padStart(5)} %  ${row.name}`);
  return [
    `perf ${title} (${summary.samples} samples, all threads, kernel included)`,
    'by object:',
    ...rows(summary.byObject),
    'by area:',
    ...rows(summary.byArea),
    'top symbols:',
    ...rows(summary.topSymbols),
  ].join('\n');
}
