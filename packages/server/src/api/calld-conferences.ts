/**
 * wazo-calld 1.0 ad-hoc conferences (spec §5), mounted under `/api/calld/1.0` next to the calls:
 *
 * | Route | Required ACL | Success |
 * |---|---|---|
 * | `POST /users/me/conferences/adhoc` | `calld.users.me.conferences.adhoc.create` | 201 `{conference_id}` |
 * | `PUT /users/me/conferences/adhoc/{conference_id}/participants/{call_id}` | `….adhoc.participants.update` | 204 |
 * | `DELETE /users/me/conferences/adhoc/{conference_id}/participants/{call_id}` | `….adhoc.participants.delete` | 204 |
 * | `DELETE /users/me/conferences/adhoc/{conference_id}` | `….adhoc.delete` | 204 |
 * | `GET /users/me/conferences/adhoc/{conference_id}` (Confab) | `….adhoc.read` | 200 conference |
 * | `PUT …/participants/{call_id}/mute` and `/unmute` (Confab) | `….adhoc.participants.mute.update` / `.unmute.update` | 204 |
 *
 * Validation order and error ids are spec §5.2–§5.6 (implemented by
 * {@link AdhocConferences}); someone else's conference is 404 like an unknown one. Unlike Wazo,
 * the create answers once the legs are in the mixer (events still follow on the bus), so a client
 * may act on the conference as soon as it has the id. A host channel that hangs up while its
 * conference is being built gives 400 `host-call-creation-error` ("host call was hungup"); a
 * participant that hangs up meanwhile simply is not in the conference (it "left").
 *
 * The GET view is Confab's, shaped like Wazo's conference participants: each channel in the
 * conference (the host's own included, `admin: true`) with the identity of its owner (user name
 * and line number), its join time, whether it is talking (the mixer's talk detection) and
 * whether it is muted (server-side mute: its audio is not mixed).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@confab/core';
import type { TokenService } from '../auth/tokens.js';
import { formatIsoTime } from '../calls/call-view.js';
import type { Store } from '../store/types.js';
import type { Channel } from '../telephony/channel.js';
import {
  ConferenceError,
  ConferenceErrorCode,
  type AdhocConference,
  type AdhocConferences,
} from '../telephony/conference.js';
import { ApiError } from './errors.js';
import { requireToken, requireUserUuid } from './guard.js';
import { describe, noContentResponse as noContent } from './schemas.js';
import {
  isPlainObject,
  missingPropertyIssue,
  notAnObjectIssue,
  strictValidator,
  type BodyIssue,
} from './strict-body.js';

export interface CalldConferenceRoutesOptions {
  readonly tokens: TokenService;
  readonly telephony: { readonly conferences: AdhocConferences } | undefined;
  readonly store: Pick<Store, 'users' | 'lines'>;
  readonly logger: Logger;
}

/** `POST /users/me/conferences/adhoc` body. */
interface CreateBody {
  host_call_id: string;
  participant_call_ids?: string[];
}

interface ConferenceParams {
  conference_id: string;
}

interface ParticipantParams extends ConferenceParams {
  call_id: string;
}

/** Most participant calls one create request may name. */
const MAX_PARTICIPANTS = 100;
const MAX_ID_LENGTH = 100;

const idSchema = { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } as const;

const createBodySchema = {
  type: 'object',
  properties: {
    host_call_id: idSchema,
    participant_call_ids: { type: 'array', maxItems: MAX_PARTICIPANTS, items: idSchema },
  },
  required: ['host_call_id'],
} as const;

const conferenceParamsSchema = {
  type: 'object',
  properties: { conference_id: idSchema },
  required: ['conference_id'],
} as const;

const participantParamsSchema = {
  type: 'object',
  properties: { conference_id: idSchema, call_id: idSchema },
  required: ['conference_id', 'call_id'],
} as const;

