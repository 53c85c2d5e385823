/**
 * Cross-worker mixing: a leg on one media worker taking part in a mixer on another.
 *
 * ```text
 *  leg's worker                                        mixer's worker
 *  ┌────────────────────────────┐   TunnelLink      ┌──────────────────────────────────┐
 *  │ real leg ─rtp─► LegTunnel #7 │ ─media batch────► │ RemoteLeg #7 (proxy, leg's id) ─► │ mixer
 *  │ leg.output.write(…) ◄─────── │ ◄─media batch──── │ ◄─ proxy.output.writeGenerated   │
 *  │                              │ ─{t:'leg', 7}───► │ format / wantsMedia / state      │
 *  │                              │ ◄─{t:'close', 7}─►│                                  │
 *  └────────────────────────────┘                   └──────────────────────────────────┘
 * ```
 *
 * One {@link TunnelLink} per pair of workers (one `MessageChannel` whose ends the parent handed
 * to the two workers: packets go worker to worker, never through the main thread) carries every
 * tunnel between them, each named by a number the parent chose. Media is batched: what the
 * mixer sends to the remote legs in one tick leaves in ONE message, and a payload shared by
 * several of them (the full mix every listener hears) is in it once; what the legs receive is
 * gathered for at most {@link INGRESS_BATCH_MS} and sent as one message. One `postMessage` and
 * one wake-up of the other thread per batch instead of one per packet. Control messages (a
 * leg's state, a close) flush the pending batch first: everything on a link stays in order.
 *
 * Continuity: the mixer writes the proxy's packets through the proxy's own
 * {@link OutboundRtpStream}; the leg's side rewrites them once more through the REAL leg's
 * output, in relay mode with the tunnel as one source. So the endpoint sees the leg's SSRC with
 * contiguous sequence numbers (a marker bit where the mixer took over), and the leg's output
 * state stays the truth: a later move back into a relay bridge, or into another mixer,
 * continues from there.
 *
 * Both ends of a tunnel close on `{t:'close'}` from the other; every tunnel of a link closes
 * when the link's port closes (the other worker died); each close is idempotent.
 */
import type { MessagePort } from 'node:worker_threads';
import { TypedEmitter, UnsupportedError } from '@confab/core';
import { OutboundRtpStream } from '../bridge/outbound-stream.js';
import type { Clock, MediaFormat } from '../bridge/types.js';
import { parseRtp, rtpSerializedLength, serializeRtpInto } from '../rtp/packet.js';
import type { RtpPacket } from '../rtp/packet.js';
import { LegState } from '../legs/types.js';
import type { LegEvents, LegKind, LegStats, MediaLeg } from '../legs/types.js';

/** What the leg's side tells the mixer's side about the real leg. */
export interface TunnelLegInfo {
  kind: LegKind;
  format: MediaFormat;
  wantsMedia: boolean;
  state: LegState;
}

/** The messages of a link's port. */
export type TunnelMessage =
  /** A batch of packets, either way (see {@link TunnelLink} for the record layout). */
  | { t: 'media'; bytes: Uint8Array }
  /** leg → mixer: the leg's negotiated state changed (re-INVITE, hold). */
  | { t: 'leg'; id: number; info: TunnelLegInfo }
  /** Either way: this end of tunnel `id` is gone. */
  | { t: 'close'; id: number };

/**
 * Longest wait of a received packet before its batch leaves for the mixer's worker (ms). The
 * mixer plays its inputs from a jitter buffer of ≥ 1 frame (20 ms) at its own 20 ms tick, so a
 * few ms more on the way are absorbed; a given leg's delay is near constant (its packets and the
 * flush are both periodic), so it adds little jitter.
 */
export const INGRESS_BATCH_MS = 5;

