/**
 * The Kysely implementation of {@link Store}. Dialect-neutral: it receives a ready `Kysely`
 * instance and a function that recognises unique-constraint violations of that dialect.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { InvalidStateError } from '@confab/core';
import type { Kysely, Selectable } from 'kysely';
import { StoreError, StoreErrorCode } from '../errors.js';
import { burnPasswordVerification, hashPassword, verifyPasswordHash } from './password.js';
import type { Database, LinesTable, UsersTable } from './schema.js';
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
} from './types.js';

/**
 * Tells which unique column a driver error violated (`users.username`, …), or `undefined` if the
 * error is not a unique violation.
 */
export type UniqueViolationDetector = (err: unknown) => string | undefined;

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const GENERATED_SIP_USERNAME_LENGTH = 8;
const GENERATED_SIP_SECRET_LENGTH = 20;
/** Generated SIP usernames collide with probability ~n²/36⁸; retry a few times, then give up. */
const GENERATION_ATTEMPTS = 5;

/** A random string over `alphabet` from a CSPRNG, without modulo bias. */
export function randomString(length: number, alphabet: string = ALNUM): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out += alphabet.charAt(randomInt(alphabet.length));
  }
  return out;
}

// Bounded, linear-time patterns (no nested quantifiers).
const USERNAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,189}$/;
/** Dialable digits plus `*` and `#` (feature codes). */
const EXTENSION_RE = /^[0-9*#]{1,40}$/;
/** RFC 3261 §25.1 `user` unreserved characters, minus escapes, bounded. */
const SIP_USERNAME_RE = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,64}$/;
const MAX_NAME_LENGTH = 128;
const MAX_PASSWORD_LENGTH = 1024;
const MAX_SECRET_LENGTH = 128;

function invalid(field: string, message: string): StoreError {
  return new StoreError(StoreErrorCode.Invalid, message, { field });
}

/** Unique columns → [input field, label in messages]. */
const UNIQUE_COLUMNS: Readonly<Record<string, readonly [field: string, label: string]>> = {
  'users.username': ['username', 'username'],
  'users.email': ['email', 'email'],
  'lines.extension': ['extension', 'extension'],
  'lines.sip_username': ['sipUsername', 'SIP username'],
};

function toUser(row: Omit<Selectable<UsersTable>, 'password_hash'>): User {
  return {
    uuid: row.uuid,
    tenantUuid: row.tenant_uuid,
    username: row.username,
    email: row.email,
    firstname: row.firstname,
    lastname: row.lastname,
    createdAt: row.created_at,
  };
}

function toLine(row: Selectable<LinesTable>): Line {
  return {
    id: Number(row.id),
    userUuid: row.user_uuid,
    tenantUuid: row.tenant_uuid,
    extension: row.extension,
    context: row.context,
    sipUsername: row.sip_username,
    sipSecret: row.sip_secret,
    webrtc: Number(row.webrtc) !== 0,
  };
}

const USER_COLUMNS = [
  'uuid',
  'tenant_uuid',
  'username',
  'email',
  'firstname',
  'lastname',
  'created_at',
] as const;

/** Shared state of the repositories: the database handle and the closed flag. */
interface StoreContext {
  readonly db: Kysely<Database>;
  readonly tenant: Tenant;
  /** Throws `InvalidStateError` once the store is closed. */
  assertOpen(): void;
  /** Runs an insert, mapping a unique violation to `STORE_CONFLICT` naming the value. */
  insert<T>(values: Readonly<Record<string, string>>, run: () => Promise<T>): Promise<T>;
}

