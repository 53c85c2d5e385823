/**
 * The messages between a {@link WorkerMediaEngine} and its worker threads.
 *
 * ```text
 * parent ──request {id, command}──────────────► worker   (one LocalMediaEngine per worker)
 * parent ◄─response {id, ok, result | error}── worker
 * parent ◄─event {event}────────────────────── worker   (legState, dtmf, legClosed, bridgeClosed,
 *                                                        mixerTalking, mixerClosed)
 * parent ◄─log {level, bindings, obj, msg}──── worker   (at or above the configured level)
 * parent ◄─ready {threadId}─────────────────── worker   (once, after start-up)
 * parent ──internal {id, op}──────────────────► worker   (cross-worker mixing, answered as a response)
 * worker ◄═link MessagePort (per pair of workers, batched tunnels)═► worker   (see engine/tunnel.ts)
 * ```
 *
 * Errors cross as {@link SerializedError} and are rebuilt with the same class family and code
 * ({@link deserializeError}), so callers match codes whatever thread failed.
 */
import { ConfabError, InvalidStateError, isConfabError, UnsupportedError } from '@confab/core';
import { isMediaError, MediaError } from '../engine/errors.js';
import type { MediaErrorCode } from '../engine/errors.js';
import type { MessagePort } from 'node:worker_threads';
import type { TunnelLegInfo } from '../engine/tunnel.js';
import type { MediaCommand, MediaEngineEvent, MediaEngineSettings } from '../engine/types.js';

/** Log levels a worker forwards; lower levels are dropped inside the worker. */
export type WorkerLogLevel = 'debug' | 'info' | 'warn' | 'error';

export const LOG_LEVEL_RANK: Readonly<Record<WorkerLogLevel, number>> = {
  debug: 0,
  info: 1,
  warn: 2,
  error: 3,
};

/** `workerData` of a media worker. */
export interface MediaWorkerData {
  index: number;
  settings: MediaEngineSettings;
  logLevel: WorkerLogLevel;
}

/** A command for the worker's engine. */
export interface WorkerRequest {
  kind: 'request';
  id: number;
  command: MediaCommand;
}

/**
 * Operations of cross-worker mixing that are not part of the public command set: the parent
 * hands each pair of workers the two ends of a link's `MessageChannel` (transferred with the
 * message), then opens tunnels on the links by number.
 */
export type WorkerInternalOp =
  /**
   * Both workers of a pair: `port` is this worker's end of the link to worker `peer`; `send`
   * and `receive` its shared packet rings (the other worker gets them swapped).
   */
  | {
      op: 'openLink';
      peer: number;
      port: MessagePort;
      send: SharedArrayBuffer;
      receive: SharedArrayBuffer;
    }
  /**
   * Leg's worker: the leg leaves its bridge; its media goes through tunnel `tunnelId` of the
   * link to worker `peer`. Result: TunnelLegInfo.
   */
  | { op: 'openTunnel'; legId: string; peer: number; tunnelId: number }
  /** Leg's worker: the tunnel ends, the leg stays open and unbridged. */
  | { op: 'closeTunnel'; legId: string }
  /** Mixer's worker: a proxy for the remote leg, under its id, on tunnel `tunnelId`. */
  | {
      op: 'attachRemoteLeg';
      legId: string;
      group: string;
      peer: number;
      tunnelId: number;
      info: TunnelLegInfo;
    }
  /** Mixer's worker: the proxy closes (it leaves its mixer). */
  | { op: 'detachRemoteLeg'; legId: string };

/** An internal operation for the worker. */
export interface WorkerInternalRequest {
  kind: 'internal';
  id: number;
  request: WorkerInternalOp;
}

/** An error as it crosses the thread boundary. */
export interface SerializedError {
  name: string;
  message: string;
  code: string | undefined;
  stack: string | undefined;
}

export type WorkerResponse =
  | { kind: 'response'; id: number; ok: true; result: unknown }
  | { kind: 'response'; id: number; ok: false; error: SerializedError };

/** Everything a worker posts to its parent. */
export type WorkerMessage =
  | WorkerResponse
  | { kind: 'event'; event: MediaEngineEvent }
  | {
      kind: 'log';
      level: WorkerLogLevel;
      bindings: Record<string, unknown>;
      obj: Record<string, unknown>;
      msg: string | undefined;
    }
  | { kind: 'ready'; threadId: number };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    return {
      name: error.name,
      message: error.message,
      code: isConfabError(error) ? error.code : undefined,
      stack: error.stack,
    };
  }
  return { name: 'Error', message: String(error), code: undefined, stack: undefined };
}

/** Rebuilds an error posted by {@link serializeError}: same class family, same code. */
export function deserializeError(serialized: SerializedError): Error {
  let error: Error;
  const { code, message } = serialized;
  if (serialized.name === 'TypeError') {
    error = new TypeError(message);
  } else if (code === 'INVALID_STATE') {
    error = new InvalidStateError(message);
  } else if (code === 'UNSUPPORTED') {
    error = new UnsupportedError(message);
  } else if (code !== undefined && isMediaError(new ConfabError(code, ''))) {
    error = new MediaError(code as MediaErrorCode, message);
  } else if (code !== undefined) {
    error = new ConfabError(code, message);
  } else {
    error = new Error(message);
  }
  if (serialized.stack !== undefined) {
    error.stack = serialized.stack;
  }
  return error;
}

/**
 * A copy of a log object that survives `postMessage`: errors become plain objects and values
 * that cannot be cloned (functions, sockets) become strings.
 */
export function cloneableLogObject(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (value instanceof Error) {
      out[key] = {
        type: value.name,
        message: value.message,
        stack: value.stack,
        ...(isConfabError(value) ? { code: value.code } : {}),
      };
    } else if (typeof value === 'function' || typeof value === 'symbol') {
      out[key] = String(value);
    } else if (value !== null && typeof value === 'object') {
      try {
        out[key] = structuredClone(value);
      } catch {
        out[key] = Object.prototype.toString.call(value);
      }
    } else {
      out[key] = value;
    }
  }
  return out;
}
