/**
 * TLS material for the HTTPS/WSS listener.
 *
 * Without `--tls-cert/--tls-key`, a self-signed development certificate is generated on first
 * start into `<dataDir>/tls/{cert.pem,key.pem}` (written only once the server is up, see
 * {@link PreparedTls.persist}) and reused afterwards, as long as it stays valid
 * for more than {@link RENEW_BEFORE_MS} and names every current host name and address (the
 * advertised address changes when a laptop moves between networks; the old certificate would then
 * fail in the browser, so it is replaced).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@confab/core';
import { silentLogger } from '@confab/core';
import { generate } from 'selfsigned';
import type { ConfabConfig } from './config.js';
import { StartupError, StartupErrorCode } from './errors.js';

/** Certificate and key, PEM-encoded, with where they came from. */
export interface TlsMaterial {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  /** Whether Confab generated the certificate (browsers will ask the user to accept it). */
  selfSigned: boolean;
  /** SHA-256 fingerprint, colon-separated hex, for users to compare in the browser warning. */
  fingerprint256: string;
  validTo: Date;
}

export interface LoadTlsOptions {
  config: Pick<
    ConfabConfig,
    'dataDir' | 'advertisedAddress' | 'sipDomain' | 'tlsCertFile' | 'tlsKeyFile'
  >;
  logger?: Logger;
  /** @default os.hostname() */
  hostname?: string;
  /** @default new Date() */
  now?: Date;
}

/** Validity of a generated certificate. */
const VALIDITY_DAYS = 365;
/** A generated certificate closer than this to expiry is replaced at start. */
export const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

/** The names a generated certificate must cover, as `DNS:x` / `IP Address:y` entries. */
function requiredNames(options: LoadTlsOptions): { dns: string[]; ips: string[] } {
  const dns = new Set<string>(['localhost']);
  const ips = new Set<string>(['127.0.0.1', '::1']);
  for (const name of [
    options.config.advertisedAddress,
    options.config.sipDomain,
    options.hostname ?? osHostname(),
  ]) {
    if (name === '' || name === '0.0.0.0' || name === '::') {
      continue;
    }
    if (isIP(name) !== 0) {
      ips.add(name);
    } else {
      dns.add(name.toLowerCase());
    }
  }
  return { dns: [...dns], ips: [...ips] };
}

/** SAN entries of a certificate as node prints them, normalised (IPv6 compressed). */
function subjectAltNames(cert: X509Certificate): Set<string> {
  const names = new Set<string>();
  for (const entry of (cert.subjectAltName ?? '').split(',')) {
    const [kind, value] = entry.trim().split(/:(.*)/s) as [string, string | undefined];
    if (value === undefined) {
      continue;
    }
    if (kind === 'DNS') {
      names.add(`DNS:${value.toLowerCase()}`);
    } else if (kind === 'IP Address') {
      names.add(`IP:${normaliseIp(value)}`);
    }
  }
  return names;
}

function normaliseIp(ip: string): string {
  if (isIP(ip) !== 6) {
    return ip;
  }
  // URL parsing gives the canonical compressed IPv6 form ("0:0:0:0:0:0:0:1" → "::1").
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

function reasonToRegenerate(
  cert: X509Certificate,
  required: { dns: string[]; ips: string[] },
  now: Date,
): string | undefined {
  const validTo = new Date(cert.validTo);
  if (validTo.getTime() - now.getTime() < RENEW_BEFORE_MS) {
    return `it expires on ${validTo.toISOString()}`;
  }
  const names = subjectAltNames(cert);
  const missing = [
    ...required.dns.filter((d) => !names.has(`DNS:${d}`)),
    ...required.ips.filter((ip) => !names.has(`IP:${normaliseIp(ip)}`)),
  ];
  return missing.length > 0 ? `it does not name ${missing.join(', ')}` : undefined;
}

function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? (err instanceof Error ? err.message : String(err));
}

function toMaterial(
  cert: string,
  key: string,
  certFile: string,
  keyFile: string,
  selfSigned: boolean,
): TlsMaterial {
  const x509 = new X509Certificate(cert);
  return {
    cert,
    key,
    certFile,
    keyFile,
    selfSigned,
    fingerprint256: x509.fingerprint256,
    validTo: new Date(x509.validTo),
  };
}

