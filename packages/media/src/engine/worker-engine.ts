/**
 * The media engine on worker threads: N {@link LocalMediaEngine}s, one per worker, behind the
 * same {@link MediaEngine} interface.
 *
 * - Routing: a leg or a mixer goes to the worker chosen by a hash of its `group`, so the legs
 *   of one call share a worker and can be bridged; later commands follow the leg, bridge or
 *   mixer id. A mixer also takes legs of other workers, each through a tunnel (numbered, on the
 *   worker-to-worker link of that pair of workers, a MessagePort carrying batched media: see
 *   `tunnel.ts` and `#addToMixer`); relay bridges do not span workers (`MEDIA_CROSS_WORKER`).
 * - Ports: the engine's range is split into one disjoint sub-range per worker.
 * - Crashes: when a worker dies, its pending commands reject with `MEDIA_WORKER_CRASHED`, its
 *   legs are reported `legClosed` (`worker-crashed`) and its bridges `bridgeClosed`, and a new
 *   worker takes the slot (unless the slot keeps crashing: at most 5 restarts a minute).
 * - `close()` asks every worker to close its engine (legs report `engine-closed`), then
 *   terminates the threads.
 *
 * The worker entry is `../worker/worker.js` next to this module in the built package; tests
 * and tools that run from TypeScript sources must point `workerUrl` at the built file.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { InvalidStateError, silentLogger, TypedEmitter } from '@confab/core';
import type { Logger } from '@confab/core';
import { DEFAULT_PORT_RANGE, PortAllocator, splitPortRange } from '../legs/port-allocator.js';
import { deserializeError } from '../worker/protocol.js';
import type {
  MediaWorkerData,
  WorkerInternalOp,
  WorkerInternalRequest,
  WorkerLogLevel,
  WorkerMessage,
  WorkerRequest,
} from '../worker/protocol.js';
import { createLinkRings } from './tunnel.js';
import type { TunnelLegInfo } from './tunnel.js';
import { MediaError } from './errors.js';
import { LegCloseReason } from './types.js';
import type {
  CreateLegParams,
  MediaCommand,
  MediaCommandOf,
  MediaCommandResults,
  MediaCommandType,
  MediaEngine,
  MediaEngineEvent,
  MediaEngineEvents,
  MediaEngineSettings,
  MediaEngineStats,
  WorkerStats,
} from './types.js';

/** Options of {@link WorkerMediaEngine}. */
export interface WorkerMediaEngineOptions extends MediaEngineSettings {
  /** Number of worker threads. @default os.availableParallelism() */
  workers?: number;
  logger?: Logger;
  /** Log lines below this level are dropped inside the workers. @default 'info' */
  logLevel?: WorkerLogLevel;
  /** The worker entry module. @default the built `worker/worker.js` of this package */
  workerUrl?: URL;
  /** A command not answered within this time rejects with `MEDIA_INTERNAL`. @default 30000 */
  requestTimeoutMs?: number;
}

const RESTART_WINDOW_MS = 60_000;
const MAX_RESTARTS_PER_WINDOW = 5;
const CLOSE_TIMEOUT_MS = 5000;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One worker slot; its thread may be replaced after a crash. */
interface Slot {
  readonly index: number;
  readonly range: [number, number];
  worker: Worker | undefined;
  threadId: number;
  /** The current thread answered `ready`. */
  ready: boolean;
  readonly pending: Map<number, Pending>;
  readonly legs: Set<string>;
  readonly bridges: Set<string>;
  readonly mixers: Set<string>;
  restarts: number;
  restartTimes: number[];
}

const EngineState = {
  Open: 'open',
  Closing: 'closing',
  Closed: 'closed',
} as const;
type EngineState = (typeof EngineState)[keyof typeof EngineState];

/**
 * FNV-1a over UTF-16 code units: a stable, well-spread hash of a group name (a group goes to
 * worker `hashGroup(group) % workers`). Exported for tests that place legs on given workers.
 */
