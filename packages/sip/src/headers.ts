/**
 * Header storage for SIP messages (RFC 3261 §7.3).
 *
 * Each entry is one field value. The parser splits comma-joined values of list headers
 * (§7.3.1: "Via: a, b" ≡ two Via lines) into separate entries, so `getAll('Via')` returns one
 * value per hop whatever the wire form was. Names are stored canonically: compact forms are
 * expanded (§7.3.3) and well-known names get their registered spelling (`Call-ID`, `CSeq`,
 * `WWW-Authenticate`); look-ups are case-insensitive.
 */

/** RFC 3261 §7.3.3 and the IANA registry of compact forms. */
const COMPACT_FORMS: Readonly<Record<string, string>> = {
  a: 'Accept-Contact',
  b: 'Referred-By',
  c: 'Content-Type',
  d: 'Request-Disposition',
  e: 'Content-Encoding',
  f: 'From',
  i: 'Call-ID',
  j: 'Reject-Contact',
  k: 'Supported',
  l: 'Content-Length',
  m: 'Contact',
  n: 'Identity-Info',
  o: 'Event',
  r: 'Refer-To',
  s: 'Subject',
  t: 'To',
  u: 'Allow-Events',
  v: 'Via',
  x: 'Session-Expires',
  y: 'Identity',
};

const SPECIAL_SPELLINGS: readonly string[] = [
  'Call-ID',
  'CSeq',
  'WWW-Authenticate',
  'MIME-Version',
  'RAck',
  'RSeq',
  'SIP-ETag',
  'SIP-If-Match',
  'X-Wazo-Call-ID',
];
const SPECIAL_BY_LOWER = new Map(SPECIAL_SPELLINGS.map((name) => [name.toLowerCase(), name]));

/**
 * Headers whose values are comma-separated lists per the RFC 3261 §25 grammar
 * (`#element`), and which the parser therefore splits. Authorization-style headers,
 * `Date` and unknown headers are never split: commas are part of their values.
 */
export const LIST_HEADERS: ReadonlySet<string> = new Set(
  [
    'Accept',
    'Accept-Encoding',
    'Accept-Language',
    'Alert-Info',
    'Allow',
    'Allow-Events',
    'Call-Info',
    'Contact',
    'Content-Encoding',
    'Content-Language',
    'Error-Info',
    'In-Reply-To',
    'Path',
    'Proxy-Require',
    'Record-Route',
    'Require',
    'Route',
    'Supported',
    'Unsupported',
    'Via',
    'Warning',
  ].map((name) => name.toLowerCase()),
);

/**
 * Canonical spellings already computed. Every header look-up canonicalizes its argument, so
 * this sits on the parsing hot path; it is bounded so that peers sending random header names
 * cannot grow it.
 */
const CANONICAL_CACHE = new Map<string, string>();
const CANONICAL_CACHE_LIMIT = 1024;

/** Returns the canonical spelling of a header name (compact forms expanded). */
export function canonicalHeaderName(name: string): string {
  const cached = CANONICAL_CACHE.get(name);
  if (cached !== undefined) {
    return cached;
  }
  const canonical = computeCanonicalName(name);
  if (CANONICAL_CACHE.size < CANONICAL_CACHE_LIMIT) {
    CANONICAL_CACHE.set(name, canonical);
  }
  return canonical;
}

function computeCanonicalName(name: string): string {
  const trimmed = name.trim();
  const lower = trimmed.toLowerCase();
  const compact = COMPACT_FORMS[lower];
  if (compact !== undefined) {
    return compact;
  }
  const special = SPECIAL_BY_LOWER.get(lower);
  if (special !== undefined) {
    return special;
  }
  return lower.replace(
    /(^|-)([a-z])/g,
    (_match, dash: string, letter: string) => dash + letter.toUpperCase(),
  );
}

export interface HeaderEntry {
  readonly name: string;
  readonly value: string;
}

export class SipHeaders implements Iterable<HeaderEntry> {
  #entries: HeaderEntry[] = [];

  constructor(entries?: Iterable<readonly [name: string, value: string]>) {
    if (entries) {
      for (const [name, value] of entries) {
        this.append(name, value);
      }
    }
  }

  /** The first value of `name`, or undefined. */
  get(name: string): string | undefined {
    const key = canonicalHeaderName(name);
    return this.#entries.find((entry) => entry.name === key)?.value;
  }

  /** Every value of `name`, in message order. */
  getAll(name: string): string[] {
    const key = canonicalHeaderName(name);
    return this.#entries.filter((entry) => entry.name === key).map((entry) => entry.value);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Replaces every value of `name` with one value, kept at the position of the first one. */
  set(name: string, value: string): this {
    const key = canonicalHeaderName(name);
    const first = this.#entries.findIndex((entry) => entry.name === key);
    if (first === -1) {
      this.#entries.push({ name: key, value });
      return this;
    }
    this.#entries = this.#entries.filter((entry, index) => index === first || entry.name !== key);
    this.#entries[first] = { name: key, value };
    return this;
  }

  /** Replaces the first value of `name` in place (e.g. the top Via, §18.2.1); appends if absent. */
  replaceFirst(name: string, value: string): this {
    const key = canonicalHeaderName(name);
    const index = this.#entries.findIndex((entry) => entry.name === key);
    if (index === -1) {
      this.#entries.push({ name: key, value });
    } else {
      this.#entries[index] = { name: key, value };
    }
    return this;
  }

  /** Adds a value after the existing ones (after the last entry of the same name if any). */
  append(name: string, value: string): this {
    const key = canonicalHeaderName(name);
    let last = -1;
    this.#entries.forEach((entry, index) => {
      if (entry.name === key) {
        last = index;
      }
    });
    if (last === -1) {
      this.#entries.push({ name: key, value });
    } else {
      this.#entries.splice(last + 1, 0, { name: key, value });
    }
    return this;
  }

  /** Adds a value before the existing ones of the same name (e.g. a new top Via, §16.6). */
  prepend(name: string, value: string): this {
    const key = canonicalHeaderName(name);
    const first = this.#entries.findIndex((entry) => entry.name === key);
    if (first === -1) {
      this.#entries.unshift({ name: key, value });
    } else {
      this.#entries.splice(first, 0, { name: key, value });
    }
    return this;
  }

  /** Removes every value of `name`; returns how many were removed. */
  delete(name: string): number {
    const key = canonicalHeaderName(name);
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((entry) => entry.name !== key);
    return before - this.#entries.length;
  }

  /** Removes and returns the first value of `name` (e.g. the top Via of a response, §18.1.2). */
  shift(name: string): string | undefined {
    const key = canonicalHeaderName(name);
    const index = this.#entries.findIndex((entry) => entry.name === key);
    if (index === -1) {
      return undefined;
    }
    const [removed] = this.#entries.splice(index, 1);
    return removed?.value;
  }

  get size(): number {
    return this.#entries.length;
  }

  clone(): SipHeaders {
    const copy = new SipHeaders();
    copy.#entries = [...this.#entries];
    return copy;
  }

  [Symbol.iterator](): Iterator<HeaderEntry> {
    return this.#entries[Symbol.iterator]();
  }
}
