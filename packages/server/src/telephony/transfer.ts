/**
 * Blind transfer (RFC 3515 REFER) in the B2BUA, as Asterisk/Wazo do it: the transferor (the
 * endpoint that sends REFER in its call) leaves; the transferee (the other party) stays on its
 * leg to the server, which dials the transfer target with the transferee as the caller. The
 * transferor follows the attempt through the implicit `refer` subscription (§2.4.4): NOTIFYs
 * with `message/sipfrag` bodies, `100 Trying` first, then the target's final status.
 *
 * This module holds the pure parts — reading a REFER ({@link parseRefer}) — and the per-transfer
 * subscription state ({@link BlindTransfer}); call control wires them to channels and bridges.
 *
 * ```
 *   Trying ──► Ringing ──► Succeeded
 *      │          │
 *      └──────────┴──────► Failed
 * ```
 */
import { TypedEmitter, type Logger } from '@confab/core';
import {
  getTo,
  isSipParseError,
  parseNameAddr,
  reasonPhrase,
  setBody,
  splitHeaderList,
  SipParseErrorCode,
  type SipRequest,
} from '@confab/sip';
import type { Channel } from './channel.js';

/** A REFER we accept: whom to call, and how the transferor wants to hear about it. */
export interface ReferRequest {
  /** The dialled number: the Refer-To URI's user part (SIP) or the tel: number. */
  readonly extension: string;
  /** RFC 3892 Referred-By, to pass on to the target's INVITE. */
  readonly referredBy: string | undefined;
  /** False with `Refer-Sub: false` (RFC 4488): no implicit subscription, no NOTIFY. */
  readonly subscribe: boolean;
  /** CSeq number of the REFER: the `id` of its NOTIFYs' Event header (§2.4.6). */
  readonly cseq: number;
}

/** Why a REFER is refused before anything happens: the status to answer and a Warning text. */
export interface ReferRefusal {
  readonly status: number;
  readonly warning: string;
}

const refuse = (status: number, warning: string): ReferRefusal => ({ status, warning });

