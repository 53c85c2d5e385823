/**
 * What every media leg (WebRTC or plain RTP) offers to the engine and to bridges.
 *
 * A leg is one media path between the server and one endpoint. It negotiates with SDP
 * (RFC 3264 offer/answer), owns its sockets and its outgoing stream continuity
 * ({@link BridgePort.output}), and reports decrypted RTP as `rtp` events. It never forwards
 * media by itself: bridges do.
 */
import { InvalidStateError } from '@confab/core';
import type { Listener } from '@confab/core';
import type { BridgePort } from '../bridge/types.js';
import type { RtpPacket } from '../rtp/packet.js';

/** The kinds of leg the engine creates. */
export const LegKind = {
  /** ICE + DTLS-SRTP + BUNDLE + rtcp-mux, Opus (browsers). */
  WebRtc: 'webrtc',
  /** Plain RTP/AVP with G.711 (desk phones, softphones, trunks). */
  Rtp: 'rtp',
} as const;

export type LegKind = (typeof LegKind)[keyof typeof LegKind];

/**
 * The connectivity state of a leg.
 *
 * ```text
 *   new ──► connecting ◄──► connected
 *    │  └──────────┼───────────►│
 *    │             ▼            │
 *    └────────► failed ◄────────┘
 *   (every state) ──► closed
 * ```
 *
 * `connecting`: an offer or answer is out and media cannot flow yet (WebRTC: ICE and DTLS in
 * progress, or connectivity lost and being recovered). `connected`: media can flow. `failed`:
 * connectivity is lost for good; only `close()` remains. `closed` is terminal.
 */
export const LegState = {
  New: 'new',
  Connecting: 'connecting',
  Connected: 'connected',
  Failed: 'failed',
  Closed: 'closed',
} as const;

export type LegState = (typeof LegState)[keyof typeof LegState];

const LEG_TRANSITIONS: Readonly<Record<LegState, readonly LegState[]>> = {
  new: ['connecting', 'connected', 'failed', 'closed'],
  connecting: ['connected', 'failed', 'closed'],
  connected: ['connecting', 'failed', 'closed'],
  failed: ['closed'],
  closed: [],
};

/**
 * Checks a leg state change against the FSM above; throws `InvalidStateError` for an illegal
 * move. Legs call it from their single `#transition()`.
 */
export function assertLegTransition(what: string, from: LegState, to: LegState): void {
  if (!LEG_TRANSITIONS[from].includes(to)) {
    throw InvalidStateError.transition(what, from, to);
  }
}

/** A DTMF digit received as RFC 4733 telephone events. */
export interface DtmfEvent {
  /** `0`–`9`, `*`, `#`, `A`–`D`. */
  digit: string;
  /** Duration of the key press in milliseconds. */
  durationMs: number;
}

/** Events of a {@link MediaLeg}. */
// A type alias, not an interface: only aliases are assignable to `EventMap`'s index signature.
// eslint-disable-next-line @typescript-eslint/consistent-type-definitions
export type LegEvents = {
  /** A decrypted RTP packet of the negotiated audio codec or telephone-event format. */
  rtp: [packet: RtpPacket];
  /** The leg changed state. */
  state: [state: LegState, previous: LegState];
  /** A DTMF key press ended (reported once per event). */
  dtmf: [event: DtmfEvent];
};

/** Counters of a leg, for engine statistics. */
export interface LegStats {
  kind: LegKind;
  state: LegState;
  packetsReceived: number;
  bytesReceived: number;
  packetsSent: number;
  bytesSent: number;
  /** Packets dropped on receive: unknown payload type, unexpected source, unparsable. */
  packetsDropped: number;
}

/** The public contract of WebRTC and plain RTP legs. */
export interface MediaLeg extends BridgePort {
  readonly kind: LegKind;
  readonly state: LegState;
  /** Creates an offer (initial, or a re-offer in an established session). */
  createOffer(): Promise<string>;
  /** Applies a remote offer (initial or re-offer, e.g. hold/resume) and returns our answer. */
  acceptOffer(sdp: string): Promise<string>;
  /** Applies the remote answer to our last offer. */
  acceptAnswer(sdp: string): Promise<void>;
  /** Counters for statistics. */
  stats(): LegStats;
  /** Releases sockets and timers; idempotent; resolves when the ports are free. */
  close(): Promise<void>;
  on<K extends keyof LegEvents>(event: K, listener: Listener<LegEvents[K]>): () => void;
  off<K extends keyof LegEvents>(event: K, listener: Listener<LegEvents[K]>): void;
}
