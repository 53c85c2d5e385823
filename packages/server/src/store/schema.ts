/**
 * Kysely table types of the store. Column names are snake_case (portable to PostgreSQL without
 * quoting); the repositories map rows to the camelCase domain types of `./types.ts`.
 */
import type { Generated } from 'kysely';

export interface TenantsTable {
  uuid: string;
  name: string;
}

export interface UsersTable {
  uuid: string;
  tenant_uuid: string;
  username: string;
  email: string | null;
  firstname: string;
  lastname: string;
  /** `scrypt$N$r$p$salt$hash`, see `./password.ts`. */
  password_hash: string;
  created_at: string;
}

export interface LinesTable {
  id: Generated<number>;
  user_uuid: string;
  tenant_uuid: string;
  extension: string;
  context: string;
  sip_username: string;
  sip_secret: string;
  /** 0 or 1: an integer rather than a boolean, because SQLite has no boolean binding. */
  webrtc: number;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface Database {
  tenants: TenantsTable;
  users: UsersTable;
  lines: LinesTable;
  settings: SettingsTable;
}
