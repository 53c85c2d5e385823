/**
 * The in-process media engine: legs, relay bridges and mixers on the current thread.
 *
 * Close cascade (documented once, here):
 *
 * ```text
 * engine.close()    → every bridge.close() (`bridgeClosed`) → every mixer.close()
 *                     (`mixerClosed`) → every leg.close() → `legClosed` (reason engine-closed)
 * closeLeg(id)      → leg.close() → leaves its bridge (a bridge left empty is closed:
 *                     `bridgeClosed`) or its mixer (`mixerTalking: false` if it was talking;
 *                     the mixer stays) → `legClosed`
 * unbridge(id)      → bridge.close() → `bridgeClosed`; its legs stay open and can join another
 * addToMixer(m, l)  → l leaves its relay bridge (which, left with one leg, closes:
 *                     `bridgeClosed`) or its other mixer, then joins m
 * closeMixer(id)    → mixer.close() → `mixerClosed`; its legs stay open, unbridged
 * ```
 *
 * Mixers are driven by ONE 20 ms timer per engine (started with the first mixer, stopped with
 * the last, unref'd): each expiry runs every mixer's `tick()` for each 20 ms period elapsed on
 * the clock since the previous one (at most {@link MAX_CATCH_UP_TICKS}; a longer stall drops
 * the backlog), so timer lateness does not accumulate into drift. The first expiry is one
 * period after the timer started, or at `startMixer` (the mixer's first members are in) if no
 * mixer ticked yet: the phase is free until then. A mixer created while others tick takes
 * their phase (its first tick within 20 ms): a phase per mixer would cost a timer wake-up per
 * mixer and period.
 *
 * A leg that fails (ICE/DTLS) reports `legState: failed` and stays until `closeLeg`: the
 * control plane decides whether that ends the call.
 */
import { randomUUID } from 'node:crypto';
import type { MessagePort } from 'node:worker_threads';
import { InvalidStateError, silentLogger, TypedEmitter } from '@confab/core';
import type { Logger } from '@confab/core';
import { RelayBridge } from '../bridge/relay-bridge.js';
import { Mixer } from '../mixer/mixer.js';
import type { Clock, MediaFormat } from '../bridge/types.js';
import type { RtpPacket } from '../rtp/packet.js';
import { DEFAULT_PORT_RANGE, PortAllocator } from '../legs/port-allocator.js';
import { RtpLeg } from '../legs/rtp-leg.js';
import { LegKind, LegState } from '../legs/types.js';
import type { MediaLeg } from '../legs/types.js';
import { WebRtcLeg } from '../legs/webrtc-leg.js';
import { MediaError } from './errors.js';
import { TunnelLink } from './tunnel.js';
import type { LegTunnel, TunnelLegInfo } from './tunnel.js';
import { LegCloseReason } from './types.js';
import type {
  CreateLegParams,
  LocalMediaEngineOptions,
  MediaCommand,
  MediaCommandOf,
  MediaCommandResults,
  MediaCommandType,
  MediaEngine,
  MediaEngineEvents,
  MediaEngineStats,
} from './types.js';

interface LegEntry {
  readonly leg: MediaLeg;
  readonly group: string;
  /**
   * A proxy for a leg of another worker (cross-worker mixing, see `tunnel.ts`): it reports no
   * engine events and is not counted as a leg; the leg's own worker does both.
   */
  readonly remote: boolean;
  bridge: BridgeEntry | undefined;
  /** Set while the leg's media goes to a mixer on another worker instead of a local bridge. */
  tunnel: LegTunnel | undefined;
  /** Set while the leg is in a mixer of this engine. */
  mixer: MixerEntry | undefined;
  closeReason: LegCloseReason;
  /** Audio from this leg is not relayed (telephone-events are). */
  muted: boolean;
  /** Nothing is relayed from or to this leg. */
  held: boolean;
  /**
   * The last packet the leg received, wherever it went (legs emit a fresh packet per
   * datagram): a mixer the leg joins is primed with it (see {@link Mixer.add}).
   */
  last: RtpPacket | undefined;
  lastAt: number;
}

