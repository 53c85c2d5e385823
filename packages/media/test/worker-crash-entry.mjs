// A media worker that dies on demand: the real entry plus a listener that throws when asked to
// create a leg in a group starting with `crash-me`. Used by worker-engine.test.ts to exercise crash handling.
import { parentPort } from 'node:worker_threads';

await import(new URL('../dist/worker/worker.js', import.meta.url).href);

parentPort?.on('message', (message) => {
  if (message?.command?.type === 'createLeg' && message.command.group.startsWith('crash-me')) {
    throw new Error('injected media worker crash');
  }
});
