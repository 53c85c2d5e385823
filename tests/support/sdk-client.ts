/**
 * Node clients built on the SDK (`@confab/sdk/node` with `ws` and `@roamhq/wrtc`) for
 * integration tests against the real server:
 * - each client sends its own tone as microphone (./node-phone.ts) and records every Phone event;
 * - its SIP WebSocket is a real `ws` socket wrapped by a tap ({@link SipWire}) that records the
 *   SIP messages going each way, so tests can assert what crossed the wire, and that can cut the
 *   TCP connection without a closing handshake (a network drop).
 */
import WebSocket from 'ws';
import wrtc from '@roamhq/wrtc';
import {
  PhoneEvent,
  type BusEvent,
  type CallSession,
  type Confab,
  type PhoneEventName,
  type PhoneEvents,
} from '@confab/sdk';
import { createNodeConfab, type NodeWebSocketClass } from '@confab/sdk/node';
import type { WebSocketLike } from '@confab/sdk';
import { createToneSource, type ToneSink, type ToneSource } from './node-phone.js';

/** One SIP message seen on a client's WebSocket. */
export interface WireMessage {
  /** `out`: sent by the SDK; `in`: received from the server. */
  readonly direction: 'out' | 'in';
  /** `REGISTER sip:… SIP/2.0` or `SIP/2.0 200 OK`. */
  readonly startLine: string;
  /** Request method, or the method of the CSeq for responses. */
  readonly method: string;
  /** Status code of a response, 0 for a request. */
  readonly status: number;
  readonly callId: string;
  readonly text: string;
  /** First value of a header (compact forms understood), case-insensitive. */
  header(name: string): string | undefined;
}

/** Compact header forms (RFC 3261 §7.3.3) the SDK or the server may use. */
const COMPACT: Readonly<Record<string, string>> = {
  i: 'call-id',
  v: 'via',
  f: 'from',
  t: 'to',
  m: 'contact',
  l: 'content-length',
  c: 'content-type',
};

function parseWireMessage(direction: 'out' | 'in', text: string): WireMessage | undefined {
  const end = text.indexOf('\r\n\r\n');
  const lines = (end === -1 ? text : text.slice(0, end)).split('\r\n');
  const startLine = lines[0] ?? '';
  if (startLine === '') {
    // Keep-alive CRLFs (RFC 5626 §4.4.1) carry no message.
    return undefined;
  }
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      const name = line.slice(0, colon).trim().toLowerCase();
      headers.push([COMPACT[name] ?? name, line.slice(colon + 1).trim()]);
    }
  }
  const header = (name: string): string | undefined => {
    const wanted = name.toLowerCase();
    return headers.find(([key]) => key === wanted)?.[1];
  };
  const isResponse = startLine.startsWith('SIP/2.0 ');
  const cseqMethod = header('cseq')?.split(/\s+/)[1] ?? '';
  return {
    direction,
    startLine,
    method: isResponse ? cseqMethod : (startLine.split(' ')[0] ?? ''),
    status: isResponse ? Number(startLine.split(' ')[1]) : 0,
    callId: header('call-id') ?? '',
    text,
    header,
  };
}

/** The SIP traffic of one client, across all the WebSockets it opened. */
export class SipWire {
  readonly messages: WireMessage[] = [];
  readonly sockets: TappedSocket[] = [];

  /** Requests the SDK sent with `method`. */
  sent(method: string): WireMessage[] {
    return this.messages.filter(
      (m) => m.direction === 'out' && m.status === 0 && m.method === method,
    );
  }

  /** Responses to `method` the SDK sent (status `status` if given). */
  answered(method: string, status?: number): WireMessage[] {
    return this.messages.filter(
      (m) =>
        m.direction === 'out' &&
        m.status !== 0 &&
        m.method === method &&
        (status === undefined || m.status === status),
    );
  }

  /** Requests with `method` the SDK received. */
  received(method: string): WireMessage[] {
    return this.messages.filter(
      (m) => m.direction === 'in' && m.status === 0 && m.method === method,
    );
  }

  /** Responses to `method` the SDK received (status `status` if given). */
  responses(method: string, status?: number): WireMessage[] {
    return this.messages.filter(
      (m) =>
        m.direction === 'in' &&
        m.status !== 0 &&
        m.method === method &&
        (status === undefined || m.status === status),
    );
  }

  /** The messages of one SIP dialog (or transaction) by Call-ID. */
  ofCall(callId: string): WireMessage[] {
    return this.messages.filter((m) => m.callId === callId);
  }