/**
 * What the leg's side of a new tunnel hands the proxy (structured-cloned through the parent):
 * the leg's state, and its last received packet with its age, to prime the mixer with.
 * @internal
 */
export interface TunnelStart extends TunnelLegInfo {
  last?: { packet: RtpPacket; ageMs: number };
}

interface BridgeEntry {
  readonly bridge: RelayBridge;
  readonly legs: Set<LegEntry>;
}

interface MixerEntry {
  readonly mixer: Mixer;
  readonly legs: Set<LegEntry>;
}

/**
 * Opus encoder settings of the mixers (their shared mix and every mix-minus-self): complexity 4,
 * libopus choosing the bitrate, no FEC — Janus AudioBridge's participant encoders' complexity.
 * Measured with @evan/opus at 48 kHz on a three-tone mix: ≈ 3 % less CPU per encode than
 * complexity 5, same packet size. The application is the mixer's own, CELT-only
 * (`MIXER_OPUS_APPLICATION`: Janus's `voip` breaks receivers moved between the shared and an own
 * encoder, which Janus, encoding per participant, never does).
 */
export const MIXER_OPUS_SETTINGS = { complexity: 4 } as const;

/** Mixer frame period (ms). */
const TICK_MS = 20;
/**
 * A leg's last packet older than this is not sent through a new tunnel: no packet lasts longer
 * (120 ms, RFC 6716 §3.2.5), and the mixer judges freshness by the packet's own duration.
 */
const MAX_PRIMING_AGE_MS = 120;
/** Ticks run back to back after a late timer before the backlog is dropped. */
const MAX_CATCH_UP_TICKS = 5;

const EngineState = {
  Open: 'open',
  Closing: 'closing',
  Closed: 'closed',
} as const;
type EngineState = (typeof EngineState)[keyof typeof EngineState];

const SYSTEM_CLOCK: Clock = { now: () => performance.now() };

/** Longest id or group accepted from the control plane. */
const MAX_ID_LENGTH = 256;

function assertId(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw new TypeError(
      `${name} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`,
    );
  }
}

/** The entry of `map` for the id argument `id` (named `name`); `notFound(id)` when it has none. */
function lookup<T>(
  map: ReadonlyMap<string, T>,
  id: unknown,
  name: string,
  notFound: (id: string) => MediaError,
): T {
  assertId(id, name);
  const found = map.get(id);
  if (found === undefined) {
    throw notFound(id);
  }
  return found;
}

function assertString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') {
    throw new TypeError(`${name} must be a string`);
  }
}

function assertBoolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`${name} must be a boolean`);
  }
}

/**
 * Whether a packet received on `from` is relayed into its bridge: not from a held leg, not to a
 * held leg (a relay bridge forwards to every other leg, so one held member silences the others'
 * path to it), and not the audio of a muted leg. Telephone-events of a muted leg still pass.
 */
function relays(from: LegEntry, bridged: BridgeEntry, payloadType: number): boolean {
  if (from.held) {
    return false;
  }
  for (const other of bridged.legs) {
    if (other !== from && other.held) {
      return false;
    }
  }
  return !from.muted || payloadType === from.leg.format.telephoneEvent?.payloadType;
}

function sameFormat(a: MediaFormat, b: MediaFormat): boolean {
  return (
    a.audio.name === b.audio.name &&
    a.audio.payloadType === b.audio.payloadType &&
    a.audio.clockRate === b.audio.clockRate &&
    a.telephoneEvent?.payloadType === b.telephoneEvent?.payloadType &&
    a.telephoneEvent?.clockRate === b.telephoneEvent?.clockRate &&
    a.audioLevelExtensionId === b.audioLevelExtensionId
  );
}

