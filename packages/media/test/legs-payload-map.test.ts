import { describe, expect, it } from 'vitest';
import type { MediaFormat } from '../src/bridge/types.js';
import { mapInboundPayload } from '../src/legs/payload-map.js';
import type { RtpPacket } from '../src/rtp/packet.js';

const receive: MediaFormat = {
  audio: { name: 'opus', payloadType: 111, clockRate: 48000, channels: 2 },
  telephoneEvent: { payloadType: 126, clockRate: 48000 },
  audioLevelExtensionId: undefined,
};
const send: MediaFormat = {
  audio: { name: 'opus', payloadType: 109, clockRate: 48000, channels: 2 },
  telephoneEvent: { payloadType: 101, clockRate: 48000 },
  audioLevelExtensionId: undefined,
};

function packet(payloadType: number): RtpPacket {
  return {
    marker: false,
    payloadType,
    sequenceNumber: 1,
    timestamp: 960,
    ssrc: 7,
    csrcs: [],
    extension: undefined,
    payload: new Uint8Array([1, 2, 3]),
  };
}

describe('mapInboundPayload', () => {
  it('renumbers audio from our receive payload type to the send payload type', () => {
    const p = packet(111);
    expect(mapInboundPayload(p, receive, send)).toBe('audio');
    expect(p.payloadType).toBe(109);
  });

  it('renumbers telephone-events and reports them as events', () => {
    const p = packet(126);
    expect(mapInboundPayload(p, receive, send)).toBe('event');
    expect(p.payloadType).toBe(101);
  });

  it('drops payload types that were not negotiated (RFC 3550 §5.1), leaving the packet as it was', () => {
    const p = packet(13);
    expect(mapInboundPayload(p, receive, send)).toBeUndefined();
    expect(p.payloadType).toBe(13);
  });

  it('drops telephone-events when the sending side negotiated none', () => {
    const p = packet(126);
    expect(mapInboundPayload(p, receive, { ...send, telephoneEvent: undefined })).toBeUndefined();
  });
});
