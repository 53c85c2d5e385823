/**
 * A client process of the websocketd-fanout benchmark: opens its share of the event websockets
 * (`/api/websocketd/?token=…&version=2`, `subscribe call_updated`, `start`) and stamps every
 * event frame with `process.hrtime.bigint()` as soon as it arrives, before anything else is done
 * with it.
 *
 * Every observed event carries its rank in the run (`bench_seq`, the last key of the bus
 * message, added by ./server-host.ts), so each frame is matched to the server's stamp by its
 * identity, and every socket checks that it receives every event exactly once and in order
 * (a duplicate, a gap or a frame without a rank is counted and fails the run).
 *
 * Two implementations:
 * - `lean` (default): what a load generator written in C would do. A real RFC 6455 client — the
 *   HTTP upgrade with a random `Sec-WebSocket-Key` and a checked `Sec-WebSocket-Accept`
 *   (§4.1–4.2.2), masked client frames (§5.3), pongs to pings (§5.5.2), the v2 protocol with a
 *   real token — on a bare `net` socket read through `onread` into one buffer shared by all the
 *   sockets of the process (no stream machinery, no allocation per read). Frame headers are
 *   parsed by hand; an event's rank is read backwards from the end of its payload, without a
 *   JSON parse; the first socket of the process parses every frame in full as a sample check.
 * - `ws`: the `ws` client library (what a Node application would use), for comparison.
 *
 * IPC from the driver:
 * - `{type: 'open', url, tokens, kind}`: one socket per token; answers `{type: 'ready'}` once
 *   all are started, or `{type: 'failed', reason}`;
 * - `{type: 'reset'}`: forget the stamps (a new run starts at rank 0);
 * - `{type: 'collect'}`: answers `{type: 'stamps', stamps: number[][], badFrames, duplicates,
 *   gaps}` (`stamps[socket][rank]`, ns).
 * While a run lasts it reports `{type: 'got', rank}` each time all its sockets have the event of
 * that rank.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { WebSocket, type RawData } from 'ws';

export type ClientKind = 'lean' | 'ws';

type Command =
  | { type: 'open'; url: string; tokens: string[]; kind: ClientKind }
  | { type: 'reset' }
  | { type: 'collect' }
  | { type: 'close' };

const send = (message: unknown): void => {
  process.send?.(message);
};

const sockets: { terminate(): void }[] = [];
/** Per socket, the receive stamp (ns) of each event by rank, since the last reset. */
let stamps: number[][] = [];
/** Per socket, the rank it expects next. */
let expected: number[] = [];
/** How many sockets have the event of each rank. */
let counts: number[] = [];
/** Frames after `start` that are not a ranked `call_updated` event. */
let badFrames = 0;
/** Events received again (rank below the expected one). */
let duplicates = 0;
/** Events skipped (rank above the expected one). */
let gaps = 0;

const SEQ_KEY = Buffer.from('"bench_seq":');
const CLOSE_BRACE = 0x7d;

/**
 * The rank of an event frame's payload, read backwards from its end: `…"bench_seq":<digits>}}`
 * (the key is the bus message's last one; the v2 frame closes `data` and itself). -1 if absent.
 */
export function eventRank(payload: Buffer, start: number, end: number): number {
  let i = end - 1;
  if (i - start < SEQ_KEY.length + 3 || payload[i] !== CLOSE_BRACE) {
    return -1;
  }
  i--;
  if (payload[i] !== CLOSE_BRACE) {
    return -1;
  }
  i--;
  let rank = 0;
  let scale = 1;
  let digits = 0;
  while (i >= start) {
    const c = payload[i]!;
    if (c < 0x30 || c > 0x39) {
      break;
    }
    rank += (c - 0x30) * scale;
    scale *= 10;
    digits++;
    i--;
  }
  if (digits === 0 || digits > 9) {
    return -1;
  }
  const keyStart = i + 1 - SEQ_KEY.length;
  if (keyStart < start || payload.compare(SEQ_KEY, 0, SEQ_KEY.length, keyStart, i + 1) !== 0) {
    return -1;
  }
  return rank;
}

/** Records event `rank` on socket `index`, received at `stamp` (ns). */
function record(index: number, rank: number, stamp: number): void {
  if (rank < 0) {
    badFrames++;
    return;
  }
  const want = expected[index]!;
  if (rank < want) {
    duplicates++;
    return;
  }
  if (rank > want) {
    gaps += rank - want;
  }
  expected[index] = rank + 1;
  stamps[index]![rank] = stamp;
  const count = (counts[rank] ?? 0) + 1;
  counts[rank] = count;
  if (count === sockets.length) {
    send({ type: 'got', rank });
  }
}

