/**
 * `npm run bench -- <benchmark> [options]`: runs one benchmark of bench/ (see bench/README.md).
 */
const BENCHMARKS: Record<string, () => Promise<{ main(argv: readonly string[]): Promise<void> }>> =
  {
    'sip-calls': () => import('./sip-calls.js'),
    'media-relay': () => import('./media-relay.js'),
    'sip-micro': () => import('./sip-micro.js'),
    mixer: () => import('./mixer.js'),
    'websocketd-fanout': () => import('./websocketd-fanout.js'),
    'conference-vs-janus': () => import('./conference-vs-janus.js'),
    'merge-latency': () => import('./merge-latency.js'),
  };

const [name, ...args] = process.argv.slice(2);
const load = name === undefined ? undefined : BENCHMARKS[name];
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}> [options]`);
  process.exit(2);
}
try {
  await (await load()).main(args);
  process.exit(0);
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
}
