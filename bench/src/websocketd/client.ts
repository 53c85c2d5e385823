/**
 * A client process of the websocketd-fanout benchmark: opens its share of the event websockets
 * (`/api/websocketd/?version=2`, `subscribe call_updated`, `start`) and stamps every event frame
 * with `process.hrtime.bigint()` as soon as `ws` hands it over — before anything else is done
 * with it, so that the stamp of the 250th socket of a batch is not delayed by the parsing of the
 * 249 before it. Frames are matched to the server's stamps by their rank on each socket (every
 * socket receives every observed event, in order); the first socket of each process also parses
 * its frames to check that they are `call_updated` events.
 *
 * IPC from the driver:
 * - `{type: 'open', url, tokens}`: one socket per token; answers `{type: 'ready'}` once all are
 *   started, or `{type: 'failed', reason}`;
 * - `{type: 'reset'}`: forget the stamps (a new run starts at rank 0);
 * - `{type: 'collect'}`: answers `{type: 'stamps', stamps: number[][], badFrames}`.
 * While a run lasts it reports `{type: 'got', rank}` each time all its sockets have the frame of
 * that rank.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { WebSocket, type RawData } from 'ws';

/**
 * `ws`: the `ws` client library (what a Node app would use). `raw`: a minimal RFC 6455 client on
 * a bare TCP socket that only finds frame boundaries, so that the receiving side costs as little
 * CPU as possible on a machine the server shares with its clients.
 */
export type ClientKind = 'ws' | 'raw';

type Command =
  | { type: 'open'; url: string; tokens: string[]; kind: ClientKind }
  | { type: 'reset' }
  | { type: 'collect' }
  | { type: 'close' };

const send = (message: unknown): void => {
  process.send?.(message);
};

const sockets: { terminate(): void }[] = [];
/** Per socket, the receive stamp (ns) of each frame since the last reset. */
let stamps: number[][] = [];
/** How many sockets have the frame of each rank. */
let counts: number[] = [];
let badFrames = 0;

function text(data: RawData): string {
  return Array.isArray(data)
    ? Buffer.concat(data).toString()
    : Buffer.isBuffer(data)
      ? data.toString()
      : Buffer.from(data).toString();
}

function record(index: number, data: RawData, stamp?: number): void {
  const now = stamp ?? Number(process.hrtime.bigint());
  const mine = stamps[index]!;
  const rank = mine.length;
  mine.push(now);
  const count = (counts[rank] ?? 0) + 1;
  counts[rank] = count;
  if (index === 0) {
    const frame = JSON.parse(text(data)) as { op?: string; data?: { name?: string } };
    if (frame.op !== 'event' || frame.data?.name !== 'call_updated') {
      badFrames++;
    }
  }
  if (count === sockets.length) {
    send({ type: 'got', rank });
  }
}

/** Opens one socket and takes it through `init` → `subscribe` → `start`. */
function open(url: string, token: string, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url}?token=${encodeURIComponent(token)}&version=2`, {
      perMessageDeflate: false,
    });
    sockets[index] = socket;
    stamps[index] = [];
    let started = false;
    socket.on('message', (data) => {
      if (started) {
        record(index, data);
        return;
      }
      const frame = JSON.parse(text(data)) as { op: string };
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

/** A client frame: FIN, `opcode`, masked with a random key (RFC 6455 §5.3). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
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
 * The raw client: HTTP upgrade by hand, then a frame splitter. One receive stamp per `data`
 * chunk, taken before any parsing, for every event frame the chunk completes.
 */
function openRaw(url: string, token: string, index: number): Promise<void> {
  const target = new URL(`${url}?token=${encodeURIComponent(token)}&version=2`);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(target.port), target.hostname);
    socket.setNoDelay(true);
    sockets[index] = { terminate: () => socket.destroy() };
    stamps[index] = [];
    let upgraded = false;
    let started = false;
    let pending: Buffer = Buffer.alloc(0);
    socket.on('connect', () => {
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
          `Sec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      const stamp = Number(process.hrtime.bigint());
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      if (!upgraded) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) {
          return;
        }
        if (!pending.subarray(0, 12).toString().includes(' 101')) {
          reject(new Error(`upgrade refused: ${pending.subarray(0, end).toString()}`));
          socket.destroy();
          return;
        }
        upgraded = true;
        pending = pending.subarray(end + 4);
      }
      // RFC 6455 §5.2: unmasked server frames; lengths in 7, 16 or 64 bits.
      for (;;) {
        if (pending.length < 2) {
          break;
        }
        const opcode = pending[0]! & 0x0f;
        let length = pending[1]! & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (pending.length < 4) {
            break;
          }
          length = pending.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (pending.length < 10) {
            break;
          }
          length = Number(pending.readBigUInt64BE(2));
          offset = 10;
        }
        if (pending.length < offset + length) {
          break;
        }
        const payload = pending.subarray(offset, offset + length);
        pending = pending.subarray(offset + length);
        if (opcode === 0x9) {
          socket.write(clientFrame(0xa, payload));
        } else if (opcode === 0x8) {
          socket.destroy();
        } else if (started) {
          record(index, payload, stamp);
        } else {
          const frame = JSON.parse(payload.toString()) as { op: string };
          if (frame.op === 'init') {
            socket.write(
              clientFrame(
                0x1,
                Buffer.from(
                  JSON.stringify({ op: 'subscribe', data: { event_name: 'call_updated' } }),
                ),
              ),
            );
            socket.write(clientFrame(0x1, Buffer.from(JSON.stringify({ op: 'start' }))));
          } else if (frame.op === 'start') {
            started = true;
            resolve();
          }
        }
      }
    });
    socket.once('error', reject);
    socket.once('close', () => {
      if (!started) {
        reject(new Error('raw socket closed before start'));
      }
    });
  });
}

async function openAll(url: string, tokens: readonly string[], kind: ClientKind): Promise<void> {
  // A few dozen handshakes at a time: the server verifies each token on upgrade.
  const CONCURRENCY = 25;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tokens.length) {
      const index = next++;
      await (kind === 'raw' ? openRaw : open)(url, tokens[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

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
      counts = [];
      badFrames = 0;
      send({ type: 'reset' });
      return;
    case 'collect':
      send({ type: 'stamps', stamps, badFrames });
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
