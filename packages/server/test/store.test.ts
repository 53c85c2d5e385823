import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isInvalidStateError } from '@confab/core';
import { StoreError } from '../src/errors.js';
import { openStore, type Store } from '../src/store/index.js';
import { hashPassword, verifyPasswordHash } from '../src/store/password.js';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'confab-store-'));
  store = await openStore({ dataDir: join(dir, 'data') });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function expectStoreError(promise: Promise<unknown>, code: string, field?: string) {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).code).toBe(code);
  if (field !== undefined) {
    expect((err as StoreError).field).toBe(field);
  }
  return err as StoreError;
}

describe('openStore', () => {
  it('creates <dataDir>/confab.db and the default tenant', () => {
    expect(existsSync(join(dir, 'data', 'confab.db'))).toBe(true);
    expect(store.tenant.name).toBe('default');
    expect(store.tenant.uuid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps data and the tenant across reopenings (migrations run once)', async () => {
    const user = await store.users.create({ username: 'alice', password: 'pw' });
    const tenant = store.tenant;
    await store.close();
    store = await openStore({ dataDir: join(dir, 'data') });
    expect(store.tenant).toEqual(tenant);
    expect(await store.users.findByUuid(user.uuid)).toEqual(user);
  });

  it('opens an in-memory database from a sqlite::memory: URL', async () => {
    const memory = await openStore({ url: 'sqlite::memory:' });
    try {
      expect(await memory.users.count()).toBe(0);
    } finally {
      await memory.close();
    }
  });

  it('rejects a postgres URL with UnsupportedError', async () => {
    await expect(openStore({ url: 'postgres://localhost/confab' })).rejects.toMatchObject({
      code: 'UNSUPPORTED',
    });
  });

  it('rejects an unknown URL scheme with STORE_OPEN_FAILED', async () => {
    await expectStoreError(openStore({ url: 'mysql://x' }), 'STORE_OPEN_FAILED');
  });

  it('rejects a data directory that is a file with STORE_OPEN_FAILED', async () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const err = await expectStoreError(openStore({ dataDir: file }), 'STORE_OPEN_FAILED');
    expect(err.message).toContain(file);
  });

  it('rejects every operation after close with InvalidStateError, and close is idempotent', async () => {
    await store.close();
    await store.close();
    const err: unknown = await store.users.count().catch((e: unknown) => e);
    expect(isInvalidStateError(err)).toBe(true);
    await expect(store.settings.get('x')).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });
});

