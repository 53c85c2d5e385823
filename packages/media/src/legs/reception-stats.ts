/**
 * Receiver statistics of one incoming RTP source, the input of an RTCP report block
 * (RFC 3550 §6.4.1): extended highest sequence number, cumulative and fractional loss, and
 * interarrival jitter, computed as in RFC 3550 Appendix A.1, A.3 and A.8.
 */

const RTP_SEQ_MOD = 0x1_0000;
/** RFC 3550 A.1: a jump larger than this is a restart, not loss. */
const MAX_DROPOUT = 3000;
/** RFC 3550 A.1: packets this much behind are duplicates or very late. */
const MAX_MISORDER = 100;

/** One report block's worth of numbers (RFC 3550 §6.4.1). */
export interface ReportBlockValues {
  ssrc: number;
  /** Fraction lost since the previous report, as an 8-bit fixed-point number. */
  fractionLost: number;
  /** Cumulative packets lost (24-bit signed, clamped). */
  packetsLost: number;
  /** Extended highest sequence number received. */
  highestSequence: number;
  /** Interarrival jitter in RTP timestamp units. */
  jitter: number;
}

/** Statistics of one remote SSRC. */
export class ReceptionStats {
  readonly ssrc: number;
  readonly #clockRate: number;
  #started = false;
  #baseSeq = 0;
  #maxSeq = 0;
  #cycles = 0;
  #badSeq = RTP_SEQ_MOD + 1;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;
  #transit: number | undefined;
  #jitter = 0;

  constructor(ssrc: number, clockRate: number) {
    this.ssrc = ssrc;
    this.#clockRate = clockRate;
  }

  /** Packets counted as received. */
  get received(): number {
    return this.#received;
  }

  /**
   * Accounts for one packet; `arrivalMs` is the local arrival time on a monotonic clock.
   * Returns false for a packet far outside the sequence (counted only if the next packet
   * confirms that the source restarted).
   */
  update(sequenceNumber: number, timestamp: number, arrivalMs: number): boolean {
    if (!this.#started) {
      this.#started = true;
      this.#restart(sequenceNumber);
      this.#received = 1;
      this.#updateJitter(timestamp, arrivalMs);
      return true;
    }
    const delta = (sequenceNumber - this.#maxSeq) & 0xffff;
    if (delta < MAX_DROPOUT) {
      // In order, possibly with a gap (RFC 3550 A.1).
      if (sequenceNumber < this.#maxSeq) {
        this.#cycles += RTP_SEQ_MOD;
      }
      this.#maxSeq = sequenceNumber;
    } else if (delta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // A very large jump: a restarted source after two consecutive packets agree.
      if (sequenceNumber === this.#badSeq) {
        this.#restart(sequenceNumber);
      } else {
        this.#badSeq = (sequenceNumber + 1) & 0xffff;
        return false;
      }
    }
    // else: duplicate or reordered packet, still counted as received (RFC 3550 A.1).
    this.#received++;
    this.#updateJitter(timestamp, arrivalMs);
    return true;
  }

  /** The values of a report block, and starts a new interval for the fraction lost (RFC 3550 A.3). */
  report(): ReportBlockValues {
    const extendedMax = this.#cycles + this.#maxSeq;
    const expected = extendedMax - this.#baseSeq + 1;
    const lost = Math.max(-0x80_0000, Math.min(0x7f_ffff, expected - this.#received));
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost =
      expectedInterval <= 0 || lostInterval <= 0
        ? 0
        : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    return {
      ssrc: this.ssrc,
      fractionLost,
      packetsLost: lost,
      highestSequence: extendedMax >>> 0,
      jitter: Math.floor(this.#jitter) >>> 0,
    };
  }

  #restart(sequenceNumber: number): void {
    this.#baseSeq = sequenceNumber;
    this.#maxSeq = sequenceNumber;
    this.#cycles = 0;
    this.#badSeq = RTP_SEQ_MOD + 1;
    this.#received = 0;
    this.#expectedPrior = 0;
    this.#receivedPrior = 0;
    this.#transit = undefined;
  }

  /** RFC 3550 A.8: J += (|D| - J) / 16, in timestamp units. */
  #updateJitter(timestamp: number, arrivalMs: number): void {
    const arrival = (arrivalMs * this.#clockRate) / 1000;
    const transit = arrival - timestamp;
    if (this.#transit !== undefined) {
      let d = Math.abs(transit - this.#transit);
      // A timestamp wrap between the two packets shows up as a ~2^32 step.
      if (d > 0x8000_0000) {
        d = Math.abs(d - 0x1_0000_0000);
      }
      this.#jitter += (d - this.#jitter) / 16;
    }
    this.#transit = transit;
  }
}
