import { describe, expect, it } from 'vitest';
import { PortAllocator, splitPortRange } from '../src/legs/port-allocator.js';

describe('PortAllocator', () => {
  it('hands out even-based pairs, next-fit, and reuses a released pair last', () => {
    const allocator = new PortAllocator([10_001, 10_008]);
    expect(allocator.capacity).toBe(3);
    expect([allocator.allocate(), allocator.allocate()]).toEqual([10_002, 10_004]);
    allocator.release(10_002);
    expect(allocator.allocate()).toBe(10_006);
    expect(allocator.allocate()).toBe(10_002);
    expect(allocator.allocate()).toBeUndefined();
    expect(allocator.inUse).toBe(3);
  });

  it('reserves consecutive pairs for multi-address legs and wraps around', () => {
    const allocator = new PortAllocator([20_000, 20_007]);
    expect(allocator.allocate(1)).toBe(20_000);
    expect(allocator.allocate(2)).toBe(20_002);
    allocator.release(20_000);
    // Only one free pair left before the cursor wraps: a run of two does not fit.
    expect(allocator.allocate(2)).toBeUndefined();
    allocator.release(20_002, 2);
    expect(allocator.allocate(3)).toBe(20_000);
  });

  it('ignores releases of ports it never handed out', () => {
    const allocator = new PortAllocator([30_000, 30_003]);
    allocator.allocate();
    allocator.release(29_998);
    allocator.release(30_001);
    allocator.release(30_002);
    expect(allocator.inUse).toBe(1);
  });

  it.each([[[0, 10]], [[10, 10]], [[20, 10]], [[1.5, 10]], [[1000, 70_000]]] as [
    [number, number],
  ][])('rejects the range %j with TypeError', (range) => {
    expect(() => new PortAllocator(range)).toThrow(TypeError);
  });
});

describe('splitPortRange', () => {
  it('splits a range into disjoint even-based parts that cover it', () => {
    expect(splitPortRange([10_000, 20_000], 3)).toEqual([
      [10_000, 13_331],
      [13_332, 16_663],
      [16_664, 19_999],
    ]);
  });

  it('refuses more parts than pairs', () => {
    expect(() => splitPortRange([10_000, 10_003], 3)).toThrow(TypeError);
  });
});
