/**
 * A stand-in SIP server for client tests, until the real Confab server can be used: a digest
 * registrar plus a transparent relay between two registered SIP-over-WebSocket clients.
 *
 * It is deliberately not a B2BUA. Requests and responses pass through unchanged (same Call-ID
 * and Via on both sides; media flows peer to peer), except that it:
 * - answers REGISTER with a 401 digest challenge, then 200/403 (RFC 3261 §10, §22.4);
 * - challenges initial INVITEs with 407 when asked to, and absorbs the ACK of its own final
 *   responses (§17.1.1.3);
 * - routes an initial INVITE by extension to the callee's registered Contact (rewriting the
 *   Request-URI, also for the matching CANCEL, §9.1);
 * - adds `X-Wazo-Call-ID` to the INVITE sent to the callee and to 18x/2xx sent to the caller,
 *   as the Confab server does (one id per side);
 * - shows the caller to the callee by extension (the From user of the INVITE it relays becomes
 *   the caller's extension instead of its SIP username; dialogs match on tags, not URIs).
 *
 * Every message is recorded in `trace` so tests can assert what went over the wire.
 */
import { createHash, randomBytes } from 'node:crypto';

/** A user the hub knows. */
export interface HubAccount {
  /** SIP digest username (also the AOR user part). */
  username: string;
  password: string;
  /** Dialable number routed to this account's registration. */
  extension: string;
}

/** Options of {@link SipHub}. */
export interface SipHubOptions {
  /** Digest realm. @default 'confab' */
  realm?: string;
  /** Challenge initial INVITEs with 407. @default true */
  challengeInvites?: boolean;
  /** Also put `X-Wazo-Call-ID` on 18x responses (always on 2xx). @default true */
  callIdOnProvisional?: boolean;
}

/** The hub's way to reach one client. */
export interface HubLink {
  send(text: string): void;
  close(): void;
}

/** What the transport gives the hub for one client connection. */
export interface HubConnection {
  receive(text: string): void;
  closed(): void;
}

/** One recorded message. */
export interface TraceEntry {
  /** `from` is the client link name (`client#n`), or `hub` for messages the hub made. */
  from: string;
  to: string;
  startLine: string;
  callId: string;
  text: string;
}

interface Message {
  startLine: string;
  headers: [string, string][];
  body: string;
}

interface Registration {
  contact: string;
  link: LinkState;
}

interface LinkState {
  name: string;
  link: HubLink;
}

interface Dialog {
  caller: LinkState;
  callee: LinkState;
  extension: string;
  calleeContact: string;
  callerLegId: string;
  calleeLegId: string;
}

const COMPACT: Record<string, string> = {
  i: 'call-id',
  v: 'via',
  f: 'from',
  t: 'to',
  m: 'contact',
  l: 'content-length',
  c: 'content-type',
};

function parse(text: string): Message | undefined {
  const split = text.indexOf('\r\n\r\n');
  const head = split === -1 ? text : text.slice(0, split);
  const body = split === -1 ? '' : text.slice(split + 4);
  const [startLine, ...lines] = head.split('\r\n');
  if (startLine === undefined || startLine === '') {
    return undefined;
  }
  const headers: [string, string][] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
  }
  return { startLine, headers, body };
}

function header(message: Message, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of message.headers) {
    const lower = key.toLowerCase();
    if (lower === wanted || COMPACT[lower] === wanted) {
      return value;
    }
  }
  return undefined;
}

function headerAll(message: Message, name: string): string[] {
  const wanted = name.toLowerCase();
  return message.headers
    .filter(([key]) => key.toLowerCase() === wanted || COMPACT[key.toLowerCase()] === wanted)
    .map(([, value]) => value);
}

function serialize(message: Message): string {
  const headers = message.headers.filter(([key]) => {
    const lower = key.toLowerCase();
    return lower !== 'content-length' && lower !== 'l';
  });
  headers.push(['Content-Length', String(Buffer.byteLength(message.body))]);
  return `${message.startLine}\r\n${headers.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${message.body}`;
}

function isRequest(message: Message): boolean {
  return !message.startLine.startsWith('SIP/2.0 ');
}