/** A batch is sent at once beyond this size (octets). */
const MAX_BATCH = 60_000;
/** Record: a packet a leg received, for the proxy: [kind][id u32][length u16][RTP packet]. */
const REC_TO_PROXY = 1;
/** Record: a payload used by later REC_TO_LEG records of the batch: [kind][length u16][bytes]. */
const REC_PAYLOAD = 2;
/** Record: a mixed packet for the leg: [kind][id u32][M|PT][seq u16][ts u32][payload index u16]. */
const REC_TO_LEG = 3;

/** Both sides of a pair of workers: a MessagePort multiplexing tunnels, with batching. */
export class TunnelLink {
  readonly #port: MessagePort;
  /** Leg ends on this worker, by tunnel id. */
  readonly #tunnels = new Map<number, LegTunnel>();
  /** Proxies on this worker, by tunnel id. */
  readonly #proxies = new Map<number, RemoteLeg>();
  readonly #onClose: (() => void) | undefined;
  #closed = false;
  // The batch being built.
  #buffer = new Uint8Array(16_384);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;
  /** Payloads already in the batch → their index. */
  readonly #payloads = new Map<Uint8Array, number>();
  #flushQueued = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #batches = 0;

  /** @param onClose called once when the link closes (its port closed, or {@link close}) */
  constructor(port: MessagePort, onClose?: () => void) {
    this.#port = port;
    this.#onClose = onClose;
    port.on('message', (message: TunnelMessage) => {
      this.#onMessage(message);
    });
    port.on('close', () => {
      this.close();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Media batches posted so far (for tests and diagnostics). */
  get batchesSent(): number {
    return this.#batches;
  }

  /**
   * The leg's end of tunnel `id`: the leg's received packets go to the proxy of the same id on
   * the other worker, and what the mixer sends that proxy is sent by the leg.
   * @param sourceKey distinct per tunnel, so that a new tunnel is a new source for the leg's
   *   output (marker bit, continuity)
   * @param onClose called once when the tunnel closes, whichever end closed it
   */
  openTunnel(leg: MediaLeg, id: number, sourceKey: string, onClose: () => void): LegTunnel {
    this.#assertFree(id);
    const tunnel = new LegTunnel(leg, this, id, sourceKey, onClose);
    this.#tunnels.set(id, tunnel);
    return tunnel;
  }

  /** The mixer's end of tunnel `id`: a proxy standing for leg `legId` of the other worker. */
  attach(legId: string, id: number, info: TunnelLegInfo, clock: Clock): RemoteLeg {
    this.#assertFree(id);
    const proxy = new RemoteLeg({ id: legId, tunnelId: id, link: this, info, clock });
    this.#proxies.set(id, proxy);
    return proxy;
  }

  /** Closes every tunnel of the link (without telling the other side) and the port; idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#cancelFlush();
    for (const tunnel of [...this.#tunnels.values()]) {
      tunnel.close(false);
    }
    for (const proxy of [...this.#proxies.values()]) {
      proxy.closeFromLink();
    }
    this.#port.close();
    this.#onClose?.();
  }

  /** @internal LegTunnel: a packet the leg received. */
  toProxy(id: number, packet: RtpPacket): void {
    if (this.#closed) {
      return;
    }
    const length = rtpSerializedLength(packet);
    if (length > 0xffff) {
      return;
    }
    let at = this.#reserve(7 + length);
    this.#buffer[at] = REC_TO_PROXY;
    this.#view.setUint32(at + 1, id);
    this.#view.setUint16(at + 5, length);
    at += 7;
    this.#length = at + serializeRtpInto(packet, this.#buffer, at);
    if (this.#length >= MAX_BATCH) {
      this.flush();
    } else {
      this.#timer ??= setTimeout(this.#onTimer, INGRESS_BATCH_MS);
    }
  }

  /** @internal RemoteLeg: a packet the mixer sends to the leg (flushed after this tick). */
  toLeg(id: number, packet: RtpPacket): void {
    if (this.#closed) {
      return;
    }
    const payload = packet.payload;
    let index = this.#payloads.get(payload);
    if (index === undefined) {
      if (payload.length > 0xffff || this.#payloads.size > 0xffff) {
        return;
      }
      index = this.#payloads.size;
      const at = this.#reserve(3 + payload.length);
      this.#buffer[at] = REC_PAYLOAD;
      this.#view.setUint16(at + 1, payload.length);
      this.#buffer.set(payload, at + 3);
      this.#length = at + 3 + payload.length;
      this.#payloads.set(payload, index);
    }
    const at = this.#reserve(14);
    const view = this.#view;
    this.#buffer[at] = REC_TO_LEG;
    view.setUint32(at + 1, id);
    this.#buffer[at + 5] = (packet.marker ? 0x80 : 0) | (packet.payloadType & 0x7f);
    view.setUint16(at + 6, packet.sequenceNumber);
    view.setUint32(at + 8, packet.timestamp >>> 0);
    view.setUint16(at + 12, index);
    this.#length = at + 14;
    if (this.#length >= MAX_BATCH) {
      this.flush();
    } else if (!this.#flushQueued) {
      // Everything the mixer sends in this tick (one timer callback) leaves together.
      this.#flushQueued = true;
      queueMicrotask(this.#onMicrotask);
    }
  }

  /** @internal A control message, after whatever media is pending (order is kept). */
  post(message: TunnelMessage): void {
    if (this.#closed) {
      return;
    }
    this.flush();
    try {
      this.#port.postMessage(message);
    } catch {
      // The port is closing: its 'close' event ends the link.
    }
  }

  /** @internal A tunnel end closed. */
  forget(id: number, end: LegTunnel | RemoteLeg): void {
    if (this.#tunnels.get(id) === end) {
      this.#tunnels.delete(id);
    }
    if (this.#proxies.get(id) === end) {
      this.#proxies.delete(id);
    }
  }

  /** Sends the pending batch now. */
  flush(): void {
    this.#cancelFlush();
    if (this.#length === 0 || this.#closed) {
      return;
    }
    // An exact-size copy is transferred; the working buffer is reused.
    const bytes = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    this.#payloads.clear();
    this.#batches++;
    const message: TunnelMessage = { t: 'media', bytes };
    try {
      this.#port.postMessage(message, [bytes.buffer]);
    } catch {
      // The port is closing: its 'close' event ends the link.
    }
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.flush();
  };

  readonly #onMicrotask = (): void => {
    if (this.#flushQueued) {
      this.flush();
    }
  };

  #cancelFlush(): void {
    this.#flushQueued = false;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #assertFree(id: number): void {
    if (this.#closed) {
      throw new UnsupportedError('the link to the other worker is closed');
    }
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw new TypeError(`invalid tunnel id ${id}`);
    }
    if (this.#tunnels.has(id) || this.#proxies.has(id)) {
      throw new TypeError(`tunnel ${id} is already open`);
    }
  }

  /** Room for `size` more octets; returns where they go. */
  #reserve(size: number): number {
    const need = this.#length + size;
    if (need > this.#buffer.length) {
      let capacity = this.#buffer.length * 2;
      while (capacity < need) {
        capacity *= 2;
      }
      const bigger = new Uint8Array(capacity);
      bigger.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    return this.#length;
  }

  #onMessage(message: TunnelMessage): void {
    if (this.#closed) {
      return;
    }
    switch (message.t) {
      case 'media':
        this.#onMedia(message.bytes);
        return;
      case 'leg':
        this.#proxies.get(message.id)?.update(message.info);
        return;
      case 'close':
        this.#tunnels.get(message.id)?.close(false);
        this.#proxies.get(message.id)?.closeFromLink();
        return;
    }
  }

