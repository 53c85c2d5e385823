/**
 * Benchmark 1: SIP call setups per second through Confab.
 *
 * sipp UAC (bench/sipp/uac-load.xml: INVITE → 401 → authenticated INVITE → 180/200 → ACK → BYE,
 * no talk time) → Confab (`confab start` in its own process; media is anchored, so every call
 * creates two plain RTP legs on the media worker) → a registered sipp UAS answering
 * (tests/sipp/uas-answer.xml in server mode). The call rate is ramped step by step; each step
 * runs `duration` seconds and records the CPU time of the Confab process (/proc utime+stime, all
 * threads) and of both sipp processes (GNU time). A step is *sustained* when every call
 * succeeded and the achieved rate is at least 95 % of the target.
 *
 * With `--profile`, one more step runs against a server started with `node --cpu-prof`, and the
 * profiles of its main thread and media worker are summarised.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatProfileSummary, monotonicUs, summarizeProfile } from './lib/cpuprofile.js';
import type { ProfileSummary, ProfileWindow } from './lib/cpuprofile.js';
import {
  cpuProfiles,
  freePort,
  prepareDataDir,
  REPO_ROOT,
  removeDir,
  startConfabProcess,
} from './lib/confab.js';
import type { BenchLine, ConfabProcess } from './lib/confab.js';
import {
  cpuDelta,
  load1,
  machineInfo,
  processCpu,
  rssMiB,
  threadDeltas,
  threadsCpu,
  udpDrops,
} from './lib/proc.js';
import { formatPerfSummary, perfRecord } from './lib/perf.js';
import type { PerfSummary } from './lib/perf.js';
import { runSipp } from './lib/sipp.js';
import { killChildrenOnExit, sleep, within } from './lib/spawn.js';

const UAC_SCENARIO = join(REPO_ROOT, 'bench/sipp/uac-load.xml');
const UAS_SCENARIO = join(REPO_ROOT, 'tests/sipp/uas-answer.xml');
const REGISTER_SCENARIO = join(REPO_ROOT, 'tests/sipp/register.xml');

/** The figures of one rate step. */
export interface StepResult {
  targetRate: number;
  calls: number;
  successful: number;
  failed: number;
  retransmissions: number;
  wallSeconds: number;
  /** Successful calls per wall second. */
  achievedRate: number;
  sustained: boolean;
  setupMeanMs: number;
  setupStdDevMs: number;
  confabCpuSeconds: number;
  /** CPU of the Confab process as a share of one core, percent. */
  confabCpuPercent: number;
  /** Successful calls per CPU second of the Confab process. */
  callsPerCpuSecond: number;
  /** Confab CPU µs per call (all threads). */
  cpuUsPerCall: number;
  /** Confab CPU by thread, busiest first (main = the event loop; the busiest other is the media worker). */
  threads: { name: string; seconds: number }[];
  sippUacCpuSeconds: number | undefined;
  sippUasCpuSeconds: number | undefined;
  /** sipp's share of the CPU used by sipp and Confab together, percent. */
  sippSharePercent: number | undefined;
  confabRssMiB: number | undefined;
  load1Before: number;
  load1After: number;
  /** Datagrams dropped by the kernel (receive buffer full) on each SIP socket during the step. */
  udpDrops: { confab: number; uac: number; uas: number };
  /** sipp's failure counters and the start of its error log, when calls failed. */
  failures?: { timeoutOnRecv: number; unexpectedMessage: number; errors: string };
  /** The measured interval on CLOCK_MONOTONIC, µs (to cut CPU profiles to it). */
  window: ProfileWindow;
  /** Linux perf summary of the Confab process during the step, when asked for. */
  perf?: PerfSummary | undefined;
}

interface Context {
  server: ConfabProcess;
  sipPort: number;
  uasPort: number;
  uacPort: number;
  /** sipp binds a media (RTP echo) socket even when the scenario sends no RTP. */
  uasMediaPort: number;
  uacMediaPort: number;
  caller: BenchLine;
  callee: BenchLine;
  durationSeconds: number;
  limit: number;
}

async function register(context: Context): Promise<void> {
  const run = runSipp(
    REGISTER_SCENARIO,
    [
      '-p',
      String(await freePort()),
      '-m',
      '1',
      '-au',
      context.callee.sipUsername,
      '-ap',
      context.callee.sipSecret,
      '-s',
      context.callee.sipUsername,
      '-key',
      'contact_port',
      String(context.uasPort),
      '-key',
      'expires',
      '3600',
      `127.0.0.1:${context.sipPort}`,
    ],
    { timeoutSeconds: 10 },
  );
  const result = await run.done;
  if (result.exit.code !== 0) {
    throw new Error(`registration failed (sipp exit ${result.exit.code}): ${result.stderr}`);
  }
}

