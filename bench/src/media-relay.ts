/**
 * Benchmark 2: CPU per relayed RTP packet of the media engine.
 *
 * The engine runs alone in a child process (`media/engine-host.ts`); this process plays the
 * endpoints. For each N, N calls are set up: two client peers per call, each connected to one
 * engine leg, the two legs of a call joined in a relay bridge. Every peer sends 50 packets/s
 * (20 ms frames), so the engine receives and relays 2 × 50 × N packets/s. After a warm-up, the
 * engine's CPU time (/proc utime+stime of its process) is divided by the packets it relayed in
 * the measurement window.
 *
 * Modes: `webrtc` (werift client peers, DTLS-SRTP, Opus: SRTP decrypt + encrypt per relayed
 * packet) and `rtp` (bare RTP/AVP PCMU sockets: no SRTP).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type {
  MediaCommandOf,
  MediaCommandResults,
  MediaCommandType,
  MediaEngineStats,
} from '@confab/media';
import { pinnedCommand } from './lib/affinity.js';
import { formatProfileSummary, monotonicUs, summarizeProfile } from './lib/cpuprofile.js';
import type { ProfileSummary, ProfileWindow } from './lib/cpuprofile.js';
import { cpuProfiles } from './lib/confab.js';
import { formatPerfSummary, perfRecord } from './lib/perf.js';
import type { PerfSummary } from './lib/perf.js';
import { cpuDelta, load1, machineInfo, processCpu, rssMiB, udpDrops } from './lib/proc.js';
import { killChildrenOnExit, sleep, within } from './lib/spawn.js';
import type { HostMessage, HostRequest } from './media/engine-host.js';
import { opusFrames, Pacer, pcmuFrames, RtpPeer, WebRtcPeer } from './media/peers.js';
import type { Peer } from './media/peers.js';

const HOST = fileURLToPath(new URL('./media/engine-host.js', import.meta.url));

export const RelayMode = { WebRtc: 'webrtc', Rtp: 'rtp' } as const;
export type RelayMode = (typeof RelayMode)[keyof typeof RelayMode];

export const EngineMode = { Local: 'local', Worker: 'worker' } as const;
export type EngineMode = (typeof EngineMode)[keyof typeof EngineMode];

/** The engine process, driven over IPC. */
export class EngineHost {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  readonly #connected = new Set<string>();
  #nextId = 1;
  #ready: Promise<void>;
  #exited: Promise<void>;

  /** `cpuList`: run the host (every thread) on these CPUs only, with `taskset -c`. */
  constructor(
    mode: EngineMode,
    ports: [number, number],
    cpuProfileDir?: string,
    workers = 1,
    cpuList?: string,
  ) {
    const nodeArgs = cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir] : [];
    // fork runs `execPath …execArgv module …args`: taskset then execs node with the same pid.
    const pinned = pinnedCommand(cpuList, process.execPath, nodeArgs);
    this.child = fork(HOST, [mode, String(ports[0]), String(ports[1]), String(workers)], {
      execPath: pinned.command,
      execArgv: pinned.args,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    if (this.child.pid === undefined) {
      throw new Error('cannot start the engine host');
    }
    this.pid = this.child.pid;
    this.#exited = new Promise((resolve) => {
      this.child.once('exit', () => {
        resolve();
      });
    });
    this.#ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => {
        reject(new Error(`engine host exited with ${code}`));
        for (const pending of this.#pending.values()) {
          pending.reject(new Error('engine host exited'));
        }
      });
      this.child.on('message', (message: HostMessage) => {
        if (message.type === 'ready') {
          resolve();
        } else if (message.type === 'legState') {
          if (message.state === 'connected') {
            this.#connected.add(message.legId);
          }
        } else {
          const pending = this.#pending.get(message.id);
          this.#pending.delete(message.id);
          if (message.ok) {
            pending?.resolve(message.result);
          } else {
            pending?.reject(new Error(message.error));
          }
        }
      });
    });
    // A rejection before anyone awaits `ready` must not crash the process.
    this.#ready.catch(() => undefined);
  }

  ready(): Promise<void> {
    return this.#ready;
  }

  execute<T extends MediaCommandType>(command: MediaCommandOf<T>): Promise<MediaCommandResults[T]> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      // Every command is bounded: a wedged engine fails the round instead of hanging it.
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`engine command ${command.type} timed out`));
      }, 30_000);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          (resolve as (v: unknown) => void)(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      const request: HostRequest = { id, command };
      this.child.send(request);
    });
  }

  isConnected(legId: string): boolean {
    return this.#connected.has(legId);
  }

  /** Closes the engine and waits for the process to exit (SIGKILL after 10 s). */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.connected) {
      await within(this.execute({ type: 'close' }), 10_000, null).catch(() => null);
    }
    const exited = await within(
      this.#exited.then(() => true),
      10_000,
      false,
    );
    if (!exited) {
      this.child.kill('SIGKILL');
      await this.#exited;
    }
  }
}

