/**
 * Test fixtures for the auth and REST tests: an in-memory {@link Store} and a Fastify app with the
 * platform API mounted (driven with `inject()`, no sockets).
 */
import { randomUUID } from 'node:crypto';
import fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '@confab/core';
import { frameworkErrorHandler, registerPlatformApi } from '../src/api/index.js';
import { TokenService } from '../src/auth/tokens.js';
import type { TokenServiceOptions } from '../src/auth/tokens.js';
import type {
  CreateLineInput,
  CreateUserInput,
  Line,
  LineRepository,
  SettingsRepository,
  Store,
  Tenant,
  User,
  UserRepository,
} from '../src/store/types.js';

export const TENANT_UUID = '11111111-1111-4111-8111-111111111111';

/** A {@link Store} in memory, with plain-text passwords (tests only). */
export class MemoryStore implements Store {
  readonly tenant: Tenant = { uuid: TENANT_UUID, name: 'default' };
  readonly users: UserRepository;
  readonly lines: LineRepository;
  readonly settings: SettingsRepository;
  readonly settingsMap = new Map<string, string>();
  readonly #users = new Map<string, User>();
  readonly #passwords = new Map<string, string>();
  readonly #lines: Line[] = [];
  #nextLineId = 1;

  constructor() {
    const users = this.#users;
    const passwords = this.#passwords;
    const lines = this.#lines;
    const findByLogin = (login: string): User | undefined =>
      [...users.values()].find((u) => u.username === login) ??
      [...users.values()].find((u) => u.email !== null && u.email === login);
    this.users = {
      create: (input) => Promise.resolve(this.addUser(input)),
      list: () => Promise.resolve([...users.values()]),
      findByUuid: (uuid) => Promise.resolve(users.get(uuid)),
      findByLogin: (login) => Promise.resolve(findByLogin(login)),
      verifyPassword: (login, password) => {
        const user = findByLogin(login);
        return Promise.resolve(
          user !== undefined && passwords.get(user.uuid) === password ? user : undefined,
        );
      },
      remove: (username) => {
        const user = findByLogin(username);
        if (user === undefined) {
          return Promise.resolve(false);
        }
        users.delete(user.uuid);
        return Promise.resolve(true);
      },
      count: () => Promise.resolve(users.size),
    };
    this.lines = {
      create: (input) => Promise.resolve(this.addLine(input)),
      findByExtension: (extension) =>
        Promise.resolve(lines.find((line) => line.extension === extension)),
      findBySipUsername: (username) =>
        Promise.resolve(lines.find((line) => line.sipUsername === username)),
      listByUser: (userUuid) => Promise.resolve(lines.filter((line) => line.userUuid === userUuid)),
    };
    this.settings = {
      get: (key) => Promise.resolve(this.settingsMap.get(key)),
      set: (key, value) => {
        this.settingsMap.set(key, value);
        return Promise.resolve();
      },
    };
  }

  addUser(input: CreateUserInput): User {
    const user: User = {
      uuid: randomUUID(),
      tenantUuid: TENANT_UUID,
      username: input.username,
      email: input.email ?? null,
      firstname: input.firstname ?? '',
      lastname: input.lastname ?? '',
      createdAt: '2026-01-01T00:00:00.000Z',
    };
    this.#users.set(user.uuid, user);
    this.#passwords.set(user.uuid, input.password);
    return user;
  }

  addLine(input: CreateLineInput): Line {
    const line: Line = {
      id: this.#nextLineId++,
      userUuid: input.userUuid,
      tenantUuid: TENANT_UUID,
      extension: input.extension,
      context: 'default',
      sipUsername: input.sipUsername ?? `sip${input.extension}`,
      sipSecret: input.sipSecret ?? `secret${input.extension}`,
      webrtc: input.webrtc ?? false,
    };
    this.#lines.push(line);
    return line;
  }

  deleteUser(uuid: string): void {
    this.#users.delete(uuid);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A manual clock (epoch milliseconds). */
export class ManualClock {
  now: number;

  constructor(start = Date.UTC(2026, 4, 5, 8, 0, 0, 123)) {
    this.now = start;
  }

  readonly read = (): number => this.now;

  advance(ms: number): void {
    this.now += ms;
  }
}

/** Alice (webrtc line 1001 + desk line 1011) and Bob (1002). */
export interface Fixture {
  readonly app: FastifyInstance;
  readonly store: MemoryStore;
  readonly tokens: TokenService;
  readonly clock: ManualClock;
  readonly alice: User;
  readonly bob: User;
  readonly aliceLines: readonly Line[];
  readonly bobLine: Line;
  close(): Promise<void>;
}

export async function createFixture(
  options: Partial<Omit<TokenServiceOptions, 'store' | 'clock'>> = {},
): Promise<Fixture> {
  const store = new MemoryStore();
  const alice = store.addUser({
    username: 'alice',
    password: 'alice-pass',
    email: 'alice@example.com',
    firstname: 'Alice',
    lastname: 'Liddell',
  });
  const bob = store.addUser({ username: 'bob', password: 'bob-pass', firstname: 'Bob' });
  const aliceLines = [
    store.addLine({ userUuid: alice.uuid, extension: '1001', webrtc: true }),
    store.addLine({ userUuid: alice.uuid, extension: '1011', webrtc: false }),
  ];
  const bobLine = store.addLine({ userUuid: bob.uuid, extension: '1002', webrtc: true });
  const clock = new ManualClock();
  const tokens = await TokenService.open({ ...options, store, clock: clock.read });
  // As on the real server (src/http/servers.ts): router failures get the Wazo error shapes.
  const app = fastify({ logger: false, frameworkErrors: frameworkErrorHandler });
  await registerPlatformApi(app, {
    store,
    config: { sipDomain: 'confab.test', advertisedAddress: '127.0.0.1', httpsPort: 8443 },
    logger: silentLogger,
    tokens,
  });
  await app.ready();
  return {
    app,
    store,
    tokens,
    clock,
    alice,
    bob,
    aliceLines,
    bobLine,
    close: async () => {
      await app.close();
      await tokens.close();
    },
  };
}

/** `Authorization: Basic …` for `login:password` (UTF-8). */
export function basic(login: string, password: string): string {
  return `Basic ${Buffer.from(`${login}:${password}`, 'utf8').toString('base64')}`;
}

/** Logs in through the REST API and returns the token object. */
export async function login(
  app: FastifyInstance,
  credentials: { login: string; password: string },
  body: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/0.1/token',
    headers: { authorization: basic(credentials.login, credentials.password), ...headers },
    payload: body,
  });
  if (response.statusCode !== 200) {
    throw new Error(`login failed: ${response.statusCode} ${response.body}`);
  }
  return response.json<{ data: Record<string, unknown> }>().data;
}

export const ALICE = { login: 'alice', password: 'alice-pass' } as const;
export const BOB = { login: 'bob', password: 'bob-pass' } as const;