const participantSchema = {
  type: 'object',
  properties: {
    call_id: { type: 'string' },
    user_uuid: { type: ['string', 'null'] },
    caller_id_name: { type: 'string' },
    caller_id_number: { type: 'string' },
    join_time: { type: 'string' },
    admin: { type: 'boolean' },
    talking: { type: 'boolean' },
    muted: { type: 'boolean' },
  },
  required: ['call_id', 'user_uuid', 'caller_id_name', 'caller_id_number', 'talking', 'muted'],
} as const;

const conferenceSchema = {
  type: 'object',
  properties: {
    conference_id: { type: 'string' },
    host_call_id: { type: ['string', 'null'] },
    host_user_uuid: { type: 'string' },
    creation_time: { type: 'string' },
    participants: { type: 'array', items: participantSchema },
  },
  required: ['conference_id', 'host_call_id', 'participants'],
} as const;

/** The Confab conference view (`GET …/adhoc/{conference_id}`). */
export interface ConferenceView {
  conference_id: string;
  host_call_id: string | null;
  host_user_uuid: string;
  creation_time: string;
  participants: ParticipantView[];
}

export interface ParticipantView {
  call_id: string;
  user_uuid: string | null;
  caller_id_name: string;
  caller_id_number: string;
  join_time: string;
  /** The host's own channel. */
  admin: boolean;
  talking: boolean;
  muted: boolean;
}

/** Maps a conference failure to its calld wire error (spec §5.6). */
export function conferenceApiError(error: ConferenceError): ApiError {
  switch (error.code) {
    case ConferenceErrorCode.HostCallNotFound:
      return new ApiError('HOST_CALL_NOT_FOUND', { details: { host_call_id: error.id } });
    case ConferenceErrorCode.HostCallCreation:
      return new ApiError('HOST_CALL_CREATION_ERROR', { params: { message: error.message } });
    case ConferenceErrorCode.HostAlreadyInConference:
      return new ApiError('HOST_ALREADY_IN_CONFERENCE', { details: { host_call_id: error.id } });
    case ConferenceErrorCode.ParticipantCallNotFound:
      return new ApiError('PARTICIPANT_CALL_NOT_FOUND', {
        details: { participant_call_id: error.id },
      });
    case ConferenceErrorCode.ParticipantAlreadyInConference:
      return new ApiError('PARTICIPANT_ALREADY_IN_CONFERENCE', {
        details: { participant_call_id: error.id },
      });
    case ConferenceErrorCode.NotFound:
      return new ApiError('ADHOC_CONFERENCE_NOT_FOUND', {
        details: { adhoc_conference_id: error.id },
      });
    case ConferenceErrorCode.Media:
      return new ApiError('ADHOC_CONFERENCE_MEDIA_ERROR', { cause: error });
  }
}