async function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(20);
  }
}

/** Runs `task` over `items` with at most `concurrency` at a time. */
async function pool<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        await task(items[next++]!);
      }
    }),
  );
}

/** UDP ports an SDP names: m= lines and ICE host candidates. */
function sdpPorts(sdp: string): number[] {
  const ports = new Set<number>();
  for (const match of sdp.matchAll(/^m=\w+ (\d+) /gm)) {
    ports.add(Number(match[1]));
  }
  for (const match of sdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/gim)) {
    ports.add(Number(match[1]));
  }
  ports.delete(0);
  ports.delete(9);
  return [...ports];
}

/** The UDP ports of both sides, to read the kernel's per-socket drop counters. */
interface Ports {
  engine: Set<number>;
  clients: Set<number>;
}

function addPorts(set: Set<number>, sdp: string): void {
  for (const port of sdpPorts(sdp)) {
    set.add(port);
  }
}

function dropsOn(ports: ReadonlySet<number>): number {
  let total = 0;
  for (const port of ports) {
    total += udpDrops(port) ?? 0;
  }
  return total;
}

/** Sets up one WebRTC call: the first peer offers (calls in), the engine offers to the second. */
async function webrtcCall(
  engine: EngineHost,
  index: number,
  frames: Buffer[],
  ports: Ports,
): Promise<Peer[]> {
  const group = `call-${index}`;
  const alice = new WebRtcPeer(frames);
  const bob = new WebRtcPeer(frames);
  const { legId: a } = await engine.execute({ type: 'createLeg', kind: 'webrtc', group });
  const { legId: b } = await engine.execute({ type: 'createLeg', kind: 'webrtc', group });
  const offerA = await alice.offer();
  const { sdp: answerA } = await engine.execute({ type: 'acceptOffer', legId: a, sdp: offerA });
  await alice.applyAnswer(answerA);
  const { sdp: offerB } = await engine.execute({ type: 'createOffer', legId: b });
  const answerB = await bob.answer(offerB);
  await engine.execute({ type: 'acceptAnswer', legId: b, sdp: answerB });
  addPorts(ports.clients, offerA);
  addPorts(ports.clients, answerB);
  addPorts(ports.engine, answerA);
  addPorts(ports.engine, offerB);
  await Promise.all([alice.connected(), bob.connected()]);
  await until(
    () => engine.isConnected(a) && engine.isConnected(b),
    'engine legs connected',
    20_000,
  );
  await engine.execute({ type: 'bridge', legIdA: a, legIdB: b });
  return [alice, bob];
}

/** Sets up one plain RTP call: the engine offers to both phones. */
async function rtpCall(
  engine: EngineHost,
  index: number,
  frames: Buffer[],
  ports: Ports,
): Promise<Peer[]> {
  const group = `call-${index}`;
  const peers: RtpPeer[] = [];
  const legs: string[] = [];
  for (let side = 0; side < 2; side++) {
    const peer = await RtpPeer.open(frames);
    const { legId } = await engine.execute({ type: 'createLeg', kind: 'rtp', group });
    const { sdp } = await engine.execute({ type: 'createOffer', legId });
    const answer = peer.answer(sdp);
    await engine.execute({ type: 'acceptAnswer', legId, sdp: answer });
    addPorts(ports.engine, sdp);
    addPorts(ports.clients, answer);
    peers.push(peer);
    legs.push(legId);
  }
  await engine.execute({ type: 'bridge', legIdA: legs[0]!, legIdB: legs[1]! });
  return peers;
}

