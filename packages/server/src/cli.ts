/**
 * The `confab` command line: `start`, and `user add|list|remove` against the data directory.
 *
 * Mistakes of the user or the environment (bad flag, port in use, duplicate username) print one
 * line `confab: <message>` on standard error and exit with code 1; anything else is a bug and
 * prints its stack.
 */
import { Command, CommanderError, Option } from 'commander';
import { loadConfig, LOG_LEVELS, type ConfigFlags } from './config.js';
import { isUserFacingError, StoreError, StoreErrorCode } from './errors.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM) — `start` waits on it. */
  stopSignal?: () => Promise<string>;
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
};

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

const dataOption = (): Option =>
  new Option('--data <dir>', 'data directory (env CONFAB_DATA)').default(undefined, './data');

async function withStore<T>(
  flags: ConfigFlags,
  io: CliIo,
  run: (store: Store) => Promise<T>,
): Promise<T> {
  // Only the settings that locate the data: a bad CONFAB_HTTP_PORT must not break `user list`.
  const env = { CONFAB_DATA: io.env['CONFAB_DATA'], CONFAB_CONFIG: io.env['CONFAB_CONFIG'] };
  const config = loadConfig({ argv: { data: flags.data }, env });
  const store = await openStore({ dataDir: config.dataDir });
  try {
    return await run(store);
  } finally {
    await store.close();
  }
}

