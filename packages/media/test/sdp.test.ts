import { describe, expect, it } from 'vitest';
import { isMediaError } from '../src/engine/errors.js';
import {
  answerPlainRtpOffer,
  PLAIN_RTP_OFFER,
  PLAIN_RTP_OPUS,
  readPlainRtpAnswer,
  telephoneEventsFor,
  writePlainRtpOffer,
} from '../src/sdp/plain-rtp.js';
import type { LocalRtpDescription } from '../src/sdp/plain-rtp.js';
import {
  answerDirection,
  AUDIO_LEVEL_URI,
  MediaDirection,
  mediaDirection,
  negotiateFormat,
  OPUS,
  parseSdp,
  PCMA,
  PCMU,
  reverseDirection,
  rtpMaps,
  SDP_LIMITS,
} from '../src/sdp/sdp.js';
import {
  expandWebRtcDescription,
  isolateWebRtcAnswer,
  isolateWebRtcOffer,
} from '../src/sdp/webrtc.js';
import { CHROMIUM_AUDIO_VIDEO_DATA_OFFER } from './sdp-fixtures.js';

const PLAIN_CODECS = [
  { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
  { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1 },
] as const;

const crlf = (lines: string[]): string => `${lines.join('\r\n')}\r\n`;

function sdpInvalid(run: () => unknown): void {
  let failure: unknown;
  try {
    run();
  } catch (error) {
    failure = error;
  }
  expect(isMediaError(failure) && failure.code).toBe('MEDIA_SDP_INVALID');
}

/** A desk phone's offer: G.722 first, then G.711, G.729 and DTMF events. */
const DESK_PHONE_OFFER = crlf([
  'v=0',
  'o=- 20019 20019 IN IP4 127.0.0.1',
  's=SDP data',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 11800 RTP/AVP 9 0 8 18 101',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=no',
  'a=ptime:20',
  'a=sendrecv',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
]);

/** sipp's built-in UAC offer: a static payload type without rtpmap, no events. */
const SIPP_OFFER = crlf([
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 127.0.0.1',
  's=-',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 6000 RTP/AVP 0',
]);

const LOCAL: LocalRtpDescription = {
  sessionId: '4242',
  version: 7,
  address: '127.0.0.1',
  port: 10_000,
  direction: 'sendrecv',
};

describe('parseSdp', () => {
  it('parses a Chromium offer', () => {
    const session = parseSdp(CHROMIUM_AUDIO_VIDEO_DATA_OFFER);
    expect(session.media.map((m) => m.type)).toEqual(['audio', 'video', 'application']);
  });

  it.each([
    ['a non-string', 42],
    ['text without v=0', 'o=- 1 1 IN IP4 127.0.0.1\r\n'],
    ['no o= line', 'v=0\r\ns=-\r\n'],
    ['an m= line without port', 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nm=audio RTP/AVP 0\r\n'],
    ['a port above 65535', 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nm=audio 70000 RTP/AVP 0\r\n'],
    ['too long a description', `v=0\r\n${'x'.repeat(SDP_LIMITS.maxLength)}`],
    ['too long a line', `v=0\r\na=${'x'.repeat(SDP_LIMITS.maxLineLength)}\r\n`],
    [
      'too many m= sections',
      `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n${'m=audio 1 RTP/AVP 0\r\n'.repeat(17)}`,
    ],
    [
      'too many formats',
      `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\nm=audio 1 RTP/AVP ${Array.from({ length: 129 }, (_, i) => i % 128).join(' ')}\r\n`,
    ],
  ])('rejects %s with MEDIA_SDP_INVALID', (_what, text) => {
    sdpInvalid(() => parseSdp(text));
  });

  it('parses hostile backtracking bait at the line limit (a hang would fail on the test timeout)', () => {
    const imageattr = `a=imageattr:97 send [${'['.repeat(SDP_LIMITS.maxLineLength - 40)}`;
    const simulcast = `a=simulcast: ${' '.repeat(SDP_LIMITS.maxLineLength - 40)}x`;
    const session = parseSdp(
      crlf(['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 'm=video 1 RTP/AVP 97', imageattr, simulcast]),
    );
    expect(session.media).toHaveLength(1);
  });
});

describe('directions (RFC 3264 §6.1)', () => {
  it.each([
    ['sendrecv', 'sendrecv'],
    ['sendonly', 'recvonly'],
    ['recvonly', 'sendonly'],
    ['inactive', 'inactive'],
  ] as const)('answers an offered %s with %s', (offered, answered) => {
    expect(answerDirection(offered)).toBe(answered);
    expect(reverseDirection(offered)).toBe(answered);
  });

  it('intersects with our own direction', () => {
    expect(answerDirection(MediaDirection.SendRecv, MediaDirection.RecvOnly)).toBe('recvonly');
    expect(answerDirection(MediaDirection.SendOnly, MediaDirection.SendOnly)).toBe('inactive');
  });

  it('falls back to the session-level attribute, then to sendrecv', () => {
    const session = parseSdp(
      crlf(['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 'a=sendonly', 'm=audio 1 RTP/AVP 0']),
    );
    expect(mediaDirection(session, session.media[0]!)).toBe('sendonly');
    const plain = parseSdp(SIPP_OFFER);
    expect(mediaDirection(plain, plain.media[0]!)).toBe('sendrecv');
  });
});

describe('codec selection', () => {
  it('resolves static payload types without rtpmap and ignores undeclared dynamic ones', () => {
    const session = parseSdp(
      crlf([
        'v=0',
        'o=- 1 1 IN IP4 127.0.0.1',
        'm=audio 1 RTP/AVP 0 96 8',
        'a=rtpmap:97 opus/48000/2',
      ]),
    );
    expect(rtpMaps(session.media[0]!).map((entry) => [entry.payloadType, entry.name])).toEqual([
      [0, 'PCMU'],
      [8, 'PCMA'],
    ]);
  });

  it('follows the offerer’s order among supported codecs and keeps its payload types', () => {
    const media = parseSdp(DESK_PHONE_OFFER).media[0]!;
    expect(negotiateFormat(media, [PCMA, PCMU])).toEqual({
      audio: { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
      telephoneEvent: { payloadType: 101, clockRate: 8000 },
    });
  });

  it('pairs Opus with telephone-event at 48 kHz, never at 8 kHz', () => {
    const media = parseSdp(CHROMIUM_AUDIO_VIDEO_DATA_OFFER).media[0]!;
    expect(negotiateFormat(media, [OPUS])).toEqual({
      audio: { name: 'opus', payloadType: 111, clockRate: 48_000, channels: 2 },
      telephoneEvent: { payloadType: 110, clockRate: 48_000 },
    });
  });

  it('requires Opus to be signalled with two channels (RFC 7587 §7)', () => {
    const media = parseSdp(
      crlf(['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 'm=audio 1 RTP/AVP 96', 'a=rtpmap:96 OPUS/48000']),
    ).media[0]!;
    expect(negotiateFormat(media, [OPUS])).toBeUndefined();
  });
});

describe('plain RTP offer/answer', () => {
  it('writes an offer with PCMU, PCMA and telephone-event/8000', () => {
    expect(writePlainRtpOffer(LOCAL)).toBe(
      crlf([
        'v=0',
        'o=confab 4242 7 IN IP4 127.0.0.1',
        's=confab',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        'm=audio 10000 RTP/AVP 0 8 101',
        'a=rtpmap:0 PCMU/8000',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:101 telephone-event/8000',
        'a=fmtp:101 0-16',
        'a=ptime:20',
        'a=sendrecv',
      ]),
    );
  });

  it('answers a desk phone with its first G.711 codec and its event payload type', () => {
    const { sdp, negotiation } = answerPlainRtpOffer(parseSdp(DESK_PHONE_OFFER), LOCAL, [
      PCMU,
      PCMA,
    ]);
    expect(sdp).toContain('m=audio 10000 RTP/AVP 0 101\r\n');
    expect(sdp).not.toContain('G722');
    expect(negotiation.remote).toEqual({ address: '127.0.0.1', port: 11_800, rtcpPort: 11_801 });
    expect(negotiation.localDirection).toBe('sendrecv');
  });

  it('answers sipp’s offer with PCMU and no events', () => {
    const { sdp, negotiation } = answerPlainRtpOffer(parseSdp(SIPP_OFFER), LOCAL, [PCMU, PCMA]);
    expect(sdp).toContain('m=audio 10000 RTP/AVP 0\r\n');
    expect(negotiation.format.telephoneEvent).toBeUndefined();
  });

  it('uses a=rtcp (RFC 3605) and treats c=0.0.0.0 as no destination (RFC 3264 §8.4)', () => {
    const withRtcp = DESK_PHONE_OFFER.replace('a=ptime:20', 'a=ptime:20\r\na=rtcp:12001');
    expect(
      answerPlainRtpOffer(parseSdp(withRtcp), LOCAL, [PCMU]).negotiation.remote?.rtcpPort,
    ).toBe(12_001);
    const held = DESK_PHONE_OFFER.replace('c=IN IP4 127.0.0.1', 'c=IN IP4 0.0.0.0');
    expect(answerPlainRtpOffer(parseSdp(held), LOCAL, [PCMU]).negotiation.remote).toBeUndefined();
  });

  it('rejects an IPv6 destination, which plain RTP legs cannot reach', () => {
    const v6 = DESK_PHONE_OFFER.replace('c=IN IP4 127.0.0.1', 'c=IN IP6 ::1');
    sdpInvalid(() => answerPlainRtpOffer(parseSdp(v6), LOCAL, [PCMU]));
  });

  it('sends with the answer’s payload types and receives with ours', () => {
    const answer = crlf([
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      'm=audio 5000 RTP/AVP 8 96',
      'a=rtpmap:8 PCMA/8000',
      'a=rtpmap:96 telephone-event/8000',
      'a=recvonly',
    ]);
    const negotiation = readPlainRtpAnswer(
      parseSdp(answer),
      [
        { name: 'PCMU', payloadType: 0, clockRate: 8000, channels: 1 },
        { name: 'PCMA', payloadType: 8, clockRate: 8000, channels: 1 },
      ],
      [{ payloadType: 101, clockRate: 8000 }],
      'sendrecv',
    );
    expect(negotiation.format.telephoneEvent?.payloadType).toBe(96);
    expect(negotiation.receiveFormat.telephoneEvent?.payloadType).toBe(101);
    expect(negotiation.format.audio.name).toBe('PCMA');
    expect(negotiation.localDirection).toBe('sendonly');
  });
});

describe('plain RTP Opus (RFC 7587)', () => {
  const opusPhoneOffer = (mLine: string, extra: string[] = []): string =>
    crlf([
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      mLine,
      ...extra,
      'a=sendrecv',
    ]);

  it('accepts an Opus-only offer on the offerer’s payload type with telephone-event/48000', () => {
    const offer = opusPhoneOffer('m=audio 6000 RTP/AVP 107 98', [
      'a=rtpmap:107 opus/48000/2',
      'a=fmtp:107 useinbandfec=1',
      'a=rtpmap:98 telephone-event/48000',
      'a=fmtp:98 0-15',
    ]);
    const { sdp, negotiation } = answerPlainRtpOffer(parseSdp(offer), LOCAL, [PCMU, PCMA, OPUS]);
    expect(negotiation.format.audio).toEqual({
      name: 'opus',
      payloadType: 107,
      clockRate: 48_000,
      channels: 2,
    });
    expect(negotiation.format.telephoneEvent).toEqual({ payloadType: 98, clockRate: 48_000 });
    expect(sdp).toContain('m=audio 10000 RTP/AVP 107 98\r\n');
    expect(sdp).toContain('a=rtpmap:107 opus/48000/2\r\n');
    expect(sdp).toContain('a=fmtp:107 minptime=10;useinbandfec=1\r\n');
    expect(sdp).toContain('a=rtpmap:98 telephone-event/48000\r\n');
  });

  it('does not pair Opus with the offer’s telephone-event/8000', () => {
    const offer = opusPhoneOffer('m=audio 6000 RTP/AVP 96 101', [
      'a=rtpmap:96 opus/48000/2',
      'a=rtpmap:101 telephone-event/8000',
    ]);
    const { sdp, negotiation } = answerPlainRtpOffer(parseSdp(offer), LOCAL, [PCMU, OPUS]);
    expect(negotiation.format.telephoneEvent).toBeUndefined();
    expect(sdp).toContain('m=audio 10000 RTP/AVP 96\r\n');
    expect(sdp).not.toContain('telephone-event');
  });

  it('follows the offerer’s order in a mixed offer (RFC 3264 §6.1)', () => {
    const opusFirst = opusPhoneOffer('m=audio 6000 RTP/AVP 120 0 8 121 101', [
      'a=rtpmap:120 opus/48000/2',
      'a=rtpmap:121 telephone-event/48000',
      'a=rtpmap:101 telephone-event/8000',
    ]);
    const first = answerPlainRtpOffer(parseSdp(opusFirst), LOCAL, [PCMU, PCMA, OPUS]);
    expect(first.negotiation.format.audio.name).toBe('opus');
    expect(first.negotiation.format.telephoneEvent?.payloadType).toBe(121);
    expect(first.sdp).toContain('m=audio 10000 RTP/AVP 120 121\r\n');

    const g711First = opusPhoneOffer('m=audio 6000 RTP/AVP 8 120 101 121', [
      'a=rtpmap:120 opus/48000/2',
      'a=rtpmap:121 telephone-event/48000',
      'a=rtpmap:101 telephone-event/8000',
    ]);
    const second = answerPlainRtpOffer(parseSdp(g711First), LOCAL, [PCMU, PCMA, OPUS]);
    expect(second.negotiation.format.audio.name).toBe('PCMA');
    expect(second.negotiation.format.telephoneEvent).toEqual({ payloadType: 101, clockRate: 8000 });
  });

  it('offers G.711 first, then Opus on a dynamic type, with telephone-event at both clocks', () => {
    const codecs = [...PLAIN_RTP_OFFER, PLAIN_RTP_OPUS];
    expect(writePlainRtpOffer(LOCAL, codecs)).toBe(
      crlf([
        'v=0',
        'o=confab 4242 7 IN IP4 127.0.0.1',
        's=confab',
        'c=IN IP4 127.0.0.1',
        't=0 0',
        'm=audio 10000 RTP/AVP 0 8 111 101 110',
        'a=rtpmap:0 PCMU/8000',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:111 opus/48000/2',
        'a=rtpmap:101 telephone-event/8000',
        'a=rtpmap:110 telephone-event/48000',
        'a=fmtp:111 minptime=10;useinbandfec=1',
        'a=fmtp:101 0-16',
        'a=fmtp:110 0-16',
        'a=ptime:20',
        'a=sendrecv',
      ]),
    );
  });

  it('reads an answer choosing Opus: sends on its types, receives on ours at 48 kHz', () => {
    const codecs = [...PLAIN_RTP_OFFER, PLAIN_RTP_OPUS];
    const answer = opusPhoneOffer('m=audio 6000 RTP/AVP 100 99', [
      'a=rtpmap:100 opus/48000/2',
      'a=rtpmap:99 telephone-event/48000',
    ]);
    const negotiation = readPlainRtpAnswer(
      parseSdp(answer),
      codecs,
      telephoneEventsFor(codecs),
      'sendrecv',
    );
    expect(negotiation.format.audio.payloadType).toBe(100);
    expect(negotiation.format.telephoneEvent).toEqual({ payloadType: 99, clockRate: 48_000 });
    expect(negotiation.receiveFormat.audio).toEqual(PLAIN_RTP_OPUS);
    expect(negotiation.receiveFormat.telephoneEvent).toEqual({
      payloadType: 110,
      clockRate: 48_000,
    });
  });

  it('refuses an answer with Opus when we offered G.711 only', () => {
    const answer = opusPhoneOffer('m=audio 6000 RTP/AVP 100', ['a=rtpmap:100 opus/48000/2']);
    sdpInvalid(() =>
      readPlainRtpAnswer(
        parseSdp(answer),
        PLAIN_RTP_OFFER,
        telephoneEventsFor(PLAIN_RTP_OFFER),
        'sendrecv',
      ),
    );
  });
});

describe('RFC 6464 ssrc-audio-level (RFC 8285 extmap)', () => {
  const withExtmap = (line: string): string =>
    DESK_PHONE_OFFER.replace('a=ptime:20', `a=ptime:20\r\n${line}`);

  it('accepts a phone’s offered audio level with the offerer’s id, answered recvonly', () => {
    const offer = withExtmap(`a=extmap:3 ${AUDIO_LEVEL_URI} vad=on`);
    const { sdp, negotiation } = answerPlainRtpOffer(parseSdp(offer), LOCAL, [PCMU]);
    expect(sdp).toContain(`a=extmap:3/recvonly ${AUDIO_LEVEL_URI} vad=on\r\n`);
    expect(negotiation.format.audioLevelExtensionId).toBe(3);
    expect(negotiation.receiveFormat.audioLevelExtensionId).toBe(3);
  });

  it('accepts a two-byte-form id and a sendonly mapping', () => {
    const offer = withExtmap(`a=extmap:200/sendonly ${AUDIO_LEVEL_URI}`);
    const { sdp, negotiation } = answerPlainRtpOffer(parseSdp(offer), LOCAL, [PCMU]);
    expect(sdp).toContain(`a=extmap:200/recvonly ${AUDIO_LEVEL_URI}\r\n`);
    expect(negotiation.format.audioLevelExtensionId).toBe(200);
  });

  it('ignores a mapping the phone will not send, the reserved id 15, an encrypted one and other URIs', () => {
    for (const line of [
      `a=extmap:3/recvonly ${AUDIO_LEVEL_URI}`,
      `a=extmap:3/inactive ${AUDIO_LEVEL_URI}`,
      `a=extmap:15 ${AUDIO_LEVEL_URI}`,
      `a=extmap:3 urn:ietf:params:rtp-hdrext:encrypt ${AUDIO_LEVEL_URI}`,
      'a=extmap:3 urn:ietf:params:rtp-hdrext:toffset',
    ]) {
      const { sdp, negotiation } = answerPlainRtpOffer(parseSdp(withExtmap(line)), LOCAL, [PCMU]);
      expect(sdp, line).not.toContain('a=extmap');
      expect(negotiation.format.audioLevelExtensionId, line).toBeUndefined();
    }
  });

  it('does not offer it to phones and ignores it in an answer to our offer (RFC 8285 §6)', () => {
    expect(writePlainRtpOffer(LOCAL)).not.toContain('extmap');
    const answer = crlf([
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.1',
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      'm=audio 5000 RTP/AVP 0',
      `a=extmap:1 ${AUDIO_LEVEL_URI}`,
    ]);
    const negotiation = readPlainRtpAnswer(
      parseSdp(answer),
      PLAIN_CODECS,
      [{ payloadType: 101, clockRate: 8000 }],
      'sendrecv',
    );
    expect(negotiation.format.audioLevelExtensionId).toBeUndefined();
    expect(negotiation.receiveFormat.audioLevelExtensionId).toBeUndefined();
  });

  it('keeps Chromium’s extmap for werift and reads its id into the format', () => {
    const isolated = isolateWebRtcOffer(parseSdp(CHROMIUM_AUDIO_VIDEO_DATA_OFFER));
    expect(isolated.format.audioLevelExtensionId).toBe(1);
    expect(parseSdp(isolated.sdp).media[0]!.ext?.map((ext) => ext.uri)).toContain(AUDIO_LEVEL_URI);
    const without = CHROMIUM_AUDIO_VIDEO_DATA_OFFER.replace(
      `a=extmap:1 ${AUDIO_LEVEL_URI}\r\n`,
      '',
    );
    expect(without).not.toBe(CHROMIUM_AUDIO_VIDEO_DATA_OFFER);
    expect(isolateWebRtcOffer(parseSdp(without)).format.audioLevelExtensionId).toBeUndefined();
  });
});

describe('WebRTC SDP around werift', () => {
  it('hands werift the audio section only, with Opus and telephone-event/48000', () => {
    const isolated = isolateWebRtcOffer(parseSdp(CHROMIUM_AUDIO_VIDEO_DATA_OFFER));
    const reduced = parseSdp(isolated.sdp);
    expect(reduced.media).toHaveLength(1);
    const audio = reduced.media[0]!;
    expect(String(audio.payloads)).toBe('111 110');
    expect(audio.rtcpFb?.every((fb) => Number(fb.payload) === 111)).toBe(true);
    expect(reduced.groups?.map((g) => `${g.type} ${g.mids}`)).toEqual(['BUNDLE 0']);
    expect(isolated.shape.sections.map((s) => s.type)).toEqual(['audio', 'video', 'application']);
    expect(isolated.format.telephoneEvent?.payloadType).toBe(110);
  });

  it('rebuilds the answer with every offered section, rejected ones with port 0', () => {
    const isolated = isolateWebRtcOffer(parseSdp(CHROMIUM_AUDIO_VIDEO_DATA_OFFER));
    const weriftAnswer = crlf([
      'v=0',
      'o=- 99 1 IN IP4 0.0.0.0',
      's=-',
      't=0 0',
      'a=group:BUNDLE 0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111 110',
      'c=IN IP4 0.0.0.0',
      'a=rtpmap:111 opus/48000/2',
      'a=rtpmap:110 telephone-event/48000',
      'a=rtcp:9 IN IP4 0.0.0.0',
      'a=candidate:1 1 udp 2116026367 127.0.0.1 10000 typ host generation 0',
      'a=setup:active',
      'a=mid:0',
      'a=sendrecv',
    ]);
    const answer = parseSdp(
      expandWebRtcDescription(weriftAnswer, isolated.shape, { sessionId: '5', version: 3 }),
    );
    expect(answer.origin.sessionId).toBe(5);
    expect(answer.origin.sessionVersion).toBe(3);
    expect(
      answer.media.map((m) => `${m.type} ${m.port} ${m.protocol} ${String(m.payloads)}`),
    ).toEqual([
      'audio 10000 UDP/TLS/RTP/SAVPF 111 110',
      'video 0 UDP/TLS/RTP/SAVPF 96',
      'application 0 UDP/DTLS/SCTP webrtc-datachannel',
    ]);
    expect(answer.media[0]!.connection?.ip).toBe('127.0.0.1');
    expect(answer.media[0]!.rtcp).toMatchObject({ port: 10_000, address: '127.0.0.1' });
    expect(answer.media.slice(1).map((m) => String(m.mid))).toEqual(['1', '2']);
  });

  it('rejects a re-offer that drops sections or moves the audio stream', () => {
    const first = isolateWebRtcOffer(parseSdp(CHROMIUM_AUDIO_VIDEO_DATA_OFFER));
    const audioOnly = CHROMIUM_AUDIO_VIDEO_DATA_OFFER.split('m=video')[0]!;
    sdpInvalid(() => isolateWebRtcOffer(parseSdp(audioOnly), first.shape));
    sdpInvalid(() =>
      isolateWebRtcOffer(parseSdp(CHROMIUM_AUDIO_VIDEO_DATA_OFFER), {
        ...first.shape,
        audioIndex: 1,
      }),
    );
  });

  it('rejects an answer that does not mirror the offer', () => {
    const isolated = isolateWebRtcOffer(parseSdp(CHROMIUM_AUDIO_VIDEO_DATA_OFFER));
    sdpInvalid(() =>
      isolateWebRtcAnswer(
        parseSdp(CHROMIUM_AUDIO_VIDEO_DATA_OFFER.split('m=video')[0]!),
        isolated.shape,
      ),
    );
  });
});
