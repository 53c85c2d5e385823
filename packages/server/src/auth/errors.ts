/**
 * Errors of the token service. The REST layer maps each code to a wire error (src/api/errors.ts);
 * tests match on codes, never on message text.
 */
import { ConfabError } from '@confab/core';

/** Codes of {@link AuthError}. */
export const AuthErrorCode = {
  /** Bad password, unknown or mismatched refresh token, unusable backend or method (401). */
  AuthenticationFailed: 'AUTH_AUTHENTICATION_FAILED',
  /** The user already holds the maximum number of concurrent sessions (429). */
  TooManySessions: 'AUTH_TOO_MANY_SESSIONS',
  /** The token request is inconsistent (for example `offline` without `client_id`) (400). */
  InvalidRequest: 'AUTH_INVALID_REQUEST',
} as const;
export type AuthErrorCode = (typeof AuthErrorCode)[keyof typeof AuthErrorCode];

/** Per-field messages, in the marshmallow style Wazo reports (`_schema` for cross-field rules). */
export type FieldMessages = Readonly<Record<string, readonly string[]>>;

/** A token request was refused. */
export class AuthError extends ConfabError {
  override readonly name = 'AuthError';
  declare readonly code: AuthErrorCode;
  /** For {@link AuthErrorCode.InvalidRequest}: what is wrong, per field. */
  readonly fields: FieldMessages;
  /** For {@link AuthErrorCode.TooManySessions}: the configured limit. */
  readonly limit: number | undefined;

  protected constructor(
    code: AuthErrorCode,
    message: string,
    extra: { fields?: FieldMessages; limit?: number } = {},
  ) {
    super(code, message);
    this.fields = extra.fields ?? {};
    this.limit = extra.limit;
  }

  static authenticationFailed(): AuthError {
    return new AuthError(AuthErrorCode.AuthenticationFailed, 'Authentication Failed');
  }

  static tooManySessions(limit: number): AuthError {
    return new AuthError(
      AuthErrorCode.TooManySessions,
      `the user already has ${limit} concurrent sessions`,
      { limit },
    );
  }

  static invalidRequest(fields: FieldMessages): AuthError {
    return new AuthError(AuthErrorCode.InvalidRequest, 'invalid token request', { fields });
  }
}

/** Cross-realm guard for {@link AuthError}. */
export function isAuthError(value: unknown): value is AuthError {
  return (
    value instanceof AuthError ||
    (value instanceof Error &&
      'code' in value &&
      typeof value.code === 'string' &&
      (Object.values(AuthErrorCode) as string[]).includes(value.code))
  );
}
