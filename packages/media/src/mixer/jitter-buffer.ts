/**
 * A per-input jitter buffer for the mixer: packets are stored by sequence number and played out
 * one per 20 ms tick.
 *
 * Allocation-free after warm-up: payloads are copied into per-slot buffers that grow only when a
 * larger payload arrives (the leg's datagram may be reused once the `rtp` event returns).
 */

/** What {@link JitterBuffer.pop} yields for one tick. */
export const JitterStatus = {
  /** Nothing to play: not started, prefetching, or the source paused (DTX, hold, silence). */
  Empty: 0,
  /** A packet: see {@link JitterBuffer.payload} and {@link JitterBuffer.level}. */
  Packet: 1,
  /**
   * Conceal this slot: its packet is missing while later ones are buffered (lost), or the
   * buffer ran dry for a moment while playing (late: playout is delayed by one frame).
   */
  Lost: 2,
} as const;

export type JitterStatus = (typeof JitterStatus)[keyof typeof JitterStatus];

/** Options of {@link JitterBuffer}. */
export interface JitterBufferOptions {
  /**
   * The playout delay in packets the buffer settles at: an underrun while playing conceals one
   * frame and delays playout by a frame; a delay that stayed above the target for a second is
   * shrunk by dropping one packet. @default 2
   */
  targetDepth?: number;
  /**
   * Packets buffered before playout starts (and again after the source paused). Starting below
   * the target lets a leg that joins a mixer be heard one frame sooner (merge latency); a
   * jittery source then underruns once and settles at its delay, which is never shrunk below
   * `targetDepth`. @default 1
   */
  startDepth?: number;
  /** Most packets kept; the oldest are dropped beyond it (a sender running fast). @default 8 */
  maxDepth?: number;
}

/** Counters of a {@link JitterBuffer}. */
export interface JitterBufferStats {
  /** Packets stored. */
  received: number;
  /** Packets already buffered (same sequence number). */
  duplicate: number;
  /** Packets whose slot was already played or concealed. */
  late: number;
  /** Slots concealed because their packet never came in time. */
  lost: number;
  /** Times the buffer ran dry while playing (a frame concealed, playout delayed a frame). */
  underruns: number;
  /** Packets dropped because the buffer held more than `maxDepth`, or to shrink the delay. */
  overflow: number;
  /** Restarts on a new SSRC or a sequence jump. */
  resets: number;
}

/** Slots in the ring; a power of two above any sane `maxDepth`. */
const CAPACITY = 32;
const MASK = CAPACITY - 1;
/** A sequence jump this large (either way) is a restarted sender, not reordering. */
const RESYNC_DISTANCE = 200;
/** Empty ticks in a row concealed as late packets; beyond, the source paused. */
const STRETCH_TICKS = 2;
/** Pops over which the playout delay is watched for shrinking (1 s). */
const SHRINK_WINDOW = 50;

/**
 * Reorders by RTP sequence number (RFC 3550 §A.1 serial arithmetic), drops duplicates and late
 * packets, conceals holes (a missing packet whose successors arrived), and pauses playout when
 * the source stops sending, so that resumed media is not counted as loss.
 */
