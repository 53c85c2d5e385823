/**
 * A minimal plain RTP SIP phone over UDP on 127.0.0.1 for the merge-latency benchmark: REGISTER
 * and INVITE with digest authentication (RFC 3261 §22), answers incoming INVITEs at once,
 * answers re-INVITE, UPDATE, BYE, OPTIONS with 200, and one PCMU RTP stream per call that sends
 * a tone (the phone's own frequency) every 20 ms and watches what it receives for one
 * frequency: the arrival time of the first 20 ms packet holding it is recorded
 * (`performance.now()`, the clock of the benchmark process).
 *
 * Loopback does not lose datagrams, so there are no retransmission timers; a retransmitted
 * INVITE is answered again.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { buildAuthorization } from '@confab/sip';
import { decodeMulaw, encodeMulaw, ToneGenerator, toneAmplitude } from '@confab/media';

interface SipText {
  startLine: string;
  headers: Map<string, string[]>;
  body: string;
}

function parse(text: string): SipText {
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? '' : text.slice(split + 4);
  const [startLine = '', ...lines] = head.split('\r\n');
  const headers = new Map<string, string[]>();
  const compact: Record<string, string> = {
    v: 'via',
    f: 'from',
    t: 'to',
    i: 'call-id',
    m: 'contact',
    l: 'content-length',
    c: 'content-type',
  };
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon < 0) {
      continue;
    }
    let name = line.slice(0, colon).trim().toLowerCase();
    name = compact[name] ?? name;
    const list = headers.get(name) ?? [];
    list.push(line.slice(colon + 1).trim());
    headers.set(name, list);
  }
  return { startLine, headers, body };
}

const header = (message: SipText, name: string): string => message.headers.get(name)?.[0] ?? '';
const tagOf = (value: string): string | undefined => /;\s*tag=([^;>\s]+)/i.exec(value)?.[1];
const uriOf = (value: string): string => /<([^>]+)>/.exec(value)?.[1] ?? value.split(';')[0]!;
const token = (): string => randomBytes(6).toString('hex');

/** The RTP side of one call: PCMU, 20 ms. */
export class RtpStream {
  readonly socket: dgram.Socket;
  readonly #tone: ToneGenerator;
  readonly #ssrc = randomBytes(4).readUInt32BE(0);
  #sequence = randomBytes(2).readUInt16BE(0);
  #timestamp = randomBytes(4).readUInt32BE(0);
  remote: { address: string; port: number } | undefined;
  received = 0;
  /** The frequency watched in received packets, and when it first arrived. */
  watch: { frequency: number; since: number; firstAt: number | undefined } | undefined;

  constructor(socket: dgram.Socket, frequency: number) {
    this.socket = socket;
    this.#tone = new ToneGenerator({ frequency, sampleRate: 8000, amplitude: 6000 });
    socket.on('message', (data, rinfo) => {
      const type = data[1] ?? 0;
      if (data.length < 12 || (type >= 200 && type <= 204)) {
        return;
      }
      const at = performance.now();
      this.received++;
      const watch = this.watch;
      if (watch && watch.firstAt === undefined && (data[1]! & 0x7f) === 0) {
        const offset = 12 + (data[0]! & 0x0f) * 4;
        const pcm = decodeMulaw(data.subarray(offset));
        // A whole 20 ms packet: a tone at a multiple of 50 Hz is one exact DFT bin.
        if (toneAmplitude(pcm, 8000, watch.frequency) >= 1000) {
          watch.firstAt = at;
        }
      }
      void rinfo;
    });
  }