describe('users', () => {
  it('creates a user with trimmed names and lists users by username', async () => {
    const bob = await store.users.create({
      username: 'bob',
      password: 'secret',
      firstname: ' Bob ',
      lastname: 'Martin',
      email: 'bob@example.org',
    });
    const alice = await store.users.create({ username: 'alice', password: 'secret' });
    expect(bob).toMatchObject({
      username: 'bob',
      firstname: 'Bob',
      lastname: 'Martin',
      email: 'bob@example.org',
      tenantUuid: store.tenant.uuid,
    });
    expect(alice.email).toBeNull();
    expect(alice.firstname).toBe('');
    expect(new Date(alice.createdAt).toISOString()).toBe(alice.createdAt);
    expect((await store.users.list()).map((u) => u.username)).toEqual(['alice', 'bob']);
    expect(await store.users.count()).toBe(2);
    expect(await store.users.findByUuid(bob.uuid)).toEqual(bob);
    expect(await store.users.findByUuid('nope')).toBeUndefined();
  });

  it('never exposes the password hash', async () => {
    const user = await store.users.create({ username: 'alice', password: 'secret' });
    expect(Object.keys(user)).not.toContain('password_hash');
    expect(JSON.stringify(await store.users.list())).not.toContain('scrypt');
    expect(JSON.stringify(await store.users.findByLogin('alice'))).not.toContain('scrypt');
  });

  it('finds a user by username or by email', async () => {
    const user = await store.users.create({ username: 'carol', password: 'pw', email: 'c@x.io' });
    expect(await store.users.findByLogin('carol')).toEqual(user);
    expect(await store.users.findByLogin('c@x.io')).toEqual(user);
    expect(await store.users.findByLogin('dave')).toBeUndefined();
  });

  it('rejects a duplicate username with STORE_CONFLICT naming the username', async () => {
    await store.users.create({ username: 'alice', password: 'a' });
    const err = await expectStoreError(
      store.users.create({ username: 'alice', password: 'b' }),
      'STORE_CONFLICT',
      'username',
    );
    expect(err.message).toBe('Username "alice" is already taken');
  });

  it('rejects a duplicate email with STORE_CONFLICT naming the email', async () => {
    await store.users.create({ username: 'a', password: 'a', email: 'same@x.io' });
    const err = await expectStoreError(
      store.users.create({ username: 'b', password: 'b', email: 'same@x.io' }),
      'STORE_CONFLICT',
      'email',
    );
    expect(err.message).toContain('same@x.io');
  });

  it('allows many users without an email (NULL is not a duplicate)', async () => {
    await store.users.create({ username: 'a', password: 'a' });
    await store.users.create({ username: 'b', password: 'b', email: '' });
    expect(await store.users.count()).toBe(2);
  });

  it.each([
    ['an empty username', { username: '', password: 'x' }, 'username'],
    ['a username with spaces', { username: 'a b', password: 'x' }, 'username'],
    ['an empty password', { username: 'a', password: '' }, 'password'],
    ['a malformed email', { username: 'a', password: 'x', email: 'no-at-sign' }, 'email'],
  ])('rejects %s with STORE_INVALID', async (_label, input, field) => {
    await expectStoreError(store.users.create(input), 'STORE_INVALID', field);
  });

  it('verifies the right password and refuses a wrong one or an unknown login', async () => {
    const user = await store.users.create({
      username: 'alice',
      password: 'correct horse',
      email: 'a@x.io',
    });
    expect(await store.users.verifyPassword('alice', 'correct horse')).toEqual(user);
    expect(await store.users.verifyPassword('a@x.io', 'correct horse')).toEqual(user);
    expect(await store.users.verifyPassword('alice', 'correct horsE')).toBeUndefined();
    expect(await store.users.verifyPassword('alice', '')).toBeUndefined();
    expect(await store.users.verifyPassword('nobody', 'correct horse')).toBeUndefined();
  });

  it('removes a user and cascades to their lines', async () => {
    const user = await store.users.create({ username: 'alice', password: 'a' });
    await store.lines.create({ userUuid: user.uuid, extension: '1001' });
    await store.lines.create({ userUuid: user.uuid, extension: '1011' });
    expect(await store.users.remove('alice')).toBe(true);
    expect(await store.users.findByUuid(user.uuid)).toBeUndefined();
    expect(await store.lines.findByExtension('1001')).toBeUndefined();
    expect(await store.lines.listByUser(user.uuid)).toEqual([]);
    expect(await store.users.remove('alice')).toBe(false);
    // The extension is free again.
    const other = await store.users.create({ username: 'bob', password: 'b' });
    await expect(
      store.lines.create({ userUuid: other.uuid, extension: '1001' }),
    ).resolves.toMatchObject({
      extension: '1001',
    });
  });
});