class UserRepositoryImpl implements UserRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: CreateUserInput): Promise<User> {
    this.#ctx.assertOpen();
    const username = input.username.trim();
    if (!USERNAME_RE.test(username)) {
      throw invalid(
        'username',
        `Invalid username "${username.slice(0, 64)}": use 1–128 letters, digits or . _ @ + -, starting with a letter or digit`,
      );
    }
    if (input.password.length === 0 || input.password.length > MAX_PASSWORD_LENGTH) {
      throw invalid(
        'password',
        `Invalid password: it must have 1–${MAX_PASSWORD_LENGTH} characters`,
      );
    }
    const email =
      input.email === undefined || input.email.trim() === '' ? null : input.email.trim();
    if (email !== null && !EMAIL_RE.test(email)) {
      throw invalid('email', `Invalid email "${email.slice(0, 64)}"`);
    }
    const firstname = (input.firstname ?? '').trim();
    const lastname = (input.lastname ?? '').trim();
    if (firstname.length > MAX_NAME_LENGTH || lastname.length > MAX_NAME_LENGTH) {
      throw invalid(
        'firstname',
        `Invalid name: first and last names have at most ${MAX_NAME_LENGTH} characters`,
      );
    }
    const row = {
      uuid: randomUUID(),
      tenant_uuid: this.#ctx.tenant.uuid,
      username,
      email,
      firstname,
      lastname,
      password_hash: await hashPassword(input.password),
      created_at: new Date().toISOString(),
    };
    this.#ctx.assertOpen();
    const values: Record<string, string> = { 'users.username': username };
    if (email !== null) {
      values['users.email'] = email;
    }
    await this.#ctx.insert(values, () => this.#ctx.db.insertInto('users').values(row).execute());
    return toUser(row);
  }

  async list(): Promise<User[]> {
    this.#ctx.assertOpen();
    const rows = await this.#ctx.db
      .selectFrom('users')
      .select(USER_COLUMNS)
      .orderBy('username')
      .execute();
    return rows.map(toUser);
  }

  async findByUuid(uuid: string): Promise<User | undefined> {
    this.#ctx.assertOpen();
    const row = await this.#ctx.db
      .selectFrom('users')
      .select(USER_COLUMNS)
      .where('uuid', '=', uuid)
      .executeTakeFirst();
    return row && toUser(row);
  }

  async findByLogin(login: string): Promise<User | undefined> {
    const row = await this.#findRowByLogin(login);
    return row && toUser(row);
  }

  async verifyPassword(login: string, password: string): Promise<User | undefined> {
    const row = await this.#findRowByLogin(login);
    if (!row) {
      await burnPasswordVerification(password);
      return undefined;
    }
    return (await verifyPasswordHash(password, row.password_hash)) ? toUser(row) : undefined;
  }

  async remove(username: string): Promise<boolean> {
    this.#ctx.assertOpen();
    return this.#ctx.db.transaction().execute(async (trx) => {
      const user = await trx
        .selectFrom('users')
        .select('uuid')
        .where('username', '=', username)
        .executeTakeFirst();
      if (!user) {
        return false;
      }
      // Explicit, so the cascade holds even where foreign keys are not enforced.
      await trx.deleteFrom('lines').where('user_uuid', '=', user.uuid).execute();
      await trx.deleteFrom('users').where('uuid', '=', user.uuid).execute();
      return true;
    });
  }

  async count(): Promise<number> {
    this.#ctx.assertOpen();
    const row = await this.#ctx.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async #findRowByLogin(login: string): Promise<Selectable<UsersTable> | undefined> {
    this.#ctx.assertOpen();
    const byUsername = await this.#ctx.db
      .selectFrom('users')
      .selectAll()
      .where('username', '=', login)
      .executeTakeFirst();
    if (byUsername) {
      return byUsername;
    }
    return this.#ctx.db
      .selectFrom('users')
      .selectAll()
      .where('email', '=', login)
      .executeTakeFirst();
  }
}

class LineRepositoryImpl implements LineRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async create(input: CreateLineInput): Promise<Line> {
    this.#ctx.assertOpen();
    const extension = input.extension.trim();
    if (!EXTENSION_RE.test(extension)) {
      throw invalid(
        'extension',
        `Invalid extension "${extension.slice(0, 40)}": use 1–40 digits, * or #`,
      );
    }
    if (input.sipUsername !== undefined && !SIP_USERNAME_RE.test(input.sipUsername)) {
      throw invalid(
        'sipUsername',
        `Invalid SIP username "${input.sipUsername.slice(0, 64)}": use 1–64 letters, digits or SIP-safe punctuation`,
      );
    }
    if (
      input.sipSecret !== undefined &&
      (input.sipSecret.length === 0 || input.sipSecret.length > MAX_SECRET_LENGTH)
    ) {
      throw invalid(
        'sipSecret',
        `Invalid SIP secret: it must have 1–${MAX_SECRET_LENGTH} characters`,
      );
    }
    const user = await this.#ctx.db
      .selectFrom('users')
      .select(['uuid', 'tenant_uuid'])
      .where('uuid', '=', input.userUuid)
      .executeTakeFirst();
    if (!user) {
      throw new StoreError(StoreErrorCode.NotFound, `No user with uuid ${input.userUuid}`, {
        field: 'userUuid',
      });
    }

