/**
 * UDP port bookkeeping for media legs.
 *
 * Ports are handed out in pairs with an even base: RTP on the even port and RTCP on the next odd
 * one (RFC 3550 §11). A WebRTC leg multiplexes RTCP (RFC 5761) and uses one port per host
 * address, so it takes as many pairs as it needs ports, halved. Allocation is next-fit from a
 * moving cursor, so a released port is the last one to be reused: late packets of an ended call
 * do not land in the next call.
 *
 * The allocator only prevents collisions between legs of one thread. Other processes may hold a
 * port in the range; legs that bind themselves retry with another pair when the bind fails.
 */

/** The default media port range (inclusive). */
export const DEFAULT_PORT_RANGE: readonly [number, number] = [10_000, 20_000];

/** Validates an inclusive UDP port range; throws `TypeError` on a caller mistake. */
export function assertPortRange(range: readonly [number, number]): void {
  const [min, max] = range;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65_535 || max <= min) {
    throw new TypeError(`invalid port range ${String(min)}-${String(max)}`);
  }
}

/** Hands out even-based port pairs from an inclusive range without collisions. */
export class PortAllocator {
  /** The inclusive range this allocator manages. */
  readonly range: readonly [number, number];
  readonly #base: number;
  readonly #used: Uint8Array;
  #cursor = 0;
  #inUse = 0;

  constructor(range: readonly [number, number] = DEFAULT_PORT_RANGE) {
    assertPortRange(range);
    this.range = [range[0], range[1]];
    this.#base = range[0] + (range[0] % 2);
    const slots = Math.max(0, Math.floor((range[1] - this.#base + 1) / 2));
    this.#used = new Uint8Array(slots);
  }

  /** Number of pairs in the range. */
  get capacity(): number {
    return this.#used.length;
  }

  /** Number of pairs currently allocated. */
  get inUse(): number {
    return this.#inUse;
  }

  /**
   * Reserves `pairs` consecutive pairs and returns the even base port of the first one, or
   * `undefined` when no such run is free.
   */
  allocate(pairs = 1): number | undefined {
    const slots = this.#used.length;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > slots) {
      return undefined;
    }
    for (let scanned = 0; scanned < slots; scanned++) {
      const start = (this.#cursor + scanned) % slots;
      if (start + pairs > slots) {
        continue;
      }
      let free = true;
      for (let i = start; i < start + pairs; i++) {
        if (this.#used[i] !== 0) {
          free = false;
          break;
        }
      }
      if (!free) {
        continue;
      }
      this.#used.fill(1, start, start + pairs);
      this.#inUse += pairs;
      this.#cursor = (start + pairs) % slots;
      return this.#base + start * 2;
    }
    return undefined;
  }

  /** Returns pairs obtained from {@link PortAllocator.allocate}; unknown ports are ignored. */
  release(basePort: number, pairs = 1): void {
    const start = (basePort - this.#base) / 2;
    if (!Number.isInteger(start) || start < 0) {
      return;
    }
    const end = Math.min(start + pairs, this.#used.length);
    for (let i = start; i < end; i++) {
      if (this.#used[i] !== 0) {
        this.#used[i] = 0;
        this.#inUse--;
      }
    }
  }
}

const shared = new Map<string, PortAllocator>();

/**
 * The allocator of `range` shared by every leg of this thread that does not bring its own, so
 * that independently created legs never pick the same port.
 */
export function sharedPortAllocator(
  range: readonly [number, number] = DEFAULT_PORT_RANGE,
): PortAllocator {
  const key = `${range[0]}-${range[1]}`;
  let allocator = shared.get(key);
  if (!allocator) {
    allocator = new PortAllocator(range);
    shared.set(key, allocator);
  }
  return allocator;
}

/**
 * Splits a range into `parts` disjoint sub-ranges with even bases (one per media worker, so that
 * workers never compete for a port). Throws `TypeError` when a part would hold no pair.
 */
export function splitPortRange(
  range: readonly [number, number],
  parts: number,
): [number, number][] {
  assertPortRange(range);
  const base = range[0] + (range[0] % 2);
  const pairs = Math.floor((range[1] - base + 1) / 2);
  if (!Number.isInteger(parts) || parts < 1 || pairs < parts) {
    throw new TypeError(`cannot split ${range[0]}-${range[1]} into ${parts} port ranges`);
  }
  const result: [number, number][] = [];
  const share = Math.floor(pairs / parts);
  for (let i = 0; i < parts; i++) {
    const first = base + i * share * 2;
    const last = i === parts - 1 ? base + pairs * 2 - 1 : first + share * 2 - 1;
    result.push([first, last]);
  }
  return result;
}
