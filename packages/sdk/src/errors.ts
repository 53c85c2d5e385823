/**
 * Errors of the SDK. Every class extends `ConfabError` from `@confab/core`, so `code` is a stable
 * UPPER_SNAKE identifier that applications match on (never the message text):
 *
 * - {@link ApiError}: a REST call failed (`API_ERROR` with the HTTP status and Wazo `error_id`,
 *   `API_UNREACHABLE` when no HTTP response arrived, `API_INVALID_RESPONSE` when the body is not
 *   what the API promises).
 * - {@link PhoneError}: the phone could not do what was asked (not logged in, no WebRTC line,
 *   registration refused, media unavailable, unknown call, …).
 * - `TypeError` for caller mistakes (a malformed host, an empty number), `InvalidStateError`
 *   (from `@confab/core`) for operations that the current state forbids.
 */
import { ConfabError, isConfabError } from '@confab/core';

/** Codes of {@link ApiError}. */
export const ApiErrorCode = {
  /** The server answered with an HTTP error status. */
  HttpError: 'API_ERROR',
  /** No HTTP response: network failure, refused connection, TLS error, CORS rejection. */
  Unreachable: 'API_UNREACHABLE',
  /** The response body does not have the documented shape. */
  InvalidResponse: 'API_INVALID_RESPONSE',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/** Fields of {@link ApiError} besides the code and message. */
interface ApiErrorFields {
  status: number;
  url: string;
  errorId?: string | undefined;
  details?: unknown;
  reason?: readonly string[] | undefined;
  cause?: unknown;
}

/**
 * A failed REST call. Wazo services answer errors with `{ message, error_id, details }`, except
 * the legacy wazo-auth token routes, which answer `{ reason: [text], status_code }`; both are
 * read (spec wazo-server-protocols §2.2).
 */
export class ApiError extends ConfabError {
  override readonly name = 'ApiError';
  declare readonly code: ApiErrorCode;
  /** HTTP status, or 0 when no response was received. */
  readonly status: number;
  /** The request URL (without credentials). */
  readonly url: string;
  /** Wazo `error_id` of the body, e.g. `invalid-data` or `unauthorized`, when present. */
  readonly errorId: string | undefined;
  /** Wazo `details` of the body, when present. */
  readonly details: unknown;
  /** `reason` of a legacy wazo-auth error body, when present. */
  readonly reason: readonly string[] | undefined;

  protected constructor(code: ApiErrorCode, message: string, fields: ApiErrorFields) {
    super(code, message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.status = fields.status;
    this.url = fields.url;
    this.errorId = fields.errorId;
    this.details = fields.details;
    this.reason = fields.reason;
  }

  /** The server answered `status` with `body` (parsed JSON, or undefined). */
  static fromResponse(url: string, status: number, body: unknown): ApiError {
    const record =
      typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const errorId = typeof record['error_id'] === 'string' ? record['error_id'] : undefined;
    const rawReason = record['reason'];
    const reason = Array.isArray(rawReason)
      ? rawReason.filter((r): r is string => typeof r === 'string')
      : undefined;
    const message =
      typeof record['message'] === 'string' ? record['message'] : (reason?.[0] ?? `HTTP ${status}`);
    return new ApiError(ApiErrorCode.HttpError, message, {
      status,
      url,
      errorId,
      details: record['details'],
      reason,
    });
  }

  /** No HTTP response arrived (`cause` is the fetch failure). */
  static unreachable(url: string, cause: unknown): ApiError {
    const why = cause instanceof Error ? cause.message : String(cause);
    return new ApiError(ApiErrorCode.Unreachable, `Cannot reach ${url}: ${why}`, {
      status: 0,
      url,
      cause,
    });
  }

  /** The response of `status` does not have the documented shape. */
  static invalidResponse(url: string, status: number, what: string): ApiError {
    return new ApiError(ApiErrorCode.InvalidResponse, `Unexpected response from ${url}: ${what}`, {
      status,
      url,
    });
  }
}

/** Cross-realm guard for {@link ApiError}. */
export function isApiError(value: unknown): value is ApiError {
  return (
    isConfabError(value) &&
    Object.values<string>(ApiErrorCode).includes(value.code) &&
    'status' in value &&
    typeof value.status === 'number'
  );
}

/** Codes of {@link PhoneError}. */
export const PhoneErrorCode = {
  /** `Phone.connect()` before `Auth.logIn()`. */
  NotAuthenticated: 'PHONE_NOT_AUTHENTICATED',
  /** The user has no SIP line flagged for WebRTC. */
  NoWebRtcLine: 'PHONE_NO_WEBRTC_LINE',
  /** The SIP WebSocket could not be opened, or closed during registration. */
  TransportFailed: 'PHONE_TRANSPORT_FAILED',
  /** The registrar refused the REGISTER (see `status`), or it timed out (408). */
  RegistrationFailed: 'PHONE_REGISTRATION_FAILED',
  /** A call operation while the phone is not registered. */
  NotConnected: 'PHONE_NOT_CONNECTED',
  /** The CallSession matches no call of this phone (unknown, or already ended). */
  CallNotFound: 'PHONE_CALL_NOT_FOUND',
  /** Local media could not be acquired (getUserMedia refused or unavailable). */
  MediaFailed: 'PHONE_MEDIA_FAILED',
  /** The call could not be set up: no response, transport error, or SDP negotiation failure. */
  CallFailed: 'PHONE_CALL_FAILED',
  /** `Phone.disconnect()` was called while `connect()` was in progress. */
  Aborted: 'PHONE_ABORTED',
} as const;
export type PhoneErrorCode = (typeof PhoneErrorCode)[keyof typeof PhoneErrorCode];

/** A phone operation failed; `status` carries the SIP status code when one is involved. */
export class PhoneError extends ConfabError {
  override readonly name = 'PhoneError';
  declare readonly code: PhoneErrorCode;
  /** SIP status code of the failure (e.g. 403 from the registrar), when there is one. */
  readonly status: number | undefined;

  protected constructor(
    code: PhoneErrorCode,
    message: string,
    options: { status?: number | undefined; cause?: unknown } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
  }

  static notAuthenticated(): PhoneError {
    return new PhoneError(
      PhoneErrorCode.NotAuthenticated,
      'Please connect to the server using Auth.setHost() and Auth.logIn() before Phone.connect()',
    );
  }

  static noWebRtcLine(): PhoneError {
    return new PhoneError(
      PhoneErrorCode.NoWebRtcLine,
      'Sorry, no WebRTC SIP line found for this user',
    );
  }

  static transportFailed(server: string, cause?: unknown): PhoneError {
    return new PhoneError(PhoneErrorCode.TransportFailed, `Cannot connect to ${server}`, { cause });
  }

  static registrationFailed(status: number, reason: string): PhoneError {
    return new PhoneError(
      PhoneErrorCode.RegistrationFailed,
      `SIP registration failed: ${status} ${reason}`.trim(),
      { status },
    );
  }

  static notConnected(): PhoneError {
    return new PhoneError(
      PhoneErrorCode.NotConnected,
      'The phone is not registered: call Phone.connect() first',
    );
  }

  static callNotFound(id: string): PhoneError {
    return new PhoneError(PhoneErrorCode.CallNotFound, `No call ${id} on this phone`);
  }

  static mediaFailed(cause: unknown): PhoneError {
    const why = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    return new PhoneError(PhoneErrorCode.MediaFailed, `Cannot acquire local media (${why})`, {
      cause,
    });
  }

  static callFailed(
    message: string,
    options: { status?: number; cause?: unknown } = {},
  ): PhoneError {
    return new PhoneError(PhoneErrorCode.CallFailed, message, options);
  }

  static aborted(): PhoneError {
    return new PhoneError(
      PhoneErrorCode.Aborted,
      'Phone.connect() was aborted by Phone.disconnect()',
    );
  }
}

/** Cross-realm guard for {@link PhoneError}. */
export function isPhoneError(value: unknown): value is PhoneError {
  return isConfabError(value) && Object.values<string>(PhoneErrorCode).includes(value.code);
}

/**
 * Codes of {@link ConferenceError}. Each server code maps one calld `error_id` of the ad-hoc
 * conference API (spec wazo-server-protocols §5.6).
 */
export const ConferenceErrorCode = {
  /** `host-call-not-found` (400): the host call is unknown, not ours, or has no calld id yet. */
  HostCallNotFound: 'CONFERENCE_HOST_CALL_NOT_FOUND',
  /** `host-call-creation-error` (400): the host call has no peer, or a call hung up meanwhile. */
  HostCallCreationError: 'CONFERENCE_HOST_CALL_CREATION_ERROR',
  /** `host-already-in-conference` (409). */
  HostAlreadyInConference: 'CONFERENCE_HOST_ALREADY_IN_CONFERENCE',
  /**
   * `participant-call-not-found` (400): unknown call, not talking to one of our calls, not in
   * this conference (remove), or our call's remote party is not known yet (no calld view).
   */
  ParticipantCallNotFound: 'CONFERENCE_PARTICIPANT_CALL_NOT_FOUND',
  /** `participant-already-in-conference` (409). */
  ParticipantAlreadyInConference: 'CONFERENCE_PARTICIPANT_ALREADY_IN_CONFERENCE',
  /** `adhoc-conference-not-found` (404): unknown, another user's, or already deleted. */
  NotFound: 'CONFERENCE_NOT_FOUND',
  /** An operation on a conference that has finished, or was never started. */
  NotActive: 'CONFERENCE_NOT_ACTIVE',
} as const;
export type ConferenceErrorCode = (typeof ConferenceErrorCode)[keyof typeof ConferenceErrorCode];

const CONFERENCE_ERROR_IDS: Readonly<Record<string, ConferenceErrorCode>> = {
  'host-call-not-found': ConferenceErrorCode.HostCallNotFound,
  'host-call-creation-error': ConferenceErrorCode.HostCallCreationError,
  'host-already-in-conference': ConferenceErrorCode.HostAlreadyInConference,
  'participant-call-not-found': ConferenceErrorCode.ParticipantCallNotFound,
  'participant-already-in-conference': ConferenceErrorCode.ParticipantAlreadyInConference,
  'adhoc-conference-not-found': ConferenceErrorCode.NotFound,
};

/**
 * An ad-hoc conference operation was refused. `errorId`/`status` are the server's when it
 * answered (the {@link ApiError} is the `cause`); other REST failures (`invalid-data`,
 * `unauthorized`, 503, network) stay {@link ApiError}s.
 */
export class ConferenceError extends ConfabError {
  override readonly name = 'ConferenceError';
  declare readonly code: ConferenceErrorCode;
  /** HTTP status of the refusal, 0 when the SDK refused it locally. */
  readonly status: number;
  /** calld `error_id`, when the server refused it. */
  readonly errorId: string | undefined;
  /** calld `details` (e.g. `{participant_call_id}`), when the server refused it. */
  readonly details: unknown;

  protected constructor(
    code: ConferenceErrorCode,
    message: string,
    fields: { status?: number; errorId?: string | undefined; details?: unknown; cause?: unknown },
  ) {
    super(code, message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.status = fields.status ?? 0;
    this.errorId = fields.errorId;
    this.details = fields.details;
  }

  /**
   * The ConferenceError for a calld refusal of the ad-hoc API, or `error` unchanged when it is
   * not one (other ApiErrors, unexpected failures).
   */
  static fromApiError(error: unknown): unknown {
    if (!isApiError(error) || error.errorId === undefined) {
      return error;
    }
    const code = CONFERENCE_ERROR_IDS[error.errorId];
    if (code === undefined) {
      return error;
    }
    return new ConferenceError(code, error.message, {
      status: error.status,
      errorId: error.errorId,
      details: error.details,
      cause: error,
    });
  }

  /** A call whose remote party (calld `talking_to`) is unknown, so it cannot be named. */
  static unknownPeer(callId: string): ConferenceError {
    return new ConferenceError(
      ConferenceErrorCode.ParticipantCallNotFound,
      `Call ${callId} has no known remote party (no calld view of it yet)`,
      {},
    );
  }

  /** The host call has no calld id yet. */
  static unknownHost(callId: string): ConferenceError {
    return new ConferenceError(
      ConferenceErrorCode.HostCallNotFound,
      `Call ${callId} has no calld call id yet`,
      {},
    );
  }

  /** A participant that is not (or no longer) in the conference. */
  static notParticipant(callId: string): ConferenceError {
    return new ConferenceError(
      ConferenceErrorCode.ParticipantCallNotFound,
      `Call ${callId} is not a participant of this conference`,
      {},
    );
  }

  static notActive(conferenceId: string, why: string): ConferenceError {
    return new ConferenceError(
      ConferenceErrorCode.NotActive,
      `Conference ${conferenceId || '(not started)'} ${why}`,
      {},
    );
  }
}

/** Cross-realm guard for {@link ConferenceError}. */
export function isConferenceError(value: unknown): value is ConferenceError {
  return isConfabError(value) && Object.values<string>(ConferenceErrorCode).includes(value.code);
}
