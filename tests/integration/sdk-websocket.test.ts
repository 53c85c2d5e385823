/**
 * The SDK's event websocket against the real Confab server (`/api/websocketd/`, protocol v2):
 * opened by `Auth.logIn()`, call events of the user's own legs delivered under their names with
 * the bus message as payload, `callSession.call` filled from `call_created`/`call_updated`
 * (with `talking_to`, so `getTalkingToIds()` names the peer leg), hold
 * and DTMF reported as `call_held`/`call_resumed`/`call_dtmf_created`, the `token` op after a
 * refresh, and listeners surviving logout and a new login.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PhoneEvent, type BusEvent, type CallSession } from '@confab/sdk';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { waitFor } from '../support/node-phone.js';
import {
  busEventsNamed,
  closeAll,
  createSdkClient,
  logInWithEvents,
  recordBusEvents,
  ring,
  type SdkClient,
} from '../support/sdk-client.js';

describe('SDK Websocket against a real Confab server', () => {
  let confab: TestConfab;
  const clients: SdkClient[] = [];

  beforeAll(async () => {
    confab = await startTestConfab();
  });

  afterEach(() => closeAll(clients));

  afterAll(async () => {
    await confab?.close();
  });

  /** A logged-in, registered client whose websocket events are recorded. */
  async function person(
    firstname: string,
    clientId?: string,
  ): Promise<{ user: TestLineUser; client: SdkClient; bus: BusEvent[] }> {
    const user = await confab.addUser({ firstname, lastname: 'Events' });
    const client = createSdkClient({ frequency: 700, origin: confab.origin });
    if (clientId !== undefined) {
      client.confab.Auth.setClientId(clientId);
    }
    clients.push(client);
    const { Websocket } = client.confab;
    const bus = recordBusEvents(client, [
      Websocket.CALL_CREATED,
      Websocket.CALL_UPDATED,
      Websocket.CALL_ANSWERED,
      Websocket.CALL_ENDED,
      Websocket.CALL_HELD,
      Websocket.CALL_RESUMED,
      Websocket.CALL_DTMF_CREATED,
    ]);
    await logInWithEvents(client, user);
    return { user, client, bus };
  }

  async function established(
    alice: SdkClient,
    bob: SdkClient,
    number: string,
  ): Promise<{ outgoing: CallSession; incoming: CallSession }> {
    const { outgoing, incoming } = await ring(alice, bob, number);
    const accepted = alice.next(PhoneEvent.ON_CALL_ACCEPTED);
    await bob.confab.Phone.accept(incoming);
    await accepted;
    return { outgoing, incoming };
  }

  it('logIn() opens /api/websocketd/ with the token and version 2; call events of our legs arrive with the bus message as payload', async () => {
    const alice = await person('Alice');
    const bob = await person('Bob');
    const socket = alice.client.eventWire.sockets[0]!;
    const url = new URL(socket.url);
    expect(url.pathname).toBe('/api/websocketd/');
    expect(url.searchParams.get('token')).toBe(alice.client.confab.Auth.getSession()!.token);
    expect(url.searchParams.get('version')).toBe('2');
    expect(alice.client.confab.Websocket.isOpen()).toBe(true);

    const { outgoing, incoming } = await established(alice.client, bob.client, bob.user.extension);
    await waitFor(
      'call_created for the caller leg',
      () => busEventsNamed(alice.bus, 'call_created', outgoing.sipCallId).length > 0,
    );
    const created = busEventsNamed(alice.bus, 'call_created', outgoing.sipCallId)[0]!;
    expect(created).toMatchObject({
      name: 'call_created',
      data: { call_id: outgoing.callId, user_uuid: alice.user.uuid, is_caller: true },
    });
    expect(created.origin_uuid).toMatch(/^[0-9a-f-]{36}$/);
    // Per-user filtering: alice never sees bob's leg.
    expect(busEventsNamed(alice.bus, 'call_created', incoming.sipCallId)).toEqual([]);
    await waitFor(
      'call_answered at bob',
      () => busEventsNamed(bob.bus, 'call_answered', incoming.sipCallId).length > 0,
    );

    const ended = alice.client.next(PhoneEvent.ON_CALL_ENDED);
    await alice.client.confab.Phone.hangup(outgoing);
    await ended;
    await waitFor(
      'call_ended at both',
      () =>
        busEventsNamed(alice.bus, 'call_ended').length > 0 &&
        busEventsNamed(bob.bus, 'call_ended').length > 0,
    );
  });

  it('fills callSession.call from call_created/call_updated of our own leg, matched by SIP Call-ID; talking_to names the peer leg', async () => {
    const alice = await person('Alice');
    const bob = await person('Bob');
    const { outgoing, incoming } = await established(alice.client, bob.client, bob.user.extension);
    await waitFor('the calld view up and bridged at both ends', () =>
      [outgoing, incoming].every((c) => c.call?.isUp() === true && c.getTalkingToIds().length > 0),
    );
    for (const callSession of [outgoing, incoming]) {
      expect(callSession.call!.id).toBe(callSession.callId);
      expect(callSession.call!.sipCallId).toBe(callSession.sipCallId);
    }
    expect(outgoing.call!.isCaller).toBe(true);
    expect(incoming.call!.isCaller).toBe(false);
    expect(outgoing.getTalkingToIds()).toEqual([incoming.callId]);
    expect(incoming.getTalkingToIds()).toEqual([outgoing.callId]);
  });

  it('reports hold/resume as call_held/call_resumed and call_updated with on_hold, and DTMF as call_dtmf_created', async () => {
    const alice = await person('Alice');
    const bob = await person('Bob');
    const { outgoing } = await established(alice.client, bob.client, bob.user.extension);

    await alice.client.confab.Phone.hold(outgoing);
    await waitFor('call_held', () => busEventsNamed(alice.bus, 'call_held').length > 0);
    expect(busEventsNamed(alice.bus, 'call_held')[0]!.data).toMatchObject({
      call_id: outgoing.callId,
    });
    await waitFor('the calld view on hold', () => outgoing.call?.isOnHold() === true);
    await alice.client.confab.Phone.resume(outgoing);
    await waitFor('call_resumed', () => busEventsNamed(alice.bus, 'call_resumed').length > 0);
    await waitFor('the calld view resumed', () => outgoing.call?.isOnHold() === false);

    await alice.client.confab.Phone.sendDTMF('7', outgoing);
    await waitFor(
      'call_dtmf_created',
      () => busEventsNamed(alice.bus, 'call_dtmf_created').length > 0,
    );
    expect(busEventsNamed(alice.bus, 'call_dtmf_created')[0]!.data).toMatchObject({
      call_id: outgoing.callId,
      digit: '7',
    });
  });

  it('sends the token op after a token refresh, and keeps receiving events on the same socket', async () => {
    const alice = await person('Alice', 'confab-ws-tests');
    const bob = await person('Bob');
    const token = await alice.client.confab.Auth.forceRefreshToken();
    expect(token).not.toBeNull();
    await waitFor('the token op', () =>
      alice.client.eventWire.messages.some(
        (m) => m.direction === 'out' && m.text === JSON.stringify({ op: 'token', data: { token } }),
      ),
    );
    await waitFor('the token op acknowledged', () =>
      alice.client.eventWire.messages.some(
        (m) => m.direction === 'in' && (JSON.parse(m.text) as { op?: unknown }).op === 'token',
      ),
    );
    const { outgoing } = await established(alice.client, bob.client, bob.user.extension);
    await waitFor(
      'call_created after the swap',
      () => busEventsNamed(alice.bus, 'call_created', outgoing.sipCallId).length > 0,
    );
    expect(alice.client.eventWire.sockets).toHaveLength(1);
  });

  it('keeps the application listeners across logout and a new login (the original drops them)', async () => {
    const alice = await person('Alice');
    const bob = await person('Bob');
    await alice.client.confab.Phone.disconnect();
    await alice.client.confab.Auth.logout();
    expect(alice.client.confab.Websocket.isOpen()).toBe(false);

    const reopened = new Promise<void>((resolve) =>
      alice.client.confab.Websocket.once(alice.client.confab.Websocket.INITIALIZED, () =>
        resolve(),
      ),
    );
    await alice.client.logIn(alice.user);
    await reopened;
    const { outgoing } = await established(alice.client, bob.client, bob.user.extension);
    await waitFor(
      'call_created after a new login',
      () => busEventsNamed(alice.bus, 'call_created', outgoing.sipCallId).length > 0,
    );
    expect(alice.client.eventWire.sockets).toHaveLength(2);
  });
});
