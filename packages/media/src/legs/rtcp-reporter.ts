/**
 * Periodic RTCP reports of a plain RTP leg (RFC 3550 §6).
 *
 * Every compound packet starts with an SR (if we sent RTP since the previous report) or an RR,
 * carries at most one report block (the single remote source of a two-party leg) and ends with
 * an SDES CNAME chunk (§6.1: every compound packet carries CNAME). The interval is randomised
 * between 0.5 and 1.5 times the mean (§6.3.1) so that many legs started together do not report
 * in lockstep.
 */
import { randomBytes } from 'node:crypto';
import type { OutboundRtpStream } from '../bridge/outbound-stream.js';
import type { Clock } from '../bridge/types.js';
import type { ReceptionStats, ReportBlockValues } from './reception-stats.js';

/** Options of {@link RtcpReporter}. */
export interface RtcpReporterOptions {
  /** Mean interval between reports in ms. */
  intervalMs: number;
  /** The leg's outgoing stream (our SSRC and sender statistics). */
  output: OutboundRtpStream;
  clock: Clock;
  /** The current remote source's statistics, if any packet arrived. */
  reception: () => ReceptionStats | undefined;
  /** Sends one compound packet. */
  send: (bytes: Uint8Array) => void;
}

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET = 2_208_988_800;

const PT_SR = 200;
const PT_RR = 201;
const PT_SDES = 202;
const PT_BYE = 203;
const SDES_CNAME = 1;

/** Schedules and builds the RTCP reports of one leg. */
export class RtcpReporter {
  readonly #options: RtcpReporterOptions;
  /** RFC 7022: a random, per-session CNAME (no host or user information leaks). */
  readonly #cname = randomBytes(12).toString('base64url');
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #packetsAtLastReport = 0;

  constructor(options: RtcpReporterOptions) {
    this.#options = options;
  }

  /** Starts periodic reports; idempotent. */
  start(): void {
    if (this.#running) {
      return;
    }
    this.#running = true;
    this.#schedule();
  }

  /** Stops periodic reports; idempotent. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** The current compound report: SR or RR, then SDES. */
  report(): Uint8Array {
    return concat([this.#senderOrReceiverReport(), this.#sdes()]);
  }

  /** A compound packet announcing that we leave (RFC 3550 §6.6): report, SDES, BYE. */
  bye(): Uint8Array {
    const bye = new Uint8Array(8);
    const view = new DataView(bye.buffer);
    view.setUint8(0, 0x81);
    view.setUint8(1, PT_BYE);
    view.setUint16(2, 1);
    view.setUint32(4, this.#options.output.ssrc);
    return concat([this.#senderOrReceiverReport(), this.#sdes(), bye]);
  }

  #schedule(): void {
    const delay = this.#options.intervalMs * (0.5 + Math.random());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#running) {
        return;
      }
      this.#options.send(this.report());
      this.#schedule();
    }, delay);
    // A leg that is never closed must not keep the process alive for its reports.
    this.#timer.unref();
  }

  #senderOrReceiverReport(): Uint8Array {
    const { output, clock } = this.#options;
    const block = this.#options.reception()?.report();
    const blocks = block ? 1 : 0;
    const sent = output.stats.packets;
    // RFC 3550 §6.4: an SR when we sent data since the previous report.
    const isSender = sent > this.#packetsAtLastReport;
    this.#packetsAtLastReport = sent;
    const length = (isSender ? 28 : 8) + blocks * 24;
    const out = new Uint8Array(length);
    const view = new DataView(out.buffer);
    view.setUint8(0, 0x80 | blocks);
    view.setUint8(1, isSender ? PT_SR : PT_RR);
    view.setUint16(2, length / 4 - 1);
    view.setUint32(4, output.ssrc);
    let offset = 8;
    if (isSender) {
      // RFC 3550 §6.4.1 sender info: NTP time, RTP time of the same instant, counts.
      const unixMs = Date.now();
      const seconds = Math.floor(unixMs / 1000) + NTP_UNIX_OFFSET;
      const fraction = Math.floor(((unixMs % 1000) / 1000) * 0x1_0000_0000);
      view.setUint32(8, seconds >>> 0);
      view.setUint32(12, fraction >>> 0);
      view.setUint32(16, output.timestampAt(clock.now()));
      view.setUint32(20, sent >>> 0);
      view.setUint32(24, output.stats.octets >>> 0);
      offset = 28;
    }
    if (block) {
      writeReportBlock(view, offset, block);
    }
    return out;
  }

  #sdes(): Uint8Array {
    const cname = new TextEncoder().encode(this.#cname);
    // Chunk: SSRC, CNAME item (type, length, text), a null item, padding to 32 bits.
    const chunkLength = Math.ceil((4 + 2 + cname.length + 1) / 4) * 4;
    const out = new Uint8Array(4 + chunkLength);
    const view = new DataView(out.buffer);
    view.setUint8(0, 0x81);
    view.setUint8(1, PT_SDES);
    view.setUint16(2, out.length / 4 - 1);
    view.setUint32(4, this.#options.output.ssrc);
    out[8] = SDES_CNAME;
    out[9] = cname.length;
    out.set(cname, 10);
    return out;
  }
}

/** RFC 3550 §6.4.1 report block. */
function writeReportBlock(view: DataView, offset: number, block: ReportBlockValues): void {
  view.setUint32(offset, block.ssrc);
  view.setUint8(offset + 4, block.fractionLost);
  // Cumulative lost: 24-bit two's complement.
  const lost = block.packetsLost & 0xff_ffff;
  view.setUint8(offset + 5, lost >>> 16);
  view.setUint16(offset + 6, lost & 0xffff);
  view.setUint32(offset + 8, block.highestSequence);
  view.setUint32(offset + 12, block.jitter);
  // LSR and DLSR stay 0: we do not track the peer's sender reports (RFC 3550 §6.4.1 allows it).
  view.setUint32(offset + 16, 0);
  view.setUint32(offset + 20, 0);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
