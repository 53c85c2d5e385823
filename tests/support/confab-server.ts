/**
 * Starting the real Confab server in-process for integration and e2e tests, with loopback-only
 * listeners, ephemeral ports, a temporary data directory and two users (alice/1001,
 * bob/1002) created through the store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfabConfig, ConfabServer } from '@confab/server';

/** A user created for a test, with the password the test logs in with. */
export interface TestUser {
  username: string;
  password: string;
  firstname: string;
  lastname: string;
  extension: string;
}

export const TEST_USERS: readonly [TestUser, TestUser] = [
  {
    username: 'alice',
    password: 'alice-test-pw',
    firstname: 'Alice',
    lastname: 'Test',
    extension: '1001',
  },
  {
    username: 'bob',
    password: 'bob-test-pw',
    firstname: 'Bob',
    lastname: 'Test',
    extension: '1002',
  },
];

/**
 * Whether `@confab/server` (its built dist) exports `startConfab`. Real-server tests are skipped
 * only when this is false, i.e. while the server package is not built or not written yet.
 */
export async function serverExportsStartConfab(): Promise<boolean> {
  try {
    const module: Record<string, unknown> = await import('@confab/server');
    return typeof module['startConfab'] === 'function';
  } catch {
    return false;
  }
}

/** A running server for one test file. */
export interface TestConfab {
  readonly server: ConfabServer;
  /** `http://127.0.0.1:<port>`: the SDK and the page use plain HTTP/WS on loopback. */
  readonly origin: string;
  readonly users: readonly [TestUser, TestUser];
  close(): Promise<void>;
}

/** Starts Confab on 127.0.0.1 with `staticDir` (the built phone page) and the test users. */
export async function startTestConfab(options: { staticDir?: string } = {}): Promise<TestConfab> {
  const { startConfab, defaultConfig } = await import('@confab/server');
  const dataDir = mkdtempSync(join(tmpdir(), 'confab-test-'));
  const config: ConfabConfig = {
    ...defaultConfig(),
    dataDir,
    httpPort: 0,
    httpsPort: 0,
    sipPort: 0,
    bindAddress: '127.0.0.1',
    advertisedAddress: '127.0.0.1',
    mediaAddresses: ['127.0.0.1'],
    sipDomain: '127.0.0.1',
    mediaWorkers: 1,
    logLevel: 'warn',
    createDemoUsers: false,
  };
  let server: ConfabServer;
  try {
    server = await startConfab(config, {
      print: () => undefined,
      ...(options.staticDir === undefined ? {} : { staticDir: options.staticDir }),
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  for (const user of TEST_USERS) {
    const created = await server.store.users.create({
      username: user.username,
      password: user.password,
      firstname: user.firstname,
      lastname: user.lastname,
    });
    await server.store.lines.create({
      userUuid: created.uuid,
      extension: user.extension,
      webrtc: true,
    });
  }
  const port = new URL(server.httpUrl).port;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    users: TEST_USERS,
    close: async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
