/**
 * CallControl when a step of an incoming call fails after SIP messages already went out: the
 * failure ends the call cleanly (right response or BYE, nothing left behind) and never escapes
 * as an unhandled promise rejection. A fake SIP stack and media engine record what is sent.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidStateError, TypedEmitter, silentLogger } from '@confab/core';
import {
  FakeClock,
  TransactionState,
  createResponse,
  parseMessage,
  setBody,
  type ServerTransaction,
  type SipRequest,
  type SipResponse,
} from '@confab/sip';
import type { SipStack } from '../src/sip/stack.js';
import type { SipAuthenticator } from '../src/telephony/authenticator.js';
import { CallControl } from '../src/telephony/call-control.js';
import type { Channel } from '../src/telephony/channel.js';
import type { Binding, Registrar } from '../src/telephony/registrar.js';
import { MemoryStore } from './api.fixtures.js';
import { recordingMedia } from './calls.fixtures.js';

const FLOW = { protocol: 'UDP', remoteAddress: '127.0.0.1', remotePort: 5070 } as const;

function parseRequest(text: string): SipRequest {
  const message = parseMessage(new TextEncoder().encode(text));
  if (message.type !== 'request') {
    throw new Error('not a request');
  }
  return message;
}

function aliceInvite(): SipRequest {
  const sdp = 'v=0\r\n';
  return parseRequest(
    [
      'INVITE sip:1002@confab.test SIP/2.0',
      'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKalice1',
      'From: "Alice" <sip:alice@confab.test>;tag=a1',
      'To: <sip:1002@confab.test>',
      'Call-ID: failures-test',
      'CSeq: 1 INVITE',
      'Contact: <sip:alice@127.0.0.1:5070>',
      'Max-Forwards: 70',
      'Content-Type: application/sdp',
      `Content-Length: ${sdp.length}`,
      '',
      sdp,
    ].join('\r\n'),
  );
}

/**
 * An INVITE server transaction that records its responses and, like the real one, refuses a
 * response once past Proceeding (§17.2.1). `refuse2xx` makes it refuse the 200 as well.
 */
class FakeInviteTransaction {
  readonly method = 'INVITE';
  readonly flow = FLOW;
  readonly request = aliceInvite();
  state: TransactionState = TransactionState.Proceeding;
  readonly statuses: number[] = [];
  refuse2xx = false;

  respond(response: SipResponse): void {
    const { status } = response;
    if (this.state !== TransactionState.Proceeding || (this.refuse2xx && status < 300)) {
      throw new InvalidStateError(`cannot send ${status} in state ${this.state}`);
    }
    this.statuses.push(status);
    if (status >= 300) {
      this.state = TransactionState.Completed;
    } else if (status >= 200) {
      this.state = TransactionState.Accepted;
    }
  }
}

