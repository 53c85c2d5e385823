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
import { renderFrameworkError } from '../src/api/framework-errors.js';

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
    [fastifyError({ code: 'FST_ERR_BAD_URL', statusCode: 400 }), true, 'BAD_REQUEST', 400],
    [
      fastifyError({ code: 'FST_ERR_MAX_PARAM_LENGTH', statusCode: 414 }),
      false,
      'URI_TOO_LONG',
      414,
    ],
    [
      fastifyError({ code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 }),
      true,
      'INVALID_DATA',
      400,
    ],
    [
      fastifyError({ code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400 }),
      false,
      'INVALID_DATA',
      400,
    ],
    [fastifyError({ code: 'FST_ERR_NOT_FOUND', statusCode: 404 }), false, 'ROUTE_NOT_FOUND', 404],
    [
      fastifyError({ code: 'HPE_HEADER_OVERFLOW', statusCode: 431 }),
      false,
      'REQUEST_HEADER_FIELDS_TOO_LARGE',
      431,
    ],
    [fastifyError({ code: 'FST_ERR_OTHER', statusCode: 405 }), false, 'CLIENT_ERROR', 405],
    [
      fastifyError({ code: 'ERR_HTTP_REQUEST_TIMEOUT', statusCode: 408 }),
      false,
      'CLIENT_ERROR',
      408,
    ],
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

describe('renderFrameworkError', () => {
  const badUrl = (path: string) =>
    fastifyError({
      code: 'FST_ERR_BAD_URL',
      statusCode: 400,
      message: `'${path}' is not a valid url component`,
    });

  it('uses the legacy shape under /api/auth/0.1/token and the APIException shape elsewhere', () => {
    const legacy = renderFrameworkError(
      badUrl('/api/auth/0.1/token/%FF'),
      '/api/auth/0.1/token/%FF?x=1',
    );
    expect(legacy.status).toBe(400);
    expect(Object.keys(legacy.body).sort()).toEqual(['reason', 'status_code', 'timestamp']);
    for (const url of ['/api/auth/0.1/tokens/%FF', '/api/calld/1.0/%FF', '/api/x', undefined]) {
      const rendered = renderFrameworkError(badUrl(url ?? ''), url);
      expect(rendered.status).toBe(400);
      expect(rendered.body).toMatchObject({ error_id: 'bad-request', details: {} });
    }
  });

  it('never echoes more than 256 characters of the request URL', () => {
    const path = `/api/calld/1.0/${'%FF'.repeat(3000)}`;
    const { body } = renderFrameworkError(badUrl(path), path);
    expect(JSON.stringify(body).length).toBeLessThan(600);
  });

  it('answers a client mistake with its 4xx and anything else with the 500 entry', () => {
    expect(renderFrameworkError(fastifyError({ statusCode: 405 }), '/api/x').status).toBe(405);
    expect(renderFrameworkError(new Error('bug'), '/api/x')).toMatchObject({
      status: 500,
      body: { error_id: 'internal-server-error' },
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
