/**
 * A bridge joins channels whose media flows together (architecture §3). A `relay` bridge holds
 * exactly two channels (a two-party call); when one leaves, the other is hung up, as a normal
 * call ends for both parties. A `mixing` bridge holds any number of channels whose legs are in
 * one media-engine mixer (an ad-hoc conference); its leave policy lives in the conference.
 * `talking_to` of a channel is the other channels of its bridges.
 *
 * States: Active → Destroyed. `destroy()` is idempotent: it unbridges the media (or closes the
 * mixer) and forgets the channels (it does not hang them up; the policies that do live in call
 * control and in the conference).
 */
import { TypedEmitter, type Logger } from '@confab/core';
import type { Channel } from './channel.js';
import type { MediaControl } from './media-control.js';

export const BridgeKind = { Relay: 'relay', Mixing: 'mixing' } as const;
export type BridgeKind = (typeof BridgeKind)[keyof typeof BridgeKind];

export interface BridgeEvents {
  [key: string]: unknown[];
  /** A channel entered a mixing bridge (its leg is in the mixer). */
  channelJoined: [channel: Channel];
  channelLeft: [channel: Channel];
  destroyed: [];
}

export class Bridge extends TypedEmitter<BridgeEvents> {
  readonly id: string;
  readonly kind: BridgeKind;
  readonly #channels = new Set<Channel>();
  readonly #media: MediaControl;
  readonly #logger: Logger;
  #mediaBridgeId: string | undefined;
  #mixerId: string | undefined;
  #destroyed = false;
  #released: Promise<void> = Promise.resolve();

  constructor(options: { id?: string; kind: BridgeKind; media: MediaControl; logger: Logger }) {
    super();
    this.id = options.id ?? crypto.randomUUID();
    this.kind = options.kind;
    this.#media = options.media;
    this.#logger = options.logger.child({ bridgeId: this.id });
  }

  get channels(): readonly Channel[] {
    return [...this.#channels];
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Settles once a destroyed bridge's media is unbridged (its legs may join another bridge). */
  get released(): Promise<void> {
    return this.#released;
  }

  /** Joins two channels' media (relay). */
  async joinRelay(a: Channel, b: Channel): Promise<void> {
    if (!a.legId || !b.legId) {
      throw new Error('both channels need a media leg before bridging');
    }
    this.#mediaBridgeId = await this.#media.bridge(a.legId, b.legId);
    for (const channel of [a, b]) {
      this.#channels.add(channel);
      channel.bridges.add(this.id);
    }
    // Only once both are in: each update already shows the other as `talking_to`.
    for (const channel of [a, b]) {
      channel.emit('updated');
    }
  }

  /** The media-engine mixer of a mixing bridge, once {@link openMixer} resolved. */
  get mixerId(): string | undefined {
    return this.#mixerId;
  }

  /** Creates the mixer of a mixing bridge on the media worker of `group`. */
  async openMixer(group: string): Promise<void> {
    if (this.kind !== BridgeKind.Mixing || this.#mixerId !== undefined) {
      throw new Error('openMixer: only once, on a mixing bridge');
    }
    const mixerId = await this.#media.createMixer(group);
    this.#mixerId = mixerId;
    if (this.#destroyed) {
      // Destroyed while the mixer was being created.
      this.#closeMixer(mixerId);
    }
  }

  /**
   * Moves a channel's leg into the mixer (no renegotiation: a leg still in a relay bridge leaves
   * it), then records it as a member: `channelJoined`, and `updated` for every member once the
   * bridge holds more than one channel (Wazo publishes `call_updated` on a BridgeEnter with >1
   * channel). Resolves `false` when the channel hung up or the bridge was destroyed meanwhile
   * (the caller decides what happens to a channel left outside); rejects when the engine refused
   * a live channel's leg.
   */
  async join(channel: Channel): Promise<boolean> {
    const mixerId = this.#mixerId;
    const legId = channel.legId;
    if (mixerId === undefined || legId === undefined) {
      throw new Error('join: a mixing bridge with a mixer and a channel with a leg are needed');
    }
    if (this.#channels.has(channel)) {
      return true;
    }
    if (this.#destroyed || channel.ended) {
      return false;
    }
    try {
      await this.#media.addToMixer(mixerId, legId);
    } catch (error) {
      if (channel.ended || this.#destroyed) {
        return false;
      }
      throw error;
    }
    if (channel.ended || this.#destroyed) {
      return false;
    }
    this.#channels.add(channel);
    channel.bridges.add(this.id);
    this.emit('channelJoined', channel);
    if (this.#channels.size > 1) {
      for (const member of this.#channels) {
        member.emit('updated');
      }
    }
    return true;
  }

  /**
   * The members a create moved in are in: the mixer may mix at once instead of at its next
   * tick. Fire and forget (a failure costs one tick of latency at most).
   */
  startMixer(): void {
    const mixerId = this.#mixerId;
    if (mixerId === undefined || this.#destroyed) {
      return;
    }
    this.#media.startMixer(mixerId).catch((error: unknown) => {
      this.#logger.debug({ err: error }, 'startMixer failed');
    });
  }

  /** Whether `channel` is in this bridge. */
  has(channel: Channel): boolean {
    return this.#channels.has(channel);
  }

  /** Removes a channel (e.g. it hung up); emits `channelLeft`. */
  remove(channel: Channel): void {
    if (!this.#channels.delete(channel)) {
      return;
    }
    channel.bridges.delete(this.id);
    const mixerId = this.#mixerId;
    if (mixerId !== undefined && channel.legId !== undefined && !channel.ended) {
      // A hung-up channel's leg is closed, which takes it out of the mixer.
      this.#media.removeFromMixer(mixerId, channel.legId).catch((error: unknown) => {
        this.#logger.debug({ err: error }, 'removeFromMixer failed');
      });
    }
    this.emit('channelLeft', channel);
    for (const other of this.#channels) {
      other.emit('updated');
    }
  }

  destroy(): void {
    if (this.#destroyed) {
      return;
    }
    this.#destroyed = true;
    for (const channel of this.#channels) {
      channel.bridges.delete(this.id);
    }
    this.#channels.clear();
    const mediaBridgeId = this.#mediaBridgeId;
    if (mediaBridgeId !== undefined) {
      this.#released = this.#media.unbridge(mediaBridgeId).catch((error: unknown) => {
        this.#logger.debug({ err: error }, 'unbridge failed');
      });
    }
    if (this.#mixerId !== undefined) {
      this.#closeMixer(this.#mixerId);
    }
    this.emit('destroyed');
  }

  #closeMixer(mixerId: string): void {
    this.#media.closeMixer(mixerId).catch((error: unknown) => {
      this.#logger.debug({ err: error }, 'closeMixer failed');
    });
  }
}
