/**
 * wazo-calld 1.0, the user's own calls (spec §4.1, §4.2), mounted under `/api/calld/1.0`:
 *
 * | Route | Required ACL | Success |
 * |---|---|---|
 * | `GET /users/me/calls` | `calld.users.me.calls.read` | 200 `{items: [Call]}` |
 * | `POST /users/me/calls` | `calld.users.me.calls.create` | 201 Call (the user's leg) |
 * | `DELETE /users/me/calls/{call_id}` | `calld.users.me.calls.{call_id}.delete` | 204 |
 * | `PUT /users/me/calls/{call_id}/mute/start\|stop` | `….{call_id}.mute.start\|stop.update` | 204 |
 * | `PUT /users/me/calls/{call_id}/hold/start\|stop` | `….{call_id}.hold.start\|stop.update` | 204 |
 * | `PUT /users/me/calls/{call_id}/answer` | `….{call_id}.answer.update` | 503 (see below) |
 * | `PUT /users/me/calls/{call_id}/dtmf?digits=` | `….{call_id}.dtmf.update` | 204 |
 *
 * The `{call_id}` of a required ACL is escaped (`1600000000.42` → `1600000000_42`) by the guard.
 * A missing ACL is 401 `unauthorized`; an unknown (or ended) call 404 `no-such-call` with
 * `details: {call_id}`; another user's call 403 `user-permission-denied` with
 * `details: {call, user}`; bad input 400 `invalid-data` with per-field details. The token is
 * checked first (an `onRequest` hook, before the body is even parsed), as calld's ACL decorators
 * run before any argument parsing.
 *
 * Decisions where Wazo relies on pieces Confab does not have:
 *
 * - **create** (originate) calls the user's line first (`line_id`, else the user's first line),
 *   on its most recently registered device, then dials `extension` once that device answered
 *   ({@link CallControl.originate}). `from_mobile`, `all_lines` and `auto_answer_caller` are
 *   validated but have no effect (no mobile numbers, no auto-answer headers yet); `variables` are
 *   validated and ignored (there is no dialplan to read them).
 * - **mute** is server-side, as Wazo's AMI `MuteAudio` (direction in): the media engine stops
 *   relaying the channel's audio to its bridge; the endpoint is not told.
 * - **hold** is server-side too: nothing is relayed from or to the channel and `on_hold` is set
 *   (Wazo asks wazo-phoned to press the hold key of a desk phone; WebRTC clients hold with a
 *   re-INVITE, which Confab also reports).
 * - **answer** needs a device that can be told to pick up (wazo-phoned's `answer_endpoint` for
 *   desk phones). Confab has no such device control and a ringing SIP/WebRTC endpoint cannot be
 *   answered remotely, so after the ownership checks it is always 503 `phoned-error`, which is
 *   what a Wazo stack answers for a WebRTC line.
 * - **dtmf** plays the digits as if the user had pressed them (`PlayDTMF` with `Receive: true`):
 *   `call_dtmf_created` for each digit and SIP INFO `application/dtmf-relay` to the party the
 *   call talks to.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '@confab/core';
import type { TokenService } from '../auth/tokens.js';
import { callView, type CallView } from '../calls/call-view.js';
import { OriginateError, OriginateErrorCode, type CallControl } from '../telephony/call-control.js';
import type { Store } from '../store/types.js';
import type { Channel } from '../telephony/channel.js';
import { HangupCause } from '../telephony/hangup-cause.js';
import { ApiError, prepareApiScope } from './errors.js';
import { requireToken, requireUserUuid } from './guard.js';
import { describe, noContentResponse as noContent } from './schemas.js';
import {
  isPlainObject,
  missingPropertyIssue,
  notAnObjectIssue,
  strictValidator,
  type BodyIssue,
} from './strict-body.js';
import { registerConferenceRoutes } from './calld-conferences.js';
import type { AdhocConferences } from '../telephony/conference.js';

/** Base path of wazo-calld (spec §1). */
export const CALLD_PREFIX = '/api/calld/1.0';

