/**
 * Opening the SIP listeners: UDP and TCP on one port number (RFC 3261 §18: a server listens on
 * both, 5060 by default).
 */
import type { Logger } from '@confab/core';
import { describeListenError } from '../errors.js';
import type { TransportManager } from './transport-manager.js';
import { TcpTransport } from './tcp.js';
import { UdpTransport } from './udp.js';

/**
 * How many UDP ports port 0 tries before giving up on finding one whose TCP twin is free too.
 * The kernel picks the UDP port from the ephemeral range, where the same number is often taken on
 * TCP by some outgoing connection's source port; a few retries make that vanishingly rare.
 */
export const SIP_PORT_PAIR_ATTEMPTS = 16;

export interface SipListenOptions {
  address: string;
  /** 0 = any port free on both UDP and TCP. */
  port: number;
  manager: TransportManager;
  logger: Logger;
  /** Opens the TCP listener (tests replace it to simulate a taken port). */
  listenTcp?: (options: {
    address: string;
    port: number;
    manager: TransportManager;
    logger: Logger;
  }) => Promise<TcpTransport>;
}

/**
 * Listens on UDP, then on TCP on the port number UDP got. With port 0, a number already taken on
 * TCP is given back and another pick is tried; a configured port is tried once. Failures are
 * {@link describeListenError} startup errors naming the listener and `--sip-port`.
 */
export async function listenSipPorts(
  options: SipListenOptions,
): Promise<{ udp: UdpTransport; tcp: TcpTransport }> {
  const { address, port, manager, logger } = options;
  const listenTcp = options.listenTcp ?? ((tcpOptions) => TcpTransport.listen(tcpOptions));
  const attempts = port === 0 ? SIP_PORT_PAIR_ATTEMPTS : 1;
  for (let attempt = 1; ; attempt++) {
    const udp = await UdpTransport.listen({ address, port, manager, logger }).catch(
      (error: unknown) => {
        throw describeListenError(error, `${port}/udp (SIP)`, '--sip-port');
      },
    );
    try {
      const tcp = await listenTcp({ address, port: udp.port, manager, logger });
      return { udp, tcp };
    } catch (error) {
      await udp.close();
      const inUse = (error as Partial<NodeJS.ErrnoException> | undefined)?.code === 'EADDRINUSE';
      if (!inUse || attempt >= attempts) {
        throw describeListenError(error, `${udp.port}/tcp (SIP)`, '--sip-port');
      }
      logger.debug({ port: udp.port, attempt }, 'SIP port taken on TCP; trying another');
    }
  }
}
