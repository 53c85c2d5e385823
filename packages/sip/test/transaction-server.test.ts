import { describe, expect, it } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import type { SipResponse } from '../src/message.js';
import { createResponse } from '../src/transaction/messages.js';
import type { ServerTransaction, TransactionState } from '../src/transaction/types.js';
import { TCP, UDP, lastSent, makeLayer, makeRequest, respondTo } from './transaction-fixtures.js';

const T1 = 500;

/** A layer with one new server transaction for `method` received on `flow`. */
function serverSetup(method: string, flow = UDP) {
  const harness = makeLayer();
  const requests: ServerTransaction[] = [];
  harness.layer.on('request', (tx) => requests.push(tx));
  const request = makeRequest(method, { transport: flow.protocol });
  harness.layer.receive(request, flow);
  const tx = requests[0];
  if (!tx) {
    throw new Error('no server transaction');
  }
  const states: TransactionState[] = [];
  tx.on('stateChanged', (_from, to) => states.push(to));
  const events: string[] = [];
  tx.on('timeout', () => events.push('timeout'));
  tx.on('terminated', () => events.push('terminated'));
  tx.on('transportError', () => events.push('transportError'));
  return { ...harness, request, requests, tx, states, events };
}

function threw(fn: () => void): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1)', () => {
  it('reports a new INVITE once and absorbs its retransmissions before any response', () => {
    const { layer, request, requests, sent, tx } = serverSetup('INVITE');
    layer.receive(request, UDP);
    layer.receive(request, UDP);
    expect(requests).toHaveLength(1);
    expect(sent).toHaveLength(0);
    expect(tx.kind).toBe('invite');
    expect(tx.method).toBe('INVITE');
    expect(tx.state).toBe('Proceeding');
    expect(tx.flow).toBe(UDP);
  });

  it('sends 100 Trying by itself when the TU has not answered within 200 ms', () => {
    const { clock, sent, request } = serverSetup('INVITE');
    request.headers.set('Timestamp', '54');
    clock.advance(199);
    expect(sent).toHaveLength(0);
    clock.advance(1);
    const trying = lastSent(sent) as SipResponse;
    expect(trying.status).toBe(100);
    expect(trying.headers.get('To')).toBe('Bob <sip:bob@biloxi.example>');
    expect(trying.headers.get('Timestamp')).toBe('54');
    expect(trying.headers.get('CSeq')).toBe('314159 INVITE');
  });

  it('does not send 100 Trying when the TU sent a provisional response in time', () => {
    const { clock, tx, request, labels } = serverSetup('INVITE');
    clock.advance(150);
    tx.respond(respondTo(request, 180));
    clock.advance(1000);
    expect(labels()).toEqual(['180']);
  });

  it('resends the last provisional response when the INVITE is retransmitted in Proceeding', () => {
    const { layer, tx, request, labels } = serverSetup('INVITE');
    tx.respond(respondTo(request, 180));
    tx.respond(respondTo(request, 183));
    layer.receive(request, UDP);
    expect(labels()).toEqual(['180', '183', '183']);
  });

  it('retransmits a 3xx-6xx with Timer G (T1 doubling, capped at T2) until Timer H times out', () => {
    const { clock, tx, request, sent, states, events } = serverSetup('INVITE');
    tx.respond(respondTo(request, 486));
    expect(tx.state).toBe('Completed');
    const times: number[] = [];
    const count = sent.length;
    for (let t = 0; t < 64 * T1; t += 100) {
      clock.advance(100);
      if (sent.length > count + times.length) {
        times.push(clock.now());
      }
    }
    expect(times).toEqual([500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(events).toEqual(['timeout', 'terminated']);
    expect(states).toEqual(['Completed', 'Terminated']);
  });

  it('resends the final response when the INVITE is retransmitted in Completed', () => {
    const { layer, tx, request, labels } = serverSetup('INVITE');
    tx.respond(respondTo(request, 404));
    layer.receive(request, UDP);
    expect(labels()).toEqual(['404', '404']);
  });

  it('absorbs the ACK for a non-2xx: Confirmed, no more retransmissions, Timer I then Terminated', () => {
    const { layer, clock, tx, request, labels, states, events } = serverSetup('INVITE');
    const acks: unknown[] = [];
    layer.on('ack', (ack) => acks.push(ack));
    tx.respond(respondTo(request, 486));
    clock.advance(T1);
    const ack = makeRequest('ACK', { toTag: 'a6c85cf' });
    layer.receive(ack, UDP);
    expect(tx.state).toBe('Confirmed');
    layer.receive(ack, UDP);
    expect(acks).toHaveLength(0);
    clock.advance(4999);
    expect(tx.state).toBe('Confirmed');
    clock.advance(1);
    expect(states).toEqual(['Completed', 'Confirmed', 'Terminated']);
    expect(events).toEqual(['terminated']);
    expect(labels()).toEqual(['486', '486']);
    expect(layer.serverTransactionCount).toBe(0);
  });

  it('on 2xx enters Accepted, absorbs INVITE retransmissions and ends with Timer L', () => {
    const { layer, clock, tx, request, labels, states } = serverSetup('INVITE');
    const ok = respondTo(request, 200);
    tx.respond(ok);
    expect(tx.state).toBe('Accepted');
    layer.receive(request, UDP);
    expect(labels()).toEqual(['200']);
    // RFC 6026 §7.1: the TU's 2xx retransmissions pass through.
    tx.respond(ok);
    expect(labels()).toEqual(['200', '200']);
    clock.advance(64 * T1 - 1);
    expect(tx.state).toBe('Accepted');
    clock.advance(1);
    expect(states).toEqual(['Accepted', 'Terminated']);
  });

  it('hands the ACK for a 2xx to the TU (its own transaction, new branch)', () => {
    const { layer, tx, request } = serverSetup('INVITE');
    const acks: unknown[] = [];
    layer.on('ack', (ack, flow) => acks.push([ack, flow]));
    tx.respond(respondTo(request, 200));
    const ack = makeRequest('ACK', { branch: 'z9hG4bKnashds8', toTag: 'a6c85cf' });
    layer.receive(ack, UDP);
    expect(acks).toEqual([[ack, UDP]]);
    expect(tx.state).toBe('Accepted');
  });

  it('also hands an ACK reusing the INVITE branch to the TU while Accepted', () => {
    const { layer, tx, request } = serverSetup('INVITE');
    let acks = 0;
    layer.on('ack', () => acks++);
    tx.respond(respondTo(request, 200));
    layer.receive(makeRequest('ACK', { toTag: 'a6c85cf' }), UDP);
    expect(acks).toBe(1);
  });

  it('rejects a non-2xx in Accepted and any response after the final one with InvalidStateError', () => {
    const accepted = serverSetup('INVITE');
    accepted.tx.respond(respondTo(accepted.request, 200));
    expect(
      isInvalidStateError(threw(() => accepted.tx.respond(respondTo(accepted.request, 500)))),
    ).toBe(true);
    const completed = serverSetup('INVITE');
    completed.tx.respond(respondTo(completed.request, 486));
    expect(
      isInvalidStateError(threw(() => completed.tx.respond(respondTo(completed.request, 200)))),
    ).toBe(true);
    expect(
      isInvalidStateError(threw(() => completed.tx.respond(respondTo(completed.request, 180)))),
    ).toBe(true);
  });

  it('rejects a status outside 100-699 with RangeError', () => {
    const { tx, request } = serverSetup('INVITE');
    const bogus = respondTo(request, 200);
    bogus.status = 700;
    expect(threw(() => tx.respond(bogus))).toBeInstanceOf(RangeError);
  });

  it('does not retransmit on a reliable transport but still times out with Timer H', () => {
    const { clock, tx, request, labels, events } = serverSetup('INVITE', TCP);
    tx.respond(respondTo(request, 486));
    clock.advance(64 * T1 - 1);
    expect(labels()).toEqual(['486']);
    expect(tx.state).toBe('Completed');
    clock.advance(1);
    expect(events).toEqual(['timeout', 'terminated']);
  });

  it('terminates at once on the ACK over a reliable transport (Timer I = 0)', () => {
    const { layer, tx, request, states } = serverSetup('INVITE', TCP);
    tx.respond(respondTo(request, 486));
    layer.receive(makeRequest('ACK', { transport: 'TCP', toTag: 'a6c85cf' }), TCP);
    expect(states).toEqual(['Completed', 'Confirmed', 'Terminated']);
  });

  it('still sends 100 Trying over a reliable transport', () => {
    const { clock, labels } = serverSetup('INVITE', TCP);
    clock.advance(200);
    expect(labels()).toEqual(['100']);
  });

  it('reports a transport error on respond() without throwing, and terminates', () => {
    const { tx, request, state, events, states } = serverSetup('INVITE');
    state.failSends = true;
    tx.respond(respondTo(request, 486));
    expect(events).toEqual(['transportError', 'terminated']);
    expect(states).toEqual(['Terminated']);
  });

  it('reports a transport error on a Timer G retransmission', () => {
    const { clock, tx, request, state, events } = serverSetup('INVITE');
    tx.respond(respondTo(request, 486));
    state.failSends = true;
    clock.advance(T1);
    expect(events).toEqual(['transportError', 'terminated']);
  });

  it('reports a transport error on the automatic 100 Trying', () => {
    const { clock, state, events } = serverSetup('INVITE');
    state.failSends = true;
    clock.advance(200);
    expect(events).toEqual(['transportError', 'terminated']);
  });
});

describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  it('absorbs retransmissions in Trying', () => {
    const { layer, request, requests, sent, tx, clock } = serverSetup('BYE');
    layer.receive(request, UDP);
    clock.advance(1000);
    expect(requests).toHaveLength(1);
    expect(sent).toHaveLength(0);
    expect(tx.kind).toBe('non-invite');
    expect(tx.state).toBe('Trying');
  });

  it('moves to Proceeding on 1xx and resends it on a retransmission', () => {
    const { layer, request, tx, labels } = serverSetup('REGISTER');
    tx.respond(respondTo(request, 100));
    expect(tx.state).toBe('Proceeding');
    layer.receive(request, UDP);
    expect(labels()).toEqual(['100', '100']);
  });

  it('resends the final response on retransmissions until Timer J ends it', () => {
    const { layer, clock, request, tx, labels, states, requests } = serverSetup('BYE');
    tx.respond(respondTo(request, 200));
    expect(tx.state).toBe('Completed');
    expect(tx.lastResponse?.status).toBe(200);
    clock.advance(10_000);
    layer.receive(request, UDP);
    expect(labels()).toEqual(['200', '200']);
    clock.advance(64 * T1 - 10_000);
    expect(states).toEqual(['Completed', 'Terminated']);
    // Once the transaction is gone, the same request is new again.
    layer.receive(request, UDP);
    expect(requests).toHaveLength(2);
  });

  it('terminates at once after the final response over a reliable transport (Timer J = 0)', () => {
    const { tx, request, states, layer } = serverSetup('OPTIONS', TCP);
    tx.respond(respondTo(request, 200));
    expect(states).toEqual(['Completed', 'Terminated']);
    expect(layer.serverTransactionCount).toBe(0);
  });

  it('refuses a response after the final one', () => {
    const { tx, request } = serverSetup('BYE');
    tx.respond(respondTo(request, 200));
    expect(isInvalidStateError(threw(() => tx.respond(respondTo(request, 200))))).toBe(true);
  });

  it('reports a transport error and terminates', () => {
    const { tx, request, state, events } = serverSetup('BYE');
    state.failSends = true;
    tx.respond(respondTo(request, 200));
    expect(events).toEqual(['transportError', 'terminated']);
    expect(tx.state).toBe('Terminated');
  });
});