/** Dependencies of {@link calldRoutes}. */
export interface CalldRoutesOptions {
  readonly tokens: TokenService;
  /** The running call control; without it every route answers 503 `wazo-calld-uninitialized`. */
  readonly telephony:
    { readonly callControl: CallControl; readonly conferences: AdhocConferences } | undefined;
  /** Lines of the caller (originate), users and lines (conference participants' names). */
  readonly store: Pick<Store, 'lines' | 'users'>;
  readonly logger: Logger;
}

/** `POST /users/me/calls` body (`UserCallRequestSchema`). */
interface CreateCallBody {
  extension: string;
  line_id?: number;
  from_mobile?: boolean;
  all_lines?: boolean;
  auto_answer_caller?: boolean;
  variables?: Record<string, string>;
}

const nonEmptyString = { type: 'string', minLength: 1, maxLength: 1024 } as const;

const createCallBodySchema = {
  type: 'object',
  properties: {
    // Whitespace is stripped (marshmallow `StrippedString`): at least one other character.
    extension: { type: 'string', maxLength: 256, pattern: '\\S' },
    line_id: { type: 'integer', minimum: 0, maximum: 2_147_483_647 },
    from_mobile: { type: 'boolean' },
    all_lines: { type: 'boolean' },
    auto_answer_caller: { type: 'boolean' },
    variables: {
      type: 'object',
      maxProperties: 64,
      propertyNames: { minLength: 1, maxLength: 256 },
      additionalProperties: nonEmptyString,
    },
  },
  required: ['extension'],
} as const;

interface CallParams {
  call_id: string;
}

/** Longest digit string one DTMF request may play. */
const MAX_DTMF_DIGITS = 128;

const callParamsSchema = {
  type: 'object',
  // Fastify's router already refuses parameters over 100 characters (414).
  properties: { call_id: { type: 'string', minLength: 1, maxLength: 100 } },
  required: ['call_id'],
} as const;

const nullableString = { type: ['string', 'null'] } as const;

/** The Call object (spec §4.3). */
export const callSchema = {
  type: 'object',
  properties: {
    call_id: { type: 'string' },
    conversation_id: { type: 'string' },
    user_uuid: nullableString,
    status: { type: 'string' },
    talking_to: { type: 'object', additionalProperties: nullableString },
    bridges: { type: 'array', items: { type: 'string' } },
    creation_time: { type: 'string' },
    answer_time: nullableString,
    hangup_time: nullableString,
    caller_id_name: { type: 'string' },
    caller_id_number: { type: 'string' },
    peer_caller_id_name: { type: 'string' },
    peer_caller_id_number: { type: 'string' },
    on_hold: { type: 'boolean' },
    muted: { type: 'boolean' },
    record_state: { type: 'string', enum: ['active', 'inactive', 'paused'] },
    is_caller: { type: 'boolean' },
    is_video: { type: 'boolean' },
    dialed_extension: nullableString,
    sip_call_id: nullableString,
    line_id: { type: ['integer', 'null'] },
    direction: { type: 'string', enum: ['internal', 'inbound', 'outbound', 'unknown'] },
    parked: { type: 'boolean' },
  },
  required: ['call_id', 'status', 'talking_to', 'user_uuid'],
} as const;

/** Query of the list route: Wazo's Stasis application filters (no Confab call is in one). */
const listQuerySchema = {
  type: 'object',
  properties: {
    application: { type: 'string', maxLength: 1024 },
    application_instance: { type: 'string', maxLength: 1024 },
    token: { type: 'string', maxLength: 1024 },
  },
} as const;

/**
 * Registers the calld routes on an (already prefixed) scope.
 */
