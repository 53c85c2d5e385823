/**
 * A Confab server in its own process for load tests (`bin/confab.js start`), on loopback, with
 * users created beforehand through the store so their SIP secrets are known.
 */
import dgram from 'node:dgram';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '@confab/server';
import { sleep, spawnBounded, within } from './spawn.js';
import type { Spawned } from './spawn.js';

/** The repository root (bench/dist/lib → ../../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A port free on both UDP and TCP on 127.0.0.1 at the time of the call. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => {
        resolve(udp.address().port);
      });
    });
    const tcpFree = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once('error', () => {
        resolve(false);
      });
      server.listen(port, '127.0.0.1', () => {
        server.close(() => {
          resolve(true);
        });
      });
    });
    udp.close();
    if (tcpFree) {
      return port;
    }
  }
  throw new Error('no free port found');
}

/** SIP credentials of a line created for the benchmark. */
export interface BenchLine {
  extension: string;
  sipUsername: string;
  sipSecret: string;
}

/** A data directory with the given lines (SIP phones, not WebRTC). */
export async function prepareDataDir(
  lines: readonly { username: string; extension: string }[],
): Promise<{ dataDir: string; lines: BenchLine[] }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'confab-bench-'));
  const store = await openStore({ dataDir });
  const created: BenchLine[] = [];
  try {
    for (const { username, extension } of lines) {
      const user = await store.users.create({
        username,
        password: `${username}-Pass-1234`,
        firstname: username,
        lastname: 'Bench',
      });
      const line = await store.lines.create({
        userUuid: user.uuid,
        extension,
        sipUsername: `sip${username}`,
        sipSecret: `${username}-secret-5678`,
        webrtc: false,
      });
      created.push({
        extension: line.extension,
        sipUsername: line.sipUsername,
        sipSecret: line.sipSecret,
      });
    }
  } finally {
    await store.close();
  }
  return { dataDir, lines: created };
}

export interface ConfabProcessOptions {
  dataDir: string;
  sipPort: number;
  rtpPorts: [number, number];
  mediaWorkers: number;
  /** Write V8 CPU profiles (main thread and workers) into this directory on exit. */
  cpuProfileDir?: string;
  /** Hard deadline of the process. */
  timeoutMs: number;
}

/** A running `confab start`. */
export interface ConfabProcess {
  readonly process: Spawned;
  readonly pid: number;
  /** `http://127.0.0.1:<port>` of the plain HTTP listener (REST API), from the banner. */
  readonly httpOrigin: string;
  /** SIGTERM (graceful shutdown, which also writes CPU profiles), SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/** Starts `node packages/server/bin/confab.js start …` and waits for its banner. */
export async function startConfabProcess(options: ConfabProcessOptions): Promise<ConfabProcess> {
  const nodeArgs = options.cpuProfileDir
    ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir]
    : [];
  let output = '';
  const child = spawnBounded(
    process.execPath,
    [
      ...nodeArgs,
      join(REPO_ROOT, 'packages/server/bin/confab.js'),
      'start',
      '--data',
      options.dataDir,
      '--http-port',
      '0',
      '--https-port',
      '0',
      '--sip-port',
      String(options.sipPort),
      '--bind',
      '127.0.0.1',
      '--advertise',
      '127.0.0.1',
      '--sip-domain',
      '127.0.0.1',
      '--rtp-ports',
      `${options.rtpPorts[0]}-${options.rtpPorts[1]}`,
      '--media-workers',
      String(options.mediaWorkers),
      '--no-demo-users',
      '--log-level',
      'warn',
    ],
    {
      timeoutMs: options.timeoutMs,
      cwd: REPO_ROOT,
      onStdout: (text) => {
        output += text;
      },
    },
  );
  const deadline = Date.now() + 30_000;
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  // The banner is printed once every listener is up.
  while (!output.includes(`SIP: 127.0.0.1:${options.sipPort}`)) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`confab did not start:\n${output}\n${child.stderr()}`);
    }
    await sleep(100);
  }
  const httpPort = /http:\/\/localhost:(\d+)\//.exec(output)?.[1];
  return {
    process: child,
    pid: child.pid,
    httpOrigin: `http://127.0.0.1:${httpPort ?? '0'}`,
    stop: async () => {
      child.kill('SIGTERM');
      const status = await within(child.exited, 15_000, undefined);
      if (!status) {
        child.kill('SIGKILL');
        await child.exited;
      }
    },
  };
}

/** The `.cpuprofile` files of a directory, largest first (the busiest thread's comes first). */
export async function cpuProfiles(dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.cpuprofile'));
  return files.map((file) => join(dir, file));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
