/**
 * Digest authentication of requests from lines (RFC 3261 §22.2 as a UAS/registrar, with
 * RFC 7616/8760 SHA-256 and MD5). The realm is the SIP domain; credentials are the line's SIP
 * username and secret. A request without valid credentials gets 401 with fresh challenges
 * (stale=true when only the nonce expired, §22.4 / RFC 7616 §3.3).
 */
import type { Logger } from '@confab/core';
import {
  DigestAlgorithm,
  DigestServer,
  parseAuthHeader,
  type Clock,
  type ServerTransaction,
} from '@confab/sip';
import type { Line, Store } from '../store/types.js';
import type { SipStack } from '../sip/stack.js';

export interface AuthenticatedRequest {
  readonly line: Line;
}

export interface SipAuthenticatorOptions {
  stack: SipStack;
  store: Store;
  clock: Clock;
  logger: Logger;
  realm: string;
  /** Challenge algorithms, most preferred first. @default ['MD5'] (see the constructor) */
  algorithms?: readonly DigestAlgorithm[];
  /** Key for the self-verifying nonces; random per process by default. */
  nonceKey?: string;
}

export class SipAuthenticator {
  readonly #options: SipAuthenticatorOptions;
  readonly #digest: DigestServer;

  constructor(options: SipAuthenticatorOptions) {
    this.#options = options;
    this.#digest = new DigestServer({
      realm: options.realm,
      secret: options.nonceKey ?? crypto.randomUUID(),
      clock: options.clock,
      // Deliberate: one MD5 challenge. RFC 8760 §2.4 would have us offer SHA-256 too, but the
      // clients we serve break on several challenges: SIP.js 0.21 (every browser client,
      // including @wazo/sdk) reads the last one and aborts on anything but MD5; sipp 3.6 reads
      // the first one and also supports only MD5. The verifier still accepts SHA-256 credentials.
      algorithms: options.algorithms ?? [DigestAlgorithm.MD5],
    });
  }

  get realm(): string {
    return this.#options.realm;
  }

  /**
   * Resolves with the authenticated line, or answers the transaction (401/403) and resolves
   * undefined. Never throws on malformed credentials.
   */
  async authenticate(tx: ServerTransaction): Promise<AuthenticatedRequest | undefined> {
    const { store, logger, realm } = this.#options;
    const request = tx.request;
    // Several Authorization headers may be present (one per realm, §22.2); use ours.
    const candidates = request.headers.getAll('Authorization');
    let username: string | undefined;
    for (const value of candidates) {
      const parsed = parseAuthHeader(value);
      if (parsed?.scheme.toLowerCase() === 'digest' && parsed.params.get('realm') === realm) {
        username = parsed.params.get('username');
        break;
      }
    }
    if (username === undefined) {
      this.#challenge(tx, false);
      return undefined;
    }
    // The store is asynchronous and the digest check synchronous: look the line up first.
    const line = await store.lines.findBySipUsername(username);
    const result = this.#digest.verify(
      { method: request.method, authorization: candidates, body: request.body },
      (user, userRealm) =>
        user === line?.sipUsername && userRealm === realm ? line.sipSecret : undefined,
    );
    if (!result.ok || !line) {
      const stale = !result.ok && result.stale;
      logger.info(
        { method: request.method, username, reason: result.ok ? 'unknown-user' : result.reason },
        'SIP authentication failed',
      );
      this.#challenge(tx, stale);
      return undefined;
    }
    return { line };
  }

  #challenge(tx: ServerTransaction, stale: boolean): void {
    const challenges = this.#digest.challenge({ stale });
    this.#options.stack.respond(tx, 401, (response) => {
      for (const challenge of challenges) {
        response.headers.append('WWW-Authenticate', challenge);
      }
    });
  }
}
