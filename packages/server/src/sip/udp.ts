/** SIP over UDP (RFC 3261 §18): one message per datagram. */
import dgram from 'node:dgram';
import type { Logger } from '@confab/core';
import { parseMessage, isSipParseError, type Flow } from '@confab/sip';
import type { TransportManager } from './transport-manager.js';

export interface UdpTransportOptions {
  address: string;
  port: number;
  manager: TransportManager;
  logger: Logger;
}

export class UdpTransport {
  readonly #socket: dgram.Socket;
  readonly #options: UdpTransportOptions;
  /** The bound port, read once (socket.address() is a system call). */
  readonly #port: number;
  #closed = false;

  private constructor(socket: dgram.Socket, options: UdpTransportOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#port = socket.address().port;
  }

  /** Binds the socket; rejects with the raw listen error (EADDRINUSE…) for the caller to describe. */
  static async listen(options: UdpTransportOptions): Promise<UdpTransport> {
    const family = options.address.includes(':') ? 'udp6' : 'udp4';
    // A bigger receive buffer rides out bursts (the kernel caps it at net.core.rmem_max): under
    // load the default buffer overflowed and dropped INVITEs before we read them (bench/).
    const socket = dgram.createSocket({
      type: family,
      reuseAddr: false,
      recvBufferSize: 4 * 1024 * 1024,
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        socket.close();
        reject(error);
      };
      socket.once('error', onError);
      socket.bind(options.port, options.address, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    const transport = new UdpTransport(socket, options);
    socket.on('message', (data, rinfo) => {
      transport.#onDatagram(data, rinfo);
    });
    socket.on('error', (error) => {
      options.logger.warn({ err: error }, 'SIP UDP socket error');
    });
    options.manager.setUdp({
      send: (data, port, address) => {
        socket.send(data, port, address);
      },
    });
    return transport;
  }

  get port(): number {
    return this.#port;
  }

  #onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    // RFC 5626 §4.4.1 / §3.5.1: CRLF keep-alives and STUN binding requests; RFC 3261 §7.5
    // lets us ignore stray CRLFs. A datagram with only whitespace is not a message.
    if (data.length <= 4 && data.every((byte) => byte === 0x0d || byte === 0x0a)) {
      return;
    }
    const { address, manager } = this.#options;
    const flow: Flow = {
      protocol: 'UDP',
      remoteAddress: rinfo.address,
      remotePort: rinfo.port,
      localAddress: address,
      localPort: this.port,
    };
    try {
      manager.deliver(parseMessage(data), flow);
    } catch (error) {
      if (isSipParseError(error)) {
        manager.deliverMalformed(error, flow);
      } else {
        this.#options.logger.error({ err: error }, 'SIP UDP handler failed');
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    await new Promise<void>((resolve) => {
      this.#socket.close(() => {
        resolve();
      });
    });
  }
}
