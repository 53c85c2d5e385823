/**
 * Benchmark: latency from a call state change to `call_updated` received on 1,000 event
 * websockets (`/api/websocketd/`, protocol v2).
 *
 * - The server (./websocketd/server-host.ts) is the real `startConfab` in its own process; the
 *   bus given to its telephony core stamps each `call_updated` of the observed user with
 *   CLOCK_MONOTONIC just before publishing it (right after the channel's state changed).
 * - One real call is up: a sipp UAC (bench/sipp/uac-talk.xml) as user `owner` calls a registered
 *   sipp UAS (tests/sipp/uas-answer.xml) as user `peer`.
 * - `--processes` client processes (./websocketd/client.ts) open `--sockets` websockets in all,
 *   authenticated with `--tokens` tokens of `owner` (round robin), subscribed to `call_updated`,
 *   started. Each stamps every frame on arrival with the same clock.
 * - Sources of events: `rest` — `PUT /api/calld/1.0/users/me/calls/{id}/mute/start|stop` from this
 *   process, the full path (HTTP, call control, channel, CallEventPublisher, bus, websocketd);
 *   `bus` — the server republishes the last real `call_updated` on the bus (websocketd alone).
 * - Modes: `serial` — one event at a time, the next once every socket has the previous one
 *   (plus `--gap-ms`); `burst` — `--rate` events per second without waiting.
 *
 * Latency of a delivery = client stamp − server stamp. Reported per delivery (p50/p90/p99/max
 * over events × sockets) and per event (the last socket's latency), with the server's CPU time
 * (utime + stime, all threads) per event and the load average.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, prepareDataDir, REPO_ROOT, removeDir } from './lib/confab.js';
import { cpuDelta, load1, machineInfo, processCpu } from './lib/proc.js';
import { runSipp } from './lib/sipp.js';
import type { SippRun } from './lib/sipp.js';
import { killChildrenOnExit, sleep, spawnBounded, within } from './lib/spawn.js';
import type { Spawned } from './lib/spawn.js';
import type { ClientKind } from './websocketd/client.js';

const UAC_SCENARIO = join(REPO_ROOT, 'bench/sipp/uac-talk.xml');
const UAS_SCENARIO = join(REPO_ROOT, 'tests/sipp/uas-answer.xml');
const REGISTER_SCENARIO = join(REPO_ROOT, 'tests/sipp/register.xml');
const HOST_SCRIPT = join(REPO_ROOT, 'bench/dist/websocketd/server-host.js');
const CLIENT_SCRIPT = join(REPO_ROOT, 'bench/dist/websocketd/client.js');
const CALLS = '/api/calld/1.0/users/me/calls';

export type Source = 'rest' | 'bus';
export type Mode = 'serial' | 'burst';

export interface FanoutOptions {
  sockets: number;
  processes: number;
  tokens: number;
  events: number;
  burstEvents: number;
  rate: number;
  gapMs: number;
  runs: number;
  sources: Source[];
  modes: Mode[];
  /** The client implementation (see ./websocketd/client.ts). */
  client: ClientKind;
  /** Another build of @confab/server (its dist directory), e.g. the one before a change. */
  serverModule: string | undefined;
  out: string | undefined;
}

/** Percentiles of a sample, ms. */
export interface Distribution {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface RunResult {
  run: number;
  source: Source;
  mode: Mode;
  events: number;
  deliveries: number;
  /** Per delivery (event × socket). */
  delivery: Distribution;
  /** Per event: the last socket's latency. */
  lastSocket: Distribution;
  /** Per event: server stamp → the publication returned (every socket's write issued). */
  fanout: Distribution;
  serverCpuMsPerEvent: number;
  clientCpuMsPerEvent: number;
  wallSeconds: number;
  load1Before: number;
  load1After: number;
  /** Frames that arrived after the server's stamps were collected (not counted). */
  extraFrames: number;
  /** Frames after `start` that were not a ranked `call_updated` (or failed the sample parse). */
  badFrames: number;
  /** Deliveries of an event a socket already had. */
  duplicates: number;
  /** (socket, event) pairs never received. */
  missing: number;
}

/** Nearest-rank percentiles of `values` (sorted in place). */
export function distribution(values: number[]): Distribution {
  values.sort((a, b) => a - b);
  const at = (p: number): number =>
    values.length === 0
      ? Number.NaN
      : values[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)]!;
  return {
    count: values.length,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    max: values.length === 0 ? Number.NaN : values[values.length - 1]!,
  };
}

