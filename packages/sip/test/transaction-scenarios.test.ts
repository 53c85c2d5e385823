/**
 * Two transaction layers (Alice's UAC, Bob's UAS) talking over an in-memory UDP network with
 * 10 ms latency and scripted losses, asserting the message sequence on the wire.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../src/clock.js';
import { Dialog } from '../src/dialog.js';
import type { SipMessage, SipRequest } from '../src/message.js';
import { TransactionLayer } from '../src/transaction/layer.js';
import { createCancel, createResponse } from '../src/transaction/messages.js';
import type { ServerTransaction } from '../src/transaction/types.js';
import { Uas2xxRetransmitter } from '../src/transaction/uas-2xx.js';
import type { Flow } from '../src/transport.js';
import { makeRequest } from './transaction-fixtures.js';

const ALICE: Flow = { protocol: 'UDP', remoteAddress: '192.0.2.1', remotePort: 5060 };
const BOB: Flow = { protocol: 'UDP', remoteAddress: '192.0.2.2', remotePort: 5060 };

function label(message: SipMessage): string {
  return message.type === 'request' ? message.method : `${message.status}`;
}

function network() {
  const clock = new FakeClock();
  const wire: string[] = [];
  const toDrop: string[] = [];
  const transmit = (from: 'alice' | 'bob', message: SipMessage): void => {
    const name = `${from === 'alice' ? 'A→B' : 'B→A'} ${label(message)}`;
    const dropIndex = toDrop.indexOf(name);
    if (dropIndex !== -1) {
      toDrop.splice(dropIndex, 1);
      wire.push(`${name} (lost)`);
      return;
    }
    wire.push(name);
    clock.setTimeout(() => {
      if (from === 'alice') {
        bob.receive(message, ALICE);
      } else {
        alice.receive(message, BOB);
      }
    }, 10);
  };
  const alice: TransactionLayer = new TransactionLayer({
    clock,
    send: (message) => transmit('alice', message),
  });
  const bob: TransactionLayer = new TransactionLayer({
    clock,
    send: (message) => transmit('bob', message),
  });
  return {
    clock,
    wire,
    alice,
    bob,
    /** Sends outside any transaction (ACK for 2xx, 2xx retransmissions). */
    direct: transmit,
    /** Loses the next message matching e.g. `"A→B ACK"`. */
    lose: (name: string) => toDrop.push(name),
  };
}

/** Bob's server transactions, by method, as they arrive. */
function collect(layer: TransactionLayer): ServerTransaction[] {
  const txs: ServerTransaction[] = [];
  layer.on('request', (tx) => txs.push(tx));
  return txs;
}

describe('two UAs over a lossy network', () => {
  it('her UA should send ACK for 486 Busy Here and his transaction should absorb it', () => {
    const net = network();
    net.bob.on('request', (tx) => {
      tx.respond(createResponse(tx.request, 486, undefined, { toTag: 'bob' }));
    });
    const tx = net.alice.sendRequest(makeRequest('INVITE', { branch: 'z9hG4bKcall1' }), BOB);
    net.clock.advance(100);
    expect(net.wire).toEqual(['A→B INVITE', 'B→A 486', 'A→B ACK']);
    expect(tx.state).toBe('Completed');
    net.clock.advance(40_000);
    expect(net.wire).toHaveLength(3);
    expect(net.alice.clientTransactionCount + net.bob.serverTransactionCount).toBe(0);
  });

  it('her UA should ACK again when the 486 is retransmitted because the first ACK was lost', () => {
    const net = network();
    const bobTxs = collect(net.bob);
    net.bob.on('request', (tx) => {
      tx.respond(createResponse(tx.request, 486, undefined, { toTag: 'bob' }));
    });
    net.lose('A→B ACK');
    net.alice.sendRequest(makeRequest('INVITE', { branch: 'z9hG4bKcall2' }), BOB);
    net.clock.advance(1000);
    expect(net.wire).toEqual(['A→B INVITE', 'B→A 486', 'A→B ACK (lost)', 'B→A 486', 'A→B ACK']);
    expect(bobTxs[0]?.state).toBe('Confirmed');
  });

  it('his UA should see one INVITE when the first one is lost and Timer A retransmits it', () => {
    const net = network();
    const bobTxs = collect(net.bob);
    net.lose('A→B INVITE');
    net.alice.sendRequest(makeRequest('INVITE', { branch: 'z9hG4bKcall3' }), BOB);
    net.clock.advance(600);
    expect(bobTxs).toHaveLength(1);
    // Bob's automatic 100 Trying (200 ms) reaches Alice before Timer A fires again at 1500 ms.
    net.clock.advance(10_000);
    expect(net.wire).toEqual(['A→B INVITE (lost)', 'A→B INVITE', 'B→A 100']);
    expect(bobTxs).toHaveLength(1);
  });

  it('a CANCEL should make his UA answer 200 to the CANCEL and 487 to the INVITE, which her UA ACKs', () => {
    const net = network();
    net.bob.on('request', (tx) => {
      if (tx.method === 'INVITE') {
        tx.respond(createResponse(tx.request, 180, undefined, { toTag: 'bob' }));
        return;
      }
      // §9.2: answer the CANCEL, then end the INVITE with 487.
      const invite = net.bob.findInviteServerTransaction(tx.request);
      tx.respond(createResponse(tx.request, invite ? 200 : 481));
      invite?.respond(createResponse(invite.request, 487, undefined, { toTag: 'bob' }));
    });
    const invite = makeRequest('INVITE', { branch: 'z9hG4bKcall4' });
    const inviteTx = net.alice.sendRequest(invite, BOB);
    const statuses: number[] = [];
    inviteTx.on('response', (response) => {
      statuses.push(response.status);
      if (response.status === 180) {
        net.alice.sendRequest(createCancel(invite), BOB);
      }
    });
    net.clock.advance(200);
    expect(net.wire).toEqual([
      'A→B INVITE',
      'B→A 180',
      'A→B CANCEL',
      'B→A 200',
      'B→A 487',
      'A→B ACK',
    ]);
    expect(statuses).toEqual([180, 487]);
  });

  it('his UA should retransmit the 2xx until her ACK arrives, and her UA should re-ACK each 2xx', () => {
    const net = network();
    let retransmitter: Uas2xxRetransmitter | undefined;
    net.bob.on('request', (tx) => {
      const ok = createResponse(tx.request, 200, undefined, {
        toTag: 'bob',
        headers: [['Contact', '<sip:bob@192.0.2.2>']],
      });
      tx.respond(ok);
      retransmitter = new Uas2xxRetransmitter({
        clock: net.clock,
        retransmit: () => net.direct('bob', ok),
      });
      retransmitter.start();
    });
    net.bob.on('ack', () => retransmitter?.acknowledge());
    const invite: SipRequest = makeRequest('INVITE', { branch: 'z9hG4bKcall5' });
    const inviteTx = net.alice.sendRequest(invite, BOB);
    inviteTx.on('response', (response) => {
      // The UAC core ACKs every 2xx (§13.2.2.4); RFC 6026 routes retransmissions here.
      const dialog = Dialog.fromUacResponse(invite, response);
      net.direct('alice', dialog.createRequest('ACK'));
    });
    net.lose('A→B ACK');
    net.clock.advance(2000);
    expect(net.wire).toEqual(['A→B INVITE', 'B→A 200', 'A→B ACK (lost)', 'B→A 200', 'A→B ACK']);
    expect(retransmitter?.state).toBe('Acknowledged');
  });
});
