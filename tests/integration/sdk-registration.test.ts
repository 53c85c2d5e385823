/**
 * `Phone.connect()` / `Phone.disconnect()` of the Node SDK against the real Confab registrar:
 * digest registration over the SIP WebSocket, refusal, concurrency, a dropped connection, and
 * unregistration. Each scenario logs in its own user, so the registrar state of one never leaks
 * into another; the SIP WebSocket of each client is tapped to assert what went over the wire.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PhoneErrorCode, PhoneEvent, PhoneState } from '@confab/sdk';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { waitFor } from '../support/node-phone.js';
import { closeAll, createSdkClient, rejection, type SdkClient } from '../support/sdk-client.js';

describe('SDK Phone registration with a real Confab server', () => {
  let confab: TestConfab;
  const clients: SdkClient[] = [];

  beforeAll(async () => {
    confab = await startTestConfab();
  });

  afterEach(() => closeAll(clients));

  afterAll(async () => {
    await confab?.close();
  });

  /** A fresh user and an SDK client for it (not logged in). */
  async function newcomer(
    options: { webrtc?: boolean } = {},
  ): Promise<{ user: TestLineUser; client: SdkClient }> {
    const user = await confab.addUser(options);
    const client = createSdkClient({ frequency: 440, origin: confab.origin });
    clients.push(client);
    return { user, client };
  }

  it('registers the WebRTC line with digest auth over /api/asterisk/ws?userUuid and resolves after the 200', async () => {
    const { user, client } = await newcomer();
    await client.logIn(user);

    expect(client.confab.Phone.isRegistered()).toBe(true);
    expect(await confab.isRegistered(user.extension)).toBe(true);
    expect(client.names()).toEqual([PhoneEvent.ON_REGISTERED]);
    expect(client.wire.sockets.map((s) => s.url)).toEqual([
      `ws://127.0.0.1:${new URL(confab.origin).port}/api/asterisk/ws?userUuid=${user.uuid}`,
    ]);
    expect(client.wire.sockets[0]!.protocol).toBe('sip');
    const registers = client.wire.sent('REGISTER');
    // Unauthenticated first, then with credentials after the 401 (RFC 3261 §22.2).
    expect(registers).toHaveLength(2);
    expect(registers[0]!.header('authorization')).toBeUndefined();
    expect(client.wire.responses('REGISTER').map((r) => r.status)).toEqual([401, 200]);
    const authorized = registers[1]!;
    expect(authorized.header('authorization')).toMatch(
      new RegExp(`^Digest .*username="${user.sipUsername}"`),
    );
    expect(authorized.header('user-agent')).toBe('confab-sdk');
    expect(authorized.header('to')).toContain(`<sip:${user.sipUsername}@127.0.0.1>`);
  });

  it('keeps listeners added before connect() (@wazo/sdk drops them)', async () => {
    const { user, client } = await newcomer();
    let registered = 0;
    client.confab.Phone.on(client.confab.Phone.ON_REGISTERED, () => registered++);
    await client.logIn(user);
    expect(registered).toBe(1);
  });

  it('rejects with PHONE_REGISTRATION_FAILED and status 401 when the account was removed after login', async () => {
    const { user, client } = await newcomer();
    await client.confab.Auth.logIn(user.username, user.password);
    // The SDK holds the SIP credentials of a line the server no longer has.
    expect(await confab.server.store.users.remove(user.username)).toBe(true);

    const error = await rejection(client.confab.Phone.connect());
    expect(error).toMatchObject({ code: PhoneErrorCode.RegistrationFailed, status: 401 });
    expect(client.confab.Phone.state).toBe(PhoneState.Disconnected);
    expect(client.names()).not.toContain(PhoneEvent.ON_REGISTERED);
    // The registrar challenged the credentials again instead of accepting them (§22.2).
    expect(client.wire.responses('REGISTER').map((r) => r.status)).toEqual([401, 401]);
  });

  it('rejects with PHONE_NO_WEBRTC_LINE when the user has no line flagged webrtc, without opening a socket', async () => {
    const { user, client } = await newcomer({ webrtc: false });
    await client.confab.Auth.logIn(user.username, user.password);
    expect(await rejection(client.confab.Phone.connect())).toMatchObject({
      code: PhoneErrorCode.NoWebRtcLine,
    });
    expect(client.wire.sockets).toHaveLength(0);
  });

  it('shares one registration between concurrent connect() calls', async () => {
    const { user, client } = await newcomer();
    await client.confab.Auth.logIn(user.username, user.password);
    await Promise.all([client.confab.Phone.connect(), client.confab.Phone.connect()]);
    expect(client.wire.sockets).toHaveLength(1);
    expect(client.wire.answered('REGISTER')).toHaveLength(0);
    expect(client.wire.responses('REGISTER', 200)).toHaveLength(1);
    expect(client.names()).toEqual([PhoneEvent.ON_REGISTERED]);
  });

  it('goes Unregistered with onUnRegistered when the SIP connection drops; the server forgets the binding; connect() registers again', async () => {
    const { user, client } = await newcomer();
    await client.logIn(user);
    client.wire.sockets[0]!.drop();

    await waitFor('unregistered', () => client.confab.Phone.state === PhoneState.Unregistered);
    expect(client.names()).toEqual([PhoneEvent.ON_REGISTERED, PhoneEvent.ON_UNREGISTERED]);
    // RFC 5626 §5.2: a binding over a closed flow cannot be reached any more.
    await waitFor('binding removed', async () => !(await confab.isRegistered(user.extension)));

    await client.confab.Phone.connect();
    expect(client.confab.Phone.isRegistered()).toBe(true);
    expect(client.wire.sockets).toHaveLength(2);
    expect(await confab.isRegistered(user.extension)).toBe(true);
    expect(client.names()).toEqual([
      PhoneEvent.ON_REGISTERED,
      PhoneEvent.ON_UNREGISTERED,
      PhoneEvent.ON_REGISTERED,
    ]);
  });

  it('disconnect() unregisters (REGISTER Expires 0), emits onUnRegistered once, and is idempotent', async () => {
    const { user, client } = await newcomer();
    await client.logIn(user);
    await client.confab.Phone.disconnect();
    await client.confab.Phone.disconnect();

    const unregister = client.wire.sent('REGISTER').at(-1)!;
    const expires =
      unregister.header('expires') ??
      /;\s*expires=(\d+)/i.exec(unregister.header('contact') ?? '')?.[1];
    expect(Number(expires)).toBe(0);
    expect(client.wire.ofCall(unregister.callId).at(-1)?.status).toBe(200);
    expect(await confab.isRegistered(user.extension)).toBe(false);
    expect(client.confab.Phone.state).toBe(PhoneState.Disconnected);
    expect(client.names()).toEqual([PhoneEvent.ON_REGISTERED, PhoneEvent.ON_UNREGISTERED]);
  });

  it('a connect() issued during disconnect() waits for it, then registers again', async () => {
    const { user, client } = await newcomer();
    await client.logIn(user);
    const leaving = client.confab.Phone.disconnect();
    const back = client.confab.Phone.connect();
    await Promise.all([leaving, back]);

    expect(client.confab.Phone.isRegistered()).toBe(true);
    expect(await confab.isRegistered(user.extension)).toBe(true);
    expect(client.names()).toEqual([
      PhoneEvent.ON_REGISTERED,
      PhoneEvent.ON_UNREGISTERED,
      PhoneEvent.ON_REGISTERED,
    ]);
  });

  it('disconnect() aborts a connect() in progress with PHONE_ABORTED and leaves no binding', async () => {
    const { user, client } = await newcomer();
    await client.confab.Auth.logIn(user.username, user.password);
    const connecting = rejection(client.confab.Phone.connect());
    await client.confab.Phone.disconnect();

    expect(await connecting).toMatchObject({ code: PhoneErrorCode.Aborted });
    expect(client.confab.Phone.state).toBe(PhoneState.Disconnected);
    expect(client.names()).toEqual([]);
    expect(await confab.isRegistered(user.extension)).toBe(false);
  });
});
