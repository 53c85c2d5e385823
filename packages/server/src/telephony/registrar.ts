/**
 * Registrar and location service (RFC 3261 §10.3), with connection-bound bindings for
 * WebSocket and TCP clients (RFC 5626 §5.2, RFC 7118 §5): a binding made over a connection
 * remembers that flow, requests to the contact reuse it, and the binding disappears when the
 * connection closes.
 */
import { TypedEmitter, type Logger } from '@confab/core';
import {
  formatNameAddr,
  formatUri,
  getCallId,
  getContacts,
  getCSeq,
  getExpires,
  getTo,
  type Clock,
  type Flow,
  type NameAddr,
  type ServerTransaction,
  type SipUri,
  type TransportProtocol,
} from '@confab/sip';
import type { Line } from '../store/types.js';
import type { SipStack } from '../sip/stack.js';
import type { SipAuthenticator } from './authenticator.js';

/** Bound on {@link Registrar.aorHosts}: a handful of names in practice. */
const MAX_AOR_HOSTS = 32;

export interface Binding {
  readonly id: string;
  readonly line: Line;
  /** The Contact as registered (URI + header params such as +sip.instance). */
  readonly contact: NameAddr;
  readonly contactUri: SipUri;
  /** Where requests for this contact are sent (see {@link targetFlow}). */
  readonly flow: Flow;
  /** True when the client is a WebRTC endpoint (registered over WS/WSS). */
  readonly webrtc: boolean;
  readonly expiresAt: number;
  readonly callId: string;
  readonly cseq: number;
  readonly userAgent: string | undefined;
}

export type BindingRemovalReason = 'unregistered' | 'expired' | 'connection-closed' | 'replaced';

export interface RegistrarEvents {
  [key: string]: unknown[];
  bindingAdded: [binding: Binding];
  bindingRemoved: [binding: Binding, reason: BindingRemovalReason];
}

export interface RegistrarOptions {
  stack: SipStack;
  authenticator: SipAuthenticator;
  clock: Clock;
  logger: Logger;
  /** Shortest accepted registration, seconds (§10.3 step 7: 423 Interval Too Brief below it). */
  minExpires?: number;
  /** Longest granted registration, seconds (longer requests are shortened, §10.3 step 7). */
  maxExpires?: number;
  /** Used when neither the Contact nor the request says (§10.2.1.1). */
  defaultExpires?: number;
}

export class Registrar extends TypedEmitter<RegistrarEvents> {
  /** line id → binding key → binding */
  readonly #bindings = new Map<number, Map<string, Binding>>();
  /** Hosts authenticated lines registered their AOR under: names clients use for this server. */
  readonly #aorHosts = new Set<string>();
  readonly #options: Required<
    Omit<RegistrarOptions, 'stack' | 'authenticator' | 'clock' | 'logger'>
  > &
    RegistrarOptions;
  readonly #sweepTimer: NodeJS.Timeout;
  #nextId = 0;

