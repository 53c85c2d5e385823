/**
 * Benchmark 3: micro-benchmarks of the per-message SIP work, in-process, one thread:
 * parse a typical authenticated INVITE with SDP (as sipp sends it), read the headers every
 * transaction needs, serialize it back, parse a 200 OK, and the digest challenge and
 * verification every INVITE goes through. CPU time per operation (process.cpuUsage).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  buildAuthorization,
  DigestAlgorithm,
  DigestServer,
  getCallId,
  getCSeq,
  getFrom,
  getTo,
  getTopVia,
  parseMessage,
  serializeMessage,
} from '@confab/sip';
import type { SipMessage } from '@confab/sip';
import { machineInfo } from './lib/proc.js';

const CRLF = '\r\n';

const SDP = [
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=sendrecv',
  '',
].join(CRLF);

/** The second (authenticated) INVITE of bench/sipp/uac-load.xml, as it reaches Confab. */
export const INVITE = [
  'INVITE sip:7002@127.0.0.1:5060 SIP/2.0',
  'Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-2;rport',
  'From: "Load" <sip:sipbenchcaller@127.0.0.1>;tag=12345load1',
  'To: <sip:7002@127.0.0.1>',
  'Call-ID: 1-12345@127.0.0.1',
  'CSeq: 2 INVITE',
  'Contact: <sip:sipbenchcaller@127.0.0.1:5061;transport=UDP>',
  'Authorization: Digest username="sipbenchcaller",realm="127.0.0.1",cnonce="6b8b4567",nc=00000001,' +
    'qop=auth,uri="sip:7002@127.0.0.1:5060",nonce="AAABnKc3Ym0AAAAAxq6Cqv3Kp6Xy0HvT1c5dKw",' +
    'response="f5d0f4a3e0cd8b4f2f7a1c2b3d4e5f60",algorithm=MD5,opaque="Zm9vYmFyYmF6cXV4"',
  'Max-Forwards: 70',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
  '',
  SDP,
].join(CRLF);

/** The 200 OK of tests/sipp/uas-answer.xml to Confab's outbound INVITE. */
export const OK_200 = [
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc0nfab7f3a9d2e;rport=5060',
  'From: "Load" <sip:7001@127.0.0.1>;tag=4f2a9c1e',
  'To: <sip:7002@127.0.0.1>;tag=23456uas1',
  'Call-ID: 8e0c6a7a-4c7b-4a8b-9a57-1d3c2b1a0f9e',
  'CSeq: 1 INVITE',
  'Contact: <sip:sipbenchcallee@127.0.0.1:5070;transport=UDP>',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
  '',
  SDP,
].join(CRLF);

export interface MicroResult {
  name: string;
  iterations: number;
  /** CPU ns per operation. */
  nsPerOp: number;
  /** Operations per CPU second. */
  opsPerCpuSecond: number;
}

/** Runs `op` `iterations` times after a warm-up, timed by CPU (user+system) time. */
function measure(name: string, iterations: number, op: (i: number) => unknown): MicroResult {
  let sink: unknown;
  for (let i = 0; i < Math.max(1000, iterations / 5); i++) {
    sink = op(i);
  }
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    sink = op(i);
  }
  const used = process.cpuUsage(start);
  if (sink === Symbol.for('never')) {
    console.log('unreachable');
  }
  const ns = ((used.user + used.system) * 1000) / iterations;
  return {
    name,
    iterations,
    nsPerOp: Math.round(ns),
    opsPerCpuSecond: Math.round(1e9 / ns),
  };
}

/**
 * `DigestServer.verify` on valid, fresh credentials. The credentials are built in batches
 * smaller than the server's nonce table (so none is evicted and reported stale), outside the
 * timed section; every verification must succeed.
 */
function measureVerify(server: DigestServer, iterations: number): MicroResult {
  const batchSize = 2000;
  let cpuUs = 0;
  let done = 0;
  let warm = false;
  while (done < iterations) {
    const batch = Array.from({ length: batchSize }, () =>
      buildAuthorization(server.challenge()[0]!, {
        username: 'sipbenchcaller',
        password: 'benchcaller-secret-5678',
        method: 'INVITE',
        uri: 'sip:7002@127.0.0.1:5060',
      }),
    );
    const start = process.cpuUsage();
    for (const authorization of batch) {
      const result = server.verify(
        { method: 'INVITE', authorization },
        () => 'benchcaller-secret-5678',
      );
      if (!result.ok) {
        throw new Error(`verification failed: ${result.reason}`);
      }
    }
    const used = process.cpuUsage(start);
    if (warm) {
      cpuUs += used.user + used.system;
      done += batch.length;
    }
    warm = true;
  }
  const ns = (cpuUs * 1000) / done;
  return {
    name: 'DigestServer.verify (MD5, qop=auth)',
    iterations: done,
    nsPerOp: Math.round(ns),
    opsPerCpuSecond: Math.round(1e9 / ns),
  };
}

export function runSipMicro(iterations: number): MicroResult[] {
  const invite = Buffer.from(INVITE);
  const ok = Buffer.from(OK_200);
  const parsed = parseMessage(invite);
  const results: MicroResult[] = [];

  results.push(
    measure(`parseMessage(INVITE, ${invite.length} B)`, iterations, () => parseMessage(invite)),
  );
  results.push(
    measure('parseMessage + Via/CSeq/From/To/Call-ID', iterations, () => {
      const message: SipMessage = parseMessage(invite);
      return [
        getTopVia(message),
        getCSeq(message),
        getFrom(message),
        getTo(message),
        getCallId(message),
      ];
    }),
  );
  results.push(measure(`parseMessage(200 OK, ${ok.length} B)`, iterations, () => parseMessage(ok)));
  results.push(measure('serializeMessage(INVITE)', iterations, () => serializeMessage(parsed)));

  // Digest: a fresh nonce per call, as each INVITE of the load test gets its own 401.
  const server = new DigestServer({
    realm: '127.0.0.1',
    secret: 'bench-nonce-key-0123456789',
    algorithms: [DigestAlgorithm.MD5],
  });
  const digestIterations = Math.min(iterations, 50_000);
  results.push(measure('DigestServer.challenge (MD5)', digestIterations, () => server.challenge()));
  results.push(measureVerify(server, digestIterations));
  return results;
}

/** `sip-micro [--iterations 100000] [--out file]` */
export function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      iterations: { type: 'string', default: '100000' },
      out: { type: 'string' },
    },
  });
  const iterations = Number(values.iterations);
  if (!(Number.isInteger(iterations) && iterations >= 1000 && iterations <= 10_000_000)) {
    throw new Error('--iterations must be an integer from 1000 to 10000000');
  }
  const machine = machineInfo();
  console.log(
    `sip-micro: ${machine.cores} × ${machine.cpuModel}, node ${machine.node}, load ${machine.loadAverage.map((n) => n.toFixed(2)).join(' ')}`,
  );
  const results = runSipMicro(iterations);
  for (const result of results) {
    console.log(
      `${result.name.padEnd(44)} ${String(result.nsPerOp).padStart(8)} ns/op  ${String(result.opsPerCpuSecond).padStart(9)} ops/CPU-s`,
    );
  }
  if (values.out) {
    writeFileSync(
      values.out,
      `${JSON.stringify({ benchmark: 'sip-micro', date: new Date().toISOString(), machine, results }, null, 2)}\n`,
    );
  }
  return Promise.resolve();
}
