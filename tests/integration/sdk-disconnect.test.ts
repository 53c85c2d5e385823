/**
 * Phone.disconnect() after the SIP WebSocket was lost: nothing can reach the server any more,
 * so disconnect() must not wait for SIP.js transaction timers (up to 32 s) before resolving.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PhoneEvent, PhoneState } from '@confab/sdk';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { closeAll, createSdkClient, ring, type SdkClient } from '../support/sdk-client.js';

describe('Phone.disconnect() after the SIP WebSocket dropped', () => {
  let confab: TestConfab;
  const clients: SdkClient[] = [];

  beforeAll(async () => {
    confab = await startTestConfab();
  });

  afterAll(async () => {
    await confab?.close();
  });

  afterEach(() => closeAll(clients));

  async function person(
    firstname: string,
    frequency: number,
  ): Promise<{ user: TestLineUser; client: SdkClient }> {
    const user = await confab.addUser({ firstname, lastname: 'Liddell' });
    const client = createSdkClient({ frequency, origin: confab.origin });
    clients.push(client);
    await client.logIn(user);
    return { user, client };
  }

  // The 200 OK goes out and the socket drops before the ACK can arrive: SIP.js would send the
  // BYE only on the ACK or at Timer H (RFC 3261 §17.2.1, 32 s), far beyond this test's timeout.
  it(
    'resolves for a callee whose socket dropped right after its 200 OK, before the ACK',
    { timeout: 8000 },
    async () => {
      const { client: alice } = await person('Alice', 500);
      const { client: bob, user: bobUser } = await person('Bob', 1300);
      expect(bob.confab.Phone.state).toBe(PhoneState.Registered);
      const lost = bob.next(PhoneEvent.ON_UNREGISTERED);
      bob.wire.sockets[0]!.dropAfterSending = (m) => m.method === 'INVITE' && m.status === 200;
      const { incoming } = await ring(alice, bob, bobUser.extension);
      await bob.confab.Phone.accept(incoming);
      await lost;

      await bob.confab.Phone.disconnect();

      expect(bob.confab.Phone.state).toBe(PhoneState.Disconnected);
      expect(bob.wire.received('ACK')).toEqual([]);
    },
  );
});
