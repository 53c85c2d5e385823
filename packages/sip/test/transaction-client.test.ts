import { describe, expect, it } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import type { SipRequest, SipResponse } from '../src/message.js';
import { createCancel } from '../src/transaction/messages.js';
import type { Flow } from '../src/transport.js';
import type { TransactionState } from '../src/transaction/types.js';
import { TCP, UDP, lastSent, makeLayer, makeRequest, respondTo } from './transaction-fixtures.js';

const T1 = 500;

/** A layer that has sent one request in a client transaction. */
function clientSetup(method: string, flow: Flow = UDP) {
  const harness = makeLayer();
  const request = makeRequest(method, {
    transport: flow.protocol,
    branch: 'z9hG4bKclient1',
    headers: [['Route', '<sip:proxy.atlanta.example;lr>']],
  });
  const tx = harness.layer.sendRequest(request, flow);
  const responses: number[] = [];
  tx.on('response', (response) => responses.push(response.status));
  const states: TransactionState[] = [];
  tx.on('stateChanged', (_from, to) => states.push(to));
  const events: string[] = [];
  tx.on('timeout', () => events.push('timeout'));
  tx.on('terminated', () => events.push('terminated'));
  tx.on('transportError', () => events.push('transportError'));
  return { ...harness, request, tx, responses, states, events };
}

/** Times (ms) at which `sent` grew while advancing the clock in 100 ms steps up to `until`. */
function sendTimes(
  clock: { advance(ms: number): void; now(): number },
  sent: readonly unknown[],
  until: number,
) {
  const times: number[] = [];
  let count = sent.length;
  while (clock.now() < until) {
    clock.advance(100);
    if (sent.length > count) {
      times.push(clock.now());
      count = sent.length;
    }
  }
  return times;
}

