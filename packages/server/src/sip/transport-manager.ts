/**
 * The server side of SIP transports: it owns every listening socket and connection, turns bytes
 * into messages for the SIP stack, and sends messages on a {@link Flow}.
 *
 * Flow reuse (RFC 5626 §5.3, RFC 7118 §5, RFC 3261 §18.2.2): a message for a flow with a
 * `connectionId` goes out on that exact TCP/WebSocket connection; when it is gone the send fails
 * with a transport error (the transaction layer reports it, §17.1.4). UDP flows are addressed by
 * the remote address and port (which, with rport (RFC 3581), is where the peer actually is).
 */
import { TypedEmitter, type Logger } from '@confab/core';
import type { Flow, SipMessage } from '@confab/sip';
import { serializeMessage, type SipParseError } from '@confab/sip';
import { SipTransportError } from './errors.js';

/** A live connection-oriented channel (TCP, TLS, WS, WSS). */
export interface SipConnection {
  readonly id: string;
  readonly flow: Flow;
  send(data: Uint8Array): void;
  close(): void;
}

export interface TransportManagerEvents {
  [key: string]: unknown[];
  /** A complete message arrived on `flow`. */
  message: [message: SipMessage, flow: Flow];
  /**
   * Bytes that did not parse. When `error.partial` is a request the stack answers it with
   * `error.status` (RFC 3261 §16.3, §21.4.1); anything else is dropped.
   */
  malformed: [error: SipParseError, flow: Flow];
  /** A connection closed (for the registrar: bindings over it are gone, RFC 5626 §5.2). */
  connectionClosed: [connectionId: string];
}

export interface DatagramSender {
  send(data: Uint8Array, port: number, address: string): void;
}

export interface OutboundConnector {
  /** Opens (or reuses) a stream connection to address:port for a flow without connection id. */
  connect(flow: Flow): SipConnection;
}

export class TransportManager extends TypedEmitter<TransportManagerEvents> {
  readonly #connections = new Map<string, SipConnection>();
  readonly #logger: Logger;
  #udp: DatagramSender | undefined;
  #tcpConnector: OutboundConnector | undefined;
  #closed = false;

  constructor(logger: Logger) {
    super();
    this.#logger = logger;
  }

  setUdp(sender: DatagramSender): void {
    this.#udp = sender;
  }

  setTcpConnector(connector: OutboundConnector): void {
    this.#tcpConnector = connector;
  }

  addConnection(connection: SipConnection): void {
    this.#connections.set(connection.id, connection);
  }

  /** Called by adapters when a connection ends, whatever the reason. */
  connectionClosed(connectionId: string): void {
    if (this.#connections.delete(connectionId)) {
      this.emit('connectionClosed', connectionId);
    }
  }

  hasConnection(connectionId: string): boolean {
    return this.#connections.has(connectionId);
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Adapters call this for every parsed message. */
  deliver(message: SipMessage, flow: Flow): void {
    if (!this.#closed) {
      this.emit('message', message, flow);
    }
  }

  /** Adapters call this when bytes from the network do not parse. */
  deliverMalformed(error: SipParseError, flow: Flow): void {
    if (!this.#closed) {
      this.emit('malformed', error, flow);
    }
  }

  /**
   * Sends a message on a flow. Throws {@link SipTransportError} when the flow cannot be used
   * (connection closed, transport not enabled); the caller (transaction layer) turns it into a
   * transport error event.
   */
  send(message: SipMessage, flow: Flow): void {
    if (this.#closed) {
      throw SipTransportError.closed();
    }
    const data = serializeMessage(message);
    if (flow.connectionId !== undefined) {
      const connection = this.#connections.get(flow.connectionId);
      if (!connection) {
        throw SipTransportError.connectionGone(flow.connectionId);
      }
      connection.send(data);
      return;
    }
    switch (flow.protocol) {
      case 'UDP':
        if (!this.#udp) {
          throw SipTransportError.unsupported(flow.protocol);
        }
        this.#udp.send(data, flow.remotePort, flow.remoteAddress);
        return;
      case 'TCP': {
        if (!this.#tcpConnector) {
          throw SipTransportError.unsupported(flow.protocol);
        }
        const connection = this.#tcpConnector.connect(flow);
        connection.send(data);
        return;
      }
      default:
        // WS/WSS/TLS flows only exist as connections the peer opened (RFC 7118 §5: we never
        // open WebSocket connections towards clients).
        throw SipTransportError.unsupported(flow.protocol);
    }
  }

  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    for (const connection of [...this.#connections.values()]) {
      try {
        connection.close();
      } catch (error) {
        this.#logger.debug({ err: error, connectionId: connection.id }, 'connection close failed');
      }
    }
    this.#connections.clear();
  }
}