    const attempts = input.sipUsername === undefined ? GENERATION_ATTEMPTS : 1;
    for (let attempt = 1; ; attempt++) {
      const sipUsername =
        input.sipUsername ?? randomString(GENERATED_SIP_USERNAME_LENGTH, LOWER_ALNUM);
      const row = {
        user_uuid: user.uuid,
        tenant_uuid: user.tenant_uuid,
        extension,
        context: 'default',
        sip_username: sipUsername,
        sip_secret: input.sipSecret ?? randomString(GENERATED_SIP_SECRET_LENGTH),
        webrtc: input.webrtc === true ? 1 : 0,
      };
      try {
        const inserted = await this.#ctx.insert(
          { 'lines.extension': extension, 'lines.sip_username': sipUsername },
          () =>
            this.#ctx.db.insertInto('lines').values(row).returning('id').executeTakeFirstOrThrow(),
        );
        return toLine({ ...row, id: inserted.id });
      } catch (err) {
        const generatedNameTaken =
          err instanceof StoreError &&
          err.code === StoreErrorCode.Conflict &&
          err.field === 'sipUsername';
        if (!generatedNameTaken || attempt >= attempts) {
          throw err;
        }
      }
    }
  }

  async findByExtension(extension: string): Promise<Line | undefined> {
    this.#ctx.assertOpen();
    const row = await this.#ctx.db
      .selectFrom('lines')
      .selectAll()
      .where('extension', '=', extension)
      .executeTakeFirst();
    return row && toLine(row);
  }

  async findBySipUsername(username: string): Promise<Line | undefined> {
    this.#ctx.assertOpen();
    const row = await this.#ctx.db
      .selectFrom('lines')
      .selectAll()
      .where('sip_username', '=', username)
      .executeTakeFirst();
    return row && toLine(row);
  }

  async listByUser(userUuid: string): Promise<Line[]> {
    this.#ctx.assertOpen();
    const rows = await this.#ctx.db
      .selectFrom('lines')
      .selectAll()
      .where('user_uuid', '=', userUuid)
      .orderBy('id')
      .execute();
    return rows.map(toLine);
  }
}

class SettingsRepositoryImpl implements SettingsRepository {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  async get(key: string): Promise<string | undefined> {
    this.#ctx.assertOpen();
    const row = await this.#ctx.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  }

  async set(key: string, value: string): Promise<void> {
    this.#ctx.assertOpen();
    // INSERT … ON CONFLICT DO UPDATE exists in both SQLite (≥ 3.24) and PostgreSQL.
    await this.#ctx.db
      .insertInto('settings')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }
}

/** A {@link Store} over an open, migrated Kysely database. */
export class KyselyStore implements Store {
  readonly tenant: Tenant;
  readonly users: UserRepository;
  readonly lines: LineRepository;
  readonly settings: SettingsRepository;
  readonly #db: Kysely<Database>;
  #closing: Promise<void> | undefined;

  constructor(
    db: Kysely<Database>,
    tenant: Tenant,
    detectUniqueViolation: UniqueViolationDetector,
  ) {
    this.#db = db;
    this.tenant = tenant;
    const ctx: StoreContext = {
      db,
      tenant,
      assertOpen: () => {
        if (this.#closing) {
          throw InvalidStateError.closed('Store');
        }
      },
      insert: async (values, run) => {
        try {
          return await run();
        } catch (err) {
          const column = detectUniqueViolation(err);
          if (column === undefined) {
            throw err;
          }
          const [field, label] = UNIQUE_COLUMNS[column] ?? [column, column];
          const value = values[column];
          const what = value === undefined ? label : `${label} "${value}"`;
          throw new StoreError(
            StoreErrorCode.Conflict,
            `${what.charAt(0).toUpperCase()}${what.slice(1)} is already taken`,
            { cause: err, field },
          );
        }
      },
    };
    this.users = new UserRepositoryImpl(ctx);
    this.lines = new LineRepositoryImpl(ctx);
    this.settings = new SettingsRepositoryImpl(ctx);
  }

  close(): Promise<void> {
    this.#closing ??= this.#db.destroy();
    return this.#closing;
  }
}
