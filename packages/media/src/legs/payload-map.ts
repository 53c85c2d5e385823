import type { MediaFormat } from '../bridge/types.js';
import type { RtpPacket } from '../rtp/packet.js';

/** What a received packet carries once its payload type is known. */
export type InboundPayload = 'audio' | 'event';

/**
 * Renumbers a received packet from the payload types we declared for receiving to the ones the
 * leg sends with (the numbering bridges and the leg's output use), in place. Returns what the
 * packet carries, or `undefined` for a payload type we did not negotiate (CN, RED, RTX, …),
 * which a receiver drops (RFC 3550 §5.1).
 */
export function mapInboundPayload(
  packet: RtpPacket,
  receive: MediaFormat,
  send: MediaFormat,
): InboundPayload | undefined {
  if (packet.payloadType === receive.audio.payloadType) {
    packet.payloadType = send.audio.payloadType;
    return 'audio';
  }
  if (
    receive.telephoneEvent !== undefined &&
    send.telephoneEvent !== undefined &&
    packet.payloadType === receive.telephoneEvent.payloadType
  ) {
    packet.payloadType = send.telephoneEvent.payloadType;
    return 'event';
  }
  return undefined;
}
