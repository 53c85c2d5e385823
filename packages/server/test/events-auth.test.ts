import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenService } from '../src/auth/tokens.js';
import { publishSessionEvents } from '../src/events/auth-events.js';
import { InProcessEventBus, type BusMessage } from '../src/events/bus.js';
import type { User } from '../src/store/types.js';
import { ManualClock, MemoryStore, TENANT_UUID } from './api.fixtures.js';

describe('publishSessionEvents (wazo-auth bus events, spec §3.7)', () => {
  let store: MemoryStore;
  let clock: ManualClock;
  let tokens: TokenService;
  let bus: InProcessEventBus;
  let alice: User;
  let published: BusMessage[];
  let stop: () => void;

  beforeEach(async () => {
    store = new MemoryStore();
    clock = new ManualClock();
    alice = store.addUser({ username: 'alice', password: 'alice-pass' });
    tokens = await TokenService.open({ store, clock: clock.read });
    bus = new InProcessEventBus();
    published = [];
    bus.subscribe((m) => published.push(m));
    stop = publishSessionEvents(tokens, bus);
  });

  afterEach(async () => {
    stop();
    await tokens.close();
    await bus.close();
  });

  const login = (expiration?: number) =>
    tokens.createToken({
      credentials: { login: 'alice', password: 'alice-pass' },
      ...(expiration === undefined ? {} : { expiration }),
    });

  it('publishes auth_session_created for the user with the session ACL', async () => {
    const { token } = await login();
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      name: 'auth_session_created',
      origin_uuid: tokens.stackUuid,
      tenant_uuid: TENANT_UUID,
      [`user_uuid:${alice.uuid}`]: true,
      required_acl: `events.auth.sessions.${token.sessionUuid}.created`,
      required_access: 'event.auth_session_created',
      data: {
        uuid: token.sessionUuid,
        tenant_uuid: TENANT_UUID,
        user_uuid: alice.uuid,
        mobile: false,
      },
    });
  });

  it('publishes auth_session_deleted when a token is revoked', async () => {
    const { token } = await login();
    tokens.revokeToken(token.token);
    expect(published.map((m) => m.name)).toEqual(['auth_session_created', 'auth_session_deleted']);
    expect(published[1]).toMatchObject({
      required_acl: `events.auth.sessions.${token.sessionUuid}.deleted`,
      data: { uuid: token.sessionUuid, user_uuid: alice.uuid, tenant_uuid: TENANT_UUID },
    });
  });

  it('publishes auth_session_expire_soon with an ACL the token itself grants', async () => {
    const { token } = await login(3);
    tokens.sweep();
    const expireSoon = published.find((m) => m.name === 'auth_session_expire_soon');
    expect(expireSoon).toMatchObject({
      [`user_uuid:${alice.uuid}`]: true,
      required_acl: `events.auth.users.${alice.uuid}.sessions.${token.sessionUuid}.expire_soon`,
      data: { uuid: token.sessionUuid, user_uuid: alice.uuid, tenant_uuid: TENANT_UUID },
    });
    // The default user ACL has events.auth.users.me.sessions.my_session.expire_soon.
    expect(token.access.matches(expireSoon?.required_acl)).toBe(true);
    const other = await login();
    expect(other.token.access.matches(expireSoon?.required_acl)).toBe(false);
  });

  it('stops publishing once the returned function is called', async () => {
    stop();
    await login();
    expect(published).toEqual([]);
  });
});
