/**
 * Summaries of V8 `.cpuprofile` files (what `node --cpu-prof` writes): self time per function,
 * inclusive time per function, and self time per package, so a benchmark can say where the time
 * goes without opening DevTools.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The subset of the V8 CPU profile format this module reads. */
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** One row of a summary. */
export interface ProfileRow {
  /** `functionName (package/file:line)`. */
  label: string;
  category: string;
  ms: number;
  /** Share of the busy (non-idle) time, percent. */
  percent: number;
}

/** What {@link summarizeProfile} returns. */
export interface ProfileSummary {
  file: string;
  /** Sampled time in ms, idle included. */
  totalMs: number;
  /** Sampled time in ms outside `(idle)`. */
  busyMs: number;
  byCategory: ProfileRow[];
  topSelf: ProfileRow[];
  topInclusive: ProfileRow[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/**
 * The package or area a frame belongs to: our packages by name, npm packages by name, Node's own
 * modules as `node:<module>`, and V8's pseudo-frames as themselves.
 */
export function categoryOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (SPECIAL.has(functionName) && url === '') {
    return functionName;
  }
  if (url === '') {
    return '(native)';
  }
  const ours = /\/packages\/([^/]+)\//.exec(url);
  if (ours && !url.includes('/node_modules/')) {
    return `@confab/${ours[1]}`;
  }
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    const name = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    return name ?? '(unknown)';
  }
  if (url.startsWith('node:')) {
    const module = url.slice('node:'.length).split('/');
    // node:internal/dgram → node:dgram; node:internal/streams/… → node:streams
    return `node:${module[0] === 'internal' ? (module[1] ?? 'internal') : module[0]}`;
  }
  if (url.includes('/bench/')) {
    return 'bench';
  }
  return '(other)';
}

function shortLocation(frame: CallFrame): string {
  if (frame.url === '') {
    return '';
  }
  const url = frame.url.replace(/^file:\/\//, '');
  const modules = url.lastIndexOf('/node_modules/');
  const tail =
    modules >= 0
      ? url.slice(modules + '/node_modules/'.length)
      : url.includes('/packages/')
        ? url.slice(url.indexOf('/packages/') + '/packages/'.length)
        : url.replace(/^node:/, 'node:');
  return ` (${tail}:${frame.lineNumber + 1})`;
}

function labelOf(frame: CallFrame): string {
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${shortLocation(frame)}`;
}

function rows(map: Map<string, { ms: number; category: string }>, busyMs: number): ProfileRow[] {
  return [...map.entries()]
    .map(([label, { ms, category }]) => ({
      label,
      category,
      ms: Math.round(ms * 10) / 10,
      percent: busyMs > 0 ? Math.round((ms / busyMs) * 1000) / 10 : 0,
    }))
    .sort((a, b) => b.ms - a.ms);
}

/**
 * A time window in µs of CLOCK_MONOTONIC, the clock of V8 profile timestamps on Linux and of
 * `process.hrtime` in any process of the machine: a benchmark can keep only the samples taken
 * while it measured, leaving out start-up and shutdown.
 */
export interface ProfileWindow {
  startUs: number;
  endUs: number;
}

/** `process.hrtime` in µs, comparable with profile timestamps (see {@link ProfileWindow}). */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Reads and summarises a `.cpuprofile`; `top` rows of each function list. */
export function summarizeProfile(file: string, top = 25, window?: ProfileWindow): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // timeDeltas[i] is the time between sample i-1 and sample i: sample i lasted timeDeltas[i+1].
  let timestamp = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    timestamp += deltas[i] ?? 0;
    if (window && (timestamp < window.startUs || timestamp > window.endUs)) {
      continue;
    }
    const id = samples[i]!;
    const duration = deltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, duration));
  }

  let totalUs = 0;
  let idleUs = 0;
  const byCategory = new Map<string, { ms: number; category: string }>();
  const bySelf = new Map<string, { ms: number; category: string }>();
  for (const [id, us] of selfUs) {
    const node = nodes.get(id);
    if (!node) {
      continue;
    }
    totalUs += us;
    const category = categoryOf(node.callFrame);
    if (category === '(idle)') {
      idleUs += us;
      continue;
    }
    const cat = byCategory.get(category) ?? { ms: 0, category };
    cat.ms += us / 1000;
    byCategory.set(category, cat);
    const label = labelOf(node.callFrame);
    const entry = bySelf.get(label) ?? { ms: 0, category };
    entry.ms += us / 1000;
    bySelf.set(label, entry);
  }

  // Inclusive time: each sample counts once for every distinct function on its stack.
  const inclusive = new Map<string, { ms: number; category: string }>();
  const root = profile.nodes[0];
  const subtree = new Map<number, number>();
  const sumSubtree = (node: ProfileNode): number => {
    let total = selfUs.get(node.id) ?? 0;
    for (const child of node.children ?? []) {
      const childNode = nodes.get(child);
      if (childNode) {
        total += sumSubtree(childNode);
      }
    }
    subtree.set(node.id, total);
    return total;
  };
  if (root) {
    sumSubtree(root);
    const onStack = new Map<string, number>();
    const walk = (node: ProfileNode): void => {
      const label = labelOf(node.callFrame);
      const category = categoryOf(node.callFrame);
      const depth = onStack.get(label) ?? 0;
      if (depth === 0 && !SPECIAL.has(node.callFrame.functionName)) {
        // Outermost occurrence only, so recursion is not counted twice.
        const entry = inclusive.get(label) ?? { ms: 0, category };
        entry.ms += (subtree.get(node.id) ?? 0) / 1000;
        inclusive.set(label, entry);
      }
      onStack.set(label, depth + 1);
      for (const child of node.children ?? []) {
        const childNode = nodes.get(child);
        if (childNode) {
          walk(childNode);
        }
      }
      onStack.set(label, depth);
    };
    walk(root);
  }

  const busyMs = (totalUs - idleUs) / 1000;
  return {
    file,
    totalMs: Math.round(totalUs / 100) / 10,
    busyMs: Math.round(busyMs * 10) / 10,
    byCategory: rows(byCategory, busyMs),
    topSelf: rows(bySelf, busyMs).slice(0, top),
    topInclusive: rows(inclusive, busyMs).slice(0, top),
  };
}

/** A plain-text rendering of a summary (for the console and the docs). */
export function formatProfileSummary(summary: ProfileSummary, top = 25): string {
  const pad = (text: string, width: number): string => text.padEnd(width);
  const table = (title: string, list: readonly ProfileRow[]): string[] => [
    title,
    ...list
      .slice(0, top)
      .map(
        (row) =>
          `  ${row.percent.toFixed(1).padStart(5)} %  ${row.ms.toFixed(0).padStart(7)} ms  ${pad(row.category, 22)} ${row.label}`,
      ),
  ];
  return [
    `profile ${summary.file}`,
    `  sampled ${summary.totalMs.toFixed(0)} ms, busy ${summary.busyMs.toFixed(0)} ms`,
    ...table('self time by package:', summary.byCategory),
    ...table('top self time:', summary.topSelf),
    ...table('top inclusive time:', summary.topInclusive),
  ].join('\n');
}
