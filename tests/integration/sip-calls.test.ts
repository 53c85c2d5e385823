/**
 * The B2BUA's call flows against real desk phones (sipp over UDP): forking to several
 * contacts, caller CANCEL, callee refusals and the ring timeout, hold/resume re-INVITEs from
 * either side, and a hangup from the callee. Every test ends by checking that no channel or
 * bridge is left behind.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addUser, startTestServer, type TestLine, type TestServer } from './support/server.js';
import {
  expectSippSuccess,
  registerLine,
  startCallee,
  startCaller,
  statsOf,
  waitFor,
} from './support/sip-peers.js';

describe('B2BUA call flows with sipp desk phones (UDP)', () => {
  let test: TestServer;
  let caller: TestLine;
  let nextExtension = 2100;

  /** A fresh callee line per test, so that bindings from earlier tests cannot ring. */
  const newCallee = async (): Promise<TestLine> => {
    nextExtension += 1;
    return addUser(test.server, `callee${nextExtension}`, String(nextExtension));
  };

  beforeAll(async () => {
    test = await startTestServer({ ringTimeoutSeconds: 2 });
    caller = await addUser(test.server, 'caller', '2000');
  });

  afterAll(async () => {
    await test.close();
  });

  afterEach(async () => {
    // No leg or bridge survives a finished call (dialogs linger 32 s by design, §17.2.2).
    await waitFor(() => statsOf(test).channels === 0 && statsOf(test).bridges === 0, 'no channels');
  });

  it('rings both contacts of a line registered twice; the first answer wins and the other fork gets CANCEL with Reason cause=200 "Call completed elsewhere"', async () => {
    const callee = await newCallee();
    // The winner waits before answering so that the other fork is ringing when it does.
    const winner = await startCallee('uas-answer-late.xml', callee);
    const loser = await startCallee('uas-cancelled.xml', callee, {
      substitute: { reason_check: 'check_it' },
    });
    await registerLine(test, callee, winner.port);
    await registerLine(test, callee, loser.port);
    expect(statsOf(test).bindings).toBeGreaterThanOrEqual(2);

    const call = await startCaller(test, 'uac-call.xml', caller, callee.extension);
    const [called, answered, cancelled] = await Promise.all([call.done, winner.done, loser.done]);
    expectSippSuccess(called, 'caller');
    expectSippSuccess(answered, 'answering contact');
    expectSippSuccess(cancelled, 'cancelled contact');
  });

  it('cancels a losing fork that had not rung yet as soon as its first provisional response arrives (§9.1)', async () => {
    const callee = await newCallee();
    const winner = await startCallee('uas-answer.xml', callee);
    const lateRinger = await startCallee('uas-cancelled-late.xml', callee);
    await registerLine(test, callee, winner.port);
    await registerLine(test, callee, lateRinger.port);
    const call = await startCaller(test, 'uac-call.xml', caller, callee.extension);
    const [called, answered, cancelled] = await Promise.all([
      call.done,
      winner.done,
      lateRinger.done,
    ]);
    expectSippSuccess(called, 'caller');
    expectSippSuccess(answered, 'answering contact');
    expectSippSuccess(cancelled, 'late-ringing contact');
  });

  it('keeps ringing the other contact when one refuses with 486, and connects the one that answers', async () => {
    const callee = await newCallee();
    const busy = await startCallee('uas-reject.xml', callee, { substitute: { status: '486' } });
    const answering = await startCallee('uas-answer-late.xml', callee);
    await registerLine(test, callee, busy.port);
    await registerLine(test, callee, answering.port);
    const call = await startCaller(test, 'uac-call.xml', caller, callee.extension);
    const [called, refused, answered] = await Promise.all([call.done, busy.done, answering.done]);
    expectSippSuccess(called, 'caller');
    expectSippSuccess(refused, 'busy contact');
    expectSippSuccess(answered, 'answering contact');
  });

  it('gives the caller 603 when every contact refuses, one with 486 and one with 603 (§16.7: 6xx first)', async () => {
    const callee = await newCallee();
    const busy = await startCallee('uas-reject.xml', callee, { substitute: { status: '486' } });
    const decline = await startCallee('uas-reject.xml', callee, {
      substitute: { status: '603' },
    });
    await registerLine(test, callee, busy.port);
    await registerLine(test, callee, decline.port);
    const call = await startCaller(test, 'uac-ring-rejected.xml', caller, callee.extension, {
      substitute: { status: '603' },
    });
    const [rejected, refused486, refused603] = await Promise.all([
      call.done,
      busy.done,
      decline.done,
    ]);
    expectSippSuccess(rejected, 'caller expecting 603');
    expectSippSuccess(refused486, 'busy contact');
    expectSippSuccess(refused603, 'declining contact');
  });

  it('a caller CANCEL while the callee rings gets 200 and 487 (ACKed), and the callee gets a CANCEL without "completed elsewhere"', async () => {
    const callee = await newCallee();
    const ringing = await startCallee('uas-cancelled.xml', callee, {
      substitute: { reason_check: 'check_it_inverse' },
    });
    await registerLine(test, callee, ringing.port);
    const call = await startCaller(test, 'uac-cancel.xml', caller, callee.extension);
    const [cancelled, callee487] = await Promise.all([call.done, ringing.done]);
    expectSippSuccess(cancelled, 'caller');
    expectSippSuccess(callee487, 'callee');
  });

  it.each([
    ['486', 'busy'],
    ['603', 'decline'],
  ])('a callee answering %s (%s) makes the caller get the same status', async (status) => {
    const callee = await newCallee();
    const refusing = await startCallee('uas-reject.xml', callee, { substitute: { status } });
    await registerLine(test, callee, refusing.port);
    const call = await startCaller(test, 'uac-ring-rejected.xml', caller, callee.extension, {
      substitute: { status },
    });
    const [rejected, refused] = await Promise.all([call.done, refusing.done]);
    expectSippSuccess(rejected, `caller expecting ${status}`);
    expectSippSuccess(refused, 'callee');
  });

  it('a callee that never answers is cancelled after the ring timeout and the caller gets 480', async () => {
    const callee = await newCallee();
    const ringing = await startCallee('uas-cancelled.xml', callee, {
      substitute: { reason_check: 'check_it_inverse' },
    });
    await registerLine(test, callee, ringing.port);
    const started = Date.now();
    const call = await startCaller(test, 'uac-ring-rejected.xml', caller, callee.extension, {
      substitute: { status: '480' },
    });
    const [unanswered, cancelled] = await Promise.all([call.done, ringing.done]);
    expectSippSuccess(unanswered, 'caller expecting 480');
    expectSippSuccess(cancelled, 'callee');
    // The configured 2 s ring timeout, not the 60 s default, ended the call.
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('the caller puts the call on hold (sendonly → recvonly) and resumes it (sendrecv), then hangs up', async () => {
    const callee = await newCallee();
    const answering = await startCallee('uas-answer.xml', callee);
    await registerLine(test, callee, answering.port);
    const call = await startCaller(test, 'uac-hold.xml', caller, callee.extension);
    const [held, answered] = await Promise.all([call.done, answering.done]);
    expectSippSuccess(held, 'caller');
    expectSippSuccess(answered, 'callee');
  });

  it('the callee puts the call on hold and resumes it with its own re-INVITEs; the call stays up until the caller hangs up', async () => {
    const callee = await newCallee();
    const holding = await startCallee('uas-hold.xml', callee);
    await registerLine(test, callee, holding.port);
    // The caller talks for 1 s: long enough for the callee's hold and resume (2 × 100 ms + RTTs).
    const call = await startCaller(test, 'uac-call.xml', caller, callee.extension);
    const [called, held] = await Promise.all([call.done, holding.done]);
    expectSippSuccess(held, 'callee');
    expectSippSuccess(called, 'caller');
  });

  it('refuses a re-INVITE whose offer is not SDP with 488 and keeps the call up (§14.2)', async () => {
    const callee = await newCallee();
    const answering = await startCallee('uas-answer.xml', callee);
    await registerLine(test, callee, answering.port);
    const call = await startCaller(test, 'uac-reinvite-refused.xml', caller, callee.extension);
    const [called, answered] = await Promise.all([call.done, answering.done]);
    expectSippSuccess(called, 'caller');
    expectSippSuccess(answered, 'callee');
  });

  it('ends the call when the callee answers with an unusable SDP: BYE with Reason cause=88 to the callee, 488 to the caller', async () => {
    const callee = await newCallee();
    const answering = await startCallee('uas-answer-bad-sdp.xml', callee);
    await registerLine(test, callee, answering.port);
    const call = await startCaller(test, 'uac-ring-rejected.xml', caller, callee.extension, {
      substitute: { status: '488' },
    });
    const [rejected, answered] = await Promise.all([call.done, answering.done]);
    expectSippSuccess(rejected, 'caller expecting 488');
    expectSippSuccess(answered, 'callee');
  });

  it('copies the caller Record-Route into its 200 and sends Route on requests to a record-routed callee (§12.1)', async () => {
    const callee = await newCallee();
    const answering = await startCallee('uas-record-route.xml', callee);
    await registerLine(test, callee, answering.port);
    const call = await startCaller(test, 'uac-record-route.xml', caller, callee.extension);
    const [called, answered] = await Promise.all([call.done, answering.done]);
    expectSippSuccess(called, 'caller');
    expectSippSuccess(answered, 'callee');
  });

  it('a BYE from the callee ends the caller leg with a BYE to the caller', async () => {
    const callee = await newCallee();
    const hangingUp = await startCallee('uas-answer-bye.xml', callee);
    await registerLine(test, callee, hangingUp.port);
    const call = await startCaller(test, 'uac-remote-bye.xml', caller, callee.extension);
    const [byeReceived, byeSent] = await Promise.all([call.done, hangingUp.done]);
    expectSippSuccess(byeSent, 'callee');
    expectSippSuccess(byeReceived, 'caller');
  });
});