  static async open(frequency: number): Promise<RtpStream> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        resolve();
      });
    });
    return new RtpStream(socket, frequency);
  }

  get port(): number {
    return this.socket.address().port;
  }

  sendFrame(): void {
    if (!this.remote) {
      return;
    }
    const payload = encodeMulaw(this.#tone.next(160));
    const packet = Buffer.allocUnsafe(12 + payload.length);
    packet[0] = 0x80;
    packet[1] = 0;
    packet.writeUInt16BE(this.#sequence, 2);
    packet.writeUInt32BE(this.#timestamp, 4);
    packet.writeUInt32BE(this.#ssrc, 8);
    packet.set(payload, 12);
    this.#sequence = (this.#sequence + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + 160) >>> 0;
    this.socket.send(packet, this.remote.port, this.remote.address);
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }
}

/** One dialog of a phone. */
export interface PhoneCall {
  callId: string;
  localTag: string;
  remoteTag: string | undefined;
  /** The remote target (Contact) for in-dialog requests. */
  remoteTarget: string;
  localUri: string;
  remoteUri: string;
  cseq: number;
  rtp: RtpStream;
  ended: boolean;
  /** The last 200 to an INVITE, re-sent on a retransmission. */
  lastInviteResponse?: { cseq: string; text: string };
}

function remoteOf(sdp: string): { address: string; port: number } | undefined {
  const port = /^m=audio (\d+) /m.exec(sdp)?.[1];
  const address = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1];
  return port === undefined || address === undefined ? undefined : { address, port: Number(port) };
}

export interface SipPhoneOptions {
  username: string;
  password: string;
  extension: string;
  frequency: number;
  server: { address: string; port: number };
  domain: string;
}

export class SipPhone {
  readonly options: SipPhoneOptions;
  readonly calls = new Map<string, PhoneCall>();
  readonly #socket: dgram.Socket;
  readonly #waiting = new Map<string, (response: SipText) => void>();
  #incoming: ((call: PhoneCall) => void)[] = [];

  private constructor(socket: dgram.Socket, options: SipPhoneOptions) {
    this.#socket = socket;
    this.options = options;
    socket.on('message', (data) => {
      this.#receive(data.toString('utf8'));
    });
  }

  static async open(options: SipPhoneOptions): Promise<SipPhone> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => {
      socket.bind(0, '127.0.0.1', () => {
        resolve();
      });
    });
    return new SipPhone(socket, options);
  }

  get #contact(): string {
    return `<sip:${this.options.username}@127.0.0.1:${this.#socket.address().port}>`;
  }

  get #aor(): string {
    return `sip:${this.options.username}@${this.options.domain}`;
  }

  #send(text: string): void {
    this.#socket.send(text, this.options.server.port, this.options.server.address);
  }

  #sdp(rtp: RtpStream): string {
    return [
      'v=0',
      `o=${this.options.username} 1 1 IN IP4 127.0.0.1`,
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${rtp.port} RTP/AVP 0`,
      'a=rtpmap:0 PCMU/8000',
      'a=sendrecv',
      '',
    ].join('\r\n');
  }

  #request(
    method: string,
    uri: string,
    call: { callId: string; localTag: string; remoteTag?: string | undefined; toUri: string },
    cseq: number,
    extra: string[] = [],
    body = '',
  ): { text: string; key: string } {
    const branch = `z9hG4bK${token()}`;
    const lines = [
      `${method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.#socket.address().port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <${this.#aor}>;tag=${call.localTag}`,
      `To: <${call.toUri}>${call.remoteTag ? `;tag=${call.remoteTag}` : ''}`,
      `Call-ID: ${call.callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: ${this.#contact}`,
      ...extra,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    return { text: lines.join('\r\n'), key: `${call.callId} ${cseq} ${method}` };
  }

  /** Sends a request and resolves with its final response (provisional ones are skipped). */
  #transact(text: string, key: string, timeoutMs = 10_000): Promise<SipText> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new Error(`no final response to ${key}`));
      }, timeoutMs);
      this.#waiting.set(key, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      this.#send(text);
    });
  }

  async register(): Promise<void> {
    const call = { callId: token(), localTag: token(), toUri: this.#aor };
    const uri = `sip:${this.options.domain}`;
    let cseq = 1;
    let extra = ['Expires: 3600'];
    for (let attempt = 0; attempt < 2; attempt++) {
      const request = this.#request('REGISTER', uri, call, cseq, extra);
      const response = await this.#transact(request.text, request.key);
      const status = Number(response.startLine.split(' ')[1]);
      if (status === 200) {
        return;
      }
      const challenge = header(response, 'www-authenticate');
      if (status !== 401 || !challenge) {
        throw new Error(`REGISTER: ${response.startLine}`);
      }
      cseq++;
      extra = [
        'Expires: 3600',
        `Authorization: ${buildAuthorization(challenge, { username: this.options.username, password: this.options.password, method: 'REGISTER', uri })}`,
      ];
    }
    throw new Error('REGISTER: authentication refused');
  }

  /** Calls `extension`; resolves once answered (200 OK acknowledged). */
  async call(extension: string, frequency: number): Promise<PhoneCall> {
    const rtp = await RtpStream.open(frequency);
    const toUri = `sip:${extension}@${this.options.domain}`;
    const dialog = { callId: token(), localTag: token(), toUri };
    const body = this.#sdp(rtp);
    let cseq = 1;
    let extra: string[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const request = this.#request('INVITE', toUri, dialog, cseq, extra, body);
      const response = await this.#transact(request.text, request.key, 20_000);
      const status = Number(response.startLine.split(' ')[1]);
      const to = header(response, 'to');
      if (status >= 300) {
        // RFC 3261 §17.1.1.3: the ACK of a non-2xx final response reuses the INVITE's branch.
        const via = request.text.split('\r\n')[1]!;
        this.#send(
          [
            `ACK ${toUri} SIP/2.0`,
            via,
            'Max-Forwards: 70',
            `From: <${this.#aor}>;tag=${dialog.localTag}`,
            `To: ${to}`,
            `Call-ID: ${dialog.callId}`,
            `CSeq: ${cseq} ACK`,
            'Content-Length: 0',
            '',
            '',
          ].join('\r\n'),
        );
        const challenge =
          header(response, 'proxy-authenticate') || header(response, 'www-authenticate');
        if ((status !== 401 && status !== 407) || !challenge || attempt > 0) {
          rtp.close();
          throw new Error(`INVITE ${extension}: ${response.startLine}`);
        }
        const name = status === 407 ? 'Proxy-Authorization' : 'Authorization';
        extra = [
          `${name}: ${buildAuthorization(challenge, { username: this.options.username, password: this.options.password, method: 'INVITE', uri: toUri })}`,
        ];
        cseq++;
        continue;
      }
      const call: PhoneCall = {
        callId: dialog.callId,
        localTag: dialog.localTag,
        remoteTag: tagOf(to),
        remoteTarget: uriOf(header(response, 'contact')) || toUri,
        localUri: this.#aor,
        remoteUri: toUri,
        cseq,
        rtp,
        ended: false,
      };
      rtp.remote = remoteOf(response.body);
      this.calls.set(call.callId, call);
      const ack = this.#request(
        'ACK',
        call.remoteTarget,
        { ...dialog, remoteTag: call.remoteTag },
        cseq,
      );
      this.#send(ack.text);
      return call;
    }
    rtp.close();
    throw new Error(`INVITE ${extension}: authentication refused`);
  }

  /** Resolves with the next incoming call (answered at once). */
  nextIncoming(): Promise<PhoneCall> {
    return new Promise((resolve) => {
      this.#incoming.push(resolve);
    });
  }

  async hangup(call: PhoneCall): Promise<void> {
    if (call.ended) {
      return;
    }
    call.ended = true;
    call.rtp.close();
    call.cseq++;
    const bye = this.#request(
      'BYE',
      call.remoteTarget,
      {
        callId: call.callId,
        localTag: call.localTag,
        remoteTag: call.remoteTag,
        toUri: call.remoteUri,
      },
      call.cseq,
    );
    await this.#transact(bye.text, bye.key, 5000).catch(() => undefined);
    this.calls.delete(call.callId);
  }

  /** Sends one frame on every live call. */
  sendFrames(): void {
    for (const call of this.calls.values()) {
      if (!call.ended) {
        call.rtp.sendFrame();
      }
    }
  }

  #respond(
    request: SipText,
    status: string,
    extra: string[] = [],
    body = '',
    toTag?: string,
  ): string {
    const to = header(request, 'to');
    const lines = [
      `SIP/2.0 ${status}`,
      ...(request.headers.get('via') ?? []).map((via) => `Via: ${via}`),
      `From: ${header(request, 'from')}`,
      `To: ${to}${toTag && !tagOf(to) ? `;tag=${toTag}` : ''}`,
      `Call-ID: ${header(request, 'call-id')}`,
      `CSeq: ${header(request, 'cseq')}`,
      `Contact: ${this.#contact}`,
      ...extra,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    const text = lines.join('\r\n');
    this.#send(text);
    return text;
  }

  #receive(text: string): void {
    const message = parse(text);
    if (message.startLine.startsWith('SIP/2.0')) {
      const status = Number(message.startLine.split(' ')[1]);
      if (status < 200) {
        return;
      }
      const [num, method] = header(message, 'cseq').split(/\s+/);
      const key = `${header(message, 'call-id')} ${num} ${method}`;
      const waiter = this.#waiting.get(key);
      this.#waiting.delete(key);
      waiter?.(message);
      return;
    }
    const method = message.startLine.split(' ')[0]!;
    const callId = header(message, 'call-id');
    const call = this.calls.get(callId);
    switch (method) {
      case 'INVITE': {
        if (call) {
          const cseq = header(message, 'cseq');
          if (call.lastInviteResponse?.cseq === cseq) {
            this.#send(call.lastInviteResponse.text);
            return;
          }
          // A re-INVITE: follow the new remote address, keep ours.
          call.rtp.remote = remoteOf(message.body) ?? call.rtp.remote;
          const response = this.#respond(message, '200 OK', [], this.#sdp(call.rtp), call.localTag);
          call.lastInviteResponse = { cseq, text: response };
          return;
        }
        void this.#answer(message);
        return;
      }
      case 'ACK':
        return;
      case 'BYE':
        this.#respond(message, '200 OK');
        if (call) {
          call.ended = true;
          call.rtp.close();
          this.calls.delete(callId);
        }
        return;
      default:
        this.#respond(message, '200 OK');
    }
  }

  async #answer(invite: SipText): Promise<void> {
    const callId = header(invite, 'call-id');
    const rtp = await RtpStream.open(this.options.frequency);
    const localTag = token();
    const from = header(invite, 'from');
    const call: PhoneCall = {
      callId,
      localTag,
      remoteTag: tagOf(from),
      remoteTarget: uriOf(header(invite, 'contact')),
      localUri: uriOf(header(invite, 'to')),
      remoteUri: uriOf(from),
      cseq: 0,
      rtp,
      ended: false,
    };
    rtp.remote = remoteOf(invite.body);
    this.calls.set(callId, call);
    const response = this.#respond(invite, '200 OK', [], this.#sdp(rtp), localTag);
    call.lastInviteResponse = { cseq: header(invite, 'cseq'), text: response };
    this.#incoming.shift()?.(call);
  }

  close(): void {
    for (const call of this.calls.values()) {
      call.rtp.close();
    }
    this.#socket.close();
  }
}