/** RFC 3966 visual separators, ignored in a tel: number. */
const VISUAL_SEPARATORS = /[-.()]/g;
/** A tel: number we can look up as an extension (global or local, RFC 3966 §3). */
const TEL_NUMBER = /^\+?[0-9*#]{1,32}$/;

/**
 * Reads a REFER's Refer-To, Refer-Sub and Referred-By. Returns what to do, or the refusal:
 * - zero or several Refer-To values → 400 (RFC 3515 §2.4.1, "MUST return a 400");
 * - an unreadable Refer-To or Referred-By, a Refer-Sub other than true/false → 400;
 * - a Refer-To scheme other than sip/sips/tel → 403: §2.4.2 lets the recipient decline a
 *   reference it will not act on, and a B2BUA for SIP lines has nothing to do with `http:`;
 * - a `method` other than INVITE in the Refer-To URI → 403 (we only place calls, §2.4.3);
 * - a sip:/sips: Refer-To in a foreign domain → 403: its user part is not one of our extensions,
 *   and the server places no calls off-net, so it declines to act on the reference (§2.4.2)
 *   rather than claim with a 404 that a user is unknown in a domain it does not serve. Ours are
 *   `localHosts` (the SIP domain, the server's addresses, the hosts lines registered their AORs
 *   under) and the host this endpoint addresses us by in this dialog (the REFER's To URI: an SDK
 *   dials `sip:…@<the host it connected to>`);
 *   without `localHosts` the host is not checked;
 * - Refer-To with `Replaces` (attended transfer, RFC 3891) → 501: not implemented yet.
 */
export function parseRefer(
  request: SipRequest,
  localHosts?: Iterable<string>,
): ReferRequest | ReferRefusal {
  const referTo = request.headers.getAll('Refer-To').flatMap((value) => splitHeaderList(value));
  if (referTo.length !== 1) {
    return refuse(400, `REFER needs exactly one Refer-To (got ${referTo.length})`);
  }
  let isLocal: ((host: string) => boolean) | undefined;
  if (localHosts !== undefined) {
    const hosts = new Set([...localHosts].map(normalizeHost));
    try {
      hosts.add(normalizeHost(getTo(request).uri.host));
    } catch {
      // The stack routed this REFER by its To tag, so To parses; nothing to add otherwise.
    }
    isLocal = (host) => hosts.has(normalizeHost(host));
  }
  const target = readTarget(referTo[0] ?? '', isLocal);
  if ('status' in target) {
    return target;
  }
  let subscribe = true;
  const referSub = request.headers.getAll('Refer-Sub');
  if (referSub.length > 0) {
    const value = referSub.length === 1 ? referSub[0]?.split(';')[0]?.trim().toLowerCase() : '';
    if (value !== 'true' && value !== 'false') {
      return refuse(400, 'Refer-Sub must be true or false (RFC 4488)');
    }
    subscribe = value === 'true';
  }
  const referredByValues = request.headers
    .getAll('Referred-By')
    .flatMap((value) => splitHeaderList(value));
  if (referredByValues.length > 1) {
    return refuse(400, 'more than one Referred-By');
  }
  const referredBy = referredByValues[0];
  if (referredBy !== undefined) {
    try {
      parseNameAddr(referredBy);
    } catch {
      return refuse(400, 'unreadable Referred-By (RFC 3892)');
    }
  }
  const cseq = Number((request.headers.get('CSeq') ?? '').trim().split(/\s+/)[0]);
  return { extension: target.extension, referredBy, subscribe, cseq };
}

/** A host as compared: lower case, no IPv6 brackets, no trailing root dot. */
function normalizeHost(host: string): string {
  return host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

function readTarget(
  value: string,
  isLocal: ((host: string) => boolean) | undefined,
): { extension: string } | ReferRefusal {
  try {
    const { uri } = parseNameAddr(value);
    if (uri.headers.has('replaces')) {
      return refuse(501, 'attended transfer (Refer-To with Replaces) is not supported');
    }
    const method = uri.params.get('method');
    if (method !== undefined && method?.toUpperCase() !== 'INVITE') {
      return refuse(403, 'only INVITE references can be followed');
    }
    if (uri.user === undefined || uri.user.length > 64) {
      return refuse(404, 'the Refer-To URI names no extension');
    }
    if (isLocal !== undefined && !isLocal(uri.host)) {
      return refuse(403, `Refer-To is in a foreign domain (${uri.host.slice(0, 64)})`);
    }
    return { extension: uri.user };
  } catch (error) {
    if (!isSipParseError(error) || error.code !== SipParseErrorCode.UnsupportedUriScheme) {
      return refuse(400, 'unreadable Refer-To');
    }
  }
  // Another scheme: only tel: (RFC 3966) names something we can call.
  const trimmed = value.trim();
  const open = trimmed.indexOf('<');
  const uriText = open === -1 ? trimmed : trimmed.slice(open + 1, trimmed.indexOf('>', open));
  const colon = uriText.indexOf(':');
  if (uriText.slice(0, colon).toLowerCase() !== 'tel') {
    return refuse(403, 'Refer-To must be a sip:, sips: or tel: URI');
  }
  const number = (uriText.slice(colon + 1).split(/[;?]/)[0] ?? '').replace(VISUAL_SEPARATORS, '');
  if (!TEL_NUMBER.test(number)) {
    return refuse(400, 'unreadable tel: number in Refer-To');
  }
  return { extension: number };
}

export function isReferRefusal(value: ReferRequest | ReferRefusal): value is ReferRefusal {
  return 'status' in value;
}

// ---------------------------------------------------------------------------------------------

export const TransferState = {
  Trying: 'Trying',
  Ringing: 'Ringing',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
} as const;
export type TransferState = (typeof TransferState)[keyof typeof TransferState];

const TRANSITIONS: Readonly<Record<TransferState, readonly TransferState[]>> = {
  Trying: ['Ringing', 'Succeeded', 'Failed'],
  Ringing: ['Succeeded', 'Failed'],
  Succeeded: [],
  Failed: [],
};

export interface BlindTransferEvents {
  [key: string]: unknown[];
  /** The attempt reached its final status (200 or the failure). */
  finished: [status: number];
}

export interface BlindTransferOptions {
  transferor: Channel;
  transferee: Channel;
  refer: ReferRequest;
  /** Subscription-State expires of the non-final NOTIFYs: longer than the ring timeout. */
  expiresSeconds: number;
  logger: Logger;
}

/**
 * One blind transfer's `refer` subscription (RFC 3515 §2.4.4-§2.4.7, RFC 6665) and the
 * transferor's release. NOTIFYs go in the transferor's dialog while its channel lives; once it
 * hung up (SDKs send BYE as soon as the REFER is accepted) the subscription ends with it: our
 * channel is the dialog's only usage, so nothing is sent into a dialog the endpoint forgot.
 * After the final NOTIFY was answered (or failed) — at once without a subscription — the
 * transferor's channel is hung up if it still is up. Every method is idempotent.
 */
export class BlindTransfer extends TypedEmitter<BlindTransferEvents> {
  readonly transferor: Channel;
  readonly transferee: Channel;
  readonly #refer: ReferRequest;
  readonly #expires: number;
  readonly #logger: Logger;
  #state: TransferState = TransferState.Trying;
  #released = false;

  constructor(options: BlindTransferOptions) {
    super();
    this.transferor = options.transferor;
    this.transferee = options.transferee;
    this.#refer = options.refer;
    this.#expires = options.expiresSeconds;
    this.#logger = options.logger.child({
      callId: options.transferor.id,
      transferee: options.transferee.id,
    });
    // §2.4.5: the first NOTIFY follows the 202 at once; `100 Trying` says nothing happened yet.
    this.#notify(100, false);
  }

  get state(): TransferState {
    return this.#state;
  }

  get finished(): boolean {
    return this.#state === TransferState.Succeeded || this.#state === TransferState.Failed;
  }

  /** The target is alerted: `180 Ringing`, once. */
  ringing(): void {
    if (this.#state !== TransferState.Trying) {
      return;
    }
    this.#transition(TransferState.Ringing);
    this.#notify(180, false);
  }

  /** The target answered: `200 OK`, subscription terminated. */
  succeeded(): void {
    this.#finish(200);
  }

  /** The attempt failed with `status` (a SIP status ≥ 300). */
  failed(status: number): void {
    this.#finish(status);
  }

  #finish(status: number): void {
    if (this.finished) {
      return;
    }
    this.#transition(status < 300 ? TransferState.Succeeded : TransferState.Failed);
    this.#logger.info({ status }, 'blind transfer finished');
    const tx = this.#notify(status, true);
    if (tx) {
      // Release only once the final NOTIFY was answered: a BYE overtaking it (UDP) would make
      // the transferor miss the outcome.
      tx.once('response', () => {
        this.#release();
      });
      tx.once('timeout', () => {
        this.#release();
      });
      tx.once('transportError', () => {
        this.#release();
      });
    } else {
      this.#release();
    }
    this.emit('finished', status);
  }

  #release(): void {
    if (this.#released) {
      return;
    }
    this.#released = true;
    // Blind transfer: the transferor is out of the call, whatever the outcome.
    this.transferor.hangup();
  }

  #transition(to: TransferState): void {
    if (!TRANSITIONS[this.#state].includes(to)) {
      return;
    }
    this.#state = to;
  }

  #notify(status: number, final: boolean): ReturnType<Channel['sendInDialog']> {
    if (!this.#refer.subscribe || this.transferor.ended) {
      return undefined;
    }
    return this.transferor.sendInDialog('NOTIFY', (notify) => {
      // §2.4.6: `id` is the REFER's CSeq number, so several REFERs in one dialog stay apart.
      notify.headers.set('Event', `refer;id=${this.#refer.cseq}`);
      notify.headers.set(
        'Subscription-State',
        // RFC 6665 §4.1.3: `noresource` — the reference's outcome is known, nothing follows.
        final ? 'terminated;reason=noresource' : `active;expires=${this.#expires}`,
      );
      notify.headers.set('Contact', `<${this.transferor.contactUri()}>`);
      // §2.4.5: the body is a sipfrag of the status line of the referenced request's response.
      setBody(
        notify,
        `SIP/2.0 ${status} ${reasonPhrase(status)}\r\n`,
        'message/sipfrag;version=2.0',
      );
    });
  }
}