/** The figures of one (mode, N) round. */
export interface RelayRound {
  mode: RelayMode;
  engine: EngineMode;
  calls: number;
  legs: number;
  windowSeconds: number;
  /** Packets the peers sent per second in the window. */
  clientsSentPerSecond: number;
  /** RTP packets the engine's legs accepted per second. */
  engineReceivedPerSecond: number;
  /** Packets the engine relayed (sent) per second in the window. */
  relayedPerSecond: number;
  /** Packets the peers received per second. */
  clientsReceivedPerSecond: number;
  /** Datagrams the kernel dropped (receive buffer full) on the engine's and the peers' sockets. */
  udpDrops: { engine: number; clients: number };
  /** Engine CPU in the window, percent of one core. */
  engineCpuPercent: number;
  /** Engine CPU µs per relayed packet (receive + decrypt + bridge + encrypt + send). */
  usPerRelayedPacket: number;
  /** Legs one core could relay at this per-packet cost (each leg: 50 packets/s in and out). */
  legsPerCore: number;
  /** Packets received by the peers / packets the peers sent, percent, in the window. */
  deliveredPercent: number;
  /** Load generator CPU (this process) in the window, percent of one core. */
  clientCpuPercent: number;
  engineRssMiB: number | undefined;
  load1Before: number;
  load1After: number;
  setupSeconds: number;
  /** The measured interval on CLOCK_MONOTONIC, µs (to cut CPU profiles to it). */
  window: ProfileWindow;
  /** Linux perf summary of the engine process in the window, when asked for. */
  perf?: PerfSummary | undefined;
}

interface RoundOptions {
  mode: RelayMode;
  engine: EngineMode;
  calls: number;
  warmupSeconds: number;
  windowSeconds: number;
  ports: [number, number];
  cpuProfileDir?: string;
  /** Sample the engine process with Linux perf during the window. */
  perf?: boolean;
}

/** The engine's packet counters (a WorkerMediaEngine reports the totals of its workers). */
function packets(stats: MediaEngineStats): { received: number; sent: number } {
  return { received: stats.packetsReceived, sent: stats.packetsSent };
}

