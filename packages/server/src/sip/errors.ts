import { ConfabError } from '@confab/core';

/** A message could not be sent on its flow. Codes: SIP_TRANSPORT_CLOSED, SIP_CONNECTION_GONE, SIP_TRANSPORT_UNSUPPORTED. */
export class SipTransportError extends ConfabError {
  override readonly name = 'SipTransportError';

  protected constructor(code: string, message: string) {
    super(code, message);
  }

  static closed(): SipTransportError {
    return new SipTransportError('SIP_TRANSPORT_CLOSED', 'SIP transports are closed');
  }

  static connectionGone(connectionId: string): SipTransportError {
    return new SipTransportError('SIP_CONNECTION_GONE', `connection ${connectionId} is closed`);
  }

  static unsupported(protocol: string): SipTransportError {
    return new SipTransportError('SIP_TRANSPORT_UNSUPPORTED', `cannot send over ${protocol} here`);
  }
}
