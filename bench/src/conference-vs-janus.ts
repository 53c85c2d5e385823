/**
 * Benchmark 5: mixed conference participants per core, Confab against Janus AudioBridge, fed by
 * the same load generator in one run.
 *
 * For each N, one round per target, one after the other on the same machine:
 * - the load generator (`media/conference-loadgen.ts`, a child process) opens N plain RTP
 *   phones on 127.0.0.1; `--talkers` of them send a tone each, the others encoded silence, all
 *   in 20 ms packets with the RFC 6464 audio level extension, G.711 µ-law (`--codec pcmu`, the
 *   default) or Opus 48 kHz mono (`--codec opus`, RFC 7587 `opus/48000/2`, negotiated by both
 *   targets);
 * - **confab**: the media engine as the server runs it — a `WorkerMediaEngine` with one worker
 *   per core (`--workers`, default as `confab start`), alone in a child process
 *   (`media/engine-host.ts`). Every phone is a plain RTP leg created like the server does for a
 *   SIP phone that calls in (`createLeg` kind rtp with the call as group, `acceptOffer` with the
 *   phone's SDP offer: the codec + `a=extmap` ssrc-audio-level), then moved into one mixer
 *   (`createMixer`, `addToMixer`; legs of the other worker join through a tunnel);
 * - **janus**: one AudioBridge room (48 kHz, `audiolevel_ext`), every phone a plain RTP
 *   participant (`join` with an `rtp` object).
 * After a warm-up, the CPU time of the mixing process (/proc utime+stime of the engine host or
 * of janus, all threads) over the window gives participants per core = N / CPU fraction. The
 * phones count what they receive (a size is sustained when the generator sent ≥ 95 % of its
 * packets and ≥ 99 % of the expected 50 mixed packets/s per phone arrive), and a listener and a talker decode what they receive: the listener must
 * hear every talker's tone, the talker every other talker's tone and not its own.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  parseCpuList,
  pinnedCommand,
  pinSelf,
  tasksetAvailable,
  threadsAffinity,
} from './lib/affinity.js';
import { cpuProfiles } from './lib/confab.js';
import { formatProfileSummary, monotonicUs, summarizeProfile } from './lib/cpuprofile.js';
import type { ProfileSummary, ProfileWindow } from './lib/cpuprofile.js';
import { Janus } from './lib/janus.js';
import { formatPerfSummary, perfRecord } from './lib/perf.js';
import type { PerfSummary } from './lib/perf.js';
import {
  cpuDelta,
  load1,
  machineInfo,
  maxThreadWait,
  processCpu,
  rssMiB,
  threadsRunQueueWait,
  udpDrops,
} from './lib/proc.js';
import { killChildrenOnExit, sleep, within } from './lib/spawn.js';
import { EngineHost } from './media-relay.js';
import { CODEC_INFO, LEVEL_EXTENSION_ID, PhoneCodec } from './media/conference-loadgen.js';
import type {
  HeardTones,
  LoadgenCounters,
  LoadgenReply,
  LoadgenRequest,
} from './media/conference-loadgen.js';

const LOADGEN = fileURLToPath(new URL('./media/conference-loadgen.js', import.meta.url));
/** Whole periods in 20 ms, so the looped 50-frame tone is seamless. */
const TALKER_HZ = [400, 650, 1000, 1350, 1700, 2050];

export const Target = { Confab: 'confab', Janus: 'janus' } as const;
export type Target = (typeof Target)[keyof typeof Target];

type LoadgenRequestBody = LoadgenRequest extends infer R
  ? R extends { id: number }
    ? Omit<R, 'id'>
    : never
  : never;

/** The load generator process, driven over IPC. */
class Loadgen {
  readonly child: ChildProcess;
  readonly #pending = new Map<number, (reply: LoadgenReply) => void>();
  readonly ready: Promise<void>;
  #next = 1;

  /** `cpuList`: run the generator on these CPUs only, with `taskset -c`. */
  constructor(cpuList?: string) {
    const pinned = pinnedCommand(cpuList, process.execPath, []);
    this.child = fork(LOADGEN, [], {
      execPath: pinned.command,
      execArgv: pinned.args,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => {
        reject(new Error(`load generator exited with ${code}`));
        for (const pending of this.#pending.values()) {
          pending({ id: 0, ok: false, error: 'load generator exited' });
        }
      });
      this.child.on('message', (reply: LoadgenReply) => {
        if (reply.id === 0) {
          resolve();
          return;
        }
        this.#pending.get(reply.id)?.(reply);
        this.#pending.delete(reply.id);
      });
    });
    this.ready.catch(() => undefined);
  }

  request<T>(body: LoadgenRequestBody): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, (reply) => {
        if (reply.ok) {
          resolve(reply.result as T);
        } else {
          reject(new Error(reply.error));
        }
      });
      this.child.send({ ...body, id });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.connected) {
      await within(this.request({ type: 'close' }), 10_000, null).catch(() => null);
    }
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      if (
        !(await within(
          exited.then(() => true),
          5000,
          false,
        ))
      ) {
        this.child.kill('SIGKILL');
      }
    }
  }
}

