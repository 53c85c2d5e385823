/**
 * Ad-hoc conferences (wazo spec §5–§6, architecture §3): a `mixing` {@link Bridge} owned by a
 * host user, whose media is one media-engine mixer.
 *
 * - **Create** from the host's own channel of one two-party call (the host call) plus the remote
 *   parties' channels of the host's other calls (participant calls). Both channels of the host
 *   call and every participant channel move into the mixer — a server-side move, nobody
 *   renegotiates — and the host's own legs toward the participants are hung up. The host
 *   channel's connected line becomes `"Conference" <host number>` (`call_updated`); no SIP
 *   signalling goes to the host's endpoint for it.
 * - **Add** moves one more remote party in and hangs up the host's leg toward it; **remove**
 *   hangs the participant up; **delete** hangs everyone up.
 * - **Leave rules**, after every channel leaving (spec §6.3): one channel left → it is hung up;
 *   none left → the conference ends (bridge destroyed, mixer closed); the host left and ≥ 2
 *   remain → all are hung up. Nobody is ever returned to a two-party call.
 *
 * ```
 *   Starting ──► Active ──► Ended
 *      └──────────────────────┘      (every state may end; Ended is terminal)
 * ```
 *
 * While `Starting` (the create request moves legs one by one), the leave rules wait: they run
 * once when the create settles, so a conference is never torn down half-built. Close cascade:
 * `close()` → hang up every member → each leaves the bridge (`participantLeft`) → bridge empty →
 * `bridge.destroy()` (mixer closed) → `Ended` → `ended`. `close()` is idempotent.
 *
 * Operations of {@link AdhocConferences} that touch the same conference or the same channels
 * run one after the other (a {@link KeyedQueue}), so concurrent API requests on them see each
 * other's results, while other users' operations do not wait behind a slow media round trip.
 * Endpoints hanging up meanwhile are re-checked after every asynchronous step, and a channel
 * whose relay bridge was dissolved always ends up in the mixer, back in a two-party call, or
 * hung up.
 */
import { ConfabError, InvalidStateError, TypedEmitter, type Logger } from '@confab/core';
import { Bridge, BridgeKind } from './bridge.js';
import type { CallControl } from './call-control.js';
import type { Channel } from './channel.js';
import { HangupCause } from './hangup-cause.js';
import { KeyedQueue } from './keyed-queue.js';
import type { MediaControl, MediaControlEvent } from './media-control.js';

export const ConferenceState = {
  Starting: 'starting',
  Active: 'active',
  Ended: 'ended',
} as const;
export type ConferenceState = (typeof ConferenceState)[keyof typeof ConferenceState];

const TRANSITIONS: Readonly<Record<ConferenceState, readonly ConferenceState[]>> = {
  starting: ['active', 'ended'],
  active: ['ended'],
  ended: [],
};

/** Stable codes of {@link ConferenceError}; the calld API maps each to its wire error. */
export const ConferenceErrorCode = {
  HostCallNotFound: 'CONFERENCE_HOST_CALL_NOT_FOUND',
  HostCallCreation: 'CONFERENCE_HOST_CALL_CREATION',
  HostAlreadyInConference: 'CONFERENCE_HOST_ALREADY_IN_CONFERENCE',
  ParticipantCallNotFound: 'CONFERENCE_PARTICIPANT_CALL_NOT_FOUND',
  ParticipantAlreadyInConference: 'CONFERENCE_PARTICIPANT_ALREADY_IN_CONFERENCE',
  NotFound: 'CONFERENCE_NOT_FOUND',
  /** The media engine refused the mixer or a leg (the calls involved are kept where possible). */
  Media: 'CONFERENCE_MEDIA',
} as const;
export type ConferenceErrorCode = (typeof ConferenceErrorCode)[keyof typeof ConferenceErrorCode];

export class ConferenceError extends ConfabError {
  override readonly name = 'ConferenceError';
  declare readonly code: ConferenceErrorCode;
  /** The offending id (host call, participant call or conference). */
  readonly id: string;

