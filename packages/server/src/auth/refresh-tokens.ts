/**
 * Refresh tokens (wazo-auth `access_type: offline`, spec §3.1 and §3.4): at most one per
 * (user, client_id), kept in memory and persisted as one JSON document in the store's settings so
 * that offline logins (mobile apps, "remember me") survive a server restart.
 *
 * The document holds the tokens in clear, as Wazo's own database does: a desktop offline login
 * must return the *same* refresh token again, so a one-way hash cannot be stored.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '@confab/core';
import type { SettingsRepository } from '../store/types.js';

/** The settings key of the persisted document. */
export const REFRESH_TOKENS_SETTING = 'auth_refresh_tokens';

/** One refresh token. */
export interface RefreshTokenRecord {
  /** Internal id; never sent to clients. */
  readonly uuid: string;
  /** The secret a client presents as `refresh_token`. */
  readonly token: string;
  readonly clientId: string;
  readonly userUuid: string;
  readonly tenantUuid: string;
  /** Created by a login with `Wazo-Session-Type: mobile`. */
  readonly mobile: boolean;
  /** Epoch milliseconds. */
  readonly createdAt: number;
}

const persistedSchema = z.object({
  version: z.literal(1),
  items: z.array(
    z.object({
      uuid: z.string().min(1),
      token: z.string().min(1),
      client_id: z.string().min(1).max(1024),
      user_uuid: z.string().min(1),
      tenant_uuid: z.string().min(1),
      mobile: z.boolean(),
      created_at: z.number().finite(),
    }),
  ),
});

/** In-memory index of refresh tokens with write-behind persistence. */
export class RefreshTokenRegistry {
  readonly #settings: SettingsRepository;
  readonly #logger: Logger;
  readonly #byToken = new Map<string, RefreshTokenRecord>();
  readonly #byUser = new Map<string, Map<string, RefreshTokenRecord>>();
  #writes: Promise<void> = Promise.resolve();

  private constructor(settings: SettingsRepository, logger: Logger) {
    this.#settings = settings;
    this.#logger = logger;
  }

  /** Loads the persisted tokens. A corrupt document is logged and ignored (users log in again). */
  static async load(settings: SettingsRepository, logger: Logger): Promise<RefreshTokenRegistry> {
    const registry = new RefreshTokenRegistry(settings, logger);
    const raw = await settings.get(REFRESH_TOKENS_SETTING);
    if (raw === undefined) {
      return registry;
    }
    let parsed: z.infer<typeof persistedSchema>;
    try {
      parsed = persistedSchema.parse(JSON.parse(raw));
    } catch (error) {
      logger.warn({ err: error }, 'ignoring unreadable persisted refresh tokens');
      return registry;
    }
    for (const item of parsed.items) {
      if (registry.find(item.user_uuid, item.client_id) !== undefined) {
        continue;
      }
      registry.#index({
        uuid: item.uuid,
        token: item.token,
        clientId: item.client_id,
        userUuid: item.user_uuid,
        tenantUuid: item.tenant_uuid,
        mobile: item.mobile,
        createdAt: item.created_at,
      });
    }
    return registry;
  }

  get size(): number {
    return this.#byToken.size;
  }

  findByToken(token: string): RefreshTokenRecord | undefined {
    return this.#byToken.get(token);
  }

  find(userUuid: string, clientId: string): RefreshTokenRecord | undefined {
    return this.#byUser.get(userUuid)?.get(clientId);
  }

  /** The user's refresh tokens, oldest first. */
  listByUser(userUuid: string): RefreshTokenRecord[] {
    const tokens = [...(this.#byUser.get(userUuid)?.values() ?? [])];
    return tokens.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Creates a refresh token; the caller has checked that (user, client_id) is free. */
  create(
    fields: Pick<RefreshTokenRecord, 'clientId' | 'userUuid' | 'tenantUuid' | 'mobile'>,
    now: number,
  ): RefreshTokenRecord {
    const record: RefreshTokenRecord = Object.freeze({
      ...fields,
      uuid: randomUUID(),
      token: randomUUID(),
      createdAt: now,
    });
    this.#index(record);
    return record;
  }

  /** Removes a refresh token; returns whether it was present. */
  delete(record: RefreshTokenRecord): boolean {
    if (this.#byToken.get(record.token) !== record) {
      return false;
    }
    this.#byToken.delete(record.token);
    const perUser = this.#byUser.get(record.userUuid);
    perUser?.delete(record.clientId);
    if (perUser?.size === 0) {
      this.#byUser.delete(record.userUuid);
    }
    return true;
  }

  /**
   * Writes the current set to the store. Writes are serialized, so the last one wins with the
   * latest state; a failed write is logged (the in-memory state stays authoritative).
   */
  persist(): Promise<void> {
    const snapshot = JSON.stringify({
      version: 1,
      items: [...this.#byToken.values()].map((record) => ({
        uuid: record.uuid,
        token: record.token,
        client_id: record.clientId,
        user_uuid: record.userUuid,
        tenant_uuid: record.tenantUuid,
        mobile: record.mobile,
        created_at: record.createdAt,
      })),
    });
    this.#writes = this.#writes
      .then(() => this.#settings.set(REFRESH_TOKENS_SETTING, snapshot))
      .catch((error: unknown) => {
        this.#logger.error({ err: error }, 'could not persist refresh tokens');
      });
    return this.#writes;
  }

  /** Resolves once every queued write has settled. */
  flush(): Promise<void> {
    return this.#writes;
  }

  #index(record: RefreshTokenRecord): void {
    this.#byToken.set(record.token, record);
    let perUser = this.#byUser.get(record.userUuid);
    if (perUser === undefined) {
      perUser = new Map();
      this.#byUser.set(record.userUuid, perUser);
    }
    perUser.set(record.clientId, record);
  }
}