/** The SDP offer of a SIP phone calling in with Opus and RFC 6464 levels. */
function phoneOffer(codec: PhoneCodec, port: number, index: number): string {
  const pt = CODEC_INFO[codec].payloadType;
  const formats =
    codec === PhoneCodec.Opus
      ? [
          `m=audio ${port} RTP/AVP ${pt} 101`,
          `a=rtpmap:${pt} opus/48000/2`,
          `a=fmtp:${pt} useinbandfec=0; stereo=0; sprop-stereo=0`,
          'a=rtpmap:101 telephone-event/48000',
        ]
      : [
          `m=audio ${port} RTP/AVP ${pt} 101`,
          'a=rtpmap:0 PCMU/8000',
          'a=rtpmap:101 telephone-event/8000',
        ];
  return [
    'v=0',
    `o=phone${index} ${1000 + index} 1 IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    ...formats,
    'a=fmtp:101 0-16',
    `a=extmap:${LEVEL_EXTENSION_ID} urn:ietf:params:rtp-hdrext:ssrc-audio-level`,
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

function answerTarget(answer: string): { address: string; port: number; payloadType: number } {
  const port = /^m=audio (\d+) \S+ (\d+)/m.exec(answer);
  const address = /^c=IN IP4 (\S+)/m.exec(answer)?.[1];
  if (!port || address === undefined) {
    throw new Error(`cannot read the engine's answer:\n${answer}`);
  }
  return { address, port: Number(port[1]), payloadType: Number(port[2]) };
}

/** The figures of one (target, N) round. */
export interface ConferenceRound {
  target: Target;
  codec: PhoneCodec;
  participants: number;
  talkers: number;
  windowSeconds: number;
  /** CPU of the mixing process over the window, percent of one core. */
  cpuPercent: number;
  /** N / CPU fraction: participants one core mixes at this cost. */
  participantsPerCore: number;
  /**
   * N × delivered fraction / CPU fraction: participants per core counting only the mixed
   * packets that were actually delivered (fairer when a target fell behind and sent less).
   */
  deliveredParticipantsPerCore: number;
  /** Packets the phones received / the 50 per phone and second expected, percent. */
  deliveredPercent: number;
  /** The same for the phone that received the fewest. */
  worstPhoneDeliveredPercent: number;
  sentPerSecond: number;
  receivedPerSecond: number;
  /** Confab only: the engine's own RTP counters over the window (all workers). */
  engine?: { receivedPerSecond: number; sentPerSecond: number; dropped: number };
  /**
   * The mixing process's busiest-waiting thread: percent of the window it was runnable but
   * waiting for a CPU (/proc schedstat). High values mean the shared machine starved it.
   */
  maxThreadRunQueueWaitPercent: number;
  /** Datagrams the kernel dropped on the phones' sockets (receive buffer full) in the window. */
  phoneUdpDrops: number;
  /**
   * The load generator sent ≥ 95 % of its 50 packets/s per phone (otherwise the shared machine
   * starved it and the round measures nothing: `sustained` is then false).
   */
  inputComplete: boolean;
  /** Input complete and at least 99 % of the expected mixed packets arrived. */
  sustained: boolean;
  /** The decoded check: listener hears every talker, a talker every other one and not itself. */
  mixedAudioOk: boolean;
  heard: HeardTones[];
  loadgenCpuPercent: number;
  rssMiB: number;
  /** Threads of the mixing process at the end of the window. */
  mixerThreads: number;
  setupSeconds: number;
  load1Before: number;
  load1After: number;
  /** The measurement window on CLOCK_MONOTONIC (to cut CPU profiles to it). */
  window: ProfileWindow;
  /** Linux perf summary of the mixing process in the window (`--profile` rounds). */
  perf?: PerfSummary | undefined;
  /**
   * `--mixer-cpus`/`--loadgen-cpus` rounds: the distinct CPU lists the threads of the mixing
   * process and of the load generator were allowed at the end of the window (one each when
   * pinned as asked).
   */
  affinity?: { mixer: string[]; loadgen: string[] };
}

