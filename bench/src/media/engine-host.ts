/**
 * The media engine under test, alone in a child process so that /proc gives its CPU time apart
 * from the load-generating clients. Forked by `media-relay.ts` with an IPC channel: it runs
 * engine commands (`MediaEngine.execute`) and forwards `legState` events.
 *
 * argv: `local|worker <firstPort> <lastPort> [workers]` — `local` runs a LocalMediaEngine on this
 * process's main thread (the cost of the engine itself); `worker` a WorkerMediaEngine with
 * `workers` worker threads (default 1; the server runs one per core), with the message-port hop.
 */
import { LocalMediaEngine, WorkerMediaEngine } from '@confab/media';
import type { MediaCommand, MediaEngine } from '@confab/media';

/** A request from the parent. */
export interface HostRequest {
  id: number;
  command: MediaCommand;
}

/** What the host sends to the parent. */
export type HostMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; ok: true; result: unknown }
  | { type: 'result'; id: number; ok: false; error: string }
  | { type: 'legState'; legId: string; state: string };

function send(message: HostMessage): void {
  process.send?.(message);
}

const [mode = 'local', first = '20000', last = '29999', workers = '1'] = process.argv.slice(2);
const portRange: [number, number] = [Number(first), Number(last)];
const engine: MediaEngine =
  mode === 'worker'
    ? new WorkerMediaEngine({ workers: Number(workers), portRange, logLevel: 'warn' })
    : new LocalMediaEngine({ portRange });

engine.on('legState', (event) => {
  send({ type: 'legState', legId: event.legId, state: event.state });
});

process.on('message', (message: HostRequest) => {
  engine.execute(message.command).then(
    (result) => {
      send({ type: 'result', id: message.id, ok: true, result });
      if (message.command.type === 'close') {
        // Exit once the reply is out; the parent's disconnect would otherwise be needed.
        process.disconnect();
        setImmediate(() => process.exit(0));
      }
    },
    (error: unknown) => {
      send({
        type: 'result',
        id: message.id,
        ok: false,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    },
  );
});

// The parent went away: never outlive it.
process.on('disconnect', () => {
  void engine.close().finally(() => process.exit(0));
});

send({ type: 'ready' });