function methodOf(message: Message): string {
  return message.startLine.split(' ')[0] ?? '';
}

function statusOf(message: Message): number {
  return Number(message.startLine.split(' ')[1]);
}

/** The user part of the first SIP URI in `value` (`"Bob" <sip:bob@host>;tag=x` → `bob`). */
function uriUser(value: string | undefined): string | undefined {
  return value === undefined ? undefined : /sips?:([^@;>\s]+)@/i.exec(value)?.[1];
}

function cseq(message: Message): { number: string; method: string } {
  const [number = '', method = ''] = (header(message, 'cseq') ?? '').split(/\s+/);
  return { number, method };
}

function md5(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

function digestParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/g;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    params.set(m[1]!.toLowerCase(), m[2] ?? m[3] ?? '');
  }
  return params;
}

export class SipHub {
  readonly trace: TraceEntry[] = [];
  readonly #accounts: HubAccount[];
  readonly #realm: string;
  readonly #challengeInvites: boolean;
  readonly #callIdOnProvisional: boolean;
  readonly #registrations = new Map<string, Registration>();
  readonly #dialogs = new Map<string, Dialog>();
  /** `callId/cseq` of INVITEs the hub answered itself: their ACK stops here. */
  readonly #answeredHere = new Set<string>();
  readonly #nonces = new Set<string>();
  #links = 0;
  #legIds = 0;

  constructor(accounts: HubAccount[], options: SipHubOptions = {}) {
    this.#accounts = accounts;
    this.#realm = options.realm ?? 'confab';
    this.#challengeInvites = options.challengeInvites ?? true;
    this.#callIdOnProvisional = options.callIdOnProvisional ?? true;
  }

  /** Attaches a client connection. */
  connect(link: HubLink): HubConnection {
    const state: LinkState = { name: `client#${++this.#links}`, link };
    return {
      receive: (text) => this.#receive(state, text),
      closed: () => {
        for (const [username, registration] of this.#registrations) {
          if (registration.link === state) {
            this.#registrations.delete(username);
          }
        }
      },
    };
  }

  /** Whether `username` has a live registration. */
  isRegistered(username: string): boolean {
    return this.#registrations.has(username);
  }

  /** Start lines of the recorded messages of one dialog, in order. */
  dialogTrace(callId: string): string[] {
    return this.trace
      .filter((e) => e.callId === callId)
      .map((e) => `${e.from}->${e.to} ${e.startLine}`);
  }

