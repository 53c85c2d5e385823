/**
 * Call control: the back-to-back user agent (architecture §4).
 *
 * An INVITE from a line becomes an inbound channel (we answer the caller's SDP with our own media
 * leg); the dialled extension resolves to the callee line's registered contacts; each contact
 * gets an outbound channel with the server's own offer (parallel forking). The first 2xx wins:
 * the other forks are cancelled with `Reason: SIP;cause=200` (RFC 3326, "completed elsewhere"),
 * the caller gets 200 with our answer, and both channels join a relay bridge. Failures map to the
 * caller per RFC 3261 §16.7 best-response selection: 6xx first, then busy, then the lowest 4xx.
 */
import { ConfabError, TypedEmitter, isConfabError, type Logger } from '@confab/core';
import {
  bodyText,
  getFrom,
  type Clock,
  type NameAddr,
  type ServerTransaction,
  type SipUri,
  TransactionState,
} from '@confab/sip';
import type { Line, Store, User } from '../store/types.js';
import type { SipStack } from '../sip/stack.js';
import type { SipAuthenticator } from './authenticator.js';
import type { Binding, Registrar } from './registrar.js';
import {
  ChannelState,
  newChannelId,
  type Channel,
  type ChannelMediaHandler,
  type PartyId,
} from './channel.js';
import { InboundChannel } from './inbound-channel.js';
import { OutboundChannel } from './outbound-channel.js';
import { Bridge, BridgeKind } from './bridge.js';
import { CallAttempt, formatTarget, type ForkContext } from './call-attempt.js';
import { HangupCause, sipStatusForCause } from './hangup-cause.js';
import type { LegKind, MediaControl } from './media-control.js';
import { BlindTransfer, isReferRefusal, parseRefer, type ReferRequest } from './transfer.js';

export interface CallControlEvents {
  [key: string]: unknown[];
  channelCreated: [channel: Channel];
  channelEnded: [channel: Channel];
  bridgeCreated: [bridge: Bridge];
  bridgeDestroyed: [bridge: Bridge];
}

export interface CallControlOptions {
  stack: SipStack;
  store: Store;
  registrar: Registrar;
  authenticator: SipAuthenticator;
  media: MediaControl;
  clock: Clock;
  logger: Logger;
  /** SIP domain used in From/To of calls we place. */
  domain: string;
  /**
   * Hosts that name this server besides `domain` (its advertised and bound addresses): a REFER
   * whose Refer-To is elsewhere is refused (see {@link parseRefer}).
   */
  localHosts?: readonly string[];
  /** How long the callee may ring before the call fails with 480 (no answer). Default 60 s. */
  ringTimeoutMs?: number;
}

const DEFAULT_RING_TIMEOUT_MS = 60_000;

/** Why {@link CallControl.originate} could not place a call. */
export const OriginateErrorCode = {
  /** No line has the requested extension (calld `invalid-extension`). */
  InvalidExtension: 'ORIGINATE_INVALID_EXTENSION',
  /** The user's line has no registered device to call first (calld `call-origin-unavailable`). */
  OriginUnavailable: 'ORIGINATE_ORIGIN_UNAVAILABLE',
} as const;
export type OriginateErrorCode = (typeof OriginateErrorCode)[keyof typeof OriginateErrorCode];

export class OriginateError extends ConfabError {
  override readonly name = 'OriginateError';
  declare readonly code: OriginateErrorCode;

  constructor(code: OriginateErrorCode, message: string) {
    super(code, message);
  }
}

/** What {@link CallControl.originate} places. */
export interface OriginateRequest {
  /** The user's line whose device is called first. */
  line: Line;
  /** What to dial once the device answered. */
  extension: string;
}

export { bestFailure } from './call-attempt.js';

export class CallControl extends TypedEmitter<CallControlEvents> {
  readonly #options: CallControlOptions;
  readonly #logger: Logger;
  readonly #channels = new Map<string, Channel>();
  readonly #bridges = new Map<string, Bridge>();
  readonly #inviteToChannel = new WeakMap<ServerTransaction, InboundChannel>();
  readonly #byLeg = new Map<string, Channel>();
  /** Blind transfers in progress, by transferor channel. */
  readonly #transfers = new Map<Channel, BlindTransfer>();
  readonly #mediaHandler: ChannelMediaHandler;
  readonly #offMedia: () => void;

