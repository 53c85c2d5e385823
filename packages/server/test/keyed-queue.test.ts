/**
 * The keyed queue of ad-hoc conference operations (telephony/keyed-queue.ts): operations on a
 * shared key never interleave, operations on disjoint keys do not wait for each other.
 */
import { describe, expect, it } from 'vitest';
import { KeyedQueue } from '../src/telephony/keyed-queue.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('KeyedQueue', () => {
  it('runs an operation on other keys while one is blocked, and one sharing a key only after it', async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    const gate = deferred();
    const slow = queue.run(['conf:a', 'call:1', 'call:2'], async () => {
      log.push('slow start');
      await gate.promise;
      log.push('slow end');
    });
    const other = queue.run(['conf:b', 'call:3'], () => {
      log.push('other');
      return Promise.resolve('other done');
    });
    const sharing = queue.run(['call:2', 'call:4'], () => {
      log.push('sharing');
      return Promise.resolve();
    });
    // Behind `sharing` on call:4 only, so also behind `slow`.
    const chained = queue.run(['call:4'], () => {
      log.push('chained');
      return Promise.resolve();
    });
    expect(await other).toBe('other done');
    expect(log).toEqual(['slow start', 'other']);
    gate.resolve();
    await Promise.all([slow, sharing, chained]);
    expect(log).toEqual(['slow start', 'other', 'slow end', 'sharing', 'chained']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(queue.size).toBe(0);
  });

  it('a failed operation rejects its caller but does not stop the next one on its keys', async () => {
    const queue = new KeyedQueue();
    const failed = queue.run(['k'], () => Promise.reject(new Error('nope')));
    const next = queue.run(['k'], () => Promise.resolve(2));
    await expect(failed).rejects.toThrow('nope');
    expect(await next).toBe(2);
  });
});
