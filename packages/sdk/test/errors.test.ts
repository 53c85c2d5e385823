import { describe, expect, it } from 'vitest';
import { isConfabError } from '@confab/core';
import {
  ApiError,
  ApiErrorCode,
  PhoneError,
  PhoneErrorCode,
  isApiError,
  isPhoneError,
} from '../src/errors.js';

describe('ApiError', () => {
  it('reads status, error_id, message and details of a Wazo error body', () => {
    const error = ApiError.fromResponse('https://h/api/x', 400, {
      message: 'Sent data is invalid',
      error_id: 'invalid-data',
      details: { expiration: ['too big'] },
    });
    expect(error.code).toBe(ApiErrorCode.HttpError);
    expect(error.status).toBe(400);
    expect(error.errorId).toBe('invalid-data');
    expect(error.message).toBe('Sent data is invalid');
    expect(error.details).toEqual({ expiration: ['too big'] });
    expect(isApiError(error)).toBe(true);
    expect(isConfabError(error)).toBe(true);
  });

  it('reads the legacy wazo-auth body { reason: [...] } as message and reason', () => {
    const error = ApiError.fromResponse('https://h/api/auth/0.1/token', 401, {
      reason: ['Authentication Failed'],
      status_code: 401,
    });
    expect(error.status).toBe(401);
    expect(error.errorId).toBeUndefined();
    expect(error.reason).toEqual(['Authentication Failed']);
    expect(error.message).toBe('Authentication Failed');
  });

  it('falls back to "HTTP <status>" for bodies that are not objects', () => {
    expect(ApiError.fromResponse('u', 502, undefined).message).toBe('HTTP 502');
    expect(ApiError.fromResponse('u', 502, 'oops').message).toBe('HTTP 502');
  });

  it('marks a missing response as API_UNREACHABLE with status 0 and keeps the cause', () => {
    const cause = new TypeError('fetch failed');
    const error = ApiError.unreachable('https://h/api/x', cause);
    expect(error.code).toBe(ApiErrorCode.Unreachable);
    expect(error.status).toBe(0);
    expect(error.cause).toBe(cause);
  });

  it('is not confused with a PhoneError by the guards', () => {
    const api = ApiError.invalidResponse('u', 200, 'bad');
    const phone = PhoneError.noWebRtcLine();
    expect(isPhoneError(api)).toBe(false);
    expect(isApiError(phone)).toBe(false);
    expect(isPhoneError(phone)).toBe(true);
    expect(phone.code).toBe(PhoneErrorCode.NoWebRtcLine);
  });
});

describe('PhoneError', () => {
  it('carries the SIP status of a refused registration', () => {
    const error = PhoneError.registrationFailed(403, 'Forbidden');
    expect(error.code).toBe(PhoneErrorCode.RegistrationFailed);
    expect(error.status).toBe(403);
    expect(error.message).toContain('403 Forbidden');
  });
});
