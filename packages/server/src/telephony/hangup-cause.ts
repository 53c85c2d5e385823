/**
 * Hangup causes (ITU-T Q.850 cause values, as Asterisk and therefore Wazo report them in
 * `call_ended.reason_code`) and their mapping to and from SIP status codes (RFC 3398 §7.2.4.1
 * for SIP → ISUP, §8.2.6.1 for the reverse).
 */
export const HangupCause = {
  UnallocatedNumber: 1,
  NormalClearing: 16,
  UserBusy: 17,
  NoUserResponse: 18,
  NoAnswer: 19,
  SubscriberAbsent: 20,
  CallRejected: 21,
  DestinationOutOfOrder: 27,
  InvalidNumberFormat: 28,
  NormalUnspecified: 31,
  NormalCircuitCongestion: 34,
  TemporaryFailure: 41,
  BearerCapabilityNotAvailable: 58,
  IncompatibleDestination: 88,
  RecoveryOnTimerExpiry: 102,
  Interworking: 127,
} as const;
export type HangupCause = (typeof HangupCause)[keyof typeof HangupCause];

/** RFC 3398 §8.2.6.1: the SIP final response to send for a cause when a call fails before answer. */
export function sipStatusForCause(cause: HangupCause): number {
  switch (cause) {
    case HangupCause.UnallocatedNumber:
      return 404;
    case HangupCause.UserBusy:
      return 486;
    case HangupCause.NoUserResponse:
    case HangupCause.NoAnswer:
    case HangupCause.SubscriberAbsent:
      return 480;
    case HangupCause.CallRejected:
      return 603;
    case HangupCause.DestinationOutOfOrder:
      return 502;
    case HangupCause.InvalidNumberFormat:
      return 484;
    case HangupCause.NormalCircuitCongestion:
    case HangupCause.TemporaryFailure:
      return 503;
    case HangupCause.BearerCapabilityNotAvailable:
    case HangupCause.IncompatibleDestination:
      return 488;
    case HangupCause.RecoveryOnTimerExpiry:
      return 408;
    default:
      return 480;
  }
}

/** RFC 3398 §7.2.4.1: the cause for a SIP final response received from a callee. */
export function causeForSipStatus(status: number): HangupCause {
  switch (status) {
    case 404:
    case 604:
      return HangupCause.UnallocatedNumber;
    case 486:
    case 600:
      return HangupCause.UserBusy;
    case 408:
      return HangupCause.RecoveryOnTimerExpiry;
    case 480:
      return HangupCause.NoUserResponse;
    case 484:
      return HangupCause.InvalidNumberFormat;
    case 487:
      return HangupCause.NormalClearing;
    case 488:
    case 606:
      return HangupCause.IncompatibleDestination;
    case 403:
    case 603:
      return HangupCause.CallRejected;
    case 502:
      return HangupCause.DestinationOutOfOrder;
    case 503:
      return HangupCause.NormalCircuitCongestion;
    default:
      return status >= 500 ? HangupCause.TemporaryFailure : HangupCause.Interworking;
  }
}