/** One rate step: a UAS answering exactly `calls` calls, a UAC placing them at `rate`. */
async function step(context: Context, rate: number, withPerf = false): Promise<StepResult> {
  const calls = Math.max(1, Math.round(rate * context.durationSeconds));
  const timeoutSeconds = context.durationSeconds + 30;
  const pid = context.server.pid;
  const uas = runSipp(
    UAS_SCENARIO,
    [
      '-p',
      String(context.uasPort),
      '-mp',
      String(context.uasMediaPort),
      '-m',
      String(calls),
      '-s',
      context.callee.sipUsername,
    ],
    { timeoutSeconds },
  );
  await sleep(300);
  // Receive-buffer overflows of the three SIP sockets: the server's is long-lived, sipp's come
  // and go with each step, so theirs are sampled while they run.
  const serverDropsBefore = udpDrops(context.sipPort) ?? 0;
  let uacDrops = 0;
  let uasDrops = 0;
  const sampleDrops = (): void => {
    uacDrops = udpDrops(context.uacPort) ?? uacDrops;
    uasDrops = udpDrops(context.uasPort) ?? uasDrops;
  };
  const dropSampler = setInterval(sampleDrops, 250);
  const load1Before = load1();
  const cpuBefore = processCpu(pid);
  const threadsBefore = threadsCpu(pid);
  const started = performance.now();
  const windowStart = monotonicUs();
  // The step lasts calls/rate seconds; perf covers most of it.
  const perf = withPerf ? perfRecord(pid, Math.max(1, Math.floor(calls / rate) - 1)) : undefined;
  const uac = runSipp(
    UAC_SCENARIO,
    [
      '-p',
      String(context.uacPort),
      '-mp',
      String(context.uacMediaPort),
      '-r',
      String(rate),
      '-rp',
      '1000',
      '-m',
      String(calls),
      '-l',
      String(context.limit),
      '-au',
      context.caller.sipUsername,
      '-ap',
      context.caller.sipSecret,
      '-s',
      context.callee.extension,
      '-key',
      'caller',
      context.caller.sipUsername,
      '-recv_timeout',
      '5000',
      `127.0.0.1:${context.sipPort}`,
    ],
    { timeoutSeconds, stats: true },
  );
  const uacResult = await uac.done;
  const wallSeconds = (performance.now() - started) / 1000;
  const windowEnd = monotonicUs();
  const cpuAfter = processCpu(pid);
  const threadsAfter = threadsCpu(pid);
  const load1After = load1();
  // The UAS exits by itself after `calls` calls; after failures it waits, so stop it.
  let uasResult = await within(uas.done, 3000, undefined);
  uasResult ??= await uas.stop();
  clearInterval(dropSampler);
  sampleDrops();
  const serverDrops = (udpDrops(context.sipPort) ?? 0) - serverDropsBefore;
  if (!cpuBefore || !cpuAfter) {
    throw new Error('the Confab process is gone');
  }
  const stats = uacResult.stats;
  const successful = stats?.successful ?? 0;
  const failed = stats ? stats.failed : calls;
  const confabCpuSeconds = cpuDelta(cpuBefore, cpuAfter);
  const sippCpu =
    uacResult.cpuSeconds !== undefined && uasResult.cpuSeconds !== undefined
      ? uacResult.cpuSeconds + uasResult.cpuSeconds
      : undefined;
  // Calls are generated for calls/rate seconds; the wall time adds the last calls' duration.
  const achievedRate = successful / wallSeconds;
  const generationSeconds = calls / rate;
  const round = (value: number, digits = 1): number =>
    Math.round(value * 10 ** digits) / 10 ** digits;
  return {
    targetRate: rate,
    calls,
    successful,
    failed,
    retransmissions: stats?.retransmissions ?? 0,
    wallSeconds: round(wallSeconds, 2),
    achievedRate: round(achievedRate),
    sustained:
      failed === 0 &&
      successful === calls &&
      uacResult.exit.code === 0 &&
      // Achieved ≥ 95 % of the target: the calls took at most ~5 % longer than planned
      // (plus 1 s for the last calls to finish).
      wallSeconds <= generationSeconds * 1.05 + 1,
    setupMeanMs: round(stats?.setupMeanMs ?? 0, 2),
    setupStdDevMs: round(stats?.setupStdDevMs ?? 0, 2),
    confabCpuSeconds: round(confabCpuSeconds, 2),
    confabCpuPercent: round((confabCpuSeconds / wallSeconds) * 100),
    callsPerCpuSecond: round(confabCpuSeconds > 0 ? successful / confabCpuSeconds : 0),
    cpuUsPerCall: round(successful > 0 ? (confabCpuSeconds / successful) * 1e6 : 0, 0),
    threads: threadDeltas(threadsBefore, threadsAfter, pid)
      .filter((thread) => thread.seconds > 0)
      .slice(0, 4)
      .map((thread) => ({ name: thread.name, seconds: round(thread.seconds, 2) })),
    sippUacCpuSeconds: uacResult.cpuSeconds,
    sippUasCpuSeconds: uasResult.cpuSeconds,
    sippSharePercent:
      sippCpu === undefined ? undefined : round((sippCpu / (sippCpu + confabCpuSeconds)) * 100),
    confabRssMiB: round(rssMiB(pid) ?? 0, 0),
    load1Before,
    load1After,
    udpDrops: { confab: serverDrops, uac: uacDrops, uas: uasDrops },
    ...(failed > 0 || successful < calls
      ? {
          failures: {
            timeoutOnRecv: stats?.failedTimeoutOnRecv ?? 0,
            unexpectedMessage: stats?.failedUnexpectedMessage ?? 0,
            errors: readHead(uacResult.errorFile, 1500),
          },
        }
      : {}),
    window: { startUs: windowStart, endUs: windowEnd },
    ...(perf ? { perf: await perf } : {}),
  };
}