async function generateSelfSigned(
  required: { dns: string[]; ips: string[] },
  now: Date,
): Promise<{ cert: string; key: string }> {
  const notAfterDate = new Date(now.getTime() + VALIDITY_DAYS * 24 * 3600 * 1000);
  const pems = await generate([{ name: 'commonName', value: 'Confab development certificate' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      // ECDSA keys sign; key encipherment applies to RSA key transport only.
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...required.dns.map((value) => ({ type: 2 as const, value })),
          ...required.ips.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/**
 * The development certificate: the existing one when still usable, otherwise a new one held in
 * memory; `persist` writes a new one into the data directory.
 */
async function prepareSelfSigned(options: LoadTlsOptions, logger: Logger): Promise<PreparedTls> {
  const dir = join(options.config.dataDir, 'tls');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const now = options.now ?? new Date();
  const required = requiredNames(options);

  let reason = 'none exists yet';
  try {
    const cert = readFileSync(certFile, 'utf8');
    const key = readFileSync(keyFile, 'utf8');
    const x509 = new X509Certificate(cert);
    const regenerate = reasonToRegenerate(x509, required, now);
    if (regenerate === undefined && x509.checkPrivateKey(createPrivateKey(key))) {
      return {
        material: toMaterial(cert, key, certFile, keyFile, true),
        persist: nothingToPersist,
      };
    }
    reason = regenerate ?? 'its key does not match';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      reason = `the existing one is unreadable (${describeFsError(err)})`;
    }
  }

  const { cert, key } = await generateSelfSigned(required, now);
  const material = toMaterial(cert, key, certFile, keyFile, true);
  let persisted = false;
  const persist = (): void => {
    if (persisted) {
      return;
    }
    persisted = true;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // Each file is written beside its final name and renamed over it, so that a reader never
      // sees half a file; a key without its certificate is replaced on the next start.
      writeFileSync(`${keyFile}.new`, key, { mode: 0o600 });
      // writeFileSync's mode applies only on creation; tighten a leftover file too.
      chmodSync(`${keyFile}.new`, 0o600);
      writeFileSync(`${certFile}.new`, cert);
      renameSync(`${keyFile}.new`, keyFile);
      renameSync(`${certFile}.new`, certFile);
    } catch (err) {
      throw new StartupError(
        StartupErrorCode.DataDirUnusable,
        `Cannot write the TLS certificate into ${dir}: ${describeFsError(err)} — check --data`,
        { cause: err },
      );
    }
    logger.info(
      {
        certFile,
        fingerprint256: material.fingerprint256,
        names: [...required.dns, ...required.ips],
      },
      `generated a self-signed TLS certificate because ${reason}`,
    );
  };
  return { material, persist };
}

function loadProvided(certFile: string, keyFile: string): TlsMaterial {
  const read = (file: string, what: string, flag: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new StartupError(
        StartupErrorCode.TlsInvalid,
        `Cannot read the TLS ${what} ${file} (${flag}): ${describeFsError(err)}`,
        { cause: err },
      );
    }
  };
  const cert = read(certFile, 'certificate', '--tls-cert');
  const key = read(keyFile, 'private key', '--tls-key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new StartupError(
      StartupErrorCode.TlsInvalid,
      `${certFile} (--tls-cert) is not a PEM certificate`,
      { cause: err },
    );
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new StartupError(
      StartupErrorCode.TlsInvalid,
      `${keyFile} (--tls-key) is not an unencrypted PEM private key`,
      { cause: err },
    );
  }
  if (!matches) {
    throw new StartupError(
      StartupErrorCode.TlsInvalid,
      `${keyFile} (--tls-key) is not the private key of ${certFile} (--tls-cert)`,
    );
  }
  return toMaterial(cert, key, certFile, keyFile, false);
}

/** For material that is already where it belongs. */
function nothingToPersist(): void {
  // A reused or provided certificate: nothing to write.
}

/** TLS material ready to serve with, and how to keep it for later starts. */
export interface PreparedTls {
  material: TlsMaterial;
  /**
   * Writes a newly generated development certificate into `<dataDir>/tls` (a no-op for a reused
   * or provided one, and after the first call). Called once the server is up, so that a start
   * that fails (a port in use…) leaves the data directory as it was.
   *
   * @throws StartupError `DATA_DIR_UNUSABLE` when the files cannot be written.
   */
  persist(): void;
}

/**
 * Loads the configured certificate and key, or the development certificate (generating it, in
 * memory, when missing, expiring or not naming the current host).
 *
 * @throws StartupError `TLS_INVALID` for unreadable or mismatched files given by flags.
 */
export async function prepareTlsMaterial(options: LoadTlsOptions): Promise<PreparedTls> {
  const { tlsCertFile, tlsKeyFile } = options.config;
  if (tlsCertFile !== null && tlsKeyFile !== null) {
    return { material: loadProvided(tlsCertFile, tlsKeyFile), persist: nothingToPersist };
  }
  return prepareSelfSigned(options, options.logger ?? silentLogger);
}

/**
 * {@link prepareTlsMaterial} and {@link PreparedTls.persist} in one step.
 *
 * @throws StartupError `TLS_INVALID` for unreadable or mismatched files given by flags,
 *   `DATA_DIR_UNUSABLE` when the generated certificate cannot be written.
 */
export async function loadTlsMaterial(options: LoadTlsOptions): Promise<TlsMaterial> {
  const prepared = await prepareTlsMaterial(options);
  prepared.persist();
  return prepared.material;
}