function threw(fn: () => void): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2)', () => {
  it('sends the INVITE and retransmits it with Timer A (doubling, no T2 cap) until Timer B', () => {
    const { clock, sent, tx, events, labels } = clientSetup('INVITE');
    expect(tx.state).toBe('Calling');
    expect(tx.kind).toBe('invite');
    expect(labels()).toEqual(['INVITE']);
    expect(sendTimes(clock, sent, 64 * T1)).toEqual([500, 1500, 3500, 7500, 15500, 31500]);
    expect(events).toEqual(['timeout', 'terminated']);
    expect(tx.state).toBe('Terminated');
  });

  it('stops retransmitting and disarms Timer B on a provisional response', () => {
    const { layer, clock, request, sent, tx, responses, events } = clientSetup('INVITE');
    clock.advance(T1);
    layer.receive(respondTo(request, 180), UDP);
    expect(tx.state).toBe('Proceeding');
    expect(responses).toEqual([180]);
    const count = sent.length;
    clock.advance(180_000);
    expect(sent).toHaveLength(count);
    expect(events).toEqual([]);
    layer.receive(respondTo(request, 183), UDP);
    expect(responses).toEqual([180, 183]);
  });

  it('her UA should send ACK for a 486 itself, with the response To tag and the INVITE branch (§17.1.1.3)', () => {
    const { layer, request, sent, tx, responses } = clientSetup('INVITE');
    layer.receive(respondTo(request, 486, 'callee-tag'), UDP);
    expect(responses).toEqual([486]);
    expect(tx.state).toBe('Completed');
    const ack = lastSent(sent) as SipRequest;
    expect(ack.method).toBe('ACK');
    expect(ack.uri).toEqual(request.uri);
    expect(ack.headers.getAll('Via')).toEqual([request.headers.get('Via')]);
    expect(ack.headers.get('To')).toBe('Bob <sip:bob@biloxi.example>;tag=callee-tag');
    expect(ack.headers.get('From')).toBe(request.headers.get('From'));
    expect(ack.headers.get('Call-ID')).toBe(request.headers.get('Call-ID'));
    expect(ack.headers.get('CSeq')).toBe('314159 ACK');
    expect(ack.headers.getAll('Route')).toEqual(['<sip:proxy.atlanta.example;lr>']);
    expect(ack.body).toHaveLength(0);
  });

  it('ACKs a retransmitted final response again without passing it up, until Timer D', () => {
    const { layer, clock, request, labels, responses, states } = clientSetup('INVITE');
    const busy = respondTo(request, 486);
    layer.receive(busy, UDP);
    clock.advance(1000);
    layer.receive(busy, UDP);
    expect(labels()).toEqual(['INVITE', 'ACK', 'ACK']);
    expect(responses).toEqual([486]);
    clock.advance(32_000 - 1000 - 1);
    expect(states).toEqual(['Completed']);
    clock.advance(1);
    expect(states).toEqual(['Completed', 'Terminated']);
  });

  it('passes the 2xx to the TU and enters Accepted without sending ACK', () => {
    const { layer, request, labels, responses, tx } = clientSetup('INVITE');
    layer.receive(respondTo(request, 200), UDP);
    expect(tx.state).toBe('Accepted');
    expect(responses).toEqual([200]);
    expect(labels()).toEqual(['INVITE']);
  });

  it('passes every further 2xx (retransmissions and forks) to the TU while Accepted, then Timer M', () => {
    const { layer, clock, request, responses, states } = clientSetup('INVITE');
    const ok = respondTo(request, 200, 'fork-1');
    layer.receive(ok, UDP);
    layer.receive(ok, UDP);
    layer.receive(respondTo(request, 200, 'fork-2'), UDP);
    layer.receive(respondTo(request, 486, 'fork-3'), UDP);
    layer.receive(respondTo(request, 180, 'fork-4'), UDP);
    expect(responses).toEqual([200, 200, 200]);
    clock.advance(64 * T1 - 1);
    expect(states).toEqual(['Accepted']);
    clock.advance(1);
    expect(states).toEqual(['Accepted', 'Terminated']);
  });

  it('hands a 2xx arriving after Timer M to the layer as a stray response (§13.2.2.4)', () => {
    const { layer, clock, request, responses } = clientSetup('INVITE');
    const strays: SipResponse[] = [];
    layer.on('response', (response) => strays.push(response));
    const ok = respondTo(request, 200);
    layer.receive(ok, UDP);
    clock.advance(64 * T1);
    layer.receive(ok, UDP);
    expect(responses).toEqual([200]);
    expect(strays).toEqual([ok]);
  });

  it('times out 64*T1 after a CANCEL when no final response comes (§9.1)', () => {
    const { layer, clock, request, tx, events } = clientSetup('INVITE');
    layer.receive(respondTo(request, 180), UDP);
    clock.advance(60_000);
    layer.sendRequest(createCancel(request), UDP);
    clock.advance(64 * T1 - 1);
    expect(tx.state).toBe('Proceeding');
    clock.advance(1);
    expect(events).toEqual(['timeout', 'terminated']);
  });

  it('is not timed out after a CANCEL when the 487 arrives', () => {
    const { layer, clock, request, events, responses } = clientSetup('INVITE');
    layer.receive(respondTo(request, 180), UDP);
    layer.sendRequest(createCancel(request), UDP);
    layer.receive(respondTo(request, 487), UDP);
    clock.advance(64 * T1);
    expect(responses).toEqual([180, 487]);
    expect(events).toEqual(['terminated']);
  });

  it('does not retransmit over a reliable transport, but Timer B still fires', () => {
    const { clock, sent, events } = clientSetup('INVITE', TCP);
    expect(sendTimes(clock, sent, 64 * T1)).toEqual([]);
    expect(events).toEqual(['timeout', 'terminated']);
  });

  it('terminates right after ACKing a final response over a reliable transport (Timer D = 0)', () => {
    const { layer, request, labels, states } = clientSetup('INVITE', TCP);
    layer.receive(respondTo(request, 603), TCP);
    expect(labels()).toEqual(['INVITE', 'ACK']);
    expect(states).toEqual(['Completed', 'Terminated']);
  });

  it('reports a failure of the first send on the next tick, to listeners attached after sendRequest', () => {
    const { layer, clock, state } = makeLayer();
    state.failSends = true;
    const tx = layer.sendRequest(makeRequest('INVITE'), UDP);
    const events: string[] = [];
    tx.on('transportError', (error) => events.push(`transportError:${(error as Error).message}`));
    tx.on('terminated', () => events.push('terminated'));
    expect(events).toEqual([]);
    clock.advance(0);
    expect(events).toEqual(['transportError:ECONNRESET', 'terminated']);
    expect(layer.clientTransactionCount).toBe(0);
  });

  it('reports a transport error when the ACK cannot be sent', () => {
    const { layer, request, state, events, responses } = clientSetup('INVITE');
    state.failSends = true;
    layer.receive(respondTo(request, 486), UDP);
    expect(events).toEqual(['transportError', 'terminated']);
    expect(responses).toEqual([]);
  });

  it('reports a transport error on a Timer A retransmission', () => {
    const { clock, state, events } = clientSetup('INVITE');
    state.failSends = true;
    clock.advance(T1);
    expect(events).toEqual(['transportError', 'terminated']);
  });
});

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  it('retransmits with Timer E (doubling, capped at T2) until Timer F times out', () => {
    const { clock, sent, events, tx } = clientSetup('REGISTER');
    expect(tx.state).toBe('Trying');
    expect(tx.kind).toBe('non-invite');
    expect(sendTimes(clock, sent, 64 * T1)).toEqual([
      500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500,
    ]);
    expect(events).toEqual(['timeout', 'terminated']);
  });

  it('retransmits every T2 in Proceeding, and Timer F still applies', () => {
    const { layer, clock, sent, request, tx, responses, events } = clientSetup('BYE');
    clock.advance(100);
    layer.receive(respondTo(request, 100), UDP);
    expect(tx.state).toBe('Proceeding');
    expect(responses).toEqual([100]);
    expect(sendTimes(clock, sent, 64 * T1)).toEqual([
      500, 4500, 8500, 12500, 16500, 20500, 24500, 28500,
    ]);
    expect(events).toEqual(['timeout', 'terminated']);
  });

  it('passes the final response up once and absorbs its retransmissions until Timer K', () => {
    const { layer, clock, request, responses, states, labels } = clientSetup('OPTIONS');
    const ok = respondTo(request, 200);
    layer.receive(ok, UDP);
    layer.receive(ok, UDP);
    expect(responses).toEqual([200]);
    clock.advance(4999);
    expect(states).toEqual(['Completed']);
    clock.advance(1);
    expect(states).toEqual(['Completed', 'Terminated']);
    expect(labels()).toEqual(['OPTIONS']);
  });

  it('does not retransmit over a reliable transport and terminates on the final response (Timer K = 0)', () => {
    const { layer, clock, sent, request, states } = clientSetup('REGISTER', TCP);
    clock.advance(10_000);
    expect(sent).toHaveLength(1);
    layer.receive(respondTo(request, 401), TCP);
    expect(states).toEqual(['Completed', 'Terminated']);
  });

  it('times out with Timer F over a reliable transport', () => {
    const { clock, events } = clientSetup('REGISTER', TCP);
    clock.advance(64 * T1);
    expect(events).toEqual(['timeout', 'terminated']);
  });

  it('reports a transport error on a Timer E retransmission', () => {
    const { clock, state, events } = clientSetup('OPTIONS');
    state.failSends = true;
    clock.advance(T1);
    expect(events).toEqual(['transportError', 'terminated']);
  });
});