/** A node child process spoken to over IPC. */
class Peer {
  readonly process: Spawned;
  readonly #waiters: { type: string; resolve: (message: Record<string, unknown>) => void }[] = [];
  /** Messages that arrived before anyone waited for them. */
  readonly #unclaimed: Record<string, unknown>[] = [];
  /** Highest rank every socket of this client has. */
  doneRank = -1;
  /** Who waits for a rank (see {@link Peer.reached}). */
  #rankWaiters: { rank: number; resolve: () => void }[] = [];

  constructor(script: string, args: readonly string[], timeoutMs: number) {
    this.process = spawnBounded(process.execPath, [script, ...args], {
      timeoutMs,
      cwd: REPO_ROOT,
      ipc: true,
    });
    this.process.child.on('message', (raw) => {
      const message = raw as Record<string, unknown>;
      if (message['type'] === 'got') {
        this.doneRank = Math.max(this.doneRank, message['rank'] as number);
        const due = this.#rankWaiters.filter((w) => w.rank <= this.doneRank);
        if (due.length > 0) {
          this.#rankWaiters = this.#rankWaiters.filter((w) => w.rank > this.doneRank);
          for (const waiter of due) {
            waiter.resolve();
          }
        }
        return;
      }
      const index = this.#waiters.findIndex((w) => w.type === message['type']);
      if (index >= 0) {
        this.#waiters.splice(index, 1)[0]!.resolve(message);
      } else {
        this.#unclaimed.push(message);
      }
    });
  }

  /** Resolves once every socket of this client has the event of `rank` (no polling). */
  reached(rank: number): Promise<void> {
    if (this.doneRank >= rank) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#rankWaiters.push({ rank, resolve });
    });
  }

  /** Forgets the ranks of the previous run. */
  resetRanks(): void {
    this.doneRank = -1;
    this.#rankWaiters = [];
  }

  get pid(): number {
    return this.process.pid;
  }

  send(message: unknown): void {
    this.process.child.send(message as object);
  }

  /** The next message of `type` (or of one of `types`), within `ms`. */
  async next(type: string, ms = 60_000): Promise<Record<string, unknown>> {
    const early = this.#unclaimed.findIndex((m) => m['type'] === type);
    if (early >= 0) {
      return this.#unclaimed.splice(early, 1)[0]!;
    }
    let resolve!: (message: Record<string, unknown>) => void;
    const promise = new Promise<Record<string, unknown>>((r) => {
      resolve = r;
    });
    this.#waiters.push({ type, resolve });
    const result = await within(promise, ms, undefined);
    if (result === undefined) {
      throw new Error(
        `no '${type}' from pid ${this.pid} within ${ms} ms: ${this.process.stderr()}`,
      );
    }
    return result;
  }

  async request(message: { type: string; [key: string]: unknown }, reply: string, ms?: number) {
    const answer = this.next(reply, ms);
    this.send(message);
    return answer;
  }
}

interface Context {
  options: FanoutOptions;
  httpUrl: string;
  host: Peer;
  clients: Peer[];
  ownerToken: string;
  ownerUuid: string;
  callId: string;
}

