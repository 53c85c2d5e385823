import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTable, runCli } from '../src/cli.js';
import { openStore } from '../src/store/index.js';

const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const bin = join(root, 'packages/server/bin/confab.js');
let dir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `confab` binary (built dist) and collects its output. */
function confab(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: dir,
      env: { PATH: process.env['PATH'], HOME: dir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      resolvePromise({ code, stdout, stderr });
    });
  });
}

beforeAll(() => {
  // The binary runs the compiled CLI: build the server package (incremental; errors elsewhere in
  // the package do not stop emission, the existence check below is what matters).
  try {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/server'],
      {
        cwd: root,
        stdio: 'ignore',
      },
    );
  } catch {
    // Reported through the assertion below if nothing was emitted.
  }
  expect(existsSync(join(root, 'packages/server/dist/cli.js'))).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'confab-cli-'));
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('confab user (real binary)', () => {
  it('adds a user with a line and prints the extension and SIP username', async () => {
    const data = join(dir, 'add');
    const run = await confab([
      'user',
      'add',
      '--username',
      'dave',
      '--password',
      'pw-dave',
      '--extension',
      '1004',
      '--firstname',
      'Dave',
      '--lastname',
      'Lee',
      '--email',
      'dave@example.org',
      '--data',
      data,
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const match = /^Created user dave with extension 1004 \(SIP username ([a-z0-9]{8})\)\n$/.exec(
      run.stdout,
    );
    expect(match).not.toBeNull();

    const store = await openStore({ dataDir: data });
    try {
      const user = await store.users.verifyPassword('dave@example.org', 'pw-dave');
      expect(user).toMatchObject({ username: 'dave', firstname: 'Dave', lastname: 'Lee' });
      expect(await store.lines.findByExtension('1004')).toMatchObject({
        userUuid: user!.uuid,
        sipUsername: match![1],
        webrtc: true,
      });
    } finally {
      await store.close();
    }
  });

  it('lists users as a table with username, name, extension and SIP username', async () => {
    const data = join(dir, 'list');
    await confab([
      'user',
      'add',
      '--username',
      'bob',
      '--password',
      'x',
      '--extension',
      '1002',
      '--firstname',
      'Bob',
      '--lastname',
      'Martin',
      '--data',
      data,
    ]);
    await confab([
      'user',
      'add',
      '--username',
      'alice',
      '--password',
      'x',
      '--extension',
      '1001',
      '--firstname',
      'Alice',
      '--data',
      data,
    ]);
    const run = await confab(['user', 'list', '--data', data]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^USERNAME\s+NAME\s+EXTENSION\s+SIP USERNAME$/);
    expect(lines[1]).toMatch(/^alice\s+Alice\s+1001\s+[a-z0-9]{8}$/);
    expect(lines[2]).toMatch(/^bob\s+Bob Martin\s+1002\s+[a-z0-9]{8}$/);
    expect(lines).toHaveLength(3);
  });

  it('reads the data directory from CONFAB_DATA', async () => {
    const data = join(dir, 'env');
    await confab(['user', 'add', '--username', 'erin', '--password', 'x', '--extension', '1005'], {
      CONFAB_DATA: data,
    });
    const run = await confab(['user', 'list'], { CONFAB_DATA: data });
    expect(run.stdout).toContain('erin');
  });

  it('ignores server settings in the environment that user commands do not need', async () => {
    const run = await confab(['user', 'list', '--data', join(dir, 'ignore-env')], {
      CONFAB_HTTP_PORT: 'not-a-port',
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('No users.\n');
  });

  it('removes a user and their line', async () => {
    const data = join(dir, 'remove');
    await confab([
      'user',
      'add',
      '--username',
      'carol',
      '--password',
      'x',
      '--extension',
      '1003',
      '--data',
      data,
    ]);
    const run = await confab(['user', 'remove', 'carol', '--data', data]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('Removed user carol and their lines\n');
    expect((await confab(['user', 'list', '--data', data])).stdout).toBe('No users.\n');
  });

  it('fails with one line and exit code 1 on a duplicate username, leaving no orphan line', async () => {
    const data = join(dir, 'dup');
    await confab([
      'user',
      'add',
      '--username',
      'dave',
      '--password',
      'x',
      '--extension',
      '1004',
      '--data',
      data,
    ]);
    const run = await confab([
      'user',
      'add',
      '--username',
      'dave',
      '--password',
      'y',
      '--extension',
      '1006',
      '--data',
      data,
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('confab: Username "dave" is already taken\n');
    const store = await openStore({ dataDir: data });
    try {
      expect(await store.lines.findByExtension('1006')).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('fails with one line on a taken extension and creates no user', async () => {
    const data = join(dir, 'dup-ext');
    await confab([
      'user',
      'add',
      '--username',
      'a',
      '--password',
      'x',
      '--extension',
      '1001',
      '--data',
      data,
    ]);
    const run = await confab([
      'user',
      'add',
      '--username',
      'b',
      '--password',
      'x',
      '--extension',
      '1001',
      '--data',
      data,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('confab: Extension "1001" is already taken\n');
    expect((await confab(['user', 'list', '--data', data])).stdout).not.toContain('b ');
  });

  it('fails with one line when removing an unknown user', async () => {
    const run = await confab(['user', 'remove', 'nobody', '--data', join(dir, 'none')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('confab: No user named "nobody"\n');
  });

  it('fails with exit code 1 and a usage hint when a required option is missing', async () => {
    const run = await confab(['user', 'add', '--username', 'x', '--data', join(dir, 'missing')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("required option '--password <password>' not specified");
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('confab start (real binary): start-up errors are one clear line', () => {
  it('rejects an invalid port flag without a stack trace', async () => {
    const run = await confab(['start', '--https-port', 'abc', '--data', join(dir, 'start')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'confab: --https-port: expected a port number from 0 to 65535 (0 = any free port), got "abc"\n',
    );
  });

  it('rejects an invalid environment variable naming it', async () => {
    const run = await confab(['start', '--data', join(dir, 'start')], {
      CONFAB_RTP_PORTS: '10001-20000',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('confab: CONFAB_RTP_PORTS: the first port must be even, got 10001\n');
  });

  it('rejects an unusable data directory', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const run = await confab([
      'start',
      '--data',
      file,
      '--http-port',
      '0',
      '--https-port',
      '0',
      '--sip-port',
      '0',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^confab: Cannot create data directory .*a-file: .*\n$/);
  });

  it('rejects an unknown option', async () => {
    const run = await confab(['start', '--htp-port', '1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("unknown option '--htp-port'");
  });
});

describe('runCli (in process)', () => {
  it('returns 0 for --help and prints the commands', async () => {
    const out: string[] = [];
    const code = await runCli(['node', 'confab', '--help'], {
      out: (t) => out.push(t),
      err: () => undefined,
      env: {},
    });
    expect(code).toBe(0);
    expect(out.join('\n')).toMatch(/start[\s\S]*user/);
  });

  it('prints the stack of an unexpected error', async () => {
    const err: string[] = [];
    const code = await runCli(
      ['node', 'confab', 'user', 'list', '--data', join(dir, 'unexpected')],
      {
        out: () => {
          throw new Error('stdout closed');
        },
        err: (t) => err.push(t),
        env: {},
      },
    );
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/^confab: unexpected error\nError: stdout closed\n\s+at /);
  });
});

describe('formatTable', () => {
  it('pads columns to the widest cell and trims line ends', () => {
    expect(
      formatTable(
        ['A', 'BB'],
        [
          ['xxx', 'y'],
          ['z', ''],
        ],
      ),
    ).toBe('A    BB\nxxx  y\nz');
  });
});