/** Registers the ad-hoc conference routes on the (already prefixed) calld scope. */
export function registerConferenceRoutes(
  app: FastifyInstance,
  options: CalldConferenceRoutesOptions,
): void {
  const { tokens, store } = options;
  const base = '/users/me/conferences/adhoc';

  const conferences = (): AdhocConferences => {
    if (options.telephony === undefined) {
      throw new ApiError('CALLD_UNINITIALIZED');
    }
    return options.telephony.conferences;
  };

  /** Runs a conference operation, mapping its failures to wire errors. */
  const run = async <T>(operation: () => Promise<T> | T): Promise<T> => {
    try {
      return await operation();
    } catch (error) {
      throw error instanceof ConferenceError ? conferenceApiError(error) : error;
    }
  };

  app.post<{ Body: CreateBody }>(
    base,
    {
      onRequest: requireToken(tokens, 'calld.users.me.conferences.adhoc.create'),
      validatorCompiler: () => strictValidator(createBodyIssues),
      schema: describe('Merge my calls into an ad-hoc conference', {
        body: createBodySchema,
        response: {
          201: {
            type: 'object',
            properties: { conference_id: { type: 'string' } },
            required: ['conference_id'],
          },
        },
      }),
    },
    async (request, reply) => {
      const userUuid = requireUserUuid(request);
      const { host_call_id: hostCallId, participant_call_ids: participantCallIds = [] } =
        request.body;
      const conference = await run(() =>
        conferences().create(userUuid, hostCallId, participantCallIds),
      );
      return reply.code(201).send({ conference_id: conference.id });
    },
  );

  // The collection defines only POST. wazo-calld answers its other methods 405, and the
  // SDK's deprecated `isAhHocConferenceAPIEnabled()` sends HEAD here, reading anything but a 2xx
  // as "no ad-hoc API" (spec §11.8). RFC 9110 §15.5.6: a 405 lists the allowed methods in Allow.
  const notAllowed = {
    schema: describe(
      'Not allowed: ad-hoc conferences are created with POST (405 with Allow, as wazo-calld)',
      {},
      { description: 'Also what the SDK’s deprecated `isAhHocConferenceAPIEnabled()` probes.' },
    ),
    handler: (_request: FastifyRequest, reply: FastifyReply): never => {
      void reply.header('allow', 'POST');
      throw new ApiError('METHOD_NOT_ALLOWED', { details: { allow: ['POST'] } });
    },
  };
  // HEAD is a route of its own (the SDK's probe), not the implicit HEAD of the GET one.
  app.route({ method: 'HEAD', url: base, ...notAllowed });
  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: base,
    exposeHeadRoute: false,
    ...notAllowed,
    handler: (request, reply) => notAllowed.handler(request, reply),
  });

  app.get<{ Params: ConferenceParams }>(
    `${base}/:conference_id`,
    {
      onRequest: requireToken(tokens, 'calld.users.me.conferences.adhoc.read'),
      schema: describe('One of my ad-hoc conferences, with its participants (Confab)', {
        params: conferenceParamsSchema,
        response: { 200: conferenceSchema },
      }),
    },
    async (request) => {
      const userUuid = requireUserUuid(request);
      const conference = await run(() =>
        conferences().find(userUuid, request.params.conference_id),
      );
      return conferenceView(conference, store);
    },
  );

  app.delete<{ Params: ConferenceParams }>(
    `${base}/:conference_id`,
    {
      onRequest: requireToken(tokens, 'calld.users.me.conferences.adhoc.delete'),
      schema: describe('End one of my ad-hoc conferences: everyone is hung up', {
        params: conferenceParamsSchema,
        response: noContent,
      }),
    },
    async (request, reply) => {
      const userUuid = requireUserUuid(request);
      await run(() => conferences().delete(userUuid, request.params.conference_id));
      return reply.code(204).send();
    },
  );

  app.put<{ Params: ParticipantParams }>(
    `${base}/:conference_id/participants/:call_id`,
    {
      onRequest: requireToken(tokens, 'calld.users.me.conferences.adhoc.participants.update'),
      schema: describe('Bring the other party of one of my calls into my ad-hoc conference', {
        params: participantParamsSchema,
        response: noContent,
      }),
    },
    async (request, reply) => {
      const userUuid = requireUserUuid(request);
      const { conference_id: conferenceId, call_id: callId } = request.params;
      await run(() => conferences().addParticipant(userUuid, conferenceId, callId));
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: ParticipantParams }>(
    `${base}/:conference_id/participants/:call_id`,
    {
      onRequest: requireToken(tokens, 'calld.users.me.conferences.adhoc.participants.delete'),
      schema: describe('Remove a participant from my ad-hoc conference: it is hung up', {
        params: participantParamsSchema,
        response: noContent,
      }),
    },
    async (request, reply) => {
      const userUuid = requireUserUuid(request);
      const { conference_id: conferenceId, call_id: callId } = request.params;
      await run(() => conferences().removeParticipant(userUuid, conferenceId, callId));
      return reply.code(204).send();
    },
  );

  for (const [action, muted] of [
    ['mute', true],
    ['unmute', false],
  ] as const) {
    app.put<{ Params: ParticipantParams }>(
      `${base}/:conference_id/participants/:call_id/${action}`,
      {
        onRequest: requireToken(
          tokens,
          `calld.users.me.conferences.adhoc.participants.${action}.update`,
        ),
        schema: describe(
          muted
            ? 'Mute a participant of my ad-hoc conference: its audio is no longer mixed (Confab)'
            : 'Unmute a participant of my ad-hoc conference (Confab)',
          { params: participantParamsSchema, response: noContent },
        ),
      },
      async (request, reply) => {
        const userUuid = requireUserUuid(request);
        const { conference_id: conferenceId, call_id: callId } = request.params;
        await run(() => conferences().setParticipantMuted(userUuid, conferenceId, callId, muted));
        return reply.code(204).send();
      },
    );
  }
}