  constructor(options: RegistrarOptions) {
    super();
    this.#options = { minExpires: 60, maxExpires: 7200, defaultExpires: 3600, ...options };
    this.#sweepTimer = setInterval(() => {
      this.sweep();
    }, 5_000);
    this.#sweepTimer.unref();
  }

  /** Every live binding of a line, most recent first. */
  contactsFor(lineId: number): Binding[] {
    const now = this.#options.clock.now();
    const map = this.#bindings.get(lineId);
    if (!map) {
      return [];
    }
    return [...map.values()].filter((binding) => binding.expiresAt > now).reverse();
  }

  get bindingCount(): number {
    let count = 0;
    for (const map of this.#bindings.values()) {
      count += map.size;
    }
    return count;
  }

  /** The connection closed: its bindings cannot be reached any more (RFC 5626 §5.2). */
  connectionClosed(connectionId: string): void {
    for (const map of this.#bindings.values()) {
      for (const [key, binding] of map) {
        if (binding.flow.connectionId === connectionId) {
          map.delete(key);
          this.emit('bindingRemoved', binding, 'connection-closed');
        }
      }
    }
  }

  /** Removes expired bindings. Called periodically; public for tests with a fake clock. */
  sweep(): void {
    const now = this.#options.clock.now();
    for (const map of this.#bindings.values()) {
      for (const [key, binding] of map) {
        if (binding.expiresAt <= now) {
          map.delete(key);
          this.emit('bindingRemoved', binding, 'expired');
        }
      }
    }
  }

  /**
   * The hosts of the AORs lines registered (an SDK registers `sip:user@<the host it connected
   * to>`): they name this server, e.g. when a REFER's Refer-To uses them.
   */
  get aorHosts(): ReadonlySet<string> {
    return this.#aorHosts;
  }

  async handle(tx: ServerTransaction): Promise<void> {
    const { stack, authenticator, logger } = this.#options;
    const request = tx.request;
    // §10.3 step 5: the AOR is the To URI.
    let toUri: SipUri;
    try {
      toUri = getTo(request).uri;
    } catch {
      stack.respond(tx, 400);
      return;
    }
    // Step 6: authenticate, and only let a line change its own bindings.
    const auth = await authenticator.authenticate(tx);
    if (!auth) {
      return;
    }
    if (toUri.user === undefined || toUri.user !== auth.line.sipUsername) {
      logger.info(
        { aor: formatUri(toUri), user: auth.line.sipUsername },
        'REGISTER for another address of record',
      );
      stack.respond(tx, 403);
      return;
    }
    if (this.#aorHosts.size < MAX_AOR_HOSTS) {
      this.#aorHosts.add(toUri.host);
    }
    let contacts: NameAddr[] | '*';
    let callId: string;
    let cseq: number;
    try {
      contacts = getContacts(request);
      callId = getCallId(request);
      cseq = getCSeq(request).seq;
    } catch {
      stack.respond(tx, 400);
      return;
    }
    const line = auth.line;
    const headerExpires = getExpires(request);
    const map = this.#bindings.get(line.id) ?? new Map<string, Binding>();
    this.#bindings.set(line.id, map);

    if (contacts === '*') {
      // §10.3 step 6: "*" only with Expires: 0, and alone.
      if (headerExpires !== 0) {
        stack.respond(tx, 400);
        return;
      }
      for (const [key, binding] of map) {
        if (binding.callId === callId && cseq <= binding.cseq) {
          continue;
        }
        map.delete(key);
        this.emit('bindingRemoved', binding, 'unregistered');
      }
      this.#answer(tx, line.id);
      return;
    }

    // First pass: validate every contact before changing anything (the request is atomic, §10.3).
    const now = this.#options.clock.now();
    const changes: { key: string; expires: number; contact: NameAddr }[] = [];
    for (const contact of contacts) {
      const expires = this.#expiresOf(contact, headerExpires);
      if (expires > 0 && expires < this.#options.minExpires) {
        stack.respond(tx, 423, (response) => {
          response.headers.set('Min-Expires', String(this.#options.minExpires));
        });
        return;
      }
      const key = bindingKey(contact);
      const existing = map.get(key);
      // §10.3 step 7: same Call-ID with a CSeq that is not higher aborts the update.
      if (existing?.callId === callId && cseq <= existing.cseq) {
        stack.respond(tx, 500, (response) => {
          response.reason = 'Out Of Order Registration';
        });
        return;
      }
      changes.push({ key, expires: Math.min(expires, this.#options.maxExpires), contact });
    }
    for (const change of changes) {
      const existing = map.get(change.key);
      if (change.expires === 0) {
        if (existing) {
          map.delete(change.key);
          this.emit('bindingRemoved', existing, 'unregistered');
        }
        continue;
      }
      const binding: Binding = {
        id: `b${++this.#nextId}`,
        line,
        contact: change.contact,
        contactUri: change.contact.uri,
        flow: targetFlow(change.contact, tx.flow),
        webrtc: tx.flow.protocol === 'WS' || tx.flow.protocol === 'WSS',
        expiresAt: now + change.expires * 1000,
        callId,
        cseq,
        userAgent: request.headers.get('User-Agent'),
      };
      map.set(change.key, binding);
      if (existing) {
        this.emit('bindingRemoved', existing, 'replaced');
      }
      this.emit('bindingAdded', binding);
      logger.debug(
        { line: line.extension, contact: formatUri(binding.contactUri), flow: tx.flow.protocol },
        'registered',
      );
    }
    this.#answer(tx, line.id);
  }

  #expiresOf(contact: NameAddr, headerExpires: number | undefined): number {
    const param = contact.params.get('expires');
    if (param !== undefined && param !== null && /^\d{1,10}$/.test(param)) {
      return Number(param);
    }
    return headerExpires ?? this.#options.defaultExpires;
  }

  /** §10.3 step 8: 200 OK listing every current binding with its remaining time. */
  #answer(tx: ServerTransaction, lineId: number): void {
    const now = this.#options.clock.now();
    const bindings = this.contactsFor(lineId);
    this.#options.stack.respond(tx, 200, (response) => {
      for (const binding of bindings) {
        const params = new Map(binding.contact.params);
        params.set('expires', String(Math.max(0, Math.round((binding.expiresAt - now) / 1000))));
        response.headers.append('Contact', formatNameAddr({ ...binding.contact, params }));
      }
      response.headers.set('Date', new Date(now).toUTCString());
    });
  }

  close(): void {
    clearInterval(this.#sweepTimer);
    this.#bindings.clear();
  }
}

/** RFC 5626 §6: with +sip.instance and reg-id the binding is the flow's identity; else the URI. */
function bindingKey(contact: NameAddr): string {
  const instance = contact.params.get('+sip.instance');
  if (instance) {
    return `instance:${instance}:${contact.params.get('reg-id') ?? ''}`;
  }
  return `uri:${formatUri(contact.uri)}`;
}

/**
 * Where requests for a contact go.
 * - Connection-oriented transports (TCP, WS, WSS): the connection the REGISTER came on
 *   (RFC 5626 §5.3, RFC 7118 §5) — WebSocket clients cannot be reached any other way.
 * - UDP with RFC 5626 outbound (`;ob` or reg-id): the flow the REGISTER came on, whatever
 *   transport the Contact names (the flow is the way back through the NAT).
 * - UDP with an IP-literal Contact: that address (RFC 3261 §10, §16.5), over the transport the
 *   Contact URI names (RFC 3263 §4.1, RFC 3261 §19.1.4, §18.1.1): `transport=tcp` is reached by
 *   a TCP connection we open, `sips:`/`transport=tls` over TLS and `transport=ws|wss` over a
 *   WebSocket — neither of which we can open (no TLS client; RFC 7118 §5), so those requests fail
 *   with a transport error rather than reach a port that expects another transport — unless the
 *   Contact is a private address while the REGISTER came from elsewhere, which means a NAT is
 *   in between: then the source address, as NAT-aware PBXes do (rport/comedia style).
 * - UDP with a host name: the source address (we do not resolve DNS here; deliberate limitation).
 */
export function targetFlow(contact: NameAddr, flow: Flow): Flow {
  if (flow.connectionId !== undefined || flow.protocol !== 'UDP') {
    return flow;
  }
  if (contact.uri.params.has('ob') || contact.params.has('reg-id')) {
    return flow;
  }
  const host = contact.uri.host.replace(/^\[(.*)\]$/, '$1');
  if (!isIpLiteral(host)) {
    return flow;
  }
  if (host !== flow.remoteAddress && isPrivateIpv4(host) && !isPrivateIpv4(flow.remoteAddress)) {
    return flow;
  }
  const protocol = contactTransport(contact);
  // §19.1.2: the default port is 5061 for TLS (sips), 5060 otherwise.
  const port = contact.uri.port ?? (protocol === 'TLS' || protocol === 'WSS' ? 5061 : 5060);
  return { protocol, remoteAddress: host, remotePort: port };
}

/** The transport a Contact URI asks for (RFC 3263 §4.1): its `transport` parameter, TLS for sips. */
function contactTransport(contact: NameAddr): TransportProtocol {
  const transport = contact.uri.params.get('transport')?.toLowerCase();
  switch (transport) {
    case 'tcp':
      return contact.uri.scheme === 'sips' ? 'TLS' : 'TCP';
    case 'tls':
      return 'TLS';
    case 'ws':
      return 'WS';
    case 'wss':
      return 'WSS';
    default:
      // udp, absent or unknown (§19.1.4 gives no other default).
      return contact.uri.scheme === 'sips' ? 'TLS' : 'UDP';
  }
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

function isPrivateIpv4(address: string): boolean {
  return /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(address);
}