  /** Dispatches the records of a batch (a tunnel closed meanwhile is skipped). */
  #onMedia(bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const payloads: Uint8Array[] = [];
    const end = bytes.length;
    let at = 0;
    while (at < end) {
      const kind = bytes[at]!;
      if (kind === REC_TO_PROXY && at + 7 <= end) {
        const id = view.getUint32(at + 1);
        const length = view.getUint16(at + 5);
        at += 7;
        if (at + length > end) {
          return;
        }
        const proxy = this.#proxies.get(id);
        if (proxy) {
          const packet = parseRtp(bytes.subarray(at, at + length));
          if (packet) {
            proxy.receive(packet, length);
          }
        }
        at += length;
      } else if (kind === REC_PAYLOAD && at + 3 <= end) {
        const length = view.getUint16(at + 1);
        at += 3;
        if (at + length > end) {
          return;
        }
        payloads.push(bytes.subarray(at, at + length));
        at += length;
      } else if (kind === REC_TO_LEG && at + 14 <= end) {
        const id = view.getUint32(at + 1);
        const b1 = bytes[at + 5]!;
        const payload = payloads[view.getUint16(at + 12)];
        const tunnel = this.#tunnels.get(id);
        if (tunnel && payload) {
          tunnel.send({
            marker: (b1 & 0x80) !== 0,
            payloadType: b1 & 0x7f,
            sequenceNumber: view.getUint16(at + 6),
            timestamp: view.getUint32(at + 8),
            ssrc: 0,
            csrcs: NO_CSRCS,
            extension: undefined,
            payload,
            padding: 0,
          });
        }
        at += 14;
      } else {
        // Unknown or truncated record: the rest of the batch cannot be read.
        return;
      }
    }
  }
}

