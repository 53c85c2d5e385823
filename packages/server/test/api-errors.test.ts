import { describe, expect, it } from 'vitest';
import fastify from 'fastify';
import type { FastifyError } from 'fastify';
import type { Logger } from '@confab/core';
import {
  API_ERRORS,
  ApiError,
  InvalidDataError,
  formatFieldMessages,
  prepareApiScope,
  toApiError,
} from '../src/api/errors.js';
import type { ApiErrorCode } from '../src/api/errors.js';

function fastifyError(fields: Partial<FastifyError>): FastifyError {
  return Object.assign(new Error(fields.message ?? 'boom'), fields) as FastifyError;
}

describe('REST error registry', () => {
  it.each(Object.entries(API_ERRORS))(
    '%s has a 4xx/5xx status, a kebab-case error_id and a message',
    (_code, entry) => {
      expect(entry.status).toBeGreaterThanOrEqual(400);
      expect(entry.status).toBeLessThan(600);
      expect(entry.errorId).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(entry.message.length).toBeGreaterThan(0);
      expect(['api', 'legacy', 'route']).toContain(entry.shape);
    },
  );

  it('fills message templates and keeps unknown placeholders', () => {
    const error = new ApiError('UNKNOWN_USER', { params: { uuid: 'u1' }, details: { uuid: 'u1' } });
    expect(error.message).toBe('No such user: "u1"');
    expect(error.code).toBe('UNKNOWN_USER');
    expect(new ApiError('UNAUTHORIZED_FOR_ACL').message).toBe('Unauthorized for {acl}');
  });

  it('renders the APIException and legacy shapes exactly', () => {
    const error = new ApiError('UNKNOWN_SESSION', {
      params: { uuid: 's' },
      details: { uuid: 's' },
    });
    expect(error.toBody('api', 1_700_000_000_500)).toEqual({
      message: 'No such session: "s"',
      error_id: 'unknown-session',
      details: { uuid: 's' },
      timestamp: 1_700_000_000.5,
      resource: 'sessions',
    });
    expect(new ApiError('NO_SUCH_TOKEN').toBody('legacy', 2000)).toEqual({
      reason: ['No such token'],
      timestamp: [2],
      status_code: 404,
    });
  });

  it('formats field messages as wazo-auth does (a Python dict repr)', () => {
    expect(
      formatFieldMessages({ expiration: ['Must be at least 1.'], _schema: ["can't", 'a "b"'] }),
    ).toBe(`{'expiration': ['Must be at least 1.'], '_schema': ["can't", 'a "b"']}`);
    const legacy = new InvalidDataError({ client_id: ['Too long.'] }).toBody('legacy', 0);
    expect(legacy).toEqual({
      reason: ["{'client_id': ['Too long.']}"],
      timestamp: [0],
      status_code: 400,
    });
  });
});

describe('toApiError', () => {
  const validation = fastifyError({
    validation: [
      {
        keyword: 'maximum',
        instancePath: '/expiration',
        schemaPath: '',
        params: { limit: 5 },
        message: 'must be <= 5',
      },
    ],
    validationContext: 'body',
    statusCode: 400,
  });

  it.each([
    [validation, false, 'INVALID_DATA', 400],
    [
      fastifyError({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }),
      false,
      'UNSUPPORTED_MEDIA_TYPE',
      415,
    ],
    [
      fastifyError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }),
      false,
      'PAYLOAD_TOO_LARGE',
      413,
    ],
    [fastifyError({ code: 'FST_ERR_SOMETHING', statusCode: 400 }), false, 'BAD_REQUEST', 400],
    [new Error('bug'), false, 'INTERNAL', 500],
    ['a string', true, 'INTERNAL', 500],
  ] as [unknown, boolean, ApiErrorCode, number][])(
    'maps %s to %s',
    (error, legacy, code, status) => {
      const mapped = toApiError(error, legacy);
      expect(mapped.code).toBe(code);
      expect(mapped.status).toBe(status);
    },
  );

  it('puts schema violations per field into details, and into reason[0] on legacy routes', () => {
    expect(toApiError(validation, false).details).toEqual({
      expiration: { constraint_id: 'maximum', constraint: { limit: 5 }, message: 'must be <= 5' },
    });
    expect(toApiError(validation, true).toBody('legacy', 0)).toEqual({
      reason: ["{'expiration': ['must be <= 5']}"],
      timestamp: [0],
      status_code: 400,
    });
  });
});

describe('prepareApiScope', () => {
  it('answers an unexpected route failure with the APIException 500 and logs it', async () => {
    const logged: unknown[] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (obj) => logged.push(obj),
      child: () => logger,
    };
    const app = fastify({ logger: false });
    await app.register(
      (scope, _options, done) => {
        prepareApiScope(scope, { logger, notFound: true });
        scope.get('/boom', () => {
          throw new Error('bug');
        });
        done();
      },
      { prefix: '/x' },
    );
    const response = await app.inject({ method: 'GET', url: '/x/boom' });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ error_id: 'internal-server-error', details: {} });
    expect(response.body).not.toContain('bug');
    expect(logged).toHaveLength(1);
    await app.close();
  });
});
