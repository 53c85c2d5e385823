/**
 * A WebRTC leg on werift 0.24: ICE (host candidates from configured addresses only), DTLS-SRTP,
 * BUNDLE, rtcp-mux, Opus/48000/2 and telephone-event/48000.
 *
 * Compatibility notes (werift 0.24.4 is pinned; re-check them when upgrading):
 * - Sending bypasses `RTCRtpSender.sendRtp`, which overwrites the payload type with the first
 *   negotiated codec (telephone-event packets would go out as Opus), rewrites header
 *   extensions and runs per-packet bandwidth estimation. Packets arrive here already rewritten
 *   by {@link WebRtcLeg.output}, whose SSRC is the sender's SSRC announced in `a=ssrc`, and go
 *   straight to `RTCDtlsTransport.sendRtp` (SRTP encryption, one datagram each).
 * - Receiving listens on `RTCDtlsTransport.onRtp` rather than `track.onReceiveRtp`: werift's
 *   router delivers to tracks only packets whose SSRC was announced in `a=ssrc`, and a peer that
 *   omits it (or changes SSRC) would go silent. Each packet is re-read with `parseRtp` from the
 *   decrypted buffer werift parsed it from (see `fromWerift`).
 * - Sender reports are ours (RFC 3550 §6.4.1 from {@link WebRtcLeg.output}'s statistics), as
 *   werift's SR timer lives in the bypassed sender.
 * - werift binds one UDP socket per host address, on the wildcard address unless exactly one
 *   IPv4 address is configured (then on that address). Its port search (`findPort`) probes
 *   and closes a port before binding it, so another process can steal the port in between;
 *   the allocator keeps legs of one engine (and workers, by range splitting) apart.
 * - Interface enumeration is disabled (`iceUseIpv4/6: false`): only `addresses` become host
 *   candidates. `iceServers` is emptied (werift's default is a public STUN server) and the
 *   ICE agent's own fallback STUN server is removed (see `disableDefaultStunServer`).
 * - SDP goes through `sdp/webrtc.ts`, which hides video and data sections from werift.
 */
import { randomUUID } from 'node:crypto';
import { isIPv4 } from 'node:net';
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtcpSrPacket,
  RtpHeader,
  useAudioLevelIndication,
} from 'werift';
import type { RtcpPacket, RTCRtpTransceiver, RtpPacket as WeriftRtpPacket } from 'werift';
import { InvalidStateError, silentLogger, TypedEmitter } from '@confab/core';
import type { Logger } from '@confab/core';
import { OutboundRtpStream } from '../bridge/outbound-stream.js';
import type { Clock, MediaFormat } from '../bridge/types.js';
import { DtmfReceiver } from '../dtmf/telephone-event.js';
import { MediaError } from '../engine/errors.js';
import { parseRtp } from '../rtp/packet.js';
import type { RtpPacket } from '../rtp/packet.js';
import {
  answerDirection,
  directionReceives,
  directionSends,
  MediaDirection,
  parseSdp,
} from '../sdp/sdp.js';
import { expandWebRtcDescription, isolateWebRtcAnswer, isolateWebRtcOffer } from '../sdp/webrtc.js';
import type { OriginState, SessionShape } from '../sdp/webrtc.js';
import { DEFAULT_PORT_RANGE, sharedPortAllocator } from './port-allocator.js';
import type { PortAllocator } from './port-allocator.js';
import { InactivityMonitor } from './inactivity-monitor.js';
import { ReceptionStats } from './reception-stats.js';
import { RtcpReporter } from './rtcp-reporter.js';
import { assertLegTransition, LegKind, LegState } from './types.js';
import { mapInboundPayload } from './payload-map.js';
import type { LegEvents, LegStats, MediaLeg } from './types.js';