function setUp(authenticate?: (tx: ServerTransaction) => Promise<unknown>) {
  const store = new MemoryStore();
  const alice = store.addUser({ username: 'alice', password: 'x', firstname: 'Alice' });
  const bob = store.addUser({ username: 'bob', password: 'x', firstname: 'Bob' });
  const aliceLine = store.addLine({ userUuid: alice.uuid, extension: '1001', webrtc: false });
  store.addLine({ userUuid: bob.uuid, extension: '1002', webrtc: false });
  const binding = {
    webrtc: false,
    contactUri: {
      scheme: 'sip',
      user: 'bob',
      password: undefined,
      host: '127.0.0.1',
      port: 5080,
      params: new Map(),
      headers: new Map(),
    },
    flow: { protocol: 'UDP', remoteAddress: '127.0.0.1', remotePort: 5080 },
  } as unknown as Binding;
  /** Requests we sent, in order: `METHOD user` (then the Reason, if any). */
  const sent: string[] = [];
  const forks: { invite: SipRequest; tx: TypedEmitter<{ response: [SipResponse] }> }[] = [];
  const record = (request: SipRequest): void => {
    const reason = request.headers.get('Reason');
    const head = `${request.method} ${request.uri.user ?? ''}`;
    sent.push(reason === undefined ? head : `${head} ${reason}`);
  };
  const stack = {
    userAgent: 'test',
    contactUri: () => 'sip:ch@127.0.0.1',
    respond: (tx: ServerTransaction, status: number) => {
      tx.respond(createResponse(tx.request, status, undefined, { toTag: 'srv' }));
    },
    sendRequest: (request: SipRequest) => {
      record(request);
      const tx = new TypedEmitter<{ response: [SipResponse] }>();
      if (request.method === 'INVITE') {
        forks.push({ invite: request, tx });
      }
      return tx;
    },
    sendAck: record,
    sendDirect: () => undefined,
    transactions: { sendRequest: record },
    registerDialog: () => undefined,
    unregisterDialog: () => undefined,
    retireDialog: () => undefined,
  } as unknown as SipStack;
  const { media, closed, legCount } = recordingMedia();
  const authenticator = {
    authenticate: authenticate ?? (() => Promise.resolve({ line: aliceLine })),
  } as unknown as SipAuthenticator;
  const control = new CallControl({
    stack,
    store,
    registrar: { contactsFor: () => [binding], aorHosts: [] } as unknown as Registrar,
    authenticator,
    media,
    clock: new FakeClock(Date.UTC(2026, 4, 5)),
    logger: silentLogger,
    domain: 'confab.test',
  });
  const ended: Channel[] = [];
  control.on('channelEnded', (channel) => ended.push(channel));
  /** Bob's device answers the fork's INVITE with 200 and an SDP answer. */
  const bobAnswers = (): void => {
    const fork = forks[0];
    if (!fork) {
      throw new Error('no fork INVITE was sent');
    }
    const ok = createResponse(fork.invite, 200, undefined, { toTag: 'bob' });
    ok.headers.set('Contact', '<sip:bob@127.0.0.1:5080>');
    setBody(ok, 'v=0\r\n', 'application/sdp');
    fork.tx.emit('response', ok);
  };
  return { control, sent, closed, ended, bobAnswers, legCount };
}

/** Rejections nobody handled while the test ran. */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

/** Lets pending promise callbacks and Node's unhandled-rejection check run. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('CallControl: a failure after the callee answered', () => {
  it('sends the answered fork a BYE after its ACK, hangs the caller up with cause 41, and leaves no channel, bridge or leg', async () => {
    const { control, sent, closed, ended, bobAnswers, legCount } = setUp();
    const tx = new FakeInviteTransaction();
    await control.handleInvite(tx as unknown as ServerTransaction);
    expect(control.channels.size).toBe(2);
    // Answering the caller fails: its INVITE transaction refuses the 200.
    tx.refuse2xx = true;
    bobAnswers();
    await settle();

    expect(unhandled).toEqual([]);
    // The caller's channel counts as answered once the 200 was attempted: it is ended by BYE.
    expect(sent).toEqual([
      'INVITE bob',
      'ACK bob',
      'BYE bob Q.850;cause=41',
      'BYE alice Q.850;cause=41',
    ]);
    expect(ended.map((channel) => channel.hangupCause)).toEqual([41, 41]);
    expect(control.channels.size).toBe(0);
    expect(control.bridges.size).toBe(0);
    expect(closed.sort()).toEqual(['leg-1', 'leg-2']);
    expect(legCount()).toBe(2);
  });
});

describe('CallControl: a failure after the INVITE got its final response', () => {
  it('sends no second final response and does not reject', async () => {
    // The INVITE is answered (401 here), then the handling fails.
    const { control, closed } = setUp((tx) => {
      tx.respond(createResponse(tx.request, 401, undefined, { toTag: 'srv' }));
      return Promise.reject(new Error('store went away'));
    });
    const tx = new FakeInviteTransaction();
    await expect(control.handleInvite(tx as unknown as ServerTransaction)).resolves.toBeUndefined();
    await settle();
    expect(tx.statuses).toEqual([401]);
    expect(unhandled).toEqual([]);
    expect(control.channels.size).toBe(0);
    expect(closed).toEqual([]);
  });

  it('answers 500 when the handling fails before any final response', async () => {
    const { control } = setUp(() => Promise.reject(new Error('store went away')));
    const tx = new FakeInviteTransaction();
    await control.handleInvite(tx as unknown as ServerTransaction);
    expect(tx.statuses).toEqual([500]);
  });
});
