import { describe, expect, it, vi } from 'vitest';
import { TypedEmitter } from '../src/emitter.js';

interface Events {
  [key: string]: unknown[];
  ended: [reason: string];
  tick: [n: number, label: string];
}

describe('TypedEmitter', () => {
  it('calls listeners in registration order with the emitted arguments', () => {
    const emitter = new TypedEmitter<Events>();
    const seen: string[] = [];
    emitter.on('tick', (n, label) => seen.push(`a${n}${label}`));
    emitter.on('tick', (n, label) => seen.push(`b${n}${label}`));
    expect(emitter.emit('tick', 1, 'x')).toBe(true);
    expect(seen).toEqual(['a1x', 'b1x']);
  });

  it('once() listeners run a single time', () => {
    const emitter = new TypedEmitter<Events>();
    const listener = vi.fn();
    emitter.once('ended', listener);
    emitter.emit('ended', 'bye');
    emitter.emit('ended', 'bye');
    expect(listener).toHaveBeenCalledTimes(1);
    expect(emitter.listenerCount('ended')).toBe(0);
  });

  it('the function returned by on() removes the listener', () => {
    const emitter = new TypedEmitter<Events>();
    const listener = vi.fn();
    const off = emitter.on('ended', listener);
    off();
    expect(emitter.emit('ended', 'bye')).toBe(false);
    expect(listener).not.toHaveBeenCalled();
  });

  it('a throwing listener does not stop the others and is reported as listenererror', () => {
    const emitter = new TypedEmitter<Events>();
    const after = vi.fn();
    const reported = vi.fn();
    emitter.on('listenererror', reported);
    emitter.on('ended', () => {
      throw new Error('boom');
    });
    emitter.on('ended', after);
    emitter.emit('ended', 'bye');
    expect(after).toHaveBeenCalledWith('bye');
    expect(reported).toHaveBeenCalledWith('ended', expect.any(Error));
  });

  it('a listener removing another listener during emit does not skip the current round', () => {
    const emitter = new TypedEmitter<Events>();
    const second = vi.fn();
    emitter.on('ended', () => emitter.off('ended', second));
    emitter.on('ended', second);
    emitter.emit('ended', 'x');
    emitter.emit('ended', 'y');
    expect(second).toHaveBeenCalledTimes(1);
  });
});
