/**
 * Adapts `@confab/media`'s engine (worker threads by default) to {@link MediaControl}.
 */
import type { Logger } from '@confab/core';
import { WorkerMediaEngine, type MediaEngine } from '@confab/media';
import type { ConfabConfig } from '../config.js';
import type { MediaControl } from './media-control.js';

interface EngineCounters {
  legs: number;
  bridges: number;
  mixers: number;
  mixerParticipants: number;
}

export interface ClosableMediaControl extends MediaControl {
  close(): Promise<void>;
  /** The engine's counters (leak checks, diagnostics). */
  stats?(): Promise<EngineCounters & { workers?: (EngineCounters & { index: number })[] }>;
}

export function mediaControlFor(engine: MediaEngine): ClosableMediaControl {
  return {
    createLeg: async (kind, group) => (await engine.createLeg({ kind, group })).legId,
    createOffer: (legId) => engine.createOffer(legId),
    acceptOffer: (legId, sdp) => engine.acceptOffer(legId, sdp),
    acceptAnswer: (legId, sdp) => engine.acceptAnswer(legId, sdp),
    bridge: async (legA, legB) => (await engine.bridge(legA, legB)).bridgeId,
    unbridge: (bridgeId) => engine.unbridge(bridgeId),
    closeLeg: (legId) => engine.closeLeg(legId),
    createMixer: async (group) => (await engine.createMixer(group)).mixerId,
    addToMixer: (mixerId, legId) => engine.addToMixer(mixerId, legId),
    removeFromMixer: (mixerId, legId) => engine.removeFromMixer(mixerId, legId),
    startMixer: (mixerId) => engine.startMixer(mixerId),
    closeMixer: (mixerId) => engine.closeMixer(mixerId),
    setMuted: (legId, muted) => engine.setMuted(legId, muted),
    setHeld: (legId, held) => engine.setHeld(legId, held),
    onEvent: (listener) => {
      const offs = [
        engine.on('legState', ({ legId, state }) => {
          if (state === 'failed') {
            listener({ type: 'legFailed', legId, reason: 'media-failed' });
          }
        }),
        engine.on('legClosed', ({ legId, reason }) => {
          // `closed` is our own closeLeg(); anything else happened to the leg.
          if (reason !== 'closed') {
            listener({ type: 'legFailed', legId, reason });
          }
        }),
        engine.on('dtmf', ({ legId, digit }) => {
          listener({ type: 'dtmf', legId, digit });
        }),
        engine.on('mixerTalking', ({ mixerId, legId, talking }) => {
          listener({ type: 'mixerTalking', mixerId, legId, talking });
        }),
        engine.on('mixerClosed', ({ mixerId }) => {
          listener({ type: 'mixerClosed', mixerId });
        }),
      ];
      return () => {
        for (const off of offs) {
          off();
        }
      };
    },
    stats: () => engine.stats(),
    close: () => engine.close(),
  };
}

export function createMediaControl(options: {
  config: ConfabConfig;
  logger: Logger;
}): Promise<ClosableMediaControl> {
  const { config } = options;
  const engine = new WorkerMediaEngine({
    workers: config.mediaWorkers,
    addresses: config.mediaAddresses,
    portRange: config.rtpPortRange,
    logger: options.logger,
  });
  return Promise.resolve(mediaControlFor(engine));
}
