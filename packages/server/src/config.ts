/**
 * Server configuration: defaults, overridden by a JSON file, then by environment variables, then
 * by command-line flags. Each setting is validated with zod where it comes from, so an error names
 * the flag, variable or file key at fault (`--rtp-ports: the first port must be even, got 10001`).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism, networkInterfaces } from 'node:os';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';

/** Log levels of pino, most to least severe. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The validated configuration of one Confab server. */
export interface ConfabConfig {
  /**
   * Directory of the SQLite database, TLS material and other state; absolute.
   * @default `./data` relative to the working directory
   */
  dataDir: string;
  /** Plain HTTP port (local use: `http://localhost` is a secure context). 0 = ephemeral. @default 8080 */
  httpPort: number;
  /** HTTPS and secure WebSocket port. 0 = ephemeral. @default 8443 */
  httpsPort: number;
  /** SIP port, UDP and TCP. 0 = ephemeral. @default 5060 */
  sipPort: number;
  /** Address the HTTP, HTTPS and SIP listeners bind to. @default `0.0.0.0` */
  bindAddress: string;
  /**
   * Address put in SIP Via/Contact, SDP and ICE candidates.
   * @default the first non-internal IPv4 address of this host, else `127.0.0.1`
   */
  advertisedAddress: string;
  /** ICE host candidate addresses: the advertised address, plus `127.0.0.1` if different. */
  mediaAddresses: string[];
  /** RTP/RTCP UDP port range, inclusive; the first port is even (RFC 3550 §11). @default [10000, 20000] */
  rtpPortRange: [number, number];
  /** Media worker threads. @default `os.availableParallelism()` */
  mediaWorkers: number;
  /** SIP domain of the users' addresses-of-record, also the digest realm. @default advertisedAddress */
  sipDomain: string;
  /** @default 'info' */
  logLevel: LogLevel;
  /** Create alice/bob/carol when the database has no users. @default true */
  createDemoUsers: boolean;
  /** PEM certificate file for HTTPS; `null` = a self-signed one in `<dataDir>/tls`. @default null */
  tlsCertFile: string | null;
  /** PEM private key file matching {@link ConfabConfig.tlsCertFile}. @default null */
  tlsKeyFile: string | null;
  /**
   * How long a call may ring, in seconds, before the caller gets 480 Temporarily Unavailable
   * (no answer) and the ringing devices get CANCEL. Absent means the default.
   * @default 60
   */
  ringTimeoutSeconds?: number;
}

/**
 * Command-line flags as commander parses them (`--http-port 8080` → `{ httpPort: '8080' }`,
 * `--no-demo-users` → `{ demoUsers: false }`). Values may be strings or already-parsed values.
 */
export interface ConfigFlags {
  config?: string | undefined;
  data?: string | undefined;
  httpPort?: string | number | undefined;
  httpsPort?: string | number | undefined;
  sipPort?: string | number | undefined;
  bind?: string | undefined;
  advertise?: string | undefined;
  rtpPorts?: string | undefined;
  mediaWorkers?: string | number | undefined;
  sipDomain?: string | undefined;
  logLevel?: string | undefined;
  demoUsers?: boolean | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  ringTimeout?: string | number | undefined;
}

/** Inputs of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Parsed command-line flags. */
  argv?: ConfigFlags;
  /** Environment. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** JSON config file; also settable with `--config` / `CONFAB_CONFIG` (the flag wins). */
  file?: string;
  /** Base of relative paths given by flags or environment. @default process.cwd() */
  cwd?: string;
  /** Network interfaces to pick the default advertised address from. @default os.networkInterfaces() */
  interfaces?: ReturnType<typeof networkInterfaces>;
}

/** Where a setting comes from; used only to name it in error messages. */
type Source =
  | { kind: 'flag'; name: string }
  | { kind: 'env'; name: string }
  | { kind: 'file'; name: string; path: string };

function describeSource(source: Source): string {
  switch (source.kind) {
    case 'flag':
    case 'env':
      return source.name;
    case 'file':
      return `${source.path}: "${source.name}"`;
  }
}

