/**
 * Starting the real Confab server in-process for integration and e2e tests, with loopback-only
 * listeners, ephemeral ports, a temporary data directory and two users (alice/1001,
 * bob/1002) created through the store. Tests that need more people (one pair per scenario, so
 * scenarios sharing a server never see each other's registrations or calls) add them with
 * {@link TestConfab.addUser}.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultConfig,
  startConfab,
  type ConfabConfig,
  type ConfabServer,
  type PlatformApiFactory,
  type Telephony,
  type TelephonyStats,
} from '@confab/server';
import { testRtpRange } from './ports.js';

/** A user created for a test, with the password the test logs in with. */
export interface TestUser {
  username: string;
  password: string;
  firstname: string;
  lastname: string;
  extension: string;
}

/** A user created by {@link TestConfab.addUser}, with its line's SIP account. */
export interface TestLineUser extends TestUser {
  uuid: string;
  lineId: number;
  sipUsername: string;
  sipSecret: string;
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

/** Options of {@link TestConfab.addUser}. */
export interface AddUserOptions {
  /** Login, also used for the display name. @default a fresh `user<n>` */
  username?: string;
  firstname?: string;
  lastname?: string;
  /** @default the next free `2xxx` number */
  extension?: string;
  /** Whether the line is a WebRTC line (the SDK registers only those). @default true */
  webrtc?: boolean;
}

/** A running server for one test file. */
export interface TestConfab {
  readonly server: ConfabServer;
  /** `http://127.0.0.1:<port>`: the SDK and the page use plain HTTP/WS on loopback. */
  readonly origin: string;
  /**
   * `https://127.0.0.1:<port>`: the same application over TLS with the generated self-signed
   * development certificate (Chromium runs with `--ignore-certificate-errors`). Clients that only
   * speak https/wss, like the real `@wazo/sdk`, use this one.
   */
  readonly httpsOrigin: string;
  /** `127.0.0.1:<https port>`, the form `Wazo.Auth.setHost()` takes. */
  readonly httpsHost: string;
  readonly users: readonly [TestUser, TestUser];
  /** Creates a user with one line through the store. */
  addUser(options?: AddUserOptions): Promise<TestLineUser>;
  /** Whether the registrar holds a live binding for the line of `extension`. */
  isRegistered(extension: string): Promise<boolean>;
  /** The server's SIP UDP/TCP port (for sipp desk phones). */
  readonly sipPort: number;
  /** Live object counts of the telephony core (channels, bridges, bindings, …). */
  stats(): TelephonyStats;
  close(): Promise<void>;
}

/** Options of {@link startTestConfab}. */
export interface StartTestConfabOptions {
  /** Built phone page. @default the server's default (apps/phone/dist) */
  staticDir?: string;
  /** Replaces the REST API registration (e.g. to observe routes as they are added). */
  registerApi?: PlatformApiFactory;
  /**
   * Media worker threads. Production runs one per core; most tests run one so that every call
   * shares it. Legs go to the worker of their call's group (a hash of the first channel's id).
   * @default 1
   */
  mediaWorkers?: number;
}

/** Starts Confab on 127.0.0.1 with `staticDir` (the built phone page) and the test users. */
export async function startTestConfab(options: StartTestConfabOptions = {}): Promise<TestConfab> {
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
    // A private range per server (the default, 10000–20000, would be every test server's).
    rtpPortRange: testRtpRange(),
    mediaWorkers: options.mediaWorkers ?? 1,
    logLevel: 'warn',
    createDemoUsers: false,
  };
  let server: ConfabServer;
  try {
    server = await startConfab(config, {
      print: () => undefined,
      ...(options.staticDir === undefined ? {} : { staticDir: options.staticDir }),
      ...(options.registerApi === undefined ? {} : { registerApi: options.registerApi }),
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }

  let nextUser = 0;
  const addUser = async (input: AddUserOptions = {}): Promise<TestLineUser> => {
    nextUser++;
    const username = input.username ?? `user${nextUser}`;
    const password = `${username}-test-pw`;
    const firstname = input.firstname ?? username.charAt(0).toUpperCase() + username.slice(1);
    const lastname = input.lastname ?? 'Test';
    const created = await server.store.users.create({ username, password, firstname, lastname });
    const line = await server.store.lines.create({
      userUuid: created.uuid,
      extension: input.extension ?? String(2000 + nextUser),
      webrtc: input.webrtc ?? true,
    });
    return {
      username,
      password,
      firstname,
      lastname,
      extension: line.extension,
      uuid: created.uuid,
      lineId: line.id,
      sipUsername: line.sipUsername,
      sipSecret: line.sipSecret,
    };
  };

  try {
    for (const user of TEST_USERS) {
      await addUser(user);
    }
  } catch (error) {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }

  // startConfab() runs the default telephony core, which exposes its registrar.
  const telephony = server.telephony as Partial<Telephony>;
  const port = new URL(server.httpUrl).port;
  const httpsPort = new URL(server.httpsUrl).port;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    httpsOrigin: `https://127.0.0.1:${httpsPort}`,
    httpsHost: `127.0.0.1:${httpsPort}`,
    users: TEST_USERS,
    sipPort: server.telephony.ports?.udp ?? server.config.sipPort,
    addUser,
    isRegistered: async (extension) => {
      if (telephony.registrar === undefined) {
        throw new Error('the server runs a telephony core without a registrar');
      }
      const line = await server.store.lines.findByExtension(extension);
      return line !== undefined && telephony.registrar.contactsFor(line.id).length > 0;
    },
    stats: () => {
      const stats = server.telephony.stats?.();
      if (stats === undefined) {
        throw new Error('the server runs a telephony core without stats');
      }
      return stats;
    },
    close: async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
