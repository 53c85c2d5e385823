/**
 * A plain RTP/AVP leg (RFC 3550, RFC 3551) for SIP phones, softphones and trunks.
 *
 * - Sockets: an even RTP port and RTCP on the next port (RFC 3550 §11), taken from a
 *   {@link PortAllocator}; a pair another process holds is skipped.
 * - Offer/answer (RFC 3264) with PCMU, PCMA, Opus (RFC 7587) and `telephone-event` (RFC 4733)
 *   at the negotiated codec's clock. The leg's outgoing stream, RTCP reports, reception
 *   statistics and DTMF durations all run at that clock (48 kHz for Opus).
 * - Symmetric RTP (RFC 4961) with latching ("comedia"): until a source is latched we send to
 *   the c=/m= address of the remote SDP. Packets from that address latch at once; another
 *   source (a phone behind NAT) is latched after a few packets in sequence (see
 *   `LATCH_PROBATION`). Once latched, RTP goes back to that source and packets from any other
 *   source are dropped, so a third party cannot inject audio once the call is up. A new remote
 *   description with another destination clears the latch.
 * - Hold: a remote `sendonly`/`inactive` stream or the legacy c=0.0.0.0 (RFC 3264 §8.4) clears
 *   {@link RtpLeg.wantsMedia}; we answer `recvonly`/`inactive`.
 * - RTCP: receiver statistics per RFC 3550 A.1/A.3/A.8 and a compound SR or RR every ~5 s
 *   (randomised ±50 %, RFC 3550 §6.3.1), BYE on close (§6.6).
 */
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { InvalidStateError, silentLogger, TypedEmitter } from '@confab/core';
import type { Logger } from '@confab/core';
import { OutboundRtpStream } from '../bridge/outbound-stream.js';
import type { Clock, MediaFormat } from '../bridge/types.js';
import { DtmfReceiver } from '../dtmf/telephone-event.js';
import { MediaError } from '../engine/errors.js';
import { isRtcp, parseRtp, serializeRtp } from '../rtp/packet.js';
import { parseRtcp } from '../rtp/rtcp.js';
import type { RtpPacket } from '../rtp/packet.js';
import {
  answerPlainRtpOffer,
  PLAIN_RTP_OFFER,
  PLAIN_RTP_OPUS,
  readPlainRtpAnswer,
  telephoneEventsFor,
  writePlainRtpOffer,
} from '../sdp/plain-rtp.js';
import type { PlainRtpNegotiation, RtpEndpoint, TelephoneEventFormat } from '../sdp/plain-rtp.js';
import { directionReceives, directionSends, MediaDirection, parseSdp } from '../sdp/sdp.js';
import { DEFAULT_PORT_RANGE, sharedPortAllocator } from './port-allocator.js';
import type { PortAllocator } from './port-allocator.js';
import { InactivityMonitor } from './inactivity-monitor.js';
import { ReceptionStats } from './reception-stats.js';
import { RtcpReporter } from './rtcp-reporter.js';
import { assertLegTransition, LegKind, LegState } from './types.js';
import { mapInboundPayload } from './payload-map.js';
import type { LegEvents, LegStats, MediaLeg } from './types.js';

/** A codec a plain RTP leg can negotiate. */
export type RtpLegCodec = 'PCMU' | 'PCMA' | 'opus';

/** The default codec list of a plain RTP leg. */
export const DEFAULT_RTP_LEG_CODECS: readonly RtpLegCodec[] = ['PCMU', 'PCMA', 'opus'];

