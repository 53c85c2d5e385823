// The Opus encoder settings of the engine's mixers, observed on the encoders libopus runs.
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalMediaEngine } from '../src/engine/local-engine.js';
import type { OpusEncoderOptions } from '../src/codec/opus.js';
import { MIXER_OPUS_APPLICATION } from '../src/mixer/mixer.js';
import { parseRtp } from '../src/rtp/packet.js';
import { until } from './legs-fixtures.js';

/** Every Opus encoder made in this file: its options and the complexity libopus reports. */
const encoders: { options: OpusEncoderOptions; complexity: number }[] = [];

vi.mock('../src/codec/opus.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/codec/opus.js')>();
  class RecordedOpusEncoder extends real.OpusEncoder {
    constructor(options: OpusEncoderOptions = {}) {
      super(options);
      encoders.push({ options, complexity: this.complexity });
    }
  }
  return { ...real, OpusEncoder: RecordedOpusEncoder };
});

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((close) => close()));
});

async function phoneSocket(): Promise<{ socket: Socket; port: number; received: number[] }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const received: number[] = [];
  socket.on('message', (data) => {
    const packet = parseRtp(data);
    if (packet) {
      received.push(packet.payloadType);
    }
  });
  cleanup.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { socket, port: socket.address().port, received };
}

function opusOffer(port: number): string {
  return [
    'v=0',
    'o=phone 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 107`,
    'a=rtpmap:107 opus/48000/2',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

describe('mixer Opus encoder settings', () => {
  it('encodes the mix CELT-only (the mixer’s application) at complexity 4 (Janus AudioBridge’s default), applied in libopus', async () => {
    const engine = new LocalMediaEngine({ portRange: [29_800, 29_807] });
    cleanup.push(() => engine.close());
    const phone = await phoneSocket();
    const { legId } = await engine.createLeg({ kind: 'rtp', group: 'call-1' });
    await engine.acceptOffer(legId, opusOffer(phone.port));
    const { mixerId } = await engine.createMixer('conference-1');
    await engine.addToMixer(mixerId, legId);
    // The phone hears the (silent) shared mix, encoded in Opus.
    await until(() => phone.received.length >= 3, 'mixed Opus packets at the phone');
    expect(phone.received.every((pt) => pt === 107)).toBe(true);
    expect(encoders.length).toBeGreaterThan(0);
    for (const encoder of encoders) {
      expect(encoder.options).toMatchObject({
        application: MIXER_OPUS_APPLICATION,
        complexity: 4,
      });
      expect(encoder.complexity).toBe(4);
    }
  });
});
