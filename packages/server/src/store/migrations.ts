/**
 * The one migration set of the store, for SQLite today and PostgreSQL later.
 *
 * Rules that keep it portable: only Kysely's schema and query builders (no raw SQL), snake_case
 * identifiers, text timestamps in ISO 8601, integers for booleans, and the auto-increment column
 * chosen per dialect by {@link autoIncrementId}. Migrations are append-only: never edit one that
 * has shipped, add the next.
 */
import { randomUUID } from 'node:crypto';
import {
  PostgresAdapter,
  type ColumnDefinitionBuilder,
  type CreateTableBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
} from 'kysely';

/** Name of the tenant the first migration creates. */
export const DEFAULT_TENANT_NAME = 'default';

function autoIncrementId<T extends string>(
  db: Kysely<unknown>,
  table: CreateTableBuilder<T, never>,
): CreateTableBuilder<T, 'id'> {
  // SQLite: INTEGER PRIMARY KEY AUTOINCREMENT. PostgreSQL: an identity column.
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    return table.addColumn('id', 'integer', (c: ColumnDefinitionBuilder) =>
      c.primaryKey().generatedByDefaultAsIdentity(),
    );
  }
  return table.addColumn('id', 'integer', (c: ColumnDefinitionBuilder) =>
    c.primaryKey().autoIncrement(),
  );
}

const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('tenants')
      .addColumn('uuid', 'varchar(36)', (c) => c.primaryKey())
      .addColumn('name', 'varchar(128)', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('users')
      .addColumn('uuid', 'varchar(36)', (c) => c.primaryKey())
      .addColumn('tenant_uuid', 'varchar(36)', (c) =>
        c.notNull().references('tenants.uuid').onDelete('cascade'),
      )
      .addColumn('username', 'varchar(128)', (c) => c.notNull().unique())
      .addColumn('email', 'varchar(254)', (c) => c.unique())
      .addColumn('firstname', 'varchar(128)', (c) => c.notNull())
      .addColumn('lastname', 'varchar(128)', (c) => c.notNull())
      .addColumn('password_hash', 'varchar(256)', (c) => c.notNull())
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .execute();

    await autoIncrementId(db, db.schema.createTable('lines'))
      .addColumn('user_uuid', 'varchar(36)', (c) =>
        c.notNull().references('users.uuid').onDelete('cascade'),
      )
      .addColumn('tenant_uuid', 'varchar(36)', (c) =>
        c.notNull().references('tenants.uuid').onDelete('cascade'),
      )
      .addColumn('extension', 'varchar(40)', (c) => c.notNull().unique())
      .addColumn('context', 'varchar(64)', (c) => c.notNull())
      .addColumn('sip_username', 'varchar(64)', (c) => c.notNull().unique())
      .addColumn('sip_secret', 'varchar(128)', (c) => c.notNull())
      .addColumn('webrtc', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();

    await db.schema.createIndex('lines_user_uuid_idx').on('lines').column('user_uuid').execute();

    await db.schema
      .createTable('settings')
      .addColumn('key', 'varchar(128)', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();

    await (db as Kysely<{ tenants: { uuid: string; name: string } }>)
      .insertInto('tenants')
      .values({ uuid: randomUUID(), name: DEFAULT_TENANT_NAME })
      .execute();
  },
};

/** Migrations by name; names sort in application order. */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001_initial': initial,
};

/** A {@link MigrationProvider} over the in-code {@link migrations} (no files to locate at run time). */
export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...migrations }),
};