/**
 * The first non-internal IPv4 address of `interfaces`, else `127.0.0.1`.
 * Interface order is the operating system's; pass `--advertise` when it picks the wrong one.
 */
export function detectAdvertisedAddress(
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string {
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) {
        return address.address;
      }
    }
  }
  return '127.0.0.1';
}

/** ICE host candidates for `advertisedAddress`: itself, plus loopback so local peers always connect. */
export function mediaAddressesFor(advertisedAddress: string): string[] {
  return advertisedAddress === '127.0.0.1' ? [advertisedAddress] : [advertisedAddress, '127.0.0.1'];
}

/** The configuration with every default applied, for tests and as the base of {@link loadConfig}. */
export function defaultConfig(
  options: Pick<LoadConfigOptions, 'cwd' | 'interfaces'> = {},
): ConfabConfig {
  const advertisedAddress = detectAdvertisedAddress(options.interfaces);
  return {
    dataDir: resolve(options.cwd ?? process.cwd(), 'data'),
    httpPort: 8080,
    httpsPort: 8443,
    sipPort: 5060,
    bindAddress: '0.0.0.0',
    advertisedAddress,
    mediaAddresses: mediaAddressesFor(advertisedAddress),
    rtpPortRange: [10000, 20000],
    mediaWorkers: availableParallelism(),
    sipDomain: advertisedAddress,
    logLevel: 'info',
    createDemoUsers: true,
    tlsCertFile: null,
    tlsKeyFile: null,
  };
}

// ---------------------------------------------------------------------------------------------
// Value schemas. Each accepts the raw forms a source can give (strings from flags and the
// environment, JSON values from the file) and yields the typed value.

/** Strings of digits become numbers; anything else is left for the number schema to reject. */
function digitsToNumber(value: unknown): unknown {
  return typeof value === 'string' && /^\s*\d{1,10}\s*$/.test(value) ? Number(value) : value;
}

function integer(min: number, max: number, what: string) {
  const message = `expected ${what}`;
  return z.preprocess(
    digitsToNumber,
    z
      .number({ errorMap: () => ({ message }) })
      .int(message)
      .min(min, message)
      .max(max, message),
  );
}

const portSchema = integer(0, 65535, 'a port number from 0 to 65535 (0 = any free port)');

const mediaWorkersSchema = integer(1, 256, 'a number of workers from 1 to 256');

const ringTimeoutSchema = integer(1, 3600, 'a ring timeout in seconds from 1 to 3600');

const ipSchema = z
  .string({ invalid_type_error: 'expected an IP address' })
  .trim()
  .refine(
    (s) => isIP(s) !== 0,
    (s) => ({ message: `expected an IP address, got "${s.slice(0, 64)}"` }),
  );

function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) {
    return false;
  }
  // RFC 1123 §2.1 labels; checked label by label to stay linear-time.
  return s.split('.').every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

const domainSchema = z
  .string({ invalid_type_error: 'expected a domain name or IP address' })
  .trim()
  .refine(
    (s) => isIP(s) !== 0 || isHostname(s),
    (s) => ({ message: `expected a domain name or IP address, got "${s.slice(0, 64)}"` }),
  );

const RTP_MIN = 1024;
const RTP_MAX = 65535;

const rtpRangeSchema = z
  .union(
    [
      z.tuple([z.number(), z.number()]),
      z
        .string()
        .trim()
        .regex(/^\d{1,5}\s*-\s*\d{1,5}$/, 'expected a range such as "10000-20000"')
        .transform((s) => s.split('-').map((n) => Number(n.trim())) as [number, number]),
    ],
    { errorMap: () => ({ message: 'expected a range such as "10000-20000"' }) },
  )
  .superRefine(([min, max], ctx) => {
    if (!Number.isInteger(min) || !Number.isInteger(max)) {
      ctx.addIssue({ code: 'custom', message: 'expected whole port numbers' });
    } else if (min < RTP_MIN || max > RTP_MAX) {
      ctx.addIssue({
        code: 'custom',
        message: `ports must lie within ${RTP_MIN}–${RTP_MAX}, got ${min}-${max}`,
      });
    } else if (min >= max) {
      ctx.addIssue({
        code: 'custom',
        message: `the first port must be below the last, got ${min}-${max}`,
      });
    } else if (min % 2 !== 0) {
      // RFC 3550 §11: RTP uses an even port, RTCP the next odd one.
      ctx.addIssue({ code: 'custom', message: `the first port must be even, got ${min}` });
    }
  });

