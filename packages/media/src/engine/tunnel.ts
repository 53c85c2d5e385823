/**
 * Cross-worker mixing: a leg on one media worker taking part in a mixer on another.
 *
 * ```text
 *  leg's worker                                   mixer's worker
 *  ┌──────────────────────────┐   MessagePort    ┌──────────────────────────────┐
 *  │ real leg ─rtp─► LegTunnel │ ─{t:'rtp'}────► │ RemoteLeg (proxy, same id) ─► │ mixer
 *  │ leg.output.write(…) ◄─────│ ◄─{t:'rtp'}──── │ ◄─ proxy.output.writeGenerated │
 *  │                           │ ─{t:'leg'}────► │ format / wantsMedia / state    │
 *  │                           │ ◄─{t:'close'}─► │                                │
 *  └──────────────────────────┘                  └──────────────────────────────┘
 * ```
 *
 * The port is one end of a `MessageChannel` whose ends the parent handed to the two workers:
 * packets go worker to worker, never through the main thread. Each packet travels serialized
 * (one fresh buffer, transferred, not copied).
 *
 * Continuity: the mixer writes the proxy's packets through the proxy's own
 * {@link OutboundRtpStream}; the leg's side rewrites them once more through the REAL leg's
 * output, in relay mode with the tunnel as one source. So the endpoint sees the leg's SSRC with
 * contiguous sequence numbers (a marker bit where the mixer took over), and the leg's output
 * state stays the truth: a later move back into a relay bridge, or into another mixer,
 * continues from there.
 *
 * Both ends close on `{t:'close'}` from the other or when the port closes (the other worker
 * died); each close is idempotent.
 */
import type { MessagePort } from 'node:worker_threads';
import { TypedEmitter, UnsupportedError } from '@confab/core';
import { OutboundRtpStream } from '../bridge/outbound-stream.js';
import type { Clock, MediaFormat } from '../bridge/types.js';
import { parseRtp, serializeRtp } from '../rtp/packet.js';
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

/** The messages of a tunnel port. */
export type TunnelMessage =
  /** leg → mixer: a packet the leg received; mixer → leg: a packet for the leg to send. */
  | { t: 'rtp'; bytes: Uint8Array }
  /** leg → mixer: the leg's negotiated state changed (re-INVITE, hold). */
  | ({ t: 'leg' } & TunnelLegInfo)
  /** Either way: this end is gone. */
  | { t: 'close' };

function post(port: MessagePort, packet: RtpPacket): void {
  const bytes = serializeRtp(packet);
  const message: TunnelMessage = { t: 'rtp', bytes };
  port.postMessage(message, [bytes.buffer as ArrayBuffer]);
}

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

/** The leg's end of a tunnel: forwards what the leg receives, sends what the mixer mixed. */
export class LegTunnel {
  readonly #leg: MediaLeg;
  readonly #port: MessagePort;
  readonly #sourceKey: string;
  readonly #onClose: () => void;
  #info: TunnelLegInfo;
  #closed = false;

  /**
   * @param sourceKey distinct per tunnel, so that a new tunnel is a new source for the leg's
   *   output (marker bit, continuity)
   * @param onClose called once when the tunnel closes, whichever end closed it
   */
  constructor(leg: MediaLeg, port: MessagePort, sourceKey: string, onClose: () => void) {
    this.#leg = leg;
    this.#port = port;
    this.#sourceKey = sourceKey;
    this.#onClose = onClose;
    this.#info = infoOf(leg);
    port.on('message', (message: TunnelMessage) => {
      this.#onMessage(message);
    });
    port.on('close', () => {
      this.close();
    });
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
      post(this.#port, packet);
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
    const message: TunnelMessage = { t: 'leg', ...info };
    this.#port.postMessage(message);
  }

  /** Idempotent; tells the other end unless it is the one that closed. */
  close(notify = true): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    if (notify) {
      sendClose(this.#port);
    }
    this.#port.close();
    this.#onClose();
  }

  #onMessage(message: TunnelMessage): void {
    if (this.#closed) {
      return;
    }
    if (message.t === 'close') {
      this.close(false);
      return;
    }
    if (message.t !== 'rtp') {
      return;
    }
    const leg = this.#leg;
    if (!leg.wantsMedia) {
      return;
    }
    const packet = parseRtp(message.bytes);
    if (packet) {
      leg.sendRtp(leg.output.write(packet, this.#sourceKey));
    }
  }
}

/** Options of {@link RemoteLeg}. */
export interface RemoteLegOptions {
  /** The real leg's id (the proxy stands for it in the mixer's engine). */
  id: string;
  port: MessagePort;
  info: TunnelLegInfo;
  clock: Clock;
}

/**
 * The mixer's end of a tunnel: a {@link MediaLeg} for the mixer, standing for a leg that lives
 * on another worker. It cannot negotiate (the real leg does); it emits the real leg's packets
 * as `rtp` and posts what the mixer sends it to the real leg.
 */
export class RemoteLeg extends TypedEmitter<LegEvents> implements MediaLeg {
  readonly id: string;
  readonly kind: LegKind;
  readonly output: OutboundRtpStream;
  readonly #port: MessagePort;
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
    this.kind = options.info.kind;
    this.#port = options.port;
    this.#format = options.info.format;
    this.#wantsMedia = options.info.wantsMedia;
    this.#state = options.info.state === LegState.Closed ? LegState.Failed : options.info.state;
    // The SSRC and numbering are rewritten by the real leg's output; these only need to be
    // contiguous per tunnel.
    this.output = new OutboundRtpStream({
      clockRate: options.info.format.audio.clockRate,
      clock: options.clock,
    });
    this.#port.on('message', (message: TunnelMessage) => {
      this.#onMessage(message);
    });
    this.#port.on('close', () => {
      void this.close();
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
    post(this.#port, packet);
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

  /** Idempotent: tells the leg's end, closes the port and reports `closed`. */
  close(): Promise<void> {
    this.#close(true);
    return Promise.resolve();
  }

  #close(notify: boolean): void {
    if (this.#state === LegState.Closed) {
      return;
    }
    if (notify) {
      sendClose(this.#port);
    }
    this.#port.close();
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

  #onMessage(message: TunnelMessage): void {
    if (this.#state === LegState.Closed) {
      return;
    }
    switch (message.t) {
      case 'rtp': {
        const packet = parseRtp(message.bytes);
        if (packet) {
          this.#packetsReceived++;
          this.#bytesReceived += message.bytes.length;
          this.emit('rtp', packet);
        }
        return;
      }
      case 'leg':
        this.#format = message.format;
        this.#wantsMedia = message.wantsMedia;
        if (message.state !== LegState.Closed) {
          this.#setState(message.state);
        }
        return;
      case 'close':
        this.#close(false);
        return;
    }
  }
}

/** Tells the other end of a tunnel that this end closes (the port may be closed already). */
function sendClose(port: MessagePort): void {
  try {
    const message: TunnelMessage = { t: 'close' };
    port.postMessage(message);
  } catch {
    // The port is already closed.
  }
}
