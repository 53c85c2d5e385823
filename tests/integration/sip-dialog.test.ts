/**
 * In-dialog edge cases, driven by a raw SIP caller (byte-level control that sipp lacks, e.g.
 * two overlapping re-INVITEs) towards a sipp desk phone that answers: RFC 3261 §14.2 glare
 * rules, §12.2.2 CSeq ordering and dialog matching, in-dialog OPTIONS/INFO, CANCEL and ACK
 * that match nothing.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SipResponse } from '@confab/sip';
import { addUser, startTestServer, type TestLine, type TestServer } from './support/server.js';
import { peerPort } from '../support/ports.js';
import {
  expectSippSuccess,
  registerLine,
  startCallee,
  statsOf,
  waitFor,
  type CalleeRun,
} from './support/sip-peers.js';
import {
  inDialog,
  newTestBranch,
  openUdp,
  pcmuOffer,
  placeCall,
  rawRequest,
  type RawCall,
  type WirePeer,
} from './support/sip-wire.js';

const SILENCE_MS = 300;

describe('in-dialog requests from a raw caller to a sipp desk phone (UDP)', () => {
  let test: TestServer;
  let caller: TestLine;
  let callee: TestLine;
  let nextExtension = 5100;
  let peer: WirePeer;
  let phone: CalleeRun;

  beforeAll(async () => {
    test = await startTestServer();
    caller = await addUser(test.server, 'rawcaller', '5000');
  });

  beforeEach(async () => {
    // A fresh line per test: no binding of an earlier test's (exited) phone can be forked to.
    nextExtension += 1;
    callee = await addUser(test.server, `desk${nextExtension}`, String(nextExtension));
  });

  afterAll(async () => {
    await test.close();
  });

  afterEach(async () => {
    await peer.close();
    await waitFor(
      () => statsOf(test).channels === 0 && statsOf(test).bridges === 0,
      'channels and bridges released',
    );
  });

  /** A sipp phone that answers and waits for BYE, and an established call to it. */
  const establish = async (): Promise<RawCall> => {
    phone = await startCallee('uas-answer.xml', callee);
    await registerLine(test, callee, phone.port);
    peer = await openUdp(test.sipPort);
    const call = await placeCall(peer, {
      username: caller.sipUsername,
      password: caller.sipSecret,
      extension: callee.extension,
      sdp: pcmuOffer(1),
    });
    expect(call.final.status).toBe(200);
    return call;
  };

  /** Hangs up from the caller side and checks that the phone saw the BYE. */
  const hangUp = async (call: RawCall): Promise<void> => {
    peer.send(inDialog(peer, call, 'BYE'));
    expect((await peer.response('BYE')).status).toBe(200);
    expectSippSuccess(await phone.done, 'phone');
  };

  /** Responses to INVITEs until one per CSeq number in `cseqs` has a final status. */
  const finalInviteResponses = async (cseqs: number[]): Promise<Map<number, SipResponse>> => {
    const finals = new Map<number, SipResponse>();
    while (finals.size < cseqs.length) {
      const response = await peer.response('INVITE', 5_000);
      const seq = Number((response.headers.get('CSeq') ?? '').trim().split(/\s+/)[0]);
      if (response.status >= 200 && cseqs.includes(seq)) {
        finals.set(seq, response);
      }
    }
    return finals;
  };

  it('answers a re-INVITE that arrives while another is pending with 500 and a Retry-After of 0-10 s, the pending one with 200 (§14.2)', async () => {
    const call = await establish();
    const firstBranch = newTestBranch();
    const secondBranch = newTestBranch();
    peer.send(inDialog(peer, call, 'INVITE', { body: pcmuOffer(2), branch: firstBranch }));
    peer.send(inDialog(peer, call, 'INVITE', { body: pcmuOffer(3), branch: secondBranch }));
    const finals = await finalInviteResponses([3, 4]);
    const first = finals.get(3);
    const second = finals.get(4);
    expect(first?.status).toBe(200);
    expect(second?.status).toBe(500);
    const retryAfter = Number(second?.headers.get('Retry-After'));
    expect(retryAfter).toBeGreaterThanOrEqual(0);
    expect(retryAfter).toBeLessThanOrEqual(10);
    peer.send(inDialog(peer, call, 'ACK', { cseq: 4, branch: secondBranch }));
    peer.send(inDialog(peer, call, 'ACK', { cseq: 3 }));

    // The dialog goes on: a later re-INVITE is accepted.
    peer.send(inDialog(peer, call, 'INVITE', { body: pcmuOffer(4) }));
    const later = await finalInviteResponses([5]);
    expect(later.get(5)?.status).toBe(200);
    peer.send(inDialog(peer, call, 'ACK', { cseq: 5 }));
    await hangUp(call);
  });

  it('answers in-dialog OPTIONS and INFO (DTMF) with 200', async () => {
    const call = await establish();
    peer.send(inDialog(peer, call, 'OPTIONS'));
    expect((await peer.response('OPTIONS')).status).toBe(200);
    peer.send(
      rawRequest(peer, {
        method: 'INFO',
        uri: call.target,
        callId: call.callId,
        from: call.from,
        to: call.to,
        cseq: `${++call.cseq} INFO`,
        headers: ['Content-Type: application/dtmf-relay'],
        body: 'Signal=5\r\nDuration=160\r\n',
      }),
    );
    expect((await peer.response('INFO')).status).toBe(200);
    await hangUp(call);
  });

  it('answers an in-dialog request with a lower CSeq than the last one with 500 and keeps the call (§12.2.2)', async () => {
    const call = await establish();
    peer.send(inDialog(peer, call, 'OPTIONS', { cseq: 10 }));
    expect((await peer.response('OPTIONS')).status).toBe(200);
    peer.send(inDialog(peer, call, 'BYE', { cseq: 9 }));
    expect((await peer.response('BYE')).status).toBe(500);
    expect(statsOf(test).channels).toBe(2);
    await hangUp(call);
  });

  it('answers a BYE whose From tag matches no dialog with 481 and keeps the call (§12.2.2)', async () => {
    const call = await establish();
    const stranger: RawCall = { ...call, from: '<sip:mallory@127.0.0.1>;tag=notthedialog' };
    peer.send(inDialog(peer, stranger, 'BYE'));
    expect((await peer.response('BYE')).status).toBe(481);
    expect(statsOf(test).channels).toBe(2);
    await hangUp(call);
  });

  it('answers a CANCEL that matches no INVITE with 481 and ignores an ACK that matches nothing (§9.2, §17.2.3)', async () => {
    peer = await openUdp(test.sipPort);
    peer.send(rawRequest(peer, { method: 'CANCEL', uri: 'sip:5099@127.0.0.1' }));
    expect((await peer.response('CANCEL')).status).toBe(481);
    peer.send(
      rawRequest(peer, { method: 'ACK', uri: 'sip:5099@127.0.0.1', to: '<sip:x@y>;tag=nothing' }),
    );
    expect(await peer.next(SILENCE_MS)).toBeUndefined();
  });

  it('a CANCEL sent right after the INVITE, before any provisional response, gets 200 and the INVITE 487 (§9.2)', async () => {
    // The phone is registered at a port where nothing listens: whether or not the server
    // forked before the CANCEL, only the caller's view matters here.
    const unused = await peerPort();
    await registerLine(test, callee, unused);
    peer = await openUdp(test.sipPort);
    try {
      const call = await placeCall(peer, {
        username: caller.sipUsername,
        password: caller.sipSecret,
        extension: callee.extension,
        sdp: pcmuOffer(1),
        onInviteSent: ({ cancel }) => {
          peer.send(cancel);
        },
      });
      expect(call.final.status).toBe(487);
      expect((await peer.response('CANCEL')).status).toBe(200);
    } finally {
      await registerLine(test, callee, unused, 0);
    }
  });

  it('a BYE in the early dialog (the phone rings) gets 200, the INVITE 487, and the ringing phone a CANCEL (§15.1.2)', async () => {
    phone = await startCallee('uas-cancelled.xml', callee, {
      substitute: { reason_check: 'check_it_inverse' },
    });
    await registerLine(test, callee, phone.port);
    peer = await openUdp(test.sipPort);
    const call = await placeCall(peer, {
      username: caller.sipUsername,
      password: caller.sipSecret,
      extension: callee.extension,
      sdp: pcmuOffer(1),
      stopAt: 180,
    });
    expect(call.final.status).toBe(180);
    peer.send(inDialog(peer, call, 'BYE'));
    expect((await peer.response('BYE')).status).toBe(200);
    expect((await peer.response('INVITE')).status).toBe(487);
    expectSippSuccess(await phone.done, 'phone');
  });
});