  record(direction: 'out' | 'in', data: unknown): void {
    const text = typeof data === 'string' ? data : Buffer.from(data as Buffer).toString('utf8');
    const message = parseWireMessage(direction, text);
    if (message !== undefined) {
      this.messages.push(message);
    }
  }
}

/**
 * A real `ws` client socket that reports every frame to a {@link SipWire} before the SDK sees it
 * (or after the SDK sent it).
 */
export class TappedSocket implements WebSocketLike {
  readonly url: string;
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  readonly #socket: WebSocket;
  readonly #wire: SipWire;

  constructor(
    wire: SipWire,
    url: string,
    protocols: string[],
    options?: { rejectUnauthorized?: boolean },
  ) {
    this.url = url;
    this.#wire = wire;
    this.#socket = new WebSocket(url, protocols, options);
    this.#socket.onopen = (event) => this.onopen?.(event);
    this.#socket.onerror = (event) => this.onerror?.(event);
    this.#socket.onclose = (event) => this.onclose?.({ code: event.code, reason: event.reason });
    this.#socket.onmessage = (event) => {
      this.#wire.record('in', event.data);
      this.onmessage?.({ data: event.data });
    };
    wire.sockets.push(this);
  }

  get readyState(): number {
    return this.#socket.readyState;
  }

  get protocol(): string {
    return this.#socket.protocol;
  }

  /**
   * When set, the first message the SDK sends that matches it goes out and then the connection
   * drops (see {@link drop}), so whatever the server would answer never reaches the SDK.
   */
  dropAfterSending: ((message: WireMessage) => boolean) | undefined;

  send(data: string): void {
    this.#wire.record('out', data);
    this.#socket.send(data);
    const sent = this.#wire.messages.at(-1);
    if (this.dropAfterSending !== undefined && sent !== undefined && this.dropAfterSending(sent)) {
      this.dropAfterSending = undefined;
      this.drop();
    }
  }

  close(code?: number, reason?: string): void {
    this.#socket.close(code, reason);
  }

  /** Destroys the TCP connection without a WebSocket close handshake (code 1006 at both ends). */
  drop(): void {
    this.#socket.terminate();
  }
}

/**
 * A `ws`-shaped WebSocket class whose sockets report to `wire`; with `otherWire`, sockets that do
 * not offer the `sip` subprotocol (the event websocket) report there instead.
 */
export function tappedWebSocketClass(wire: SipWire, otherWire?: SipWire): NodeWebSocketClass {
  return class extends TappedSocket {
    constructor(url: string, protocols: string[], options?: { rejectUnauthorized?: boolean }) {
      super(
        otherWire === undefined || protocols.includes('sip') ? wire : otherWire,
        url,
        protocols,
        options,
      );
    }
  };
}

/** One REST request the SDK made, and the status the server answered. */
export interface HttpExchange {
  readonly method: string;
  /** Path and query, e.g. `/api/auth/0.1/token`. */
  readonly path: string;
  /** Request headers, lowercase names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** 0 when the request failed without a response. */
  status: number;
}

/** A `fetch` that records every exchange the SDK makes with the real server. */
function tappedFetch(
  exchanges: HttpExchange[],
): (url: string, init: RequestInit) => Promise<Response> {
  return async (url, init) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    const parsed = new URL(url);
    const exchange: HttpExchange = {
      method: init.method ?? 'GET',
      path: parsed.pathname + parsed.search,
      headers,
      body: typeof init.body === 'string' ? init.body : '',
      status: 0,
    };
    exchanges.push(exchange);
    const response = await fetch(url, init);
    exchange.status = response.status;
    return response;
  };
}

/** A recorded Phone event. */
export interface RecordedEvent {
  readonly name: PhoneEventName;
  readonly args: unknown[];
}

/** Someone to log in as. */
export interface Credentials {
  username: string;
  password: string;
}

/** Options of {@link createSdkClient}. */
export interface SdkClientOptions {
  /** The tone this client sends as its microphone, Hz. */
  frequency: number;
  /**
   * Peak amplitude of the tone (full scale 1). Conference tests send quieter tones so that the
   * sum of three never clips in the mixer (clipping makes intermodulation products, which can
   * land on a listener's own frequency). @default 0.5
   */
  amplitude?: number;
  /** `http://127.0.0.1:<port>` of the server. */
  origin: string;
  /**
   * Local media is refused, as when the user denies the microphone: `getUserMedia` rejects with
   * a `NotAllowedError` DOMException.
   */
  refuseMedia?: boolean;
}

