import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StartupError } from '../src/errors.js';
import {
  RENEW_BEFORE_MS,
  loadTlsMaterial,
  prepareTlsMaterial,
  type LoadTlsOptions,
} from '../src/tls.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'confab-tls-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function options(
  overrides: Partial<LoadTlsOptions['config']> = {},
  extra: Partial<LoadTlsOptions> = {},
): LoadTlsOptions {
  return {
    config: {
      dataDir: join(dir, 'data'),
      advertisedAddress: '192.0.2.10',
      sipDomain: '192.0.2.10',
      tlsCertFile: null,
      tlsKeyFile: null,
      ...overrides,
    },
    hostname: 'devbox',
    ...extra,
  };
}

describe('self-signed development certificate', () => {
  it('is generated into <dataDir>/tls with the local names and a private key file', async () => {
    const tls = await loadTlsMaterial(options());
    expect(tls.selfSigned).toBe(true);
    expect(tls.certFile).toBe(join(dir, 'data', 'tls', 'cert.pem'));
    expect(tls.keyFile).toBe(join(dir, 'data', 'tls', 'key.pem'));
    expect(readFileSync(tls.certFile, 'utf8')).toBe(tls.cert);
    expect(statSync(tls.keyFile).mode & 0o777).toBe(0o600);
    const x509 = new X509Certificate(tls.cert);
    const sans = x509.subjectAltName ?? '';
    for (const name of [
      'DNS:localhost',
      'DNS:devbox',
      'IP Address:127.0.0.1',
      'IP Address:192.0.2.10',
    ]) {
      expect(sans).toContain(name);
    }
    expect(x509.fingerprint256).toBe(tls.fingerprint256);
    expect(tls.validTo.getTime()).toBeGreaterThan(Date.now() + 300 * 24 * 3600 * 1000);
  });

  it('names the SIP domain when it is a host name', async () => {
    const tls = await loadTlsMaterial(options({ sipDomain: 'pbx.example.org' }));
    expect(new X509Certificate(tls.cert).subjectAltName).toContain('DNS:pbx.example.org');
  });

  it('is reused on later starts', async () => {
    const first = await loadTlsMaterial(options());
    const second = await loadTlsMaterial(options());
    expect(second.fingerprint256).toBe(first.fingerprint256);
    expect(second.cert).toBe(first.cert);
  });

  it('is replaced when the advertised address is no longer named in it', async () => {
    const first = await loadTlsMaterial(options());
    const moved = await loadTlsMaterial(
      options({ advertisedAddress: '198.51.100.4', sipDomain: '198.51.100.4' }),
    );
    expect(moved.fingerprint256).not.toBe(first.fingerprint256);
    expect(new X509Certificate(moved.cert).subjectAltName).toContain('IP Address:198.51.100.4');
  });

  it('is replaced when it is about to expire', async () => {
    const first = await loadTlsMaterial(options());
    const later = new Date(first.validTo.getTime() - RENEW_BEFORE_MS + 1000);
    const renewed = await loadTlsMaterial(options({}, { now: later }));
    expect(renewed.fingerprint256).not.toBe(first.fingerprint256);
  });

  it('is replaced when the files are corrupt', async () => {
    const first = await loadTlsMaterial(options());
    writeFileSync(first.certFile, 'garbage');
    const second = await loadTlsMaterial(options());
    expect(second.fingerprint256).not.toBe(first.fingerprint256);
    expect(readFileSync(second.certFile, 'utf8')).toBe(second.cert);
  });

  it('is kept in memory until persisted: a new one is written only by persist(), once', async () => {
    const prepared = await prepareTlsMaterial(options());
    expect(existsSync(join(dir, 'data'))).toBe(false);
    prepared.persist();
    expect(readFileSync(prepared.material.certFile, 'utf8')).toBe(prepared.material.cert);
    expect(readFileSync(prepared.material.keyFile, 'utf8')).toBe(prepared.material.key);
    expect(existsSync(`${prepared.material.certFile}.new`)).toBe(false);
    expect(existsSync(`${prepared.material.keyFile}.new`)).toBe(false);
    prepared.persist();
    expect((await loadTlsMaterial(options())).cert).toBe(prepared.material.cert);
  });

  it('leaves the previous certificate in place while a replacement is not persisted', async () => {
    const first = await loadTlsMaterial(options());
    const moved = await prepareTlsMaterial(
      options({ advertisedAddress: '198.51.100.4', sipDomain: '198.51.100.4' }),
    );
    expect(moved.material.cert).not.toBe(first.cert);
    expect(readFileSync(first.certFile, 'utf8')).toBe(first.cert);
    expect(readFileSync(first.keyFile, 'utf8')).toBe(first.key);
    moved.persist();
    expect(readFileSync(first.certFile, 'utf8')).toBe(moved.material.cert);
    expect(statSync(first.keyFile).mode & 0o777).toBe(0o600);
  });

  it('fails with DATA_DIR_UNUSABLE when the data directory cannot be written', async () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const err: unknown = await loadTlsMaterial(options({ dataDir: file })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).code).toBe('DATA_DIR_UNUSABLE');
    expect((err as StartupError).message).toContain('--data');
  });
});

describe('certificate files given with --tls-cert/--tls-key', () => {
  it('are loaded as they are', async () => {
    const generated = await loadTlsMaterial(options());
    const tls = await loadTlsMaterial(
      options({
        tlsCertFile: generated.certFile,
        tlsKeyFile: generated.keyFile,
        dataDir: join(dir, 'other'),
      }),
    );
    expect(tls.selfSigned).toBe(false);
    expect(tls.cert).toBe(generated.cert);
    expect(tls.key).toBe(generated.key);
  });

  it('fail with TLS_INVALID naming the flag when a file is missing', async () => {
    const err: unknown = await loadTlsMaterial(
      options({ tlsCertFile: join(dir, 'nope.pem'), tlsKeyFile: join(dir, 'nope.key') }),
    ).catch((e: unknown) => e);
    expect((err as StartupError).code).toBe('TLS_INVALID');
    expect((err as StartupError).message).toBe(
      `Cannot read the TLS certificate ${join(dir, 'nope.pem')} (--tls-cert): ENOENT`,
    );
  });

  it('fail with TLS_INVALID when the key does not belong to the certificate', async () => {
    const a = await loadTlsMaterial(options({ dataDir: join(dir, 'a') }));
    const b = await loadTlsMaterial(options({ dataDir: join(dir, 'b') }));
    const err: unknown = await loadTlsMaterial(
      options({ tlsCertFile: a.certFile, tlsKeyFile: b.keyFile }),
    ).catch((e: unknown) => e);
    expect((err as StartupError).code).toBe('TLS_INVALID');
    expect((err as StartupError).message).toContain('is not the private key of');
  });

  it('fail with TLS_INVALID when the certificate is not PEM', async () => {
    const a = await loadTlsMaterial(options());
    const bad = join(dir, 'bad.pem');
    writeFileSync(bad, 'not a certificate');
    const err: unknown = await loadTlsMaterial(
      options({ tlsCertFile: bad, tlsKeyFile: a.keyFile }),
    ).catch((e: unknown) => e);
    expect((err as StartupError).code).toBe('TLS_INVALID');
    expect((err as StartupError).message).toContain('is not a PEM certificate');
  });
});
