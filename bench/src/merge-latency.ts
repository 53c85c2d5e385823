/**
 * Benchmark 6: merge latency of an ad-hoc conference — from the calld request
 * `POST /api/calld/1.0/users/me/conferences/adhoc` to the first mixed packet at every
 * participant, on a real `confab start` process with real SIP calls.
 *
 * Three plain RTP SIP phones (`lib/sip-phone.ts`, PCMU, registered with digest auth) each send
 * their own tone: host A 500 Hz, B 800 Hz, C 1100 Hz. A calls B and A calls C (two relayed
 * calls, both answered, audio flowing). Then A's REST client merges them (host call: A→B;
 * participants: B's and C's calls, read from `talking_to` of A's calls). Before the merge
 * nobody hears a tone that only the mix can carry; after it:
 * - A (on its host call) hears C's 1100 Hz, which reached A only on the other call before;
 * - B hears C's 1100 Hz; C hears B's 800 Hz.
 * The first mixed packet at a participant is the first received 20 ms RTP packet whose decoded
 * PCM holds that frequency (Goertzel amplitude ≥ 1000 of the 6000 sent; the tones are whole
 * multiples of 50 Hz, so other tones read ~0 in that bin). Latency = its arrival time − the time
 * the POST was sent, both on this process's monotonic clock. Every merge is torn down
 * (`DELETE …/adhoc/{id}` hangs everyone up) and set up again from new calls.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, prepareDataDir, removeDir, startConfabProcess } from './lib/confab.js';
import { load1, machineInfo } from './lib/proc.js';
import { SipPhone } from './lib/sip-phone.js';
import type { PhoneCall } from './lib/sip-phone.js';
import { killChildrenOnExit, sleep } from './lib/spawn.js';

const ADHOC = '/api/calld/1.0/users/me/conferences/adhoc';
const CALLS = '/api/calld/1.0/users/me/calls';
const HZ = { a: 500, b: 800, c: 1100 } as const;

interface CallView {
  call_id: string;
  peer_caller_id_number: string;
  talking_to: Record<string, string | null>;
}

export interface MergeSample {
  /** POST sent → 201 received, ms. */
  requestMs: number;
  /** POST sent → first mixed packet, ms, per participant. */
  hostMs: number;
  bMs: number;
  cMs: number;
  /** The slowest of the three: every participant has mixed audio. */
  allMs: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

