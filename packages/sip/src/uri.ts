/**
 * SIP and SIPS URIs (RFC 3261 §19.1). Parsing and formatting live in `uri-parser.ts`.
 *
 * Values are stored unescaped (§19.1.2); the formatter escapes what the grammar requires.
 * Parameter and header names are lower-cased (URI comparison, §19.1.4, treats them
 * case-insensitively); a parameter without a value (`;lr`) maps to `null`.
 */
export interface SipUri {
  scheme: 'sip' | 'sips';
  user: string | undefined;
  password: string | undefined;
  /** Lower-cased host name, IPv4 address, or IPv6 reference in brackets (`[::1]`). */
  host: string;
  port: number | undefined;
  params: Map<string, string | null>;
  headers: Map<string, string>;
}

/** A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route. */
export interface NameAddr {
  displayName: string | undefined;
  uri: SipUri;
  /** Header parameters after the URI (`;tag=…`, `;expires=…`, `;+sip.instance=…`). */
  params: Map<string, string | null>;
}

/** A parsed Via value (RFC 3261 §20.42). */
export interface Via {
  /** Upper-cased transport token: `UDP`, `TCP`, `TLS`, `WS`, `WSS`, `SCTP`. */
  transport: string;
  host: string;
  port: number | undefined;
  params: Map<string, string | null>;
}

export function cloneUri(uri: SipUri): SipUri {
  return { ...uri, params: new Map(uri.params), headers: new Map(uri.headers) };
}
