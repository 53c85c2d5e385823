/**
 * wazo-calld's calls API (spec §4, §9 "Calls") on a real Confab server with real phones: Node
 * SDK clients (ws + @roamhq/wrtc) that send a tone each, so that mute and hold are verified on
 * the audio itself. Call events are observed on the server's bus and on the event websocket.
 */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { PhoneEvent } from '@confab/sdk';
import type { BusMessage } from '@confab/server';
import { startTestConfab, type TestConfab, type TestLineUser } from '../support/confab-server.js';
import { hearsTone } from '../support/goertzel.js';
import { createToneSink, listenUntil, waitFor, type ToneSink } from '../support/node-phone.js';
import { createSdkClient, ring, type SdkClient } from '../support/sdk-client.js';

const ALICE_HZ = 600;
const BOB_HZ = 1400;
const CALLS = '/api/calld/1.0/users/me/calls';

interface CallObject {
  call_id: string;
  conversation_id: string;
  user_uuid: string;
  status: string;
  talking_to: Record<string, string | null>;
  muted: boolean;
  on_hold: boolean;
  is_caller: boolean;
  sip_call_id: string | null;
  line_id: number | null;
  caller_id_number: string;
  peer_caller_id_number: string;
  dialed_extension: string | null;
  reason_code?: number;
  hangup_time?: string | null;
}

interface Reply {
  status: number;
  body: unknown;
}

/** Sends `request` as raw bytes (plain TCP or TLS) and collects everything until the server closes. */
function rawExchange(url: URL, secure: boolean, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const port = Number(url.port);
    const socket = secure
      ? tlsConnect({ host: url.hostname, port, rejectUnauthorized: false })
      : netConnect({ host: url.hostname, port });
    const chunks: Buffer[] = [];
    socket.once(secure ? 'secureConnect' : 'connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
  });
}

function parseRawResponse(raw: string): { status: number; json: Record<string, unknown> } {
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(raw)?.[1]);
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  return { status, json: JSON.parse(body) as Record<string, unknown> };
}

