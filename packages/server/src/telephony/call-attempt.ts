/**
 * One call attempt: parallel forks from a calling channel to the callee's registered contacts,
 * first 2xx wins, ring timeout, failures mapped per RFC 3261 §16.7 (see {@link CallControl}).
 */
import { formatUri, type Clock, type NameAddr } from '@confab/sip';
import type { Line } from '../store/types.js';
import type { CallControl } from './call-control.js';
import { ChannelState, type Channel, type PartyId } from './channel.js';
import type { OutboundChannel } from './outbound-channel.js';
import { HangupCause, causeForSipStatus, sipStatusForCause } from './hangup-cause.js';
import type { Binding } from './registrar.js';

/** Who calls whom, for the forks of a {@link CallAttempt}. */
export interface ForkContext {
  from: NameAddr;
  to: NameAddr;
  calleeLine: Line;
  calleeParty: PartyId;
  callerParty: PartyId;
  /** Extra header fields of every fork's INVITE (e.g. RFC 3892 Referred-By of a transfer). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * The calling side of a {@link CallAttempt}: the endpoint's inbound channel (we ring and answer
 * its INVITE), or the user's own, already answered leg of a call placed through calld.
 */
export interface CallingSide {
  readonly channel: Channel;
  /** A fork rings: tell the caller (180 on an inbound channel). */
  ring(): void;
  /** The winning fork answered: connect the caller (200 on an inbound channel). */
  answer(): void;
  /**
   * The attempt failed with `status` (the §16.7 choice, 480 on ring timeout); called just
   * before the calling channel is hung up with the matching cause.
   */
  fail?(status: number): void;
}

/**
 * One call attempt from a calling channel to the callee's contacts: parallel forks, first
 * 2xx wins (§16.7 semantics for a B2BUA), ring timeout.
 */
export class CallAttempt {
  readonly #control: CallControl;
  readonly #caller: CallingSide;
  readonly #inbound: Channel;
  readonly #ringTimeoutMs: number;
  readonly #forks = new Set<OutboundChannel>();
  readonly #failures: number[] = [];
  #winner: OutboundChannel | undefined;
  #pending = 0;
  #ringTimer: ReturnType<Clock['setTimeout']> | undefined;

  constructor(control: CallControl, caller: CallingSide, ringTimeoutMs: number) {
    this.#control = control;
    this.#caller = caller;
    this.#inbound = caller.channel;
    this.#ringTimeoutMs = ringTimeoutMs;
  }

  async fork(bindings: readonly Binding[], context: ForkContext): Promise<void> {
    const inbound = this.#inbound;
    const control = this.#control;
    this.#ringTimer = control.clock.setTimeout(() => {
      if (!this.#winner && !inbound.ended) {
        control.logger.info({ callId: inbound.id }, 'no answer: ring timeout');
        this.#endForks(HangupCause.NoAnswer, false);
        this.#caller.fail?.(480);
        inbound.hangup(HangupCause.NoAnswer);
      }
    }, this.#ringTimeoutMs);
    inbound.once('hungup', () => {
      this.#stopRingTimer();
      // Caller cancelled or hung up: stop ringing everywhere.
      this.#endForks(HangupCause.NormalClearing, false);
    });
    this.#pending = bindings.length;
    await Promise.all(
      bindings.map(async (binding) => {
        try {
          await this.#startFork(binding, context);
        } catch (error) {
          control.logger.warn({ err: error, callId: inbound.id }, 'fork failed to start');
          this.#forkFailed(503);
        }
      }),
    );
    if (inbound.ended) {
      this.#stopRingTimer();
    }
  }

