/**
 * A bridge joins channels whose media flows together (architecture §3). A `relay` bridge holds
 * exactly two channels (a two-party call); when one leaves, the other is hung up, as a normal
 * call ends for both parties. `talking_to` of a channel is the other channels of its bridges.
 *
 * States: Active → Destroyed. `destroy()` is idempotent: it unbridges the media and forgets
 * the channels (it does not hang them up; the policy that does lives in call control).
 */
import { TypedEmitter, type Logger } from '@confab/core';
import type { Channel } from './channel.js';
import type { MediaControl } from './media-control.js';

export const BridgeKind = { Relay: 'relay', Mixing: 'mixing' } as const;
export type BridgeKind = (typeof BridgeKind)[keyof typeof BridgeKind];

export interface BridgeEvents {
  [key: string]: unknown[];
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
    this.emit('destroyed');
  }
}
