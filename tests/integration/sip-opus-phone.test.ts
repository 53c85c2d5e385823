/**
 * A SIP phone offering only Opus over plain RTP (RFC 7587) calls a WebRTC SDK user through a
 * real Confab server: the server answers with Opus on the phone's payload type and the audio
 * flows both ways (Goertzel on both ends).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PhoneEvent } from '@confab/sdk';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';
import { hearsTone } from '../support/goertzel.js';
import { createToneSink, sleep, waitFor } from '../support/node-phone.js';
import { OpusRtpPhone } from '../support/opus-rtp-phone.js';
import { createSdkClient, type SdkClient } from '../support/sdk-client.js';
import { inDialog, openUdp, placeCall, type UdpPeer } from './support/sip-wire.js';

const PHONE_HZ = 700;
const SDK_HZ = 1300;

describe('an Opus-only SIP phone on plain RTP', () => {
  let confab: TestConfab;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    confab = await startTestConfab();
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) {
      await close();
    }
  });

  afterAll(async () => {
    await confab?.close();
  });

  it('calls a WebRTC SDK user: answered with Opus on the phone’s payload type, each side hears the other', async () => {
    const deskUser = await confab.addUser({ webrtc: false });
    const sdkUser = await confab.addUser();
    const client: SdkClient = createSdkClient({ frequency: SDK_HZ, origin: confab.origin });
    closers.push(() => client.close());
    await client.logIn(sdkUser);

    const media = await OpusRtpPhone.open(107);
    closers.push(() => media.close());
    const sip: UdpPeer = await openUdp(confab.sipPort);
    closers.push(() => sip.close());

    const incoming = client.next(PhoneEvent.ON_CALL_INCOMING);
    const calling = placeCall(sip, {
      username: deskUser.sipUsername,
      password: deskUser.sipSecret,
      extension: sdkUser.extension,
      sdp: media.offer(),
    });
    const [session] = await incoming;
    const stream = client.next(PhoneEvent.ON_AUDIO_STREAM);
    await client.confab.Phone.accept(session);
    const call = await calling;
    expect(call.final.status).toBe(200);
    const answer = Buffer.from(call.final.body).toString();
    // RFC 3264 §6.1: the answer keeps the offerer's dynamic payload types.
    expect(answer).toMatch(/^m=audio \d+ RTP\/AVP 107 108\r$/m);
    expect(answer).toContain('a=rtpmap:107 opus/48000/2');
    expect(answer).toContain('a=rtpmap:108 telephone-event/48000');
    media.applyAnswer(answer);
    media.startTone(PHONE_HZ);

    const [remote] = await stream;
    const atSdk = createToneSink(remote.getAudioTracks()[0]!);
    try {
      await waitFor(
        'audio at both ends',
        () => atSdk.frames > 100 && media.received.length > 50,
        15_000,
      );
      atSdk.reset();
      const before = media.received.length;
      await sleep(1500);
      const heardBySdk = atSdk.analyse([PHONE_HZ, SDK_HZ]);
      const heardByPhone = media.analyse([PHONE_HZ, SDK_HZ], before);
      expect(hearsTone(heardBySdk, PHONE_HZ), JSON.stringify(heardBySdk)).toBe(true);
      expect(hearsTone(heardByPhone, SDK_HZ), JSON.stringify(heardByPhone)).toBe(true);
      // Everything the phone got is Opus on its own payload type, on a 48 kHz timeline.
      expect(new Set(media.received.map((p) => p.payloadType))).toEqual(new Set([107]));
    } finally {
      atSdk.stop();
    }

    const ended = client.next(PhoneEvent.ON_CALL_ENDED);
    sip.send(inDialog(sip, call, 'BYE'));
    expect((await sip.response('BYE')).status).toBe(200);
    await ended;
  });
});