/** Options of {@link RtpLeg.open}. */
export interface RtpLegOptions {
  /** @default a random UUID */
  id?: string;
  /**
   * The IPv4 address announced in our SDP (c= and o=).
   * @default '127.0.0.1'
   */
  address?: string;
  /**
   * The local address the sockets bind to.
   * @default the announced address
   */
  bindAddress?: string;
  /**
   * Inclusive UDP port range; ignored when `portAllocator` is given.
   * @default [10000, 20000]
   */
  portRange?: readonly [number, number];
  /** @default the allocator shared by every leg of this thread for `portRange` */
  portAllocator?: PortAllocator;
  /**
   * Codecs we accept and offer, in the order our offers list them. Answers follow the
   * offerer's order among these (RFC 3264 §6.1).
   * @default PCMU, PCMA, opus (G.711 first in offers: what phones and trunks expect)
   */
  codecs?: readonly RtpLegCodec[];
  /** Mean RTCP report interval in ms (RFC 3550 §6.2 recommends 5 s minimum). @default 5000 */
  rtcpIntervalMs?: number;
  /**
   * The leg fails (`state` → `failed`) when the remote party, expected to send, sent no RTP or
   * RTCP for this long. @default disabled
   */
  mediaTimeoutMs?: number;
  /** Monotonic millisecond clock. @default performance.now() */
  clock?: Clock;
  logger?: Logger;
}

const SYSTEM_CLOCK: Clock = { now: () => performance.now() };

/** How many port pairs to try when binds fail because another process holds the port. */
const MAX_BIND_ATTEMPTS = 16;

/**
 * Packets in sequence a source other than the SDP destination must send before it is latched
 * (the "learning" of strict RTP in B2BUAs; 60 ms of audio at 20 ms packets).
 */
const LATCH_PROBATION = 3;

interface LatchCandidate {
  address: string;
  port: number;
  ssrc: number;
  nextSequence: number;
  count: number;
}

const NegotiationState = {
  Stable: 'stable',
  HaveLocalOffer: 'have-local-offer',
} as const;
type NegotiationState = (typeof NegotiationState)[keyof typeof NegotiationState];

interface SocketPair {
  rtp: Socket;
  rtcp: Socket;
  port: number;
}

async function bindSocket(socket: Socket, port: number, address: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      socket.off('error', onError);
      resolve();
    };
    socket.once('error', onError);
    socket.once('listening', onListening);
    socket.bind({ port, address, exclusive: true });
  });
}

async function closeSocket(socket: Socket): Promise<void> {
  await new Promise<void>((resolve) => {
    try {
      socket.close(() => {
        resolve();
      });
    } catch {
      // Already closed (ERR_SOCKET_DGRAM_NOT_RUNNING).
      resolve();
    }
  });
}

async function openSocketPair(allocator: PortAllocator, address: string): Promise<SocketPair> {
  const attempts = Math.min(MAX_BIND_ATTEMPTS, allocator.capacity);
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = allocator.allocate(1);
    if (port === undefined) {
      break;
    }
    const rtp = createSocket({ type: 'udp4' });
    const rtcp = createSocket({ type: 'udp4' });
    try {
      await bindSocket(rtp, port, address);
      await bindSocket(rtcp, port + 1, address);
      return { rtp, rtcp, port };
    } catch (error) {
      await Promise.all([closeSocket(rtp), closeSocket(rtcp)]);
      allocator.release(port, 1);
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') {
        throw MediaError.internal(`cannot bind UDP ${address}:${port}`, error);
      }
    }
  }
  throw MediaError.noPorts(allocator.range);
}

const CODEC_SPECS: Readonly<Record<RtpLegCodec, MediaFormat['audio']>> = {
  PCMU: PLAIN_RTP_OFFER[0]!,
  PCMA: PLAIN_RTP_OFFER[1]!,
  opus: PLAIN_RTP_OPUS,
};

/** A plain RTP leg; create it with {@link RtpLeg.open}. */
export class RtpLeg extends TypedEmitter<LegEvents> implements MediaLeg {
  readonly id: string;
  readonly kind = LegKind.Rtp;
  /** The bound RTP port (RTCP is `port + 1`). */
  readonly port: number;