  #receive(from: LinkState, text: string): void {
    const message = parse(text);
    if (message === undefined) {
      return;
    }
    this.#record(from.name, 'hub', message, text);
    if (isRequest(message)) {
      this.#onRequest(from, message);
    } else {
      this.#onResponse(from, message);
    }
  }

  #record(from: string, to: string, message: Message, text: string): void {
    this.trace.push({
      from,
      to,
      startLine: message.startLine,
      callId: header(message, 'call-id') ?? '',
      text,
    });
  }

  #send(to: LinkState, message: Message): void {
    const text = serialize(message);
    this.#record('hub', to.name, message, text);
    to.link.send(text);
  }

  #respond(
    to: LinkState,
    request: Message,
    status: number,
    reason: string,
    extra: [string, string][] = [],
  ): void {
    const headers: [string, string][] = [];
    for (const via of headerAll(request, 'via')) {
      headers.push(['Via', via]);
    }
    headers.push(['From', header(request, 'from') ?? '']);
    let toValue = header(request, 'to') ?? '';
    if (status > 100 && !/;\s*tag=/i.test(toValue)) {
      toValue += `;tag=${randomBytes(4).toString('hex')}`;
    }
    headers.push(
      ['To', toValue],
      ['Call-ID', header(request, 'call-id') ?? ''],
      ['CSeq', header(request, 'cseq') ?? ''],
    );
    headers.push(...extra);
    if (methodOf(request) === 'INVITE' && status >= 300) {
      this.#answeredHere.add(`${header(request, 'call-id')}/${cseq(request).number}`);
    }
    this.#send(to, { startLine: `SIP/2.0 ${status} ${reason}`, headers, body: '' });
  }

  #challenge(from: LinkState, request: Message, proxy: boolean): void {
    const nonce = randomBytes(16).toString('hex');
    this.#nonces.add(nonce);
    const value = `Digest realm="${this.#realm}", nonce="${nonce}", algorithm=MD5, qop="auth"`;
    if (proxy) {
      this.#respond(from, request, 407, 'Proxy Authentication Required', [
        ['Proxy-Authenticate', value],
      ]);
    } else {
      this.#respond(from, request, 401, 'Unauthorized', [['WWW-Authenticate', value]]);
    }
  }

  /** The account whose digest credentials `request` carries, if they are right. */
  #authenticate(request: Message, headerName: string): HubAccount | undefined {
    const value = header(request, headerName);
    if (value === undefined) {
      return undefined;
    }
    const p = digestParams(value.replace(/^Digest\s+/i, ''));
    const account = this.#accounts.find((a) => a.username === p.get('username'));
    const nonce = p.get('nonce') ?? '';
    if (account === undefined || !this.#nonces.has(nonce)) {
      return undefined;
    }
    const ha1 = md5(`${account.username}:${this.#realm}:${account.password}`);
    const ha2 = md5(`${methodOf(request)}:${p.get('uri') ?? ''}`);
    const qop = p.get('qop');
    const expected = qop
      ? md5(`${ha1}:${nonce}:${p.get('nc') ?? ''}:${p.get('cnonce') ?? ''}:${qop}:${ha2}`)
      : md5(`${ha1}:${nonce}:${ha2}`);
    return expected === p.get('response') ? account : undefined;
  }

  #onRequest(from: LinkState, request: Message): void {
    const method = methodOf(request);
    const callId = header(request, 'call-id') ?? '';
    const toHasTag = /;\s*tag=/i.test(header(request, 'to') ?? '');
    switch (method) {
      case 'REGISTER':
        this.#onRegister(from, request);
        return;
      case 'OPTIONS':
        this.#respond(from, request, 200, 'OK');
        return;
      case 'ACK':
        if (this.#answeredHere.delete(`${callId}/${cseq(request).number}`)) {
          return;
        }
        break;
      case 'INVITE':
        if (!toHasTag) {
          this.#onInitialInvite(from, request);
          return;
        }
        break;
      default:
        break;
    }
    const dialog = this.#dialogs.get(callId);
    if (dialog === undefined) {
      if (method !== 'ACK') {
        this.#respond(from, request, 481, 'Call/Transaction Does Not Exist');
      }
      return;
    }
    const to = from === dialog.caller ? dialog.callee : dialog.caller;
    if (from === dialog.caller && uriUser(request.startLine) === dialog.extension) {
      // CANCEL and non-2xx ACK reuse the INVITE's Request-URI (RFC 3261 §9.1, §17.1.1.3).
      request.startLine = `${method} ${dialog.calleeContact} SIP/2.0`;
    }
    this.#send(to, request);
  }

  #onRegister(from: LinkState, request: Message): void {
    if (header(request, 'authorization') === undefined) {
      this.#challenge(from, request, false);
      return;
    }
    const account = this.#authenticate(request, 'authorization');
    if (account === undefined || account.username !== uriUser(header(request, 'to'))) {
      this.#respond(from, request, 403, 'Forbidden');
      return;
    }
    const contactHeader = header(request, 'contact') ?? '';
    const contact = /<([^>]+)>/.exec(contactHeader)?.[1] ?? contactHeader.split(';')[0] ?? '';
    const expiresParam = /;\s*expires=(\d+)/i.exec(contactHeader)?.[1];
    const expires = Number(expiresParam ?? header(request, 'expires') ?? '600');
    if (expires === 0 || contactHeader === '*') {
      this.#registrations.delete(account.username);
      this.#respond(from, request, 200, 'OK');
      return;
    }
    this.#registrations.set(account.username, { contact, link: from });
    this.#respond(from, request, 200, 'OK', [
      ['Contact', `<${contact}>;expires=${expires}`],
      ['Expires', String(expires)],
    ]);
  }

  #onInitialInvite(from: LinkState, request: Message): void {
    const callId = header(request, 'call-id') ?? '';
    if (this.#challengeInvites) {
      if (header(request, 'proxy-authorization') === undefined) {
        this.#challenge(from, request, true);
        return;
      }
      if (this.#authenticate(request, 'proxy-authorization') === undefined) {
        this.#respond(from, request, 403, 'Forbidden');
        return;
      }
    }
    const extension = uriUser(request.startLine) ?? '';
    const account = this.#accounts.find((a) => a.extension === extension);
    if (account === undefined) {
      this.#respond(from, request, 404, 'Not Found');
      return;
    }
    const registration = this.#registrations.get(account.username);
    if (registration === undefined) {
      this.#respond(from, request, 480, 'Temporarily Unavailable');
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const dialog: Dialog = {
      caller: from,
      callee: registration.link,
      extension,
      calleeContact: registration.contact,
      callerLegId: `${now}.${++this.#legIds}`,
      calleeLegId: `${now}.${++this.#legIds}`,
    };
    this.#dialogs.set(callId, dialog);
    // The caller hears 100 Trying from the "server" (RFC 3261 §16.2 step: hop-by-hop).
    this.#respond(from, request, 100, 'Trying');
    request.startLine = `INVITE ${registration.contact} SIP/2.0`;
    const caller = this.#accounts.find((a) => a.username === uriUser(header(request, 'from')));
    if (caller !== undefined) {
      request.headers = request.headers.map(([key, value]) =>
        key.toLowerCase() === 'from' || key.toLowerCase() === 'f'
          ? [key, value.replace(`:${caller.username}@`, `:${caller.extension}@`)]
          : [key, value],
      );
    }
    request.headers.push(['X-Wazo-Call-ID', dialog.calleeLegId]);
    this.#send(registration.link, request);
  }

  #onResponse(from: LinkState, response: Message): void {
    const callId = header(response, 'call-id') ?? '';
    const dialog = this.#dialogs.get(callId);
    if (dialog === undefined) {
      return;
    }
    const status = statusOf(response);
    // 100 Trying is hop-by-hop: the hub already sent its own.
    if (status === 100) {
      return;
    }
    const to = from === dialog.caller ? dialog.callee : dialog.caller;
    const tagged = status >= 200 || this.#callIdOnProvisional;
    if (
      to === dialog.caller &&
      cseq(response).method === 'INVITE' &&
      status > 100 &&
      status < 300 &&
      tagged
    ) {
      response.headers.push(['X-Wazo-Call-ID', dialog.callerLegId]);
    }
    this.#send(to, response);
  }
}