interface RoundOptions {
  target: Target;
  codec: PhoneCodec;
  participants: number;
  talkers: number;
  workers: number;
  warmupSeconds: number;
  windowSeconds: number;
  janus: Janus | undefined;
  room: number;
  /** Confab only: run the engine host with `--cpu-prof` into this directory. */
  cpuProfileDir?: string;
  /** Sample the mixing process with Linux perf during the window. */
  perf?: boolean;
  /** Pin the engine host (Janus is pinned when started) to these CPUs. */
  mixerCpus?: string | undefined;
  /** Pin the load generator to these CPUs. */
  loadgenCpus?: string | undefined;
}

function threadCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}

/** Tone checks on what a listener (all talkers) and talker 0 (the others, not itself) heard. */
function mixedAudioOk(heard: HeardTones[], frequencies: number[], talkers: number): boolean {
  return heard.every((phone) => {
    const expected = frequencies.filter((_, talker) => talker !== phone.index);
    const own = phone.index < talkers ? frequencies[phone.index] : undefined;
    const weakest = Math.min(...expected.map((f) => phone.amplitudes[String(f)] ?? 0));
    const ownAmplitude = own === undefined ? 0 : (phone.amplitudes[String(own)] ?? 0);
    return phone.packets > 0 && weakest >= 300 && ownAmplitude < weakest / 5;
  });
}

async function round(options: RoundOptions): Promise<ConferenceRound> {
  const { participants: n, talkers } = options;
  const frequencies = TALKER_HZ.slice(0, talkers);
  const loadgen = new Loadgen(options.loadgenCpus);
  let engine: EngineHost | undefined;
  try {
    await loadgen.ready;
    const setupStarted = performance.now();
    const phonePorts = await loadgen.request<number[]>({
      type: 'open',
      codec: options.codec,
      count: n,
      frequencies: Array.from({ length: n }, (_, i) => frequencies[i]),
    });
    let pid: number;
    const targets: { address: string; port: number; payloadType: number }[] = [];
    if (options.target === Target.Confab) {
      engine = new EngineHost(
        'worker',
        [20_000, 29_999],
        options.cpuProfileDir,
        options.workers,
        options.mixerCpus,
      );
      await engine.ready();
      pid = engine.pid;
      const { mixerId } = await engine.execute({ type: 'createMixer', group: 'conference-1' });
      for (let i = 0; i < n; i++) {
        const group = `call-${i}`;
        const { legId } = await engine.execute({ type: 'createLeg', kind: 'rtp', group });
        const { sdp } = await engine.execute({
          type: 'acceptOffer',
          legId,
          sdp: phoneOffer(options.codec, phonePorts[i]!, i),
        });
        targets.push(answerTarget(sdp));
        await engine.execute({ type: 'addToMixer', mixerId, legId });
      }
    } else {
      const janus = options.janus!;
      pid = janus.process.pid;
      await janus.createRoom(options.room);
      for (let i = 0; i < n; i++) {
        const rtp = await janus.joinRtp(
          options.room,
          `phone-${i}`,
          phonePorts[i]!,
          options.codec,
          CODEC_INFO[options.codec].payloadType,
          LEVEL_EXTENSION_ID,
        );
        targets.push({ address: rtp.ip, port: rtp.port, payloadType: rtp.payloadType });
      }
    }
    await loadgen.request({ type: 'targets', targets });
    await loadgen.request({ type: 'start' });
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    await sleep(options.warmupSeconds * 1000);

    const phoneDrops = (): number =>
      phonePorts.reduce((total, port) => total + (udpDrops(port) ?? 0), 0);
    const engineStats = async () => (engine ? await engine.execute({ type: 'stats' }) : undefined);
    const load1Before = load1();
    const drops0 = phoneDrops();
    const e0 = await engineStats();
    const cpu0 = processCpu(pid);
    const wait0 = threadsRunQueueWait(pid);
    const gen0 = processCpu(loadgen.child.pid!);
    const c0 = await loadgen.request<LoadgenCounters>({ type: 'counters' });
    const t0 = performance.now();
    const windowStart = monotonicUs();
    const perf = options.perf ? perfRecord(pid, options.windowSeconds) : undefined;
    await sleep(options.windowSeconds * 1000);
    const windowEnd = monotonicUs();
    const affinity =
      options.mixerCpus !== undefined || options.loadgenCpus !== undefined
        ? { mixer: threadsAffinity(pid), loadgen: threadsAffinity(loadgen.child.pid!) }
        : undefined;
    const cpu1 = processCpu(pid);
    const mixerThreads = threadCount(pid);
    const wait1 = threadsRunQueueWait(pid);
    const gen1 = processCpu(loadgen.child.pid!);
    const c1 = await loadgen.request<LoadgenCounters>({ type: 'counters' });
    const seconds = (performance.now() - t0) / 1000;
    const e1 = await engineStats();
    const drops1 = phoneDrops();
    const load1After = load1();
    if (!cpu0 || !cpu1 || !gen0 || !gen1) {
      throw new Error(`the ${options.target} process is gone`);
    }
    // After the window (decoding costs the load generator, not the mixer).
    const heard = await loadgen.request<HeardTones[]>({
      type: 'verify',
      indexes: [n - 1, 0],
      seconds: 2,
      frequencies,
    });
    const cpu = cpuDelta(cpu0, cpu1) / seconds;
    const expected = n * 50 * seconds;
    const delivered = (c1.received - c0.received) / expected;
    const worst = (c1.minReceived - c0.minReceived) / (50 * seconds);
    const r = (value: number, digits = 1): number =>
      Math.round(value * 10 ** digits) / 10 ** digits;
    return {
      target: options.target,
      codec: options.codec,
      participants: n,
      talkers,
      windowSeconds: r(seconds, 2),
      cpuPercent: r(cpu * 100),
      participantsPerCore: r(cpu > 0 ? n / cpu : 0, 0),
      deliveredParticipantsPerCore: r(cpu > 0 ? (n * Math.min(1, delivered)) / cpu : 0, 0),
      deliveredPercent: r(delivered * 100),
      // minReceived is a minimum at each end, not of the same phone: a lower bound.
      worstPhoneDeliveredPercent: r(Math.max(0, worst) * 100),
      sentPerSecond: r((c1.sent - c0.sent) / seconds, 0),
      receivedPerSecond: r((c1.received - c0.received) / seconds, 0),
      ...(e0 && e1
        ? {
            engine: {
              receivedPerSecond: r((e1.packetsReceived - e0.packetsReceived) / seconds, 0),
              sentPerSecond: r((e1.packetsSent - e0.packetsSent) / seconds, 0),
              dropped: e1.packetsDropped - e0.packetsDropped,
            },
          }
        : {}),
      phoneUdpDrops: drops1 - drops0,
      maxThreadRunQueueWaitPercent: r((maxThreadWait(wait0, wait1) / seconds) * 100),
      inputComplete: (c1.sent - c0.sent) / expected >= 0.95,
      sustained: delivered >= 0.99 && (c1.sent - c0.sent) / expected >= 0.95,
      mixedAudioOk: mixedAudioOk(heard, frequencies, talkers),
      heard,
      loadgenCpuPercent: r((cpuDelta(gen0, gen1) / seconds) * 100),
      rssMiB: r(rssMiB(pid) ?? 0, 0),
      mixerThreads,
      setupSeconds: r(setupSeconds, 1),
      load1Before,
      load1After,
      window: { startUs: windowStart, endUs: windowEnd },
      ...(perf ? { perf: await perf } : {}),
      ...(affinity ? { affinity } : {}),
    };
  } finally {
    await loadgen.close();
    if (engine) {
      await engine.close();
    } else if (options.janus) {
      await within(
        options.janus.destroyRoom(options.room).catch(() => undefined),
        10_000,
        undefined,
      );
    }
  }
}