describe('client transaction matching (RFC 3261 §17.1.3)', () => {
  it('matches by branch and CSeq method: a 200 to CANCEL does not reach the INVITE transaction', () => {
    const harness = makeLayer();
    const invite = makeRequest('INVITE', { branch: 'z9hG4bKshared' });
    const inviteTx = harness.layer.sendRequest(invite, UDP);
    const cancel = makeRequest('CANCEL', { branch: 'z9hG4bKshared' });
    const cancelTx = harness.layer.sendRequest(cancel, UDP);
    const seen: string[] = [];
    inviteTx.on('response', (response) => seen.push(`invite:${response.status}`));
    cancelTx.on('response', (response) => seen.push(`cancel:${response.status}`));
    harness.layer.receive(respondTo(cancel, 200), UDP);
    harness.layer.receive(respondTo(invite, 487), UDP);
    expect(seen).toEqual(['cancel:200', 'invite:487']);
  });

  it('hands a response with an unknown branch to the TU', () => {
    const { layer, request } = clientSetup('INVITE');
    const strays: SipResponse[] = [];
    layer.on('response', (response) => strays.push(response));
    const other = respondTo(makeRequest('INVITE', { branch: 'z9hG4bKunknown' }), 200);
    layer.receive(other, UDP);
    const noCookie = respondTo(makeRequest('INVITE', { branch: 'old' }), 200);
    layer.receive(noCookie, UDP);
    expect(strays).toEqual([other, noCookie]);
    expect(request.method).toBe('INVITE');
  });
});