describe('calld 1.0 calls on a real server', () => {
  let confab: TestConfab;
  let clients: SdkClient[] = [];
  let sinks: ToneSink[] = [];
  const events: BusMessage[] = [];
  let unsubscribe: () => void = () => undefined;

  beforeAll(async () => {
    confab = await startTestConfab();
    unsubscribe = confab.server.bus.subscribe((message) => events.push(message));
  });

  afterEach(async () => {
    for (const sink of sinks) {
      sink.stop();
    }
    sinks = [];
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    await waitFor('no channels left on the server', () => confab.stats().channels === 0);
    events.length = 0;
  });

  afterAll(async () => {
    unsubscribe();
    await confab?.close();
  });

  async function person(
    firstname: string,
    frequency: number,
  ): Promise<{ user: TestLineUser; client: SdkClient; token: string }> {
    const user = await confab.addUser({ firstname, lastname: 'Calld' });
    const client = createSdkClient({ frequency, origin: confab.origin });
    clients.push(client);
    await client.logIn(user);
    return { user, client, token: await logIn(user) };
  }

  async function logIn(user: TestLineUser): Promise<string> {
    const response = await fetch(`${confab.origin}/api/auth/0.1/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ expiration: 600 }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { data: { token: string } }).data.token;
  }

  async function calld(
    method: string,
    path: string,
    token: string,
    body?: unknown,
  ): Promise<Reply> {
    const response = await fetch(`${confab.origin}${CALLS}${path}`, {
      method,
      headers: {
        'x-auth-token': token,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
    };
  }

  async function myCalls(token: string): Promise<CallObject[]> {
    const reply = await calld('GET', '', token);
    expect(reply.status).toBe(200);
    return (reply.body as { items: CallObject[] }).items;
  }

  /** Alice calls Bob, Bob answers, both hear each other. */
  async function conversation() {
    const a = await person('Alice', ALICE_HZ);
    const b = await person('Bob', BOB_HZ);
    const aliceStream = a.client.next(PhoneEvent.ON_AUDIO_STREAM);
    const bobStream = b.client.next(PhoneEvent.ON_AUDIO_STREAM);
    const { outgoing, incoming } = await ring(a.client, b.client, b.user.extension);
    const accepted = a.client.next(PhoneEvent.ON_CALL_ACCEPTED);
    await b.client.confab.Phone.accept(incoming);
    await accepted;
    const atAlice = createToneSink((await aliceStream)[0].getAudioTracks()[0]!);
    const atBob = createToneSink((await bobStream)[0].getAudioTracks()[0]!);
    sinks.push(atAlice, atBob);
    await waitFor('audio at both ends', () => atAlice.frames > 100 && atBob.frames > 100, 15_000);
    return { alice: a, bob: b, outgoing, incoming, atAlice, atBob };
  }

  /**
   * What each side hears over a 1.2 s window (after 0.4 s for the change to settle), measured
   * again (up to 10 s) while alice hearing bob or bob hearing alice is not yet as `expected`
   * (a key left out: either way).
   */
  async function listen(
    atAlice: ToneSink,
    atBob: ToneSink,
    expected: { aliceHearsBob?: boolean; bobHearsAlice?: boolean },
  ) {
    const as = (heard: boolean, wanted: boolean | undefined): boolean =>
      wanted === undefined || heard === wanted;
    const [alice, bob] = await listenUntil(
      [atAlice, atBob],
      [ALICE_HZ, BOB_HZ],
      ([a, b]) =>
        as(hearsTone(a!, BOB_HZ), expected.aliceHearsBob) &&
        as(hearsTone(b!, ALICE_HZ), expected.bobHearsAlice),
      { drainMs: 400, windowMs: 1200 },
    );
    return { alice: alice!, bob: bob! };
  }

  function eventsOf(callId: string, name?: string): BusMessage[] {
    return events.filter(
      (m) =>
        (m.data as { call_id?: string }).call_id === callId &&
        (name === undefined || m.name === name),
    );
  }

  it("lists each user's own call with its peer in talking_to; call events reach each owner", async () => {
    const { alice, bob, outgoing, incoming } = await conversation();
    const aliceCallId = outgoing.callId;
    const bobCallId = incoming.callId;

    const [aliceCall, ...aliceRest] = await myCalls(alice.token);
    expect(aliceRest).toEqual([]);
    expect(aliceCall).toMatchObject({
      call_id: aliceCallId,
      conversation_id: aliceCallId,
      user_uuid: alice.user.uuid,
      status: 'Up',
      talking_to: { [bobCallId]: bob.user.uuid },
      is_caller: true,
      sip_call_id: outgoing.sipCallId,
      line_id: alice.user.lineId,
      caller_id_number: alice.user.extension,
      peer_caller_id_number: bob.user.extension,
      dialed_extension: bob.user.extension,
    });
    const [bobCall, ...bobRest] = await myCalls(bob.token);
    expect(bobRest).toEqual([]);
    expect(bobCall).toMatchObject({
      call_id: bobCallId,
      conversation_id: aliceCallId,
      user_uuid: bob.user.uuid,
      talking_to: { [aliceCallId]: alice.user.uuid },
      is_caller: false,
      sip_call_id: incoming.sipCallId,
    });

    for (const [callId, user] of [
      [aliceCallId, alice.user],
      [bobCallId, bob.user],
    ] as const) {
      const names = eventsOf(callId).map((m) => m.name);
      expect(names[0]).toBe('call_created');
      expect(names).toContain('call_answered');
      expect(names.indexOf('call_answered')).toBeGreaterThan(0);
      for (const message of eventsOf(callId)) {
        expect(message[`user_uuid:${user.uuid}`]).toBe(true);
        expect(message.required_acl).toBe(`events.calls.${user.uuid}`);
        expect(message.origin_uuid).toBe(confab.server.tokens.stackUuid);
      }
      // The last update after the bridge names the peer.
      const updates = eventsOf(callId, 'call_updated');
      expect(Object.keys((updates.at(-1)!.data as CallObject).talking_to)).toHaveLength(1);
    }
  });

  it('hangs up my call: 204, both phones end, call_ended with reason 16 for both legs; not another user’s call (403) nor an unknown one (404)', async () => {
    const { alice, bob, outgoing, incoming } = await conversation();
    const aliceCallId = outgoing.callId;
    const bobCallId = incoming.callId;

    const foreign = await calld('DELETE', `/${bobCallId}`, alice.token);
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatchObject({
      error_id: 'user-permission-denied',
      details: { call: bobCallId, user: alice.user.uuid },
    });
    const unknown = await calld('DELETE', '/1.424242', alice.token);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({
      error_id: 'no-such-call',
      details: { call_id: '1.424242' },
    });
    expect(await myCalls(bob.token)).toHaveLength(1);

    const aliceEnded = alice.client.next(PhoneEvent.ON_CALL_ENDED);
    const bobEnded = bob.client.next(PhoneEvent.ON_CALL_ENDED);
    const reply = await calld('DELETE', `/${aliceCallId}`, alice.token);
    expect(reply).toEqual({ status: 204, body: undefined });
    await Promise.all([aliceEnded, bobEnded]);
    await waitFor('both call_ended', () => eventsOf(bobCallId, 'call_ended').length === 1);

    const ended = eventsOf(aliceCallId, 'call_ended');
    expect(ended).toHaveLength(1);
    expect(ended[0]!.data).toMatchObject({
      call_id: aliceCallId,
      reason_code: 16,
      talking_to: {},
      is_caller: true,
      line_id: alice.user.lineId,
      sip_call_id: outgoing.sipCallId,
      // Wazo's call_ended swaps caller and peer (spec §4.4), reproduced on purpose.
      caller_id_number: bob.user.extension,
      peer_caller_id_number: alice.user.extension,
    });
    expect((ended[0]!.data as CallObject).hangup_time).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/,
    );
    expect(await myCalls(alice.token)).toEqual([]);
    expect(await myCalls(bob.token)).toEqual([]);
  });

  it('mutes server-side: the peer stops hearing me, I still hear the peer, call_updated muted:true; unmute restores', async () => {
    const { alice, bob, outgoing, incoming, atAlice, atBob } = await conversation();
    const aliceCallId = outgoing.callId;

    expect((await calld('PUT', `/${incoming.callId}/mute/start`, alice.token)).status).toBe(403);
    expect((await calld('PUT', '/1.424242/mute/start', alice.token)).status).toBe(404);

    expect((await calld('PUT', `/${aliceCallId}/mute/start`, alice.token)).status).toBe(204);
    const muted = eventsOf(aliceCallId, 'call_updated').at(-1)!;
    expect(muted.data).toMatchObject({ call_id: aliceCallId, muted: true });
    expect(await myCalls(alice.token)).toMatchObject([{ muted: true }]);
    expect(await myCalls(bob.token)).toMatchObject([{ muted: false }]);
    const whileMuted = await listen(atAlice, atBob, { aliceHearsBob: true, bobHearsAlice: false });
    expect(hearsTone(whileMuted.bob, ALICE_HZ), JSON.stringify(whileMuted.bob)).toBe(false);
    expect(hearsTone(whileMuted.alice, BOB_HZ), JSON.stringify(whileMuted.alice)).toBe(true);

    expect((await calld('PUT', `/${aliceCallId}/mute/stop`, alice.token)).status).toBe(204);
    expect(eventsOf(aliceCallId, 'call_updated').at(-1)!.data).toMatchObject({ muted: false });
    const after = await listen(atAlice, atBob, { bobHearsAlice: true });
    expect(hearsTone(after.bob, ALICE_HZ), JSON.stringify(after.bob)).toBe(true);
  });

  it('holds server-side: nothing heard either way, call_held then call_resumed, on_hold in the list', async () => {
    const { alice, outgoing, incoming, atAlice, atBob } = await conversation();
    const aliceCallId = outgoing.callId;

    expect((await calld('PUT', `/${incoming.callId}/hold/start`, alice.token)).status).toBe(403);
    expect((await calld('PUT', `/${aliceCallId}/hold/start`, alice.token)).status).toBe(204);
    expect(eventsOf(aliceCallId, 'call_held').map((m) => m.data)).toEqual([
      { call_id: aliceCallId, user_uuid: alice.user.uuid },
    ]);
    expect(await myCalls(alice.token)).toMatchObject([{ on_hold: true }]);
    const held = await listen(atAlice, atBob, { aliceHearsBob: false, bobHearsAlice: false });
    expect(hearsTone(held.bob, ALICE_HZ), JSON.stringify(held.bob)).toBe(false);
    expect(hearsTone(held.alice, BOB_HZ), JSON.stringify(held.alice)).toBe(false);

    expect((await calld('PUT', `/${aliceCallId}/hold/stop`, alice.token)).status).toBe(204);
    expect(eventsOf(aliceCallId, 'call_resumed')).toHaveLength(1);
    expect(await myCalls(alice.token)).toMatchObject([{ on_hold: false }]);
    const resumed = await listen(atAlice, atBob, { aliceHearsBob: true, bobHearsAlice: true });
    expect(hearsTone(resumed.bob, ALICE_HZ), JSON.stringify(resumed.bob)).toBe(true);
    expect(hearsTone(resumed.alice, BOB_HZ), JSON.stringify(resumed.alice)).toBe(true);
  });

  it('plays DTMF as if I pressed the keys: call_dtmf_created per digit, SIP INFO to the peer', async () => {
    const { alice, bob, outgoing, incoming } = await conversation();
    const aliceCallId = outgoing.callId;

    const bad = await calld('PUT', `/${aliceCallId}/dtmf?digits=12x`, alice.token);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error_id: 'invalid-data', details: { digits: {} } });
    expect((await calld('PUT', `/${incoming.callId}/dtmf?digits=1`, alice.token)).status).toBe(403);

    const reply = await calld(
      'PUT',
      `/${aliceCallId}/dtmf?digits=${encodeURIComponent('1*#')}`,
      alice.token,
    );
    expect(reply.status).toBe(204);
    expect(eventsOf(aliceCallId, 'call_dtmf_created').map((m) => m.data)).toEqual([
      { call_id: aliceCallId, digit: '1', user_uuid: alice.user.uuid },
      { call_id: aliceCallId, digit: '*', user_uuid: alice.user.uuid },
      { call_id: aliceCallId, digit: '#', user_uuid: alice.user.uuid },
    ]);
    await waitFor('three INFO at bob', () => bob.client.wire.received('INFO').length === 3);
    const infos = bob.client.wire.received('INFO');
    expect(infos.map((m) => m.callId)).toEqual([
      incoming.sipCallId,
      incoming.sipCallId,
      incoming.sipCallId,
    ]);
    expect(infos.map((m) => /Signal=(.)/.exec(m.text)?.[1])).toEqual(['1', '*', '#']);
    expect(infos[0]!.header('content-type')).toBe('application/dtmf-relay');
  });

  it('refuses to answer a ringing call remotely with 503 phoned-error; 403 for another user’s', async () => {
    const a = await person('Alice', ALICE_HZ);
    const b = await person('Bob', BOB_HZ);
    const { incoming } = await ring(a.client, b.client, b.user.extension);
    expect((await calld('PUT', `/${incoming.callId}/answer`, a.token)).status).toBe(403);
    const reply = await calld('PUT', `/${incoming.callId}/answer`, b.token);
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({ error_id: 'phoned-error' });
    expect(await myCalls(b.token)).toMatchObject([{ call_id: incoming.callId, status: 'Ringing' }]);
  });

  it('places a call for me: my phone rings first, then the extension; 201 with my leg; audio both ways', async () => {
    const a = await person('Alice', ALICE_HZ);
    const b = await person('Bob', BOB_HZ);

    const unknown = await calld('POST', '', a.token, { extension: '9999' });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error_id: 'invalid-extension' });

    const aliceRings = a.client.next(PhoneEvent.ON_CALL_INCOMING);
    const reply = await calld('POST', '', a.token, { extension: ` ${b.user.extension} ` });
    expect(reply.status).toBe(201);
    const leg = reply.body as CallObject;
    expect(leg).toMatchObject({
      user_uuid: a.user.uuid,
      is_caller: true,
      dialed_extension: b.user.extension,
      line_id: a.user.lineId,
      talking_to: {},
    });
    const [aliceSession] = await aliceRings;
    expect(aliceSession.callId).toBe(leg.call_id);
    // Alice's phone shows whom it is about to call.
    expect(aliceSession.number).toBe(b.user.extension);
    expect(b.client.names()).not.toContain(PhoneEvent.ON_CALL_INCOMING);

    const aliceStream = a.client.next(PhoneEvent.ON_AUDIO_STREAM);
    const bobRings = b.client.next(PhoneEvent.ON_CALL_INCOMING);
    await a.client.confab.Phone.accept(aliceSession);
    const [bobSession] = await bobRings;
    expect(bobSession.number).toBe(a.user.extension);
    const bobStream = b.client.next(PhoneEvent.ON_AUDIO_STREAM);
    await b.client.confab.Phone.accept(bobSession);

    const atAlice = createToneSink((await aliceStream)[0].getAudioTracks()[0]!);
    const atBob = createToneSink((await bobStream)[0].getAudioTracks()[0]!);
    sinks.push(atAlice, atBob);
    await waitFor('audio at both ends', () => atAlice.frames > 100 && atBob.frames > 100, 15_000);
    const heard = await listen(atAlice, atBob, { aliceHearsBob: true, bobHearsAlice: true });
    expect(hearsTone(heard.alice, BOB_HZ), JSON.stringify(heard.alice)).toBe(true);
    expect(hearsTone(heard.bob, ALICE_HZ), JSON.stringify(heard.bob)).toBe(true);

    const [aliceCall] = await myCalls(a.token);
    expect(aliceCall).toMatchObject({
      call_id: leg.call_id,
      status: 'Up',
      talking_to: { [bobSession.callId]: b.user.uuid },
    });
    expect(await myCalls(b.token)).toMatchObject([
      { conversation_id: leg.call_id, is_caller: false },
    ]);

    const ended = b.client.next(PhoneEvent.ON_CALL_ENDED);
    await a.client.confab.Phone.hangup(aliceSession);
    await ended;
  });

  it('rejects bad input on every endpoint with the Wazo error, never a 500 nor a crash', async () => {
    const { alice, outgoing } = await conversation();
    const id = outgoing.callId;
    const cases: [
      method: string,
      path: string,
      body: string | undefined,
      status: number,
      error: string,
      headers?: Record<string, string>,
    ][] = [
      ['GET', '?application=' + 'x'.repeat(2000), undefined, 400, 'invalid-data'],
      ['POST', '', undefined, 400, 'invalid-data'],
      ['POST', '', '{"extension":', 400, 'invalid-data'],
      ['POST', '', '{"extension":1002}', 400, 'invalid-data'],
      ['POST', '', '{"extension":"1002","variables":{"A":""}}', 400, 'invalid-data'],
      ['POST', '', '{"extension":"1002","line_id":"x"}', 400, 'invalid-data'],
      ['DELETE', `/${id}`, '[', 400, 'invalid-data'],
      ['DELETE', '/%00', undefined, 404, 'no-such-call'],
      ['PUT', `/${id}/mute/start`, '{"a":', 400, 'invalid-data'],
      ['PUT', `/${id}/mute/sideways`, undefined, 404, 'not-found'],
      ['PUT', `/${id}/hold/stop`, '\u0000', 400, 'invalid-data'],
      ['PUT', '/..%2F..%2F/hold/start', undefined, 404, 'no-such-call'],
      ['PUT', '/%23.%2A/answer', undefined, 404, 'no-such-call'],
      ['PUT', `/${id}/dtmf`, undefined, 400, 'invalid-data'],
      ['PUT', `/${id}/dtmf?digits=`, undefined, 400, 'invalid-data'],
      ['PUT', `/${id}/dtmf?digits=1;2`, undefined, 400, 'invalid-data'],
      ['PUT', `/${id}/dtmf?digits=${'9'.repeat(500)}`, undefined, 400, 'invalid-data'],
      // Refused by the framework before any route runs, in the same APIException shape.
      ['PUT', '/%FF/answer', undefined, 400, 'bad-request'],
      ['DELETE', '/abc%', undefined, 400, 'bad-request'],
      ['PUT', `/${'9'.repeat(101)}/hold/start`, undefined, 414, 'uri-too-long'],
      ['DELETE', `/${id}`, '{}', 415, 'unsupported-media-type', { 'content-type': 'text/' }],
      [
        'POST',
        '',
        JSON.stringify({ extension: '1002', variables: { A: 'x'.repeat(70_000) } }),
        413,
        'payload-too-large',
      ],
    ];
    for (const [method, path, body, status, error, headers] of cases) {
      const response = await fetch(`${confab.origin}${CALLS}${path}`, {
        method,
        headers: { 'x-auth-token': alice.token, 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body }),
      });
      const json = (await response.json()) as { error_id?: string };
      expect({
        method,
        path: path.slice(0, 40),
        status: response.status,
        error: json.error_id,
      }).toEqual({
        method,
        path: path.slice(0, 40),
        status,
        error,
      });
    }
    // Nothing was done to the call by any of them.
    expect(await myCalls(alice.token)).toMatchObject([
      { call_id: id, status: 'Up', muted: false, on_hold: false },
    ]);
    const unauthenticated = await fetch(`${confab.origin}${CALLS}/${id}`, { method: 'DELETE' });
    expect(unauthenticated.status).toBe(401);
  });

  it('answers requests the HTTP parser refuses with the Wazo error, on HTTP and HTTPS', async () => {
    const oversized = `GET ${CALLS} HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`;
    const malformed = `GET ${CALLS} HTTP/1.1\r\nHost x\r\n\r\n`;
    for (const secure of [false, true]) {
      const url = new URL(secure ? confab.server.httpsUrl : confab.origin);
      for (const [request, status, error] of [
        [oversized, 431, 'request-header-fields-too-large'],
        [malformed, 400, 'bad-request'],
      ] as const) {
        const answer = parseRawResponse(await rawExchange(url, secure, request));
        expect({ secure, status: answer.status, error: answer.json['error_id'] }).toEqual({
          secure,
          status,
          error,
        });
        expect(answer.json).toMatchObject({ message: expect.any(String) as unknown, details: {} });
      }
    }
  });

  it('delivers my call events, and only mine, on the event websocket', async () => {
    const a = await person('Alice', ALICE_HZ);
    const b = await person('Bob', BOB_HZ);
    const frames: { op: string; data: BusMessage | null }[] = [];
    const socket = new WebSocket(
      `${confab.origin.replace('http', 'ws')}/api/websocketd/?token=${a.token}&version=2`,
    );
    socket.on('message', (data: Buffer) => {
      frames.push(JSON.parse(data.toString('utf8')) as { op: string; data: BusMessage | null });
    });
    try {
      await waitFor('init', () => frames.some((f) => f.op === 'init'));
      socket.send(JSON.stringify({ op: 'subscribe', data: { event_name: '*' } }));
      socket.send(JSON.stringify({ op: 'start' }));
      await waitFor('start', () => frames.some((f) => f.op === 'start'));

      const { outgoing, incoming } = await ring(a.client, b.client, b.user.extension);
      const callEvents = () =>
        frames.filter((f) => f.op === 'event' && f.data?.name.startsWith('call_') === true);
      await waitFor('call_created and a ringing update', () =>
        callEvents().some((f) => f.data?.name === 'call_updated'),
      );
      const ids = new Set(callEvents().map((f) => (f.data!.data as CallObject).call_id));
      expect([...ids]).toEqual([outgoing.callId]);
      expect(ids.has(incoming.callId)).toBe(false);
      expect(callEvents()[0]!.data).toMatchObject({
        name: 'call_created',
        required_acl: `events.calls.${a.user.uuid}`,
        data: { call_id: outgoing.callId, user_uuid: a.user.uuid },
      });
    } finally {
      socket.close();
    }
  });
});