/** A WebSocket-shaped object connected in memory to a {@link SipHub} (for unit tests). */
export class MemorySocket {
  readyState = 0;
  protocol = '';
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  readonly url: string;
  #connection: HubConnection | undefined;

  constructor(hub: SipHub, url: string, protocols: string[], options: { refuse?: boolean } = {}) {
    this.url = url;
    setTimeout(() => {
      if (this.readyState !== 0) {
        return;
      }
      if (options.refuse === true || !protocols.includes('sip')) {
        this.readyState = 3;
        this.onerror?.({});
        this.onclose?.({ code: 1006, reason: 'refused' });
        return;
      }
      this.protocol = 'sip';
      this.readyState = 1;
      this.#connection = hub.connect({
        send: (text) =>
          setTimeout(() => {
            if (this.readyState === 1) {
              this.onmessage?.({ data: text });
            }
          }, 0),
        close: () => this.#closed(1000, 'closed by hub'),
      });
      this.onopen?.({});
    }, 0);
  }

  send(data: string): void {
    if (this.readyState !== 1) {
      throw new Error('MemorySocket: not open');
    }
    const connection = this.#connection;
    setTimeout(() => connection?.receive(data), 0);
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState >= 2) {
      return;
    }
    this.readyState = 2;
    setTimeout(() => this.#closed(code, reason), 0);
  }

  /** Simulates a network drop: the server side goes away. */
  drop(): void {
    this.#closed(1006, 'dropped');
  }

  #closed(code: number, reason: string): void {
    if (this.readyState === 3) {
      return;
    }
    this.readyState = 3;
    this.#connection?.closed();
    this.onclose?.({ code, reason });
  }
}