/** Options of {@link WebRtcLeg.create}. */
export interface WebRtcLegOptions {
  /** @default a random UUID */
  id?: string;
  /**
   * Addresses announced as ICE host candidates (no other interface is gathered).
   * @default ['127.0.0.1']
   */
  addresses?: readonly string[];
  /**
   * Inclusive UDP port range; ignored when `portAllocator` is given.
   * @default [10000, 20000]
   */
  portRange?: readonly [number, number];
  /** @default the allocator shared by every leg of this thread for `portRange` */
  portAllocator?: PortAllocator;
  /**
   * Advertise ICE lite (RFC 8445 §2.5): we only answer connectivity checks and the peer, a full
   * agent, is controlling. Cheaper, but fails against another lite agent.
   * @default false
   */
  iceLite?: boolean;
  /** Mean interval of our RTCP sender/receiver reports in ms. @default 5000 */
  rtcpIntervalMs?: number;
  /**
   * The leg fails (`state` → `failed`) when the connected remote party, expected to send, sent
   * no RTP or RTCP for this long. @default disabled
   */
  mediaTimeoutMs?: number;
  /** Monotonic millisecond clock. @default performance.now() */
  clock?: Clock;
  logger?: Logger;
}

/** Payload types of our own offers (common WebRTC choices). */
const OPUS_PT = 111;
const TELEPHONE_EVENT_PT = 126;
const DEFAULT_FORMAT: MediaFormat = {
  audio: { name: 'opus', payloadType: OPUS_PT, clockRate: 48_000, channels: 2 },
  telephoneEvent: { payloadType: TELEPHONE_EVENT_PT, clockRate: 48_000 },
  audioLevelExtensionId: undefined,
};

/** How long `close()` waits for werift to release its sockets. */
const CLOSE_TIMEOUT_MS = 3000;

const SYSTEM_CLOCK: Clock = { now: () => performance.now() };

const NegotiationState = {
  Stable: 'stable',
  HaveLocalOffer: 'have-local-offer',
} as const;
type NegotiationState = (typeof NegotiationState)[keyof typeof NegotiationState];

interface Negotiated {
  /** Payload types to send with (the remote party's numbers). */
  format: MediaFormat;
  /** Payload types we declared for receiving. */
  receiveFormat: MediaFormat;
  remoteDirection: MediaDirection;
  localDirection: MediaDirection;
}

/**
 * Re-reads a werift packet as our {@link RtpPacket}. werift parses the decrypted datagram in
 * place (`payload` is a subarray after `payloadOffset` header octets), so the whole packet is
 * recovered without copying and parsed by our reader; if that assumption ever breaks, the
 * header fields are copied instead (dropping header extensions).
 */
function fromWerift(packet: WeriftRtpPacket): RtpPacket | undefined {
  const { header, payload } = packet;
  const start = payload.byteOffset - header.payloadOffset;
  if (start >= 0) {
    const length = header.payloadOffset + payload.length + header.paddingSize;
    if (start + length <= payload.buffer.byteLength) {
      const parsed = parseRtp(new Uint8Array(payload.buffer, start, length));
      if (
        parsed?.sequenceNumber === header.sequenceNumber &&
        parsed.ssrc === header.ssrc &&
        parsed.payload.length === payload.length
      ) {
        return parsed;
      }
    }
  }
  return {
    marker: header.marker,
    payloadType: header.payloadType,
    sequenceNumber: header.sequenceNumber,
    timestamp: header.timestamp,
    ssrc: header.ssrc,
    csrcs: header.csrc,
    extension: undefined,
    payload,
  };
}

/**
 * werift 0.24's ICE agent falls back to `stun.l.google.com:19302` when no STUN server is
 * configured (even with `iceServers: []`), so every gathering would query Google for a
 * server-reflexive candidate, and stall for its 5 s timeout where that host is unreachable.
 * The transport exists as soon as the transceiver does (max-bundle: one transport), before
 * any gathering.
 */
function disableDefaultStunServer(transceiver: RTCRtpTransceiver): void {
  const connection = transceiver.dtlsTransport.iceTransport.connection as {
    stunServer?: unknown;
  };
  connection.stunServer = undefined;
}