  constructor(options: CallControlOptions) {
    super();
    this.#options = options;
    this.#logger = options.logger;
    this.#mediaHandler = {
      reoffer: async (channel, sdp) => {
        if (!channel.legId) {
          throw new Error('channel has no media leg');
        }
        return options.media.acceptOffer(channel.legId, sdp);
      },
    };
    this.#offMedia = options.media.onEvent((event) => {
      if (event.type !== 'dtmf' && event.type !== 'legFailed') {
        return; // mixer events belong to the conferences
      }
      const channel = this.#byLeg.get(event.legId);
      if (!channel) {
        return;
      }
      if (event.type === 'dtmf') {
        channel.emit('dtmf', event.digit);
      } else {
        this.#logger.warn(
          { callId: channel.id, legId: event.legId, reason: event.reason },
          'media leg failed; hanging up',
        );
        channel.hangup(HangupCause.TemporaryFailure);
      }
    });
  }

  get channels(): ReadonlyMap<string, Channel> {
    return this.#channels;
  }

  get bridges(): ReadonlyMap<string, Bridge> {
    return this.#bridges;
  }

  /** The channels `channel` shares a bridge with (Wazo `talking_to`). */
  talkingTo(channel: Channel): Channel[] {
    const peers = new Set<Channel>();
    for (const bridgeId of channel.bridges) {
      for (const other of this.#bridges.get(bridgeId)?.channels ?? []) {
        if (other !== channel) {
          peers.add(other);
        }
      }
    }
    return [...peers];
  }

  /** A new INVITE outside any dialog (the stack routes re-INVITEs to channels). */
  async handleInvite(tx: ServerTransaction): Promise<void> {
    try {
      await this.#handleInvite(tx);
    } catch (error) {
      this.#logger.error({ err: error }, 'INVITE handling failed');
      const channel = this.#inviteToChannel.get(tx);
      if (channel) {
        // 503 while the INVITE awaits its final response, a BYE once it was answered.
        channel.hangup(HangupCause.TemporaryFailure);
      } else if (awaitsFinalResponse(tx)) {
        try {
          this.#options.stack.respond(tx, 500);
        } catch (respondError) {
          this.#logger.debug({ err: respondError }, 'could not answer the INVITE with 500');
        }
      }
      // Otherwise the INVITE was already answered (e.g. 401 or 404) before the failure: §17.2.1,
      // a transaction past Proceeding takes no other final response, and no call was set up.
    }
  }

  /** CANCEL for an INVITE (§9.2). */
  handleCancel(tx: ServerTransaction, invite: ServerTransaction | undefined): void {
    const channel = invite ? this.#inviteToChannel.get(invite) : undefined;
    if (!channel) {
      // §9.2: no matching transaction.
      this.#options.stack.respond(tx, 481);
      return;
    }
    channel.cancelled(tx);
  }

  async #handleInvite(tx: ServerTransaction): Promise<void> {
    const { stack, store, registrar, authenticator, media } = this.#options;
    const request = tx.request;
    const auth = await authenticator.authenticate(tx);
    if (!auth) {
      return;
    }
    const contentType = (request.headers.get('Content-Type') ?? '')
      .split(';')[0]
      ?.trim()
      .toLowerCase();
    const offer = bodyText(request);
    if (offer === '') {
      // An offerless INVITE needs our offer in the 2xx; our endpoints always offer. §13.3.1.
      stack.respond(tx, 488, (response) => {
        response.headers.set('Warning', '399 confab "INVITE without SDP offer is not supported"');
      });
      return;
    }
    if (contentType !== 'application/sdp') {
      // §21.4.13 / §8.2.3: tell the UAC what we accept.
      stack.respond(tx, 415, (response) => {
        response.headers.set('Accept', 'application/sdp');
      });
      return;
    }
    const callerLine = auth.line;
    const callerUser = await store.users.findByUuid(callerLine.userUuid);
    const extension = request.uri.user;
    const calleeLine =
      extension === undefined ? undefined : await store.lines.findByExtension(extension);
    if (!calleeLine || extension === undefined) {
      stack.respond(tx, 404);
      return;
    }
    const calleeUser = await store.users.findByUuid(calleeLine.userUuid);
    const bindings = registrar.contactsFor(calleeLine.id);
    if (bindings.length === 0) {
      // The callee exists but has no reachable device.
      stack.respond(tx, 480);
      return;
    }

    const callerParty = partyOf(callerUser, callerLine, getFrom(request));
    const calleeParty = partyOf(calleeUser, calleeLine);
    const clock = this.#options.clock;
    const inbound = new InboundChannel({
      id: newChannelId(clock.now()),
      invite: tx,
      stack,
      clock,
      logger: this.#logger,
      userUuid: callerLine.userUuid,
      tenantUuid: callerLine.tenantUuid,
      lineId: callerLine.id,
      webrtc: isWebSocketFlow(tx.flow.protocol),
      callerId: callerParty,
      connectedLine: calleeParty,
      dialedExtension: extension,
      media: this.#mediaHandler,
    });
    this.#inviteToChannel.set(tx, inbound);
    this.#adopt(inbound);

    const group = inbound.id;
    const legId = await media.createLeg(inbound.webrtc ? 'webrtc' : 'rtp', group);
    this.#attachLeg(inbound, legId);
    if (inbound.ended) {
      return;
    }
    let answer: string;
    try {
      answer = await media.acceptOffer(legId, offer);
    } catch (error) {
      this.#logger.info({ err: error, callId: inbound.id }, 'caller offer not acceptable');
      inbound.hangup(
        isConfabError(error) && error.code === 'MEDIA_SDP_INVALID'
          ? HangupCause.IncompatibleDestination
          : HangupCause.TemporaryFailure,
      );
      return;
    }
    if (inbound.ended) {
      return;
    }
    const attempt = new CallAttempt(
      this,
      {
        channel: inbound,
        ring: () => {
          inbound.ring();
        },
        answer: () => {
          inbound.answer(answer);
        },
      },
      this.#options.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_MS,
    );
    await attempt.fork(
      bindings,
      this.#forkContext({ calleeLine, calleeParty, callerParty }, extension),
    );
  }

  /**
   * Places a call for a user (calld `POST /users/me/calls`, Asterisk originate): the server
   * calls the user's own device first (its most recent registration) and, once it answered,
   * dials `extension` from that leg, forking and bridging exactly as for a call the device
   * placed itself. Resolves with the user's leg as soon as its INVITE is sent.
   *
   * @throws OriginateError when the extension is unknown or the line has no registered device.
   */
  async originate(request: OriginateRequest): Promise<OutboundChannel> {
    const { store, registrar, media, clock } = this.#options;
    const { line, extension } = request;
    const calleeLine = await store.lines.findByExtension(extension);
    if (!calleeLine) {
      throw new OriginateError(
        OriginateErrorCode.InvalidExtension,
        `no line has extension ${extension}`,
      );
    }
    const binding = registrar.contactsFor(line.id)[0];
    if (!binding) {
      throw new OriginateError(
        OriginateErrorCode.OriginUnavailable,
        `line ${line.id} has no registered device`,
      );
    }
    const userParty = partyOf(await store.users.findByUuid(line.userUuid), line);
    const calleeParty = partyOf(await store.users.findByUuid(calleeLine.userUuid), calleeLine);
    const channel = new OutboundChannel({
      id: newChannelId(clock.now()),
      stack: this.#options.stack,
      clock,
      logger: this.#logger,
      userUuid: line.userUuid,
      tenantUuid: line.tenantUuid,
      lineId: line.id,
      webrtc: binding.webrtc,
      callerId: userParty,
      connectedLine: calleeParty,
      dialedExtension: extension,
      media: this.#mediaHandler,
      isCaller: true,
    });
    this.#adopt(channel);
    let offer: string;
    try {
      const legId = await media.createLeg(binding.webrtc ? 'webrtc' : 'rtp', channel.id);
      this.#attachLeg(channel, legId);
      offer = await media.createOffer(legId);
    } catch (error) {
      // No INVITE went out: end the adopted channel (call_ended, leg released) and report.
      channel.hangup(HangupCause.TemporaryFailure);
      throw error;
    }
    if (channel.ended) {
      return channel;
    }
    const ringTimer = clock.setTimeout(() => {
      this.#logger.info({ callId: channel.id }, 'originate: the device did not answer');
      channel.hangup(HangupCause.NoAnswer);
    }, this.#options.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_MS);
    const stopRinging = (): void => {
      clock.clearTimeout(ringTimer);
    };
    channel.once('hungup', stopRinging);
    channel.outcome.on('answered', (sdp) => {
      stopRinging();
      void this.#originateAnswered(channel, sdp, {
        calleeLine,
        calleeParty,
        callerParty: userParty,
      });
    });
    channel.invite({
      target: formatTarget(binding),
      flow: binding.flow,
      // The device shows whom it is about to call (Asterisk sets the originate's caller id so).
      from: this.#nameAddr(calleeParty.name, extension),
      to: this.#nameAddr(userParty.name, line.extension),
      sdp: offer,
    });
    return channel;
  }

  /** The user's device answered an originate: dial the extension from its leg. */
  async #originateAnswered(
    channel: OutboundChannel,
    sdp: string,
    parties: ForkParties,
  ): Promise<void> {
    const legId = channel.legId;
    try {
      if (legId === undefined) {
        throw new Error('originate leg without media');
      }
      await this.#options.media.acceptAnswer(legId, sdp);
    } catch (error) {
      this.#logger.info({ err: error, callId: channel.id }, 'device answer not acceptable');
      channel.hangup(HangupCause.IncompatibleDestination);
      return;
    }
    if (channel.ended) {
      return;
    }
    const bindings = this.#options.registrar.contactsFor(parties.calleeLine.id);
    if (bindings.length === 0) {
      channel.hangup(HangupCause.SubscriberAbsent);
      return;
    }
    const attempt = new CallAttempt(
      this,
      {
        channel,
        // The user's leg is already up: nothing to signal while the callee rings or answers.
        ring: () => undefined,
        answer: () => undefined,
      },
      this.#options.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_MS,
    );
    await attempt.fork(bindings, this.#forkContext(parties));
  }

  /** A From/To value of this domain: `"displayName" <sip:user@domain>`. */
  #nameAddr(displayName: string, user: string): NameAddr {
    return { displayName, uri: sipUri(user, this.#options.domain), params: new Map() };
  }

  /**
   * What every fork of a call attempt sends: From the caller's party, To the callee's party at
   * `toUser` (the callee line's extension unless the caller dialed it otherwise).
   */
  #forkContext(parties: ForkParties, toUser = parties.calleeLine.extension): ForkContext {
    return {
      from: this.#nameAddr(parties.callerParty.name, parties.callerParty.number),
      to: this.#nameAddr(parties.calleeParty.name, toUser),
      ...parties,
    };
  }

  /** @internal Used by {@link CallAttempt}: creates an outbound channel toward a binding. */
  async createOutbound(
    binding: Binding,
    group: string,
    context: ForkContext,
  ): Promise<OutboundChannel> {
    const clock = this.#options.clock;
    const channel = new OutboundChannel({
      id: newChannelId(clock.now()),
      stack: this.#options.stack,
      clock,
      logger: this.#logger,
      userUuid: context.calleeLine.userUuid,
      tenantUuid: context.calleeLine.tenantUuid,
      lineId: context.calleeLine.id,
      webrtc: binding.webrtc,
      callerId: context.callerParty,
      connectedLine: context.callerParty,
      dialedExtension: context.calleeParty.number,
      media: this.#mediaHandler,
      conversationId: group,
    });
    this.#adopt(channel);
    const kind: LegKind = binding.webrtc ? 'webrtc' : 'rtp';
    this.#attachLeg(channel, await this.#options.media.createLeg(kind, group));
    return channel;
  }

  get media(): MediaControl {
    return this.#options.media;
  }

  get logger(): Logger {
    return this.#logger;
  }

  get clock(): Clock {
    return this.#options.clock;
  }

  /** @internal Joins two answered channels in a new relay bridge. */
  async relay(a: Channel, b: Channel): Promise<Bridge> {
    const bridge = new Bridge({
      kind: BridgeKind.Relay,
      media: this.#options.media,
      logger: this.#logger,
    });
    this.#bridges.set(bridge.id, bridge);
    bridge.on('channelLeft', () => {
      // A two-party call ends for both parties when one leaves.
      for (const remaining of bridge.channels) {
        remaining.hangup(HangupCause.NormalClearing);
      }
      bridge.destroy();
    });
    bridge.on('destroyed', () => {
      this.#bridges.delete(bridge.id);
      this.emit('bridgeDestroyed', bridge);
    });
    await bridge.joinRelay(a, b);
    this.emit('bridgeCreated', bridge);
    // One side may have hung up while the media bridge was being set up.
    for (const channel of [a, b]) {
      if (channel.ended) {
        bridge.remove(channel);
      }
    }
    return bridge;
  }

  /**
   * Adds a bridge built elsewhere (an ad-hoc conference's mixing bridge) to the registry, so that
   * `talking_to`, `bridges` and the hang-up cascade see it. It leaves the registry when destroyed.
   */
  adoptBridge(bridge: Bridge): void {
    if (bridge.destroyed || this.#bridges.has(bridge.id)) {
      return;
    }
    this.#bridges.set(bridge.id, bridge);
    bridge.once('destroyed', () => {
      this.#bridges.delete(bridge.id);
      this.emit('bridgeDestroyed', bridge);
    });
    this.emit('bridgeCreated', bridge);
  }

  /**
   * Takes `channel` out of its two-party relay bridge WITHOUT ending the call of the other party
   * (an ad-hoc conference takes both legs over): the relay bridge is destroyed, its two channels
   * stay up, unbridged. Returns the other channel of that bridge, if any.
   */
  dissolveRelay(channel: Channel): Channel | undefined {
    let peer: Channel | undefined;
    for (const bridgeId of [...channel.bridges]) {
      const bridge = this.#bridges.get(bridgeId);
      if (bridge?.kind !== BridgeKind.Relay) {
        continue;
      }
      peer ??= bridge.channels.find((other) => other !== channel);
      bridge.destroy();
    }
    return peer;
  }

  #attachLeg(channel: Channel, legId: string): void {
    channel.legId = legId;
    this.#byLeg.set(legId, channel);
    if (channel.ended) {
      // Hung up while the leg was being created: release it now.
      this.#releaseLeg(channel);
    }
  }

  #releaseLeg(channel: Channel): void {
    const legId = channel.legId;
    if (legId === undefined || !this.#byLeg.has(legId)) {
      return;
    }
    this.#byLeg.delete(legId);
    this.#options.media.closeLeg(legId).catch((error: unknown) => {
      this.#logger.debug({ err: error, legId }, 'closeLeg failed');
    });
  }

  #adopt(channel: Channel): void {
    this.#channels.set(channel.id, channel);
    channel.referHandler = (referrer, tx) => {
      void this.#handleRefer(referrer, tx);
    };
    channel.once('hungup', () => {
      for (const bridgeId of [...channel.bridges]) {
        this.#bridges.get(bridgeId)?.remove(channel);
      }
      this.#channels.delete(channel.id);
      this.#releaseLeg(channel);
      this.emit('channelEnded', channel);
    });
    this.emit('channelCreated', channel);
  }

  /**
   * Server-side mute (calld `mute/start|stop`): the media engine stops relaying the channel's
   * audio toward its bridge, then the channel's `muted` flag changes (`updated`).
   */
  async setMuted(channel: Channel, muted: boolean): Promise<void> {
    await this.#applyToLeg(channel, (legId) => this.#options.media.setMuted(legId, muted));
    if (!channel.ended) {
      channel.setMuted(muted);
    }
  }

  /**
   * Server-side hold (calld `hold/start|stop`): nothing is relayed from or to the channel, and
   * its hold flag changes (`held`/`resumed`, `updated`). The endpoint is not re-INVITEd.
   */
  async setOnHold(channel: Channel, held: boolean): Promise<void> {
    await this.#applyToLeg(channel, (legId) => this.#options.media.setHeld(legId, held));
    if (!channel.ended) {
      channel.setOnHold(held, 'server');
    }
  }

  /**
   * Runs a media command on the channel's leg. A channel that hangs up meanwhile has its leg
   * closed under the command: that failure is the hang-up's, not the caller's, and is dropped.
   */
  async #applyToLeg(channel: Channel, command: (legId: string) => Promise<void>): Promise<void> {
    const legId = channel.legId;
    if (legId === undefined || channel.ended) {
      return;
    }
    try {
      await command(legId);
    } catch (error) {
      if (!channel.ended) {
        throw error;
      }
    }
  }

  /**
   * Plays DTMF as if the channel's endpoint had pressed the keys (Asterisk `PlayDTMF` with
   * `Receive: true`, what calld does): each digit is reported on the channel (`dtmf`) and sent
   * as SIP INFO to the endpoints of the channels it talks to.
   */
  playDtmf(channel: Channel, digits: string): void {
    const peers = this.talkingTo(channel);
    for (const digit of digits) {
      channel.emit('dtmf', digit);
      for (const peer of peers) {
        peer.sendDtmfInfo(digit);
      }
    }
  }

  /**
   * REFER in a channel's dialog: a blind transfer (see transfer.ts). The REFER is authorized
   * by its dialog, as every in-dialog request (the dialog was created by an authenticated
   * INVITE or by our own INVITE to a registered contact). Checks, in order:
   * - Refer-To/Refer-Sub/Referred-By (400/403/501, {@link parseRefer});
   * - the call is established (403 in an early dialog — nothing to hand over yet), no other
   *   transfer from this channel is running (491), and it is a two-party call: the channel
   *   shares one relay bridge with exactly one other answered channel (403 otherwise);
   * - the target extension exists (404) and has a registered device (480). Refusing these up
   *   front leaves the call as it was, where a 202 would have cost the transferee its call.
   * Then 202 Accepted (with `Refer-Sub: false` when asked, RFC 4488 §4), the relay bridge is
   * dissolved (no hang-up: the transferee hears silence), the target is dialled with the
   * transferee as caller, and the transferor is told the outcome by NOTIFY and released.
   * If the target does not answer, the transferee's call fails with the matching cause (as a
   * blind transfer does on Asterisk): there is nobody left to return it to.
   */
  async #handleRefer(channel: Channel, tx: ServerTransaction): Promise<void> {
    let accepted: AcceptedRefer | undefined;
    try {
      accepted = await this.#refer(channel, tx);
    } catch (error) {
      this.#logger.error({ err: error, callId: channel.id }, 'REFER handling failed');
      if (awaitsFinalResponse(tx)) {
        try {
          this.#options.stack.respond(tx, 500);
        } catch (respondError) {
          this.#logger.debug({ err: respondError }, 'could not answer the REFER with 500');
        }
      }
      return;
    }
    if (accepted === undefined) {
      return;
    }
    // After the 202 the REFER transaction is over: the outcome goes to the transferor in the
    // final NOTIFY (RFC 3515 §2.4.5), never in another response to the REFER.
    const { transfer } = accepted;
    try {
      await this.#runTransfer(accepted);
    } catch (error) {
      this.#logger.error(
        { err: error, callId: channel.id, transferee: transfer.transferee.id },
        'blind transfer failed after the 202; hanging up the transferee',
      );
      transfer.failed(500);
      transfer.transferee.hangup(HangupCause.TemporaryFailure);
    }
  }

  /**
   * Validates the REFER and answers it: a refusal (resolves `undefined`) or 202 Accepted, then
   * the transfer starts (its first NOTIFY goes out, it is registered in `#transfers`).
   */
  async #refer(channel: Channel, tx: ServerTransaction): Promise<AcceptedRefer | undefined> {
    const { stack, store, registrar } = this.#options;
    const decline = (status: number, warning: string): undefined => {
      this.#logger.info({ callId: channel.id, status, warning }, 'REFER declined');
      stack.respond(tx, status, (response) => {
        response.headers.set('Warning', `399 confab "${warning}"`);
      });
      return undefined;
    };
    const refer = parseRefer(tx.request, [
      this.#options.domain,
      ...(this.#options.localHosts ?? []),
      ...registrar.aorHosts,
    ]);
    if (isReferRefusal(refer)) {
      return decline(refer.status, refer.warning);
    }
    const transferee = this.#transferee(channel);
    if (typeof transferee === 'string') {
      return decline(transferee === 'pending' ? 491 : 403, TRANSFEREE_PROBLEMS[transferee]);
    }
    const targetLine = await store.lines.findByExtension(refer.extension);
    if (!targetLine) {
      return decline(404, `no extension ${refer.extension}`);
    }
    const bindings = registrar.contactsFor(targetLine.id);
    if (bindings.length === 0) {
      return decline(480, `extension ${refer.extension} has no registered device`);
    }
    const [targetUser, transfereeParty] = await Promise.all([
      store.users.findByUuid(targetLine.userUuid),
      this.#partyOfChannel(transferee.peer),
    ]);
    // The call may have changed while we looked things up.
    const again = this.#transferee(channel);
    if (typeof again === 'string' || again.peer !== transferee.peer) {
      return decline(
        again === 'pending' ? 491 : 403,
        'the call changed during the transfer request',
      );
    }
    stack.respond(tx, 202, (response) => {
      response.headers.set('Contact', `<${channel.contactUri()}>`);
      if (!refer.subscribe) {
        response.headers.set('Refer-Sub', 'false');
      }
    });
    return {
      transfer: this.#beginTransfer(channel, transferee.peer, refer),
      bridge: transferee.bridge,
      refer,
      target: {
        calleeLine: targetLine,
        calleeParty: partyOf(targetUser, targetLine),
        callerParty: transfereeParty,
        bindings,
      },
    };
  }

  /** The other party of `channel`'s two-party call, or why there is none. */
  #transferee(
    channel: Channel,
  ): { peer: Channel; bridge: Bridge } | 'early' | 'pending' | 'not-two-party' {
    if (channel.ended || channel.state !== ChannelState.Up) {
      return 'early';
    }
    if (this.#transfers.has(channel)) {
      return 'pending';
    }
    const bridges = [...channel.bridges].map((id) => this.#bridges.get(id));
    const bridge = bridges[0];
    if (bridges.length !== 1 || bridge?.kind !== BridgeKind.Relay || bridge.destroyed) {
      return 'not-two-party';
    }
    const peer = bridge.channels.find((other) => other !== channel);
    if (bridge.channels.length !== 2 || !peer || peer.ended || peer.state !== ChannelState.Up) {
      return 'not-two-party';
    }
    return { peer, bridge };
  }

  async #partyOfChannel(channel: Channel): Promise<PartyId> {
    const { store } = this.#options;
    const user =
      channel.userUuid === null ? undefined : await store.users.findByUuid(channel.userUuid);
    const line = user
      ? (await store.lines.listByUser(user.uuid)).find((l) => l.id === channel.lineId)
      : undefined;
    if (!line) {
      // No line (cannot happen for our channels): what the channel shows of itself.
      return channel.isCaller ? channel.callerId : channel.connectedLine;
    }
    return partyOf(user, line);
  }

  /** The transfer's subscription (first NOTIFY: 100 Trying), registered until it finishes. */
  #beginTransfer(transferor: Channel, transferee: Channel, refer: ReferRequest): BlindTransfer {
    const ringTimeoutMs = this.#options.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_MS;
    const transfer = new BlindTransfer({
      transferor,
      transferee,
      refer,
      expiresSeconds: Math.ceil(ringTimeoutMs / 1000) + 30,
      logger: this.#logger,
    });
    this.#transfers.set(transferor, transfer);
    transfer.once('finished', () => {
      this.#transfers.delete(transferor);
    });
    return transfer;
  }

  /** Hands the transferee over to the target (after the 202). */
  async #runTransfer({ transfer, bridge, refer, target }: AcceptedRefer): Promise<void> {
    const { transferor, transferee } = transfer;
    const ringTimeoutMs = this.#options.ringTimeoutMs ?? DEFAULT_RING_TIMEOUT_MS;
    this.#logger.info(
      { transferor: transferor.id, transferee: transferee.id, target: refer.extension },
      'blind transfer',
    );
    // Out of the two-party bridge without the relay policy (which would hang the other up).
    bridge.destroy();
    for (const channel of [transferor, transferee]) {
      channel.emit('updated');
    }
    transferee.once('hungup', (cause) => {
      // The transferee hung up while the target rang (487), or its call failed (the cause's
      // status, RFC 3398); a no-op once the transfer finished.
      transfer.failed(cause === HangupCause.NormalClearing ? 487 : sipStatusForCause(cause));
    });
    // The transferee's leg joins the target's bridge only once it left the old one.
    await bridge.released;
    if (transferee.ended) {
      return;
    }
    const attempt = new CallAttempt(
      this,
      {
        channel: transferee,
        // The transferee's leg is up: it hears silence while the target rings.
        ring: () => {
          transfer.ringing();
        },
        answer: () => {
          transferee.setConnectedLine(target.calleeParty);
          transfer.succeeded();
        },
        fail: (status) => {
          transfer.failed(status);
        },
      },
      ringTimeoutMs,
    );
    const { callerParty, calleeParty, calleeLine } = target;
    await attempt.fork(target.bindings, {
      ...this.#forkContext({ calleeLine, calleeParty, callerParty }),
      // RFC 3892 §3: the referee copies Referred-By into the triggered request.
      ...(refer.referredBy !== undefined ? { headers: { 'Referred-By': refer.referredBy } } : {}),
    });
  }

  /** A TCP/WebSocket connection closed: every channel over it is gone (see Channel.connectionLost). */
  connectionClosed(connectionId: string): void {
    for (const channel of [...this.#channels.values()]) {
      if (channel.connectionId === connectionId) {
        this.#logger.info({ callId: channel.id, connectionId }, 'endpoint connection closed');
        channel.connectionLost();
      }
    }
  }

  /** Hangs up every channel (server shutdown). */
  close(): void {
    this.#offMedia();
    for (const channel of [...this.#channels.values()]) {
      channel.hangup(HangupCause.NormalClearing);
    }
  }
}

/** A REFER answered 202: the transfer to run. */
interface AcceptedRefer {
  transfer: BlindTransfer;
  /** The two-party relay bridge the transferee leaves. */
  bridge: Bridge;
  refer: ReferRequest;
  target: Pick<ForkContext, 'calleeLine' | 'calleeParty' | 'callerParty'> & {
    bindings: readonly Binding[];
  };
}

const TRANSFEREE_PROBLEMS = {
  early: 'the call is not established',
  pending: 'a transfer of this call is already in progress',
  'not-two-party': 'only a two-party call can be transferred',
} as const;

/**
 * Whether a server transaction can still send its final response: an INVITE one while
 * Proceeding (§17.2.1), a non-INVITE one while Trying or Proceeding (§17.2.2). Past that
 * (Completed, Accepted, Terminated) it answers nothing new.
 */
function awaitsFinalResponse(tx: ServerTransaction): boolean {
  return tx.state === TransactionState.Trying || tx.state === TransactionState.Proceeding;
}

function isWebSocketFlow(protocol: string): boolean {
  return protocol === 'WS' || protocol === 'WSS';
}

/** Who calls whom in a call attempt. */
type ForkParties = Pick<ForkContext, 'calleeLine' | 'calleeParty' | 'callerParty'>;

function partyOf(user: User | undefined, line: Line, from?: NameAddr): PartyId {
  const name = user
    ? `${user.firstname} ${user.lastname}`.trim()
    : (from?.displayName ?? line.extension);
  return { name: name === '' ? line.extension : name, number: line.extension };
}

function sipUri(user: string, host: string): SipUri {
  return {
    scheme: 'sip',
    user,
    password: undefined,
    host,
    port: undefined,
    params: new Map(),
    headers: new Map(),
  };
}