function printRound(result: ConferenceRound): void {
  const heard = result.heard
    .map(
      (phone) =>
        `#${phone.index}: ${Object.entries(phone.amplitudes)
          .map(([hz, amplitude]) => `${hz} Hz ${amplitude}`)
          .join(', ')}`,
    )
    .join('; ');
  console.log(
    `${result.target.padEnd(6)} ${result.codec} N=${String(result.participants).padStart(4)}: CPU ${result.cpuPercent} % of a core → ` +
      `${result.participantsPerCore} participants/core (${result.deliveredParticipantsPerCore} counting delivered packets only); delivered ${result.deliveredPercent} % ` +
      `(worst phone ≥ ${result.worstPhoneDeliveredPercent} %), ${result.sentPerSecond} pkt/s in, ` +
      `${result.receivedPerSecond} pkt/s out` +
      (result.engine
        ? ` (engine: in ${result.engine.receivedPerSecond}/s, sent ${result.engine.sentPerSecond}/s, dropped ${result.engine.dropped})`
        : '') +
      `, phone UDP drops ${result.phoneUdpDrops}; most run-queue wait of a thread ${result.maxThreadRunQueueWaitPercent} %; ${result.sustained ? 'sustained' : 'NOT sustained'}${result.inputComplete ? '' : ' (load generator starved: input incomplete)'}; ` +
      `mixed audio ${result.mixedAudioOk ? 'ok' : 'WRONG'} (${heard}); load generator ${result.loadgenCpuPercent} %; ` +
      `RSS ${result.rssMiB} MiB; ${result.mixerThreads} threads; setup ${result.setupSeconds} s; load ${result.load1Before}→${result.load1After}` +
      (result.affinity
        ? `; CPUs: mixer ${result.affinity.mixer.join('|')}, load generator ${result.affinity.loadgen.join('|')}`
        : ''),
  );
}

