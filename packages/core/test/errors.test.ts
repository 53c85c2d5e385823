import { describe, expect, it } from 'vitest';
import {
  ConfabError,
  InvalidStateError,
  isConfabError,
  isInvalidStateError,
} from '../src/errors.js';

describe('errors', () => {
  it('InvalidStateError carries the stable INVALID_STATE code', () => {
    const error = InvalidStateError.closed('Channel');
    expect(error.code).toBe('INVALID_STATE');
    expect(error.name).toBe('InvalidStateError');
    expect(isInvalidStateError(error)).toBe(true);
  });

  it('isConfabError recognises errors from another realm by their code shape', () => {
    const foreign = Object.assign(new Error('x'), { code: 'SIP_PARSE_ERROR' });
    expect(isConfabError(foreign)).toBe(true);
    expect(isConfabError(new Error('plain'))).toBe(false);
    expect(isConfabError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isConfabError(new ConfabError('X', 'y'))).toBe(true);
  });
});
