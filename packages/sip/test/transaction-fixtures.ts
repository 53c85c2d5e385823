/**
 * Shared fixtures of the transaction and dialog tests: hand-built messages, flows and a
 * transaction layer on a FakeClock whose transport records what is sent.
 */
import { FakeClock } from '../src/clock.js';
import { SipHeaders } from '../src/headers.js';
import { SipRequest, type SipMessage, type SipResponse } from '../src/message.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import { createResponse } from '../src/transaction/messages.js';
import type { TransactionTimerOptions } from '../src/transaction/timers.js';
import type { Flow } from '../src/transport.js';
import { parseUri } from '../src/uri-parser.js';

export const UDP: Flow = { protocol: 'UDP', remoteAddress: '192.0.2.10', remotePort: 5060 };
export const TCP: Flow = {
  protocol: 'TCP',
  remoteAddress: '192.0.2.10',
  remotePort: 5060,
  connectionId: 'c1',
};

export interface RequestSpec {
  readonly branch?: string;
  readonly sentBy?: string;
  readonly transport?: string;
  readonly cseq?: number;
  readonly callId?: string;
  readonly fromTag?: string;
  readonly toTag?: string;
  readonly uri?: string;
  /** `null` leaves the header out. */
  readonly via?: string | null;
  readonly cseqHeader?: string | null;
  readonly extraVia?: readonly string[];
  readonly headers?: readonly (readonly [string, string])[];
}

/** A request from alice@atlanta.example to bob@biloxi.example (RFC 3665 style). */
export function makeRequest(method: string, spec: RequestSpec = {}): SipRequest {
  const headers = new SipHeaders();
  const via =
    spec.via === undefined
      ? `SIP/2.0/${spec.transport ?? 'UDP'} ${spec.sentBy ?? 'pc33.atlanta.example'};branch=${spec.branch ?? 'z9hG4bK776asdhds'}`
      : spec.via;
  if (via !== null) {
    headers.append('Via', via);
  }
  for (const extra of spec.extraVia ?? []) {
    headers.append('Via', extra);
  }
  headers.set('Max-Forwards', '70');
  headers.set(
    'To',
    `Bob <sip:bob@biloxi.example>${spec.toTag === undefined ? '' : `;tag=${spec.toTag}`}`,
  );
  headers.set('From', `Alice <sip:alice@atlanta.example>;tag=${spec.fromTag ?? '1928301774'}`);
  headers.set('Call-ID', spec.callId ?? 'a84b4c76e66710@pc33.atlanta.example');
  const cseqHeader =
    spec.cseqHeader === undefined ? `${spec.cseq ?? 314159} ${method}` : spec.cseqHeader;
  if (cseqHeader !== null) {
    headers.set('CSeq', cseqHeader);
  }
  headers.set('Contact', '<sip:alice@pc33.atlanta.example>');
  for (const [name, value] of spec.headers ?? []) {
    headers.append(name, value);
  }
  return new SipRequest(method, parseUri(spec.uri ?? 'sip:bob@biloxi.example'), headers);
}

/** A response to `request` as the peer would send it (To tag added for status > 100). */
export function respondTo(request: SipRequest, status: number, toTag = 'a6c85cf'): SipResponse {
  const response = createResponse(request, status, undefined, { toTag });
  if (status >= 200 && status < 300 && request.method === 'INVITE') {
    response.headers.set('Contact', '<sip:bob@192.0.2.4>');
  }
  return response;
}

export interface Sent {
  readonly message: SipMessage;
  readonly flow: Flow;
}

/** A layer on a FakeClock whose `send` records messages, or throws while `failSends` is set. */
export function makeLayer(timers?: TransactionTimerOptions) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const state = { failSends: false };
  const layer = new TransactionLayer({
    clock,
    ...(timers === undefined ? {} : { timers }),
    send: (message, flow) => {
      if (state.failSends) {
        throw new Error('ECONNRESET');
      }
      sent.push({ message, flow });
    },
  });
  /** Messages sent so far, as `"INVITE"` or `"486"` labels. */
  const labels = (): string[] =>
    sent.map(({ message }) =>
      message.type === 'request' ? message.method : String(message.status),
    );
  return { clock, sent, layer, labels, state };
}

/** The last message sent, asserting its kind. */
export function lastSent(sent: readonly Sent[]): SipMessage {
  const last = sent.at(-1);
  if (!last) {
    throw new Error('nothing was sent');
  }
  return last.message;
}