/** Formats rows as a left-aligned text table with a header line. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function buildProgram(io: CliIo): Command {
  const program = new Command('confab')
    .description('Confab: a self-hostable SIP/WebRTC calling platform')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => {
        io.out(s.trimEnd());
      },
      writeErr: (s) => {
        io.err(s.trimEnd());
      },
    });

  program
    .command('start')
    .description('start the server (SIP, web phone, REST API)')
    .option('--config <file>', 'JSON config file (env CONFAB_CONFIG)')
    .addOption(dataOption())
    .option('--http-port <port>', 'HTTP port, 0 = any free port (env CONFAB_HTTP_PORT)')
    .option('--https-port <port>', 'HTTPS/WSS port (env CONFAB_HTTPS_PORT)')
    .option('--sip-port <port>', 'SIP UDP and TCP port (env CONFAB_SIP_PORT)')
    .option('--bind <address>', 'address to listen on (env CONFAB_BIND)')
    .option('--advertise <address>', 'address put in SIP and SDP (env CONFAB_ADVERTISE)')
    .option('--rtp-ports <min-max>', 'RTP port range, e.g. 10000-20000 (env CONFAB_RTP_PORTS)')
    .option('--media-workers <n>', 'media worker threads (env CONFAB_MEDIA_WORKERS)')
    .option('--sip-domain <domain>', 'SIP domain and digest realm (env CONFAB_SIP_DOMAIN)')
    .addOption(
      new Option('--log-level <level>', 'log level (env CONFAB_LOG_LEVEL)').choices(LOG_LEVELS),
    )
    .option('--no-demo-users', 'do not create alice/bob/carol in an empty database')
    .option('--tls-cert <file>', 'PEM certificate for HTTPS (env CONFAB_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key for HTTPS (env CONFAB_TLS_KEY)')
    .option(
      '--ring-timeout <seconds>',
      'seconds a call rings before it fails with 480, default 60 (env CONFAB_RING_TIMEOUT)',
    )
    .action(async (flags: ConfigFlags & { demoUsers: boolean }) => {
      // Commander sets demoUsers=true by default; only an explicit --no-demo-users should win
      // over the environment and the file.
      const argv: ConfigFlags = { ...flags };
      if (flags.demoUsers) {
        delete argv.demoUsers;
      }
      const config = loadConfig({ argv, env: io.env });
      // Listening before the start: a signal during start-up (or right after the banner) then
      // means "stop once started" instead of killing the process half-way.
      const stopped = (io.stopSignal ?? waitForSignal)();
      // Imported lazily: `user …` commands must not load the telephony and media stack.
      const [{ startConfab }, { createLogger }, { installRejectionNet }] = await Promise.all([
        import('./app.js'),
        import('./logger.js'),
        import('./safety-net.js'),
      ]);
      const logger = createLogger({ level: config.logLevel });
      const server = await startConfab(config, {
        logger,
        print: (text) => {
          io.out(text);
        },
      });
      // Once serving, a rejection nobody handled is a logged bug, not the end of every call.
      const uninstall = installRejectionNet(logger);
      try {
        const signal = await stopped;
        io.err(`confab: received ${signal}, shutting down`);
        await server.close();
      } finally {
        uninstall();
      }
    });

  const user = program.command('user').description('manage users');

  user
    .command('add')
    .description('create a user and their line')
    .requiredOption('--username <name>', 'login name')
    .requiredOption('--password <password>', 'login password')
    .requiredOption('--extension <number>', 'extension of the line, e.g. 1004')
    .option('--firstname <name>', 'first name')
    .option('--lastname <name>', 'last name')
    .option('--email <address>', 'email (also usable as login)')
    .option('--no-webrtc', 'the line is for a SIP phone, not the browser')
    .addOption(dataOption())
    .action(
      async (flags: {
        username: string;
        password: string;
        extension: string;
        firstname?: string;
        lastname?: string;
        email?: string;
        webrtc: boolean;
        data?: string;
      }) => {
        await withStore(flags, io, async (store) => {
          // Checked first so a taken extension does not leave a user without a line behind.
          if (await store.lines.findByExtension(flags.extension.trim())) {
            throw new StoreError(
              StoreErrorCode.Conflict,
              `Extension "${flags.extension.trim()}" is already taken`,
              { field: 'extension' },
            );
          }
          const created = await store.users.create({
            username: flags.username,
            password: flags.password,
            ...(flags.firstname === undefined ? {} : { firstname: flags.firstname }),
            ...(flags.lastname === undefined ? {} : { lastname: flags.lastname }),
            ...(flags.email === undefined ? {} : { email: flags.email }),
          });
          try {
            const line = await store.lines.create({
              userUuid: created.uuid,
              extension: flags.extension,
              webrtc: flags.webrtc,
            });
            io.out(
              `Created user ${created.username} with extension ${line.extension} ` +
                `(SIP username ${line.sipUsername})`,
            );
          } catch (err) {
            await store.users.remove(created.username);
            throw err;
          }
        });
      },
    );

  user
    .command('list')
    .description('list users with their lines')
    .addOption(dataOption())
    .action(async (flags: { data?: string }) => {
      await withStore(flags, io, async (store) => {
        const rows: string[][] = [];
        for (const u of await store.users.list()) {
          const name = `${u.firstname} ${u.lastname}`.trim();
          const lines = await store.lines.listByUser(u.uuid);
          if (lines.length === 0) {
            rows.push([u.username, name, '-', '-']);
          }
          for (const line of lines) {
            rows.push([u.username, name, line.extension, line.sipUsername]);
          }
        }
        io.out(
          rows.length === 0
            ? 'No users.'
            : formatTable(['USERNAME', 'NAME', 'EXTENSION', 'SIP USERNAME'], rows),
        );
      });
    });

  user
    .command('remove')
    .description('delete a user and their lines')
    .argument('<username>', 'login name of the user')
    .addOption(dataOption())
    .action(async (username: string, flags: { data?: string }) => {
      await withStore(flags, io, async (store) => {
        if (!(await store.users.remove(username))) {
          throw new StoreError(StoreErrorCode.NotFound, `No user named "${username}"`, {
            field: 'username',
          });
        }
        io.out(`Removed user ${username} and their lines`);
      });
    });

  return program;
}

/**
 * Runs the CLI with `argv` (as `process.argv`: node, script, args…) and resolves with the exit
 * code. Never throws.
 */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the problem (or the help/version text).
      return err.exitCode === 0 ? 0 : 1;
    }
    if (isUserFacingError(err)) {
      io.err(`confab: ${err.message}`);
      return 1;
    }
    io.err(
      `confab: unexpected error\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return 1;
  }
}