describe('TransactionLayer.sendRequest', () => {
  it('rejects an ACK, a branch without magic cookie, a missing Via, a CSeq method mismatch and a reused branch', () => {
    const { layer } = makeLayer();
    expect(threw(() => layer.sendRequest(makeRequest('ACK'), UDP))).toBeInstanceOf(TypeError);
    expect(
      threw(() => layer.sendRequest(makeRequest('INVITE', { branch: 'abc' }), UDP)),
    ).toBeInstanceOf(TypeError);
    expect(
      threw(() => layer.sendRequest(makeRequest('INVITE', { via: null }), UDP)),
    ).toBeInstanceOf(TypeError);
    expect(
      threw(() =>
        layer.sendRequest(makeRequest('INVITE', { cseqHeader: '1 BYE', branch: 'z9hG4bKx1' }), UDP),
      ),
    ).toBeInstanceOf(TypeError);
    layer.sendRequest(makeRequest('INVITE', { branch: 'z9hG4bKdup' }), UDP);
    expect(
      threw(() => layer.sendRequest(makeRequest('INVITE', { branch: 'z9hG4bKdup' }), UDP)),
    ).toBeInstanceOf(TypeError);
  });
});

describe('TransactionLayer.receive robustness', () => {
  it.each([
    ['a request without Via', makeRequest('INVITE', { via: null })],
    ['a request without CSeq', makeRequest('INVITE', { cseqHeader: null })],
    ['a request with a malformed Via', makeRequest('INVITE', { via: 'garbage' })],
    ['a request with a malformed CSeq', makeRequest('INVITE', { cseqHeader: 'one INVITE' })],
    ['a response without Via', respondTo(makeRequest('INVITE', { via: null }), 200)],
    ['a response without CSeq', respondTo(makeRequest('INVITE', { cseqHeader: null }), 200)],
  ])('logs and drops %s without throwing', (_name, message) => {
    const { layer, sent } = makeLayer();
    const events: string[] = [];
    layer.on('request', () => events.push('request'));
    layer.on('ack', () => events.push('ack'));
    layer.on('response', () => events.push('response'));
    expect(() => {
      layer.receive(message, UDP);
    }).not.toThrow();
    expect(events).toEqual([]);
    expect(sent).toEqual([]);
  });
});

describe('TransactionLayer.close', () => {
  it('terminates every transaction, cancels every timer and is idempotent', () => {
    const { layer, clock, request, events } = clientSetup('INVITE');
    const serverTxs: string[] = [];
    layer.on('request', (tx) => {
      tx.on('terminated', () => serverTxs.push(tx.method));
    });
    layer.receive(makeRequest('OPTIONS', { branch: 'z9hG4bKopt' }), UDP);
    expect(layer.clientTransactionCount).toBe(1);
    expect(layer.serverTransactionCount).toBe(1);
    layer.close();
    layer.close();
    expect(serverTxs).toEqual(['OPTIONS']);
    expect(layer.clientTransactionCount).toBe(0);
    expect(layer.serverTransactionCount).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(layer.closed).toBe(true);
    expect(events).toEqual(['terminated']);
    expect(isInvalidStateError(threw(() => layer.sendRequest(request, UDP)))).toBe(true);
  });

  it('ignores messages received after close', () => {
    const { layer } = makeLayer();
    const events: unknown[] = [];
    layer.on('request', (tx) => events.push(tx));
    layer.close();
    layer.receive(makeRequest('INVITE'), UDP);
    expect(events).toEqual([]);
  });
});
