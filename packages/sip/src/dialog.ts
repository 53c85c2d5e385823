/**
 * SIP dialogs (RFC 3261 §12): the state two UAs share between an INVITE and its BYE, and the
 * construction of in-dialog requests.
 *
 * Compatibility notes:
 * - Loose routing only: a route set whose first entry lacks `;lr` (an RFC 2543 strict router)
 *   makes {@link Dialog.createRequest} throw `UnsupportedError` (§12.2.1.1 permits rejecting it).
 * - The remote target is refreshed by INVITE, UPDATE, SUBSCRIBE, NOTIFY and REFER requests and
 *   by 2xx responses to our own (§12.2.1.2, §12.2.2, RFC 3311, RFC 6665).
 * - A missing From tag (RFC 2543 peer) is an empty remote tag (§12.1.1).
 *
 * Via: a request built here carries a placeholder top Via (`SIP/2.0/UDP confab.invalid` with
 * a fresh branch) unless {@link CreateInDialogRequestOptions.via} is given. The TU completes it
 * before sending, with {@link completeVia} (keeps the branch) or by replacing the Via with its
 * own; an ACK for a 2xx gets a new branch of its own (§13.2.2.4, §17.1.1.3).
 */
import { InvalidStateError, TypedEmitter, UnsupportedError } from '@confab/core';
import { SipHeaders } from './headers.js';
import {
  formatVia,
  getCallId,
  getContacts,
  getCSeq,
  getFrom,
  getTag,
  getTo,
  getTopVia,
} from './header-values.js';
import { SipRequest, setBody, type SipMessage, type SipResponse } from './message.js';
import { initialCSeq, newBranch, nextCSeq } from './transaction/messages.js';
import { cloneUri, type NameAddr, type SipUri } from './uri.js';
import { formatNameAddr, formatUri, parseNameAddr } from './uri-parser.js';

/**
 * ```
 * Early ──2xx──► Confirmed ──BYE──► Terminated
 *   └──────────── non-2xx / terminate() ─┘
 * ```
 */
export const DialogState = {
  Early: 'Early',
  Confirmed: 'Confirmed',
  Terminated: 'Terminated',
} as const;
export type DialogState = (typeof DialogState)[keyof typeof DialogState];

const TRANSITIONS: Readonly<Record<DialogState, readonly DialogState[]>> = {
  Early: ['Confirmed', 'Terminated'],
  Confirmed: ['Terminated'],
  Terminated: [],
};

/** A dialog identifier (§12): Call-ID and both tags, from this UA's point of view. */
export interface DialogId {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
}

/** A string key for maps of dialogs. */
export function dialogIdKey(id: DialogId): string {
  return `${id.callId}\u0000${id.localTag}\u0000${id.remoteTag}`;
}

/**
 * The dialog id a message belongs to, or undefined when it has none (no To tag) or is
 * unreadable. `side` says where this UA's tag is: `'uas'` for requests it receives (and
 * responses it sends): local = To tag; `'uac'` for responses it receives (and requests it
 * sends): local = From tag. Never throws.
 */
export function dialogIdOf(message: SipMessage, side: 'uas' | 'uac'): DialogId | undefined {
  try {
    const callId = getCallId(message);
    const fromTag = getTag(getFrom(message));
    const toTag = getTag(getTo(message));
    if (toTag === undefined) {
      return undefined;
    }
    if (side === 'uas') {
      return { callId, localTag: toTag, remoteTag: fromTag ?? '' };
    }
    return fromTag === undefined ? undefined : { callId, localTag: fromTag, remoteTag: toTag };
  } catch {
    return undefined;
  }
}

/** Methods that refresh the remote target (§12.2, RFC 3311 §5.2, RFC 6665 §4.1, RFC 3515). */
const TARGET_REFRESH_METHODS: ReadonlySet<string> = new Set([
  'INVITE',
  'UPDATE',
  'SUBSCRIBE',
  'NOTIFY',
  'REFER',
]);

/** Host of the placeholder Via of requests built by {@link Dialog.createRequest} (RFC 6761 .invalid). */
export const VIA_PLACEHOLDER_HOST = 'confab.invalid';

/** The sent-by of a Via (§18.1.1). */
export interface ViaSentBy {
  /** `UDP`, `TCP`, `TLS`, `WS`, `WSS`. */
  readonly transport: string;
  readonly host: string;
  readonly port?: number | undefined;
}

