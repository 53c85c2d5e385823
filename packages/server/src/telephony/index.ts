/**
 * Telephony composition: SIP transports (UDP, TCP, WebSocket) → SIP stack → registrar and call
 * control, with the media engine behind {@link MediaControl}.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { Logger } from '@confab/core';
import { systemClock, type Clock } from '@confab/sip';
import type { ConfabConfig } from '../config.js';
import type { TelephonyStats } from '../app.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/types.js';
import { TransportManager } from '../sip/transport-manager.js';
import { listenSipPorts } from '../sip/listen.js';
import { WebSocketTransport } from '../sip/websocket.js';
import { SipStack } from '../sip/stack.js';
import { SipAuthenticator } from './authenticator.js';
import { Registrar } from './registrar.js';
import { CallControl } from './call-control.js';
import { CallEventPublisher } from '../calls/events.js';
import { ConferenceEventPublisher } from '../calls/conference-events.js';
import { AdhocConferences } from './conference.js';
import { STACK_UUID_SETTING } from '../auth/tokens.js';
import { createMediaControl, type ClosableMediaControl } from './media-engine.js';
import type { MediaControl } from './media-control.js';

export interface Telephony {
  handleSipWebSocket(socket: WebSocket, request: IncomingMessage): void;
  readonly registrar: Registrar;
  readonly callControl: CallControl;
  /** Ad-hoc conferences (calld `/users/me/conferences/adhoc`). */
  readonly conferences: AdhocConferences;
  readonly stack: SipStack;
  /** Bound SIP ports (useful when configured as 0). */
  readonly ports: { udp: number; tcp: number };
  stats(): TelephonyStats;
  /** The media engine's counters (legs, bridges, mixers), when the engine reports them. */
  mediaStats(): Promise<MediaStats | undefined>;
  close(): Promise<void>;
}

/** What {@link Telephony.mediaStats} reports (a subset of `@confab/media`'s engine stats). */
export interface MediaStats {
  legs: number;
  bridges: number;
  mixers: number;
  mixerParticipants: number;
  /** The same counters per media worker (by worker index), when the engine runs workers. */
  workers?: MediaWorkerStats[];
}

/** One media worker's share of {@link MediaStats}. */
export interface MediaWorkerStats {
  index: number;
  legs: number;
  bridges: number;
  mixers: number;
  mixerParticipants: number;
}

export interface TelephonyOptions {
  config: ConfabConfig;
  store: Store;
  logger: Logger;
  clock?: Clock;
  /** Injected media control (tests); by default the worker-thread media engine. */
  media?: MediaControl & { close?(): Promise<void>; stats?(): Promise<MediaStats> };
  /** Where call events are published (spec §4.4); without it, none are. */
  bus?: EventBus;
  /** The stack uuid, `origin_uuid` of published events (the token service's `stackUuid`). */
  originUuid?: string;
}