function summary(values: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...values].sort((x, y) => x - y);
  const r = (v: number): number => Math.round(v * 10) / 10;
  return {
    p50: r(percentile(sorted, 50)),
    p99: r(percentile(sorted, 99)),
    max: r(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

async function until(condition: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(5);
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      merges: { type: 'string', default: '50' },
      workers: { type: 'string', default: String(availableParallelism()) },
      out: { type: 'string' },
    },
  });
  const merges = Number(values.merges);
  const workers = Number(values.workers);
  if (!(Number.isInteger(merges) && merges >= 1 && merges <= 1000) || !(workers >= 1)) {
    throw new Error('usage: merge-latency --merges 1..1000 --workers N');
  }
  killChildrenOnExit();
  const machine = machineInfo();
  console.log(
    `merge-latency: ${machine.cores} × ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const { dataDir, lines } = await prepareDataDir([
    { username: 'hosta', extension: '3001' },
    { username: 'peerb', extension: '3002' },
    { username: 'peerc', extension: '3003' },
  ]);
  const sipPort = await freePort();
  const confab = await startConfabProcess({
    dataDir,
    sipPort,
    rtpPorts: [24_000, 27_999],
    mediaWorkers: workers,
    timeoutMs: 30 * 60_000,
  });
  const phones: SipPhone[] = [];
  let pacer: ReturnType<typeof setInterval> | undefined;
  const samples: MergeSample[] = [];
  const load1Before = load1();
  try {
    const frequencies = [HZ.a, HZ.b, HZ.c];
    for (const [index, line] of lines.entries()) {
      const phone = await SipPhone.open({
        username: line.sipUsername,
        password: line.sipSecret,
        extension: line.extension,
        frequency: frequencies[index]!,
        server: { address: '127.0.0.1', port: sipPort },
        domain: '127.0.0.1',
      });
      await phone.register();
      phones.push(phone);
    }
    const [a, b, c] = phones as [SipPhone, SipPhone, SipPhone];
    pacer = setInterval(() => {
      for (const phone of phones) {
        phone.sendFrames();
      }
    }, 20);

    const auth = await fetch(`${confab.httpOrigin}/api/auth/0.1/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('hosta:hosta-Pass-1234').toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ expiration: 3600 }),
    });
    if (auth.status !== 200) {
      throw new Error(`token: ${auth.status} ${await auth.text()}`);
    }
    const token = ((await auth.json()) as { data: { token: string } }).data.token;
    const api = (method: string, path: string, body?: unknown): Promise<Response> =>
      fetch(`${confab.httpOrigin}${path}`, {
        method,
        headers: {
          'x-auth-token': token,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });

    console.log('merge  request  host(A)   B       C      all  (ms from POST sent)');
    for (let merge = 0; merge < merges; merge++) {
      const atB = b.nextIncoming();
      const aToB = await a.call(b.options.extension, HZ.a);
      const bCall = await atB;
      const atC = c.nextIncoming();
      const aToC = await a.call(c.options.extension, HZ.a);
      const cCall = await atC;
      const flowing = (call: PhoneCall): boolean => call.rtp.received > 10;
      await until(() => [aToB, aToC, bCall, cCall].every(flowing), 'audio on both calls', 10_000);
      const listed = await api('GET', CALLS);
      const calls = ((await listed.json()) as { items: CallView[] }).items;
      const hostView = calls.find((call) => call.peer_caller_id_number === b.options.extension);
      const toCView = calls.find((call) => call.peer_caller_id_number === c.options.extension);
      const bCallId = Object.keys(hostView?.talking_to ?? {})[0];
      const cCallId = Object.keys(toCView?.talking_to ?? {})[0];
      if (!hostView || bCallId === undefined || cCallId === undefined) {
        throw new Error(`cannot find the calls: ${JSON.stringify(calls)}`);
      }
      const since = performance.now();
      aToB.rtp.watch = { frequency: HZ.c, since, firstAt: undefined };
      bCall.rtp.watch = { frequency: HZ.c, since, firstAt: undefined };
      cCall.rtp.watch = { frequency: HZ.b, since, firstAt: undefined };
      const t0 = performance.now();
      const created = await api('POST', ADHOC, {
        host_call_id: hostView.call_id,
        participant_call_ids: [bCallId, cCallId],
      });
      const requestMs = performance.now() - t0;
      if (created.status !== 201) {
        throw new Error(`merge ${merge}: ${created.status} ${await created.text()}`);
      }
      const { conference_id: conferenceId } = (await created.json()) as { conference_id: string };
      const watches = [aToB.rtp.watch, bCall.rtp.watch, cCall.rtp.watch];
      await until(
        () => watches.every((watch) => watch.firstAt !== undefined),
        `mixed audio at every participant (merge ${merge})`,
        5000,
      );
      const [hostMs, bMs, cMs] = watches.map((watch) => watch.firstAt! - t0) as [
        number,
        number,
        number,
      ];
      const sample: MergeSample = {
        requestMs,
        hostMs,
        bMs,
        cMs,
        allMs: Math.max(hostMs, bMs, cMs),
      };
      samples.push(sample);
      console.log(
        [merge, requestMs, hostMs, bMs, cMs, sample.allMs]
          .map((v, i) => (i === 0 ? String(v).padStart(5) : v.toFixed(1).padStart(8)))
          .join(' '),
      );
      const deleted = await api('DELETE', `${ADHOC}/${conferenceId}`);
      if (deleted.status !== 204) {
        throw new Error(`delete: ${deleted.status} ${await deleted.text()}`);
      }
      await until(
        () => phones.every((phone) => phone.calls.size === 0),
        'every call hung up',
        5000,
      );
      await sleep(100);
    }
  } finally {
    if (pacer) {
      clearInterval(pacer);
    }
    for (const phone of phones) {
      phone.close();
    }
    await confab.stop();
    await removeDir(dataDir);
  }
  const result = {
    merges: samples.length,
    request: summary(samples.map((s) => s.requestMs)),
    everyParticipant: summary(samples.map((s) => s.allMs)),
    perParticipant: summary(samples.flatMap((s) => [s.hostMs, s.bMs, s.cMs])),
    host: summary(samples.map((s) => s.hostMs)),
  };
  console.log(
    `merge-latency over ${result.merges} merges (ms from POST sent): first mixed packet at every participant p50 ${result.everyParticipant.p50}, p99 ${result.everyParticipant.p99}, max ${result.everyParticipant.max}; ` +
      `any participant p50 ${result.perParticipant.p50}, p99 ${result.perParticipant.p99}; POST → 201 p50 ${result.request.p50}, p99 ${result.request.p99}, max ${result.request.max}; load ${load1Before}→${load1()}`,
  );
  if (values.out !== undefined) {
    mkdirSync(dirname(values.out), { recursive: true });
    writeFileSync(
      values.out,
      `${JSON.stringify({ benchmark: 'merge-latency', date: new Date().toISOString(), machine, workers, result, samples, load1Before, load1After: load1() }, null, 2)}\n`,
    );
    console.log(`report written to ${values.out}`);
  }
}
