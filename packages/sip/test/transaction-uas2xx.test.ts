import { describe, expect, it } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import { FakeClock } from '../src/clock.js';
import { Uas2xxRetransmitter, type Uas2xxRetransmitterState } from '../src/transaction/uas-2xx.js';

function setup(options: { reliable?: boolean; failing?: boolean } = {}) {
  const clock = new FakeClock();
  const sends: number[] = [];
  const events: string[] = [];
  const states: Uas2xxRetransmitterState[] = [];
  let timeouts = 0;
  const retransmitter = new Uas2xxRetransmitter({
    clock,
    reliable: options.reliable ?? false,
    retransmit: () => {
      if (options.failing === true) {
        throw new Error('EPIPE');
      }
      sends.push(clock.now());
    },
    onTimeout: () => {
      timeouts++;
    },
  });
  retransmitter.on('timeout', () => events.push('timeout'));
  retransmitter.on('transportError', () => events.push('transportError'));
  retransmitter.on('stateChanged', (_from, to) => states.push(to));
  return { clock, sends, events, states, retransmitter, timeouts: () => timeouts };
}

describe('Uas2xxRetransmitter (RFC 3261 §13.3.1.4)', () => {
  it('retransmits at T1, doubling up to T2, and reports a timeout after 64*T1 without ACK', () => {
    const { clock, sends, events, states, retransmitter, timeouts } = setup();
    retransmitter.start();
    clock.advance(32_000);
    expect(sends).toEqual([500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(events).toEqual(['timeout']);
    expect(timeouts()).toBe(1);
    expect(states).toEqual(['Waiting', 'TimedOut']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('stops when acknowledged and never times out', () => {
    const { clock, sends, events, retransmitter } = setup();
    retransmitter.start();
    clock.advance(1600);
    retransmitter.acknowledge();
    retransmitter.acknowledge();
    clock.advance(60_000);
    expect(sends).toEqual([500, 1500]);
    expect(events).toEqual([]);
    expect(retransmitter.state).toBe('Acknowledged');
  });

  it('does not retransmit when reliable but still times out without ACK', () => {
    const { clock, sends, events, retransmitter } = setup({ reliable: true });
    retransmitter.start();
    clock.advance(31_999);
    expect(events).toEqual([]);
    clock.advance(1);
    expect(sends).toEqual([]);
    expect(events).toEqual(['timeout']);
  });

  it('stops retransmitting after a transport error but still times out', () => {
    const { clock, events, retransmitter } = setup({ failing: true });
    retransmitter.start();
    clock.advance(32_000);
    expect(events).toEqual(['transportError', 'timeout']);
  });

  it('stop() is idempotent and silences everything; start() twice is an InvalidStateError', () => {
    const { clock, sends, events, retransmitter } = setup();
    retransmitter.start();
    let error: unknown;
    try {
      retransmitter.start();
    } catch (caught) {
      error = caught;
    }
    expect(isInvalidStateError(error)).toBe(true);
    retransmitter.stop();
    retransmitter.close();
    clock.advance(60_000);
    expect(sends).toEqual([]);
    expect(events).toEqual([]);
    expect(retransmitter.state).toBe('Stopped');
  });
});