async function round(options: RoundOptions): Promise<RelayRound> {
  const engine = new EngineHost(options.engine, options.ports, options.cpuProfileDir);
  const peers: Peer[] = [];
  let pacer: Pacer | undefined;
  try {
    await engine.ready();
    const setupStarted = performance.now();
    const ports: Ports = { engine: new Set(), clients: new Set() };
    const frames = options.mode === RelayMode.WebRtc ? opusFrames() : pcmuFrames();
    const calls = Array.from({ length: options.calls }, (_, index) => index);
    // DTLS handshakes are CPU-heavy: a few at a time, or they time out on 2 cores.
    await pool(calls, options.mode === RelayMode.WebRtc ? 4 : 16, async (index) => {
      const callPeers =
        options.mode === RelayMode.WebRtc
          ? await webrtcCall(engine, index, frames, ports)
          : await rtpCall(engine, index, frames, ports);
      peers.push(...callPeers);
    });
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    pacer = new Pacer(peers);
    await sleep(options.warmupSeconds * 1000);

    const sum = (pick: (peer: Peer) => number): number =>
      peers.reduce((total, peer) => total + pick(peer), 0);
    const load1Before = load1();
    const cpu0 = processCpu(engine.pid);
    const client0 = process.cpuUsage();
    const stats0 = packets(await engine.execute({ type: 'stats' }));
    const engineDrops0 = dropsOn(ports.engine);
    const clientDrops0 = dropsOn(ports.clients);
    const sent0 = sum((peer) => peer.sent);
    const received0 = sum((peer) => peer.received);
    const t0 = performance.now();
    const windowStart = monotonicUs();
    const perf = options.perf ? perfRecord(engine.pid, options.windowSeconds) : undefined;
    await sleep(options.windowSeconds * 1000);
    const windowEnd = monotonicUs();
    const cpu1 = processCpu(engine.pid);
    const client1 = process.cpuUsage(client0);
    const stats1 = packets(await engine.execute({ type: 'stats' }));
    const engineDrops = dropsOn(ports.engine) - engineDrops0;
    const clientDrops = dropsOn(ports.clients) - clientDrops0;
    const sent1 = sum((peer) => peer.sent);
    const received1 = sum((peer) => peer.received);
    const seconds = (performance.now() - t0) / 1000;
    const load1After = load1();
    if (!cpu0 || !cpu1) {
      throw new Error('the engine process is gone');
    }
    const engineCpu = cpuDelta(cpu0, cpu1);
    const relayed = stats1.sent - stats0.sent;
    const usPerPacket = relayed > 0 ? (engineCpu / relayed) * 1e6 : 0;
    const r = (value: number, digits = 1): number =>
      Math.round(value * 10 ** digits) / 10 ** digits;
    return {
      mode: options.mode,
      engine: options.engine,
      calls: options.calls,
      legs: options.calls * 2,
      windowSeconds: r(seconds, 2),
      clientsSentPerSecond: r((sent1 - sent0) / seconds, 0),
      engineReceivedPerSecond: r((stats1.received - stats0.received) / seconds, 0),
      relayedPerSecond: r(relayed / seconds, 0),
      clientsReceivedPerSecond: r((received1 - received0) / seconds, 0),
      udpDrops: { engine: engineDrops, clients: clientDrops },
      engineCpuPercent: r((engineCpu / seconds) * 100),
      usPerRelayedPacket: r(usPerPacket),
      // One leg = 50 packets/s received and 50 relayed out to it: 50 relayed packets/s per leg.
      legsPerCore: r(engineCpu > 0 ? (options.calls * 2) / (engineCpu / seconds) : 0, 0),
      deliveredPercent: r(((received1 - received0) / Math.max(1, sent1 - sent0)) * 100),
      clientCpuPercent: r(((client1.user + client1.system) / 1e6 / seconds) * 100),
      engineRssMiB: r(rssMiB(engine.pid) ?? 0, 0),
      load1Before,
      load1After,
      setupSeconds: r(setupSeconds, 1),
      window: { startUs: windowStart, endUs: windowEnd },
      ...(perf ? { perf: await perf } : {}),
    };
  } finally {
    pacer?.stop();
    await Promise.all(peers.map((peer) => within(peer.close(), 5000, undefined)));
    await engine.close();
  }
}

function printRound(result: RelayRound): void {
  console.log(
    `${result.mode.padEnd(6)} ${result.engine.padEnd(6)} N=${String(result.calls).padStart(3)} calls ` +
      `(${result.legs} legs): pkt/s sent ${result.clientsSentPerSecond} → engine in ${result.engineReceivedPerSecond} → ` +
      `relayed ${result.relayedPerSecond} → peers in ${result.clientsReceivedPerSecond} ` +
      `(UDP drops engine ${result.udpDrops.engine}, peers ${result.udpDrops.clients}); engine ${result.engineCpuPercent} % ` +
      `of a core → ${result.usPerRelayedPacket} µs/packet, ${result.legsPerCore} legs/core; ` +
      `delivered ${result.deliveredPercent} %; clients ${result.clientCpuPercent} %; ` +
      `engine RSS ${result.engineRssMiB} MiB; setup ${result.setupSeconds} s; load ${result.load1Before}→${result.load1After}`,
  );
}

export interface MediaRelayOptions {
  modes: RelayMode[];
  engine: EngineMode;
  calls: number[];
  warmupSeconds: number;
  windowSeconds: number;
  /** Profile one extra round of each mode at this N (0 = no profile). */
  profileCalls: number;
  out: string | undefined;
}

