/**
 * Entry point of a media worker thread: one {@link LocalMediaEngine} driven by its parent
 * {@link WorkerMediaEngine} over `parentPort` (protocol in `./protocol.ts`).
 *
 * Failure policy: a command that fails answers with a serialized error and the worker goes on.
 * An unhandled promise rejection (werift starts some promises it never awaits) is logged and
 * tolerated. An uncaught exception ends the thread; the parent then reports the worker's legs
 * closed (`worker-crashed`) and starts a replacement.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { Logger } from '@confab/core';
import { LocalMediaEngine } from '../engine/local-engine.js';
import type { MediaEngineEvent } from '../engine/types.js';
import { cloneableLogObject, LOG_LEVEL_RANK, serializeError } from './protocol.js';
import type {
  MediaWorkerData,
  WorkerInternalOp,
  WorkerInternalRequest,
  WorkerLogLevel,
  WorkerMessage,
  WorkerRequest,
} from './protocol.js';

if (!parentPort) {
  throw new Error('the media worker must run in a worker thread');
}
const port = parentPort;
const data = workerData as MediaWorkerData;

function post(message: WorkerMessage): void {
  port.postMessage(message);
}

function portLogger(level: WorkerLogLevel, bindings: Record<string, unknown>): Logger {
  const threshold = LOG_LEVEL_RANK[level];
  const write =
    (lineLevel: WorkerLogLevel) =>
    (obj: Record<string, unknown>, msg?: string): void => {
      if (LOG_LEVEL_RANK[lineLevel] < threshold) {
        return;
      }
      post({ kind: 'log', level: lineLevel, bindings, obj: cloneableLogObject(obj), msg });
    };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => portLogger(level, { ...bindings, ...cloneableLogObject(more) }),
  };
}

const logger = portLogger(data.logLevel, { worker: data.index, threadId });
const engine = new LocalMediaEngine({ ...data.settings, logger });

function forward(event: MediaEngineEvent): void {
  post({ kind: 'event', event });
}
engine.on('legState', (event) => {
  forward({ type: 'legState', ...event });
});
engine.on('dtmf', (event) => {
  forward({ type: 'dtmf', ...event });
});
engine.on('legClosed', (event) => {
  forward({ type: 'legClosed', ...event });
});
engine.on('bridgeClosed', (event) => {
  forward({ type: 'bridgeClosed', ...event });
});
engine.on('mixerTalking', (event) => {
  forward({ type: 'mixerTalking', ...event });
});
engine.on('mixerClosed', (event) => {
  forward({ type: 'mixerClosed', ...event });
});

async function handle(request: WorkerRequest): Promise<void> {
  try {
    const result: unknown = await engine.execute(request.command);
    post({ kind: 'response', id: request.id, ok: true, result });
  } catch (error) {
    post({ kind: 'response', id: request.id, ok: false, error: serializeError(error) });
  }
}

function internal(request: WorkerInternalOp): unknown {
  switch (request.op) {
    case 'openLink':
      engine.openLink(request.peer, request.port, request.send, request.receive);
      return null;
    case 'openTunnel':
      return engine.openTunnel(request.legId, request.peer, request.tunnelId);
    case 'closeTunnel':
      engine.closeTunnel(request.legId);
      return null;
    case 'attachRemoteLeg':
      engine.attachRemoteLeg(
        request.legId,
        request.group,
        request.peer,
        request.tunnelId,
        request.info,
      );
      return null;
    case 'detachRemoteLeg':
      engine.detachRemoteLeg(request.legId);
      return null;
  }
}

function handleInternal(message: WorkerInternalRequest): void {
  try {
    post({ kind: 'response', id: message.id, ok: true, result: internal(message.request) });
  } catch (error) {
    post({ kind: 'response', id: message.id, ok: false, error: serializeError(error) });
  }
}

port.on('message', (message: WorkerRequest | WorkerInternalRequest | null | undefined) => {
  if (message?.kind === 'request') {
    void handle(message);
  } else if (message?.kind === 'internal') {
    handleInternal(message);
  }
});

process.on('unhandledRejection', (reason) => {
  logger.warn({ err: reason }, 'unhandled promise rejection in a media worker');
});

post({ kind: 'ready', threadId });
