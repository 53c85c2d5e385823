/**
 * Blind transfer by REFER (RFC 3515) over real SIP: a raw caller (alice, byte-level control of
 * the REFER and of the NOTIFYs it must answer) talks to a sipp desk phone (bob) and transfers
 * him to another sipp phone (carol). The server keeps bob's leg, dials carol with bob as the
 * caller, reports the outcome to alice in `refer` NOTIFYs (message/sipfrag) and releases her.
 * Every refused REFER leaves the call as it was; nothing leaks.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { BusMessage, Telephony } from '@confab/server';
import type { SipMessage, SipRequest, SipResponse } from '@confab/sip';
import { addUser, startTestServer, type TestLine, type TestServer } from './support/server.js';
import type { SippRun } from '../support/sipp.js';
import {
  expectSippSuccess,
  registerLine,
  startCallee,
  statsOf,
  waitFor,
} from './support/sip-peers.js';
import {
  inDialog,
  openUdp,
  pcmuOffer,
  placeCall,
  rawRequest,
  type RawCall,
  type UdpPeer,
} from './support/sip-wire.js';

const SILENCE_MS = 400;

/** Reads what a raw peer receives, request by request, keeping what a wait skipped. */
class Receiver {
  readonly #peer: UdpPeer;
  readonly #queue: SipMessage[] = [];

  constructor(peer: UdpPeer) {
    this.#peer = peer;
  }

  /** The next message `accept` takes within `timeoutMs`, or undefined. */
  async take(
    accept: (message: SipMessage) => boolean,
    timeoutMs = 5_000,
  ): Promise<SipMessage | undefined> {
    const queued = this.#queue.findIndex(accept);
    if (queued !== -1) {
      return this.#queue.splice(queued, 1)[0];
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        return undefined;
      }
      const message = await this.#peer.next(left);
      if (message === undefined) {
        return undefined;
      }
      if (accept(message)) {
        return message;
      }
      this.#queue.push(message);
    }
  }

  async request(method: string, timeoutMs = 5_000): Promise<SipRequest> {
    const message = await this.take((m) => m.type === 'request' && m.method === method, timeoutMs);
    if (message?.type !== 'request') {
      throw new Error(`no ${method} within ${timeoutMs} ms`);
    }
    return message;
  }

  /** The final response to the request with CSeq method `method`. */
  async final(method: string, timeoutMs = 5_000): Promise<SipResponse> {
    const message = await this.take(
      (m) =>
        m.type === 'response' &&
        m.status >= 200 &&
        (m.headers.get('CSeq') ?? '').trim().toUpperCase().endsWith(` ${method}`),
      timeoutMs,
    );
    if (message?.type !== 'response') {
      throw new Error(`no final response to ${method} within ${timeoutMs} ms`);
    }
    return message;
  }

  /** Answers a request the server sent us (§8.2.6: Via, From, To, Call-ID, CSeq copied). */
  answer(request: SipRequest, status = 200): void {
    const copy = (name: string): string[] =>
      request.headers.getAll(name).map((value) => `${name}: ${value}`);
    const lines = [
      `SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Error'}`,
      ...copy('Via'),
      ...copy('From'),
      ...copy('To'),
      ...copy('Call-ID'),
      ...copy('CSeq'),
      'Content-Length: 0',
    ];
    this.#peer.send(`${lines.join('\r\n')}\r\n\r\n`);
  }
}

function sipfrag(notify: SipRequest): string {
  return Buffer.from(notify.body).toString('utf8').trim();
}

