#!/usr/bin/env node
// The `confab` command. The CLI itself is TypeScript compiled to ../dist (npm run build).
let cli;
try {
  cli = await import('../dist/cli.js');
} catch (err) {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist')) {
    process.stderr.write('confab: the server is not built yet — run `npm run build` first\n');
    process.exit(1);
  }
  throw err;
}
const code = await cli.runCli(process.argv);
// Exit explicitly: after `start` shuts down, stray handles (workers, timers) must not keep us alive.
process.exit(code);