export class JitterBuffer {
  readonly #targetDepth: number;
  readonly #startDepth: number;
  readonly #maxDepth: number;
  readonly #seqs = new Int32Array(CAPACITY).fill(-1);
  readonly #levels = new Int16Array(CAPACITY);
  readonly #lengths = new Int32Array(CAPACITY);
  readonly #stores: Uint8Array[] = [];
  readonly #stats: JitterBufferStats = {
    received: 0,
    duplicate: 0,
    late: 0,
    lost: 0,
    underruns: 0,
    overflow: 0,
    resets: 0,
  };
  #count = 0;
  #started = false;
  #buffering = true;
  #nextSeq = 0;
  #ssrc = -1;
  #emptyTicks = 0;
  /** A packet was played since the last restart. */
  #played = false;
  #pops = 0;
  #lowWater = CAPACITY;

  /** RFC 6464 octet of the packet returned by the last pop (V flag and level), or −1. */
  level = -1;
  /** Slot of the packet returned by the last pop. */
  #poppedSlot = 0;

  constructor(options: JitterBufferOptions = {}) {
    this.#targetDepth = Math.max(1, Math.min(options.targetDepth ?? 2, CAPACITY / 2));
    this.#maxDepth = Math.max(this.#targetDepth, Math.min(options.maxDepth ?? 8, CAPACITY / 2));
    this.#startDepth = Math.max(1, Math.min(options.startDepth ?? 1, this.#maxDepth));
    for (let i = 0; i < CAPACITY; i++) {
      this.#stores.push(new Uint8Array(256));
    }
  }

  /**
   * Payload of the packet returned by the last {@link JitterBuffer.pop}, valid until the next
   * push. A view made on demand: inputs that are not decoded never pay for it.
   */
  get payload(): Uint8Array {
    return this.#stores[this.#poppedSlot]!.subarray(0, this.#lengths[this.#poppedSlot]);
  }

  /** Length of the packet returned by the last {@link JitterBuffer.pop}. */
  get payloadLength(): number {
    return this.#lengths[this.#poppedSlot]!;
  }

  /**
   * Copies the payload of the last popped packet into `target` (at least
   * {@link JitterBuffer.payloadLength} long) without making a view.
   */
  copyPayload(target: Uint8Array): void {
    const store = this.#stores[this.#poppedSlot]!;
    const length = this.#lengths[this.#poppedSlot]!;
    for (let i = 0; i < length; i++) {
      target[i] = store[i]!;
    }
  }

  /** Live counters. */
  get stats(): Readonly<JitterBufferStats> {
    return this.#stats;
  }

  /** Packets currently buffered. */
  get depth(): number {
    return this.#count;
  }

  /**
   * Stores one packet. `levelOctet` is its RFC 6464 octet or −1. Network input never throws.
   */
  push(ssrc: number, sequenceNumber: number, payload: Uint8Array, levelOctet: number): void {
    if (!this.#started || ssrc !== this.#ssrc) {
      this.#restart(ssrc, sequenceNumber);
    }
    let distance = (sequenceNumber - this.#nextSeq) & 0xffff;
    if (distance >= 0x8000 && !this.#played && 0x10000 - distance <= CAPACITY - this.#maxDepth) {
      // Reordered before playout started: start from the earlier packet.
      this.#nextSeq = sequenceNumber;
      distance = 0;
    }
    if (distance >= 0x8000) {
      if (0x10000 - distance > RESYNC_DISTANCE) {
        this.#restart(ssrc, sequenceNumber);
        distance = 0;
      } else {
        this.#stats.late++;
        return;
      }
    } else if (distance >= CAPACITY) {
      if (distance > RESYNC_DISTANCE) {
        this.#restart(ssrc, sequenceNumber);
        distance = 0;
      } else {
        // Far ahead (a long hole): move the playout point so the packet fits.
        while (((sequenceNumber - this.#nextSeq) & 0xffff) >= this.#maxDepth) {
          this.#discardOldest();
        }
      }
    }
    const slot = sequenceNumber & MASK;
    if (this.#seqs[slot] === sequenceNumber) {
      this.#stats.duplicate++;
      return;
    }
    if (this.#seqs[slot] === -1) {
      this.#count++;
    }
    let store = this.#stores[slot]!;
    if (store.length < payload.length) {
      store = new Uint8Array(Math.max(payload.length, store.length * 2));
      this.#stores[slot] = store;
    }
    store.set(payload);
    this.#seqs[slot] = sequenceNumber;
    this.#lengths[slot] = payload.length;
    this.#levels[slot] = levelOctet;
    this.#stats.received++;
    while (this.#count > this.#maxDepth) {
      this.#discardOldest();
    }
  }

  /** The next 20 ms slot of the stream. */
  pop(): JitterStatus {
    if (this.#count === 0) {
      if (!this.#started || this.#buffering) {
        return JitterStatus.Empty;
      }
      if (++this.#emptyTicks <= STRETCH_TICKS) {
        this.#stats.underruns++;
        return JitterStatus.Lost;
      }
      // The source paused (silence suppression, DTX, hold): prefetch again when it resumes.
      this.#buffering = true;
      return JitterStatus.Empty;
    }
    if (this.#buffering) {
      if (this.#count < this.#startDepth) {
        return JitterStatus.Empty;
      }
      this.#buffering = false;
      this.#pops = 0;
      this.#lowWater = CAPACITY;
    }
    this.#emptyTicks = 0;
    if (this.#count < this.#lowWater) {
      this.#lowWater = this.#count;
    }
    if (++this.#pops === SHRINK_WINDOW) {
      if (this.#lowWater > this.#targetDepth) {
        this.#discardOldest();
      }
      this.#pops = 0;
      this.#lowWater = CAPACITY;
    }
    const seq = this.#nextSeq;
    const slot = seq & MASK;
    this.#nextSeq = (seq + 1) & 0xffff;
    if (this.#seqs[slot] !== seq) {
      this.#stats.lost++;
      return JitterStatus.Lost;
    }
    this.#seqs[slot] = -1;
    this.#count--;
    this.#played = true;
    this.#poppedSlot = slot;
    this.level = this.#levels[slot]!;
    return JitterStatus.Packet;
  }

  /** Forgets everything buffered (after a hold or a change of source). */
  reset(): void {
    this.#seqs.fill(-1);
    this.#count = 0;
    this.#started = false;
    this.#buffering = true;
    this.#emptyTicks = 0;
  }

  #restart(ssrc: number, sequenceNumber: number): void {
    if (this.#started) {
      this.#stats.resets++;
    }
    this.reset();
    this.#started = true;
    this.#played = false;
    this.#ssrc = ssrc;
    this.#nextSeq = sequenceNumber;
  }

  /** Drops the slot at the playout point (a packet or a hole) and moves past it. */
  #discardOldest(): void {
    const seq = this.#nextSeq;
    const slot = seq & MASK;
    if (this.#seqs[slot] === seq) {
      this.#seqs[slot] = -1;
      this.#count--;
      this.#stats.overflow++;
    }
    this.#nextSeq = (seq + 1) & 0xffff;
  }
}