function readHead(file: string, chars: number): string {
  try {
    return readFileSync(file, 'utf8').slice(0, chars);
  } catch {
    return '';
  }
}

function printStep(result: StepResult): void {
  const sipp =
    result.sippUacCpuSeconds === undefined
      ? 'sipp cpu ?'
      : `sipp uac ${result.sippUacCpuSeconds.toFixed(2)} s + uas ${(result.sippUasCpuSeconds ?? 0).toFixed(2)} s (${result.sippSharePercent ?? '?'} %)`;
  console.log(
    `rate ${String(result.targetRate).padStart(5)}/s: ${result.successful}/${result.calls} ok, ` +
      `${result.failed} failed, ${result.retransmissions} retrans, ` +
      `${result.achievedRate}/s achieved, setup ${result.setupMeanMs} ms; ` +
      `confab ${result.confabCpuSeconds.toFixed(2)} s CPU (${result.confabCpuPercent} % of a core, ` +
      `${result.callsPerCpuSecond} calls/CPU-s, ${result.cpuUsPerCall} µs/call; ` +
      `${result.threads.map((t) => `${t.name} ${t.seconds}`).join(', ')}); ${sipp}; ` +
      `load ${result.load1Before}→${result.load1After}; ` +
      `UDP drops confab ${result.udpDrops.confab} uac ${result.udpDrops.uac} uas ${result.udpDrops.uas}` +
      (result.sustained ? '' : '  ← NOT sustained'),
  );
  if (result.failures) {
    const { timeoutOnRecv, unexpectedMessage, errors } = result.failures;
    const count = (what: string): number => errors.split(what).length - 1;
    console.log(
      `  failures: ${timeoutOnRecv} recv timeouts, ${unexpectedMessage} unexpected messages; ` +
        `error log (first 1500 chars): ${count('Discarding message')} late messages discarded, ` +
        `${count('Dead call')} for dead calls, ${count('Aborting call')} aborted calls`,
    );
  }
}

export interface SipCallsOptions {
  rates: number[];
  durationSeconds: number;
  /** sipp -l: at most this many calls in flight. */
  limit: number;
  mediaWorkers: number;
  /** Rate of the extra profiled step; 0 = no profile. */
  profileRate: number;
  /** Keep ramping after this many unsustained steps in a row? Stops at the first by default. */
  maxUnsustained: number;
  out: string | undefined;
}

export interface SipCallsReport {
  benchmark: 'sip-calls';
  date: string;
  machine: ReturnType<typeof machineInfo>;
  options: SipCallsOptions;
  steps: StepResult[];
  bestSustained: StepResult | undefined;
  profile?: { rate: number; step: StepResult; summaries: ProfileSummary[] };
  /** The step sampled by Linux perf. */
  perf?: StepResult;
}

async function withServer<T>(
  dataDir: string,
  options: SipCallsOptions,
  cpuProfileDir: string | undefined,
  callee: BenchLine,
  caller: BenchLine,
  run: (context: Context) => Promise<T>,
): Promise<T> {
  const sipPort = await freePort();
  const uasPort = await freePort();
  const uacPort = await freePort();
  const rtpBase = 30_000 + 2 * Math.floor(Math.random() * 2000);
  const server = await startConfabProcess({
    dataDir,
    sipPort,
    rtpPorts: [rtpBase, rtpBase + 5999],
    mediaWorkers: options.mediaWorkers,
    ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }),
    timeoutMs: (options.rates.length + 2) * (options.durationSeconds + 60) * 1000,
  });
  try {
    const context: Context = {
      server,
      sipPort,
      uasPort,
      uacPort,
      uasMediaPort: await freePort(),
      uacMediaPort: await freePort(),
      caller,
      callee,
      durationSeconds: options.durationSeconds,
      limit: options.limit,
    };
    await register(context);
    // Warm-up: JIT, SQLite page cache, worker start.
    await step({ ...context, durationSeconds: 2 }, 20);
    await sleep(1000);
    return await run(context);
  } finally {
    await server.stop();
  }
}

