/**
 * A two-party bridge: forwards each leg's RTP to the other, transcoding only when the two legs
 * negotiated different codecs.
 */
import { InvalidStateError, TypedEmitter, silentLogger, type Logger } from '@confab/core';
import { transcodeG711 } from '../codec/g711.js';
import { rescaleTelephoneEvent } from '../dtmf/telephone-event.js';
import type { RtpPacket } from '../rtp/packet.js';
import { Transcoder, type TranscoderOptions } from './transcoder.js';
import type { BridgePort, Clock } from './types.js';

/**
 * The lifecycle of a {@link RelayBridge}.
 *
 * ```text
 *   idle ◄──► active      (two ports: active; fewer: idle)
 *     └────┬────┘
 *          ▼
 *        closed           (terminal; close() from any state)
 * ```
 */
export const RelayBridgeState = {
  Idle: 'idle',
  Active: 'active',
  Closed: 'closed',
} as const;

export type RelayBridgeState = (typeof RelayBridgeState)[keyof typeof RelayBridgeState];

const TRANSITIONS: Readonly<Record<RelayBridgeState, readonly RelayBridgeState[]>> = {
  idle: ['active', 'closed'],
  active: ['idle', 'closed'],
  closed: [],
};

/** Events of a {@link RelayBridge}. */
export interface RelayBridgeEvents {
  [key: string]: unknown[];
  portAdded: [port: BridgePort];
  portRemoved: [port: BridgePort];
  stateChanged: [state: RelayBridgeState, previous: RelayBridgeState];
  /** Emitted once by {@link RelayBridge.close}. */
  closed: [];
}

/** Options of {@link RelayBridge}. */
export interface RelayBridgeOptions {
  id: string;
  clock: Clock;
  logger?: Logger;
  /** Codec settings and concealment limit of the transcoders (when codecs differ). */
  transcoding?: Pick<TranscoderOptions, 'codec' | 'maxConcealmentMs'>;
}

/** How media of one direction is carried. */
const Route = {
  /** Same codec: payload untouched, header rewritten by the destination's stream. */
  Relay: 0,
  /** PCMU ↔ PCMA: octet-wise conversion on the source's timeline. */
  G711: 1,
  /** Different codecs: decode, re-frame, encode as generated media. */
  Transcode: 2,
} as const;
type Route = (typeof Route)[keyof typeof Route];

/** How telephone-events of one direction are carried. */
const EventRoute = {
  /** The destination negotiated no telephone-event: dropped. */
  Drop: 0,
  /** Same clock rate and audio on the source's timeline: relayed with the PT mapped. */
  Relay: 1,
  /** Rescaled and written into the destination's generated timeline. */
  Generated: 2,
} as const;
type EventRoute = (typeof EventRoute)[keyof typeof EventRoute];

/** Per-direction forwarding state, rebuilt whenever the pair of ports changes. */
interface Direction {
  readonly to: BridgePort;
  readonly route: Route;
  readonly audioPayloadType: number;
  /** The source law of a {@link Route.G711} direction. */
  readonly g711From: 'PCMU' | 'PCMA';
  readonly transcoder: Transcoder | undefined;
  readonly eventRoute: EventRoute;
  readonly eventPayloadType: number;
  readonly eventFromRate: number;
  readonly eventToRate: number;
  /** Packets were withheld because the destination did not want media. */
  suppressed: boolean;
  /** Timestamp of the source event being forwarded into a generated timeline. */
  eventTimestamp: number;
  eventOpen: boolean;
}

/** Counters of one port of a {@link RelayBridge}. */
export interface RelayPortStats {
  /** Packets received from the port. */
  received: number;
  /** Packets of this port forwarded (or handed to a transcoder) towards the other port. */
  forwarded: number;
  /** Clock time of the last packet received from the port (−1: none yet); for RTP timeouts. */
  lastReceivedAt: number;
  /** Packets whose forwarding threw (the first failure is logged). */
  failed: number;
}