  constructor(
    code: ConferenceErrorCode,
    id: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.id = id;
  }
}

export interface AdhocConferenceEvents {
  [key: string]: unknown[];
  /** A channel entered the mixer. */
  participantJoined: [channel: Channel];
  /** A channel left (it hung up, or was hung up). */
  participantLeft: [channel: Channel];
  /** A member started or stopped talking (never reported while muted). */
  talking: [channel: Channel, talking: boolean];
  /** A member's server-side mute changed (conference or calls API). */
  muted: [channel: Channel, muted: boolean];
  stateChanged: [from: ConferenceState, to: ConferenceState];
  /** The conference is over: every channel is gone, the mixer closed. */
  ended: [];
}

/** One ad-hoc conference. Built and driven by {@link AdhocConferences}. */
export class AdhocConference extends TypedEmitter<AdhocConferenceEvents> {
  /** The conference id (UUID), also the mixing bridge's id (it shows in `bridges`). */
  readonly id: string;
  readonly hostUserUuid: string;
  readonly tenantUuid: string;
  /** The host's channel (Wazo `WAZO_HOST_CHANNEL_ID`). */
  readonly hostCallId: string;
  readonly creationTime: Date;
  readonly bridge: Bridge;
  #state: ConferenceState = ConferenceState.Starting;
  readonly #logger: Logger;
  readonly #talking = new Set<Channel>();
  readonly #joinTimes = new Map<Channel, Date>();
  readonly #muted = new Map<Channel, boolean>();
  readonly #offMember = new Map<Channel, () => void>();
  /** The host channel entered the mixer at some point (the host-left rule needs it). */
  #hostJoined = false;

  constructor(options: {
    id: string;
    host: Channel;
    hostUserUuid: string;
    media: MediaControl;
    logger: Logger;
    now: Date;
  }) {
    super();
    this.id = options.id;
    this.hostUserUuid = options.hostUserUuid;
    this.tenantUuid = options.host.tenantUuid;
    this.hostCallId = options.host.id;
    this.creationTime = options.now;
    this.#logger = options.logger.child({ conferenceId: options.id });
    this.bridge = new Bridge({
      id: options.id,
      kind: BridgeKind.Mixing,
      media: options.media,
      logger: options.logger,
    });
    this.bridge.on('channelJoined', (channel) => {
      this.#onJoined(channel);
    });
    this.bridge.on('channelLeft', (channel) => {
      this.#onLeft(channel);
    });
    this.bridge.on('destroyed', () => {
      this.#end();
    });
  }

  get state(): ConferenceState {
    return this.#state;
  }

  get ended(): boolean {
    return this.#state === ConferenceState.Ended;
  }

  /** The channels in the conference, the host's included, in joining order. */
  get members(): readonly Channel[] {
    return this.bridge.channels;
  }

  /** The host's channel while it is in the conference. */
  get host(): Channel | undefined {
    return this.members.find((channel) => channel.id === this.hostCallId);
  }

  isTalking(channel: Channel): boolean {
    return this.#talking.has(channel);
  }

  joinTime(channel: Channel): Date | undefined {
    return this.#joinTimes.get(channel);
  }

  /** Hangs every member up; the conference ends when the last one left. Idempotent. */
  close(cause: HangupCause = HangupCause.NormalClearing): void {
    if (this.ended) {
      return;
    }
    const members = this.members;
    if (members.length === 0) {
      this.bridge.destroy();
      return;
    }
    for (const channel of members) {
      channel.hangup(cause);
    }
  }

  /** @internal The create request finished moving legs: apply the leave rules from now on. */
  settle(): void {
    if (this.#state !== ConferenceState.Starting) {
      return;
    }
    this.#transition(ConferenceState.Active);
    this.#applyLeaveRules(this.#hostJoined && this.host === undefined);
  }

