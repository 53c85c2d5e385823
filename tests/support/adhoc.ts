/**
 * Shared set-up of the ad-hoc conference integration tests: people (a user, a logged-in Node SDK
 * client sending its own tone, a REST token, a raw event websocket), calls between them, the
 * calld conference API, and what each party hears.
 */
import { expect } from 'vitest';
import { WebSocket } from 'ws';
import { PhoneEvent, type CallSession } from '@confab/sdk';
import type { BusMessage, Telephony } from '@confab/server';
import type { TestConfab, TestLineUser } from './confab-server.js';
import { createToneSink, listenUntil, waitFor, type ToneSink } from './node-phone.js';
import { createSdkClient, ring, type SdkClient } from './sdk-client.js';
import type { ToneReport } from './goertzel.js';

export const ADHOC = '/api/calld/1.0/users/me/conferences/adhoc';
export const CALLS = '/api/calld/1.0/users/me/calls';

export interface Reply {
  status: number;
  body: unknown;
}

export interface CallObject {
  call_id: string;
  user_uuid: string;
  status: string;
  talking_to: Record<string, string | null>;
  bridges: string[];
  peer_caller_id_name: string;
  peer_caller_id_number: string;
  muted: boolean;
}

/** A raw wazo-websocketd v2 client (the SDK's sequence: subscribe `*`, start). */
export class EventSocket {
  readonly events: BusMessage[] = [];
  readonly #ws: WebSocket;
  readonly started: Promise<void>;

  constructor(origin: string, token: string) {
    this.#ws = new WebSocket(
      `${origin.replace('http', 'ws')}/api/websocketd/?token=${token}&version=2`,
    );
    this.#ws.on('error', () => undefined);
    this.started = new Promise((resolve, reject) => {
      this.#ws.on('close', () => reject(new Error('event websocket closed')));
      this.#ws.on('message', (raw: Buffer) => {
        const frame = JSON.parse(raw.toString('utf8')) as { op: string; data: unknown };
        if (frame.op === 'init') {
          this.#ws.send(JSON.stringify({ op: 'subscribe', data: { event_name: '*' } }));
          this.#ws.send(JSON.stringify({ op: 'start' }));
        } else if (frame.op === 'start') {
          resolve();
        } else if (frame.op === 'event') {
          this.events.push(frame.data as BusMessage);
        }
      });
    });
  }

  /** The conference events received, as `name call_id` strings (or just `name`). */
  conferenceEvents(conferenceId?: string): string[] {
    return this.events
      .filter((m) => m.name.startsWith('conference_adhoc_'))
      .filter(
        (m) =>
          conferenceId === undefined ||
          (m.data as { conference_id?: string }).conference_id === conferenceId,
      )
      .map((m) => {
        const callId = (m.data as { call_id?: string }).call_id;
        return callId === undefined ? m.name : `${m.name} ${callId}`;
      });
  }

  close(): void {
    this.#ws.close();
  }
}

export interface Person {
  readonly name: string;
  readonly frequency: number;
  readonly user: TestLineUser;
  readonly client: SdkClient;
  readonly token: string;
  readonly socket: EventSocket;
}

/** One answered call from the host to a peer. */
export interface HostCall {
  readonly peer: Person;
  /** The host's CallSession (its `callId` is the host's leg). */
  readonly outgoing: CallSession;
  /** The peer's CallSession (its `callId` is the participant call id). */
  readonly incoming: CallSession;
  /** What the host hears on this call. */
  readonly atHost: ToneSink;
  /** What the peer hears. */
  readonly atPeer: ToneSink;
}

export class AdhocWorld {
  readonly people: Person[] = [];
  readonly sinks: ToneSink[] = [];
  readonly busEvents: BusMessage[] = [];

  readonly confab: TestConfab;

  constructor(confab: TestConfab) {
    this.confab = confab;
  }

  async person(name: string, frequency: number): Promise<Person> {
    const user = await this.confab.addUser({ firstname: name, lastname: 'Adhoc' });
    const client = createSdkClient({ frequency, origin: this.confab.origin });
    await client.logIn(user);
    const token = await this.logIn(user);
    const socket = new EventSocket(this.confab.origin, token);
    await socket.started;
    const person = { name, frequency, user, client, token, socket };
    this.people.push(person);
    return person;
  }

  /** The people `names`, in order, each sending the tone `hz` gives their name. */
  async peopleWithTones<Name extends string>(
    hz: Readonly<Record<Name, number>>,
    names: readonly Name[],
  ): Promise<Person[]> {
    const result: Person[] = [];
    for (const name of names) {
      result.push(await this.person(name, hz[name]));
    }
    return result;
  }