export interface ConferenceReport {
  benchmark: 'conference-vs-janus';
  date: string;
  machine: ReturnType<typeof machineInfo>;
  options: Record<string, unknown>;
  rounds: ConferenceRound[];
  /** `--profile`: one more Confab round per N with V8 CPU profiles, one under Linux perf. */
  profiles: { participants: number; round: ConferenceRound; summaries: ProfileSummary[] }[];
  comparison: {
    participants: number;
    confabPerCore: number;
    janusPerCore: number;
    ratio: number;
  }[];
  /** `--capacity`: the largest N each target sustained on the same CPU budget. */
  capacity?: CapacityReport;
}

/** A size of a capacity search and whether it held. */
export interface CapacityStep {
  participants: number;
  /** Sustained (input complete, ≥ 99 % of the mixed packets back) and the tone check passed. */
  held: boolean;
  cpuPercent: number;
  participantsPerCore: number;
  deliveredPercent: number;
  mixedAudioOk: boolean;
  inputComplete: boolean;
  load1Before: number;
  load1After: number;
  /** The round failed before it measured anything (e.g. the target refused a participant). */
  error?: string;
}

export interface CapacityResult {
  target: Target;
  steps: CapacityStep[];
  /** The largest N that held (undefined: not even the smallest size tried). */
  capacity: number | undefined;
  /** The smallest N that did not hold (undefined: none failed up to the bound). */
  firstFailed: number | undefined;
  /** CPU of the mixing process at the capacity size, and N / that CPU fraction. */
  cpuPercentAtCapacity: number | undefined;
  participantsPerCoreAtCapacity: number | undefined;
  /** Why the search ended. */
  stopped: string;
}

export interface CapacityReport {
  mixerCpus: string;
  loadgenCpus: string;
  workers: number;
  resolution: number;
  results: CapacityResult[];
  /** Confab's capacity / Janus's, when both targets ran and both held at some size. */
  ratio: number | undefined;
}

/**
 * The largest N a target sustains: double from `start` until a size fails or `max` holds, then
 * bisect between the largest size that held and the smallest that failed until they are within
 * `resolution` (relative) of each other. A size counts as failed once `attempts` rounds in a row
 * failed there (a size that holds once holds). Each size is one round; noise can make a larger size
 * hold after a smaller one failed, which the search never tries.
 */
export class CapacitySearch {
  held: number | undefined;
  failed: number | undefined;
  stopped: string | undefined;
  readonly steps: CapacityStep[] = [];
  /** Rounds in a row whose load generator was starved (at the same size). */
  #starved = 0;
  /** Rounds in a row that did not hold at the current size. */
  #failures = 0;

  readonly target: Target;
  readonly start: number;
  readonly max: number;
  readonly min: number;
  readonly resolution: number;
  /** Rounds at a size that must all fail before it counts as failed (noise of a shared machine). */
  readonly attempts: number;

  constructor(
    target: Target,
    start: number,
    max: number,
    min: number,
    resolution: number,
    attempts = 1,
  ) {
    this.attempts = attempts;
    this.target = target;
    this.start = start;
    this.max = max;
    this.min = min;
    this.resolution = resolution;
  }

  /**
   * The next size to try, or undefined when the search is over (`stopped` says why). A size
   * whose round starved the load generator comes again.
   */
  next(): number | undefined {
    if (this.stopped !== undefined) {
      return undefined;
    }
    const { held, failed } = this;
    if (held === undefined && failed === undefined) {
      return this.start;
    }
    if (failed === undefined) {
      return held! >= this.max
        ? this.#stop(`held at the bound (${this.max})`)
        : Math.min(held! * 2, this.max);
    }
    if (held === undefined) {
      return failed <= this.min
        ? this.#stop(`not sustained at ${failed}, the smallest size`)
        : Math.max(this.min, Math.floor(failed / 2));
    }
    if (failed - held <= Math.max(1, Math.ceil(held * this.resolution))) {
      return this.#stop(`bracketed: ${held} held, ${failed} did not`);
    }
    return Math.round((held + failed) / 2);
  }

