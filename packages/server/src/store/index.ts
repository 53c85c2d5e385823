/**
 * Opening the store: SQLite (better-sqlite3) through Kysely, migrated to the latest schema.
 *
 * PostgreSQL URLs are recognised but rejected with `UnsupportedError` for now: the migrations are
 * portable, only the dialect wiring (and a `pg` dependency) is missing.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UnsupportedError } from '@confab/core';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { StoreError, StoreErrorCode } from '../errors.js';
import { DEFAULT_TENANT_NAME, migrationProvider } from './migrations.js';
import type { Database } from './schema.js';
import { KyselyStore, type UniqueViolationDetector } from './store.js';
import type { Store, StoreOptions } from './types.js';

export type {
  CreateLineInput,
  CreateUserInput,
  Line,
  LineRepository,
  SettingsRepository,
  Store,
  StoreOptions,
  Tenant,
  User,
  UserRepository,
} from './types.js';

/** File name of the SQLite database inside the data directory. */
export const SQLITE_FILE_NAME = 'confab.db';

/** SQLite reports `UNIQUE constraint failed: users.username` with extended code SQLITE_CONSTRAINT_UNIQUE. */
const detectSqliteUniqueViolation: UniqueViolationDetector = (err) => {
  if (!(err instanceof SqliteDatabase.SqliteError) || err.code !== 'SQLITE_CONSTRAINT_UNIQUE') {
    return undefined;
  }
  const match = /UNIQUE constraint failed: ([a-z_]+\.[a-z_]+)/.exec(err.message);
  return match?.[1] ?? 'unique';
};

function sqlitePathFromUrl(url: string): string | undefined {
  // `sqlite:relative/or/absolute/path.db`, `sqlite:///abs/path.db`, `sqlite::memory:`
  if (!url.startsWith('sqlite:')) {
    return undefined;
  }
  const rest = url.slice('sqlite:'.length);
  if (rest === ':memory:') {
    return ':memory:';
  }
  return rest.startsWith('//') ? rest.slice(2) : rest;
}

function openSqlite(path: string): SqliteDatabase.Database {
  try {
    const db = new SqliteDatabase(path);
    // WAL: readers do not block the writer (the CLI may read while the server runs).
    if (path !== ':memory:') {
      db.pragma('journal_mode = WAL');
    }
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new StoreError(StoreErrorCode.OpenFailed, `Cannot open database ${path}: ${reason}`, {
      cause: err,
    });
  }
}

/**
 * Opens (creating if needed) and migrates the store.
 *
 * - `{ dataDir }`: SQLite file `<dataDir>/confab.db`; the directory is created if missing.
 * - `{ url: 'sqlite:<path>' }` or `'sqlite::memory:'`: SQLite at that path.
 * - `{ url: 'postgres://…' }`: rejects with `UnsupportedError` (not implemented yet).
 *
 * Rejects with `StoreError` `STORE_OPEN_FAILED` when the file cannot be created, opened or migrated.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  let path: string;
  if ('dataDir' in options) {
    const dir = resolve(options.dataDir);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new StoreError(
        StoreErrorCode.OpenFailed,
        `Cannot create data directory ${dir}: ${reason}`,
        { cause: err },
      );
    }
    path = join(dir, SQLITE_FILE_NAME);
  } else {
    const url = options.url;
    if (/^postgres(ql)?:/i.test(url)) {
      throw new UnsupportedError(
        'PostgreSQL storage is not supported yet: use a data directory (SQLite) for now',
      );
    }
    const sqlitePath = sqlitePathFromUrl(url);
    if (sqlitePath === undefined || sqlitePath === '') {
      throw new StoreError(
        StoreErrorCode.OpenFailed,
        `Unsupported store URL "${url.slice(0, 100)}": expected sqlite:<path> or sqlite::memory:`,
      );
    }
    path = sqlitePath;
  }

  const sqlite = openSqlite(path);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
    if (error !== undefined) {
      throw error instanceof Error
        ? error
        : new Error(`migration failed: ${JSON.stringify(error)}`);
    }
    const tenant = await db
      .selectFrom('tenants')
      .select(['uuid', 'name'])
      .where('name', '=', DEFAULT_TENANT_NAME)
      .executeTakeFirstOrThrow();
    return new KyselyStore(db, tenant, detectSqliteUniqueViolation);
  } catch (err) {
    await db.destroy();
    const reason = err instanceof Error ? err.message : String(err);
    throw new StoreError(StoreErrorCode.OpenFailed, `Cannot migrate database ${path}: ${reason}`, {
      cause: err,
    });
  }
}
