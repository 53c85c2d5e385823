/** Base paths of the Wazo services (spec §1), and which paths use wazo-auth's legacy errors. */

/** wazo-auth 0.1. */
export const AUTH_PREFIX = '/api/auth/0.1';
/** wazo-confd 1.1. */
export const CONFD_PREFIX = '/api/confd/1.1';

/** Base of wazo-auth's legacy `/token*` endpoints. */
const LEGACY_TOKEN_PATH = `${AUTH_PREFIX}/token`;

/**
 * Whether errors at `path` (no query string) use wazo-auth's legacy shape: the `/token`
 * endpoints, which ./auth.ts registers in their own scope.
 */
export function isLegacyAuthPath(path: string): boolean {
  return path === LEGACY_TOKEN_PATH || path.startsWith(`${LEGACY_TOKEN_PATH}/`);
}
