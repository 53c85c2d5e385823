/**
 * `Phone` guards that decide before any network I/O. Everything that needs a registrar or a
 * peer runs against the real server in tests/integration/sdk-registration.test.ts and
 * tests/integration/sdk-calls.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createConfab, type Confab } from '../src/confab.js';
import { PhoneErrorCode } from '../src/errors.js';
import { PhoneEvent } from '../src/phone/events.js';
import { PhoneState } from '../src/phone/phone.js';

/** An SDK whose platform fails the test if the Phone touches the network or the devices. */
function offlineConfab(): { confab: Confab; touched: string[] } {
  const touched: string[] = [];
  const refuse = (what: string): never => {
    touched.push(what);
    throw new Error(`unexpected use of ${what}`);
  };
  const confab = createConfab({
    platform: {
      fetch: () => refuse('fetch'),
      createWebSocket: () => refuse('WebSocket'),
      getUserMedia: () => refuse('getUserMedia'),
      remoteAudio: undefined,
    },
  });
  return { confab, touched };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('Phone without a session', () => {
  it('connect() rejects with PHONE_NOT_AUTHENTICATED before Auth.logIn() and stays Disconnected', async () => {
    const { confab, touched } = offlineConfab();
    const events: string[] = [];
    confab.Phone.on(PhoneEvent.ON_REGISTERED, () => events.push('registered'));
    expect(await rejection(confab.Phone.connect())).toMatchObject({
      code: PhoneErrorCode.NotAuthenticated,
    });
    expect(confab.Phone.state).toBe(PhoneState.Disconnected);
    expect(confab.Phone.isRegistered()).toBe(false);
    expect(events).toEqual([]);
    expect(touched).toEqual([]);
  });

  it('call() rejects with PHONE_NOT_CONNECTED before connect(), and with TypeError for an empty number', async () => {
    const { confab, touched } = offlineConfab();
    expect(await rejection(confab.Phone.call('1002'))).toMatchObject({
      code: PhoneErrorCode.NotConnected,
    });
    // The number is checked first, whatever the connection state.
    expect(await rejection(confab.Phone.call('  '))).toBeInstanceOf(TypeError);
    expect(touched).toEqual([]);
  });

  it('accept() rejects with PHONE_NOT_CONNECTED; hangup() of an unknown call resolves false', async () => {
    const { confab } = offlineConfab();
    const stranger = new confab.domain.CallSession({ sipCallId: 'nope' });
    expect(await rejection(confab.Phone.accept(stranger))).toMatchObject({
      code: PhoneErrorCode.NotConnected,
    });
    expect(await confab.Phone.hangup(stranger)).toBe(false);
    expect(confab.Phone.getCallSessions()).toEqual([]);
  });

  it('disconnect() is a no-op that resolves and emits nothing', async () => {
    const { confab } = offlineConfab();
    const events: string[] = [];
    confab.Phone.on(PhoneEvent.ON_UNREGISTERED, () => events.push('unregistered'));
    await confab.Phone.disconnect();
    expect(confab.Phone.state).toBe(PhoneState.Disconnected);
    expect(events).toEqual([]);
  });
});