export interface MediaRelayReport {
  benchmark: 'media-relay';
  date: string;
  machine: ReturnType<typeof machineInfo>;
  options: MediaRelayOptions;
  rounds: RelayRound[];
  profiles: { mode: RelayMode; calls: number; round: RelayRound; summaries: ProfileSummary[] }[];
  perf: { mode: RelayMode; calls: number; round: RelayRound }[];
}

export async function runMediaRelay(options: MediaRelayOptions): Promise<MediaRelayReport> {
  killChildrenOnExit();
  const machine = machineInfo();
  console.log(
    `media-relay: ${machine.cores} × ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAverage.map((n) => n.toFixed(2)).join(' ')}`,
  );
  const report: MediaRelayReport = {
    benchmark: 'media-relay',
    date: new Date().toISOString(),
    machine,
    options,
    rounds: [],
    profiles: [],
    perf: [],
  };
  // Below the kernel's ephemeral range (32768+), where the werift clients bind.
  const ports: [number, number] = [20_000, 29_999];
  for (const mode of options.modes) {
    for (const calls of options.calls) {
      const result = await round({ ...options, mode, calls, ports });
      printRound(result);
      report.rounds.push(result);
      await sleep(2000);
    }
    if (options.profileCalls > 0) {
      const dir = mkdtempSync(join(tmpdir(), 'confab-bench-prof-'));
      try {
        const result = await round({
          ...options,
          mode,
          calls: options.profileCalls,
          ports,
          cpuProfileDir: dir,
        });
        console.log('profiled round (profiler overhead included):');
        printRound(result);
        const summaries = (await cpuProfiles(dir))
          .map((file) => summarizeProfile(file, 30, result.window))
          .sort((a, b) => b.busyMs - a.busyMs);
        for (const summary of summaries) {
          console.log(formatProfileSummary(summary, 30));
        }
        report.profiles.push({ mode, calls: options.profileCalls, round: result, summaries });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      // A second round under Linux perf: the kernel and native share V8's profile cannot see.
      const perfRound = await round({
        ...options,
        mode,
        calls: options.profileCalls,
        ports,
        perf: true,
      });
      console.log('perf round (sampling overhead included):');
      printRound(perfRound);
      if (perfRound.perf) {
        console.log(formatPerfSummary(`engine ${mode} N=${options.profileCalls}`, perfRound.perf));
        report.perf.push({ mode, calls: options.profileCalls, round: perfRound });
      } else {
        console.log('perf is not available or failed');
      }
    }
  }
  if (options.out) {
    mkdirSync(join(options.out, '..'), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`report written to ${options.out}`);
  }
  return report;
}

/** `media-relay [--modes webrtc,rtp] [--calls 5,10,20,40] [--engine local|worker] …` */
export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      modes: { type: 'string', default: 'webrtc,rtp' },
      calls: { type: 'string', default: '5,10,20,40' },
      engine: { type: 'string', default: 'local' },
      warmup: { type: 'string', default: '3' },
      window: { type: 'string', default: '15' },
      'profile-calls': { type: 'string', default: '0' },
      out: { type: 'string' },
    },
  });
  const modes = values.modes
    .split(',')
    .filter((m): m is RelayMode => m === 'webrtc' || m === 'rtp');
  const calls = values.calls
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0 && n <= 500);
  const windowSeconds = Number(values.window);
  const warmupSeconds = Number(values.warmup);
  if (
    modes.length === 0 ||
    calls.length === 0 ||
    !(windowSeconds > 0 && windowSeconds <= 300) ||
    !(warmupSeconds >= 0 && warmupSeconds <= 60) ||
    (values.engine !== 'local' && values.engine !== 'worker')
  ) {
    throw new Error(
      'usage: media-relay --modes webrtc,rtp --calls 5,10 (1..500) --window 1..300 --warmup 0..60 --engine local|worker',
    );
  }
  await runMediaRelay({
    modes,
    engine: values.engine,
    calls,
    warmupSeconds,
    windowSeconds,
    profileCalls: Number(values['profile-calls']),
    out: values.out,
  });
}