  async logIn(user: TestLineUser): Promise<string> {
    const response = await fetch(`${this.confab.origin}/api/auth/0.1/token`, {
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

  /** `host` calls `peer`, who answers; both hear each other's audio frames. */
  async call(host: Person, peer: Person): Promise<HostCall> {
    const hostStream = host.client.next(PhoneEvent.ON_AUDIO_STREAM);
    const peerStream = peer.client.next(PhoneEvent.ON_AUDIO_STREAM);
    const { outgoing, incoming } = await ring(host.client, peer.client, peer.user.extension);
    const accepted = host.client.next(PhoneEvent.ON_CALL_ACCEPTED);
    await peer.client.confab.Phone.accept(incoming);
    await accepted;
    const atHost = createToneSink((await hostStream)[0].getAudioTracks()[0]!);
    const atPeer = createToneSink((await peerStream)[0].getAudioTracks()[0]!);
    this.sinks.push(atHost, atPeer);
    await waitFor(
      'audio frames at both ends',
      () => atHost.frames > 50 && atPeer.frames > 50,
      15_000,
    );
    // Both legs are known to the server (their ids are what the conference API takes).
    await waitFor('both legs up on the server', () => {
      const channels = this.channels();
      return (
        channels.get(outgoing.callId)?.state === 'Up' &&
        channels.get(incoming.callId)?.state === 'Up'
      );
    });
    return { peer, outgoing, incoming, atHost, atPeer };
  }

  /** A call from `from` to `to` that rings and is never answered. */
  async ringing(
    from: Person,
    to: Person,
  ): Promise<{ outgoing: CallSession; incoming: CallSession }> {
    return ring(from.client, to.client, to.user.extension);
  }

  channels(): ReadonlyMap<string, { state: string }> {
    const telephony = this.confab.server.telephony as unknown as {
      callControl: { channels: ReadonlyMap<string, { state: string }> };
    };
    return telephony.callControl.channels;
  }

  async request(method: string, path: string, token: string, body?: unknown): Promise<Reply> {
    const response = await fetch(`${this.confab.origin}${path}`, {
      method,
      headers: {
        'x-auth-token': token,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
    };
  }

  create(host: Person, hostCallId: string, participantCallIds: string[]): Promise<Reply> {
    return this.request('POST', ADHOC, host.token, {
      host_call_id: hostCallId,
      participant_call_ids: participantCallIds,
    });
  }

  /** Creates the conference and checks the 201. */
  async merge(host: Person, hostCall: HostCall, others: HostCall[]): Promise<string> {
    const reply = await this.create(
      host,
      hostCall.outgoing.callId,
      [hostCall, ...others].map((c) => c.incoming.callId),
    );
    expect(reply.status, JSON.stringify(reply.body)).toBe(201);
    const id = (reply.body as { conference_id: string }).conference_id;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    return id;
  }

  async myCalls(person: Person): Promise<CallObject[]> {
    const reply = await this.request('GET', CALLS, person.token);
    expect(reply.status).toBe(200);
    return (reply.body as { items: CallObject[] }).items;
  }

  async myCall(person: Person, callId: string): Promise<CallObject | undefined> {
    return (await this.myCalls(person)).find((call) => call.call_id === callId);
  }

  /**
   * What every sink hears over a 1.2 s window (after 0.5 s for a change to settle), measured
   * again (up to 10 s) until each sink hears exactly its `present` tones (and no other person's,
   * see {@link hearsExactly}): a move into or out of a mixer reaches the ear after a delay that
   * grows with the machine's load. Returns the last window's reports.
   */
  async listen(
    sinks: readonly ToneSink[],
    present: readonly (readonly number[])[],
  ): Promise<ToneReport[]> {
    const frequencies = this.people.map((p) => p.frequency);
    return listenUntil(
      sinks,
      frequencies,
      (reports) =>
        reports.every((report, i) => {
          const heard = present[i] ?? [];
          return hearsExactly(
            report,
            heard,
            frequencies.filter((f) => !heard.includes(f)),
          );
        }),
      { drainMs: 500, windowMs: 1200 },
    );
  }

  async close(): Promise<void> {
    for (const sink of this.sinks.splice(0)) {
      sink.stop();
    }
    const people = this.people.splice(0);
    for (const person of people) {
      person.socket.close();
    }
    await Promise.all(people.map((p) => p.client.close()));
  }
}

/**
 * Each of `present` is clearly heard (≥ 1e-4, within 10 dB of the loudest of them) and each of
 * `absent` is at least 10 dB under the weakest present tone.
 */
export function hearsExactly(
  report: ToneReport,
  present: readonly number[],
  absent: readonly number[],
): boolean {
  const powers = present.map((f) => report.powers[f] ?? 0);
  const weakest = Math.min(...powers);
  const loudest = Math.max(...powers);
  if (weakest < 1e-4 || loudest > weakest * 10) {
    return false;
  }
  return absent.every((f) => (report.powers[f] ?? 0) * 10 <= weakest);
}

/** The full telephony core of the test server (conferences, media counters). */
export function telephonyOf(confab: TestConfab): Telephony {
  return confab.server.telephony as unknown as Telephony;
}

/** After a test: no channel, bridge or conference is left, nor any media leg or mixer. */
export async function expectNothingLeft(confab: TestConfab): Promise<void> {
  await waitFor('no channel nor bridge left', () => {
    const stats = confab.stats();
    return stats.channels === 0 && stats.bridges === 0;
  });
  await waitFor('no media leg nor mixer left', async () => {
    const media = await telephonyOf(confab).mediaStats();
    return media?.legs === 0 && media.mixers === 0;
  });
  expect(telephonyOf(confab).conferences.conferences.size).toBe(0);
}
