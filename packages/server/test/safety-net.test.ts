/**
 * The last-resort rejection handler of `confab start` (src/safety-net.ts): an unhandled
 * rejection is logged at error level with its stack instead of ending the process.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { installRejectionNet } from '../src/safety-net.js';

function capture(): { lines: Record<string, unknown>[]; stream: Writable } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { lines, stream };
}

describe('installRejectionNet', () => {
  it('logs an unhandled rejection at error level with the stack, and stops once uninstalled', () => {
    const { lines, stream } = capture();
    const logger = createLogger({ level: 'info', destination: stream });
    const source = new EventEmitter();
    const uninstall = installRejectionNet(logger, source);
    expect(source.listenerCount('unhandledRejection')).toBe(1);

    source.emit('unhandledRejection', new TypeError('boom'));
    source.emit('unhandledRejection', 'a string');
    expect(lines).toHaveLength(2);
    const [first, second] = lines as [Record<string, unknown>, Record<string, unknown>];
    expect(first['level']).toBe(50);
    const err = first['err'] as { type: string; message: string; stack: string };
    expect(err).toMatchObject({ type: 'TypeError', message: 'boom' });
    expect(err.stack).toMatch(/safety-net\.test\.ts/);
    expect((second['err'] as { message: string }).message).toBe('non-error rejection: a string');

    uninstall();
    expect(source.listenerCount('unhandledRejection')).toBe(0);
  });
});
