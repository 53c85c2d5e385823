/**
 * Interop with a real SIP implementation: sipp (Debian sip-tester) as a desk phone that
 * registers with digest authentication and answers, and as a caller that authenticates its INVITE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, startTestServer, type TestLine, type TestServer } from './support/server.js';
import { peerPort } from '../support/ports.js';
import { runSipp, untilListening } from '../support/sipp.js';

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('sipp desk phones through Confab (UDP)', () => {
  let test: TestServer;
  let callee: TestLine;
  let caller: TestLine;

  beforeAll(async () => {
    test = await startTestServer();
    callee = await addUser(test.server, 'dave', '1004');
    caller = await addUser(test.server, 'erin', '1005');
  });

  afterAll(async () => {
    await test.close();
  });

  const stats = () => {
    const stats = test.server.telephony.stats?.();
    if (!stats) {
      throw new Error('telephony stats unavailable');
    }
    return stats;
  };

  it('a sipp UAS registers with digest auth, a sipp UAC calls its extension, and the call completes and tears down cleanly', async () => {
    // The UAS is told its port (the registration names it); the UACs below bind one themselves.
    const uasPort = await peerPort();
    const uas = runSipp('uas-answer.xml', ['-p', String(uasPort), '-s', callee.sipUsername]);
    await untilListening(uas, uasPort, 'udp');
    const register = runSipp('register.xml', [
      '-au',
      callee.sipUsername,
      '-ap',
      callee.sipSecret,
      '-s',
      callee.sipUsername,
      '-key',
      'contact_port',
      String(uasPort),
      '-key',
      'expires',
      '300',
      `127.0.0.1:${test.sipPort}`,
    ]);
    const registered = await register.done;
    expect(registered.code, registered.errors || registered.stdout).toBe(0);
    expect(stats().bindings).toBe(1);

    const uac = runSipp('uac-call.xml', [
      '-au',
      caller.sipUsername,
      '-ap',
      caller.sipSecret,
      '-s',
      callee.extension,
      '-key',
      'caller',
      caller.sipUsername,
      `127.0.0.1:${test.sipPort}`,
    ]);
    const [called, answered] = await Promise.all([uac.done, uas.done]);
    expect(called.code, called.errors || called.stdout).toBe(0);
    expect(answered.code, answered.errors || answered.stdout).toBe(0);
    // Both legs and their bridge are gone once the BYE went through.
    await waitFor(() => stats().channels === 0 && stats().bridges === 0);
  });

  it('an unregistered extension gets 480 and an unknown one 404', async () => {
    const unreachable = await addUser(test.server, 'frank', '1006');
    const cases = [
      { extension: unreachable.extension, status: '480' },
      { extension: '1999', status: '404' },
    ];
    for (const { extension, status } of cases) {
      const run = runSipp(
        'uac-rejected.xml',
        [
          '-au',
          caller.sipUsername,
          '-ap',
          caller.sipSecret,
          '-s',
          extension,
          '-key',
          'caller',
          caller.sipUsername,
          `127.0.0.1:${test.sipPort}`,
        ],
        { substitute: { status } },
      );
      const result = await run.done;
      expect(result.code, `${extension}: ${result.errors || result.stdout}`).toBe(0);
    }
    expect(stats().channels).toBe(0);
  });

  it('a REGISTER with a wrong secret is refused with 401 and creates no binding', async () => {
    const before = stats().bindings;
    const run = runSipp('register-refused.xml', [
      '-au',
      callee.sipUsername,
      '-ap',
      'not-the-secret',
      '-s',
      callee.sipUsername,
      '-key',
      'contact_port',
      '5999',
      `127.0.0.1:${test.sipPort}`,
    ]);
    const result = await run.done;
    expect(result.code, result.errors || result.stdout).toBe(0);
    expect(stats().bindings).toBe(before);
  });
});