describe('lines', () => {
  it('creates a line with generated SIP credentials', async () => {
    const user = await store.users.create({ username: 'alice', password: 'a' });
    const line = await store.lines.create({ userUuid: user.uuid, extension: '1001', webrtc: true });
    expect(line).toMatchObject({
      userUuid: user.uuid,
      tenantUuid: store.tenant.uuid,
      extension: '1001',
      context: 'default',
      webrtc: true,
    });
    expect(line.id).toBeGreaterThan(0);
    expect(line.sipUsername).toMatch(/^[a-z0-9]{8}$/);
    expect(line.sipSecret.length).toBeGreaterThanOrEqual(16);
    expect(await store.lines.findByExtension('1001')).toEqual(line);
    expect(await store.lines.findBySipUsername(line.sipUsername)).toEqual(line);
    expect(await store.lines.listByUser(user.uuid)).toEqual([line]);
  });

  it('keeps given SIP credentials and defaults webrtc to false', async () => {
    const user = await store.users.create({ username: 'alice', password: 'a' });
    const line = await store.lines.create({
      userUuid: user.uuid,
      extension: '*99',
      sipUsername: 'alice-desk',
      sipSecret: 's3cret',
    });
    expect(line).toMatchObject({ sipUsername: 'alice-desk', sipSecret: 's3cret', webrtc: false });
  });

  it('gives every line distinct generated credentials', async () => {
    const user = await store.users.create({ username: 'alice', password: 'a' });
    const a = await store.lines.create({ userUuid: user.uuid, extension: '1' });
    const b = await store.lines.create({ userUuid: user.uuid, extension: '2' });
    expect(a.sipUsername).not.toBe(b.sipUsername);
    expect(a.sipSecret).not.toBe(b.sipSecret);
    expect((await store.lines.listByUser(user.uuid)).map((l) => l.extension)).toEqual(['1', '2']);
  });

  it('rejects a duplicate extension with STORE_CONFLICT naming the extension', async () => {
    const user = await store.users.create({ username: 'alice', password: 'a' });
    await store.lines.create({ userUuid: user.uuid, extension: '1001' });
    const err = await expectStoreError(
      store.lines.create({ userUuid: user.uuid, extension: '1001' }),
      'STORE_CONFLICT',
      'extension',
    );
    expect(err.message).toBe('Extension "1001" is already taken');
  });

  it('rejects a duplicate SIP username with STORE_CONFLICT', async () => {
    const user = await store.users.create({ username: 'alice', password: 'a' });
    await store.lines.create({ userUuid: user.uuid, extension: '1', sipUsername: 'dup' });
    const err = await expectStoreError(
      store.lines.create({ userUuid: user.uuid, extension: '2', sipUsername: 'dup' }),
      'STORE_CONFLICT',
      'sipUsername',
    );
    expect(err.message).toBe('SIP username "dup" is already taken');
  });

  it('rejects a line for an unknown user with STORE_NOT_FOUND', async () => {
    await expectStoreError(
      store.lines.create({ userUuid: '00000000-0000-0000-0000-000000000000', extension: '1' }),
      'STORE_NOT_FOUND',
      'userUuid',
    );
  });

  it.each([
    ['a non-numeric extension', { extension: 'abc' }, 'extension'],
    ['an empty extension', { extension: '' }, 'extension'],
    ['a SIP username with "@"', { extension: '1', sipUsername: 'a@b' }, 'sipUsername'],
    ['an empty SIP secret', { extension: '1', sipSecret: '' }, 'sipSecret'],
  ])('rejects %s with STORE_INVALID', async (_label, input, field) => {
    const user = await store.users.create({ username: 'alice', password: 'a' });
    await expectStoreError(
      store.lines.create({ userUuid: user.uuid, ...input }),
      'STORE_INVALID',
      field,
    );
  });
});

describe('settings', () => {
  it('returns undefined for a missing key, then the last value set', async () => {
    expect(await store.settings.get('stack_uuid')).toBeUndefined();
    await store.settings.set('stack_uuid', 'one');
    await store.settings.set('stack_uuid', 'two');
    expect(await store.settings.get('stack_uuid')).toBe('two');
  });
});

describe('password hashing', () => {
  it('encodes scrypt$N$r$p$salt$hash with a per-hash salt', async () => {
    const a = await hashPassword('pw');
    const b = await hashPassword('pw');
    expect(a).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPasswordHash('pw', a)).toBe(true);
    expect(await verifyPasswordHash('pw!', a)).toBe(false);
  });

  it.each([
    ['an unknown scheme', 'bcrypt$2$x'],
    ['a cost that is not a power of two', 'scrypt$1000$8$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA=='],
    ['an absurd cost', 'scrypt$1073741824$8$1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA=='],
    ['a truncated hash', 'scrypt$16384$8$1$c2FsdA=='],
  ])('never matches %s', async (_label, encoded) => {
    expect(await verifyPasswordHash('pw', encoded)).toBe(false);
  });
});
