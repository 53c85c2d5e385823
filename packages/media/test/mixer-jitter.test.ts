import { describe, expect, it } from 'vitest';
import { JitterBuffer, JitterStatus } from '../src/mixer/jitter-buffer.js';

const SSRC = 0x1234;

function push(buffer: JitterBuffer, seq: number): void {
  buffer.push(SSRC, seq & 0xffff, Uint8Array.of(seq & 0xff, (seq >> 8) & 0xff), -1);
}

/** Pops once: the sequence number of the packet played, 'lost' or 'empty'. */
function pop(buffer: JitterBuffer): number | 'lost' | 'empty' {
  const status = buffer.pop();
  if (status === JitterStatus.Empty) {
    return 'empty';
  }
  if (status === JitterStatus.Lost) {
    return 'lost';
  }
  return buffer.payload[0]! | (buffer.payload[1]! << 8);
}

describe('JitterBuffer', () => {
  it('waits for its start depth, then plays reordered packets in sequence order', () => {
    const buffer = new JitterBuffer({ targetDepth: 2, startDepth: 2 });
    push(buffer, 11);
    expect(pop(buffer)).toBe('empty');
    push(buffer, 10);
    expect(pop(buffer)).toBe(10);
    push(buffer, 13);
    push(buffer, 12);
    expect([pop(buffer), pop(buffer), pop(buffer)]).toEqual([11, 12, 13]);
  });

  it('by default plays from the first packet, settles one frame deeper after an underrun, and never shrinks below its target', () => {
    const buffer = new JitterBuffer();
    push(buffer, 1);
    expect(pop(buffer)).toBe(1); // heard one tick after it arrived
    expect(pop(buffer)).toBe('lost'); // jitter: packet 2 is a tick late
    push(buffer, 2);
    push(buffer, 3);
    expect(pop(buffer)).toBe(2); // playout now runs a frame behind arrival
    const played: (number | 'lost' | 'empty')[] = [];
    for (let seq = 4; seq < 4 + 60; seq++) {
      push(buffer, seq);
      played.push(pop(buffer));
    }
    // Two packets buffered is the target: a second at that depth drops nothing.
    expect(played).toEqual(Array.from({ length: 60 }, (_, i) => 3 + i));
    expect(buffer.stats).toMatchObject({ underruns: 1, overflow: 0, lost: 0 });
  });

  it('drops duplicates and packets whose slot already played', () => {
    const buffer = new JitterBuffer({ targetDepth: 1 });
    push(buffer, 100);
    push(buffer, 100);
    expect(pop(buffer)).toBe(100);
    push(buffer, 100);
    push(buffer, 99);
    push(buffer, 101);
    expect(pop(buffer)).toBe(101);
    expect(buffer.stats).toMatchObject({ duplicate: 1, late: 2, received: 2 });
  });

  it('conceals a hole whose successors arrived, across the sequence wrap', () => {
    const buffer = new JitterBuffer({ targetDepth: 1 });
    push(buffer, 0xfffe);
    push(buffer, 0x0000);
    expect([pop(buffer), pop(buffer), pop(buffer)]).toEqual([0xfffe, 'lost', 0]);
    expect(buffer.stats.lost).toBe(1);
  });

  it('stretches over a short underrun without losing the late packet, then rebuffers after a pause', () => {
    const buffer = new JitterBuffer({ targetDepth: 1 });
    push(buffer, 1);
    expect(pop(buffer)).toBe(1);
    expect(pop(buffer)).toBe('lost'); // packet 2 is late: concealed, not skipped
    push(buffer, 2);
    expect(pop(buffer)).toBe(2);
    expect(buffer.stats).toMatchObject({ underruns: 1, lost: 0 });
    // The source pauses (silence suppression): nothing to conceal after two frames.
    expect([pop(buffer), pop(buffer), pop(buffer), pop(buffer)]).toEqual([
      'lost',
      'lost',
      'empty',
      'empty',
    ]);
    push(buffer, 3);
    expect(pop(buffer)).toBe(3);
  });

  it('bounds its depth and restarts on a new SSRC or a sequence jump', () => {
    const buffer = new JitterBuffer({ targetDepth: 2, maxDepth: 4 });
    for (let seq = 1; seq <= 10; seq++) {
      push(buffer, seq);
    }
    expect(buffer.depth).toBe(4);
    expect(buffer.stats.overflow).toBe(6);
    expect(pop(buffer)).toBe(7);
    buffer.push(SSRC + 1, 5000, Uint8Array.of(0x88, 0x13), -1);
    push(buffer, 30_000);
    expect(buffer.stats.resets).toBe(2);
    expect(buffer.depth).toBe(1);
  });

  it('keeps the RFC 6464 octet of each packet', () => {
    const buffer = new JitterBuffer({ targetDepth: 1 });
    buffer.push(SSRC, 7, Uint8Array.of(1), 0x80 | 30);
    expect(buffer.pop()).toBe(JitterStatus.Packet);
    expect(buffer.level).toBe(0x80 | 30);
  });
});
