/**
 * Raw SIP peers for integration tests that need byte-level control: hand-written requests,
 * malformed and hostile input, over UDP, TCP and WebSocket (RFC 7118, subprotocol `sip`).
 * Each peer collects what the server sends back, parsed with @confab/sip.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import {
  StreamFramer,
  buildAuthorization,
  getTag,
  getTo,
  getContacts,
  formatUri,
  isSipParseError,
  parseMessage,
  type SipMessage,
  type SipResponse,
} from '@confab/sip';

export type WireTransport = 'UDP' | 'TCP' | 'WS';

/** What every raw peer offers. */
export interface WirePeer {
  readonly transport: WireTransport;
  /** Our address as it goes into Via (host:port). */
  readonly sentBy: string;
  send(data: string | Uint8Array): void;
  /**
   * The next message from the server, or undefined when none comes within `timeoutMs`
   * (messages that fail to parse are reported as errors: the server must send valid SIP).
   */
  next(timeoutMs?: number): Promise<SipMessage | undefined>;
  /** The next response whose CSeq names `method`, skipping others (e.g. 100 Trying). */
  response(method: string, timeoutMs?: number): Promise<SipResponse>;
  /** Resolves when the connection is closed by either side (never for UDP). */
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  close(): Promise<void>;
}

/** Queues messages and lets tests wait for the ones they want, leaving the others queued. */
class Inbox {
  readonly #messages: SipMessage[] = [];
  readonly #waiters = new Set<{
    accept: (message: SipMessage) => boolean;
    deliver: (message: SipMessage) => void;
  }>();
  readonly garbage: string[] = [];

  push(message: SipMessage): void {
    for (const waiter of this.#waiters) {
      if (waiter.accept(message)) {
        this.#waiters.delete(waiter);
        waiter.deliver(message);
        return;
      }
    }
    this.#messages.push(message);
  }

  parse(data: Uint8Array): void {
    try {
      this.push(parseMessage(data));
    } catch (error) {
      if (!isSipParseError(error)) {
        throw error;
      }
      this.garbage.push(Buffer.from(data).toString('utf8').slice(0, 200));
    }
  }

  /** The first queued or incoming message `accept` takes, or undefined after `timeoutMs`. */
  take(
    accept: (message: SipMessage) => boolean,
    timeoutMs: number,
  ): Promise<SipMessage | undefined> {
    const index = this.#messages.findIndex(accept);
    if (index !== -1) {
      return Promise.resolve(this.#messages.splice(index, 1)[0]);
    }
    return new Promise((resolve) => {
      const waiter = {
        accept,
        deliver: (message: SipMessage): void => {
          clearTimeout(timer);
          resolve(message);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }
}

abstract class BasePeer implements WirePeer {
  abstract readonly transport: WireTransport;
  abstract readonly sentBy: string;
  abstract readonly closed: Promise<void>;
  abstract readonly isClosed: boolean;
  protected readonly inbox = new Inbox();

  abstract send(data: string | Uint8Array): void;
  abstract close(): Promise<void>;

  async next(timeoutMs = 1_000): Promise<SipMessage | undefined> {
    const message = await this.inbox.take(() => true, timeoutMs);
    this.#checkGarbage();
    return message;
  }

  async response(method: string, timeoutMs = 2_000): Promise<SipResponse> {
    const wanted = ` ${method.toUpperCase()}`;
    // 100 Trying is hop-by-hop noise here: the tests want the responses that matter.
    const message = await this.inbox.take(
      (m) =>
        m.type === 'response' &&
        m.status > 100 &&
        (m.headers.get('CSeq') ?? '').trim().toUpperCase().endsWith(wanted),
      timeoutMs,
    );
    this.#checkGarbage();
    if (message?.type !== 'response') {
      throw new Error(`no response to ${method} within ${timeoutMs} ms`);
    }
    return message;
  }

  #checkGarbage(): void {
    if (this.inbox.garbage.length > 0) {
      throw new Error(`the server sent unparseable bytes: ${this.inbox.garbage.join(' | ')}`);
    }
  }
}

class UdpPeer extends BasePeer {
  readonly transport = 'UDP';
  readonly closed = new Promise<void>(() => undefined);
  readonly #socket: dgram.Socket;
  readonly #server: { host: string; port: number };
  #closed = false;

  constructor(socket: dgram.Socket, server: { host: string; port: number }) {
    super();
    this.#socket = socket;
    this.#server = server;
    socket.on('message', (data) => {
      this.inbox.parse(data);
    });
  }

  get sentBy(): string {
    return `127.0.0.1:${this.#socket.address().port}`;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  send(data: string | Uint8Array): void {
    this.#socket.send(
      typeof data === 'string' ? Buffer.from(data) : data,
      this.#server.port,
      this.#server.host,
    );
  }

  /** Sends and reports the socket's verdict (e.g. EMSGSIZE for an oversized datagram). */
  sendChecked(data: Uint8Array): Promise<Error | null> {
    return new Promise((resolve) => {
      this.#socket.send(data, this.#server.port, this.#server.host, (error) => {
        resolve(error ?? null);
      });
    });
  }

  close(): Promise<void> {
    if (this.#closed) {
      return Promise.resolve();
    }
    this.#closed = true;
    return new Promise((resolve) => {
      this.#socket.close(() => {
        resolve();
      });
    });
  }
}

