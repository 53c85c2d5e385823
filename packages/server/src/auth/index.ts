/**
 * Authentication and authorization: the ACL grammar and the token service.
 */
export { AccessChecker, DEFAULT_USER_ACL, escapeAclParameter, requiredAcl } from './acl.js';
export type { AclContext } from './acl.js';
export { parseBasicAuthorization } from './basic.js';
export type { BasicCredentials } from './basic.js';
export { AuthError, AuthErrorCode, isAuthError } from './errors.js';
export type { FieldMessages } from './errors.js';
export { REFRESH_TOKENS_SETTING } from './refresh-tokens.js';
export {
  CLIENT_ID_LENGTH,
  STACK_UUID_SETTING,
  TOKEN_EXPIRATION,
  TokenService,
  TokenServiceState,
  WAZO_USER_BACKEND,
  toWireToken,
} from './tokens.js';
export type {
  AuthToken,
  CreateTokenRequest,
  CreatedToken,
  RefreshTokenInfo,
  SessionInfo,
  TokenMetadata,
  TokenServiceEvents,
  TokenServiceOptions,
  VerifyResult,
  WireToken,
} from './tokens.js';
