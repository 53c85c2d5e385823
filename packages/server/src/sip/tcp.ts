/**
 * SIP over TCP (RFC 3261 §18): a byte stream framed by Content-Length, one {@link StreamFramer}
 * per connection. Connections opened by peers are reused for requests to contacts they
 * registered (RFC 5626 §5.3); connections we open ourselves are kept for later messages to the
 * same address (§18.1.1). A framing error is unrecoverable: the connection is closed (§18.3).
 */
import net from 'node:net';
import type { Logger } from '@confab/core';
import { StreamFramer, type Flow } from '@confab/sip';
import type { SipConnection, TransportManager } from './transport-manager.js';

export interface TcpTransportOptions {
  address: string;
  port: number;
  manager: TransportManager;
  logger: Logger;
  /** Idle connections are closed after this long without traffic (RFC 5626 keep-alives count). */
  idleTimeoutMs?: number;
}

const DEFAULT_IDLE_TIMEOUT_MS = 2 * 60 * 60 * 1000;
let nextConnectionNumber = 0;

class TcpConnection implements SipConnection {
  readonly id: string;
  readonly flow: Flow;
  readonly #socket: net.Socket;

  constructor(socket: net.Socket, flow: Omit<Flow, 'connectionId'>) {
    this.id = `tcp-${++nextConnectionNumber}`;
    this.#socket = socket;
    this.flow = { ...flow, connectionId: this.id };
  }

  send(data: Uint8Array): void {
    this.#socket.write(data);
  }

  close(): void {
    this.#socket.destroy();
  }
}

export class TcpTransport {
  readonly #server: net.Server;
  readonly #options: TcpTransportOptions;
  /** Connections by `address:port` of the peer, for outbound reuse. */
  readonly #byRemote = new Map<string, TcpConnection>();
  readonly #sockets = new Set<net.Socket>();
  #closed = false;

  private constructor(server: net.Server, options: TcpTransportOptions) {
    this.#server = server;
    this.#options = options;
  }

  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    const server = net.createServer();
    const transport = new TcpTransport(server, options);
    server.on('connection', (socket) => {
      transport.#attach(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => {
      options.logger.warn({ err: error }, 'SIP TCP server error');
    });
    options.manager.setTcpConnector({
      connect: (flow) => transport.#connect(flow),
    });
    return transport;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : this.#options.port;
  }

  #connect(flow: Flow): SipConnection {
    const key = `${flow.remoteAddress}:${flow.remotePort}`;
    const existing = this.#byRemote.get(key);
    if (existing) {
      return existing;
    }
    // net.Socket buffers writes until the connection is up, so send() can be synchronous.
    const socket = net.connect({ host: flow.remoteAddress, port: flow.remotePort });
    return this.#attach(socket, flow);
  }

  #attach(socket: net.Socket, outbound?: Flow): TcpConnection {
    const { manager, logger } = this.#options;
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    const connection = new TcpConnection(socket, {
      protocol: 'TCP',
      remoteAddress: outbound?.remoteAddress ?? socket.remoteAddress ?? '0.0.0.0',
      remotePort: outbound?.remotePort ?? socket.remotePort ?? 0,
      localAddress: this.#options.address,
      localPort: this.port,
    });
    const remoteKey = `${connection.flow.remoteAddress}:${connection.flow.remotePort}`;
    this.#byRemote.set(remoteKey, connection);
    manager.addConnection(connection);
    const framer = new StreamFramer();
    socket.on('data', (chunk: Buffer) => {
      for (const item of framer.push(chunk)) {
        if (item instanceof Error) {
          manager.deliverMalformed(item, connection.flow);
        } else {
          manager.deliver(item, connection.flow);
        }
      }
      if (framer.broken) {
        // RFC 3261 §18.3: without a usable Content-Length the stream cannot be re-synchronised.
        logger.info(
          { connectionId: connection.id },
          'closing SIP TCP connection after a framing error',
        );
        socket.destroy();
      }
    });
    socket.on('timeout', () => {
      socket.destroy();
    });
    socket.on('error', (error) => {
      logger.debug({ err: error, connectionId: connection.id }, 'SIP TCP connection error');
    });
    socket.on('close', () => {
      this.#sockets.delete(socket);
      if (this.#byRemote.get(remoteKey) === connection) {
        this.#byRemote.delete(remoteKey);
      }
      manager.connectionClosed(connection.id);
    });
    return connection;
  }

  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    for (const socket of this.#sockets) {
      socket.destroy();
    }
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }
}