class TcpPeer extends BasePeer {
  readonly transport = 'TCP';
  readonly closed: Promise<void>;
  readonly #socket: net.Socket;
  readonly #framer = new StreamFramer();
  #closed = false;

  constructor(socket: net.Socket) {
    super();
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const item of this.#framer.push(chunk)) {
        if (item instanceof Error) {
          this.inbox.garbage.push(item.message);
        } else {
          this.inbox.push(item);
        }
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#closed = true;
        resolve();
      });
    });
  }

  get sentBy(): string {
    return `127.0.0.1:${this.#socket.localPort ?? 0}`;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  send(data: string | Uint8Array): void {
    this.#socket.write(data);
  }

  async close(): Promise<void> {
    this.#socket.destroy();
    await this.closed;
  }
}

class WsPeer extends BasePeer {
  readonly transport = 'WS';
  readonly closed: Promise<void>;
  /** The close code the server sent, once closed. */
  closeCode: number | undefined;
  readonly #socket: WebSocket;
  #closed = false;

  constructor(socket: WebSocket) {
    super();
    this.#socket = socket;
    socket.on('message', (data: WebSocket.RawData) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      this.inbox.parse(bytes);
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      socket.once('close', (code) => {
        this.closeCode = code;
        this.#closed = true;
        resolve();
      });
    });
  }

  /** RFC 7118 §5: a WebSocket client's Via host is a made-up `.invalid` name. */
  readonly sentBy = `${randomUUID().slice(0, 8)}.invalid`;

  get isClosed(): boolean {
    return this.#closed;
  }

  send(data: string | Uint8Array): void {
    this.#socket.send(data, { binary: typeof data !== 'string' });
  }

  /** Sends a frame as text or binary regardless of its JavaScript type. */
  sendFrame(data: string | Uint8Array, binary: boolean): void {
    this.#socket.send(data, { binary });
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#socket.close(1000);
    }
    await this.closed;
  }
}

export type { UdpPeer, TcpPeer, WsPeer };

export async function openUdp(serverPort: number): Promise<UdpPeer> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return new UdpPeer(socket, { host: '127.0.0.1', port: serverPort });
}

export async function openTcp(serverPort: number): Promise<TcpPeer> {
  const socket = net.connect({ host: '127.0.0.1', port: serverPort });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return new TcpPeer(socket);
}