async function logIn(httpUrl: string, username: string, password: string) {
  const response = await fetch(`${httpUrl}/api/auth/0.1/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ expiration: 7200 }),
  });
  if (response.status !== 200) {
    throw new Error(`log in of ${username}: HTTP ${response.status} ${await response.text()}`);
  }
  const body = (await response.json()) as { data: { token: string; metadata: { uuid: string } } };
  return { token: body.data.token, userUuid: body.data.metadata.uuid };
}

async function myCalls(httpUrl: string, token: string) {
  const response = await fetch(`${httpUrl}${CALLS}`, { headers: { 'x-auth-token': token } });
  const body = (await response.json()) as { items: { call_id: string; status: string }[] };
  return body.items;
}

async function mute(context: Context, on: boolean): Promise<number> {
  const response = await fetch(
    `${context.httpUrl}${CALLS}/${context.callId}/mute/${on ? 'start' : 'stop'}`,
    { method: 'PUT', headers: { 'x-auth-token': context.ownerToken } },
  );
  await response.arrayBuffer();
  return response.status;
}

async function waitForRank(clients: readonly Peer[], rank: number, ms: number): Promise<void> {
  const all = Promise.all(clients.map((c) => c.reached(rank))).then(() => true);
  if (!(await within(all, ms, false))) {
    throw new Error(
      `event ${rank} not received by every socket within ${ms} ms ` +
        `(ranks: ${clients.map((c) => c.doneRank).join(',')})`,
    );
  }
}

async function oneRun(context: Context, run: number, source: Source, mode: Mode) {
  const { host, clients, options } = context;
  await Promise.all(clients.map((c) => c.request({ type: 'reset' }, 'reset')));
  for (const client of clients) {
    client.resetRanks();
  }
  // The mute state alternates from run to run; start from "not muted" so every request changes it.
  if (source === 'rest') {
    await mute(context, false);
  }
  await host.request({ type: 'observe', userUuid: context.ownerUuid }, 'observing');
  await sleep(200);
  const load1Before = load1();
  const cpuBefore = processCpu(host.pid);
  const clientCpuBefore = clients.map((c) => processCpu(c.pid));
  const started = performance.now();
  let events: number;
  if (mode === 'serial') {
    events = options.events;
    for (let i = 0; i < events; i++) {
      if (source === 'rest') {
        const status = await mute(context, i % 2 === 0);
        if (status !== 204) {
          throw new Error(`mute: HTTP ${status}`);
        }
      } else {
        host.send({ type: 'publish' });
      }
      await waitForRank(clients, i, 10_000);
      if (options.gapMs > 0) {
        await sleep(options.gapMs);
      }
    }
  } else {
    events = options.burstEvents;
    const intervalMs = 1000 / options.rate;
    if (source === 'rest') {
      const replies: Promise<number>[] = [];
      const t0 = performance.now();
      for (let i = 0; i < events; i++) {
        const due = t0 + i * intervalMs;
        const wait = due - performance.now();
        if (wait > 1) {
          await sleep(wait);
        }
        replies.push(mute(context, i % 2 === 0));
      }
      await Promise.all(replies);
    } else {
      host.send({ type: 'burst', count: events, intervalMs });
    }
  }
  // Every published event reaches every socket; the server's stamps say how many there were.
  let serverStamps: number[] = [];
  let serverEnds: number[] = [];
  // A loaded machine can take long to publish a burst: wait for all of it, within bounds.
  const deadline = Date.now() + 180_000;
  for (;;) {
    const collected = await host.request({ type: 'collect' }, 'stamps');
    serverStamps = collected['stamps'] as number[];
    serverEnds = collected['ends'] as number[];
    if (serverStamps.length >= events || Date.now() > deadline) {
      break;
    }
    await sleep(50);
  }
  await waitForRank(clients, serverStamps.length - 1, 30_000);
  const wallSeconds = (performance.now() - started) / 1000;
  const cpuAfter = processCpu(host.pid);
  const clientCpuAfter = clients.map((c) => processCpu(c.pid));
  const load1After = load1();

  const deliveries: number[] = [];
  const lastSocket = new Array<number>(serverStamps.length).fill(0);
  let badFrames = 0;
  let extraFrames = 0;
  let duplicates = 0;
  let missing = 0;
  for (const client of clients) {
    const reply = await client.request({ type: 'collect' }, 'stamps');
    badFrames += reply['badFrames'] as number;
    duplicates += reply['duplicates'] as number;
    // Sparse on the client side: a rank a socket never received arrives as null.
    for (const socketStamps of reply['stamps'] as (number | null)[][]) {
      for (let k = 0; k < serverStamps.length; k++) {
        const received = socketStamps[k];
        if (received === undefined || received === null) {
          missing++;
          continue;
        }
        const ms = (received - serverStamps[k]!) / 1e6;
        deliveries.push(ms);
        lastSocket[k] = Math.max(lastSocket[k]!, ms);
      }
      if (socketStamps.length > serverStamps.length) {
        extraFrames += socketStamps.length - serverStamps.length;
      }
    }
  }
  const count = serverStamps.length;
  const clientCpu = clients.reduce((sum, _c, i) => {
    const before = clientCpuBefore[i];
    const after = clientCpuAfter[i];
    return sum + (before && after ? cpuDelta(before, after) : 0);
  }, 0);
  const result: RunResult = {
    run,
    source,
    mode,
    events: count,
    deliveries: deliveries.length,
    delivery: distribution(deliveries),
    lastSocket: distribution(lastSocket),
    fanout: distribution(
      serverEnds.slice(0, count).map((end, k) => (end - serverStamps[k]!) / 1e6),
    ),
    serverCpuMsPerEvent:
      cpuBefore && cpuAfter && count > 0 ? (cpuDelta(cpuBefore, cpuAfter) * 1000) / count : NaN,
    clientCpuMsPerEvent: count > 0 ? (clientCpu * 1000) / count : NaN,
    wallSeconds,
    load1Before,
    load1After,
    badFrames,
    extraFrames,
    duplicates,
    missing,
  };
  return result;
}

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '–');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');

export function formatRow(r: RunResult): string {
  const d = r.delivery;
  const l = r.lastSocket;
  return [
    `${r.source.padEnd(4)} ${r.mode.padEnd(6)} run ${r.run}`,
    `events ${String(r.events).padStart(4)}`,
    `delivery p50/p90/p99/max ${f2(d.p50)}/${f2(d.p90)}/${f2(d.p99)}/${f1(d.max)} ms`,
    `last-socket p50/p99 ${f2(l.p50)}/${f2(l.p99)} ms`,
    `server fan-out p50/p99 ${f2(r.fanout.p50)}/${f2(r.fanout.p99)} ms`,
    `server CPU ${f2(r.serverCpuMsPerEvent)} ms/event`,
    `clients ${f2(r.clientCpuMsPerEvent)} ms/event`,
    `load ${r.load1Before.toFixed(1)}→${r.load1After.toFixed(1)}`,
    r.badFrames + r.duplicates + r.missing === 0
      ? 'every socket got every event once'
      : `INVALID: ${r.badFrames} bad frames, ${r.duplicates} duplicates, ${r.missing} missing`,
    r.extraFrames > 0 ? `(${r.extraFrames} late frames ignored)` : '',
  ]
    .filter((s) => s !== '')
    .join(' | ');
}

export async function runFanout(options: FanoutOptions): Promise<RunResult[]> {
  killChildrenOnExit();
  const { dataDir } = await prepareDataDir([
    { username: 'owner', extension: '2001' },
    { username: 'peer', extension: '2002' },
  ]);
  const sipPort = await freePort();
  const rtpBase = 30000 + 2 * Math.floor(Math.random() * 5000);
  const host = new Peer(
    HOST_SCRIPT,
    [
      JSON.stringify({
        dataDir,
        sipPort,
        rtpPorts: [rtpBase, rtpBase + 99],
        staticDir: join(REPO_ROOT, 'apps/phone/dist'),
        ...(options.serverModule === undefined
          ? {}
          : { serverModule: pathToFileURL(join(resolve(options.serverModule), 'index.js')).href }),
      }),
    ],
    3600_000,
  );
  const sipps: SippRun[] = [];
  const clients: Peer[] = [];
  const results: RunResult[] = [];
  try {
    const ready = await host.next('ready', 60_000);
    const httpUrl = ready['httpUrl'] as string;
    // The peer registers, a UAS answers as the peer, the owner calls it and stays in the call.
    const uasPort = await freePort();
    const register = runSipp(
      REGISTER_SCENARIO,
      [
        ...['-p', String(await freePort()), '-m', '1'],
        ...['-au', 'sippeer', '-ap', 'peer-secret-5678', '-s', 'sippeer'],
        ...['-key', 'contact_port', String(uasPort), '-key', 'expires', '3600'],
        `127.0.0.1:${sipPort}`,
      ],
      { timeoutSeconds: 10 },
    );
    if ((await register.done).exit.code !== 0) {
      throw new Error('REGISTER of the peer failed');
    }
    sipps.push(
      runSipp(
        UAS_SCENARIO,
        [
          ...['-p', String(uasPort), '-mp', String(await freePort())],
          ...['-m', '1', '-s', 'sippeer'],
        ],
        { timeoutSeconds: 3600 },
      ),
    );
    await sleep(300);
    sipps.push(
      runSipp(
        UAC_SCENARIO,
        [
          ...['-p', String(await freePort()), '-mp', String(await freePort())],
          ...['-m', '1', '-d', '3600000', '-au', 'sipowner', '-ap', 'owner-secret-5678'],
          ...['-s', '2002', '-key', 'caller', 'sipowner', `127.0.0.1:${sipPort}`],
        ],
        { timeoutSeconds: 3600 },
      ),
    );
    const owner = await logIn(httpUrl, 'owner', 'owner-Pass-1234');
    let callId: string | undefined;
    for (let i = 0; i < 100 && callId === undefined; i++) {
      callId = (await myCalls(httpUrl, owner.token)).find((c) => c.status === 'Up')?.call_id;
      if (callId === undefined) {
        await sleep(100);
      }
    }
    if (callId === undefined) {
      throw new Error('the call of the owner did not come up');
    }
    // The socket tokens: `--tokens` sessions of the owner (the cap is 100 per user).
    const tokens = [owner.token];
    while (tokens.length < options.tokens) {
      tokens.push((await logIn(httpUrl, 'owner', 'owner-Pass-1234')).token);
    }
    const wsUrl = `${httpUrl.replace(/^http/, 'ws')}/api/websocketd/`;
    const perProcess = Math.ceil(options.sockets / options.processes);
    for (let p = 0; p < options.processes; p++) {
      const count = Math.min(perProcess, options.sockets - p * perProcess);
      if (count <= 0) {
        break;
      }
      const client = new Peer(CLIENT_SCRIPT, [], 3600_000);
      await client.next('hello');
      const mine = Array.from(
        { length: count },
        (_x, i) => tokens[(p * perProcess + i) % tokens.length]!,
      );
      client.send({ type: 'open', url: wsUrl, tokens: mine, kind: options.client });
      clients.push(client);
    }
    for (const client of clients) {
      await Promise.race([
        client.next('ready', 120_000),
        client.next('failed', 120_000).then((failure) => {
          throw new Error(`client ${client.pid}: ${String(failure['reason'])}`);
        }),
      ]);
    }
    const context: Context = {
      options,
      httpUrl,
      host,
      clients,
      ownerToken: owner.token,
      callId,
      ownerUuid: owner.userUuid,
    };
    // A first real call_updated, which the `bus` source republishes.
    await mute(context, true);
    await mute(context, false);
    console.log(
      `${options.sockets} sockets in ${clients.length} processes, ${tokens.length} tokens of ` +
        `one user; ${options.client} clients; call ${callId}; server pid ${host.pid}` +
        (options.serverModule === undefined ? '' : `; server build ${options.serverModule}`),
    );
    for (let run = 1; run <= options.runs; run++) {
      for (const source of options.sources) {
        for (const mode of options.modes) {
          const result = await oneRun(context, run, source, mode);
          results.push(result);
          console.log(formatRow(result));
        }
      }
    }
  } finally {
    for (const client of clients) {
      client.process.kill('SIGKILL');
    }
    if (host.process.child.connected) {
      host.send({ type: 'stop' });
    }
    if (!(await within(host.process.exited, 10_000, undefined))) {
      host.process.kill('SIGKILL');
    }
    for (const sipp of sipps) {
      await sipp.stop();
    }
    await removeDir(dataDir);
  }
  if (options.out) {
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(
      options.out,
      JSON.stringify({ machine: machineInfo(), options, results }, null, 2),
    );
  }
  return results;
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      sockets: { type: 'string', default: '1000' },
      processes: { type: 'string', default: '1' },
      tokens: { type: 'string', default: '100' },
      events: { type: 'string', default: '300' },
      'burst-events': { type: 'string', default: '500' },
      rate: { type: 'string', default: '50' },
      'gap-ms': { type: 'string', default: '5' },
      runs: { type: 'string', default: '3' },
      sources: { type: 'string', default: 'rest,bus' },
      modes: { type: 'string', default: 'serial,burst' },
      'server-dist': { type: 'string' },
      client: { type: 'string', default: 'lean' },
      out: { type: 'string' },
    },
  });
  const list = <T extends string>(text: string, allowed: readonly T[]): T[] => {
    const items = text.split(',').map((s) => s.trim());
    for (const item of items) {
      if (!allowed.includes(item as T)) {
        throw new Error(`unknown value ${item}; expected ${allowed.join(',')}`);
      }
    }
    return items as T[];
  };
  const options: FanoutOptions = {
    sockets: Number(values.sockets),
    processes: Number(values.processes),
    tokens: Number(values.tokens),
    events: Number(values.events),
    burstEvents: Number(values['burst-events']),
    rate: Number(values.rate),
    gapMs: Number(values['gap-ms']),
    runs: Number(values.runs),
    sources: list(values.sources, ['rest', 'bus'] as const),
    modes: list(values.modes, ['serial', 'burst'] as const),
    client: list(values.client, ['lean', 'ws'] as const)[0]!,
    serverModule: values['server-dist'],
    out: values.out,
  };
  if (!(
    options.sockets > 0 &&
    options.processes > 0 &&
    options.tokens > 0 &&
    options.tokens <= 100
  )) {
    throw new Error('--sockets and --processes must be positive, --tokens 1..100');
  }
  const results = await runFanout(options);
  const invalid = results.filter((r) => r.badFrames + r.duplicates + r.missing > 0);
  if (invalid.length > 0) {
    throw new Error(`${invalid.length} run(s) where a socket did not get every event exactly once`);
  }
}
