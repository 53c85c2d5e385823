/**
 * The persistence contract of the server: tenants, users, lines and small settings.
 *
 * One implementation exists today (SQLite through Kysely, see `./index.ts`); the migrations are
 * written with Kysely's schema builder only, so a PostgreSQL dialect can run the same set.
 * Every method of a closed store rejects with `InvalidStateError`. Input mistakes reject with a
 * `StoreError` (`STORE_CONFLICT`, `STORE_NOT_FOUND`, `STORE_INVALID`).
 */

/** A tenant. Confab runs one default tenant, created by the first migration. */
export interface Tenant {
  uuid: string;
  name: string;
}

/** A user account. The password hash never leaves the store. */
export interface User {
  uuid: string;
  tenantUuid: string;
  username: string;
  email: string | null;
  firstname: string;
  lastname: string;
  /** ISO 8601 UTC timestamp. */
  createdAt: string;
}

/** A line: an extension with its SIP credentials, owned by one user. */
export interface Line {
  id: number;
  userUuid: string;
  tenantUuid: string;
  /** Dialable number, e.g. `1001`. Unique. */
  extension: string;
  /** Dial plan context; always `'default'` for now. */
  context: string;
  /** Digest username of the line's SIP account. Unique. */
  sipUsername: string;
  sipSecret: string;
  /** Whether the line is meant for a browser (SIP over WebSocket + DTLS-SRTP). */
  webrtc: boolean;
}

/** Input of {@link Store.users}`.create`. */
export interface CreateUserInput {
  username: string;
  password: string;
  firstname?: string;
  lastname?: string;
  email?: string;
}

/** Input of {@link Store.lines}`.create`. */
export interface CreateLineInput {
  userUuid: string;
  extension: string;
  /** @default false */
  webrtc?: boolean;
  /** @default 8 random lowercase alphanumerics */
  sipUsername?: string;
  /** @default 20 random alphanumerics */
  sipSecret?: string;
}

export interface UserRepository {
  /** Creates a user; rejects with `STORE_CONFLICT` if the username or email is taken. */
  create(input: CreateUserInput): Promise<User>;
  /** Every user, ordered by username. */
  list(): Promise<User[]>;
  findByUuid(uuid: string): Promise<User | undefined>;
  /** Finds a user by username or, failing that, by email. */
  findByLogin(login: string): Promise<User | undefined>;
  /**
   * Returns the user if `password` is theirs. The comparison is constant-time, and an unknown
   * login costs the same scrypt work as a known one.
   */
  verifyPassword(login: string, password: string): Promise<User | undefined>;
  /** Deletes a user and their lines; resolves `false` if there was no such user. */
  remove(username: string): Promise<boolean>;
  count(): Promise<number>;
}

export interface LineRepository {
  /**
   * Creates a line for an existing user (`STORE_NOT_FOUND` otherwise); rejects with
   * `STORE_CONFLICT` if the extension or SIP username is taken.
   */
  create(input: CreateLineInput): Promise<Line>;
  findByExtension(extension: string): Promise<Line | undefined>;
  findBySipUsername(username: string): Promise<Line | undefined>;
  /** The user's lines, ordered by id. */
  listByUser(userUuid: string): Promise<Line[]>;
}

/** Generic key/value for small server state (e.g. the stack uuid). */
export interface SettingsRepository {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

export interface Store {
  /** The single default tenant, created by the first migration. */
  readonly tenant: Tenant;
  readonly users: UserRepository;
  readonly lines: LineRepository;
  readonly settings: SettingsRepository;
  /** Closes the database. Idempotent. */
  close(): Promise<void>;
}

/**
 * Where the store lives: a data directory (SQLite file `<dataDir>/confab.db`) or a URL
 * (`sqlite:<path>`, `sqlite::memory:`; `postgres://…` is not supported yet).
 */
export type StoreOptions = { dataDir: string } | { url: string };
