/**
 * Periodic RTCP reports of a leg (RFC 3550 §6), built with `rtp/rtcp.ts`.
 *
 * Every compound packet starts with an SR (if we sent RTP since the previous report) or an RR,
 * carries at most one report block (the single remote source of a two-party leg) and ends with
 * an SDES CNAME chunk (§6.1: every compound packet carries CNAME). The report block echoes the
 * remote party's last SR (LSR/DLSR) so that it can compute the round-trip time (§6.4.1). The
 * interval is randomised between 0.5 and 1.5 times the mean (§6.3.1) so that many legs started
 * together do not report in lockstep.
 */
import { randomBytes } from 'node:crypto';
import type { OutboundRtpStream } from '../bridge/outbound-stream.js';
import type { Clock } from '../bridge/types.js';
import { ntpFromUnixMs, ntpMiddle32, SdesItemType, serializeRtcp } from '../rtp/rtcp.js';
import type { RtcpPacket, RtcpReportBlock } from '../rtp/rtcp.js';
import type { ReceptionStats } from './reception-stats.js';

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

/** Schedules and builds the RTCP reports of one leg. */
export class RtcpReporter {
  readonly #options: RtcpReporterOptions;
  /** RFC 7022: a random, per-session CNAME (no host or user information leaks). */
  readonly #cname = randomBytes(12).toString('base64url');
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #packetsAtLastReport = 0;
  /** Middle 32 bits of the NTP time of the remote party's last SR, and when it arrived. */
  #lastSenderReport = 0;
  #lastSenderReportAt = 0;

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

  /** Records an SR from the remote party (its NTP timestamp), for LSR/DLSR. */
  senderReportReceived(ntpSeconds: number, ntpFraction: number): void {
    this.#lastSenderReport = ntpMiddle32(ntpSeconds, ntpFraction);
    this.#lastSenderReportAt = this.#options.clock.now();
  }

  /** The current compound report: SR or RR, then SDES. */
  report(): Uint8Array {
    return serializeRtcp([this.#senderOrReceiverReport(), this.#sdes()]);
  }

  /** A compound packet announcing that we leave (RFC 3550 §6.6): report, SDES, BYE. */
  bye(): Uint8Array {
    return serializeRtcp([
      this.#senderOrReceiverReport(),
      this.#sdes(),
      { type: 'bye', ssrcs: [this.#options.output.ssrc], reason: undefined },
    ]);
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

  #senderOrReceiverReport(): RtcpPacket {
    const { output, clock } = this.#options;
    const reports = this.#reportBlocks();
    const sent = output.stats.packets;
    // RFC 3550 §6.4: an SR when we sent data since the previous report.
    const isSender = sent > this.#packetsAtLastReport;
    this.#packetsAtLastReport = sent;
    if (!isSender) {
      return { type: 'rr', ssrc: output.ssrc, reports };
    }
    // RFC 3550 §6.4.1 sender info: NTP time and the RTP time of the same instant, counts.
    const { ntpSeconds, ntpFraction } = ntpFromUnixMs(Date.now());
    return {
      type: 'sr',
      ssrc: output.ssrc,
      ntpSeconds,
      ntpFraction,
      rtpTimestamp: output.timestampAt(clock.now()),
      packetCount: sent >>> 0,
      octetCount: output.stats.octets >>> 0,
      reports,
    };
  }

  #reportBlocks(): RtcpReportBlock[] {
    const values = this.#options.reception()?.report();
    if (!values) {
      return [];
    }
    const hasSenderReport = this.#lastSenderReport !== 0;
    const delayMs = this.#options.clock.now() - this.#lastSenderReportAt;
    return [
      {
        ...values,
        lastSenderReport: this.#lastSenderReport,
        // DLSR in units of 1/65536 s (RFC 3550 §6.4.1).
        delaySinceLastSenderReport: hasSenderReport
          ? Math.min(0xffff_ffff, Math.round((delayMs * 65_536) / 1000))
          : 0,
      },
    ];
  }

  #sdes(): RtcpPacket {
    return {
      type: 'sdes',
      chunks: [
        {
          ssrc: this.#options.output.ssrc,
          items: [{ type: SdesItemType.Cname, value: this.#cname }],
        },
      ],
    };
  }
}
