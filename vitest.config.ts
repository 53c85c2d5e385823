import { defineConfig } from 'vitest/config';

// How many test files run at once: vitest 3.2 runs the files of every project in one shared fork
// pool of `maxWorkers` processes (default: cores − 1, so one file at a time on the 2-core CI
// machine). A project's own `fileParallelism: false` does not limit that pool (checked with
// vitest 3.2.7: such a project's files ran concurrently with --maxWorkers=4), so on a machine
// with more cores integration and e2e files can run side by side. The tests allow for that: their
// servers bind port 0, their sipp peers and RTP ranges take ports from private per-worker slices
// below the ephemeral range (tests/support/ports.ts), and every server has its own data directory.
// Timeouts leave room for a loaded 2-core machine: the slowest tests set their own.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts'],
          pool: 'forks',
          // Several unit files start real servers, worker threads or the CLI binary (scrypt,
          // TLS key generation): 1–3 s each on a busy machine, too close to vitest's 5 s default.
          testTimeout: 15_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          pool: 'forks',
          // Intended: one file at a time (honoured by vitest 4; see above for 3.2).
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.e2e.test.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 90_000,
          hookTimeout: 90_000,
        },
      },
    ],
  },
});