/** One port of the bridge and the direction from it to the other port. */
interface Slot {
  readonly port: BridgePort;
  readonly stats: RelayPortStats;
  /** SSRC whose source key is cached in `key` (avoids building a string per packet). */
  ssrc: number;
  key: string;
  toOther: Direction | undefined;
}

/**
 * A relay bridge joins exactly two {@link BridgePort}s.
 *
 * Per direction, chosen when the second port joins:
 * - same codec (name, clock rate): packets are forwarded with their payload untouched through
 *   the destination's {@link OutboundRtpStream.write} (own SSRC, continuous numbering), with
 *   the destination's payload type;
 * - PCMU ↔ PCMA: octets are converted one to one, still on the source's timeline;
 * - otherwise: a {@link Transcoder} (decode, resample, encode in 20 ms frames).
 * Telephone-events (RFC 4733) are forwarded with the destination's payload type, their
 * timestamps and durations rescaled when the clock rates differ. Packets of any other payload
 * type (comfort noise, RED, …) are dropped. Nothing is sent to a port whose `wantsMedia` is
 * false; when it wants media again its stream resynchronises (no phantom loss).
 *
 * Close cascade: {@link RelayBridge.close} closes the transcoders and releases both ports
 * (without `portRemoved` events; the ports themselves stay open), then emits `closed`.
 *
 * The same-codec path allocates only the rewritten packet object.
 */
export class RelayBridge extends TypedEmitter<RelayBridgeEvents> {
  readonly id: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #transcoding: RelayBridgeOptions['transcoding'];
  #state: RelayBridgeState = RelayBridgeState.Idle;
  #first: Slot | undefined;
  #second: Slot | undefined;
  #ports: readonly BridgePort[] = [];

  constructor(options: RelayBridgeOptions) {
    super();
    this.id = options.id;
    this.#clock = options.clock;
    this.#logger = (options.logger ?? silentLogger).child({ bridgeId: options.id });
    this.#transcoding = options.transcoding;
  }

