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
 * One {@link TunnelLink} per pair of workers carries every tunnel between them, each named by a
 * number the parent chose; packets go worker to worker, never through the main thread:
 * - mixer → legs: a `MessageChannel` whose ends the parent handed to the two workers. What the
 *   mixer sends to the remote legs in one tick leaves in ONE message, and a payload shared by
 *   several of them (the full mix every listener hears) is in it once: one `postMessage` and
 *   one wake-up of the legs' thread per tick instead of one per packet. Control messages (a
 *   leg's state, a close) go on the same port after the pending batch: they stay in order.
 * - legs → mixer: a {@link PacketRing} in shared memory per direction. The leg's worker writes
 *   each packet it receives into it; the mixer's worker reads it at its tick, right before
 *   mixing ({@link TunnelLink.drain}) — as it reads its local legs' jitter buffers. No message,
 *   no wake-up of the mixer's thread, no added delay. Being another path than the port, a
 *   packet may be read after a control message sent later (a renegotiation's first packets may
 *   be judged by the former format and ignored; packets of a closed tunnel are dropped).
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
  /** mixer → leg: a batch of packets (see {@link TunnelLink} for the record layout). */
  | { t: 'media'; bytes: Uint8Array }
  /** leg → mixer: the leg's negotiated state changed (re-INVITE, hold). */
  | { t: 'leg'; id: number; info: TunnelLegInfo }
  /** Either way: this end of tunnel `id` is gone. */
  | { t: 'close'; id: number };

/** Bytes of the shared ring of each direction of a link (≈ 200 ms of 200 legs' packets). */
export const RING_BYTES = 256 * 1024;

/** The rings of a new link: give one worker `[a, b]` (send, receive), the other `[b, a]`. */
export function createLinkRings(bytes = RING_BYTES): [SharedArrayBuffer, SharedArrayBuffer] {
  return [
    new SharedArrayBuffer(PacketRing.byteLength(bytes)),
    new SharedArrayBuffer(PacketRing.byteLength(bytes)),
  ];
}

const WRITE = 0;
const READ = 1;
const RING_HEADER = 8;
/** Record header: [length u16][unused u16][tunnel id u32]; records are 4-octet aligned. */
const RECORD_HEADER = 8;
/** A length that says: the next record is at the start of the ring. */
const WRAP = 0xffff;

/**
 * A single-producer, single-consumer ring of RTP packets in a `SharedArrayBuffer`, lock-free:
 * the writer owns the write position, the reader the read position, both published with
 * `Atomics` (sequentially consistent, so the record bytes written before a position store are
 * seen by the thread that loads it). A packet that does not fit is dropped: the reader is
 * stalled, and the packet would be too late for its mix anyway.
 */
export class PacketRing {
  readonly #positions: Int32Array;
  readonly #data: Uint8Array;
  readonly #view: DataView;
  readonly #capacity: number;
  /** This side's own position (the writer's write, the reader's read). */
  #own: number;

  static byteLength(capacity: number): number {
    return RING_HEADER + capacity;
  }

  constructor(buffer: SharedArrayBuffer) {
    this.#capacity = (buffer.byteLength - RING_HEADER) & ~3;
    if (this.#capacity < 1024) {
      throw new RangeError('a packet ring needs at least 1 KiB');
    }
    this.#positions = new Int32Array(buffer, 0, 2);
    this.#data = new Uint8Array(buffer, RING_HEADER, this.#capacity);
    this.#view = new DataView(buffer, RING_HEADER, this.#capacity);
    this.#own = 0;
  }