export function calldRoutes(
  app: FastifyInstance,
  options: CalldRoutesOptions,
  done: (error?: Error) => void,
): void {
  const { tokens, store, logger } = options;
  prepareApiScope(app, { logger, notFound: true });

  const callControl = (): CallControl => {
    const telephony = options.telephony;
    if (telephony === undefined) {
      throw new ApiError('CALLD_UNINITIALIZED');
    }
    return telephony.callControl;
  };

  /** `CallsService._verify_user` (spec §4.2): 404 unknown, 403 someone else's. */
  const ownCall = (request: FastifyRequest<{ Params: CallParams }>): Channel => {
    const control = callControl();
    const userUuid = requireUserUuid(request);
    const callId = request.params.call_id;
    const channel = control.channels.get(callId);
    if (channel === undefined || channel.ended) {
      throw new ApiError('NO_SUCH_CALL', { details: { call_id: callId }, resource: 'calls' });
    }
    if (channel.userUuid !== userUuid) {
      throw new ApiError('USER_PERMISSION_DENIED', {
        details: { call: callId, user: userUuid },
      });
    }
    return channel;
  };

  app.get<{ Querystring: { application?: string } }>(
    '/users/me/calls',
    {
      onRequest: requireToken(tokens, 'calld.users.me.calls.read'),
      schema: describe("The user's calls", {
        querystring: listQuerySchema,
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: callSchema } },
            required: ['items'],
          },
        },
      }),
    },
    (request) => {
      const control = callControl();
      const userUuid = requireUserUuid(request);
      const items: CallView[] = [];
      if (request.query.application === undefined) {
        for (const channel of control.channels.values()) {
          if (channel.userUuid === userUuid && !channel.ended) {
            items.push(callView(channel, control));
          }
        }
      }
      return { items };
    },
  );

  app.post<{ Body: CreateCallBody }>(
    '/users/me/calls',
    {
      onRequest: requireToken(tokens, 'calld.users.me.calls.create'),
      // The schema documents the body; this checks it without Fastify's type coercion, which
      // would turn `{"extension": 5}` or `true` into strings where calld answers 400.
      validatorCompiler: () => strictValidator(createCallBodyIssues),
      schema: describe('Place a call: my device rings first, then the extension is dialed', {
        body: createCallBodySchema,
        response: { 201: callSchema },
      }),
    },
    async (request, reply) => {
      const control = callControl();
      const userUuid = requireUserUuid(request);
      const body = request.body;
      const lines = await store.lines.listByUser(userUuid);
      const line = body.line_id === undefined ? lines[0] : lines.find((l) => l.id === body.line_id);
      if (line === undefined) {
        throw body.line_id === undefined
          ? new ApiError('USER_MISSING_MAIN_LINE', { details: { user_uuid: userUuid } })
          : new ApiError('INVALID_USER_LINE', {
              details: { user_uuid: userUuid, line_id: body.line_id },
            });
      }
      const extension = body.extension.trim();
      let channel: Channel;
      try {
        channel = await control.originate({ line, extension });
      } catch (error) {
        if (error instanceof OriginateError) {
          throw error.code === OriginateErrorCode.InvalidExtension
            ? new ApiError('INVALID_EXTENSION', {
                details: { exten: extension, context: line.context },
              })
            : new ApiError('CALL_ORIGIN_UNAVAILABLE', { details: { line_id: line.id } });
        }
        logger.error({ err: error, userUuid, extension }, 'originate failed');
        throw new ApiError('CALL_CREATION', { details: { extension }, cause: error });
      }
      return reply.code(201).send(callView(channel, control));
    },
  );

  app.delete<{ Params: CallParams }>(
    '/users/me/calls/:call_id',
    {
      onRequest: requireToken(tokens, 'calld.users.me.calls.{call_id}.delete'),
      schema: describe('Hang up one of my calls', {
        params: callParamsSchema,
        response: noContent,
      }),
    },
    async (request, reply) => {
      ownCall(request).hangup(HangupCause.NormalClearing);
      return reply.code(204).send();
    },
  );

  for (const [action, muted] of [
    ['start', true],
    ['stop', false],
  ] as const) {
    app.put<{ Params: CallParams }>(
      `/users/me/calls/:call_id/mute/${action}`,
      {
        onRequest: requireToken(tokens, `calld.users.me.calls.{call_id}.mute.${action}.update`),
        schema: describe(muted ? 'Mute one of my calls' : 'Unmute one of my calls', {
          params: callParamsSchema,
          response: noContent,
        }),
      },
      async (request, reply) => {
        const channel = ownCall(request);
        await callControl().setMuted(channel, muted);
        return reply.code(204).send();
      },
    );
  }

  for (const [action, held] of [
    ['start', true],
    ['stop', false],
  ] as const) {
    app.put<{ Params: CallParams }>(
      `/users/me/calls/:call_id/hold/${action}`,
      {
        onRequest: requireToken(tokens, `calld.users.me.calls.{call_id}.hold.${action}.update`),
        schema: describe(held ? 'Put one of my calls on hold' : 'Resume one of my calls', {
          params: callParamsSchema,
          response: noContent,
        }),
      },
      async (request, reply) => {
        const channel = ownCall(request);
        await callControl().setOnHold(channel, held);
        return reply.code(204).send();
      },
    );
  }

  app.put<{ Params: CallParams }>(
    '/users/me/calls/:call_id/answer',
    {
      onRequest: requireToken(tokens, 'calld.users.me.calls.{call_id}.answer.update'),
      schema: describe('Answer one of my ringing calls from its device (unsupported: 503)', {
        params: callParamsSchema,
        response: noContent,
      }),
    },
    (request) => {
      const channel = ownCall(request);
      throw new ApiError('PHONED_ERROR', {
        details: {
          call_id: channel.id,
          message: 'the device of this call cannot be answered remotely',
        },
      });
    },
  );

  app.put<{ Params: CallParams; Querystring: { digits: string } }>(
    '/users/me/calls/:call_id/dtmf',
    {
      onRequest: requireToken(tokens, 'calld.users.me.calls.{call_id}.dtmf.update'),
      schema: describe('Play DTMF digits on one of my calls', {
        params: callParamsSchema,
        querystring: {
          type: 'object',
          properties: {
            digits: {
              type: 'string',
              pattern: '^[0-9*#]+$',
              minLength: 1,
              maxLength: MAX_DTMF_DIGITS,
            },
          },
          required: ['digits'],
        },
        response: noContent,
      }),
    },
    async (request, reply) => {
      const channel = ownCall(request);
      callControl().playDtmf(channel, request.query.digits);
      return reply.code(204).send();
    },
  );

  // Ad-hoc conferences (spec §5): ./calld-conferences.ts.
  registerConferenceRoutes(app, { tokens, telephony: options.telephony, store, logger });

  done();
}

