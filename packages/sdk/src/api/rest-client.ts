/**
 * A minimal JSON-over-HTTP client for the Wazo-shaped REST APIs (`/api/<service>/<version>/…`).
 * It adds the token header, maps error statuses to {@link ApiError}, and bounds what it reads.
 */
import { ApiError } from '../errors.js';
import type { FetchLike } from '../platform.js';
import type { ServerAddress } from '../server-address.js';
import { ShapeError } from './json.js';

/** Options of one request. */
export interface RestRequest<T> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  /** Path under the origin, starting with `/api/`. */
  path: string;
  /** JSON body. */
  body?: unknown;
  /** `X-Auth-Token` value (spec wazo-server-protocols §2.1). */
  token?: string | undefined;
  /** Extra headers (e.g. `Authorization: Basic …` for the token route). */
  headers?: Record<string, string>;
  /** Turns the parsed JSON body (undefined when empty) into the result; may throw ShapeError. */
  parse: (body: unknown, status: number) => T;
}

/** Larger bodies are refused: no Wazo resource the SDK reads comes close. */
const MAX_BODY_CHARS = 4 * 1024 * 1024;

export class RestClient {
  readonly #fetch: FetchLike;
  readonly #server: ServerAddress;

  constructor(fetch: FetchLike, server: ServerAddress) {
    this.#fetch = fetch;
    this.#server = server;
  }

  get server(): ServerAddress {
    return this.#server;
  }

  /**
   * Sends the request and parses the answer.
   * @throws ApiError `API_ERROR` on status ≥ 400, `API_UNREACHABLE` without response,
   *   `API_INVALID_RESPONSE` when the body is not JSON or `parse` rejects its shape.
   */
  async request<T>(request: RestRequest<T>): Promise<T> {
    const url = `${this.#server.httpOrigin}${request.path}`;
    const headers: Record<string, string> = { Accept: 'application/json', ...request.headers };
    if (request.token !== undefined) {
      headers['X-Auth-Token'] = request.token;
    }
    const init: RequestInit = { method: request.method, headers };
    if (request.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(request.body);
    }
    let response: Response;
    try {
      response = await this.#fetch(url, init);
    } catch (error) {
      throw ApiError.unreachable(url, error);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw ApiError.unreachable(url, error);
    }
    if (text.length > MAX_BODY_CHARS) {
      throw ApiError.invalidResponse(url, response.status, 'body too large');
    }
    let body: unknown;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        if (response.ok) {
          throw ApiError.invalidResponse(url, response.status, 'body is not JSON');
        }
        body = undefined;
      }
    }
    if (!response.ok) {
      throw ApiError.fromResponse(url, response.status, body);
    }
    try {
      return request.parse(body, response.status);
    } catch (error) {
      if (error instanceof ShapeError) {
        throw ApiError.invalidResponse(url, response.status, error.message);
      }
      throw error;
    }
  }
}
