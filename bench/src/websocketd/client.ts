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
import { WebSocket, type RawData } from 'ws';

type Command =
  | { type: 'open'; url: string; tokens: string[] }
  | { type: 'reset' }
  | { type: 'collect' }
  | { type: 'close' };

const send = (message: unknown): void => {
  process.send?.(message);
};

const sockets: WebSocket[] = [];
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

function record(index: number, data: RawData): void {
  const now = Number(process.hrtime.bigint());
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

async function openAll(url: string, tokens: readonly string[]): Promise<void> {
  // A few dozen handshakes at a time: the server verifies each token on upgrade.
  const CONCURRENCY = 25;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tokens.length) {
      const index = next++;
      await open(url, tokens[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

process.on('message', (raw) => {
  const command = raw as Command;
  switch (command.type) {
    case 'open':
      openAll(command.url, command.tokens).then(
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