/** The in-process {@link MediaEngine}. */
export class LocalMediaEngine extends TypedEmitter<MediaEngineEvents> implements MediaEngine {
  readonly #options: LocalMediaEngineOptions;
  readonly #addresses: readonly string[];
  readonly #allocator: PortAllocator;
  readonly #logger: Logger;
  readonly #clock: Clock = SYSTEM_CLOCK;
  readonly #legs = new Map<string, LegEntry>();
  readonly #bridges = new Map<string, BridgeEntry>();
  readonly #mixers = new Map<string, MixerEntry>();
  /** Links to the other workers (cross-worker mixing), by the other worker's index. */
  readonly #links = new Map<number, TunnelLink>();
  #tickTimer: ReturnType<typeof setTimeout> | undefined;
  #nextTickAt = 0;
  /** Mixers ticked since the timer started: its 20 ms phase is set (see `startMixer`). */
  #phased = false;
  #state: EngineState = EngineState.Open;
  #closing: Promise<void> | undefined;

  constructor(options: LocalMediaEngineOptions = {}) {
    super();
    this.#options = options;
    this.#addresses = options.addresses ?? ['127.0.0.1'];
    if (this.#addresses.length === 0) {
      throw new TypeError('the media engine needs at least one address');
    }
    // Own allocator: engines of one thread must be given disjoint ranges.
    this.#allocator = new PortAllocator(options.portRange ?? DEFAULT_PORT_RANGE);
    this.#logger = (options.logger ?? silentLogger).child({ component: 'media-engine' });
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

  async removeFromMixer(mixerId: string, legId: string): Promise<void> {
    await this.execute({ type: 'removeFromMixer', mixerId, legId });
  }

  async startMixer(mixerId: string): Promise<void> {
    await this.execute({ type: 'startMixer', mixerId });
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

  /**
   * Runs one command. Caller mistakes (wrong argument types) reject with `TypeError`, calls on
   * a closed engine with `InvalidStateError`, everything else with a {@link MediaError}.
   */
  async execute<T extends MediaCommandType>(
    command: MediaCommandOf<T>,
  ): Promise<MediaCommandResults[T]> {
    return (await this.#dispatch(command)) as MediaCommandResults[T];
  }

  async #dispatch(command: MediaCommand): Promise<MediaCommandResults[MediaCommandType]> {
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
      case 'createLeg':
        return this.#createLeg(command.kind, command.group);
      case 'createOffer': {
        const entry = this.#entry(command.legId);
        const sdp = await entry.leg.createOffer();
        return { sdp };
      }
      case 'acceptOffer': {
        assertString(command.sdp, 'sdp');
        const entry = this.#entry(command.legId);
        const before = entry.leg.format;
        const sdp = await entry.leg.acceptOffer(command.sdp);
        this.#refreshBridge(entry, before);
        return { sdp };
      }
      case 'acceptAnswer': {
        assertString(command.sdp, 'sdp');
        const entry = this.#entry(command.legId);
        const before = entry.leg.format;
        await entry.leg.acceptAnswer(command.sdp);
        this.#refreshBridge(entry, before);
        return null;
      }
      case 'bridge':
        return this.#bridge(command.legIdA, command.legIdB);
      case 'unbridge':
        this.#unbridge(command.bridgeId);
        return null;
      case 'closeLeg': {
        const entry = this.#entry(command.legId);
        entry.closeReason = LegCloseReason.Closed;
        await entry.leg.close();
        return null;
      }
      case 'setMuted': {
        assertBoolean(command.muted, 'muted');
        const entry = this.#entry(command.legId);
        if (entry.muted && !command.muted) {
          this.#resyncAfterSilence(entry, false);
        }
        entry.muted = command.muted;
        entry.mixer?.mixer.setMuted(entry.leg.id, command.muted);
        return null;
      }
      case 'setHeld': {
        assertBoolean(command.held, 'held');
        const entry = this.#entry(command.legId);
        if (entry.held && !command.held) {
          this.#resyncAfterSilence(entry, true);
        }
        entry.held = command.held;
        entry.mixer?.mixer.setHeld(entry.leg.id, command.held);
        return null;
      }
      case 'createMixer':
        return this.#createMixer(command.group);
      case 'addToMixer': {
        const mixed = this.#mixerEntry(command.mixerId);
        const entry = this.#entry(command.legId);
        this.#addToMixer(mixed, entry);
        return null;
      }
      case 'removeFromMixer': {
        const mixed = this.#mixerEntry(command.mixerId);
        const entry = this.#entry(command.legId);
        if (entry.mixer === mixed) {
          this.#leaveMixer(entry);
        }
        return null;
      }
      case 'startMixer': {
        this.#mixerEntry(command.mixerId);
        if (!this.#phased && this.#tickTimer !== undefined) {
          // No mixer has ticked since the timer started: its phase is still free, so the
          // first tick is now instead of one period after the mixer was created.
          clearTimeout(this.#tickTimer);
          this.#tickTimer = undefined;
          this.#nextTickAt = this.#clock.now();
          this.#onTick();
        }
        return null;
      }
      case 'closeMixer': {
        assertId(command.mixerId, 'mixerId');
        const mixed = this.#mixers.get(command.mixerId);
        if (mixed) {
          this.#closeMixer(mixed);
        }
        return null;
      }
      default:
        throw new TypeError(
          `unknown media command ${String((command as { type?: unknown }).type)}`,
        );
    }
  }

  async #createLeg(kind: unknown, group: unknown): Promise<{ legId: string }> {
    assertId(group, 'group');
    const logger = this.#logger.child({ group });
    const common = {
      portAllocator: this.#allocator,
      clock: this.#clock,
      logger,
      ...(this.#options.rtcpIntervalMs === undefined
        ? {}
        : { rtcpIntervalMs: this.#options.rtcpIntervalMs }),
      ...(this.#options.mediaTimeoutMs === undefined
        ? {}
        : { mediaTimeoutMs: this.#options.mediaTimeoutMs }),
    };
    let leg: MediaLeg;
    if (kind === LegKind.WebRtc) {
      leg = WebRtcLeg.create({
        ...common,
        addresses: this.#addresses,
        iceLite: this.#options.iceLite ?? false,
      });
    } else if (kind === LegKind.Rtp) {
      const address = this.#addresses[0]!;
      leg = await RtpLeg.open({
        ...common,
        address,
        bindAddress:
          this.#options.rtpBindAddress ?? (this.#addresses.length === 1 ? address : '0.0.0.0'),
        ...(this.#options.rtpCodecs === undefined ? {} : { codecs: this.#options.rtpCodecs }),
      });
    } else {
      throw new TypeError(`unknown leg kind ${String(kind)}`);
    }
    if (this.#state !== EngineState.Open) {
      // The engine closed while the sockets were being bound.
      await leg.close();
      throw InvalidStateError.closed('MediaEngine');
    }
    this.#register(leg, group);
    return { legId: leg.id };
  }

  #register(leg: MediaLeg, group: string, remote = false): LegEntry {
    const entry: LegEntry = {
      leg,
      group,
      remote,
      bridge: undefined,
      tunnel: undefined,
      mixer: undefined,
      closeReason: LegCloseReason.Closed,
      muted: false,
      held: false,
      last: undefined,
      lastAt: 0,
    };
    this.#legs.set(leg.id, entry);
    const legId = leg.id;
    const clock = this.#clock;
    leg.on('rtp', (packet) => {
      entry.last = packet;
      entry.lastAt = clock.now();
      const tunnel = entry.tunnel;
      if (tunnel) {
        // Mute and hold are applied by the mixer's worker, which knows them too.
        tunnel.forward(packet);
        return;
      }
      const mixed = entry.mixer;
      if (mixed) {
        // The mixer applies mute and hold itself.
        mixed.mixer.receive(legId, packet);
        return;
      }
      const bridged = entry.bridge;
      if (!bridged || !relays(entry, bridged, packet.payloadType)) {
        return;
      }
      bridged.bridge.receive(legId, packet);
    });
    leg.on('dtmf', (event) => {
      this.emit('dtmf', { legId, digit: event.digit, durationMs: event.durationMs });
    });
    leg.on('state', (state) => {
      if (state === LegState.Closed) {
        this.#forget(entry);
        if (!remote) {
          this.emit('legClosed', { legId, reason: entry.closeReason });
        }
      } else {
        entry.tunnel?.update();
        if (!remote) {
          this.emit('legState', { legId, state });
        }
      }
    });
    return entry;
  }

  /**
   * Cross-worker mixing (internal, driven by {@link WorkerMediaEngine}): `port` is this
   * worker's end of the link to worker `peer`, which carries every tunnel between the two, with
   * the link's two shared packet rings (`send` written here, `receive` read at each tick; see
   * `tunnel.ts`). Replaces an earlier link to that worker (whose tunnels close).
   * @internal
   */
  openLink(
    peer: unknown,
    port: MessagePort,
    send: SharedArrayBuffer,
    receive: SharedArrayBuffer,
  ): void {
    if (typeof peer !== 'number' || !Number.isInteger(peer) || peer < 0) {
      port.close();
      throw new TypeError('peer must be a worker index');
    }
    if (this.#state !== EngineState.Open) {
      port.close();
      throw InvalidStateError.closed('MediaEngine');
    }
    this.#links.get(peer)?.close();
    const link = new TunnelLink({
      port,
      send,
      receive,
      onClose: () => {
        if (this.#links.get(peer) === link) {
          this.#links.delete(peer);
        }
      },
    });
    this.#links.set(peer, link);
  }

  /**
   * Cross-worker mixing, the leg's side (internal): the leg leaves its relay bridge (which
   * closes) and its media goes through tunnel `tunnelId` of the link to worker `peer`, to a
   * mixer there. Replaces an earlier tunnel of the leg. Returns what the proxy must start from.
   * @internal
   */
  openTunnel(legId: unknown, peer: unknown, tunnelId: unknown): TunnelStart {
    const entry = this.#entry(legId);
    if (entry.remote) {
      throw new TypeError(`leg ${entry.leg.id} is a remote leg`);
    }
    const link = this.#link(peer);
    this.#detach(entry);
    this.#leaveMixer(entry);
    entry.tunnel?.close();
    const tunnel = link.openTunnel(entry.leg, tunnelId as number, `tunnel:${randomUUID()}`, () => {
      if (entry.tunnel === tunnel) {
        entry.tunnel = undefined;
      }
    });
    entry.tunnel = tunnel;
    // The proxy's mixer is primed with the leg's last packet as a local leg's would be: it
    // travels with the tunnel's opening (the tunnel port's first messages may be delivered
    // after the mixer's next commands).
    const last = entry.last;
    const age = this.#clock.now() - entry.lastAt;
    return last !== undefined && age < MAX_PRIMING_AGE_MS
      ? { ...tunnel.info, last: { packet: last, ageMs: age } }
      : tunnel.info;
  }

  /**
   * Ends the tunnel of a leg (it stays open, unbridged); idempotent, also for an unknown leg.
   * @internal
   */
  closeTunnel(legId: unknown): void {
    assertId(legId, 'legId');
    this.#legs.get(legId)?.tunnel?.close();
  }

  /**
   * Cross-worker mixing, the mixer's side (internal): registers a proxy for leg `legId` of
   * worker `peer`, under the same id, so that mixer commands can name it; its media travels in
   * tunnel `tunnelId` of the link to that worker. A stale proxy of the same id is closed first.
   * @internal
   */
  attachRemoteLeg(
    legId: unknown,
    group: unknown,
    peer: unknown,
    tunnelId: unknown,
    info: TunnelLegInfo,
  ): void {
    assertId(legId, 'legId');
    assertId(group, 'group');
    if (this.#state !== EngineState.Open) {
      throw InvalidStateError.closed('MediaEngine');
    }
    const link = this.#link(peer);
    const existing = this.#legs.get(legId);
    if (existing && !existing.remote) {
      throw new TypeError(`leg ${legId} is a local leg`);
    }
    if (existing) {
      void existing.leg.close();
    }
    const leg = link.attach(legId, tunnelId as number, info, this.#clock);
    const entry = this.#register(leg, group, true);
    const last = (info as TunnelStart).last;
    if (last !== undefined && typeof last.ageMs === 'number') {
      // Its age on arrival: the transit between the workers is not counted (well under a
      // packet time unless a thread was descheduled).
      entry.last = last.packet;
      entry.lastAt = this.#clock.now() - last.ageMs;
    }
  }

  #link(peer: unknown): TunnelLink {
    const link = typeof peer === 'number' ? this.#links.get(peer) : undefined;
    if (!link) {
      throw MediaError.internal(`no link to media worker ${String(peer)}`);
    }
    return link;
  }

  /**
   * Closes the proxy of a remote leg (it leaves its mixer); idempotent.
   * @internal
   */
  detachRemoteLeg(legId: unknown): void {
    assertId(legId, 'legId');
    const entry = this.#legs.get(legId);
    if (entry?.remote) {
      void entry.leg.close();
    }
  }

  /** Takes a leg out of its relay bridge (a bridge left with one leg closes). */
  #detach(entry: LegEntry): void {
    this.#leaveBridge(entry, 1);
  }

  /** Takes a leg out of its relay bridge, which closes if `closeAtMost` legs or fewer remain. */
  #leaveBridge(entry: LegEntry, closeAtMost: number): void {
    const bridged = entry.bridge;
    if (!bridged) {
      return;
    }
    entry.bridge = undefined;
    bridged.legs.delete(entry);
    bridged.bridge.remove(entry.leg.id);
    if (bridged.legs.size <= closeAtMost) {
      this.#closeBridge(bridged);
    }
  }

  #forget(entry: LegEntry): void {
    if (this.#legs.get(entry.leg.id) === entry) {
      this.#legs.delete(entry.leg.id);
    }
    entry.tunnel?.close();
    if (entry.mixer) {
      this.#leaveMixer(entry);
    }
    // A closed leg's bridge closes only once no leg is left in it.
    this.#leaveBridge(entry, 0);
  }

  #closeBridge(bridged: BridgeEntry): void {
    const bridgeId = bridged.bridge.id;
    this.#bridges.delete(bridgeId);
    for (const entry of bridged.legs) {
      entry.bridge = undefined;
    }
    bridged.bridge.close();
    this.emit('bridgeClosed', { bridgeId });
  }

  #bridge(legIdA: unknown, legIdB: unknown): { bridgeId: string } {
    const a = this.#entry(legIdA);
    const b = this.#entry(legIdB);
    if (a === b) {
      throw new TypeError('cannot bridge a leg with itself');
    }
    for (const entry of [a, b]) {
      if (entry.bridge) {
        throw new MediaError(
          'MEDIA_LEG_BUSY',
          `leg ${entry.leg.id} is already in bridge ${entry.bridge.bridge.id}`,
        );
      }
      if (entry.mixer) {
        throw new MediaError(
          'MEDIA_LEG_BUSY',
          `leg ${entry.leg.id} is in mixer ${entry.mixer.mixer.id}`,
        );
      }
    }
    const id = randomUUID();
    const bridge = new RelayBridge({
      id,
      clock: this.#clock,
      logger: this.#logger.child({ bridgeId: id }),
    });
    bridge.add(a.leg);
    bridge.add(b.leg);
    const bridged: BridgeEntry = { bridge, legs: new Set([a, b]) };
    a.bridge = bridged;
    b.bridge = bridged;
    this.#bridges.set(id, bridged);
    return { bridgeId: id };
  }