  /** Writer: appends `packet` for tunnel `id`; false when it does not fit (dropped). */
  write(id: number, packet: RtpPacket): boolean {
    const length = rtpSerializedLength(packet);
    if (length >= WRAP) {
      return false;
    }
    const size = (RECORD_HEADER + length + 3) & ~3;
    const capacity = this.#capacity;
    const read = Atomics.load(this.#positions, READ);
    let at = this.#own;
    // Free: [at, read − 1) when the reader is ahead, else [at, capacity) and [0, read − 1).
    // The write position never catches up with the read position (that would read as empty).
    if (read > at) {
      if (at + size >= read) {
        return false;
      }
    } else if (at + size >= capacity) {
      if (size >= read) {
        return false;
      }
      this.#view.setUint16(at, WRAP);
      at = 0;
    }
    this.#view.setUint16(at, length);
    this.#view.setUint32(at + 4, id);
    serializeRtpInto(packet, this.#data, at + RECORD_HEADER);
    this.#own = at + size;
    Atomics.store(this.#positions, WRITE, this.#own);
    return true;
  }

  /** Reader: hands every packet written so far to `visit` (its bytes are valid during the call). */
  read(visit: (id: number, bytes: Uint8Array) => void): void {
    const write = Atomics.load(this.#positions, WRITE);
    let at = this.#own;
    while (at !== write) {
      const length = this.#view.getUint16(at);
      if (length === WRAP) {
        at = 0;
        continue;
      }
      const start = at + RECORD_HEADER;
      visit(this.#view.getUint32(at + 4), this.#data.subarray(start, start + length));
      at += (RECORD_HEADER + length + 3) & ~3;
    }
    this.#own = at;
    Atomics.store(this.#positions, READ, at);
  }
}

/** A batch is sent at once beyond this size (octets). */
const MAX_BATCH = 60_000;
/** Batch record: a payload used by later REC_TO_LEG records: [kind][length u16][bytes]. */
const REC_PAYLOAD = 2;
/** Batch record: a mixed packet for a leg: [kind][id u32][M|PT][seq u16][ts u32][payload index u16]. */
const REC_TO_LEG = 3;

/** Options of {@link TunnelLink}. */
export interface TunnelLinkOptions {
  /** This worker's end of the link's MessageChannel. */
  port: MessagePort;
  /** Ring this worker writes the packets its legs receive into (see {@link createLinkRings}). */
  send: SharedArrayBuffer;
  /** Ring the other worker writes into, read by {@link TunnelLink.drain}. */
  receive: SharedArrayBuffer;
  /** Called once when the link closes (its port closed, or {@link TunnelLink.close}). */
  onClose?: () => void;
}

/** Both sides of a pair of workers: a MessagePort multiplexing tunnels, with batching. */
export class TunnelLink {
  readonly #port: MessagePort;
  /** Leg ends on this worker, by tunnel id. */
  readonly #tunnels = new Map<number, LegTunnel>();
  /** Proxies on this worker, by tunnel id. */
  readonly #proxies = new Map<number, RemoteLeg>();
  readonly #onClose: (() => void) | undefined;
  #closed = false;
  readonly #send: PacketRing;
  readonly #receive: PacketRing;
  // The batch being built.
  #buffer = new Uint8Array(16_384);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;
  /** Payloads already in the batch → their index. */
  readonly #payloads = new Map<Uint8Array, number>();
  #flushQueued = false;
  #batches = 0;
  #dropped = 0;

  constructor(options: TunnelLinkOptions) {
    const port = options.port;
    this.#port = port;
    this.#send = new PacketRing(options.send);
    this.#receive = new PacketRing(options.receive);
    this.#onClose = options.onClose;
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

  /** Received packets dropped because the other worker did not read its ring in time. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Hands the packets the other worker's legs received since the last call to their proxies
   * (the mixer calls it right before each tick).
   */
  drain(): void {
    if (!this.#closed) {
      this.#receive.read(this.#onRing);
    }
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

  /** @internal LegTunnel: a packet the leg received (read by the other worker at its tick). */
  toProxy(id: number, packet: RtpPacket): void {
    if (!this.#closed && !this.#send.write(id, packet)) {
      this.#dropped++;
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

  readonly #onRing = (id: number, bytes: Uint8Array): void => {
    const proxy = this.#proxies.get(id);
    if (proxy) {
      // A copy: the ring's bytes are the writer's again once the read ends, and a leg's packet
      // may be kept (the engine keeps each leg's last one to prime a mixer it joins).
      const packet = parseRtp(bytes.slice());
      if (packet) {
        proxy.receive(packet, bytes.length);
      }
    }
  };

  readonly #onMicrotask = (): void => {
    if (this.#flushQueued) {
      this.flush();
    }
  };

  #cancelFlush(): void {
    this.#flushQueued = false;
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
      if (kind === REC_PAYLOAD && at + 3 <= end) {
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
