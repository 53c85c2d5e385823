import { describe, expect, it } from 'vitest';
import { isConfabError } from '@confab/core';
import {
  ApiError,
  ApiErrorCode,
  ConferenceError,
  ConferenceErrorCode,
  PhoneError,
  PhoneErrorCode,
  isApiError,
  isConferenceError,
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

describe('ConferenceError', () => {
  const url = 'http://h/api/calld/1.0/users/me/conferences/adhoc';
  it.each([
    ['host-call-not-found', 400, ConferenceErrorCode.HostCallNotFound],
    ['host-call-creation-error', 400, ConferenceErrorCode.HostCallCreationError],
    ['host-already-in-conference', 409, ConferenceErrorCode.HostAlreadyInConference],
    ['participant-call-not-found', 400, ConferenceErrorCode.ParticipantCallNotFound],
    ['participant-already-in-conference', 409, ConferenceErrorCode.ParticipantAlreadyInConference],
    ['adhoc-conference-not-found', 404, ConferenceErrorCode.NotFound],
  ])('maps calld %s (%i) to %s, keeping the ApiError as cause', (errorId, status, code) => {
    const api = ApiError.fromResponse(url, status, {
      error_id: errorId,
      message: 'm',
      details: { x: 1 },
    });
    const mapped = ConferenceError.fromApiError(api);
    expect(isConferenceError(mapped)).toBe(true);
    expect(mapped).toMatchObject({ code, status, errorId, details: { x: 1 }, cause: api });
  });

  it('leaves other failures as they are (invalid-data, 503, network)', () => {
    const invalid = ApiError.fromResponse(url, 400, { error_id: 'invalid-data' });
    const down = ApiError.fromResponse(url, 503, {});
    const unreachable = ApiError.unreachable(url, new Error('refused'));
    for (const error of [invalid, down, unreachable]) {
      expect(ConferenceError.fromApiError(error)).toBe(error);
    }
  });
});
