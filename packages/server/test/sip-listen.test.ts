import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '@confab/core';
import { StartupError } from '../src/errors.js';
import { listenSipPorts, SIP_PORT_PAIR_ATTEMPTS } from '../src/sip/listen.js';
import { TcpTransport } from '../src/sip/tcp.js';
import { TransportManager } from '../src/sip/transport-manager.js';

const ADDRESS = '127.0.0.1';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

/** Takes `port` on TCP with a plain listener, as another process's socket would. */
async function occupyTcp(port: number): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ADDRESS, () => {
      resolve();
    });
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  );
}

/** Whether `port` can be bound on UDP (i.e. nothing holds it any more). */
async function udpPortFree(port: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, ADDRESS, () => {
      socket.close(() => {
        resolve(true);
      });
    });
  });
}

describe('listenSipPorts: SIP on UDP and TCP on one port number', () => {
  it('with port 0, gives back a UDP pick whose number is taken on TCP and listens on another number free on both', async () => {
    const manager = new TransportManager(silentLogger);
    const taken: number[] = [];
    const { udp, tcp } = await listenSipPorts({
      address: ADDRESS,
      port: 0,
      manager,
      logger: silentLogger,
      listenTcp: async (options) => {
        if (taken.length < 2) {
          // Another socket grabs this number on TCP first: the real listen fails with EADDRINUSE.
          taken.push(options.port);
          await occupyTcp(options.port);
        }
        return TcpTransport.listen(options);
      },
    });
    cleanups.push(async () => {
      await tcp.close();
      await udp.close();
    });

    expect(taken).toHaveLength(2);
    expect(taken).not.toContain(udp.port);
    expect(tcp.port).toBe(udp.port);
    for (const port of taken) {
      expect(await udpPortFree(port)).toBe(true);
    }
  });

  it('with a configured port taken on TCP, fails once with PORT_IN_USE naming the TCP listener and releases the UDP port', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, ADDRESS, resolve));
    const port = (probe.address() as net.AddressInfo).port;
    cleanups.push(() => new Promise<void>((resolve) => probe.close(() => resolve())));
    let tries = 0;

    const failure = await listenSipPorts({
      address: ADDRESS,
      port,
      manager: new TransportManager(silentLogger),
      logger: silentLogger,
      listenTcp: (options) => {
        tries++;
        return TcpTransport.listen(options);
      },
    }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as StartupError).code).toBe('PORT_IN_USE');
    expect((failure as StartupError).message).toBe(
      `Port ${port}/tcp (SIP) is already in use — choose another with --sip-port`,
    );
    expect(tries).toBe(1);
    expect(await udpPortFree(port)).toBe(true);
  });

  it(`with port 0, gives up after ${SIP_PORT_PAIR_ATTEMPTS} picks all taken on TCP`, async () => {
    let tries = 0;
    const failure = await listenSipPorts({
      address: ADDRESS,
      port: 0,
      manager: new TransportManager(silentLogger),
      logger: silentLogger,
      listenTcp: async (options) => {
        tries++;
        await occupyTcp(options.port);
        return TcpTransport.listen(options);
      },
    }).catch((error: unknown) => error);

    expect(tries).toBe(SIP_PORT_PAIR_ATTEMPTS);
    expect((failure as StartupError).code).toBe('PORT_IN_USE');
  });

  it('does not retry an error other than a taken port', async () => {
    let tries = 0;
    const failure = await listenSipPorts({
      address: ADDRESS,
      port: 0,
      manager: new TransportManager(silentLogger),
      logger: silentLogger,
      listenTcp: () => {
        tries++;
        return Promise.reject(
          Object.assign(new Error('listen EACCES'), { code: 'EACCES', syscall: 'listen' }),
        );
      },
    }).catch((error: unknown) => error);

    expect(tries).toBe(1);
    expect((failure as StartupError).code).toBe('PORT_ACCESS_DENIED');
  });
});
