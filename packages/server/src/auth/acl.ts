/**
 * The ACL grammar shared by auth, calld, confd and the event websocket (wazo spec §3.6).
 *
 * An ACL is a dot-separated pattern such as `calld.users.me.calls.*.delete`:
 *
 * - `*` matches any run of characters without `.` or `#`, so at most one segment (possibly empty);
 * - `#` matches any remainder, dots included (possibly empty);
 * - a whole segment `me` matches the literal `me` or the token's user uuid (its `auth_id`);
 * - a whole segment `my_session` matches the literal `my_session` or the token's session uuid;
 * - a pattern starting with `!` is negative: if it matches, access is refused whatever the
 *   positive patterns say;
 * - a required access of `null` (a resource without ACL) always matches.
 *
 * Patterns are compiled once into parts and matched by a position-set walk that is linear in the
 * length of the required string per part, so no input (hostile URL parameters end up in required
 * ACLs) can trigger catastrophic backtracking.
 */

/** The substitutions a token brings to its own ACL. */
export interface AclContext {
  /** The token's `auth_id` (the user uuid): what a `me` segment stands for. */
  readonly userUuid?: string | undefined;
  /** The token's session uuid: what a `my_session` segment stands for. */
  readonly sessionUuid?: string | undefined;
}

type AclPart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'alternatives'; readonly options: readonly string[] }
  | { readonly kind: 'segment' }
  | { readonly kind: 'rest' };

/** One compiled pattern (without its `!`). */
class CompiledAcl {
  readonly #parts: readonly AclPart[];

  constructor(pattern: string, context: AclContext) {
    const parts: AclPart[] = [];
    let text = '';
    const flush = (): void => {
      if (text !== '') {
        parts.push({ kind: 'text', text });
        text = '';
      }
    };
    const segments = pattern.split('.');
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i] ?? '';
      if (i > 0) {
        text += '.';
      }
      const substitute = reservedSubstitute(segment, context);
      if (substitute !== undefined) {
        flush();
        parts.push({ kind: 'alternatives', options: [segment, substitute] });
        continue;
      }
      for (const char of segment) {
        if (char === '*' || char === '#') {
          flush();
          parts.push({ kind: char === '*' ? 'segment' : 'rest' });
        } else {
          text += char;
        }
      }
    }
    flush();
    this.#parts = parts;
  }

  matches(required: string): boolean {
    const length = required.length;
    // reachable[p] = 1: the parts walked so far can consume exactly required[0..p).
    let reachable = new Uint8Array(length + 1);
    reachable[0] = 1;
    for (const part of this.#parts) {
      const next = new Uint8Array(length + 1);
      let any = false;
      switch (part.kind) {
        case 'text':
          any = advanceLiteral(required, reachable, next, part.text);
          break;
        case 'alternatives':
          for (const option of part.options) {
            any = advanceLiteral(required, reachable, next, option) || any;
          }
          break;
        case 'segment': {
          // From each reachable start, every position up to (and including) the first `.` or
          // `#` is reachable. One left-to-right pass covers all starts.
          let active = false;
          for (let p = 0; p <= length; p++) {
            if (reachable[p] === 1) {
              active = true;
            }
            if (active) {
              next[p] = 1;
              any = true;
            }
            const char = required[p];
            if (char === '.' || char === '#') {
              active = false;
            }
          }
          break;
        }
        case 'rest': {
          const first = reachable.indexOf(1);
          if (first !== -1) {
            next.fill(1, first);
            any = true;
          }
          break;
        }
      }
      if (!any) {
        return false;
      }
      reachable = next;
    }
    return reachable[length] === 1;
  }
}

function reservedSubstitute(segment: string, context: AclContext): string | undefined {
  const value =
    segment === 'me'
      ? context.userUuid
      : segment === 'my_session'
        ? context.sessionUuid
        : undefined;
  return value === undefined || value === '' || value === segment ? undefined : value;
}

function advanceLiteral(
  required: string,
  reachable: Uint8Array,
  next: Uint8Array,
  literal: string,
): boolean {
  let any = false;
  const last = required.length - literal.length;
  for (let p = 0; p <= last; p++) {
    if (reachable[p] === 1 && required.startsWith(literal, p)) {
      next[p + literal.length] = 1;
      any = true;
    }
  }
  return any;
}

/**
 * Decides whether a token's ACL grants a required access.
 *
 * @example
 * ```ts
 * const access = new AccessChecker(['calld.users.me.#', '!calld.users.me.calls.*.delete'], {
 *   userUuid: 'u1',
 * });
 * access.matches('calld.users.u1.calls.read'); // true
 * access.matches('calld.users.u1.calls.1600000000_42.delete'); // false: the negative ACL wins
 * ```
 */
export class AccessChecker {
  readonly #positive: readonly CompiledAcl[];
  readonly #negative: readonly CompiledAcl[];

  constructor(acl: Iterable<string>, context: AclContext = {}) {
    const positive: CompiledAcl[] = [];
    const negative: CompiledAcl[] = [];
    for (const pattern of acl) {
      if (pattern.startsWith('!')) {
        negative.push(new CompiledAcl(pattern.slice(1), context));
      } else {
        positive.push(new CompiledAcl(pattern, context));
      }
    }
    this.#positive = positive;
    this.#negative = negative;
  }

  /**
   * Whether `required` is granted. `null` and `undefined` (no ACL needed) are always granted.
   */
  matches(required: string | null | undefined): boolean {
    if (required == null) {
      return true;
    }
    if (this.#negative.some((acl) => acl.matches(required))) {
      return false;
    }
    return this.#positive.some((acl) => acl.matches(required));
  }
}

/**
 * Escapes a URL parameter before it is put into a required ACL: every `.` becomes `_`, so that an
 * id such as the call id `1600000000.42` stays one ACL segment (`1600000000_42`) and a crafted
 * parameter cannot add segments (wazo spec §2.1).
 */
export function escapeAclParameter(value: string): string {
  return value.replaceAll('.', '_');
}

/**
 * Fills a required-ACL template such as `calld.users.me.calls.{call_id}.delete` with escaped
 * URL parameters.
 *
 * @throws TypeError if the template names a parameter that `params` lacks (a programming error).
 */
export function requiredAcl(
  template: string,
  params: Readonly<Record<string, string | number | undefined>> = {},
): string {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (_match, name: string) => {
    const value = Object.hasOwn(params, name) ? params[name] : undefined;
    if (value === undefined) {
      throw new TypeError(`required ACL template "${template}" needs parameter "${name}"`);
    }
    return escapeAclParameter(String(value));
  });
}

/**
 * The ACL of a token issued to a user (the `user` purpose). It follows the default user policy of
 * a Wazo stack (spec §3.6), restricted to the services Confab serves, plus the auth ACLs that the
 * user's own refresh-token and session endpoints require.
 */
export const DEFAULT_USER_ACL: readonly string[] = Object.freeze([
  'auth.users.me.tokens.read',
  'auth.users.me.tokens.*.delete',
  'auth.users.me.sessions.read',
  'auth.users.me.sessions.*.delete',
  'calld.users.me.#',
  'calld.transfers.*.read',
  'calld.transfers.*.delete',
  'calld.transfers.*.complete.update',
  'confd.infos.read',
  'confd.users.me.read',
  'confd.users.me.#.read',
  'websocketd',
  'events.calls.me',
  'events.conferences.users.me.#',
  'events.transfers.me',
  'events.users.me.#',
  'events.auth.users.me.sessions.my_session.expire_soon',
]);