  get state(): RelayBridgeState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#state === RelayBridgeState.Closed;
  }

  /** The ports in the order they were added (a stable array until the next change). */
  get ports(): readonly BridgePort[] {
    return this.#ports;
  }

  /**
   * Adds a port (at most two).
   * @throws InvalidStateError if closed or already holding two ports; TypeError if a port with
   * the same id is already in the bridge.
   */
  add(port: BridgePort): void {
    if (this.closed) {
      throw InvalidStateError.closed(`RelayBridge ${this.id}`);
    }
    if (this.#first?.port.id === port.id || this.#second?.port.id === port.id) {
      throw new TypeError(`port ${port.id} is already in bridge ${this.id}`);
    }
    if (this.#first !== undefined && this.#second !== undefined) {
      throw new InvalidStateError(`RelayBridge ${this.id} already has two ports`);
    }
    const slot: Slot = {
      port,
      stats: { received: 0, forwarded: 0, lastReceivedAt: -1, failed: 0 },
      ssrc: -1,
      key: '',
      toOther: undefined,
    };
    if (this.#first === undefined) {
      this.#first = slot;
    } else {
      this.#second = slot;
    }
    this.#rebuild();
    this.#logger.debug({ portId: port.id, codec: port.format.audio.name }, 'port added');
    this.emit('portAdded', port);
    if (this.#first !== undefined && this.#second !== undefined) {
      this.#transition(RelayBridgeState.Active);
    }
  }

  /** Removes a port; no effect if it is not in the bridge (or the bridge is closed). */
  remove(portId: string): void {
    let removed: Slot | undefined;
    if (this.#first?.port.id === portId) {
      removed = this.#first;
      this.#first = this.#second;
      this.#second = undefined;
    } else if (this.#second?.port.id === portId) {
      removed = this.#second;
      this.#second = undefined;
    }
    if (removed === undefined) {
      return;
    }
    this.#closeDirection(removed.toOther);
    this.#rebuild();
    this.#logger.debug({ portId }, 'port removed');
    this.emit('portRemoved', removed.port);
    if (this.#state === RelayBridgeState.Active) {
      this.#transition(RelayBridgeState.Idle);
    }
  }

  /**
   * An RTP packet received from `fromPortId` (already SRTP-decrypted): forwards it to the other
   * port. Unknown ports, a missing peer, a closed bridge and foreign payload types are ignored;
   * this never throws for network input.
   */
  receive(fromPortId: string, packet: RtpPacket): void {
    let slot: Slot;
    if (this.#first !== undefined && this.#first.port.id === fromPortId) {
      slot = this.#first;
    } else if (this.#second !== undefined && this.#second.port.id === fromPortId) {
      slot = this.#second;
    } else {
      return;
    }
    slot.stats.received++;
    slot.stats.lastReceivedAt = this.#clock.now();
    const direction = slot.toOther;
    if (direction === undefined) {
      return;
    }
    const to = direction.to;
    if (!to.wantsMedia) {
      direction.suppressed = true;
      return;
    }
    if (direction.suppressed) {
      direction.suppressed = false;
      to.output.resync();
      direction.transcoder?.reset();
    }
    const format = slot.port.format;
    try {
      if (packet.payloadType === format.audio.payloadType) {
        slot.stats.forwarded++;
        this.#forwardAudio(slot, direction, packet);
      } else if (packet.payloadType === format.telephoneEvent?.payloadType) {
        slot.stats.forwarded++;
        this.#forwardEvent(slot, direction, packet);
      }
    } catch (error) {
      // A failing destination (closed socket, codec fault) must not break the source's
      // receive loop; report the first failure of a run, count the rest.
      if (slot.stats.failed++ === 0) {
        this.#logger.warn({ err: error, from: fromPortId, to: to.id }, 'forwarding failed');
      }
    }
  }

  /** Live counters of a port (the same object while the port stays), or `undefined`. */
  portStats(portId: string): Readonly<RelayPortStats> | undefined {
    if (this.#first?.port.id === portId) {
      return this.#first.stats;
    }
    return this.#second?.port.id === portId ? this.#second.stats : undefined;
  }

  /** Closes the transcoders and releases the ports, then emits `closed`. Idempotent. */
  close(): void {
    if (this.closed) {
      return;
    }
    this.#closeDirection(this.#first?.toOther);
    this.#closeDirection(this.#second?.toOther);
    this.#first = undefined;
    this.#second = undefined;
    this.#ports = [];
    this.#transition(RelayBridgeState.Closed);
    this.emit('closed');
    this.removeAllListeners();
  }

  #forwardAudio(slot: Slot, direction: Direction, packet: RtpPacket): void {
    const to = direction.to;
    switch (direction.route) {
      case Route.Relay: {
        const out = to.output.write(packet, this.#sourceKey(slot, packet.ssrc));
        out.payloadType = direction.audioPayloadType;
        to.sendRtp(out);
        return;
      }
      case Route.G711: {
        const out = to.output.write(packet, this.#sourceKey(slot, packet.ssrc));
        out.payloadType = direction.audioPayloadType;
        out.payload = transcodeG711(packet.payload, direction.g711From);
        to.sendRtp(out);
        return;
      }
      case Route.Transcode:
        direction.transcoder?.push(packet);
        return;
    }
  }

  #forwardEvent(slot: Slot, direction: Direction, packet: RtpPacket): void {
    const to = direction.to;
    switch (direction.eventRoute) {
      case EventRoute.Drop:
        return;
      case EventRoute.Relay: {
        const out = to.output.write(packet, this.#sourceKey(slot, packet.ssrc));
        out.payloadType = direction.eventPayloadType;
        to.sendRtp(out);
        return;
      }
      case EventRoute.Generated: {
        if (packet.payload.length < 4) {
          return;
        }
        // RFC 4733 §2.5.1.3: packets of one event share its start timestamp.
        const start = !direction.eventOpen || packet.timestamp !== direction.eventTimestamp;
        direction.eventOpen = true;
        direction.eventTimestamp = packet.timestamp;
        const payload = rescaleTelephoneEvent(
          packet.payload,
          direction.eventFromRate,
          direction.eventToRate,
        );
        const duration = (payload[2]! << 8) | payload[3]!;
        // The event's clock may differ from the audio clock of the destination's timeline.
        const timelineDuration = Math.round(
          (duration * to.output.clockRate) / direction.eventToRate,
        );
        to.sendRtp(
          to.output.writeEvent(payload, direction.eventPayloadType, start, timelineDuration),
        );
        return;
      }
    }
  }

  #sourceKey(slot: Slot, ssrc: number): string {
    if (slot.ssrc !== ssrc) {
      slot.ssrc = ssrc;
      slot.key = `${slot.port.id}:${ssrc}`;
    }
    return slot.key;
  }

  /** Recomputes the directions and the public port list after a membership change. */
  #rebuild(): void {
    const first = this.#first;
    const second = this.#second;
    this.#ports = [first?.port, second?.port].filter((p): p is BridgePort => p !== undefined);
    if (first === undefined || second === undefined) {
      if (first !== undefined) {
        this.#closeDirection(first.toOther);
        first.toOther = undefined;
      }
      return;
    }
    this.#closeDirection(first.toOther);
    this.#closeDirection(second.toOther);
    first.toOther = this.#direction(first.port, second.port);
    second.toOther = this.#direction(second.port, first.port);
  }

  #direction(from: BridgePort, to: BridgePort): Direction {
    const a = from.format.audio;
    const b = to.format.audio;
    let route: Route;
    if (a.name === b.name && a.clockRate === b.clockRate) {
      route = Route.Relay;
    } else if (a.name !== 'opus' && b.name !== 'opus' && a.clockRate === b.clockRate) {
      route = Route.G711;
    } else {
      route = Route.Transcode;
    }
    const transcoder =
      route === Route.Transcode
        ? new Transcoder({
            ...this.#transcoding,
            from: a,
            to: b,
            output: to.output,
            send: (packet) => {
              to.sendRtp(packet);
            },
          })
        : undefined;

    const fromEvent = from.format.telephoneEvent;
    const toEvent = to.format.telephoneEvent;
    let eventRoute: EventRoute;
    if (fromEvent === undefined || toEvent === undefined) {
      eventRoute = EventRoute.Drop;
    } else if (
      route !== Route.Transcode &&
      fromEvent.clockRate === toEvent.clockRate &&
      fromEvent.clockRate === a.clockRate &&
      toEvent.clockRate === b.clockRate
    ) {
      eventRoute = EventRoute.Relay;
    } else {
      eventRoute = EventRoute.Generated;
    }
    this.#logger.debug(
      { from: from.id, to: to.id, route, eventRoute, fromCodec: a.name, toCodec: b.name },
      'direction configured',
    );
    return {
      to,
      route,
      audioPayloadType: b.payloadType,
      g711From: a.name === 'PCMA' ? 'PCMA' : 'PCMU',
      transcoder,
      eventRoute,
      eventPayloadType: toEvent?.payloadType ?? -1,
      eventFromRate: fromEvent?.clockRate ?? 8000,
      eventToRate: toEvent?.clockRate ?? 8000,
      suppressed: false,
      eventTimestamp: 0,
      eventOpen: false,
    };
  }

  #closeDirection(direction: Direction | undefined): void {
    direction?.transcoder?.close();
  }

  #transition(to: RelayBridgeState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(to)) {
      throw InvalidStateError.transition(`RelayBridge ${this.id}`, from, to);
    }
    this.#state = to;
    this.#logger.debug({ from, to }, 'state');
    this.emit('stateChanged', to, from);
  }
}
