/**
 * Publishes the token service's session events on the bus as wazo-auth does (wazo spec §3.7):
 * `auth_session_created`, `auth_session_deleted` and `auth_session_expire_soon`, each a
 * UserEvent of the session's user, with wazo-bus's routing keys as required ACLs.
 */
import type { SessionInfo, TokenServiceEvents } from '../auth/types.js';
import type { Listener } from '@confab/core';
import { escapeBusKeyValue, userEvent, type EventBus } from './bus.js';

/** What the publisher needs of the token service. */
export interface SessionEventSource {
  readonly stackUuid: string;
  on<K extends keyof TokenServiceEvents>(
    event: K,
    listener: Listener<TokenServiceEvents[K]>,
  ): () => void;
}

/**
 * Forwards `tokens`' session events to `bus` until the returned function is called.
 *
 * Required ACLs: `events.auth.sessions.<session>.created` / `.deleted` and
 * `events.auth.users.<user>.sessions.<session>.expire_soon` — so a user token (whose ACL has
 * `events.auth.users.me.sessions.my_session.expire_soon`) hears only its own session expiring.
 */
export function publishSessionEvents(tokens: SessionEventSource, bus: EventBus): () => void {
  const publish = (name: string, routingKey: string, session: SessionInfo, data: object): void => {
    bus.publish(
      userEvent({
        name,
        routingKey,
        data,
        tenantUuid: session.tenantUuid,
        userUuid: session.userUuid,
        originUuid: tokens.stackUuid,
      }),
    );
  };
  const stops = [
    tokens.on('sessionCreated', (session) => {
      publish(
        'auth_session_created',
        `auth.sessions.${escapeBusKeyValue(session.uuid)}.created`,
        session,
        {
          uuid: session.uuid,
          tenant_uuid: session.tenantUuid,
          user_uuid: session.userUuid,
          mobile: session.mobile,
        },
      );
    }),
    tokens.on('sessionDeleted', (session) => {
      publish(
        'auth_session_deleted',
        `auth.sessions.${escapeBusKeyValue(session.uuid)}.deleted`,
        session,
        { uuid: session.uuid, user_uuid: session.userUuid, tenant_uuid: session.tenantUuid },
      );
    }),
    tokens.on('sessionExpireSoon', (session) => {
      publish(
        'auth_session_expire_soon',
        `auth.users.${escapeBusKeyValue(session.userUuid)}.sessions.${escapeBusKeyValue(session.uuid)}.expire_soon`,
        session,
        { uuid: session.uuid, user_uuid: session.userUuid, tenant_uuid: session.tenantUuid },
      );
    }),
  ];
  return () => {
    for (const stop of stops.splice(0)) {
      stop();
    }
  };
}