export async function startTelephony(options: TelephonyOptions): Promise<Telephony> {
  const { config, store } = options;
  const logger = options.logger.child({ component: 'sip' });
  const clock = options.clock ?? systemClock;
  const transports = new TransportManager(logger);
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        logger.debug({ err: error }, 'close step failed');
      }
    }
  };

  try {
    const { udp, tcp } = await listenSipPorts({
      address: config.bindAddress,
      port: config.sipPort,
      manager: transports,
      logger,
    });
    closers.push(() => udp.close());
    closers.push(() => tcp.close());
    const websockets = new WebSocketTransport(transports, logger);
    closers.push(() => {
      websockets.close();
    });
    closers.push(() => {
      transports.close();
    });

    const stack = new SipStack({
      transports,
      clock,
      logger,
      advertisedHost: config.advertisedAddress,
      ports: { udp: udp.port, tcp: tcp.port },
      userAgent: 'Confab',
    });
    closers.push(() => {
      stack.close();
    });
    const authenticator = new SipAuthenticator({
      stack,
      store,
      clock,
      logger,
      realm: config.sipDomain,
    });
    const registrar = new Registrar({ stack, authenticator, clock, logger });
    closers.push(() => {
      registrar.close();
    });

    let media: ClosableMediaControl;
    if (options.media) {
      const injected = options.media;
      media = {
        createLeg: (kind, group) => injected.createLeg(kind, group),
        createOffer: (legId) => injected.createOffer(legId),
        acceptOffer: (legId, sdp) => injected.acceptOffer(legId, sdp),
        acceptAnswer: (legId, sdp) => injected.acceptAnswer(legId, sdp),
        bridge: (legA, legB) => injected.bridge(legA, legB),
        unbridge: (bridgeId) => injected.unbridge(bridgeId),
        closeLeg: (legId) => injected.closeLeg(legId),
        createMixer: (group) => injected.createMixer(group),
        addToMixer: (mixerId, legId) => injected.addToMixer(mixerId, legId),
        removeFromMixer: (mixerId, legId) => injected.removeFromMixer(mixerId, legId),
        startMixer: (mixerId) => injected.startMixer(mixerId),
        closeMixer: (mixerId) => injected.closeMixer(mixerId),
        setMuted: (legId, muted) => injected.setMuted(legId, muted),
        setHeld: (legId, held) => injected.setHeld(legId, held),
        onEvent: (listener) => injected.onEvent(listener),
        close: async () => {
          await injected.close?.();
        },
        ...(injected.stats === undefined ? {} : { stats: () => injected.stats!() }),
      };
    } else {
      media = await createMediaControl({
        config,
        logger: options.logger.child({ component: 'media' }),
      });
    }
    closers.push(() => media.close());

    const callControl = new CallControl({
      stack,
      store,
      registrar,
      authenticator,
      media,
      clock,
      logger: options.logger.child({ component: 'calls' }),
      domain: config.sipDomain,
      localHosts: [
        config.advertisedAddress,
        ...(isWildcard(config.bindAddress) ? [] : [config.bindAddress]),
      ],
      ...(config.ringTimeoutSeconds !== undefined
        ? { ringTimeoutMs: config.ringTimeoutSeconds * 1000 }
        : {}),
    });
    const conferences = new AdhocConferences({
      callControl,
      media,
      logger: options.logger.child({ component: 'conferences' }),
    });
    if (options.bus !== undefined) {
      const originUuid = options.originUuid ?? (await stackUuid(store));
      const conferencePublisher = new ConferenceEventPublisher({
        conferences,
        bus: options.bus,
        originUuid,
        logger: options.logger.child({ component: 'conference-events' }),
      });
      closers.push(() => {
        conferencePublisher.close();
      });
      const publisher = new CallEventPublisher({
        callControl,
        bus: options.bus,
        originUuid,
        logger: options.logger.child({ component: 'call-events' }),
      });
      // Closed after call control (closers run in reverse), so the shutdown's call_ended go out.
      closers.push(() => {
        publisher.close();
      });
    }
    closers.push(() => {
      callControl.close();
    });
    // Before call control: the conferences hang their members up while events still go out.
    closers.push(() => {
      conferences.close();
    });
    transports.on('connectionClosed', (connectionId) => {
      registrar.connectionClosed(connectionId);
      callControl.connectionClosed(connectionId);
    });
    stack.setHandlers({
      register: (tx) => {
        registrar.handle(tx).catch((error: unknown) => {
          logger.error({ err: error }, 'REGISTER handling failed');
          stack.respond(tx, 500);
        });
      },
      invite: (tx) => {
        void callControl.handleInvite(tx);
      },
      cancel: (tx, invite) => {
        callControl.handleCancel(tx, invite);
      },
    });

    logger.info(
      { udp: udp.port, tcp: tcp.port, advertised: config.advertisedAddress },
      'SIP listening',
    );
    return {
      handleSipWebSocket: (socket, request) => {
        websockets.accept(socket, request);
      },
      registrar,
      callControl,
      conferences,
      stack,
      ports: { udp: udp.port, tcp: tcp.port },
      stats: () => ({
        channels: callControl.channels.size,
        bridges: callControl.bridges.size,
        bindings: registrar.bindingCount,
        dialogs: stack.dialogCount,
        connections: transports.connectionCount,
      }),
      mediaStats: async () => {
        const stats = await media.stats?.();
        return stats === undefined
          ? undefined
          : {
              legs: stats.legs,
              bridges: stats.bridges,
              mixers: stats.mixers,
              mixerParticipants: stats.mixerParticipants,
              ...(stats.workers === undefined
                ? {}
                : {
                    workers: stats.workers.map((worker) => ({
                      index: worker.index,
                      legs: worker.legs,
                      bridges: worker.bridges,
                      mixers: worker.mixers,
                      mixerParticipants: worker.mixerParticipants,
                    })),
                  }),
            };
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The stack uuid the token service persisted (the one websocket clients see as `xivo_uuid`). */
async function stackUuid(store: Store): Promise<string> {
  return (await store.settings.get(STACK_UUID_SETTING)) ?? '';
}

/** An "any address" bind (`0.0.0.0`, `::`) names no host of ours. */
function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '[::]';
}
