/**
 * The Confab server of the websocketd-fanout benchmark, in its own process: the real
 * `startConfab` (REST, telephony, event websocket, one in-process bus), with one addition — the
 * bus handed to the telephony core stamps each `call_updated` of the observed user with
 * `process.hrtime.bigint()` (CLOCK_MONOTONIC, shared with the client processes) just before it
 * is published, i.e. right after the channel changed state and before the fan-out.
 *
 * Each stamped message is published with one more key, last in the body: `bench_seq`, its rank in
 * the run (0, 1, …), which the clients read to match each frame to its stamp and to check that
 * every socket receives every event exactly once.
 *
 * Controlled over the Node IPC channel by bench/src/websocketd-fanout.ts:
 * - `{type: 'observe', userUuid}`: start stamping that user's `call_updated` (clears the stamps);
 * - `{type: 'publish'}`: publish a copy of the last `call_updated` straight on the bus (the
 *   "bus" source, which leaves out HTTP and call control);
 * - `{type: 'burst', count, intervalMs}`: the same, `count` times at a fixed interval;
 * - `{type: 'collect'}`: answers `{type: 'stamps', stamps, ends}` (ns, as numbers; `ends`: when
 *   the publication returned, i.e. the synchronous fan-out had issued every write);
 * - `{type: 'stop'}`: closes the server and exits.
 *
 * argv[2]: JSON `{dataDir, sipPort, rtpPorts, serverModule?, staticDir}`; `serverModule` is another
 * build of @confab/server (e.g. the one before a change, to compare both in the same time window).
 */
import type { BusMessage, EventBus } from '@confab/server';

interface HostArgs {
  dataDir: string;
  sipPort: number;
  rtpPorts: [number, number];
  serverModule?: string;
  staticDir: string;
}

type Command =
  | { type: 'observe'; userUuid: string }
  | { type: 'publish' }
  | { type: 'burst'; count: number; intervalMs: number }
  | { type: 'collect' }
  | { type: 'stop' };

const args = JSON.parse(process.argv[2] ?? '{}') as HostArgs;
const { defaultConfig, startConfab, startTelephony } = (await import(
  args.serverModule ?? '@confab/server'
)) as typeof import('@confab/server');
const send = (message: unknown): void => {
  process.send?.(message);
};

let observedHeader: string | undefined;
let stamps: number[] = [];
/** When `publish` returned: the in-process fan-out is synchronous, every write was issued. */
let ends: number[] = [];
let lastUpdate: BusMessage | undefined;

/** The bus as the telephony core sees it: stamps, then publishes on the real bus. */
function stampingBus(bus: EventBus): EventBus {
  return {
    publish(message: BusMessage): void {
      let observed = false;
      let published = message;
      if (message.name === 'call_updated') {
        lastUpdate = message;
        if (observedHeader !== undefined && message[observedHeader as `user_uuid:${string}`]) {
          observed = true;
          stamps.push(Number(process.hrtime.bigint()));
          // The event's identity for the clients: its rank in the run, as the body's last key.
          published = { ...message, bench_seq: stamps.length - 1 } as BusMessage;
        }
      }
      bus.publish(published);
      if (observed) {
        ends.push(Number(process.hrtime.bigint()));
      }
    },
    subscribe: (handler) => bus.subscribe(handler),
    close: () => bus.close(),
  };
}

const config = {
  ...defaultConfig(),
  dataDir: args.dataDir,
  httpPort: 0,
  httpsPort: 0,
  sipPort: args.sipPort,
  bindAddress: '127.0.0.1',
  advertisedAddress: '127.0.0.1',
  mediaAddresses: ['127.0.0.1'],
  sipDomain: '127.0.0.1',
  rtpPortRange: args.rtpPorts,
  mediaWorkers: 1,
  logLevel: 'warn' as const,
  createDemoUsers: false,
};

let telephonyBus: EventBus | undefined;
const server = await startConfab(config, {
  print: () => undefined,
  staticDir: args.staticDir,
  startTelephony: (options) => {
    telephonyBus = stampingBus(options.bus);
    return startTelephony({ ...options, bus: telephonyBus });
  },
});

function republish(): void {
  if (lastUpdate !== undefined && telephonyBus !== undefined) {
    telephonyBus.publish({ ...lastUpdate, timestamp: new Date().toISOString().slice(0, -1) });
  }
}

process.on('message', (raw) => {
  const command = raw as Command;
  switch (command.type) {
    case 'observe':
      observedHeader = `user_uuid:${command.userUuid}`;
      stamps = [];
      ends = [];
      send({ type: 'observing' });
      return;
    case 'publish':
      republish();
      return;
    case 'burst': {
      let left = command.count;
      const timer = setInterval(() => {
        republish();
        if (--left <= 0) {
          clearInterval(timer);
        }
      }, command.intervalMs);
      return;
    }
    case 'collect':
      send({ type: 'stamps', stamps, ends });
      return;
    case 'stop':
      void server.close().then(() => process.exit(0));
      return;
  }
});
process.on('disconnect', () => {
  void server.close().then(() => process.exit(0));
});

send({ type: 'ready', httpUrl: server.httpUrl });