/** A WebRTC leg; create it with {@link WebRtcLeg.create}. */
export class WebRtcLeg extends TypedEmitter<LegEvents> implements MediaLeg {
  readonly id: string;
  readonly kind = LegKind.WebRtc;
  readonly output: OutboundRtpStream;

  readonly #pc: RTCPeerConnection;
  readonly #transceiver: RTCRtpTransceiver;
  readonly #allocator: PortAllocator;
  readonly #basePort: number;
  readonly #pairs: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #rtcp: RtcpReporter;
  readonly #inactivity: InactivityMonitor | undefined;
  readonly #origin: OriginState = {
    sessionId: String(Math.floor(Math.random() * 1e12)),
    version: 0,
  };
  readonly #unsubscribe: (() => void)[] = [];
  #state: LegState = LegState.New;
  #signaling: NegotiationState = NegotiationState.Stable;
  #shape: SessionShape | undefined;
  #negotiated: Negotiated | undefined;
  #reception: ReceptionStats | undefined;
  #dtmf: DtmfReceiver | undefined;
  #dtmfPayloadType: number | undefined;
  #wanted = false;
  #closing: Promise<void> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #counters = {
    packetsReceived: 0,
    bytesReceived: 0,
    packetsSent: 0,
    bytesSent: 0,
    packetsDropped: 0,
  };

  private constructor(options: WebRtcLegOptions, allocator: PortAllocator, basePort: number) {
    super();
    const addresses = options.addresses ?? ['127.0.0.1'];
    const pairs = Math.ceil(addresses.length / 2);
    this.id = options.id ?? randomUUID();
    this.#allocator = allocator;
    this.#basePort = basePort;
    this.#pairs = pairs;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#logger = (options.logger ?? silentLogger).child({
      legId: this.id,
      legKind: LegKind.WebRtc,
    });
    const single = addresses.length === 1 && isIPv4(addresses[0]!) ? addresses[0] : undefined;
    this.#pc = new RTCPeerConnection({
      codecs: {
        audio: [
          new RTCRtpCodecParameters({
            mimeType: 'audio/opus',
            clockRate: 48_000,
            channels: 2,
            payloadType: OPUS_PT,
            parameters: 'minptime=10;useinbandfec=1',
          }),
          new RTCRtpCodecParameters({
            mimeType: 'audio/telephone-event',
            clockRate: 48_000,
            payloadType: TELEPHONE_EVENT_PT,
            parameters: '0-16',
          }),
        ],
        video: [],
      },
      // RFC 6464 levels from browsers feed the mixer's talk detection.
      headerExtensions: { audio: [useAudioLevelIndication()], video: [] },
      iceServers: [],
      iceUseIpv4: false,
      iceUseIpv6: false,
      iceAdditionalHostAddresses: [...addresses],
      iceInterfaceAddresses: single === undefined ? undefined : { udp4: single },
      icePortRange: [basePort, basePort + pairs * 2 - 1],
      iceLite: options.iceLite ?? false,
      bundlePolicy: 'max-bundle',
    });
    this.#transceiver = this.#pc.addTransceiver('audio', { direction: 'sendrecv' });
    disableDefaultStunServer(this.#transceiver);
    this.output = new OutboundRtpStream({
      clockRate: 48_000,
      clock: this.#clock,
      ssrc: this.#transceiver.sender.ssrc,
    });
    this.#rtcp = new RtcpReporter({
      intervalMs: options.rtcpIntervalMs ?? 5000,
      output: this.output,
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
              this.#fail('no media from the remote party');
            },
          });
    const dtls = this.#transceiver.dtlsTransport;
    const rtp = dtls.onRtp.subscribe((packet) => {
      this.#onRtp(packet);
    });
    const rtcp = dtls.onRtcp.subscribe((packet) => {
      this.#inactivity?.touch();
      if (packet.type === RtcpSrPacket.type) {
        // The 64-bit NTP timestamp of the peer's SR, for our LSR/DLSR (RFC 3550 §6.4.1).
        const ntp = packet.senderInfo.ntpTimestamp;
        this.#rtcp.senderReportReceived(Number(ntp >> 32n), Number(ntp & 0xffff_ffffn));
      }
    });
    const state = this.#pc.connectionStateChange.subscribe((connectionState) => {
      this.#onConnectionState(connectionState);
    });
    this.#unsubscribe.push(rtp.unSubscribe, rtcp.unSubscribe, state.unSubscribe);
  }

  /**
   * Creates a leg and reserves its ports (one per address; sockets are bound by werift when the
   * first description is made). Throws `MEDIA_NO_PORTS` when the range is exhausted.
   */
  static create(options: WebRtcLegOptions = {}): WebRtcLeg {
    const addresses = options.addresses ?? ['127.0.0.1'];
    if (addresses.length === 0) {
      throw new TypeError('a WebRTC leg needs at least one address');
    }
    const allocator =
      options.portAllocator ?? sharedPortAllocator(options.portRange ?? DEFAULT_PORT_RANGE);
    const pairs = Math.ceil(addresses.length / 2);
    const basePort = allocator.allocate(pairs);
    if (basePort === undefined) {
      throw MediaError.noPorts(allocator.range);
    }
    try {
      return new WebRtcLeg(options, allocator, basePort);
    } catch (error) {
      allocator.release(basePort, pairs);
      throw error;
    }
  }

  get state(): LegState {
    return this.#state;
  }

  /** The negotiated format (before negotiation: Opus 111 and telephone-event 126). */
  get format(): MediaFormat {
    return this.#negotiated?.format ?? DEFAULT_FORMAT;
  }

  /** True when the remote party receives media (negotiated `sendrecv`/`recvonly` from them). */
  get wantsMedia(): boolean {
    const negotiated = this.#negotiated;
    return (
      this.#state !== LegState.Closed &&
      negotiated !== undefined &&
      directionSends(negotiated.localDirection)
    );
  }

  async createOffer(): Promise<string> {
    return this.#serialize(async () => {
      this.#assertOpen();
      if (this.#signaling !== NegotiationState.Stable) {
        throw new InvalidStateError('an offer of ours is already pending');
      }
      const offer = await this.#pc.createOffer();
      await this.#pc.setLocalDescription(offer);
      const local = this.#localSdp();
      this.#shape ??= {
        sections: [
          {
            type: 'audio',
            protocol: 'UDP/TLS/RTP/SAVPF',
            format: String(OPUS_PT),
            mid: this.#transceiver.mid ?? undefined,
          },
        ],
        audioIndex: 0,
      };
      this.#signaling = NegotiationState.HaveLocalOffer;
      if (this.#state === LegState.New) {
        this.#transition(LegState.Connecting);
      }
      return this.#expand(local);
    });
  }

  async acceptOffer(sdp: string): Promise<string> {
    return this.#serialize(async () => {
      this.#assertOpen();
      if (this.#signaling !== NegotiationState.Stable) {
        // RFC 3264 §4: one offer at a time; SIP answers glare with 491 (RFC 3261 §14.2).
        throw new InvalidStateError('an offer of ours is pending');
      }
      const isolated = isolateWebRtcOffer(parseSdp(sdp), this.#shape);
      try {
        await this.#pc.setRemoteDescription({ type: 'offer', sdp: isolated.sdp });
        await this.#pc.setLocalDescription(await this.#pc.createAnswer());
      } catch (error) {
        throw this.#asSdpError(error);
      }
      const local = this.#localSdp();
      this.#shape = isolated.shape;
      this.#apply({
        format: isolated.format,
        receiveFormat: isolated.format,
        remoteDirection: isolated.direction,
        localDirection: answerDirection(isolated.direction),
      });
      if (this.#state === LegState.New) {
        this.#transition(LegState.Connecting);
      }
      return this.#expand(local);
    });
  }

  async acceptAnswer(sdp: string): Promise<void> {
    return this.#serialize(async () => {
      this.#assertOpen();
      const shape = this.#shape;
      if (this.#signaling !== NegotiationState.HaveLocalOffer || !shape) {
        throw new InvalidStateError('no offer of ours is pending');
      }
      const isolated = isolateWebRtcAnswer(parseSdp(sdp), shape);
      try {
        await this.#pc.setRemoteDescription({ type: 'answer', sdp: isolated.sdp });
      } catch (error) {
        throw this.#asSdpError(error);
      }
      this.#signaling = NegotiationState.Stable;
      // Our offer's numbers are what we receive; the answer's are what we send (RFC 3264 §6.1).
      this.#apply({
        format: isolated.format,
        receiveFormat: {
          audio: { ...isolated.format.audio, payloadType: OPUS_PT },
          telephoneEvent: isolated.format.telephoneEvent && {
            ...isolated.format.telephoneEvent,
            payloadType: TELEPHONE_EVENT_PT,
          },
          // One RFC 8285 mapping for both directions; the answer repeats our offer's id.
          audioLevelExtensionId: isolated.format.audioLevelExtensionId,
        },
        remoteDirection: isolated.direction,
        localDirection: answerDirection(isolated.direction),
      });
    });
  }

  /** Encrypts and sends one packet (already rewritten by {@link WebRtcLeg.output}). */
  sendRtp(packet: RtpPacket): void {
    const dtls = this.#transceiver.dtlsTransport;
    if (!this.wantsMedia || dtls.state !== 'connected') {
      return;
    }
    const header = new RtpHeader({
      marker: packet.marker,
      payloadType: packet.payloadType,
      sequenceNumber: packet.sequenceNumber,
      timestamp: packet.timestamp,
      ssrc: packet.ssrc,
    });
    const payload = packet.payload;
    const body = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
    this.#counters.packetsSent++;
    this.#counters.bytesSent += 12 + payload.length;
    // Resolves with the size; failures are logged by werift and are not ours to retry.
    void dtls.sendRtp(body, header);
  }

  stats(): LegStats {
    return { kind: this.kind, state: this.#state, ...this.#counters };
  }

  close(): Promise<void> {
    this.#closing ??= this.#teardown();
    return this.#closing;
  }

  async #teardown(): Promise<void> {
    this.#transition(LegState.Closed);
    this.#rtcp.stop();
    this.#inactivity?.stop();
    this.#dtmf?.close();
    for (const unsubscribe of this.#unsubscribe.splice(0)) {
      unsubscribe();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#pc.close(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        }),
      ]);
    } catch (error) {
      this.#logger.warn({ err: error }, 'werift close failed');
    } finally {
      clearTimeout(timer);
    }
    this.#allocator.release(this.#basePort, this.#pairs);
    this.removeAllListeners();
  }

  #apply(negotiated: Negotiated): void {
    const wanted = this.#wanted;
    this.#negotiated = negotiated;
    this.#setDtmfReceiver(negotiated.format.telephoneEvent);
    const wants = this.wantsMedia;
    if (!wanted && wants && this.output.stats.packets > 0) {
      // Back from hold: the silence is deliberate, not loss (see OutboundRtpStream.resync).
      this.output.resync();
    }
    this.#wanted = wants;
    this.#watchMedia();
    this.#logger.debug(
      {
        format: negotiated.format,
        remoteDirection: negotiated.remoteDirection,
        localDirection: negotiated.localDirection,
      },
      'negotiated',
    );
  }

  #localSdp(): string {
    const sdp = this.#pc.localDescription?.sdp;
    if (sdp === undefined) {
      throw MediaError.internal('werift has no local description');
    }
    if (!/^a=candidate:/m.test(sdp)) {
      // Every port of the reserved block was taken by another process.
      throw MediaError.noPorts(this.#allocator.range);
    }
    return sdp;
  }

  #expand(weriftSdp: string): string {
    const shape = this.#shape;
    if (!shape) {
      throw MediaError.internal('no session shape');
    }
    this.#origin.version++;
    return expandWebRtcDescription(weriftSdp, shape, this.#origin);
  }

  #asSdpError(error: unknown): MediaError {
    this.#logger.debug({ err: error }, 'werift refused the remote description');
    return MediaError.sdpInvalid('refused by the WebRTC stack', error);
  }

  #onConnectionState(state: string): void {
    if (this.#state === LegState.Closed || this.#state === LegState.Failed) {
      return;
    }
    switch (state) {
      case 'connected':
        if (this.#state !== LegState.Connected) {
          this.#transition(LegState.Connected);
          this.#rtcp.start();
        }
        break;
      case 'connecting':
      case 'disconnected':
        // Consent lost (RFC 7675) is not final: werift keeps checking.
        if (this.#state !== LegState.Connecting) {
          this.#transition(LegState.Connecting);
        }
        break;
      case 'failed':
        this.#fail('ICE or DTLS failed');
        return;
      default:
        return;
    }
    this.#watchMedia();
  }

  /** Media is expected while connected and the remote party sends (not on hold). */
  #watchMedia(): void {
    const negotiated = this.#negotiated;
    this.#inactivity?.expect(
      this.#state === LegState.Connected &&
        negotiated !== undefined &&
        directionReceives(negotiated.localDirection),
    );
  }

  #fail(reason: string): void {
    if (this.#state === LegState.Closed || this.#state === LegState.Failed) {
      return;
    }
    this.#logger.warn({ reason }, 'leg failed');
    this.#transition(LegState.Failed);
    this.#rtcp.stop();
    this.#inactivity?.stop();
  }

  #onRtp(weriftPacket: WeriftRtpPacket): void {
    const negotiated = this.#negotiated;
    if (this.#state === LegState.Closed || !negotiated) {
      return;
    }
    const packet = fromWerift(weriftPacket);
    if (!packet) {
      this.#counters.packetsDropped++;
      return;
    }
    const carried = mapInboundPayload(packet, negotiated.receiveFormat, negotiated.format);
    if (carried === undefined) {
      this.#counters.packetsDropped++;
      return;
    }
    this.#counters.packetsReceived++;
    this.#counters.bytesReceived += 12 + packet.payload.length;
    this.#inactivity?.touch();
    let reception = this.#reception;
    if (reception?.ssrc !== packet.ssrc) {
      reception = new ReceptionStats(packet.ssrc, 48_000);
      this.#reception = reception;
    }
    reception.update(packet.sequenceNumber, packet.timestamp, this.#clock.now());
    if (!directionReceives(negotiated.localDirection)) {
      return;
    }
    if (carried === 'event') {
      this.#dtmf?.receive(packet);
    } else {
      this.#dtmf?.poll();
    }
    this.emit('rtp', packet);
  }

  #setDtmfReceiver(format: MediaFormat['telephoneEvent']): void {
    if (this.#dtmf && format?.payloadType === this.#dtmfPayloadType) {
      return;
    }
    this.#dtmf?.close();
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

  #sendRtcp(bytes: Uint8Array): void {
    const dtls = this.#transceiver.dtlsTransport;
    if (dtls.state !== 'connected') {
      return;
    }
    // werift serializes each packet object then encrypts the compound (SRTCP, RFC 3711 §3.4).
    const compound = { serialize: () => Buffer.from(bytes) } as unknown as RtcpPacket;
    void dtls.sendRtcp([compound]);
  }

  #assertOpen(): void {
    if (this.#state === LegState.Closed) {
      throw InvalidStateError.closed(`WebRTC leg ${this.id}`);
    }
  }

  /** Runs negotiation steps one at a time, in call order. */
  #serialize<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(step, step);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #transition(to: LegState): void {
    const from = this.#state;
    assertLegTransition(`WebRTC leg ${this.id}`, from, to);
    this.#state = to;
    this.#logger.debug({ from, to }, 'leg state');
    this.emit('state', to, from);
  }
}