/** Rewrites the top Via's transport and sent-by, keeping its parameters (the branch). */
export function completeVia(request: SipRequest, sentBy: ViaSentBy): void {
  const via = getTopVia(request);
  request.headers.replaceFirst(
    'Via',
    formatVia({
      transport: sentBy.transport.toUpperCase(),
      host: sentBy.host,
      port: sentBy.port,
      params: via.params,
    }),
  );
}

/** Options of {@link Dialog.createRequest}. */
export interface CreateInDialogRequestOptions {
  /** ACK only: the CSeq number of the INVITE being acknowledged. @default the last INVITE sent */
  readonly cseq?: number | undefined;
  /** Top Via sent-by; without it, a placeholder (see the module comment). */
  readonly via?: ViaSentBy | undefined;
  /** Extra header fields appended in order. */
  readonly headers?: Iterable<readonly [name: string, value: string]> | undefined;
  readonly body?: string | Uint8Array | undefined;
  readonly contentType?: string | undefined;
}

/** Events of {@link Dialog}. */
export interface DialogEvents {
  [event: string]: unknown[];
  stateChanged: [from: DialogState, to: DialogState];
}

interface DialogInit {
  readonly id: DialogId;
  readonly state: DialogState;
  readonly localUri: NameAddr;
  readonly remoteUri: NameAddr;
  readonly remoteTarget: SipUri;
  readonly localTarget: SipUri | undefined;
  readonly routeSet: readonly string[];
  readonly localSeq: number | undefined;
  readonly remoteSeq: number | undefined;
  readonly secure: boolean;
  readonly lastInviteSeq: number | undefined;
}

/** A name-addr without its tag: the dialog's local/remote URI (§12.1.1). */
function withoutTag(addr: NameAddr): NameAddr {
  const params = new Map(addr.params);
  params.delete('tag');
  return { displayName: addr.displayName, uri: cloneUri(addr.uri), params };
}

function withTag(addr: NameAddr, tag: string): string {
  const params = new Map(addr.params);
  if (tag.length > 0) {
    params.set('tag', tag);
  }
  return formatNameAddr({ ...addr, params });
}

/** The URI of the first Contact, or undefined when there is none (or it is `*`/unreadable). */
function firstContactUri(message: SipMessage): SipUri | undefined {
  try {
    const contacts = getContacts(message);
    return contacts === '*' ? undefined : contacts[0]?.uri;
  } catch {
    return undefined;
  }
}

/**
 * A dialog (§12). Create it with {@link Dialog.fromUasRequest} or {@link Dialog.fromUacResponse};
 * match incoming messages to it with {@link dialogIdOf}.
 */
export class Dialog extends TypedEmitter<DialogEvents> {
  readonly id: DialogId;
  /** Our URI, without tag (From of our requests). */
  readonly localUri: NameAddr;
  /** The peer's URI, without tag (To of our requests). */
  readonly remoteUri: NameAddr;
  /** Whether the dialog was established with a SIPS Request-URI (§12.1.1). */
  readonly secure: boolean;
  /** Our Contact, sent in target-refresh requests (§12.2.1.1). */
  readonly localTarget: SipUri | undefined;
  #state: DialogState;
  #remoteTarget: SipUri;
  #routeSet: readonly string[];
  #localSeq: number | undefined;
  #remoteSeq: number | undefined;
  #lastInviteSeq: number | undefined;

  private constructor(init: DialogInit) {
    super();
    this.id = init.id;
    this.#state = init.state;
    this.localUri = init.localUri;
    this.remoteUri = init.remoteUri;
    this.#remoteTarget = init.remoteTarget;
    this.localTarget = init.localTarget;
    this.#routeSet = init.routeSet;
    this.#localSeq = init.localSeq;
    this.#remoteSeq = init.remoteSeq;
    this.secure = init.secure;
    this.#lastInviteSeq = init.lastInviteSeq;
  }

  /**
   * The UAS side (§12.1.1), when sending a 1xx with a To tag (Early) or the 2xx: route set =
   * the request's Record-Route in order, remote target = its Contact, remote sequence = its
   * CSeq, local sequence empty. Call {@link confirm} once the 2xx is sent.
   *
   * @param localTag - the tag we put in the To of our responses.
   * @param responseContact - the Contact of our responses (our local target).
   * @throws SipParseError when Call-ID, From, To, CSeq or Contact is unreadable.
   * @throws TypeError when the request has no Contact.
   */
  static fromUasRequest(
    invite: SipRequest,
    localTag: string,
    responseContact: SipUri | NameAddr,
  ): Dialog {
    const contacts = getContacts(invite);
    const remoteTarget = contacts === '*' ? undefined : contacts[0]?.uri;
    if (remoteTarget === undefined) {
      throw new TypeError('a dialog-creating request needs a Contact (RFC 3261 §8.1.1.8)');
    }
    const from = getFrom(invite);
    return new Dialog({
      id: { callId: getCallId(invite), localTag, remoteTag: getTag(from) ?? '' },
      state: DialogState.Early,
      localUri: withoutTag(getTo(invite)),
      remoteUri: withoutTag(from),
      remoteTarget: cloneUri(remoteTarget),
      localTarget: cloneUri('uri' in responseContact ? responseContact.uri : responseContact),
      routeSet: invite.headers.getAll('Record-Route'),
      localSeq: undefined,
      remoteSeq: getCSeq(invite).seq,
      secure: invite.uri.scheme === 'sips',
      lastInviteSeq: undefined,
    });
  }