export async function openWs(httpUrl: string): Promise<WsPeer> {
  const url = `${httpUrl.replace(/^http/, 'ws')}/api/asterisk/ws`;
  const socket = new WebSocket(url, 'sip');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once('open', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return new WsPeer(socket);
}

export async function openPeer(
  transport: WireTransport,
  target: { sipPort: number; httpUrl: string },
): Promise<WirePeer> {
  switch (transport) {
    case 'UDP':
      return openUdp(target.sipPort);
    case 'TCP':
      return openTcp(target.sipPort);
    case 'WS':
      return openWs(target.httpUrl);
  }
}

/** Fields of a hand-written request; `null` leaves a header out. */
export interface RawRequest {
  method: string;
  /** Top Via branch; fresh by default. */
  branch?: string;
  uri?: string;
  version?: string;
  callId?: string | null;
  cseq?: string | null;
  from?: string | null;
  to?: string | null;
  via?: string | null;
  maxForwards?: string | null;
  /** More header lines, written as given. */
  headers?: readonly string[];
  body?: string;
  /** Content-Length value; `null` omits it; default: the body's byte length. */
  contentLength?: string | null;
}

/** Writes a request for `peer` as text (CRLF line ends), with a fresh branch and tags. */
export function rawRequest(peer: WirePeer, request: RawRequest): string {
  const branch = request.branch ?? `z9hG4bK${randomUUID().replaceAll('-', '')}`;
  const body = request.body ?? '';
  const lines = [
    `${request.method} ${request.uri ?? 'sip:confab@127.0.0.1'} ${request.version ?? 'SIP/2.0'}`,
  ];
  const header = (name: string, value: string | null | undefined, fallback: string): void => {
    if (value !== null) {
      lines.push(`${name}: ${value ?? fallback}`);
    }
  };
  header('Via', request.via, `SIP/2.0/${peer.transport} ${peer.sentBy};branch=${branch};rport`);
  header('Max-Forwards', request.maxForwards, '70');
  header('From', request.from, `<sip:robust@127.0.0.1>;tag=${randomUUID().slice(0, 8)}`);
  header('To', request.to, '<sip:confab@127.0.0.1>');
  header('Call-ID', request.callId, randomUUID());
  header('CSeq', request.cseq, `1 ${request.method}`);
  lines.push(...(request.headers ?? []));
  header('Content-Length', request.contentLength, String(Buffer.byteLength(body)));
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** A PCMU offer from `peer`'s address, with a media direction. */
export function pcmuOffer(version: number, direction = 'sendrecv'): string {
  return [
    'v=0',
    `o=raw 1000 ${version} IN IP4 127.0.0.1`,
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 49170 RTP/AVP 0',
    'a=rtpmap:0 PCMU/8000',
    `a=${direction}`,
    '',
  ].join('\r\n');
}

/** The caller's side of an established (or attempted) call placed by {@link placeCall}. */
export interface RawCall {
  readonly callId: string;
  /** Our From header value, with our tag. */
  readonly from: string;
  /** The To header value of the final response (with the server's tag when it has one). */
  readonly to: string;
  /** The final response to the authenticated INVITE. */
  readonly final: SipResponse;
  /** The remote target (the 2xx Contact), for in-dialog requests (§12.1.2). */
  readonly target: string;
  /** The last CSeq number we used. */
  cseq: number;
}

/**
 * Places a call from a raw peer: INVITE, the digest challenge (ACKed with the INVITE's branch,
 * §17.1.1.3), the authenticated INVITE, then the final response; a 2xx is ACKed in a new
 * transaction (§13.2.2.4). Provisional responses are skipped.
 */
export async function placeCall(
  peer: WirePeer,
  options: {
    username: string;
    password: string;
    extension: string;
    sdp: string;
    /** Called right after the authenticated INVITE went out, e.g. to CANCEL it (§9.1). */
    onInviteSent?: (invite: { branch: string; cancel: string }) => void;
    /** Return at this provisional status (with its early dialog) instead of a final one. */
    stopAt?: number;
  },
): Promise<RawCall> {
  const callId = randomUUID();
  const from = `<sip:${options.username}@127.0.0.1>;tag=${randomUUID().slice(0, 8)}`;
  const uri = `sip:${options.extension}@127.0.0.1`;
  const contact = `Contact: <sip:${options.username}@${peer.sentBy};transport=${peer.transport.toLowerCase()}>`;
  const common = { uri, callId, from, to: `<${uri}>` };
  const invite = (cseq: number, branch: string, extra: string[]): void => {
    peer.send(
      rawRequest(peer, {
        method: 'INVITE',
        ...common,
        branch,
        cseq: `${cseq} INVITE`,
        headers: [contact, 'Content-Type: application/sdp', ...extra],
        body: options.sdp,
      }),
    );
  };
  const firstBranch = newTestBranch();
  invite(1, firstBranch, []);
  const challenge = await peer.response('INVITE');
  if (challenge.status !== 401) {
    throw new Error(`expected a 401 challenge, got ${challenge.status}`);
  }
  peer.send(
    rawRequest(peer, {
      method: 'ACK',
      ...common,
      branch: firstBranch,
      to: challenge.headers.get('To') ?? '',
      cseq: '1 ACK',
    }),
  );
  const authorization = buildAuthorization(challenge.headers.get('WWW-Authenticate') ?? '', {
    username: options.username,
    password: options.password,
    method: 'INVITE',
    uri,
  });
  const branch = newTestBranch();
  invite(2, branch, [`Authorization: ${authorization}`]);
  options.onInviteSent?.({
    branch,
    // §9.1: the CANCEL has the INVITE's Request-URI, Call-ID, From, To, CSeq number and Via.
    cancel: rawRequest(peer, { method: 'CANCEL', ...common, branch, cseq: '2 CANCEL' }),
  });
  let final: SipResponse;
  do {
    final = await peer.response('INVITE', 5_000);
  } while (final.status < 200 && final.status !== options.stopAt);
  const to = final.headers.get('To') ?? '';
  let target = uri;
  if (final.status < 200) {
    // An early dialog (§12.1): its remote target is the provisional response's Contact.
    const contacts = getContacts(final);
    if (contacts !== '*' && contacts[0]) {
      target = formatUri(contacts[0].uri);
    }
  } else if (final.status < 300) {
    const contacts = getContacts(final);
    if (contacts !== '*' && contacts[0]) {
      target = formatUri(contacts[0].uri);
    }
    peer.send(rawRequest(peer, { method: 'ACK', uri: target, callId, from, to, cseq: '2 ACK' }));
  } else {
    peer.send(rawRequest(peer, { method: 'ACK', ...common, branch, to, cseq: '2 ACK' }));
  }
  if (final.status < 300 && getTag(getTo(final)) === undefined) {
    throw new Error('2xx without a To tag');
  }
  return { callId, from, to, final, target, cseq: 2 };
}

/** A request in `call`'s dialog (§12.2.1.1); the CSeq is the next one unless given. */
export function inDialog(
  peer: WirePeer,
  call: RawCall,
  method: string,
  options: { cseq?: number; body?: string; headers?: readonly string[]; branch?: string } = {},
): string {
  const cseq = options.cseq ?? (method === 'ACK' ? call.cseq : call.cseq + 1);
  if (method !== 'ACK' && cseq > call.cseq) {
    call.cseq = cseq;
  }
  return rawRequest(peer, {
    method,
    uri: call.target,
    callId: call.callId,
    from: call.from,
    to: call.to,
    cseq: `${cseq} ${method}`,
    ...(options.branch !== undefined ? { branch: options.branch } : {}),
    headers: [
      ...(options.body !== undefined ? ['Content-Type: application/sdp'] : []),
      ...(options.headers ?? []),
    ],
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
}

export function newTestBranch(): string {
  return `z9hG4bK${randomUUID().replaceAll('-', '')}`;
}