const logLevelSchema = z.enum(LOG_LEVELS, {
  errorMap: () => ({ message: `expected one of ${LOG_LEVELS.join(', ')}` }),
});

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off']);

const booleanSchema = z.preprocess(
  (value) => {
    if (typeof value !== 'string') {
      return value;
    }
    const word = value.trim().toLowerCase();
    return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : value;
  },
  z.boolean({ errorMap: () => ({ message: 'expected true or false' }) }),
);

const pathSchema = z
  .string({ invalid_type_error: 'expected a path' })
  .trim()
  .min(1, 'expected a non-empty path');

// ---------------------------------------------------------------------------------------------
// Settings table: where each configurable field is read from.

interface Setting<K extends keyof ConfabConfig> {
  field: K;
  flag: keyof ConfigFlags;
  flagName: string;
  env: string;
  schema: z.ZodType<ConfabConfig[K], z.ZodTypeDef, unknown>;
}

function setting<K extends keyof ConfabConfig>(
  field: K,
  flag: keyof ConfigFlags,
  flagName: string,
  env: string,
  schema: z.ZodType<ConfabConfig[K], z.ZodTypeDef, unknown>,
): Setting<K> {
  return { field, flag, flagName, env, schema };
}

const SETTINGS = [
  setting('dataDir', 'data', '--data', 'CONFAB_DATA', pathSchema),
  setting('httpPort', 'httpPort', '--http-port', 'CONFAB_HTTP_PORT', portSchema),
  setting('httpsPort', 'httpsPort', '--https-port', 'CONFAB_HTTPS_PORT', portSchema),
  setting('sipPort', 'sipPort', '--sip-port', 'CONFAB_SIP_PORT', portSchema),
  setting('bindAddress', 'bind', '--bind', 'CONFAB_BIND', ipSchema),
  setting('advertisedAddress', 'advertise', '--advertise', 'CONFAB_ADVERTISE', ipSchema),
  setting('rtpPortRange', 'rtpPorts', '--rtp-ports', 'CONFAB_RTP_PORTS', rtpRangeSchema),
  setting(
    'mediaWorkers',
    'mediaWorkers',
    '--media-workers',
    'CONFAB_MEDIA_WORKERS',
    mediaWorkersSchema,
  ),
  setting('sipDomain', 'sipDomain', '--sip-domain', 'CONFAB_SIP_DOMAIN', domainSchema),
  setting('logLevel', 'logLevel', '--log-level', 'CONFAB_LOG_LEVEL', logLevelSchema),
  setting('createDemoUsers', 'demoUsers', '--no-demo-users', 'CONFAB_DEMO_USERS', booleanSchema),
  setting('tlsCertFile', 'tlsCert', '--tls-cert', 'CONFAB_TLS_CERT', pathSchema),
  setting('tlsKeyFile', 'tlsKey', '--tls-key', 'CONFAB_TLS_KEY', pathSchema),
  setting(
    'ringTimeoutSeconds',
    'ringTimeout',
    '--ring-timeout',
    'CONFAB_RING_TIMEOUT',
    ringTimeoutSchema,
  ),
] as const;

/** Fields whose values are paths, resolved against the cwd (flags, env) or the file's directory. */
const PATH_FIELDS = new Set<keyof ConfabConfig>(['dataDir', 'tlsCertFile', 'tlsKeyFile']);

/** Keys a config file may contain: the configurable {@link ConfabConfig} fields. */
const FILE_KEYS = new Set<string>(SETTINGS.map((s) => s.field));

/** A short, printable rendering of a raw value for error messages. */
function showValue(raw: unknown): string {
  const text = typeof raw === 'string' ? JSON.stringify(raw) : (JSON.stringify(raw) ?? typeof raw);
  return text.length > 66 ? `${text.slice(0, 63)}...` : text;
}