  /**
   * The UAC side (§12.1.2), from a 1xx with a To tag (Early) or a 2xx (Confirmed): route set =
   * the response's Record-Route reversed, remote target = its Contact (the Request-URI when a
   * provisional response has none), local sequence = the request's CSeq.
   *
   * @throws TypeError for a final non-2xx response or a response without To tag.
   * @throws SipParseError when a needed header is missing or unreadable.
   */
  static fromUacResponse(invite: SipRequest, response: SipResponse): Dialog {
    if (response.status >= 300) {
      throw new TypeError(`a ${response.status} response does not create a dialog`);
    }
    const from = getFrom(invite);
    const to = getTo(response);
    const localTag = getTag(from);
    const remoteTag = getTag(to);
    if (localTag === undefined || remoteTag === undefined) {
      throw new TypeError('a dialog needs a From tag and a To tag (RFC 3261 §12.1.2)');
    }
    const contact = firstContactUri(response);
    if (contact === undefined && response.status >= 200) {
      throw new TypeError('a 2xx creating a dialog needs a Contact (RFC 3261 §12.1.2)');
    }
    const seq = getCSeq(invite).seq;
    return new Dialog({
      id: { callId: getCallId(invite), localTag, remoteTag },
      state: response.status >= 200 ? DialogState.Confirmed : DialogState.Early,
      localUri: withoutTag(from),
      remoteUri: withoutTag(to),
      remoteTarget: cloneUri(contact ?? invite.uri),
      localTarget: firstContactUri(invite),
      routeSet: response.headers.getAll('Record-Route').reverse(),
      localSeq: seq,
      remoteSeq: undefined,
      secure: invite.uri.scheme === 'sips',
      lastInviteSeq: invite.method === 'INVITE' ? seq : undefined,
    });
  }

  get state(): DialogState {
    return this.#state;
  }