  #stopRingTimer(): void {
    if (this.#ringTimer !== undefined) {
      this.#control.clock.clearTimeout(this.#ringTimer);
      this.#ringTimer = undefined;
    }
  }

  async #startFork(binding: Binding, context: ForkContext): Promise<void> {
    const control = this.#control;
    const inbound = this.#inbound;
    // The media group is the conversation's: a transferred leg keeps the worker of its call.
    const channel = await control.createOutbound(binding, inbound.conversationId, context);
    if (inbound.ended || this.#winner) {
      channel.hangup(HangupCause.NormalClearing);
      return;
    }
    this.#forks.add(channel);
    const legId = channel.legId;
    if (legId === undefined) {
      throw new Error('outbound channel without media leg');
    }
    const offer = await control.media.createOffer(legId);
    if (inbound.ended || this.#winner) {
      channel.hangup(HangupCause.NormalClearing);
      this.#forks.delete(channel);
      return;
    }
    channel.outcome.on('progress', () => {
      this.#caller.ring();
    });
    channel.outcome.on('answered', (sdp) => {
      this.#onAnswered(channel, sdp).catch((error: unknown) => {
        this.#answeredCallFailed(channel, error);
      });
    });
    channel.outcome.on('rejected', (status) => {
      this.#forks.delete(channel);
      this.#forkFailed(status);
    });
    channel.invite({
      target: formatTarget(binding),
      flow: binding.flow,
      from: context.from,
      to: context.to,
      sdp: offer,
      ...(context.headers ? { headers: context.headers } : {}),
    });
  }

  async #onAnswered(channel: OutboundChannel, sdp: string): Promise<void> {
    const control = this.#control;
    const inbound = this.#inbound;
    if (this.#winner || inbound.ended) {
      channel.hangup(HangupCause.NormalClearing);
      return;
    }
    this.#winner = channel;
    this.#forks.delete(channel);
    this.#endForks(HangupCause.NormalClearing, true);
    this.#stopRingTimer();
    const legId = channel.legId;
    try {
      if (legId === undefined) {
        throw new Error('winner without media leg');
      }
      await control.media.acceptAnswer(legId, sdp);
    } catch (error) {
      control.logger.info({ err: error, callId: channel.id }, 'callee answer not acceptable');
      channel.hangup(HangupCause.IncompatibleDestination);
      inbound.hangup(HangupCause.IncompatibleDestination);
      return;
    }
    if (inbound.ended || channel.ended) {
      channel.hangup(HangupCause.NormalClearing);
      inbound.hangup(HangupCause.NormalClearing);
      return;
    }
    this.#caller.answer();
    try {
      await control.relay(inbound, channel);
    } catch (error) {
      control.logger.error({ err: error, callId: inbound.id }, 'bridging failed');
      inbound.hangup(HangupCause.TemporaryFailure);
      channel.hangup(HangupCause.TemporaryFailure);
    }
    if (inbound.state !== ChannelState.Up) {
      channel.hangup(HangupCause.NormalClearing);
    }
  }

  /**
   * Connecting the caller to the answered fork failed (the caller's `answer()` threw, or a
   * hang-up did): the fork, already acknowledged, gets a BYE; the caller gets its final
   * failure response if it has none yet, a BYE otherwise (both through `hangup`, which knows the
   * channel's state). Hanging up releases both media legs and any bridge they joined.
   */
  #answeredCallFailed(channel: OutboundChannel, error: unknown): void {
    const inbound = this.#inbound;
    this.#control.logger.error(
      { err: error, callId: inbound.id, callee: channel.id },
      'connecting the answered call failed; hanging up both sides',
    );
    const cause = HangupCause.TemporaryFailure;
    for (const end of [
      () => {
        channel.hangup(cause);
      },
      () => {
        if (!inbound.ended) {
          this.#caller.fail?.(sipStatusForCause(cause));
        }
      },
      () => {
        inbound.hangup(cause);
      },
    ]) {
      try {
        end();
      } catch (endError) {
        this.#control.logger.debug({ err: endError, callId: inbound.id }, 'hang-up failed');
      }
    }
  }

  #forkFailed(status: number): void {
    this.#failures.push(status);
    this.#pending -= 1;
    if (this.#pending > 0 || this.#winner || this.#inbound.ended) {
      return;
    }
    const best = bestFailure(this.#failures);
    this.#caller.fail?.(best);
    this.#inbound.hangup(causeForSipStatus(best));
  }

  #endForks(cause: HangupCause, completedElsewhere: boolean): void {
    for (const fork of this.#forks) {
      fork.hangup(cause, { completedElsewhere });
    }
    this.#forks.clear();
  }
}

/** §16.7 step 6, adapted: 6xx wins; then 486 (busy); then the lowest 4xx; then 5xx → 503. */
export function bestFailure(statuses: readonly number[]): number {
  const global = statuses.find((status) => status >= 600);
  if (global !== undefined) {
    return global;
  }
  if (statuses.includes(486)) {
    return 486;
  }
  const client = statuses.filter((status) => status >= 400 && status < 500).sort((a, b) => a - b);
  if (client[0] !== undefined) {
    // 408 from every fork means nobody answered in time.
    return client.every((status) => status === 408) ? 480 : (client.find((s) => s !== 408) ?? 480);
  }
  return statuses.length > 0 ? 503 : 480;
}

/** The Request-URI of a request to a registered contact. */
export function formatTarget(binding: Binding): string {
  // The Request-URI is the registered contact (§10.2, §16.5); the flow decides where it goes.
  return formatUri(binding.contactUri);
}
