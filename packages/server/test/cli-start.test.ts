import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const bin = join(root, 'packages/server/bin/confab.js');
let dir: string;
const children: ChildProcessByStdio<null, Readable, Readable>[] = [];

const BASE_FLAGS = [
  '--http-port',
  '0',
  '--https-port',
  '0',
  '--sip-port',
  '0',
  '--bind',
  '127.0.0.1',
  '--advertise',
  '127.0.0.1',
  '--media-workers',
  '1',
  '--log-level',
  'warn',
];

interface Started {
  child: ChildProcessByStdio<null, Readable, Readable>;
  banner: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Spawns `confab start` and resolves once the banner is printed (or rejects if it exits first). */
function startConfab(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [bin, 'start', ...BASE_FLAGS, ...args], {
    cwd: dir,
    env: { PATH: process.env['PATH'], HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolveExit) => {
    child.on('close', (code) => {
      resolveExit(code);
    });
  });
  return new Promise((resolveStart, reject) => {
    child.stdout.on('data', (d: string) => {
      stdout += d;
      // The banner ends with the user-management hint line.
      if (stdout.includes('Manage users:')) {
        resolveStart({ child, banner: stdout, stderr: () => stderr, exited });
      }
    });
    void exited.then((code) => {
      reject(new Error(`confab start exited with ${code}:\n${stderr}`));
    });
  });
}

function portOf(banner: string, scheme: 'http' | 'https'): number {
  const match = new RegExp(`${scheme}://[^:/\\s]+:(\\d+)/`).exec(banner);
  expect(match, `no ${scheme} URL in banner:\n${banner}`).not.toBeNull();
  return Number(match![1]);
}

/** Every file under `root` with its size, mtime and SHA-256: what a run may have changed. */
function snapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else {
        const stat = statSync(full);
        const hash = createHash('sha256').update(readFileSync(full)).digest('hex');
        files[full.slice(root.length)] = `${stat.size} ${stat.mtimeMs} ${hash}`;
      }
    }
  };
  walk(root);
  return files;
}

/** Runs `confab start` expecting it to fail; resolves with its exit code and stderr. */
async function startFailing(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [bin, 'start', ...BASE_FLAGS, ...args], {
    cwd: dir,
    env: { PATH: process.env['PATH'], HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stdout.resume();
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { code, stderr };
}

beforeAll(() => {
  try {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/server'],
      { cwd: root, stdio: 'ignore' },
    );
  } catch {
    // Checked below.
  }
  expect(existsSync(join(root, 'packages/server/dist/cli.js'))).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'confab-start-'));
}, 120_000);

afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
    }
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('confab start (real binary)', () => {
  it('starts, prints the banner with demo logins once, serves health and login, and stops on SIGTERM', async () => {
    const data = join(dir, 'run');
    const first = await startConfab(['--data', data]);
    expect(first.banner).toContain('Confab is running');
    const passwords = [
      ...first.banner.matchAll(/^\s+(alice|bob|carol)\s+ext (100[123]).*password: (\S+)$/gm),
    ];
    expect(passwords.map((m) => [m[1], m[2]])).toEqual([
      ['alice', '1001'],
      ['bob', '1002'],
      ['carol', '1003'],
    ]);

    const httpPort = portOf(first.banner, 'http');
    const health = await fetch(`http://127.0.0.1:${httpPort}/api/health`);
    expect(await health.json()).toEqual({ status: 'ok' });
    const alicePassword = passwords[0]![3]!;
    const login = await fetch(`http://127.0.0.1:${httpPort}/api/auth/0.1/token`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Basic ${Buffer.from(`alice:${alicePassword}`).toString('base64')}`,
      },
      body: JSON.stringify({ expiration: 60 }),
    });
    expect(login.status).toBe(200);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.stderr()).toContain('confab: received SIGTERM, shutting down');

    const second = await startConfab(['--data', data]);
    expect(second.banner).toContain('Confab is running');
    expect(second.banner).not.toContain('password');
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  }, 60_000);

  it('exits with code 1 and one line when the HTTPS port is in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const child = spawn(
        process.execPath,
        [bin, 'start', ...BASE_FLAGS, '--https-port', String(port), '--data', join(dir, 'busy')],
        {
          cwd: dir,
          env: { PATH: process.env['PATH'], HOME: dir },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.push(child);
      let stderr = '';
      let stdout = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code).toBe(1);
      expect(stdout).toBe('');
      const lines = stderr.split('\n').filter((l) => l.startsWith('confab:'));
      expect(lines).toEqual([
        `confab: Port ${port}/tcp (HTTPS) is already in use — choose another with --https-port`,
      ]);
      expect(stderr).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  }, 60_000);

  it('leaves the data directory untouched when a start fails on a busy port, even when the address changed', async () => {
    const data = join(dir, 'moved');
    const first = await startConfab(['--data', data]);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const certFile = join(data, 'tls', 'cert.pem');
    const before = snapshot(data);
    expect(Object.keys(before)).toContain('/tls/cert.pem');

    // 127.0.0.2 is not named in the certificate, so a successful start would replace it.
    const moved = ['--data', data, '--advertise', '127.0.0.2'];
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      for (const flag of ['--https-port', '--sip-port']) {
        const failed = await startFailing([...moved, flag, String(port)]);
        expect(failed.code, failed.stderr).toBe(1);
        expect(failed.stderr).toContain(`Port ${port}/`);
        expect(snapshot(data)).toEqual(before);
      }
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }

    const oldCert = readFileSync(certFile, 'utf8');
    const started = await startConfab(moved);
    expect(readFileSync(certFile, 'utf8')).not.toBe(oldCert);
    started.child.kill('SIGTERM');
    expect(await started.exited).toBe(0);
  }, 90_000);
});