  /** Where in-dialog requests go (the Request-URI, §12.2.1.1). */
  get remoteTarget(): SipUri {
    return cloneUri(this.#remoteTarget);
  }

  /** Route header values for in-dialog requests, in order. */
  get routeSet(): readonly string[] {
    return this.#routeSet;
  }

  /** CSeq of the last request we sent in the dialog; undefined before the first (UAS side). */
  get localSeq(): number | undefined {
    return this.#localSeq;
  }

  /** CSeq of the last request the peer sent; undefined before the first (UAC side). */
  get remoteSeq(): number | undefined {
    return this.#remoteSeq;
  }

  /** The UAS sent its 2xx (or the UAC got one): Early → Confirmed. Idempotent. */
  confirm(): void {
    if (this.#state === DialogState.Early) {
      this.#transition(DialogState.Confirmed);
    }
  }

  /** Ends the dialog (BYE sent or received, or a non-2xx ended an early dialog). Idempotent. */
  terminate(): void {
    if (this.#state !== DialogState.Terminated) {
      this.#transition(DialogState.Terminated);
    }
  }

  /** Same as {@link terminate}. */
  close(): void {
    this.terminate();
  }

  /**
   * Builds an in-dialog request (§12.2.1.1): Request-URI = remote target, Route = route set,
   * CSeq = local sequence + 1 (an ACK takes the INVITE's, §13.2.2.4), From/To with the
   * dialog's URIs and tags, Call-ID, Max-Forwards 70, our Contact on target-refresh requests,
   * and a top Via to complete (see the module comment).
   *
   * @throws InvalidStateError once terminated, or for an ACK with no INVITE to acknowledge.
   * @throws TypeError for CANCEL (built from the request it cancels: `createCancel`).
   * @throws UnsupportedError when the route set needs strict routing.
   */
  createRequest(method: string, options: CreateInDialogRequestOptions = {}): SipRequest {
    if (this.#state === DialogState.Terminated) {
      throw InvalidStateError.closed('Dialog');
    }
    if (method === 'CANCEL') {
      throw new TypeError(
        'CANCEL is built from the request it cancels (createCancel, RFC 3261 §9.1)',
      );
    }
    let seq: number;
    if (method === 'ACK') {
      const ackSeq = options.cseq ?? this.#lastInviteSeq;
      if (ackSeq === undefined) {
        throw new InvalidStateError('Dialog: no INVITE to acknowledge');
      }
      seq = ackSeq;
    } else {
      // §12.2.1.1: the UAS side starts its local sequence here (any value below 2^31).
      seq = this.#localSeq === undefined ? initialCSeq() : nextCSeq(this.#localSeq);
      this.#localSeq = seq;
      if (method === 'INVITE') {
        this.#lastInviteSeq = seq;
      }
    }
    const first = this.#routeSet[0];
    if (first !== undefined && !parseNameAddr(first).uri.params.has('lr')) {
      throw new UnsupportedError('strict routing (RFC 2543) is not supported (RFC 3261 §12.2.1.1)');
    }
    const headers = new SipHeaders();
    const sentBy = options.via ?? { transport: 'UDP', host: VIA_PLACEHOLDER_HOST };
    headers.append(
      'Via',
      formatVia({
        transport: sentBy.transport.toUpperCase(),
        host: sentBy.host,
        port: sentBy.port,
        params: new Map([['branch', newBranch()]]),
      }),
    );
    headers.set('Max-Forwards', '70');
    for (const route of this.#routeSet) {
      headers.append('Route', route);
    }
    headers.set('From', withTag(this.localUri, this.id.localTag));
    headers.set('To', withTag(this.remoteUri, this.id.remoteTag));
    headers.set('Call-ID', this.id.callId);
    headers.set('CSeq', `${seq} ${method}`);
    if (TARGET_REFRESH_METHODS.has(method) && this.localTarget) {
      headers.set('Contact', `<${formatUri(this.localTarget)}>`);
    }
    for (const [name, value] of options.headers ?? []) {
      headers.append(name, value);
    }
    const request = new SipRequest(method, this.remoteTarget, headers);
    if (options.body !== undefined) {
      setBody(request, options.body, options.contentType);
    }
    return request;
  }

  /**
   * Processes a request received in this dialog (§12.2.2). Returns `'out-of-order'` when its
   * CSeq is lower than the last one (answer 500); otherwise records the CSeq and, for a
   * target-refresh request with a readable Contact, updates the remote target. ACK and
   * CANCEL carry the INVITE's CSeq and are always `'ok'`.
   *
   * @throws SipParseError when the CSeq is unreadable (the transaction layer drops those).
   */
  receiveRequest(request: SipRequest): 'ok' | 'out-of-order' {
    if (request.method === 'ACK' || request.method === 'CANCEL') {
      return 'ok';
    }
    const { seq } = getCSeq(request);
    if (this.#remoteSeq !== undefined && seq < this.#remoteSeq) {
      return 'out-of-order';
    }
    this.#remoteSeq = seq;
    if (TARGET_REFRESH_METHODS.has(request.method)) {
      this.#refreshTarget(request);
    }
    return 'ok';
  }

  /**
   * Processes a response to a request we sent in this dialog (UAC side): a 2xx to the INVITE
   * confirms an early dialog and recomputes its route set (§13.2.2.4); a 2xx to a
   * target-refresh request updates the remote target (§12.2.1.2). Never throws.
   */
  receiveResponse(response: SipResponse): void {
    if (response.status < 200 || response.status >= 300 || this.#state === DialogState.Terminated) {
      return;
    }
    let method: string;
    try {
      method = getCSeq(response).method;
    } catch {
      return;
    }
    if (method === 'INVITE' && this.#state === DialogState.Early) {
      this.#routeSet = response.headers.getAll('Record-Route').reverse();
      this.#transition(DialogState.Confirmed);
    }
    if (TARGET_REFRESH_METHODS.has(method)) {
      this.#refreshTarget(response);
    }
  }

  #refreshTarget(message: SipMessage): void {
    const contact = firstContactUri(message);
    // An absent or unreadable Contact keeps the previous target.
    if (contact !== undefined) {
      this.#remoteTarget = cloneUri(contact);
    }
  }

  #transition(to: DialogState): void {
    const from = this.#state;
    if (!TRANSITIONS[from].includes(to)) {
      throw InvalidStateError.transition('Dialog', from, to);
    }
    this.#state = to;
    this.emit('stateChanged', from, to);
  }
}
