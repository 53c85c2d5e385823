/**
 * The address of a Confab (or Wazo) server as given to `Auth.setHost()`.
 *
 * `@wazo/sdk` takes `host[:port]` and always speaks `https://` and `wss://`. Confab accepts the
 * same, plus an explicit `http://host:port` or `https://host:port` prefix: a page served over
 * plain HTTP on localhost then talks `http://` and `ws://` to its own origin.
 */

/** A parsed server address. */
export interface ServerAddress {
  /** What the application passed. */
  readonly input: string;
  /** `true` for https/wss, `false` for http/ws. */
  readonly secure: boolean;
  /** Host name or IP address as used in URLs (IPv6 in brackets), without the port. */
  readonly hostname: string;
  /** `hostname[:port]` (the port only when it is not the scheme's default). */
  readonly authority: string;
  /** `https://authority` or `http://authority`. */
  readonly httpOrigin: string;
  /** `wss://authority` or `ws://authority`. */
  readonly wsOrigin: string;
}

/**
 * Parses `host`, `host:port`, `[v6]:port`, or an `http(s)://` origin (a trailing `/` is allowed).
 * @throws TypeError for anything else (other schemes, paths, credentials, empty input).
 */
export function parseServerAddress(input: string): ServerAddress {
  const text = input.trim();
  if (text === '' || text.length > 2048) {
    throw new TypeError(`Invalid server address "${input.slice(0, 100)}"`);
  }
  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  const scheme = schemeMatch?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    throw new TypeError(
      `Unsupported scheme "${scheme}" in server address: use http:// or https://`,
    );
  }
  let url: URL;
  try {
    url = new URL(scheme === undefined ? `https://${text}` : text);
  } catch {
    throw new TypeError(`Invalid server address "${input.slice(0, 100)}"`);
  }
  if (
    url.hostname === '' ||
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    (url.pathname !== '/' && url.pathname !== '')
  ) {
    throw new TypeError(
      `Invalid server address "${input.slice(0, 100)}": expected host[:port] or an http(s):// origin`,
    );
  }
  const secure = url.protocol === 'https:';
  // URL.host omits the scheme's default port, which is what an origin should look like.
  const authority = url.host;
  return {
    input,
    secure,
    hostname: url.hostname,
    authority,
    httpOrigin: `${secure ? 'https' : 'http'}://${authority}`,
    wsOrigin: `${secure ? 'wss' : 'ws'}://${authority}`,
  };
}