const MAX_VARIABLES = 64;

/** Checks a `POST /users/me/calls` body strictly (no coercion); unknown keys are ignored. */
export function createCallBodyIssues(body: unknown): BodyIssue[] {
  if (!isPlainObject(body)) {
    return [notAnObjectIssue()];
  }
  const issues: BodyIssue[] = [];
  const issue = (field: string, keyword: string, message: string, params = {}): void => {
    issues.push({
      keyword,
      instancePath: `/${field}`,
      schemaPath: `#/properties/${field}/${keyword}`,
      params,
      message,
    });
  };
  const extension = body['extension'];
  if (extension === undefined) {
    issues.push(missingPropertyIssue('extension'));
  } else if (typeof extension !== 'string') {
    issue('extension', 'type', 'must be string', { type: 'string' });
  } else if (extension.trim() === '') {
    issue('extension', 'minLength', 'must not be empty', { limit: 1 });
  } else if (extension.length > 256) {
    issue('extension', 'maxLength', 'must NOT have more than 256 characters', { limit: 256 });
  }
  const lineId = body['line_id'];
  if (
    lineId !== undefined &&
    (typeof lineId !== 'number' ||
      !Number.isInteger(lineId) ||
      lineId < 0 ||
      lineId > 2_147_483_647)
  ) {
    issue('line_id', 'type', 'must be a line id (integer)', { type: 'integer' });
  }
  for (const flag of ['from_mobile', 'all_lines', 'auto_answer_caller']) {
    if (body[flag] !== undefined && typeof body[flag] !== 'boolean') {
      issue(flag, 'type', 'must be boolean', { type: 'boolean' });
    }
  }
  const variables = body['variables'];
  if (variables !== undefined) {
    if (!isPlainObject(variables)) {
      issue('variables', 'type', 'must be object', { type: 'object' });
    } else {
      const entries = Object.entries(variables);
      if (entries.length > MAX_VARIABLES) {
        issue('variables', 'maxProperties', `must NOT have more than ${MAX_VARIABLES} properties`, {
          limit: MAX_VARIABLES,
        });
      } else if (
        entries.some(
          ([name, value]) =>
            name === '' ||
            name.length > 256 ||
            typeof value !== 'string' ||
            value === '' ||
            value.length > 1024,
        )
      ) {
        issue('variables', 'additionalProperties', 'names and values must be non-empty strings');
      }
    }
  }
  return issues;
}
