/**
 * Password hashing with scrypt (RFC 7914), encoded as `scrypt$N$r$p$salt$hash` with base64 salt
 * and hash, so parameters can be raised later without invalidating stored hashes.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** Cost parameters for new hashes: N = 2^15, r = 8, p = 1 (32 MiB, tens of ms per hash). */
const DEFAULT_PARAMS = { N: 32768, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Upper bounds accepted when decoding, so a corrupted row cannot make us allocate gigabytes. */
const MAX_N = 1 << 20;
const MAX_RP = 16;

function scryptAsync(
  password: string,
  salt: Buffer,
  keylen: number,
  options: ScryptOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, options, (err, key) => {
      if (err) {
        reject(err);
      } else {
        resolve(key);
      }
    });
  });
}

function memoryFor(N: number, r: number, p: number): number {
  // scrypt needs 128 * N * r bytes (+ 128 * r * p); leave headroom over Node's 32 MiB default.
  return 128 * N * r + 128 * r * p + 1024 * 1024;
}

/** Hashes `password` with a fresh random salt. */
export async function hashPassword(password: string): Promise<string> {
  const { N, r, p } = DEFAULT_PARAMS;
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(password, salt, KEY_BYTES, { N, r, p, maxmem: memoryFor(N, r, p) });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

function parseHash(encoded: string): ParsedHash | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') {
    return undefined;
  }
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
  const N = Number(n);
  const R = Number(r);
  const P = Number(p);
  if (
    !Number.isInteger(N) ||
    N < 2 ||
    N > MAX_N ||
    (N & (N - 1)) !== 0 ||
    !Number.isInteger(R) ||
    R < 1 ||
    R > MAX_RP ||
    !Number.isInteger(P) ||
    P < 1 ||
    P > MAX_RP
  ) {
    return undefined;
  }
  const keyBuf = Buffer.from(key, 'base64');
  if (keyBuf.length < 16 || keyBuf.length > 128) {
    return undefined;
  }
  return { N, r: R, p: P, salt: Buffer.from(salt, 'base64'), key: keyBuf };
}

/**
 * Whether `password` matches `encoded`. Compares in constant time; a malformed hash never matches.
 */
export async function verifyPasswordHash(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  if (!parsed) {
    return false;
  }
  const { N, r, p, salt, key } = parsed;
  const candidate = await scryptAsync(password, salt, key.length, {
    N,
    r,
    p,
    maxmem: memoryFor(N, r, p),
  });
  return timingSafeEqual(candidate, key);
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the same scrypt work as a real verification, for logins that do not exist, so response
 * time does not reveal which usernames are valid.
 */
export async function burnPasswordVerification(password: string): Promise<void> {
  dummyHash ??= hashPassword('confab-dummy-password');
  await verifyPasswordHash(password, await dummyHash);
}