const NO_CSRCS: readonly number[] = Object.freeze([]);

function infoOf(leg: MediaLeg): TunnelLegInfo {
  return { kind: leg.kind, format: leg.format, wantsMedia: leg.wantsMedia, state: leg.state };
}

function sameInfo(a: TunnelLegInfo, b: TunnelLegInfo): boolean {
  return (
    a.wantsMedia === b.wantsMedia &&
    a.state === b.state &&
    JSON.stringify(a.format) === JSON.stringify(b.format)
  );
}

/**
 * The leg's end of a tunnel: forwards what the leg receives, sends what the mixer mixed. Made by
 * {@link TunnelLink.openTunnel}.
 */
export class LegTunnel {
  readonly id: number;
  readonly #leg: MediaLeg;
  readonly #link: TunnelLink;
  readonly #sourceKey: string;
  readonly #onClose: () => void;
  #info: TunnelLegInfo;
  #closed = false;

  constructor(leg: MediaLeg, link: TunnelLink, id: number, sourceKey: string, onClose: () => void) {
    this.id = id;
    this.#leg = leg;
    this.#link = link;
    this.#sourceKey = sourceKey;
    this.#onClose = onClose;
    this.#info = infoOf(leg);
  }

  /** What the tunnel announced when it opened (the proxy's starting point). */
  get info(): TunnelLegInfo {
    return this.#info;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A packet the leg received (the engine calls this instead of feeding a bridge). */
  forward(packet: RtpPacket): void {
    if (!this.#closed) {
      this.#link.toProxy(this.id, packet);
    }
  }

  /** Tells the mixer's side about a renegotiation or state change of the leg, if any. */
  update(): void {
    if (this.#closed) {
      return;
    }
    const info = infoOf(this.#leg);
    if (sameInfo(info, this.#info)) {
      return;
    }
    this.#info = info;
    this.#link.post({ t: 'leg', id: this.id, info });
  }

  /** Idempotent; tells the other end unless it is the one that closed. */
  close(notify = true): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    if (notify) {
      this.#link.post({ t: 'close', id: this.id });
    }
    this.#link.forget(this.id, this);
    this.#onClose();
  }

  /** @internal A packet the mixer sent to this leg. */
  send(packet: RtpPacket): void {
    const leg = this.#leg;
    if (!this.#closed && leg.wantsMedia) {
      leg.sendRtp(leg.output.write(packet, this.#sourceKey));
    }
  }
}

/** Options of {@link RemoteLeg}. */
export interface RemoteLegOptions {
  /** The real leg's id (the proxy stands for it in the mixer's engine). */
  id: string;
  tunnelId: number;
  link: TunnelLink;
  info: TunnelLegInfo;
  clock: Clock;
}

/**
 * The mixer's end of a tunnel: a {@link MediaLeg} for the mixer, standing for a leg that lives
 * on another worker. It cannot negotiate (the real leg does); it emits the real leg's packets
 * as `rtp` and sends what the mixer sends it to the real leg. Made by {@link TunnelLink.attach}.
 */
export class RemoteLeg extends TypedEmitter<LegEvents> implements MediaLeg {
  readonly id: string;
  readonly tunnelId: number;
  readonly kind: LegKind;
  readonly output: OutboundRtpStream;
  readonly #link: TunnelLink;
  #format: MediaFormat;
  #wantsMedia: boolean;
  #state: LegState;
  #packetsReceived = 0;
  #bytesReceived = 0;
  #packetsSent = 0;
  #bytesSent = 0;

  constructor(options: RemoteLegOptions) {
    super();
    this.id = options.id;
    this.tunnelId = options.tunnelId;
    this.kind = options.info.kind;
    this.#link = options.link;
    this.#format = options.info.format;
    this.#wantsMedia = options.info.wantsMedia;
    this.#state = options.info.state === LegState.Closed ? LegState.Failed : options.info.state;
    // The SSRC and numbering are rewritten by the real leg's output; these only need to be
    // contiguous per tunnel.
    this.output = new OutboundRtpStream({
      clockRate: options.info.format.audio.clockRate,
      clock: options.clock,
    });
  }

  get format(): MediaFormat {
    return this.#format;
  }

  get wantsMedia(): boolean {
    return this.#wantsMedia && this.#state !== LegState.Closed;
  }

  get state(): LegState {
    return this.#state;
  }

  sendRtp(packet: RtpPacket): void {
    if (this.#state === LegState.Closed) {
      return;
    }
    this.#packetsSent++;
    this.#bytesSent += 12 + packet.payload.length;
    this.#link.toLeg(this.tunnelId, packet);
  }

  createOffer(): Promise<string> {
    return Promise.reject(new UnsupportedError('a remote leg negotiates on its own worker'));
  }

  acceptOffer(): Promise<string> {
    return this.createOffer();
  }

  acceptAnswer(): Promise<void> {
    return Promise.reject(new UnsupportedError('a remote leg negotiates on its own worker'));
  }

  stats(): LegStats {
    return {
      kind: this.kind,
      state: this.#state,
      packetsReceived: this.#packetsReceived,
      bytesReceived: this.#bytesReceived,
      packetsSent: this.#packetsSent,
      bytesSent: this.#bytesSent,
      packetsDropped: 0,
    };
  }

  /** Idempotent: tells the leg's end and reports `closed`. */
  close(): Promise<void> {
    this.#close(true);
    return Promise.resolve();
  }

  /** @internal The leg's end closed, or the link did. */
  closeFromLink(): void {
    this.#close(false);
  }

  /** @internal A packet the real leg received. */
  receive(packet: RtpPacket, length: number): void {
    if (this.#state === LegState.Closed) {
      return;
    }
    this.#packetsReceived++;
    this.#bytesReceived += length;
    this.emit('rtp', packet);
  }

  /** @internal The real leg's state changed. */
  update(info: TunnelLegInfo): void {
    if (this.#state === LegState.Closed) {
      return;
    }
    this.#format = info.format;
    this.#wantsMedia = info.wantsMedia;
    if (info.state !== LegState.Closed) {
      this.#setState(info.state);
    }
  }

  #close(notify: boolean): void {
    if (this.#state === LegState.Closed) {
      return;
    }
    if (notify) {
      this.#link.post({ t: 'close', id: this.tunnelId });
    }
    this.#link.forget(this.tunnelId, this);
    this.#setState(LegState.Closed);
    this.removeAllListeners();
  }

  #setState(state: LegState): void {
    const previous = this.#state;
    if (previous === state || previous === LegState.Closed) {
      return;
    }
    this.#state = state;
    this.emit('state', state, previous);
  }
}