/** One SDK instance with its tone, its wire tap and its event log. */
export interface SdkClient {
  readonly confab: Confab;
  readonly tone: ToneSource;
  /** The SIP WebSocket traffic (sockets offering the `sip` subprotocol). */
  readonly wire: SipWire;
  /** The event websocket(s) (`/api/websocketd/`), which the SDK opens after login. */
  readonly eventWire: SipWire;
  /** REST exchanges with the server, in order. */
  readonly http: HttpExchange[];
  readonly events: RecordedEvent[];
  /** Event names so far, in order. */
  names(): PhoneEventName[];
  /** Resolves with the arguments of the next `name` event. */
  next<K extends PhoneEventName>(name: K): Promise<PhoneEvents[K]>;
  /** Logs in and connects the phone (short ICE gathering: everything is on loopback). */
  logIn(user: Credentials): Promise<void>;
  /** Disconnects, logs out and stops the tone. Idempotent, never rejects. */
  close(): Promise<void>;
}

/** A new SDK client for `origin` (not logged in yet). */
export function createSdkClient(options: SdkClientOptions): SdkClient {
  const tone = createToneSource(
    options.frequency,
    options.amplitude === undefined ? {} : { amplitude: options.amplitude },
  );
  const wire = new SipWire();
  const eventWire = new SipWire();
  const http: HttpExchange[] = [];
  const confab = createNodeConfab({
    WebSocket: tappedWebSocketClass(wire, eventWire),
    wrtc,
    fetch: tappedFetch(http),
    getUserMedia: () =>
      options.refuseMedia === true
        ? Promise.reject(new DOMException('Permission denied', 'NotAllowedError'))
        : Promise.resolve(tone.createStream()),
  });
  confab.Auth.setHost(options.origin);
  const events: RecordedEvent[] = [];
  for (const name of Object.values(PhoneEvent)) {
    confab.Phone.on(name, (...args: unknown[]) => events.push({ name, args }));
  }
  let closing: Promise<void> | undefined;
  return {
    confab,
    tone,
    wire,
    eventWire,
    http,
    events,
    names: () => events.map((event) => event.name),
    next: <K extends PhoneEventName>(name: K) =>
      new Promise<PhoneEvents[K]>((resolve) => {
        confab.Phone.once(name, (...args: PhoneEvents[K]) => resolve(args));
      }),
    logIn: async (user) => {
      await confab.Auth.logIn(user.username, user.password);
      await confab.Phone.connect({ iceGatheringTimeout: 1000 });
    },
    close: () => {
      closing ??= (async () => {
        await confab.Phone.disconnect();
        await confab.Auth.logout().catch(() => undefined);
        tone.stop();
      })();
      return closing;
    },
  };
}

/** Places a call from `caller` to `number`; resolves once `callee` saw it ring. */
export async function ring(
  caller: SdkClient,
  callee: SdkClient,
  number: string,
): Promise<{ outgoing: CallSession; incoming: CallSession }> {
  const incoming = callee.next(PhoneEvent.ON_CALL_INCOMING);
  const outgoing = await caller.confab.Phone.call(number);
  const [callSession] = await incoming;
  return { outgoing, incoming: callSession };
}

/** The rejection reason of `promise`; fails if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** Records the client's event-websocket events named `names`, in arrival order. */
export function recordBusEvents(client: SdkClient, names: readonly string[]): BusEvent[] {
  const bus: BusEvent[] = [];
  for (const name of names) {
    client.confab.Websocket.on(name, (event) => bus.push(event));
  }
  return bus;
}

/** Logs `client` in as `user` and waits until its event websocket is initialized. */
export async function logInWithEvents(client: SdkClient, user: Credentials): Promise<void> {
  const { Websocket } = client.confab;
  const initialized = new Promise<void>((resolve) =>
    Websocket.once(Websocket.INITIALIZED, () => resolve()),
  );
  await client.logIn(user);
  await initialized;
}

/** The events of `bus` named `name` (and of the SIP dialog `sipCallId`, if given). */
export function busEventsNamed(
  bus: readonly BusEvent[],
  name: string,
  sipCallId?: string,
): BusEvent[] {
  return bus.filter(
    (e) => e.name === name && (sipCallId === undefined || e.data['sip_call_id'] === sipCallId),
  );
}

/** A test's teardown: stops the tone sinks and closes the clients, emptying both lists. */
export async function closeAll(clients: SdkClient[], sinks: ToneSink[] = []): Promise<void> {
  for (const sink of sinks.splice(0)) {
    sink.stop();
  }
  await Promise.all(clients.splice(0).map(async (client) => client.close()));
}