  #createMixer(group: unknown): { mixerId: string } {
    assertId(group, 'group');
    const mixerId = randomUUID();
    const mixer = new Mixer({
      id: mixerId,
      clock: this.#clock,
      logger: this.#logger.child({ group }),
      opus: MIXER_OPUS_SETTINGS,
    });
    mixer.on('talking', (legId, talking) => {
      this.emit('mixerTalking', { mixerId, legId, talking });
    });
    this.#mixers.set(mixerId, { mixer, legs: new Set() });
    this.#startTicking();
    return { mixerId };
  }

  #addToMixer(mixed: MixerEntry, entry: LegEntry): void {
    if (entry.mixer === mixed) {
      return;
    }
    // A leg is in at most one relay bridge or mixer (local, or remote through a tunnel).
    this.#leaveMixer(entry);
    entry.tunnel?.close();
    this.#detach(entry);
    mixed.mixer.add(entry.leg, {
      muted: entry.muted,
      held: entry.held,
      ...(entry.last === undefined
        ? {}
        : { last: { packet: entry.last, receivedAt: entry.lastAt } }),
    });
    mixed.legs.add(entry);
    entry.mixer = mixed;
  }

  #leaveMixer(entry: LegEntry): void {
    const mixed = entry.mixer;
    if (!mixed) {
      return;
    }
    entry.mixer = undefined;
    mixed.legs.delete(entry);
    mixed.mixer.remove(entry.leg.id);
  }

  #closeMixer(mixed: MixerEntry): void {
    const mixerId = mixed.mixer.id;
    this.#mixers.delete(mixerId);
    for (const entry of mixed.legs) {
      entry.mixer = undefined;
    }
    mixed.legs.clear();
    mixed.mixer.close();
    if (this.#mixers.size === 0) {
      this.#stopTicking();
    }
    this.emit('mixerClosed', { mixerId });
  }

  #mixerEntry(mixerId: unknown): MixerEntry {
    return lookup(this.#mixers, mixerId, 'mixerId', (id) => MediaError.mixerNotFound(id));
  }

  #startTicking(): void {
    if (this.#tickTimer !== undefined) {
      return;
    }
    this.#nextTickAt = this.#clock.now() + TICK_MS;
    this.#phased = false;
    this.#scheduleTick();
  }

  #stopTicking(): void {
    if (this.#tickTimer !== undefined) {
      clearTimeout(this.#tickTimer);
      this.#tickTimer = undefined;
    }
  }

  #scheduleTick(): void {
    const delay = Math.max(0, this.#nextTickAt - this.#clock.now());
    this.#tickTimer = setTimeout(this.#onTick, delay);
    this.#tickTimer.unref();
  }

  readonly #onTick = (): void => {
    this.#tickTimer = undefined;
    if (this.#mixers.size === 0 || this.#state !== EngineState.Open) {
      return;
    }
    // What the legs of other workers received since the last tick (shared rings, no messages).
    for (const link of this.#links.values()) {
      link.drain();
    }
    const now = this.#clock.now();
    let runs = 0;
    while (this.#nextTickAt <= now && runs < MAX_CATCH_UP_TICKS) {
      for (const mixed of this.#mixers.values()) {
        try {
          mixed.mixer.tick();
        } catch (error) {
          this.#logger.error({ err: error, mixerId: mixed.mixer.id }, 'mixer tick failed');
        }
      }
      this.#nextTickAt += TICK_MS;
      runs++;
      this.#phased = true;
    }
    if (this.#nextTickAt <= now) {
      this.#logger.warn({ lateMs: now - this.#nextTickAt }, 'mixer ticks dropped');
      this.#nextTickAt = now + TICK_MS;
    }
    if (this.#mixers.size > 0) {
      this.#scheduleTick();
    }
  };

  #unbridge(bridgeId: unknown): void {
    this.#closeBridge(
      lookup(this.#bridges, bridgeId, 'bridgeId', (id) => MediaError.bridgeNotFound(id)),
    );
  }

  /**
   * After a deliberate silence (mute or hold lifted), the streams that carried nothing restart
   * as a new source (next sequence number, timestamp advanced by the elapsed time, marker bit),
   * so receivers do not count the silence as loss: the other legs' outgoing streams, and for a
   * hold also the leg's own.
   */
  #resyncAfterSilence(entry: LegEntry, includeSelf: boolean): void {
    for (const other of entry.bridge?.legs ?? []) {
      if (other !== entry || includeSelf) {
        other.leg.output.resync();
      }
    }
    if (!entry.bridge && includeSelf) {
      entry.leg.output.resync();
    }
  }

  /**
   * A relay bridge picks its routes (relay, G.711 conversion, transcoding) when a port joins;
   * after a renegotiation changed the leg's codec or payload types, the leg rejoins.
   */
  #refreshBridge(entry: LegEntry, before: MediaFormat): void {
    entry.tunnel?.update();
    const mixed = entry.mixer;
    if (mixed && !sameFormat(before, entry.leg.format)) {
      mixed.mixer.remove(entry.leg.id);
      mixed.mixer.add(entry.leg, { muted: entry.muted, held: entry.held });
      return;
    }
    const bridged = entry.bridge;
    if (!bridged || sameFormat(before, entry.leg.format)) {
      return;
    }
    bridged.bridge.remove(entry.leg.id);
    bridged.bridge.add(entry.leg);
  }

  #entry(legId: unknown): LegEntry {
    return lookup(this.#legs, legId, 'legId', (id) => MediaError.legNotFound(id));
  }

  #stats(): MediaEngineStats {
    const stats: MediaEngineStats = {
      legs: 0,
      bridges: this.#bridges.size,
      mixers: this.#mixers.size,
      mixerParticipants: 0,
      legsByKind: { webrtc: 0, rtp: 0 },
      legsByState: { new: 0, connecting: 0, connected: 0, failed: 0, closed: 0 },
      packetsReceived: 0,
      packetsSent: 0,
      packetsDropped: 0,
      bytesReceived: 0,
      bytesSent: 0,
      portPairsInUse: this.#allocator.inUse,
      portPairCapacity: this.#allocator.capacity,
    };
    for (const mixed of this.#mixers.values()) {
      stats.mixerParticipants += mixed.legs.size;
    }
    for (const { leg, remote } of this.#legs.values()) {
      if (remote) {
        continue;
      }
      stats.legs++;
      const legStats = leg.stats();
      stats.legsByKind[legStats.kind]++;
      stats.legsByState[legStats.state]++;
      stats.packetsReceived += legStats.packetsReceived;
      stats.packetsSent += legStats.packetsSent;
      stats.packetsDropped += legStats.packetsDropped;
      stats.bytesReceived += legStats.bytesReceived;
      stats.bytesSent += legStats.bytesSent;
    }
    return stats;
  }

  async #teardown(): Promise<void> {
    this.#state = EngineState.Closing;
    for (const bridged of [...this.#bridges.values()]) {
      this.#closeBridge(bridged);
    }
    for (const mixed of [...this.#mixers.values()]) {
      this.#closeMixer(mixed);
    }
    this.#stopTicking();
    const legs = [...this.#legs.values()];
    for (const entry of legs) {
      entry.closeReason = LegCloseReason.EngineClosed;
    }
    await Promise.all(legs.map(async (entry) => entry.leg.close()));
    for (const link of [...this.#links.values()]) {
      link.close();
    }
    this.#state = EngineState.Closed;
    this.#logger.debug({ legs: legs.length }, 'media engine closed');
  }
}