  /** @internal A talk start/stop of the mixer for one of the legs. */
  mixerTalking(legId: string, talking: boolean): void {
    const channel = this.members.find((member) => member.legId === legId);
    if (channel === undefined) {
      return;
    }
    this.#setTalking(channel, talking && !channel.muted);
  }

  #setTalking(channel: Channel, talking: boolean): void {
    if (this.#talking.has(channel) === talking) {
      return;
    }
    if (talking) {
      this.#talking.add(channel);
    } else {
      this.#talking.delete(channel);
    }
    this.emit('talking', channel, talking);
  }

  #onJoined(channel: Channel): void {
    if (channel.id === this.hostCallId) {
      this.#hostJoined = true;
    }
    this.#joinTimes.set(channel, new Date());
    this.#muted.set(channel, channel.muted);
    const onUpdated = (): void => {
      // Mute is one flag per leg: the conference API and the calls API both set it.
      if (channel.ended || this.#muted.get(channel) === channel.muted) {
        return;
      }
      this.#muted.set(channel, channel.muted);
      if (channel.muted) {
        this.#setTalking(channel, false);
      }
      this.emit('muted', channel, channel.muted);
    };
    this.#offMember.set(channel, channel.on('updated', onUpdated));
    this.emit('participantJoined', channel);
  }

  #onLeft(channel: Channel): void {
    this.#offMember.get(channel)?.();
    this.#offMember.delete(channel);
    this.#talking.delete(channel);
    this.#muted.delete(channel);
    this.#joinTimes.delete(channel);
    this.emit('participantLeft', channel);
    if (this.#state === ConferenceState.Active) {
      this.#applyLeaveRules(channel.id === this.hostCallId);
    }
  }

  /** Spec §6.3, first matching rule. */
  #applyLeaveRules(hostLeft: boolean): void {
    const remaining = this.members;
    if (remaining.length === 1) {
      remaining[0]?.hangup(HangupCause.NormalClearing);
    } else if (remaining.length === 0) {
      this.bridge.destroy();
    } else if (hostLeft) {
      // The conference never outlives its host.
      for (const channel of remaining) {
        channel.hangup(HangupCause.NormalClearing);
      }
    }
  }

  #end(): void {
    if (this.ended) {
      return;
    }
    for (const off of this.#offMember.values()) {
      off();
    }
    this.#offMember.clear();
    this.#talking.clear();
    this.#transition(ConferenceState.Ended);
    this.#logger.debug({ members: 0 }, 'ad-hoc conference ended');
    this.emit('ended');
  }

  #transition(to: ConferenceState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(to)) {
      throw InvalidStateError.transition('AdhocConference', from, to);
    }
    this.#state = to;
    this.emit('stateChanged', from, to);
  }
}

export interface AdhocConferencesEvents {
  [key: string]: unknown[];
  /** A conference exists, before any channel moved (Wazo publishes `created` at that point). */
  conferenceCreated: [conference: AdhocConference];
}

export interface AdhocConferencesOptions {
  callControl: CallControl;
  media: MediaControl;
  logger: Logger;
}

/**
 * The ad-hoc conferences of one call control, and the operations of the calld API on them
 * (validation order and errors of spec §5). Operations are serialized per conference and per
 * channel involved (see `#serial`).
 */
export class AdhocConferences extends TypedEmitter<AdhocConferencesEvents> {
  readonly #calls: CallControl;
  readonly #media: MediaControl;
  readonly #logger: Logger;
  readonly #conferences = new Map<string, AdhocConference>();
  readonly #byMixer = new Map<string, AdhocConference>();
  readonly #offMedia: () => void;
  readonly #queue = new KeyedQueue();
  #closed = false;