export function hashGroup(group: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < group.length; i++) {
    hash ^= group.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * A leg taking part in a mixer of another worker (see `tunnel.ts`): the leg's worker forwards
 * its media over the link between the two workers to a proxy of the same id on the mixer's worker.
 */
interface CrossTunnel {
  readonly legId: string;
  readonly mixerId: string;
  readonly legSlot: Slot;
  readonly mixerSlot: Slot;
}

function crashed(slot: Slot): MediaError {
  return new MediaError('MEDIA_WORKER_CRASHED', `media worker ${slot.index} died`);
}

/** The worker-thread {@link MediaEngine}. */
export class WorkerMediaEngine extends TypedEmitter<MediaEngineEvents> implements MediaEngine {
  readonly #settings: MediaEngineSettings;
  readonly #logger: Logger;
  readonly #logLevel: WorkerLogLevel;
  readonly #workerUrl: URL;
  readonly #requestTimeoutMs: number;
  readonly #slots: Slot[];
  readonly #legSlot = new Map<string, Slot>();
  readonly #bridgeSlot = new Map<string, Slot>();
  readonly #mixerSlot = new Map<string, Slot>();
  /** Legs in a mixer of another worker, by leg id. */
  readonly #tunnels = new Map<string, CrossTunnel>();
  #nextRequestId = 1;
  /** Tunnels are numbered per engine: a number is never reused on a link. */
  #nextTunnelId = 1;
  #state: EngineState = EngineState.Open;
  #closing: Promise<void> | undefined;

  constructor(options: WorkerMediaEngineOptions = {}) {
    super();
    const count = options.workers ?? availableParallelism();
    if (!Number.isInteger(count) || count < 1) {
      throw new TypeError(`invalid worker count ${String(count)}`);
    }
    const {
      workers: _workers,
      logger,
      logLevel,
      workerUrl,
      requestTimeoutMs,
      ...settings
    } = options;
    // Only structured-clone-safe settings go to the workers.
    this.#settings = settings;
    this.#logger = (logger ?? silentLogger).child({ component: 'media-workers' });
    this.#logLevel = logLevel ?? 'info';
    this.#workerUrl = workerUrl ?? new URL('../worker/worker.js', import.meta.url);
    this.#requestTimeoutMs = requestTimeoutMs ?? 30_000;
    const ranges = splitPortRange(options.portRange ?? DEFAULT_PORT_RANGE, count);
    this.#slots = ranges.map((range, index) => ({
      index,
      range,
      worker: undefined,
      threadId: -1,
      ready: false,
      pending: new Map(),
      legs: new Set(),
      bridges: new Set(),
      mixers: new Set(),
      restarts: 0,
      restartTimes: [],
    }));
    for (const slot of this.#slots) {
      this.#spawn(slot);
    }
  }

  /** Cross-worker mixer tunnels the engine tracks (legs mixed on another worker's mixer). */
  get tunnelCount(): number {
    return this.#tunnels.size;
  }

  /** Number of worker slots. */
  get size(): number {
    return this.#slots.length;
  }

  async createLeg(params: CreateLegParams): Promise<{ legId: string }> {
    return this.execute({ type: 'createLeg', ...params });
  }

  async createOffer(legId: string): Promise<string> {
    return (await this.execute({ type: 'createOffer', legId })).sdp;
  }

  async acceptOffer(legId: string, sdp: string): Promise<string> {
    return (await this.execute({ type: 'acceptOffer', legId, sdp })).sdp;
  }

  async acceptAnswer(legId: string, sdp: string): Promise<void> {
    await this.execute({ type: 'acceptAnswer', legId, sdp });
  }

  async bridge(legIdA: string, legIdB: string): Promise<{ bridgeId: string }> {
    return this.execute({ type: 'bridge', legIdA, legIdB });
  }

  async unbridge(bridgeId: string): Promise<void> {
    await this.execute({ type: 'unbridge', bridgeId });
  }

  async closeLeg(legId: string): Promise<void> {
    await this.execute({ type: 'closeLeg', legId });
  }

  async setMuted(legId: string, muted: boolean): Promise<void> {
    await this.execute({ type: 'setMuted', legId, muted });
  }

  async setHeld(legId: string, held: boolean): Promise<void> {
    await this.execute({ type: 'setHeld', legId, held });
  }

  async createMixer(group: string): Promise<{ mixerId: string }> {
    return this.execute({ type: 'createMixer', group });
  }

  async addToMixer(mixerId: string, legId: string): Promise<void> {
    await this.execute({ type: 'addToMixer', mixerId, legId });
  }

  async startMixer(mixerId: string): Promise<void> {
    await this.execute({ type: 'startMixer', mixerId });
  }

  async removeFromMixer(mixerId: string, legId: string): Promise<void> {
    await this.execute({ type: 'removeFromMixer', mixerId, legId });
  }

  async closeMixer(mixerId: string): Promise<void> {
    await this.execute({ type: 'closeMixer', mixerId });
  }

  async stats(): Promise<MediaEngineStats> {
    return this.execute({ type: 'stats' });
  }

  close(): Promise<void> {
    this.#closing ??= this.#teardown();
    return this.#closing;
  }

  async execute<T extends MediaCommandType>(
    command: MediaCommandOf<T>,
  ): Promise<MediaCommandResults[T]> {
    return (await this.#dispatch(command)) as MediaCommandResults[T];
  }

  async #dispatch(command: MediaCommand): Promise<unknown> {
    if (typeof command !== 'object' || command === null) {
      throw new TypeError('a media command must be an object');
    }
    if (command.type === 'close') {
      await this.close();
      return null;
    }
    if (command.type === 'stats') {
      return this.#stats();
    }
    if (this.#state !== EngineState.Open) {
      throw InvalidStateError.closed('MediaEngine');
    }
    switch (command.type) {
      case 'createLeg': {
        if (typeof command.group !== 'string') {
          throw new TypeError('group must be a string');
        }
        const slot = this.#slotForGroup(command.group);
        const result = (await this.#request(slot, command)) as { legId: string };
        slot.legs.add(result.legId);
        this.#legSlot.set(result.legId, slot);
        return result;
      }
      case 'bridge': {
        const a = this.#slotOfLeg(command.legIdA);
        const b = this.#slotOfLeg(command.legIdB);
        for (const legId of [command.legIdA, command.legIdB]) {
          const tunnel = this.#tunnels.get(legId);
          if (tunnel) {
            // As for a leg in a mixer of its own worker.
            throw new MediaError('MEDIA_LEG_BUSY', `leg ${legId} is in mixer ${tunnel.mixerId}`);
          }
        }
        if (a !== b) {
          throw new MediaError(
            'MEDIA_CROSS_WORKER',
            `legs ${command.legIdA} and ${command.legIdB} live on different workers; create them with the same group`,
          );
        }
        const result = (await this.#request(a, command)) as { bridgeId: string };
        a.bridges.add(result.bridgeId);
        this.#bridgeSlot.set(result.bridgeId, a);
        return result;
      }
      case 'unbridge': {
        const slot = this.#bridgeSlot.get(command.bridgeId);
        if (!slot) {
          throw MediaError.bridgeNotFound(String(command.bridgeId));
        }
        return this.#request(slot, command);
      }
      case 'createMixer': {
        if (typeof command.group !== 'string') {
          throw new TypeError('group must be a string');
        }
        const slot = this.#slotForGroup(command.group);
        const result = (await this.#request(slot, command)) as { mixerId: string };
        slot.mixers.add(result.mixerId);
        this.#mixerSlot.set(result.mixerId, slot);
        return result;
      }
      case 'addToMixer':
        return this.#addToMixer(command.mixerId, command.legId);
      case 'removeFromMixer':
        return this.#removeFromMixer(command.mixerId, command.legId);
      case 'startMixer':
        return this.#request(this.#slotOfMixer(command.mixerId), command);
      case 'closeMixer': {
        if (typeof command.mixerId !== 'string') {
          throw new TypeError('mixerId must be a string');
        }
        const slot = this.#mixerSlot.get(command.mixerId);
        // Idempotent: an unknown (already closed) mixer is not an error.
        if (!slot) {
          return null;
        }
        // The legs of other workers leave first (unbridged on their own workers).
        await Promise.all(
          [...this.#tunnels.values()]
            .filter((tunnel) => tunnel.mixerId === command.mixerId)
            .map((tunnel) => this.#closeTunnel(tunnel)),
        );
        return this.#request(slot, command);
      }
      case 'setMuted':
      case 'setHeld': {
        const result = await this.#request(this.#slotOfLeg(command.legId), command);
        // The mixer of another worker applies mute and hold to the leg's proxy.
        const tunnel = this.#tunnels.get(command.legId);
        if (tunnel) {
          await this.#request(tunnel.mixerSlot, command).catch((error: unknown) => {
            this.#logger.debug({ err: error, legId: command.legId }, 'proxy gone');
          });
        }
        return result;
      }
      case 'createOffer':
      case 'acceptOffer':
      case 'acceptAnswer':
      case 'closeLeg':
        return this.#request(this.#slotOfLeg(command.legId), command);
      default:
        throw new TypeError(
          `unknown media command ${String((command as { type?: unknown }).type)}`,
        );
    }
  }

  #slotForGroup(group: string): Slot {
    const start = hashGroup(group) % this.#slots.length;
    // A slot whose worker could not be restarted is skipped; the choice stays stable otherwise.
    for (let i = 0; i < this.#slots.length; i++) {
      const slot = this.#slots[(start + i) % this.#slots.length]!;
      if (slot.worker) {
        return slot;
      }
    }
    throw MediaError.internal('no media worker is running');
  }

  #slotOfMixer(mixerId: unknown): Slot {
    if (typeof mixerId !== 'string') {
      throw new TypeError('mixerId must be a string');
    }
    const slot = this.#mixerSlot.get(mixerId);
    if (!slot) {
      throw MediaError.mixerNotFound(mixerId);
    }
    return slot;
  }

  /**
   * A leg on the mixer's worker joins directly; a leg of another worker joins through a
   * tunnel (its previous tunnel, to another mixer, is closed first; the same mixer again is a
   * no-op).
   */
  async #addToMixer(mixerId: string, legId: string): Promise<unknown> {
    const mixerSlot = this.#slotOfMixer(mixerId);
    const legSlot = this.#slotOfLeg(legId);
    const existing = this.#tunnels.get(legId);
    if (existing?.mixerId === mixerId) {
      return null;
    }
    if (existing) {
      await this.#closeTunnel(existing);
    }
    const command: MediaCommand = { type: 'addToMixer', mixerId, legId };
    if (mixerSlot === legSlot) {
      return this.#request(mixerSlot, command);
    }
    const tunnel: CrossTunnel = { legId, mixerId, legSlot, mixerSlot };
    const tunnelId = this.#nextTunnelId++;
    const info = (await this.#internal(legSlot, {
      op: 'openTunnel',
      legId,
      peer: mixerSlot.index,
      tunnelId,
    })) as TunnelLegInfo;
    if (this.#legSlot.get(legId) !== legSlot) {
      // The leg closed while the tunnel opened (its `legClosed` was handled before this reply):
      // registered now, the tunnel would stay in the map with nobody left to close it.
      await this.#closeTunnel(tunnel);
      throw MediaError.legNotFound(legId);
    }
    this.#tunnels.set(legId, tunnel);
    try {
      await this.#internal(mixerSlot, {
        op: 'attachRemoteLeg',
        legId,
        group: `mixer:${mixerId}`,
        peer: legSlot.index,
        tunnelId,
        info,
      });
      await this.#request(mixerSlot, command);
    } catch (error) {
      await this.#closeTunnel(tunnel);
      throw error;
    }
    if (this.#tunnels.get(legId) !== tunnel) {
      // The leg closed or left meanwhile.
      await this.#internal(mixerSlot, { op: 'detachRemoteLeg', legId }).catch(() => undefined);
    }
    return null;
  }

  async #removeFromMixer(mixerId: string, legId: string): Promise<unknown> {
    const mixerSlot = this.#slotOfMixer(mixerId);
    const legSlot = this.#slotOfLeg(legId);
    const tunnel = this.#tunnels.get(legId);
    if (tunnel?.mixerId === mixerId) {
      await this.#closeTunnel(tunnel);
      return null;
    }
    if (legSlot !== mixerSlot) {
      // A leg of another worker that is not in this mixer: nothing to leave.
      return null;
    }
    return this.#request(mixerSlot, { type: 'removeFromMixer', mixerId, legId });
  }

  /** Ends a tunnel on both workers; idempotent, never rejects. */
  async #closeTunnel(tunnel: CrossTunnel): Promise<void> {
    if (this.#tunnels.get(tunnel.legId) === tunnel) {
      this.#tunnels.delete(tunnel.legId);
    }
    const { legId } = tunnel;
    await Promise.all([
      tunnel.legSlot.worker
        ? this.#internal(tunnel.legSlot, { op: 'closeTunnel', legId }).catch(() => undefined)
        : undefined,
      tunnel.mixerSlot.worker
        ? this.#internal(tunnel.mixerSlot, { op: 'detachRemoteLeg', legId }).catch(() => undefined)
        : undefined,
    ]);
  }

  #internal(slot: Slot, op: WorkerInternalOp, transfer: MessagePort[] = []): Promise<unknown> {
    const message: WorkerInternalRequest = { kind: 'internal', id: 0, request: op };
    return this.#send(slot, op.op, message, transfer);
  }

  #slotOfLeg(legId: unknown): Slot {
    if (typeof legId !== 'string') {
      throw new TypeError('legId must be a string');
    }
    const slot = this.#legSlot.get(legId);
    if (!slot) {
      throw MediaError.legNotFound(legId);
    }
    return slot;
  }

  #request(slot: Slot, command: MediaCommand): Promise<unknown> {
    const request: WorkerRequest = { kind: 'request', id: 0, command };
    return this.#send(slot, command.type, request, []);
  }

  #send(
    slot: Slot,
    what: string,
    message: WorkerRequest | WorkerInternalRequest,
    transfer: MessagePort[],
  ): Promise<unknown> {
    const worker = slot.worker;
    if (!worker) {
      for (const port of transfer) {
        port.close();
      }
      return Promise.reject(crashed(slot));
    }
    const id = this.#nextRequestId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        slot.pending.delete(id);
        reject(MediaError.internal(`media worker ${slot.index} did not answer ${what}`));
      }, this.#requestTimeoutMs);
      timer.unref();
      slot.pending.set(id, { resolve, reject, timer });
      worker.postMessage({ ...message, id }, transfer);
    });
  }

  #spawn(slot: Slot): void {
    const workerData: MediaWorkerData = {
      index: slot.index,
      settings: { ...this.#settings, portRange: slot.range },
      logLevel: this.#logLevel,
    };
    const worker = new Worker(this.#workerUrl, { workerData, name: `confab-media-${slot.index}` });
    slot.worker = worker;
    slot.ready = false;
    slot.threadId = worker.threadId;
    worker.on('message', (message: WorkerMessage) => {
      this.#onMessage(slot, message);
    });
    worker.on('error', (error) => {
      this.#logger.error({ err: error, worker: slot.index }, 'media worker failed');
    });
    worker.on('exit', (code) => {
      if (slot.worker === worker) {
        this.#onExit(slot, code);
      }
    });
    this.#openLinks(slot);
  }

  /**
   * One link (a MessageChannel and two shared packet rings, see `tunnel.ts`) between a new
   * worker and every other running worker; a worker restarted after a crash gets new links (the old ones closed with it). A
   * worker handles its messages in order, so later tunnel operations find the link open.
   */
  #openLinks(slot: Slot): void {
    for (const other of this.#slots) {
      if (other === slot || !other.worker) {
        continue;
      }
      const { port1, port2 } = new MessageChannel();
      const [toOther, toSlot] = createLinkRings();
      void this.#internal(
        slot,
        { op: 'openLink', peer: other.index, port: port1, send: toOther, receive: toSlot },
        [port1],
      ).catch(() => undefined);
      void this.#internal(
        other,
        { op: 'openLink', peer: slot.index, port: port2, send: toSlot, receive: toOther },
        [port2],
      ).catch(() => undefined);
    }
  }

  #onMessage(slot: Slot, message: WorkerMessage): void {
    switch (message.kind) {
      case 'response': {
        const pending = slot.pending.get(message.id);
        if (!pending) {
          return;
        }
        slot.pending.delete(message.id);
        clearTimeout(pending.timer);
        if (message.ok) {
          pending.resolve(message.result);
        } else {
          pending.reject(deserializeError(message.error));
        }
        return;
      }
      case 'event':
        this.#onEvent(slot, message.event);
        return;
      case 'log':
        this.#logger[message.level]({ ...message.bindings, ...message.obj }, message.msg);
        return;
      case 'ready':
        slot.ready = true;
        slot.threadId = message.threadId;
        return;
    }
  }

  #onEvent(slot: Slot, event: MediaEngineEvent): void {
    switch (event.type) {
      case 'legState':
        this.emit('legState', { legId: event.legId, state: event.state });
        return;
      case 'dtmf':
        this.emit('dtmf', { legId: event.legId, digit: event.digit, durationMs: event.durationMs });
        return;
      case 'legClosed': {
        slot.legs.delete(event.legId);
        this.#legSlot.delete(event.legId);
        const tunnel = this.#tunnels.get(event.legId);
        if (tunnel?.legSlot === slot) {
          // The proxy closes through the tunnel too; this covers a tunnel still opening.
          void this.#closeTunnel(tunnel);
        }
        this.emit('legClosed', { legId: event.legId, reason: event.reason });
        return;
      }
      case 'bridgeClosed':
        slot.bridges.delete(event.bridgeId);
        this.#bridgeSlot.delete(event.bridgeId);
        this.emit('bridgeClosed', { bridgeId: event.bridgeId });
        return;
      case 'mixerTalking':
        this.emit('mixerTalking', {
          mixerId: event.mixerId,
          legId: event.legId,
          talking: event.talking,
        });
        return;
      case 'mixerClosed':
        this.#forgetMixer(slot, event.mixerId);
        return;
    }
  }

  /** A mixer is gone: legs of other workers in it become unbridged; `mixerClosed`. */
  #forgetMixer(slot: Slot, mixerId: string): void {
    if (this.#mixerSlot.get(mixerId) !== slot) {
      return;
    }
    slot.mixers.delete(mixerId);
    this.#mixerSlot.delete(mixerId);
    for (const tunnel of [...this.#tunnels.values()]) {
      if (tunnel.mixerId === mixerId) {
        void this.#closeTunnel(tunnel);
      }
    }
    this.emit('mixerClosed', { mixerId });
  }

  #onExit(slot: Slot, code: number): void {
    const wasReady = slot.ready;
    slot.worker = undefined;
    slot.ready = false;
    for (const pending of slot.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(crashed(slot));
    }
    slot.pending.clear();
    if (this.#state !== EngineState.Open) {
      return;
    }
    this.#logger.error({ worker: slot.index, exitCode: code }, 'media worker exited');
    // Its mixers are gone: their participants on other workers become unbridged.
    for (const mixerId of [...slot.mixers]) {
      this.#forgetMixer(slot, mixerId);
    }
    // Its legs in mixers of other workers leave them.
    for (const tunnel of [...this.#tunnels.values()]) {
      if (tunnel.legSlot === slot) {
        void this.#closeTunnel(tunnel);
      }
    }
    for (const bridgeId of [...slot.bridges]) {
      slot.bridges.delete(bridgeId);
      this.#bridgeSlot.delete(bridgeId);
      this.emit('bridgeClosed', { bridgeId });
    }
    for (const mixerId of [...slot.mixers]) {
      slot.mixers.delete(mixerId);
      this.#mixerSlot.delete(mixerId);
      this.emit('mixerClosed', { mixerId });
    }
    for (const legId of [...slot.legs]) {
      slot.legs.delete(legId);
      this.#legSlot.delete(legId);
      this.emit('legClosed', { legId, reason: LegCloseReason.WorkerCrashed });
    }
    const now = Date.now();
    slot.restartTimes = slot.restartTimes.filter((time) => now - time < RESTART_WINDOW_MS);
    if (!wasReady || slot.restartTimes.length >= MAX_RESTARTS_PER_WINDOW) {
      // A worker that never started (bad entry file) or keeps dying is not restarted.
      this.#logger.error({ worker: slot.index }, 'media worker not restarted');
      return;
    }
    slot.restartTimes.push(now);
    slot.restarts++;
    this.#spawn(slot);
  }

  async #stats(): Promise<MediaEngineStats> {
    const perWorker = await Promise.all(
      this.#slots.map(async (slot): Promise<WorkerStats> => {
        let stats: MediaEngineStats;
        if (slot.worker && this.#state === EngineState.Open) {
          try {
            stats = (await this.#request(slot, { type: 'stats' })) as MediaEngineStats;
          } catch {
            stats = emptyStats(slot.range);
          }
        } else {
          stats = emptyStats(slot.range);
        }
        return { ...stats, index: slot.index, threadId: slot.threadId, restarts: slot.restarts };
      }),
    );
    const total = emptyStats(this.#settings.portRange ?? DEFAULT_PORT_RANGE);
    total.portPairCapacity = 0;
    for (const stats of perWorker) {
      total.legs += stats.legs;
      total.bridges += stats.bridges;
      total.mixers += stats.mixers;
      total.mixerParticipants += stats.mixerParticipants;
      total.packetsReceived += stats.packetsReceived;
      total.packetsSent += stats.packetsSent;
      total.packetsDropped += stats.packetsDropped;
      total.bytesReceived += stats.bytesReceived;
      total.bytesSent += stats.bytesSent;
      total.portPairsInUse += stats.portPairsInUse;
      total.portPairCapacity += stats.portPairCapacity;
      for (const kind of ['webrtc', 'rtp'] as const) {
        total.legsByKind[kind] += stats.legsByKind[kind];
      }
      for (const state of ['new', 'connecting', 'connected', 'failed', 'closed'] as const) {
        total.legsByState[state] += stats.legsByState[state];
      }
    }
    total.workers = perWorker;
    return total;
  }

  async #teardown(): Promise<void> {
    this.#state = EngineState.Closing;
    await Promise.all(
      this.#slots.map(async (slot) => {
        const worker = slot.worker;
        if (!worker) {
          return;
        }
        try {
          await Promise.race([
            this.#request(slot, { type: 'close' }),
            new Promise((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref()),
          ]);
        } catch (error) {
          this.#logger.warn({ err: error, worker: slot.index }, 'media worker did not close');
        }
        // Resolves once the thread has exited (its sockets die with it).
        await worker.terminate();
      }),
    );
    this.#legSlot.clear();
    this.#bridgeSlot.clear();
    this.#mixerSlot.clear();
    this.#tunnels.clear();
    this.#state = EngineState.Closed;
  }
}

function emptyStats(range: readonly [number, number]): MediaEngineStats {
  return {
    legs: 0,
    bridges: 0,
    mixers: 0,
    mixerParticipants: 0,
    legsByKind: { webrtc: 0, rtp: 0 },
    legsByState: { new: 0, connecting: 0, connected: 0, failed: 0, closed: 0 },
    packetsReceived: 0,
    packetsSent: 0,
    packetsDropped: 0,
    bytesReceived: 0,
    bytesSent: 0,
    portPairsInUse: 0,
    portPairCapacity: new PortAllocator(range).capacity,
  };
}