const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([`config file ${path}: cannot read it (${code})`], { cause: err });
  }
  if (text.length > MAX_CONFIG_FILE_BYTES) {
    throw new ConfigError([`config file ${path}: larger than 1 MiB`]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError([`config file ${path}: not valid JSON (${reason})`], { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError([`config file ${path}: expected a JSON object`]);
  }
  const unknownKeys = Object.keys(parsed).filter((k) => !FILE_KEYS.has(k));
  if (unknownKeys.length > 0) {
    throw new ConfigError(
      unknownKeys.map(
        (k) =>
          `config file ${path}: unknown setting "${k.slice(0, 64)}" (known: ${[...FILE_KEYS].join(', ')})`,
      ),
    );
  }
  return parsed as Record<string, unknown>;
}

/**
 * Builds the configuration from flags, environment, an optional JSON file and defaults, in that
 * order of precedence, and validates it.
 *
 * The JSON file holds {@link ConfabConfig} field names (`{ "httpsPort": 443, "rtpPortRange":
 * "20000-30000" }`); its relative paths are relative to the file. Empty environment variables
 * count as unset. `mediaAddresses` is derived, never configured.
 *
 * @throws ConfigError (`CONFIG_INVALID`) listing every invalid setting with its source.
 */
export function loadConfig(options: LoadConfigOptions = {}): ConfabConfig {
  const flags = options.argv ?? {};
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();

  const envValue = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v;
  };

  const filePath = flags.config ?? envValue('CONFAB_CONFIG') ?? options.file;
  const resolvedFile = filePath === undefined ? undefined : resolve(cwd, filePath);
  const fileValues = resolvedFile === undefined ? {} : readConfigFile(resolvedFile);

  const config = defaultConfig({
    cwd,
    ...(options.interfaces ? { interfaces: options.interfaces } : {}),
  });
  const given = new Set<keyof ConfabConfig>();
  const issues: string[] = [];

  for (const s of SETTINGS) {
    let raw: unknown;
    let source: Source;
    let base = cwd;
    const flagValue = flags[s.flag];
    const fromEnv = envValue(s.env);
    if (flagValue !== undefined) {
      raw = flagValue;
      source = { kind: 'flag', name: s.flagName };
    } else if (fromEnv !== undefined) {
      raw = fromEnv;
      source = { kind: 'env', name: s.env };
    } else if (resolvedFile !== undefined && fileValues[s.field] !== undefined) {
      raw = fileValues[s.field];
      source = { kind: 'file', name: s.field, path: resolvedFile };
      base = dirname(resolvedFile);
    } else {
      continue;
    }
    const result = s.schema.safeParse(raw);
    if (!result.success) {
      const message = result.error.issues[0]?.message ?? 'invalid value';
      const shown = message.includes(', got ') ? '' : `, got ${showValue(raw)}`;
      issues.push(`${describeSource(source)}: ${message}${shown}`);
      continue;
    }
    const value = PATH_FIELDS.has(s.field) ? resolve(base, result.data as string) : result.data;
    (config as unknown as Record<string, unknown>)[s.field] = value;
    given.add(s.field);
  }

  // Derived defaults follow the advertised address when only it was given.
  if (given.has('advertisedAddress') && !given.has('sipDomain')) {
    config.sipDomain = config.advertisedAddress;
  }
  config.mediaAddresses = mediaAddressesFor(config.advertisedAddress);

  if ((config.tlsCertFile === null) !== (config.tlsKeyFile === null)) {
    issues.push(
      config.tlsCertFile === null
        ? '--tls-key (CONFAB_TLS_KEY) needs --tls-cert (CONFAB_TLS_CERT) as well'
        : '--tls-cert (CONFAB_TLS_CERT) needs --tls-key (CONFAB_TLS_KEY) as well',
    );
  }
  if (config.httpPort !== 0 && config.httpPort === config.httpsPort) {
    issues.push(
      `--http-port and --https-port: both are ${config.httpPort}; HTTP and HTTPS need different ports`,
    );
  }

  if (issues.length > 0) {
    throw new ConfigError(issues);
  }
  return config;
}
