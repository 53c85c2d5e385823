/**
 * Transport-facing types of the sans-I/O SIP stack. The stack never touches sockets: the server's
 * transport adapters feed received messages with the {@link Flow} they arrived on, and the stack
 * asks them to send a message on a flow.
 */

/** Transport protocol tokens as they appear in Via (RFC 3261 §20.42, RFC 7118 §5). */
export type TransportProtocol = 'UDP' | 'TCP' | 'TLS' | 'WS' | 'WSS';

/**
 * Where a message came from or goes to. For connection-oriented transports, `connectionId`
 * names the connection (RFC 5626 flow): responses and requests to a contact registered over
 * that connection reuse it (RFC 3261 §18.2.2, RFC 5626 §5.3, RFC 7118 §5).
 */
export interface Flow {
  readonly protocol: TransportProtocol;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Local address/port the message arrived on (informational; set by adapters when known). */
  readonly localAddress?: string;
  readonly localPort?: number;
  /** Set for TCP/TLS/WS/WSS: the id of the connection the adapter should use. */
  readonly connectionId?: string;
}

/** Reliable transports do not retransmit at the transaction layer (RFC 3261 §17.1.1.2). */
export function isReliable(protocol: TransportProtocol): boolean {
  return protocol !== 'UDP';
}

export function flowKey(flow: Flow): string {
  return flow.connectionId ?? `${flow.protocol}:${flow.remoteAddress}:${flow.remotePort}`;
}
