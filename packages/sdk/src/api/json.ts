/**
 * Narrowing helpers for JSON bodies. Server responses are untrusted input: they are read field
 * by field, and a missing or mistyped required field becomes an `API_INVALID_RESPONSE` error
 * rather than an `undefined` that surfaces far away.
 */

export type JsonRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Thrown by the readers below; the REST client turns it into an `ApiError`. */
export class ShapeError extends Error {
  override readonly name = 'ShapeError';
}

export function record(value: unknown, what: string): JsonRecord {
  if (!isRecord(value)) {
    throw new ShapeError(`${what} is not an object`);
  }
  return value;
}

export function requiredString(obj: JsonRecord, key: string, what: string): string {
  const value = obj[key];
  if (typeof value !== 'string' || value === '') {
    throw new ShapeError(`${what}.${key} is not a non-empty string`);
  }
  return value;
}

export function optionalString(obj: JsonRecord, key: string): string | undefined {
  const value = obj[key];
  return typeof value === 'string' ? value : undefined;
}

/** A string or number identifier (confd line ids are integers, some views give strings). */
export function requiredId(obj: JsonRecord, key: string, what: string): string | number {
  const value = obj[key];
  if (
    (typeof value === 'number' && Number.isFinite(value)) ||
    (typeof value === 'string' && value !== '')
  ) {
    return value;
  }
  throw new ShapeError(`${what}.${key} is not an id`);
}

export function array(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/**
 * Reads a confd option list (`[["key", "value"], …]`, as in `auth_section_options`) into a map.
 * Malformed entries are skipped; the first occurrence of a key wins.
 */
export function optionList(value: unknown): Map<string, string> {
  const options = new Map<string, string>();
  for (const entry of array(value)) {
    if (Array.isArray(entry) && typeof entry[0] === 'string' && typeof entry[1] === 'string') {
      if (!options.has(entry[0])) {
        options.set(entry[0], entry[1]);
      }
    }
  }
  return options;
}
