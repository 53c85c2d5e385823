/**
 * Self-test of the Node media helpers (tests/support/node-phone.ts) with no server: two wrtc
 * peer connections in one process, each sending its own RTCAudioSource tone; each sink must find
 * the other side's frequency and not its own. The SDK integration tests rely on these helpers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import wrtc from '@roamhq/wrtc';
import { analyseTones, hearsTone } from '../support/goertzel.js';
import {
  createToneSink,
  createToneSource,
  sleep,
  waitFor,
  type ToneSink,
  type ToneSource,
} from '../support/node-phone.js';
import { sineSamples } from '../support/tones.js';

const LOW = 500;
const HIGH = 1300;

const resources: { stop(): void }[] = [];
const peers: RTCPeerConnection[] = [];
afterEach(() => {
  for (const r of resources.splice(0)) {
    r.stop();
  }
  for (const pc of peers.splice(0)) {
    pc.close();
  }
});

function source(frequency: number): ToneSource {
  const s = createToneSource(frequency);
  resources.push(s);
  return s;
}

function sink(track: MediaStreamTrack): ToneSink {
  const s = createToneSink(track);
  resources.push(s);
  return s;
}

async function connectedPair(
  a: ToneSource,
  b: ToneSource,
): Promise<{ atA: MediaStreamTrack; atB: MediaStreamTrack }> {
  const pcA = new wrtc.RTCPeerConnection();
  const pcB = new wrtc.RTCPeerConnection();
  peers.push(pcA, pcB);
  pcA.onicecandidate = (e) => void (e.candidate && pcB.addIceCandidate(e.candidate));
  pcB.onicecandidate = (e) => void (e.candidate && pcA.addIceCandidate(e.candidate));
  const streamA = a.createStream();
  const streamB = b.createStream();
  pcA.addTrack(streamA.getAudioTracks()[0]!, streamA);
  pcB.addTrack(streamB.getAudioTracks()[0]!, streamB);
  const atB = new Promise<MediaStreamTrack>((resolve) => (pcB.ontrack = (e) => resolve(e.track)));
  const atA = new Promise<MediaStreamTrack>((resolve) => (pcA.ontrack = (e) => resolve(e.track)));
  const offer = await pcA.createOffer();
  await pcA.setLocalDescription(offer);
  await pcB.setRemoteDescription(offer);
  const answer = await pcB.createAnswer();
  await pcB.setLocalDescription(answer);
  await pcA.setRemoteDescription(answer);
  return { atA: await atA, atB: await atB };
}

describe('Node tone source and sink (wrtc)', () => {
  it('each side of a wrtc call hears the other side tone and not its own', async () => {
    const { atA, atB } = await connectedPair(source(LOW), source(HIGH));
    const sinkA = sink(atA);
    const sinkB = sink(atB);
    await waitFor('audio frames', () => sinkA.frames > 50 && sinkB.frames > 50);
    sinkA.reset();
    sinkB.reset();
    await sleep(1000);
    const heardByA = sinkA.analyse([LOW, HIGH]);
    const heardByB = sinkB.analyse([LOW, HIGH]);
    expect(sinkA.sampleRate).toBe(48_000);
    expect(hearsTone(heardByA, HIGH), JSON.stringify(heardByA)).toBe(true);
    expect(hearsTone(heardByB, LOW), JSON.stringify(heardByB)).toBe(true);
    expect(hearsTone(heardByA, LOW)).toBe(false);
  });

  it('a silent source is heard as no tone at all', async () => {
    const silent = source(LOW);
    silent.stop();
    const { atB } = await connectedPair(silent, source(HIGH));
    const sinkB = sink(atB);
    await waitFor('audio frames', () => sinkB.frames > 50);
    sinkB.reset();
    await sleep(500);
    const report = sinkB.analyse([LOW, HIGH]);
    expect(hearsTone(report, LOW)).toBe(false);
    expect(hearsTone(report, HIGH)).toBe(false);
  });
});

describe('Goertzel helpers', () => {
  it('names the dominant of two synthetic tones and rejects the absent one', () => {
    const samples = sineSamples(HIGH, 0.5, { amplitude: 0.5 });
    const report = analyseTones(samples, 48_000, [LOW, HIGH]);
    expect(report.dominant).toBe(HIGH);
    expect(report.powers[HIGH]!).toBeCloseTo(0.0625, 2);
    expect(hearsTone(report, HIGH)).toBe(true);
    expect(hearsTone(report, LOW)).toBe(false);
  });

  it('reports no dominant tone on silence', () => {
    const report = analyseTones(new Int16Array(48_000), 48_000, [LOW, HIGH]);
    expect(report.dominant).toBeUndefined();
    expect(report.rms).toBe(0);
  });
});