  readonly #address: string;
  readonly #sockets: SocketPair;
  readonly #allocator: PortAllocator;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #codecs: readonly MediaFormat['audio'][];
  readonly #telephoneEvents: readonly TelephoneEventFormat[];
  #output: OutboundRtpStream;
  readonly #sessionId = String(Math.floor(Math.random() * 1e12));
  readonly #rtcp: RtcpReporter;
  readonly #inactivity: InactivityMonitor | undefined;
  #version = 0;
  #state: LegState = LegState.New;
  #signaling: NegotiationState = NegotiationState.Stable;
  #pendingDirection: MediaDirection = MediaDirection.SendRecv;
  #negotiation: PlainRtpNegotiation | undefined;
  #format: MediaFormat;
  #latched: RemoteInfo | undefined;
  #latchedRtcp: RemoteInfo | undefined;
  #latchCandidate: LatchCandidate | undefined;
  #reception: ReceptionStats | undefined;
  #dtmf: DtmfReceiver | undefined;
  #dtmfPayloadType: number | undefined;
  #wasSending = false;
  #closing: Promise<void> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #counters = {
    packetsReceived: 0,
    bytesReceived: 0,
    packetsSent: 0,
    bytesSent: 0,
    packetsDropped: 0,
  };

  private constructor(
    options: RtpLegOptions,
    sockets: SocketPair,
    allocator: PortAllocator,
    id: string,
  ) {
    super();
    this.id = id;
    this.port = sockets.port;
    this.#sockets = sockets;
    this.#allocator = allocator;
    this.#address = options.address ?? '127.0.0.1';
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#logger = (options.logger ?? silentLogger).child({ legId: id, legKind: LegKind.Rtp });
    this.#codecs = [...new Set(options.codecs ?? DEFAULT_RTP_LEG_CODECS)].map(
      (name) => CODEC_SPECS[name],
    );
    if (this.#codecs.length === 0) {
      throw new TypeError('an RTP leg needs at least one codec');
    }
    this.#telephoneEvents = telephoneEventsFor(this.#codecs);
    const first = this.#codecs[0]!;
    this.#format = {
      audio: first,
      telephoneEvent: this.#telephoneEvents.find((event) => event.clockRate === first.clockRate),
      audioLevelExtensionId: undefined,
    };
    this.#output = new OutboundRtpStream({ clockRate: first.clockRate, clock: this.#clock });
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the reporter reads the current stream
    const leg = this;
    this.#rtcp = new RtcpReporter({
      intervalMs: options.rtcpIntervalMs ?? 5000,
      get output() {
        return leg.output;
      },
      clock: this.#clock,
      reception: () => this.#reception,
      send: (bytes) => {
        this.#sendRtcp(bytes);
      },
    });
    this.#inactivity =
      options.mediaTimeoutMs === undefined
        ? undefined
        : new InactivityMonitor({
            timeoutMs: options.mediaTimeoutMs,
            clock: this.#clock,
            onTimeout: () => {
              this.#onMediaTimeout();
            },
          });
    sockets.rtp.on('message', (data, from) => {
      this.#onRtpDatagram(data, from);
    });
    sockets.rtcp.on('message', (data, from) => {
      this.#onRtcpDatagram(data, from);
    });
    for (const socket of [sockets.rtp, sockets.rtcp]) {
      // Send errors (ICMP unreachable, EHOSTUNREACH) are reported here; media is best effort.
      socket.on('error', (error) => {
        this.#logger.debug({ err: error }, 'UDP socket error');
      });
    }
  }

  /**
   * Binds an RTP/RTCP socket pair and returns the leg. Rejects with `MEDIA_NO_PORTS` when no
   * pair of the range can be bound.
   */
  static async open(options: RtpLegOptions = {}): Promise<RtpLeg> {
    const allocator =
      options.portAllocator ?? sharedPortAllocator(options.portRange ?? DEFAULT_PORT_RANGE);
    const address = options.address ?? '127.0.0.1';
    const sockets = await openSocketPair(allocator, options.bindAddress ?? address);
    return new RtpLeg(options, sockets, allocator, options.id ?? randomUUID());
  }

  get state(): LegState {
    return this.#state;
  }

  /**
   * The leg's outgoing stream, at the negotiated codec's clock rate. A negotiation that changes
   * the clock rate (G.711 ↔ Opus) starts a new stream with a new SSRC (RFC 7160 §4.1).
   */
  get output(): OutboundRtpStream {
    return this.#output;
  }

  /** The negotiated format (payload types of the remote party, used to send). */
  get format(): MediaFormat {
    return this.#format;
  }

  /**
   * True when the remote party receives media: negotiated, a destination known, its direction
   * `sendrecv`/`recvonly` and not on hold.
   */
  get wantsMedia(): boolean {
    const negotiation = this.#negotiation;
    return (
      this.#state !== LegState.Closed &&
      negotiation?.remote !== undefined &&
      directionSends(negotiation.localDirection)
    );
  }

  /** Where RTP goes now: the latched source, else the SDP destination. */
  get remoteEndpoint(): RtpEndpoint | undefined {
    const remote = this.#negotiation?.remote;
    if (!remote) {
      return undefined;
    }
    const latched = this.#latched;
    return latched
      ? {
          address: latched.address,
          port: latched.port,
          rtcpPort: this.#latchedRtcp?.port ?? remote.rtcpPort,
        }
      : remote;
  }

  async createOffer(): Promise<string> {
    return this.#serialize(() => {
      this.#assertOpen();
      const sdp = writePlainRtpOffer(
        this.#local(MediaDirection.SendRecv),
        this.#codecs,
        this.#telephoneEvents,
      );
      this.#signaling = NegotiationState.HaveLocalOffer;
      this.#pendingDirection = MediaDirection.SendRecv;
      if (this.#state === LegState.New) {
        this.#transition(LegState.Connecting);
      }
      return sdp;
    });
  }

  async acceptOffer(sdp: string): Promise<string> {
    return this.#serialize(() => {
      this.#assertOpen();
      if (this.#signaling !== NegotiationState.Stable) {
        // RFC 3264 §4: one offer at a time; SIP answers glare with 491 (RFC 3261 §14.2).
        throw new InvalidStateError('an offer of ours is pending');
      }
      const offer = parseSdp(sdp);
      const { sdp: answer, negotiation } = answerPlainRtpOffer(
        offer,
        this.#local(MediaDirection.SendRecv),
        this.#codecs,
      );
      this.#apply(negotiation);
      return answer;
    });
  }

  async acceptAnswer(sdp: string): Promise<void> {
    return this.#serialize(() => {
      this.#assertOpen();
      if (this.#signaling !== NegotiationState.HaveLocalOffer) {
        throw new InvalidStateError('no offer of ours is pending');
      }
      const answer = parseSdp(sdp);
      const negotiation = readPlainRtpAnswer(
        answer,
        this.#codecs,
        this.#telephoneEvents,
        this.#pendingDirection,
      );
      this.#signaling = NegotiationState.Stable;
      this.#apply(negotiation);
    });
  }

  /** Sends one packet (already rewritten by {@link RtpLeg.output}) unless the remote is on hold. */
  sendRtp(packet: RtpPacket): void {
    const destination = this.wantsMedia ? this.remoteEndpoint : undefined;
    if (!destination) {
      return;
    }
    const bytes = serializeRtp(packet);
    this.#sockets.rtp.send(bytes, destination.port, destination.address);
    this.#counters.packetsSent++;
    this.#counters.bytesSent += bytes.length;
  }

  stats(): LegStats {
    return { kind: this.kind, state: this.#state, ...this.#counters };
  }

  close(): Promise<void> {
    this.#closing ??= this.#teardown();
    return this.#closing;
  }

  async #teardown(): Promise<void> {
    const wasSending = this.output.stats.packets > 0;
    this.#transition(LegState.Closed);
    this.#rtcp.stop();
    this.#inactivity?.stop();
    this.#dtmf?.close();
    if (wasSending && this.#negotiation?.remote) {
      // RFC 3550 §6.6: a participant leaving sends BYE.
      this.#sendRtcp(this.#rtcp.bye());
    }
    await Promise.all([closeSocket(this.#sockets.rtp), closeSocket(this.#sockets.rtcp)]);
    this.#allocator.release(this.port, 1);
    this.removeAllListeners();
  }

  #local(direction: MediaDirection): {
    sessionId: string;
    version: number;
    address: string;
    port: number;
    direction: MediaDirection;
  } {
    return {
      sessionId: this.#sessionId,
      version: this.#version++,
      address: this.#address,
      port: this.port,
      direction,
    };
  }

  #apply(negotiation: PlainRtpNegotiation): void {
    const previous = this.#negotiation;
    const wanted = this.wantsMedia;
    this.#negotiation = negotiation;
    this.#format = negotiation.format;
    const clockRate = negotiation.format.audio.clockRate;
    if (clockRate !== this.#output.clockRate) {
      // RFC 7160 §4.1: a sender changing its clock rate starts a new stream (new SSRC). Before
      // the first negotiation nothing was sent, so this only picks the right clock.
      this.#output = new OutboundRtpStream({ clockRate, clock: this.#clock });
      this.#reception = undefined;
    }
    const moved =
      previous?.remote?.address !== negotiation.remote?.address ||
      previous?.remote?.port !== negotiation.remote?.port;
    if (moved) {
      this.#latched = undefined;
      this.#latchedRtcp = undefined;
      this.#latchCandidate = undefined;
    }
    this.#setDtmfReceiver(negotiation.format.telephoneEvent);
    if (!wanted && this.wantsMedia && this.#wasSending) {
      // Back from hold: the silence is deliberate, not loss (see OutboundRtpStream.resync).
      this.output.resync();
    }
    this.#wasSending ||= this.wantsMedia;
    if (this.#state !== LegState.Connected && this.#state !== LegState.Failed) {
      this.#transition(LegState.Connected);
    }
    this.#rtcp.start();
    this.#inactivity?.expect(
      this.#state === LegState.Connected && directionReceives(negotiation.localDirection),
    );
    this.#logger.debug(
      {
        codec: negotiation.format.audio.name,
        remote: negotiation.remote,
        remoteDirection: negotiation.remoteDirection,
        localDirection: negotiation.localDirection,
      },
      'negotiated',
    );
  }

  #onRtpDatagram(data: Buffer, from: RemoteInfo): void {
    const negotiation = this.#negotiation;
    if (this.#state === LegState.Closed || !negotiation) {
      return;
    }
    if (isRtcp(data)) {
      // Some endpoints multiplex RTCP on the RTP port even without a=rtcp-mux (RFC 5761 §4).
      this.#onRtcpDatagram(data, from);
      return;
    }
    const latched = this.#latched;
    if (latched && (latched.address !== from.address || latched.port !== from.port)) {
      this.#counters.packetsDropped++;
      return;
    }
    const packet = parseRtp(data);
    if (!packet) {
      this.#counters.packetsDropped++;
      return;
    }
    const carried = mapInboundPayload(packet, negotiation.receiveFormat, negotiation.format);
    if (carried === undefined) {
      this.#counters.packetsDropped++;
      return;
    }
    if (!latched && !this.#learn(from, packet, negotiation.remote)) {
      this.#counters.packetsDropped++;
      return;
    }
    this.#counters.packetsReceived++;
    this.#counters.bytesReceived += data.length;
    this.#inactivity?.touch();
    let reception = this.#reception;
    if (reception?.ssrc !== packet.ssrc) {
      // Jitter is computed in the stream's timestamp units (RFC 3550 §6.4.1, A.8).
      reception = new ReceptionStats(packet.ssrc, negotiation.receiveFormat.audio.clockRate);
      this.#reception = reception;
    }
    reception.update(packet.sequenceNumber, packet.timestamp, this.#clock.now());
    if (!directionReceives(negotiation.localDirection)) {
      // We declared sendonly/inactive: the peer should not send; ignore what it does.
      return;
    }
    if (carried === 'event') {
      this.#dtmf?.receive(packet);
    } else {
      // Reports an event whose end packets were all lost once audio resumes.
      this.#dtmf?.poll();
    }
    this.emit('rtp', packet);
  }

  /**
   * Decides whether an unlatched source becomes the latched one. The destination named in the
   * SDP is trusted at once; any other source (a NATed phone) must first send
   * {@link LATCH_PROBATION} packets in sequence with one SSRC, so that a stray or forged packet
   * cannot capture the stream before the real party speaks.
   */
  #learn(from: RemoteInfo, packet: RtpPacket, remote: RtpEndpoint | undefined): boolean {
    const fromSdpDestination = remote?.address === from.address && remote.port === from.port;
    const candidate = this.#latchCandidate;
    if (!fromSdpDestination) {
      if (
        candidate?.address === from.address &&
        candidate.port === from.port &&
        candidate.ssrc === packet.ssrc &&
        candidate.nextSequence === packet.sequenceNumber
      ) {
        candidate.count++;
        candidate.nextSequence = (packet.sequenceNumber + 1) & 0xffff;
      } else {
        this.#latchCandidate = {
          address: from.address,
          port: from.port,
          ssrc: packet.ssrc,
          nextSequence: (packet.sequenceNumber + 1) & 0xffff,
          count: 1,
        };
      }
      if ((this.#latchCandidate?.count ?? 0) < LATCH_PROBATION) {
        return false;
      }
    }
    this.#latched = from;
    this.#latchCandidate = undefined;
    this.#logger.debug({ address: from.address, port: from.port }, 'latched RTP source');
    return true;
  }

  #onMediaTimeout(): void {
    if (this.#state === LegState.Closed || this.#state === LegState.Failed) {
      return;
    }
    this.#logger.warn({}, 'no media from the remote party: leg failed');
    this.#transition(LegState.Failed);
    this.#rtcp.stop();
  }

  /** (Re)creates the DTMF receiver when the telephone-event format changes. */
  #setDtmfReceiver(format: MediaFormat['telephoneEvent']): void {
    const current = this.#dtmf;
    if (current && format?.payloadType === this.#dtmfPayloadType) {
      return;
    }
    current?.close();
    this.#dtmf = undefined;
    this.#dtmfPayloadType = format?.payloadType;
    if (format) {
      const receiver = new DtmfReceiver({
        payloadType: format.payloadType,
        clockRate: format.clockRate,
        clock: this.#clock,
      });
      receiver.on('digit', (event) => {
        this.emit('dtmf', { digit: event.digit, durationMs: event.durationMs });
      });
      this.#dtmf = receiver;
    }
  }

  #onRtcpDatagram(data: Buffer, from: RemoteInfo): void {
    if (this.#state === LegState.Closed || !this.#negotiation) {
      return;
    }
    const latched = this.#latched;
    // Accept RTCP from the latched RTP host only (any port: RTCP comes from its own socket).
    if (latched && latched.address !== from.address) {
      return;
    }
    const packets = isRtcp(data) ? parseRtcp(data) : undefined;
    if (!packets) {
      return;
    }
    // RFC 4961: symmetric RTCP — answer where reports come from.
    this.#latchedRtcp ??= from;
    this.#inactivity?.touch();
    for (const packet of packets) {
      if (packet.type === 'sr') {
        this.#rtcp.senderReportReceived(packet.ntpSeconds, packet.ntpFraction);
      } else if (packet.type === 'bye') {
        this.#logger.debug({ ssrcs: packet.ssrcs, reason: packet.reason }, 'RTCP BYE received');
      }
    }
  }

  #sendRtcp(bytes: Uint8Array): void {
    const remote = this.remoteEndpoint;
    if (!remote || this.#negotiation?.remote === undefined) {
      return;
    }
    this.#sockets.rtcp.send(bytes, remote.rtcpPort, remote.address);
  }

  #assertOpen(): void {
    if (this.#state === LegState.Closed) {
      throw InvalidStateError.closed(`RTP leg ${this.id}`);
    }
  }

  /** Runs negotiation steps one at a time, in call order. */
  #serialize<T>(step: () => T): Promise<T> {
    const run = this.#queue.then(step, step);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #transition(to: LegState): void {
    const from = this.#state;
    assertLegTransition(`RTP leg ${this.id}`, from, to);
    this.#state = to;
    this.#logger.debug({ from, to }, 'leg state');
    this.emit('state', to, from);
  }
}
