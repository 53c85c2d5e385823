/**
 * SIP over TCP with sipp desk phones: a phone registers over a connection and receives its
 * calls over that same connection (RFC 5626 §5.3; its Contact port is closed, so nothing else
 * could reach it), and the binding disappears when the connection closes (RFC 5626 §5.2).
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addUser, startTestServer, type TestLine, type TestServer } from './support/server.js';
import { peerPort } from '../support/ports.js';
import { SCENARIOS, runSipp, type SippRun } from '../support/sipp.js';
import { expectSippSuccess, startCaller, statsOf, waitFor } from './support/sip-peers.js';

describe('register and call over TCP (sipp -t t1 / -t tn)', () => {
  let test: TestServer;
  let caller: TestLine;
  let nextExtension = 3100;

  beforeAll(async () => {
    test = await startTestServer({ ringTimeoutSeconds: 5 });
    caller = await addUser(test.server, 'tcpcaller', '3000');
  });

  afterAll(async () => {
    await test.close();
  });

  afterEach(async () => {
    await waitFor(
      () => statsOf(test).channels === 0 && statsOf(test).bridges === 0,
      'channels and bridges released',
    );
  });

  /**
   * A phone that registers over one TCP connection and answers one call on it
   * (register-and-answer.xml with uas-answer-flagged.xml for the server's INVITE). The Contact
   * names a port where nothing listens.
   */
  const startTcpPhone = async (line: TestLine): Promise<SippRun> =>
    runSipp('register-and-answer.xml', [
      '-oocsf',
      join(SCENARIOS, 'uas-answer-flagged.xml'),
      '-t',
      't1',
      '-au',
      line.sipUsername,
      '-ap',
      line.sipSecret,
      '-s',
      line.sipUsername,
      '-key',
      'contact_port',
      // A port where nothing listens.
      String(await peerPort()),
      '-key',
      'expires',
      '300',
      `127.0.0.1:${test.sipPort}`,
    ]);

  it.each([
    ['tn', 'a connection per call'],
    ['t1', 'one connection'],
  ] as const)(
    'a caller over TCP (-t %s, %s) reaches a phone registered over TCP through its registration connection, and the binding goes when that connection closes',
    async (mode, _description) => {
      nextExtension += 1;
      const callee = await addUser(test.server, `tcp${nextExtension}`, String(nextExtension));
      const before = statsOf(test);
      const phone = await startTcpPhone(callee);
      await waitFor(() => statsOf(test).bindings === before.bindings + 1, 'the TCP registration');
      // The phone's registration connection is the only new one.
      expect(statsOf(test).connections).toBe(before.connections + 1);

      const call = await startCaller(test, 'uac-call.xml', caller, callee.extension, {
        transport: mode,
        // -t tn wants a socket budget below the open-files limit.
        args: ['-max_socket', '64'],
      });
      const called = await call.done;
      expectSippSuccess(called, 'caller');
      // The server opened no connection of its own towards the (closed) Contact port.
      const answered = await phone.done;
      expectSippSuccess(answered, 'phone');

      // Both sipp processes are gone: their connections close and the binding with them.
      await waitFor(
        () =>
          statsOf(test).connections === before.connections &&
          statsOf(test).bindings === before.bindings,
        'connections and the binding removed',
      );
    },
  );
});