async function conferenceView(
  conference: AdhocConference,
  store: Pick<Store, 'users' | 'lines'>,
): Promise<ConferenceView> {
  const participants = await Promise.all(
    conference.members.map(async (channel) => participantView(conference, channel, store)),
  );
  return {
    conference_id: conference.id,
    host_call_id: conference.host?.id ?? null,
    host_user_uuid: conference.hostUserUuid,
    creation_time: formatIsoTime(conference.creationTime),
    participants,
  };
}

/** A member, named after its owner (user name, line number), else its channel's caller id. */
async function participantView(
  conference: AdhocConference,
  channel: Channel,
  store: Pick<Store, 'users' | 'lines'>,
): Promise<ParticipantView> {
  let name = channel.callerId.name;
  let number = channel.callerId.number;
  if (channel.userUuid !== null) {
    const user = await store.users.findByUuid(channel.userUuid);
    const lines = await store.lines.listByUser(channel.userUuid);
    const line = lines.find((candidate) => candidate.id === channel.lineId) ?? lines[0];
    const fullName = user === undefined ? '' : `${user.firstname} ${user.lastname}`.trim();
    if (line !== undefined) {
      number = line.extension;
      name = fullName === '' ? line.extension : fullName;
    }
  }
  const joined = conference.joinTime(channel);
  return {
    call_id: channel.id,
    user_uuid: channel.userUuid,
    caller_id_name: name,
    caller_id_number: number,
    join_time: formatIsoTime(joined ?? conference.creationTime),
    admin: channel.id === conference.hostCallId,
    talking: conference.isTalking(channel),
    muted: channel.muted,
  };
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

/**
 * Checks a create body strictly (no type coercion; unknown keys ignored): `host_call_id` a
 * non-empty string, `participant_call_ids` (optional, as in calld's schema) a list of them.
 */
export function createBodyIssues(body: unknown): BodyIssue[] {
  if (!isPlainObject(body)) {
    return [notAnObjectIssue()];
  }
  const issues: BodyIssue[] = [];
  const host = body['host_call_id'];
  if (host === undefined) {
    issues.push(missingPropertyIssue('host_call_id'));
  } else if (!isId(host)) {
    issues.push({
      keyword: 'type',
      instancePath: '/host_call_id',
      schemaPath: '#/properties/host_call_id',
      params: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH },
      message: 'must be a non-empty string',
    });
  }
  const participants = body['participant_call_ids'];
  if (
    participants !== undefined &&
    (!Array.isArray(participants) ||
      participants.length > MAX_PARTICIPANTS ||
      !participants.every(isId))
  ) {
    issues.push({
      keyword: 'type',
      instancePath: '/participant_call_ids',
      schemaPath: '#/properties/participant_call_ids',
      params: { type: 'array', maxItems: MAX_PARTICIPANTS },
      message: `must be a list of at most ${MAX_PARTICIPANTS} non-empty strings`,
    });
  }
  return issues;
}