/** The full check the first socket of each process makes on every frame it receives. */
function sampleCheck(text: string, rank: number): void {
  const frame = JSON.parse(text) as {
    op?: string;
    data?: { name?: string; bench_seq?: number };
  };
  if (frame.op !== 'event' || frame.data?.name !== 'call_updated') {
    badFrames++;
  } else if (frame.data.bench_seq !== rank) {
    badFrames++;
  }
}

// ---------------------------------------------------------------------------------------------
// `ws` client

function text(data: RawData): Buffer {
  return Array.isArray(data)
    ? Buffer.concat(data)
    : Buffer.isBuffer(data)
      ? data
      : Buffer.from(data);
}

/** Opens one socket with `ws` and takes it through `init` → `subscribe` → `start`. */
function openWs(url: string, token: string, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url}?token=${encodeURIComponent(token)}&version=2`, {
      perMessageDeflate: false,
    });
    sockets[index] = socket;
    let started = false;
    socket.on('message', (data) => {
      if (started) {
        const stamp = Number(process.hrtime.bigint());
        const bytes = text(data);
        const rank = eventRank(bytes, 0, bytes.length);
        record(index, rank, stamp);
        if (index === 0) {
          sampleCheck(bytes.toString(), rank);
        }
        return;
      }
      const frame = JSON.parse(text(data).toString()) as { op: string };
      if (frame.op === 'init') {
        socket.send(JSON.stringify({ op: 'subscribe', data: { event_name: 'call_updated' } }));
        socket.send(JSON.stringify({ op: 'start' }));
      } else if (frame.op === 'start') {
        started = true;
        resolve();
      }
    });
    socket.once('error', reject);
    socket.once('close', (code) => {
      if (!started) {
        reject(new Error(`socket closed with ${code} before start`));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// lean client

/** RFC 6455 §1.3: the GUID appended to the key for `Sec-WebSocket-Accept`. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A client frame: FIN, `opcode`, masked with a fresh random key (RFC 6455 §5.2–5.3). */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) {
    throw new Error('client frames of this benchmark are short');
  }
  const mask = randomBytes(4);
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) {
    frame[6 + i] = payload[i]! ^ mask[i % 4]!;
  }
  return frame;
}

/**
 * Checks a server's handshake response (RFC 6455 §4.2.2 item 5, §4.1 client requirements):
 * status 101, `Upgrade: websocket`, `Connection: Upgrade`, the accept value of our key, and no
 * extension or subprotocol we did not ask for. Returns why it is refused, or undefined.
 */
export function handshakeError(head: string, key: string): string | undefined {
  const lines = head.split('\r\n');
  if (!/^HTTP\/1\.1 101( |$)/.test(lines[0] ?? '')) {
    return `upgrade refused: ${lines[0]}`;
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
  }
  const accept = createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
  if (headers.get('upgrade')?.toLowerCase() !== 'websocket') {
    return 'no Upgrade: websocket';
  }
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(headers.get('connection') ?? '')) {
    return 'no Connection: Upgrade';
  }
  if (headers.get('sec-websocket-accept') !== accept) {
    return 'wrong Sec-WebSocket-Accept';
  }
  if (headers.has('sec-websocket-extensions') || headers.has('sec-websocket-protocol')) {
    return 'an extension or subprotocol we did not offer';
  }
  return undefined;
}

/**
 * One buffer for every lean socket of the process: `onread` reads into it and the callback
 * consumes the bytes before returning (a partial frame is copied out).
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

const Phase = { Handshake: 0, Setup: 1, Started: 2, Closed: 3 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** Opens one lean socket and takes it through the upgrade, `init` → `subscribe` → `start`. */
function openLean(url: string, token: string, index: number): Promise<void> {
  const target = new URL(`${url}?token=${encodeURIComponent(token)}&version=2`);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    let phase: Phase = Phase.Handshake;
    /** Bytes of an incomplete frame (or handshake) left from the previous read. */
    let pending: Buffer | undefined;
    const fail = (why: string): void => {
      phase = Phase.Closed;
      socket.destroy();
      reject(new Error(why));
    };
    /** Handles one complete frame; false stops the loop (the socket is closed). */
    const frame = (
      data: Buffer,
      start: number,
      end: number,
      opcode: number,
      stamp: number,
    ): boolean => {
      if (opcode === 0x1 && phase === Phase.Started) {
        const rank = eventRank(data, start, end);
        record(index, rank, stamp);
        if (index === 0) {
          sampleCheck(data.toString('utf8', start, end), rank);
        }
        return true;
      }
      if (opcode === 0x9) {
        // RFC 6455 §5.5.2–5.5.3: a pong with the ping's application data.
        socket.write(clientFrame(0xa, Buffer.from(data.subarray(start, end))));
        return true;
      }
      if (opcode === 0xa) {
        return true;
      }
      if (opcode === 0x8) {
        const code = end - start >= 2 ? data.readUInt16BE(start) : 1005;
        if (phase !== Phase.Started) {
          fail(`closed with ${code} before start`);
        } else {
          phase = Phase.Closed;
          badFrames++;
          socket.destroy();
        }
        return false;
      }
      if (opcode !== 0x1) {
        if (phase === Phase.Started) {
          badFrames++;
          return true;
        }
        fail(`unexpected opcode ${opcode} before start`);
        return false;
      }
      const reply = JSON.parse(data.toString('utf8', start, end)) as { op: string };
      if (reply.op === 'init') {
        socket.write(
          Buffer.concat([
            clientFrame(
              0x1,
              Buffer.from(
                JSON.stringify({ op: 'subscribe', data: { event_name: 'call_updated' } }),
              ),
            ),
            clientFrame(0x1, Buffer.from(JSON.stringify({ op: 'start' }))),
          ]),
        );
      } else if (reply.op === 'start') {
        phase = Phase.Started;
        resolve();
      }
      return true;
    };
    /** Frames in `data[0, length)`; keeps the incomplete tail in `pending`. */
    const frames = (data: Buffer, length: number, stamp: number): void => {
      let offset = 0;
      while (phase !== Phase.Closed) {
        const left = length - offset;
        if (left < 2) {
          break;
        }
        const b0 = data[offset]!;
        const b1 = data[offset + 1]!;
        // RFC 6455 §5.2: no extension was negotiated (RSV must be 0), server frames are never
        // masked (§5.1), and this server does not fragment (FIN set).
        if ((b0 & 0xf0) !== 0x80 || (b1 & 0x80) !== 0) {
          fail(`unexpected frame header ${b0.toString(16)} ${b1.toString(16)}`);
          return;
        }
        let size = b1 & 0x7f;
        let header = 2;
        if (size === 126) {
          if (left < 4) {
            break;
          }
          size = data.readUInt16BE(offset + 2);
          header = 4;
        } else if (size === 127) {
          if (left < 10) {
            break;
          }
          size = Number(data.readBigUInt64BE(offset + 2));
          header = 10;
        }
        if (left < header + size) {
          break;
        }
        const start = offset + header;
        offset = start + size;
        if (!frame(data, start, offset, b0 & 0x0f, stamp)) {
          return;
        }
      }
      pending = offset < length ? Buffer.from(data.subarray(offset, length)) : undefined;
    };
    const onRead = (nread: number, buffer: Buffer): boolean => {
      const stamp = Number(process.hrtime.bigint());
      let data = buffer;
      let length = nread;
      if (pending !== undefined) {
        data = Buffer.concat([pending, buffer.subarray(0, nread)]);
        length = data.length;
        pending = undefined;
      }
      if (phase === Phase.Handshake) {
        const end = data.subarray(0, length).indexOf('\r\n\r\n');
        if (end < 0) {
          pending = Buffer.from(data.subarray(0, length));
          return true;
        }
        const refused = handshakeError(data.toString('latin1', 0, end), key);
        if (refused !== undefined) {
          fail(refused);
          return false;
        }
        phase = Phase.Setup;
        data = Buffer.from(data.subarray(end + 4, length));
        length = data.length;
      }
      frames(data, length, stamp);
      return true;
    };
    const socket = net.connect({
      port: Number(target.port),
      host: target.hostname,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: onRead },
    });
    sockets[index] = { terminate: () => socket.destroy() };
    socket.on('connect', () => {
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.once('error', (error) => {
      if (phase !== Phase.Started) {
        reject(error);
      }
    });
    socket.once('close', () => {
      if (phase !== Phase.Started) {
        reject(new Error('socket closed before start'));
      }
      phase = Phase.Closed;
    });
  });
}

async function openAll(url: string, tokens: readonly string[], kind: ClientKind): Promise<void> {
  stamps = tokens.map(() => []);
  expected = tokens.map(() => 0);
  // A few dozen handshakes at a time: the server verifies each token on upgrade.
  const CONCURRENCY = 25;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tokens.length) {
      const index = next++;
      await (kind === 'ws' ? openWs : openLean)(url, tokens[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

// The driver imports this module for its types only; the process logic runs in the child.
if (process.send !== undefined) {
  process.on('message', (raw) => {
    const command = raw as Command;
    switch (command.type) {
      case 'open':
        openAll(command.url, command.tokens, command.kind).then(
          () => {
            send({ type: 'ready' });
          },
          (error: unknown) => {
            send({ type: 'failed', reason: String(error) });
          },
        );
        return;
      case 'reset':
        stamps = sockets.map(() => []);
        expected = sockets.map(() => 0);
        counts = [];
        badFrames = 0;
        duplicates = 0;
        gaps = 0;
        send({ type: 'reset' });
        return;
      case 'collect':
        send({ type: 'stamps', stamps, badFrames, duplicates, gaps });
        return;
      case 'close':
        for (const socket of sockets) {
          socket.terminate();
        }
        process.exit(0);
    }
  });
  process.on('disconnect', () => {
    process.exit(0);
  });
  send({ type: 'hello' });
}