  constructor(options: AdhocConferencesOptions) {
    super();
    this.#calls = options.callControl;
    this.#media = options.media;
    this.#logger = options.logger;
    this.#offMedia = options.media.onEvent((event) => {
      this.#onMediaEvent(event);
    });
  }

  /** Live conferences by id. */
  get conferences(): ReadonlyMap<string, AdhocConference> {
    return this.#conferences;
  }

  /**
   * The conference `conferenceId` of `userUuid` (spec §5.1: someone else's is "not found").
   * @throws ConferenceError `CONFERENCE_NOT_FOUND`
   */
  find(userUuid: string, conferenceId: string): AdhocConference {
    const conference = this.#conferences.get(conferenceId);
    if (conference === undefined || conference.ended || conference.hostUserUuid !== userUuid) {
      throw notFound(conferenceId);
    }
    return conference;
  }

  /** `POST /users/me/conferences/adhoc` (spec §5.2, §6.2). */
  create(
    userUuid: string,
    hostCallId: string,
    participantCallIds: readonly string[],
  ): Promise<AdhocConference> {
    // The id is known before the operation runs: an add naming it (from the `created` event)
    // waits for the create to finish.
    const id = crypto.randomUUID();
    return this.#serial(
      () => [conferenceKey(id), ...this.#callKeys([hostCallId, ...participantCallIds])],
      () => this.#create(id, userUuid, hostCallId, participantCallIds),
    );
  }

  /** `PUT …/participants/{call_id}` (spec §5.3). */
  addParticipant(userUuid: string, conferenceId: string, callId: string): Promise<void> {
    return this.#serial(
      () => [conferenceKey(conferenceId), ...this.#callKeys([callId])],
      () => this.#add(userUuid, conferenceId, callId),
    );
  }

  /** `DELETE …/participants/{call_id}` (spec §5.4): the participant is hung up. */
  removeParticipant(userUuid: string, conferenceId: string, callId: string): Promise<void> {
    return this.#serial(
      () => [conferenceKey(conferenceId), callKey(callId)],
      () => {
        this.#member(userUuid, conferenceId, callId).hangup(HangupCause.NormalClearing);
        return Promise.resolve();
      },
    );
  }

  /** Server-side mute of a member (beyond Wazo): the mixer stops mixing its audio. */
  setParticipantMuted(
    userUuid: string,
    conferenceId: string,
    callId: string,
    muted: boolean,
  ): Promise<void> {
    return this.#serial(
      () => [conferenceKey(conferenceId), callKey(callId)],
      async () => {
        const channel = this.#member(userUuid, conferenceId, callId);
        await this.#calls.setMuted(channel, muted);
      },
    );
  }

  /** `DELETE …/adhoc/{conference_id}` (spec §5.5): everyone is hung up. */
  delete(userUuid: string, conferenceId: string): Promise<void> {
    return this.#serial(
      () => [
        conferenceKey(conferenceId),
        ...(this.#conferences.get(conferenceId)?.members ?? []).map((c) => callKey(c.id)),
      ],
      () => {
        this.find(userUuid, conferenceId).close();
        return Promise.resolve();
      },
    );
  }

  /** Ends every conference and stops listening to the media engine. Idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#offMedia();
    for (const conference of [...this.#conferences.values()]) {
      conference.close();
    }
  }

  /**
   * Runs `operation` once no earlier operation holds any of the keys `keysOf` names: the
   * conference and every channel the operation may touch. Operations touching the same
   * conference or channels never interleave; the others (another user's, another conference's)
   * do not wait for them. The keys are read again when the operation's turn comes: if the calls
   * changed meanwhile (a peer is now someone else), it queues again with the new keys too.
   */
  #serial<T>(keysOf: () => Iterable<string>, operation: () => Promise<T>): Promise<T> {
    const attempt = async (held: ReadonlySet<string>): Promise<T> => {
      let wider: Set<string> | undefined;
      const result = await this.#queue.run(held, () => {
        if (this.#closed) {
          throw InvalidStateError.closed('AdhocConferences');
        }
        const needed = [...keysOf()].filter((key) => !held.has(key));
        if (needed.length > 0) {
          wider = new Set([...held, ...needed]);
          return Promise.resolve(undefined);
        }
        return operation().then((value) => ({ value }));
      });
      return result === undefined && wider !== undefined ? attempt(wider) : result!.value;
    };
    return attempt(new Set(keysOf()));
  }

  /** Queue keys of these calls and of the channels they talk to (the legs an operation moves). */
  #callKeys(callIds: readonly string[]): string[] {
    const keys: string[] = [];
    for (const callId of callIds) {
      keys.push(callKey(callId));
      const channel = this.#live(callId);
      if (channel !== undefined) {
        keys.push(...this.#calls.talkingTo(channel).map((peer) => callKey(peer.id)));
      }
    }
    return keys;
  }

  /** A member of one of the user's conferences (spec §5.4 order). */
  #member(userUuid: string, conferenceId: string, callId: string): Channel {
    const conference = this.find(userUuid, conferenceId);
    const channel = this.#live(callId);
    if (channel === undefined || !conference.bridge.has(channel)) {
      throw participantNotFound(callId);
    }
    return channel;
  }

  #live(callId: string): Channel | undefined {
    const channel = this.#calls.channels.get(callId);
    return channel === undefined || channel.ended ? undefined : channel;
  }

  #inConference(channel: Channel): boolean {
    for (const bridgeId of channel.bridges) {
      if (this.#conferences.has(bridgeId)) {
        return true;
      }
    }
    return false;
  }

  /**
   * The user's own leg that `participant` talks to, in a two-party call; `undefined` when the
   * participant is alone, in a conference, or talks to someone else (all "not found").
   */
  #userLegOf(userUuid: string, participant: Channel): Channel | undefined {
    if (this.#inConference(participant)) {
      return undefined;
    }
    const peers = this.#calls.talkingTo(participant);
    const peer = peers[0];
    if (peers.length !== 1 || peer?.userUuid !== userUuid) {
      return undefined;
    }
    return this.#inConference(peer) ? undefined : peer;
  }

  async #create(
    id: string,
    userUuid: string,
    hostCallId: string,
    participantCallIds: readonly string[],
  ): Promise<AdhocConference> {
    // 1. The host call exists and is the user's.
    const host = this.#live(hostCallId);
    if (host?.userUuid !== userUuid) {
      throw new ConferenceError(
        ConferenceErrorCode.HostCallNotFound,
        hostCallId,
        'Adhoc conference creation error: host call not found',
      );
    }
    // 2. Exactly one peer, and not already hosting or in a conference.
    const hostPeers = this.#calls.talkingTo(host);
    if (this.#inConference(host) || hostPeers.length > 1) {
      throw new ConferenceError(
        ConferenceErrorCode.HostAlreadyInConference,
        hostCallId,
        'Adhoc conference creation error: host already in conference',
      );
    }
    const hostPeer = hostPeers[0];
    if (hostPeer === undefined) {
      throw new ConferenceError(
        ConferenceErrorCode.HostCallCreation,
        hostCallId,
        `could not determine peer of call ${hostCallId}: call has no peers`,
      );
    }
    // 3. Each participant talks to one of the user's legs (the host's own peer is skipped).
    const moves: { participant: Channel; userLeg: Channel }[] = [];
    const seen = new Set<string>([hostPeer.id]);
    for (const callId of participantCallIds) {
      if (seen.has(callId)) {
        continue;
      }
      seen.add(callId);
      const participant = this.#live(callId);
      const userLeg: Channel | undefined =
        participant === undefined || participant === host
          ? undefined
          : this.#userLegOf(userUuid, participant);
      if (participant === undefined || userLeg === undefined || userLeg === host) {
        throw participantNotFound(callId);
      }
      moves.push({ participant, userLeg });
    }

    const conference = new AdhocConference({
      id,
      host,
      hostUserUuid: userUuid,
      media: this.#media,
      logger: this.#logger,
      now: new Date(),
    });
    this.#register(conference);
    this.emit('conferenceCreated', conference);
    const bridge = conference.bridge;
    try {
      await bridge.openMixer(host.conversationId);
    } catch (error) {
      conference.close();
      throw new ConferenceError(ConferenceErrorCode.Media, conference.id, 'no mixer', {
        cause: error,
      });
    }
    const mixerId = bridge.mixerId;
    if (mixerId !== undefined) {
      this.#byMixer.set(mixerId, conference);
    }

    // Every leg moves at once (the engine's round trips overlap; each leg's result is handled
    // below as if it had moved alone). The host call: both channels move; neither is hung up.
    // The other calls: the remote party moves in, the user's own leg is hung up.
    this.#calls.dissolveRelay(host);
    for (const { participant } of moves) {
      this.#calls.dissolveRelay(participant);
    }
    const [hostIn, peerIn, ...participantsIn] = await Promise.all([
      this.#move(conference, host),
      this.#move(conference, hostPeer),
      ...moves.map(({ participant }) => this.#move(conference, participant)),
    ]);
    if (hostIn !== 'joined' || peerIn === 'refused') {
      // No conference: the participants that got in go back to their calls with the user.
      await Promise.all(
        moves.map(({ participant, userLeg }, i) => {
          if (participantsIn[i] === 'gone') {
            userLeg.hangup(HangupCause.NormalClearing);
            return Promise.resolve();
          }
          if (participantsIn[i] === 'joined') {
            conference.bridge.remove(participant);
          }
          return this.#restore(participant, userLeg);
        }),
      );
    }
    if (hostIn === 'gone') {
      // The host hung up before it was in: its peer lost its call too.
      hostPeer.hangup(HangupCause.NormalClearing);
      conference.close();
      throw new ConferenceError(
        ConferenceErrorCode.HostCallCreation,
        hostCallId,
        'host call was hungup',
      );
    }
    if (hostIn === 'refused' || peerIn === 'refused') {
      // The two of them talk again, as before the request.
      for (const channel of [host, hostPeer]) {
        conference.bridge.remove(channel);
      }
      conference.close();
      await this.#restore(host, hostPeer);
      throw mediaError(conference.id, 'the media engine refused the host call');
    }
    conference.bridge.startMixer();
    host.setConnectedLine({ name: 'Conference', number: host.callerId.number });
    // A party the engine refused keeps its call with the user; the conference goes on without it.
    for (const [i, { participant, userLeg }] of moves.entries()) {
      await this.#settleMove(participantsIn[i]!, participant, userLeg);
    }
    conference.settle();
    return conference;
  }

  async #add(userUuid: string, conferenceId: string, callId: string): Promise<void> {
    const conference = this.#conferences.get(conferenceId);
    if (conference === undefined || conference.ended) {
      throw notFound(conferenceId);
    }
    // Spec §5.3: the call's existence is checked before ownership of the conference.
    const participant = this.#live(callId);
    if (participant === undefined) {
      throw participantNotFound(callId);
    }
    if (conference.hostUserUuid !== userUuid) {
      throw notFound(conferenceId);
    }
    if (conference.bridge.has(participant)) {
      throw new ConferenceError(
        ConferenceErrorCode.ParticipantAlreadyInConference,
        callId,
        'Adhoc conference error: participant already in conference',
      );
    }
    const userLeg = this.#userLegOf(userUuid, participant);
    if (userLeg === undefined) {
      throw participantNotFound(callId);
    }
    if ((await this.#bringIn(conference, participant, userLeg)) === 'refused') {
      throw mediaError(conference.id, 'the media engine refused the participant call');
    }
  }

  /**
   * Moves the remote party of one of the host's calls in and hangs up the host's leg. When the
   * engine refuses the party, its call with the host's leg is restored instead (`'refused'`).
   */
  async #bringIn(
    conference: AdhocConference,
    participant: Channel,
    userLeg: Channel,
  ): Promise<MoveResult> {
    this.#calls.dissolveRelay(participant);
    const result = await this.#move(conference, participant);
    await this.#settleMove(result, participant, userLeg);
    return result;
  }

  /** After a participant's move: the user's leg to it is hung up, or their call restored. */
  async #settleMove(result: MoveResult, participant: Channel, userLeg: Channel): Promise<void> {
    if (result === 'refused') {
      await this.#restore(participant, userLeg);
    } else {
      userLeg.hangup(HangupCause.NormalClearing);
    }
  }

  /**
   * Moves a channel whose relay bridge was dissolved into the mixer: `'joined'`; `'gone'` when
   * it hung up meanwhile; `'refused'` when it is still up but could not get in — the engine
   * refused its leg, or the conference ended under it. A refused channel is left alone (outside
   * any bridge): the caller restores its call ({@link #restore}) or hangs it up.
   */
  async #move(conference: AdhocConference, channel: Channel): Promise<MoveResult> {
    let joined = false;
    try {
      joined = await conference.bridge.join(channel);
    } catch (error) {
      this.#logger.warn(
        { err: error, conferenceId: conference.id, callId: channel.id },
        'the media engine refused to move the leg into the mixer',
      );
    }
    if (joined) {
      return 'joined';
    }
    return channel.ended ? 'gone' : 'refused';
  }

  /**
   * Puts two channels that a refused move left outside any bridge back into a two-party call
   * (a relay bridge, as before the request). If either is gone, or the engine refuses that too,
   * both are hung up: no channel is ever left alive outside any bridge.
   */
  async #restore(a: Channel, b: Channel): Promise<void> {
    if (a.ended || b.ended) {
      a.hangup(HangupCause.NormalClearing);
      b.hangup(HangupCause.NormalClearing);
      return;
    }
    try {
      await this.#calls.relay(a, b);
    } catch (error) {
      this.#logger.warn(
        { err: error, callIds: [a.id, b.id] },
        'could not restore the two-party call; hanging up',
      );
      a.hangup(HangupCause.TemporaryFailure);
      b.hangup(HangupCause.TemporaryFailure);
    }
  }

  #register(conference: AdhocConference): void {
    this.#conferences.set(conference.id, conference);
    this.#calls.adoptBridge(conference.bridge);
    conference.once('ended', () => {
      this.#conferences.delete(conference.id);
      const mixerId = conference.bridge.mixerId;
      if (mixerId !== undefined) {
        this.#byMixer.delete(mixerId);
      }
    });
  }

  #onMediaEvent(event: MediaControlEvent): void {
    if (event.type === 'mixerTalking') {
      this.#byMixer.get(event.mixerId)?.mixerTalking(event.legId, event.talking);
    } else if (event.type === 'mixerClosed') {
      const conference = this.#byMixer.get(event.mixerId);
      if (conference !== undefined && !conference.ended) {
        // The mixer went away under the conference (its worker died): nobody hears anyone.
        this.#logger.warn({ conferenceId: conference.id }, 'mixer closed; ending the conference');
        conference.close(HangupCause.TemporaryFailure);
      }
    }
  }
}

function conferenceKey(conferenceId: string): string {
  return `conference:${conferenceId}`;
}

function callKey(callId: string): string {
  return `call:${callId}`;
}

/** What became of a channel {@link AdhocConferences} tried to move into a mixer. */
type MoveResult = 'joined' | 'gone' | 'refused';

function mediaError(conferenceId: string, message: string): ConferenceError {
  return new ConferenceError(ConferenceErrorCode.Media, conferenceId, message);
}

function notFound(conferenceId: string): ConferenceError {
  return new ConferenceError(
    ConferenceErrorCode.NotFound,
    conferenceId,
    'Adhoc conference not found',
  );
}

function participantNotFound(callId: string): ConferenceError {
  return new ConferenceError(
    ConferenceErrorCode.ParticipantCallNotFound,
    callId,
    'Adhoc conference participant call not found',
  );
}
