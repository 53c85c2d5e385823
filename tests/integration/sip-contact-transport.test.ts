/**
 * The transport a registered Contact names (RFC 3263 §4.1, RFC 3261 §19.1.4, §18.1.1): a phone
 * that registers over UDP with `transport=tcp` in its Contact is reached over a TCP connection
 * the server opens to that Contact, not by a datagram; with RFC 5626 outbound (`;ob`) the
 * registration's UDP flow wins whatever the Contact says (RFC 5626 §5.3).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildAuthorization, type SipMessage, type SipRequest } from '@confab/sip';
import { addUser, startTestServer, type TestLine, type TestServer } from './support/server.js';
import { peerPort } from '../support/ports.js';
import {
  expectSippSuccess,
  startCallee,
  startCaller,
  statsOf,
  waitFor,
} from './support/sip-peers.js';
import { openUdp, pcmuOffer, placeCall, rawRequest, type WirePeer } from './support/sip-wire.js';

let test: TestServer;
let caller: TestLine;
let nextExtension = 5100;
const peers: WirePeer[] = [];

beforeAll(async () => {
  test = await startTestServer({ ringTimeoutSeconds: 5 });
  caller = await addUser(test.server, 'ctcaller', '5000');
});

afterEach(async () => {
  for (const peer of peers.splice(0)) {
    await peer.close();
  }
  await waitFor(
    () => statsOf(test).channels === 0 && statsOf(test).bridges === 0,
    'channels and bridges released',
  );
});

afterAll(async () => {
  await test.close();
});

async function newLine(): Promise<TestLine> {
  nextExtension += 1;
  return addUser(test.server, `ct${nextExtension}`, String(nextExtension));
}

/** Registers `line` from a raw UDP socket with `contact` (digest challenge answered). */
async function registerOverUdp(line: TestLine, contact: string): Promise<WirePeer> {
  const peer = await openUdp(test.sipPort);
  peers.push(peer);
  const uri = `sip:127.0.0.1:${test.sipPort}`;
  const common = {
    uri,
    callId: randomUUID(),
    from: `<sip:${line.sipUsername}@127.0.0.1>;tag=${randomUUID().slice(0, 8)}`,
    to: `<sip:${line.sipUsername}@127.0.0.1>`,
  };
  const headers = [`Contact: ${contact}`, 'Expires: 300'];
  peer.send(rawRequest(peer, { method: 'REGISTER', ...common, cseq: '1 REGISTER', headers }));
  const challenge = await peer.response('REGISTER');
  expect(challenge.status).toBe(401);
  const authorization = buildAuthorization(challenge.headers.get('WWW-Authenticate') ?? '', {
    username: line.sipUsername,
    password: line.sipSecret,
    method: 'REGISTER',
    uri,
  });
  peer.send(
    rawRequest(peer, {
      method: 'REGISTER',
      ...common,
      cseq: '2 REGISTER',
      headers: [...headers, `Authorization: ${authorization}`],
    }),
  );
  expect((await peer.response('REGISTER')).status).toBe(200);
  return peer;
}

/** A final response to `request` written by hand (§8.2.6). */
function rawResponse(request: SipRequest, status: number, reason: string): string {
  const lines = [
    `SIP/2.0 ${status} ${reason}`,
    ...request.headers.getAll('Via').map((via) => `Via: ${via}`),
    `From: ${request.headers.get('From') ?? ''}`,
    `To: ${request.headers.get('To') ?? ''};tag=${randomUUID().slice(0, 8)}`,
    `Call-ID: ${request.headers.get('Call-ID') ?? ''}`,
    `CSeq: ${request.headers.get('CSeq') ?? ''}`,
    'Content-Length: 0',
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function isInvite(message: SipMessage | undefined): message is SipRequest {
  return message?.type === 'request' && message.method === 'INVITE';
}

describe('requests to a Contact registered over UDP', () => {
  it('reach a transport=tcp Contact over a TCP connection the server opens: a sipp phone listening only on TCP answers the call', async () => {
    const callee = await newLine();
    // The phone's UAS listens on TCP only (sipp -t t1): a datagram to its port reaches nobody.
    const phone = await startCallee('uas-answer.xml', callee, { transport: 't1' });
    await registerOverUdp(
      callee,
      `<sip:${callee.sipUsername}@127.0.0.1:${phone.port};transport=tcp>`,
    );

    const call = await startCaller(test, 'uac-call.xml', caller, callee.extension);
    expectSippSuccess(await call.done, 'caller (UDP)');
    expectSippSuccess(await phone.done, 'phone (TCP)');
  });

  it('keep using the registration flow when the Contact asks for RFC 5626 outbound (;ob), whatever its transport', async () => {
    const callee = await newLine();
    const unused = await peerPort();
    const phone = await registerOverUdp(
      callee,
      `<sip:${callee.sipUsername}@127.0.0.1:${unused};transport=tcp;ob>;+sip.instance="<urn:uuid:${randomUUID()}>";reg-id=1`,
    );
    const callerPeer = await openUdp(test.sipPort);
    peers.push(callerPeer);

    const placed = placeCall(callerPeer, {
      username: caller.sipUsername,
      password: caller.sipSecret,
      extension: callee.extension,
      sdp: pcmuOffer(1),
    });
    let invite: SipMessage | undefined;
    do {
      invite = await phone.next(5_000);
    } while (invite !== undefined && !isInvite(invite));
    if (!isInvite(invite)) {
      throw new Error('no INVITE on the registration UDP flow');
    }
    expect(invite.headers.get('Via')).toMatch(/^SIP\/2\.0\/UDP /);
    phone.send(rawResponse(invite, 486, 'Busy Here'));
    expect((await placed).final.status).toBe(486);
  });
});
