/**
 * Parsing of `Authorization: Basic …` credentials for `POST /api/auth/0.1/token` (RFC 7617).
 *
 * Wazo decodes the credentials as UTF-8 and falls back to Latin-1 (spec §3.1). Anything that is
 * not a well-formed Basic header yields `undefined`, which the token endpoint turns into
 * 401 "Authentication Failed"; this function never throws.
 */

/** Credentials carried by a Basic header. */
export interface BasicCredentials {
  /** A username or an email address. */
  readonly login: string;
  readonly password: string;
}

/** Base64 credentials longer than this are refused without decoding. */
const MAX_ENCODED_LENGTH = 8192;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Returns the login and password of a Basic `Authorization` header, or `undefined` when the
 * header is absent, uses another scheme, is not valid base64, has no `:` separator, or has an
 * empty login or password.
 */
export function parseBasicAuthorization(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined) {
    return undefined;
  }
  const trimmed = header.trim();
  const space = trimmed.indexOf(' ');
  // RFC 7617 §2 / RFC 9110 §11.1: the scheme name is case-insensitive.
  if (space === -1 || trimmed.slice(0, space).toLowerCase() !== 'basic') {
    return undefined;
  }
  const encoded = trimmed.slice(space + 1).trim();
  if (
    encoded.length === 0 ||
    encoded.length > MAX_ENCODED_LENGTH ||
    encoded.length % 4 !== 0 ||
    !BASE64.test(encoded)
  ) {
    return undefined;
  }
  const bytes = Buffer.from(encoded, 'base64');
  let decoded: string;
  try {
    decoded = utf8.decode(bytes);
  } catch {
    decoded = bytes.toString('latin1');
  }
  const colon = decoded.indexOf(':');
  if (colon === -1) {
    return undefined;
  }
  const login = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  if (login === '' || password === '') {
    return undefined;
  }
  return { login, password };
}