  record(step: CapacityStep): void {
    this.steps.push(step);
    if (!step.inputComplete && step.error === undefined) {
      // The load generator was starved: the round says nothing about the target. The size is
      // tried again, up to three times in all; then the search ends with what it has.
      if (++this.#starved >= 3) {
        this.#stop(`load generator starved 3 times at ${step.participants}`);
      }
      return;
    }
    this.#starved = 0;
    if (step.held) {
      this.#failures = 0;
      this.held = Math.max(this.held ?? 0, step.participants);
    } else if (++this.#failures >= this.attempts) {
      this.#failures = 0;
      this.failed = Math.min(this.failed ?? Infinity, step.participants);
    }
  }

  result(): CapacityResult {
    const at = this.steps.find((step) => step.held && step.participants === this.held);
    return {
      target: this.target,
      steps: this.steps,
      capacity: this.held,
      firstFailed: this.failed,
      cpuPercentAtCapacity: at?.cpuPercent,
      participantsPerCoreAtCapacity: at?.participantsPerCore,
      stopped: this.stopped ?? 'not finished',
    };
  }

  #stop(reason: string): undefined {
    this.stopped = reason;
    return undefined;
  }
}

/**
 * Two more Confab rounds at the same size: one with V8 CPU profiles of the engine host's main
 * thread and of every media worker (cut to the window), one under Linux perf (all threads,
 * kernel included). Profiler overhead is included in their CPU figures.
 */
async function profileConfab(report: ConferenceReport, options: RoundOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'confab-bench-prof-'));
  try {
    const result = await round({ ...options, cpuProfileDir: dir });
    console.log('profiled round (profiler overhead included):');
    printRound(result);
    const summaries = (await cpuProfiles(dir))
      .map((file) => summarizeProfile(file, 30, result.window))
      .sort((a, b) => b.busyMs - a.busyMs);
    for (const summary of summaries) {
      console.log(formatProfileSummary(summary, 30));
    }
    report.profiles.push({ participants: options.participants, round: result, summaries });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await sleep(2000);
  const perfRound = await round({ ...options, perf: true });
  console.log('perf round (sampling overhead included):');
  printRound(perfRound);
  if (perfRound.perf) {
    console.log(formatPerfSummary(`engine host N=${options.participants}`, perfRound.perf));
  } else {
    console.log('perf is not available or failed');
  }
  report.profiles.push({ participants: options.participants, round: perfRound, summaries: [] });
}

/**
 * `--capacity`: the mixing process on `--mixer-cpus`, the load generator (and this process) on
 * `--loadgen-cpus`; each target's capacity searched with the targets alternating round by round,
 * so the machine's other load falls on both alike.
 */
async function capacity(
  report: ConferenceReport,
  options: Omit<RoundOptions, 'target' | 'participants' | 'room'>,
  searches: CapacitySearch[],
  resolution: number,
): Promise<void> {
  let room = 2000;
  // Bounded: every search ends after at most ~2 log2(max) rounds; this is a backstop.
  for (let rounds = 0; rounds < 60; rounds++) {
    let ran = false;
    for (const search of searches) {
      const participants = search.next();
      if (participants === undefined) {
        continue;
      }
      ran = true;
      let step: CapacityStep;
      const load1Before = load1();
      try {
        const result = await round({
          ...options,
          target: search.target,
          participants,
          room: ++room,
        });
        printRound(result);
        report.rounds.push(result);
        step = {
          participants,
          held: result.sustained && result.mixedAudioOk,
          cpuPercent: result.cpuPercent,
          participantsPerCore: result.participantsPerCore,
          deliveredPercent: result.deliveredPercent,
          mixedAudioOk: result.mixedAudioOk,
          inputComplete: result.inputComplete,
          load1Before: result.load1Before,
          load1After: result.load1After,
        };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        console.log(`${search.target} N=${participants}: round failed: ${message}`);
        step = {
          participants,
          held: false,
          cpuPercent: 0,
          participantsPerCore: 0,
          deliveredPercent: 0,
          mixedAudioOk: false,
          inputComplete: true,
          load1Before,
          load1After: load1(),
          error: message,
        };
      }
      search.record(step);
      console.log(
        `  ${search.target} capacity search: held ${search.held ?? '—'}, failed ${search.failed ?? '—'}`,
      );
      await sleep(2000);
    }
    if (!ran) {
      break;
    }
  }
  const results = searches.map((search) => search.result());
  const confab = results.find((r) => r.target === Target.Confab)?.capacity;
  const janus = results.find((r) => r.target === Target.Janus)?.capacity;
  report.capacity = {
    mixerCpus: options.mixerCpus ?? '',
    loadgenCpus: options.loadgenCpus ?? '',
    workers: options.workers,
    resolution,
    results,
    ratio:
      confab !== undefined && janus !== undefined
        ? Math.round((confab / janus) * 10) / 10
        : undefined,
  };
  for (const result of results) {
    console.log(
      `${result.target} capacity on CPU ${options.mixerCpus}: ${result.capacity ?? 'none'} participants ` +
        `(first failed: ${result.firstFailed ?? '—'}; ${result.stopped})` +
        (result.cpuPercentAtCapacity !== undefined
          ? `, ${result.cpuPercentAtCapacity} % of a core there → ${result.participantsPerCoreAtCapacity}/core`
          : '') +
        `; sizes tried: ${result.steps.map((step) => `${step.participants}${step.held ? '✓' : '✗'}`).join(' ')}`,
    );
  }
  if (report.capacity.ratio !== undefined) {
    console.log(`capacity at equal CPU: Confab/Janus = ${report.capacity.ratio}×`);
  }
}