describe('blind transfer by REFER (raw caller, sipp transferee and target, UDP)', () => {
  let test: TestServer;
  let alice: TestLine;
  let bob: TestLine;
  let carol: TestLine;
  let nextExtension = 5300;
  let peer: UdpPeer;
  let rx: Receiver;
  let phones: SippRun[] = [];
  let events: BusMessage[] = [];
  let offBus: () => void;

  const telephony = (): Telephony => test.server.telephony as unknown as Telephony;
  const channels = () => [...telephony().callControl.channels.values()];
  const channelOfSipCall = (sipCallId: string) =>
    channels().find((channel) => channel.sipCallId === sipCallId);

  beforeAll(async () => {
    test = await startTestServer();
    alice = await addUser(test.server, 'xferalice', '5200');
    offBus = test.server.bus.subscribe((message) => {
      events.push(message);
    });
  });

  beforeEach(async () => {
    // Fresh lines per test: no binding of an earlier test's (exited) phone can be dialled.
    nextExtension += 2;
    bob = await addUser(test.server, `xferbob${nextExtension}`, String(nextExtension));
    carol = await addUser(test.server, `xfercarol${nextExtension}`, String(nextExtension + 1));
    peer = await openUdp(test.sipPort);
    rx = new Receiver(peer);
    events = [];
  });

  afterEach(async () => {
    // Whatever a test left up ends now; the sipp phones then exit.
    for (const channel of channels()) {
      channel.hangup();
    }
    await Promise.all(phones.map((phone) => phone.done));
    phones = [];
    await peer.close();
    await waitFor(
      () => statsOf(test).channels === 0 && statsOf(test).bridges === 0,
      'channels and bridges released',
    );
  });

  afterAll(async () => {
    offBus();
    await test.close();
  });

  /** A sipp phone for `line` running `scenario`, registered. */
  const phone = async (
    line: TestLine,
    scenario: string,
    substitute?: Record<string, string>,
  ): Promise<SippRun> => {
    const run = await startCallee(scenario, line, substitute ? { substitute } : {});
    phones.push(run);
    await registerLine(test, line, run.port);
    return run;
  };

  /** Alice's established call to bob's answering phone. */
  const establish = async (): Promise<{ call: RawCall; bobPhone: SippRun }> => {
    const bobPhone = await phone(bob, 'uas-answer.xml');
    const call = await placeCall(peer, {
      username: alice.sipUsername,
      password: alice.sipSecret,
      extension: bob.extension,
      sdp: pcmuOffer(1),
    });
    expect(call.final.status).toBe(200);
    // The bridge is listed as soon as it is created; its channels join once the media is up.
    await waitFor(
      () => channels().some((channel) => telephony().callControl.talkingTo(channel).length === 1),
      'alice and bob bridged',
    );
    return { call, bobPhone };
  };

  const refer = (call: RawCall, headers: readonly string[]): void => {
    peer.send(
      inDialog(peer, call, 'REFER', {
        headers: [`Contact: <sip:${alice.sipUsername}@${peer.sentBy}>`, ...headers],
      }),
    );
  };

  /** The refer NOTIFY that comes next, answered 200. */
  const notify = async (): Promise<SipRequest> => {
    const request = await rx.request('NOTIFY');
    rx.answer(request);
    return request;
  };

  it('202, NOTIFY 100 Trying then 200 OK (sipfrag, Event refer;id), alice released, bob talks to carol who sees bob calling with Referred-By', async () => {
    const { call } = await establish();
    const referredBy = `<sip:${alice.sipUsername}@127.0.0.1>`;
    const carolPhone = await phone(carol, 'uas-answer-referred.xml', {
      referred_by: `sip:${alice.sipUsername}@127\\.0\\.0\\.1`,
      from_user: bob.extension,
    });
    const aliceChannel = channelOfSipCall(call.callId);
    const bobChannel = channels().find((channel) => channel !== aliceChannel);
    expect(bobChannel).toBeDefined();

    refer(call, [`Refer-To: <sip:${carol.extension}@127.0.0.1>`, `Referred-By: ${referredBy}`]);
    const accepted = await rx.final('REFER');
    expect(accepted.status).toBe(202);
    const referCSeq = call.cseq;

    const trying = await notify();
    expect(trying.headers.get('Event')).toBe(`refer;id=${referCSeq}`);
    expect(trying.headers.get('Subscription-State')).toMatch(/^active;expires=\d+$/);
    expect(trying.headers.get('Content-Type')).toBe('message/sipfrag;version=2.0');
    expect(sipfrag(trying)).toBe('SIP/2.0 100 Trying');
    // The NOTIFY is in alice's dialog (§2.4.4): her Call-ID, the server's tag in From.
    expect(trying.headers.get('Call-ID')).toBe(call.callId);

    const frags: string[] = [];
    let last: SipRequest;
    do {
      last = await notify();
      frags.push(sipfrag(last));
    } while ((last.headers.get('Subscription-State') ?? '').startsWith('active'));
    // carol's phone rings first (180), then answers.
    expect(frags).toEqual(['SIP/2.0 180 Ringing', 'SIP/2.0 200 OK']);
    expect(last.headers.get('Subscription-State')).toBe('terminated;reason=noresource');
    expect(last.headers.get('Event')).toBe(`refer;id=${referCSeq}`);

    // alice did not hang up: the server releases her leg once the final NOTIFY is answered.
    const bye = await rx.request('BYE');
    rx.answer(bye);
    expect(aliceChannel?.hangupCause).toBe(16);

    // bob's leg stayed up and is now bridged with carol's new leg.
    await waitFor(() => statsOf(test).channels === 2, 'bob and carol only');
    const carolChannel = channels().find((channel) => channel !== bobChannel);
    await waitFor(
      () => telephony().callControl.talkingTo(bobChannel!).length === 1,
      'bob bridged with carol',
    );
    expect(statsOf(test).bridges).toBe(1);
    expect(bobChannel?.ended).toBe(false);
    expect(telephony().callControl.talkingTo(bobChannel!)).toEqual([carolChannel]);
    expect(carolChannel?.callerId.number).toBe(bob.extension);
    expect(bobChannel?.connectedLine.number).toBe(carol.extension);

    // Call events: a new call for carol; bob's call talks to carol; alice's call ended (16).
    const named = (name: string, user: TestLine) =>
      events.filter(
        (e) => e.name === name && (e.data as { user_uuid?: string }).user_uuid === user.userUuid,
      );
    expect(named('call_created', carol)).toHaveLength(1);
    const bobUpdates = named('call_updated', bob).map(
      (e) => (e.data as { talking_to: Record<string, string | null> }).talking_to,
    );
    expect(bobUpdates).toContainEqual({});
    expect(bobUpdates.at(-1)).toEqual({ [carolChannel!.id]: carol.userUuid });
    const aliceEnded = named('call_ended', alice);
    expect(aliceEnded).toHaveLength(1);
    expect((aliceEnded[0]!.data as { reason_code: number }).reason_code).toBe(16);

    bobChannel?.hangup();
    expectSippSuccess(await carolPhone.done, 'carol');
  });

  it('a busy target: NOTIFY 486 Busy Here, alice released, bob hung up with cause 17 (his call fails, as a blind transfer on Asterisk)', async () => {
    const { call, bobPhone } = await establish();
    await phone(carol, 'uas-reject.xml', { status: '486' });
    const bobChannel = channels().find((channel) => channel.sipCallId !== call.callId);

    refer(call, [`Refer-To: sip:${carol.extension}@127.0.0.1`]);
    expect((await rx.final('REFER')).status).toBe(202);
    expect(sipfrag(await notify())).toBe('SIP/2.0 100 Trying');
    let last: SipRequest;
    do {
      last = await notify();
    } while ((last.headers.get('Subscription-State') ?? '').startsWith('active'));
    expect(sipfrag(last)).toBe('SIP/2.0 486 Busy Here');
    expect(last.headers.get('Subscription-State')).toBe('terminated;reason=noresource');
    rx.answer(await rx.request('BYE'));
    expectSippSuccess(await bobPhone.done, 'bob');
    expect(bobChannel?.hangupCause).toBe(17);
  });

  it('Refer-Sub: false (RFC 4488): 202 with Refer-Sub: false, no NOTIFY; a tel: Refer-To is dialled', async () => {
    const { call } = await establish();
    await phone(carol, 'uas-answer.xml');
    refer(call, [`Refer-To: <tel:${carol.extension}>`, 'Refer-Sub: false']);
    const accepted = await rx.final('REFER');
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('Refer-Sub')).toBe('false');
    // The next thing alice gets is the BYE that releases her, once carol answered.
    const next = await rx.take((m) => m.type === 'request', 5_000);
    expect(next?.type === 'request' ? next.method : next).toBe('BYE');
    rx.answer(next as SipRequest);
    await waitFor(
      () => statsOf(test).channels === 2 && statsOf(test).bridges === 1,
      'bob with carol',
    );
  });

  it('bob hanging up while carol rings cancels carol; alice gets NOTIFY 487 and is released; a second REFER meanwhile gets 491', async () => {
    const { call } = await establish();
    const carolPhone = await phone(carol, 'uas-cancelled.xml', {
      reason_check: 'check_it_inverse',
    });
    refer(call, [`Refer-To: <sip:${carol.extension}@127.0.0.1>`]);
    expect((await rx.final('REFER')).status).toBe(202);
    expect(sipfrag(await notify())).toBe('SIP/2.0 100 Trying');
    expect(sipfrag(await notify())).toBe('SIP/2.0 180 Ringing');

    refer(call, [`Refer-To: <sip:${carol.extension}@127.0.0.1>`]);
    expect((await rx.final('REFER')).status).toBe(491);

    const bobChannel = channels().find(
      (channel) => channel.sipCallId !== call.callId && channel.dialedExtension === bob.extension,
    );
    bobChannel?.hangup();
    const last = await notify();
    expect(sipfrag(last)).toBe('SIP/2.0 487 Request Terminated');
    expect(last.headers.get('Subscription-State')).toBe('terminated;reason=noresource');
    rx.answer(await rx.request('BYE'));
    expectSippSuccess(await carolPhone.done, 'carol');
  });

  it('a fault after the 202 (the target attempt cannot start): NOTIFY 500, alice released, bob hung up with cause 41, the server keeps serving and nothing leaks', async () => {
    const { call, bobPhone } = await establish();
    // Carol's device is registered (the REFER is accepted) but never called.
    const carolPhone = await phone(carol, 'uas-answer.xml');
    const bobChannel = channels().find((channel) => channel.sipCallId !== call.callId);
    // Fault injection: the ring timer of the attempt toward carol (the only 60 s timer armed
    // after this point) throws, standing for any bug between the 202 and the target's INVITE.
    const clock = telephony().callControl.clock as { setTimeout: (...args: never[]) => unknown };
    const setTimeout = clock.setTimeout;
    let injected = 0;
    clock.setTimeout = function (this: unknown, ...args: never[]) {
      if ((args[1] as unknown) === 60_000 && injected === 0) {
        injected += 1;
        throw new Error('injected fault');
      }
      return Reflect.apply(setTimeout, this, args);
    };
    try {
      refer(call, [`Refer-To: <sip:${carol.extension}@127.0.0.1>`]);
      expect((await rx.final('REFER')).status).toBe(202);
      expect(sipfrag(await notify())).toBe('SIP/2.0 100 Trying');
      const last = await notify();
      expect(sipfrag(last)).toBe('SIP/2.0 500 Server Internal Error');
      expect(last.headers.get('Subscription-State')).toBe('terminated;reason=noresource');
      // No second final response to the REFER: its transaction ended with the 202.
      expect(await rx.take((m) => m.type === 'response', SILENCE_MS)).toBeUndefined();
      rx.answer(await rx.request('BYE'));
    } finally {
      clock.setTimeout = setTimeout;
    }
    expect(injected).toBe(1);
    expectSippSuccess(await bobPhone.done, 'bob');
    expect(bobChannel?.hangupCause).toBe(41);
    carolPhone.kill();
    await waitFor(() => statsOf(test).channels === 0 && statsOf(test).bridges === 0, 'released');
  });

  it("a Refer-To under a host name a line registered its AOR with (a phone configured with the server's DNS name) is ours: 202 and carol is called", async () => {
    const { call } = await establish();
    const carolPhone = await startCallee('uas-answer.xml', carol);
    phones.push(carolPhone);
    await registerLine(test, carol, carolPhone.port, 300, 'pbx.confab.test');
    refer(call, [`Refer-To: <sip:${carol.extension}@pbx.confab.test>`]);
    expect((await rx.final('REFER')).status).toBe(202);
    expect(sipfrag(await notify())).toBe('SIP/2.0 100 Trying');
    let last: SipRequest;
    do {
      last = await notify();
    } while ((last.headers.get('Subscription-State') ?? '').startsWith('active'));
    expect(sipfrag(last)).toBe('SIP/2.0 200 OK');
    rx.answer(await rx.request('BYE'));
  });

  describe('refused REFERs leave the call as it was', () => {
    const cases: { name: string; headers: (target: string) => string[]; status: number }[] = [
      { name: 'no Refer-To → 400 (§2.4.1)', headers: () => [], status: 400 },
      {
        name: 'two Refer-To header fields → 400 (§2.4.1)',
        headers: (t) => [`Refer-To: <sip:${t}@127.0.0.1>`, `Refer-To: <sip:${t}@127.0.0.1>`],
        status: 400,
      },
      {
        name: 'two Refer-To values in one field → 400',
        headers: (t) => [`Refer-To: <sip:${t}@127.0.0.1>, <sip:${t}@127.0.0.1>`],
        status: 400,
      },
      { name: 'an unreadable Refer-To → 400', headers: () => ['Refer-To: <<sip:@>'], status: 400 },
      {
        name: 'an http: Refer-To → 403 (§2.4.2)',
        headers: () => ['Refer-To: <http://example.com/>'],
        status: 403,
      },
      {
        name: 'a mailto: Refer-To → 403',
        headers: () => ['Refer-To: <mailto:carol@example.com>'],
        status: 403,
      },
      {
        name: 'method=SUBSCRIBE in the Refer-To URI → 403',
        headers: (t) => [`Refer-To: <sip:${t}@127.0.0.1;method=SUBSCRIBE>`],
        status: 403,
      },
      {
        name: 'Replaces (attended transfer) → 501',
        headers: (t) => [
          `Refer-To: <sip:${t}@127.0.0.1?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2>`,
        ],
        status: 501,
      },
      {
        name: 'Refer-Sub: maybe → 400 (RFC 4488)',
        headers: (t) => [`Refer-To: <sip:${t}@127.0.0.1>`, 'Refer-Sub: maybe'],
        status: 400,
      },
      {
        name: 'an unreadable Referred-By → 400',
        headers: (t) => [`Refer-To: <sip:${t}@127.0.0.1>`, 'Referred-By: <<nope'],
        status: 400,
      },
      {
        name: 'a known extension in a foreign domain → 403 (§2.4.2: not ours to call)',
        headers: (t) => [`Refer-To: <sip:${t}@other.example>`],
        status: 403,
      },
      {
        name: 'an unknown extension → 404',
        headers: () => ['Refer-To: <sip:5999@127.0.0.1>'],
        status: 404,
      },
      {
        name: 'an extension without a registered device → 480',
        headers: (t) => [`Refer-To: <sip:${t}@127.0.0.1>`],
        status: 480,
      },
    ];

    it.each(cases)('$name', async ({ headers, status }) => {
      const { call } = await establish();
      refer(call, headers(carol.extension));
      const response = await rx.final('REFER');
      expect(response.status).toBe(status);
      expect(response.headers.get('Warning')).toMatch(/^399 confab "/);
      expect(await rx.take((m) => m.type === 'request', SILENCE_MS)).toBeUndefined();
      expect(statsOf(test)).toMatchObject({ channels: 2, bridges: 1 });
      // The call goes on: alice hangs up normally.
      peer.send(inDialog(peer, call, 'BYE'));
      expect((await rx.final('BYE')).status).toBe(200);
    });
  });

  it('a REFER in an early dialog (bob still ringing) → 403', async () => {
    const ringing = await phone(bob, 'uas-cancelled.xml', { reason_check: 'check_it_inverse' });
    const call = await placeCall(peer, {
      username: alice.sipUsername,
      password: alice.sipSecret,
      extension: bob.extension,
      sdp: pcmuOffer(1),
      stopAt: 180,
    });
    expect(call.final.status).toBe(180);
    refer(call, [`Refer-To: <sip:${carol.extension}@127.0.0.1>`]);
    const response = await rx.final('REFER');
    expect(response.status).toBe(403);
    for (const channel of channels()) {
      channel.hangup();
    }
    expectSippSuccess(await ringing.done, 'bob');
  });

  it('a REFER outside any dialog → 403; one naming an unknown dialog → 481 (§12.2.2)', async () => {
    peer.send(
      rawRequest(peer, {
        method: 'REFER',
        uri: `sip:${bob.extension}@127.0.0.1`,
        headers: [
          `Contact: <sip:${alice.sipUsername}@${peer.sentBy}>`,
          `Refer-To: <sip:${carol.extension}@127.0.0.1>`,
        ],
      }),
    );
    expect((await rx.final('REFER')).status).toBe(403);
    peer.send(
      rawRequest(peer, {
        method: 'REFER',
        uri: `sip:${bob.extension}@127.0.0.1`,
        to: `<sip:${bob.extension}@127.0.0.1>;tag=${randomUUID().slice(0, 8)}`,
        headers: [`Refer-To: <sip:${carol.extension}@127.0.0.1>`],
      }),
    );
    expect((await rx.final('REFER')).status).toBe(481);
    expect(statsOf(test).channels).toBe(0);
  });
});