describe('server transaction matching (RFC 3261 §17.2.3, §9.2)', () => {
  it('keeps INVITEs with the same branch but another sent-by apart', () => {
    const { layer, requests } = serverSetup('INVITE');
    layer.receive(makeRequest('INVITE', { sentBy: 'pc34.atlanta.example' }), UDP);
    layer.receive(makeRequest('INVITE', { sentBy: 'pc33.atlanta.example:5070' }), UDP);
    expect(requests).toHaveLength(3);
  });

  it('gives CANCEL its own transaction and finds the INVITE transaction it targets', () => {
    const { layer, requests, tx } = serverSetup('INVITE');
    const cancel = makeRequest('CANCEL');
    layer.receive(cancel, UDP);
    expect(requests).toHaveLength(2);
    expect(requests[1]?.method).toBe('CANCEL');
    expect(requests[1]?.kind).toBe('non-invite');
    expect(layer.findInviteServerTransaction(cancel)).toBe(tx);
  });

  it('finds no INVITE transaction for a CANCEL with another branch or sent-by, or without Via', () => {
    const { layer } = serverSetup('INVITE');
    expect(
      layer.findInviteServerTransaction(makeRequest('CANCEL', { branch: 'z9hG4bKother' })),
    ).toBeUndefined();
    expect(
      layer.findInviteServerTransaction(makeRequest('CANCEL', { sentBy: 'elsewhere.example' })),
    ).toBeUndefined();
    expect(layer.findInviteServerTransaction(makeRequest('CANCEL', { via: null }))).toBeUndefined();
    expect(
      layer.findInviteServerTransaction(makeRequest('CANCEL', { branch: '1234' })),
    ).toBeUndefined();
  });

  it('finds no INVITE transaction for a CANCEL once it terminated', () => {
    const { layer, tx, request, clock } = serverSetup('INVITE');
    tx.respond(respondTo(request, 200));
    clock.advance(64 * T1);
    expect(layer.findInviteServerTransaction(makeRequest('CANCEL'))).toBeUndefined();
  });

  it('sends an ACK that matches no transaction to the TU', () => {
    const { layer } = makeLayer();
    const acks: unknown[] = [];
    layer.on('ack', (ack) => acks.push(ack));
    layer.receive(makeRequest('ACK', { toTag: 'x' }), UDP);
    expect(acks).toHaveLength(1);
  });

  it('treats requests without the magic cookie (RFC 2543) as new every time', () => {
    const { layer } = makeLayer();
    const requests: ServerTransaction[] = [];
    const acks: unknown[] = [];
    layer.on('request', (tx) => requests.push(tx));
    layer.on('ack', (ack) => acks.push(ack));
    const old = makeRequest('INVITE', { branch: '12345' });
    layer.receive(old, UDP);
    layer.receive(old, UDP);
    layer.receive(makeRequest('INVITE', { via: 'SIP/2.0/UDP pc33.atlanta.example' }), UDP);
    layer.receive(makeRequest('ACK', { branch: '12345' }), UDP);
    expect(requests).toHaveLength(3);
    expect(acks).toHaveLength(1);
    // They still work as transactions.
    requests[0]?.respond(createResponse(old, 486, undefined, { toTag: 't' }));
    expect(requests[0]?.state).toBe('Completed');
  });
});