export async function runSipCalls(options: SipCallsOptions): Promise<SipCallsReport> {
  killChildrenOnExit();
  const machine = machineInfo();
  console.log(
    `sip-calls: ${machine.cores} × ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAverage.map((n) => n.toFixed(2)).join(' ')}`,
  );
  const { dataDir, lines } = await prepareDataDir([
    { username: 'benchcaller', extension: '7001' },
    { username: 'benchcallee', extension: '7002' },
  ]);
  const [caller, callee] = lines as [BenchLine, BenchLine];
  const report: SipCallsReport = {
    benchmark: 'sip-calls',
    date: new Date().toISOString(),
    machine,
    options,
    steps: [],
    bestSustained: undefined,
  };
  try {
    await withServer(dataDir, options, undefined, callee, caller, async (context) => {
      let unsustained = 0;
      for (const rate of options.rates) {
        const result = await step(context, rate);
        printStep(result);
        report.steps.push(result);
        if (result.sustained) {
          unsustained = 0;
          if (!report.bestSustained || result.targetRate > report.bestSustained.targetRate) {
            report.bestSustained = result;
          }
        } else if (++unsustained >= options.maxUnsustained) {
          break;
        }
        // Let the server finish transactions (Timer J/K) and collect garbage between steps.
        await sleep(3000);
      }
      if (options.profileRate > 0) {
        // Every thread and the kernel, which V8's profiles do not see.
        const sampled = await step(context, options.profileRate, true);
        console.log('perf step (sampling overhead included):');
        printStep(sampled);
        if (sampled.perf) {
          console.log(formatPerfSummary(`confab at ${options.profileRate} calls/s`, sampled.perf));
          report.perf = sampled;
        } else {
          console.log('perf is not available or failed');
        }
      }
    });

    if (options.profileRate > 0) {
      const profileDir = join(dataDir, 'profiles');
      mkdirSync(profileDir, { recursive: true });
      let profiled: StepResult | undefined;
      await withServer(dataDir, options, profileDir, callee, caller, async (context) => {
        profiled = await step(context, options.profileRate);
        console.log('profiled step (profiler overhead included):');
        printStep(profiled);
      });
      const summaries = (await cpuProfiles(profileDir))
        .map((file) => summarizeProfile(file, 30, profiled?.window))
        .sort((a, b) => b.busyMs - a.busyMs);
      for (const summary of summaries) {
        console.log(formatProfileSummary(summary, 30));
      }
      if (profiled) {
        report.profile = { rate: options.profileRate, step: profiled, summaries };
      }
    }
  } finally {
    await removeDir(dataDir);
  }
  if (report.bestSustained) {
    const best = report.bestSustained;
    console.log(
      `highest sustained rate: ${best.targetRate} calls/s at ${best.confabCpuPercent} % of a core ` +
        `(${best.callsPerCpuSecond} call setups per CPU-second; goal 1000 → ${((best.callsPerCpuSecond / 1000) * 100).toFixed(1)} % of it)`,
    );
  } else {
    console.log('no rate was sustained');
  }
  if (options.out) {
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`report written to ${options.out}`);
  }
  return report;
}

/** `sip-calls [--rates 50,100,…] [--duration 20] [--limit 2000] [--profile-rate N] [--out file]` */
export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rates: { type: 'string', default: '25,50,100,150,200,250,300,400,500,700,1000' },
      duration: { type: 'string', default: '20' },
      limit: { type: 'string', default: '2000' },
      'media-workers': { type: 'string', default: '1' },
      'profile-rate': { type: 'string', default: '0' },
      'max-unsustained': { type: 'string', default: '1' },
      out: { type: 'string' },
    },
  });
  const rates = values.rates
    .split(',')
    .map(Number)
    .filter((rate) => Number.isFinite(rate) && rate > 0);
  const durationSeconds = Number(values.duration);
  if (rates.length === 0 || !(durationSeconds > 0 && durationSeconds <= 600)) {
    throw new Error('--rates needs positive numbers and --duration 1..600 seconds');
  }
  await runSipCalls({
    rates,
    durationSeconds,
    limit: Number(values.limit),
    mediaWorkers: Number(values['media-workers']),
    profileRate: Number(values['profile-rate']),
    maxUnsustained: Number(values['max-unsustained']),
    out: values.out,
  });
}