/** `name=value,…` of per-target numbers (`confab=100,janus=20`) over the defaults. */
function perTarget(text: string, defaults: Record<Target, number>): Record<Target, number> {
  const values = { ...defaults };
  for (const part of text === '' ? [] : text.split(',')) {
    const [name, value] = part.split('=');
    if ((name !== Target.Confab && name !== Target.Janus) || !Number.isInteger(Number(value))) {
      throw new Error(`expected confab=<n>,janus=<n>: ${text}`);
    }
    values[name] = Number(value);
  }
  return values;
}

/**
 * `conference-vs-janus [--participants 20,50,100,200] [--talkers 3] [--window 20] …`, or with
 * `--capacity [--mixer-cpus 0] [--loadgen-cpus 1] [--start confab=100,janus=20]
 * [--max confab=1000,janus=150] [--resolution 0.1]` the largest N each target sustains on the
 * same CPUs.
 */
export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      participants: { type: 'string', default: '20,50,100,200' },
      talkers: { type: 'string', default: '3' },
      codec: { type: 'string', default: 'pcmu' },
      targets: { type: 'string', default: 'confab,janus' },
      workers: { type: 'string' },
      warmup: { type: 'string', default: '5' },
      window: { type: 'string', default: '20' },
      'janus-http-port': { type: 'string', default: '18088' },
      profile: { type: 'boolean', default: false },
      capacity: { type: 'boolean', default: false },
      'mixer-cpus': { type: 'string' },
      'loadgen-cpus': { type: 'string' },
      start: { type: 'string', default: '' },
      max: { type: 'string', default: '' },
      resolution: { type: 'string', default: '0.1' },
      attempts: { type: 'string', default: '2' },
      out: { type: 'string' },
    },
  });
  const counts = values.participants.split(',').map(Number);
  const talkers = Number(values.talkers);
  const targets = values.targets
    .split(',')
    .filter((t): t is Target => t === Target.Confab || t === Target.Janus);
  const codec = values.codec as PhoneCodec;
  const warmupSeconds = Number(values.warmup);
  const windowSeconds = Number(values.window);
  const resolution = Number(values.resolution);
  const attempts = Number(values.attempts);
  const mixerCpus = values['mixer-cpus'] ?? (values.capacity ? '0' : undefined);
  const loadgenCpus = values['loadgen-cpus'] ?? (values.capacity ? '1' : undefined);
  // Like `confab start` (os.availableParallelism(), which counts the CPUs the process may use).
  const workers = Number(
    values.workers ??
      (mixerCpus === undefined ? availableParallelism() : parseCpuList(mixerCpus).length),
  );
  const cores = availableParallelism();
  const cpusOk = (list: string | undefined): boolean =>
    list === undefined || parseCpuList(list).every((cpu) => cpu < cores);
  const starts = perTarget(values.start, { confab: 100, janus: 20 });
  const maxima = perTarget(values.max, { confab: 1000, janus: 150 });
  const minimum = Math.max(talkers + 1, 4);
  if (
    (!values.capacity && counts.some((n) => !Number.isInteger(n) || n < 2 || n > 2000)) ||
    !(talkers >= 1 && talkers <= TALKER_HZ.length) ||
    (!values.capacity && counts.some((n) => n <= talkers)) ||
    targets.length === 0 ||
    (codec !== PhoneCodec.Opus && codec !== PhoneCodec.Pcmu) ||
    !(workers >= 1 && workers <= 64) ||
    !(windowSeconds > 0 && windowSeconds <= 300) ||
    !(warmupSeconds >= 0 && warmupSeconds <= 60) ||
    !(resolution > 0 && resolution < 1) ||
    !(Number.isInteger(attempts) && attempts >= 1 && attempts <= 5) ||
    !cpusOk(mixerCpus) ||
    !cpusOk(loadgenCpus) ||
    Object.values(starts).some((n) => n < minimum || n > 2000) ||
    Object.values(maxima).some((n) => n < minimum || n > 2000)
  ) {
    throw new Error(
      'usage: conference-vs-janus --participants 20,50 (> talkers) --talkers 1..6 --codec pcmu|opus --targets confab,janus --workers 1..64 --window 1..300 --warmup 0..60 ' +
        '[--capacity --mixer-cpus 0 --loadgen-cpus 1 --start confab=100,janus=20 --max confab=1000,janus=150 (≤ 2000) --resolution 0..1 --attempts 1..5]',
    );
  }
  if ((mixerCpus !== undefined || loadgenCpus !== undefined) && !tasksetAvailable()) {
    throw new Error('taskset (util-linux) is not installed');
  }
  if (
    mixerCpus !== undefined &&
    loadgenCpus !== undefined &&
    parseCpuList(mixerCpus).some((cpu) => parseCpuList(loadgenCpus).includes(cpu))
  ) {
    console.log(
      `warning: the mixer's CPUs (${mixerCpus}) and the load generator's (${loadgenCpus}) overlap`,
    );
  }
  killChildrenOnExit();
  if (loadgenCpus !== undefined) {
    // This process only sets rounds up and sleeps through them; keep it off the mixer's CPUs.
    pinSelf(loadgenCpus);
  }
  const machine = machineInfo();
  console.log(
    `conference-vs-janus: ${machine.cores} × ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}` +
      (mixerCpus !== undefined || loadgenCpus !== undefined
        ? `; mixer on CPU ${mixerCpus ?? 'any'} (Confab: ${workers} media worker${workers === 1 ? '' : 's'}), load generator on CPU ${loadgenCpus ?? 'any'}`
        : ''),
  );
  let janus: Janus | undefined;
  if (targets.includes(Target.Janus)) {
    if (!Janus.available()) {
      throw new Error('janus (Debian package) is not installed');
    }
    janus = await Janus.start({
      httpPort: Number(values['janus-http-port']),
      rtpPorts: [12_000, 17_999],
      timeoutMs: 60 * 60_000,
      cpuList: mixerCpus,
    });
  }
  const report: ConferenceReport = {
    benchmark: 'conference-vs-janus',
    date: new Date().toISOString(),
    machine,
    options: {
      counts,
      codec,
      talkers,
      targets,
      workers,
      warmupSeconds,
      windowSeconds,
      mixerCpus,
      loadgenCpus,
      ...(values.capacity ? { capacity: true, starts, maxima, resolution, attempts } : {}),
    },
    rounds: [],
    profiles: [],
    comparison: [],
  };
  const common = {
    codec,
    talkers,
    workers,
    warmupSeconds,
    windowSeconds,
    janus,
    mixerCpus,
    loadgenCpus,
  };
  try {
    if (values.capacity) {
      const searches = targets.map(
        (target) =>
          new CapacitySearch(target, starts[target], maxima[target], minimum, resolution, attempts),
      );
      await capacity(report, common, searches, resolution);
    } else {
      await sizes(report, common, counts, targets, values.profile);
    }
  } finally {
    await janus?.stop();
  }
  if (values.out !== undefined) {
    mkdirSync(dirname(values.out), { recursive: true });
    writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`report written to ${values.out}`);
  }
}

/** The default mode: for each N, one round per target; the ratio of participants per core. */
async function sizes(
  report: ConferenceReport,
  options: Omit<RoundOptions, 'target' | 'participants' | 'room'>,
  counts: number[],
  targets: Target[],
  profile: boolean,
): Promise<void> {
  let room = 1000;
  for (const participants of counts) {
    const perCore: Partial<Record<Target, number>> = {};
    for (const target of targets) {
      const result = await round({ ...options, target, participants, room: ++room });
      printRound(result);
      report.rounds.push(result);
      perCore[target] = result.participantsPerCore;
      await sleep(2000);
    }
    if (perCore.confab !== undefined && perCore.janus !== undefined) {
      const ratio = Math.round((perCore.confab / perCore.janus) * 10) / 10;
      report.comparison.push({
        participants,
        confabPerCore: perCore.confab,
        janusPerCore: perCore.janus,
        ratio,
      });
      console.log(`N=${participants}: Confab/Janus participants per core = ${ratio}×`);
    }
    if (profile && targets.includes(Target.Confab)) {
      await profileConfab(report, {
        ...options,
        target: Target.Confab,
        participants,
        janus: undefined,
        room: 0,
      });
    }
  }
}
