import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { networkInterfaces } from 'node:os';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultConfig,
  detectAdvertisedAddress,
  loadConfig,
  type ConfigFlags,
  type LoadConfigOptions,
} from '../src/config.js';
import { ConfigError } from '../src/errors.js';

type Interfaces = ReturnType<typeof networkInterfaces>;

const LAN: Interfaces = {
  lo: [
    {
      address: '127.0.0.1',
      netmask: '255.0.0.0',
      family: 'IPv4',
      mac: '00:00:00:00:00:00',
      internal: true,
      cidr: '127.0.0.1/8',
    },
  ],
  eth0: [
    {
      address: 'fe80::1',
      netmask: 'ffff:ffff:ffff:ffff::',
      family: 'IPv6',
      mac: '02:00:00:00:00:01',
      internal: false,
      cidr: 'fe80::1/64',
      scopeid: 2,
    },
    {
      address: '192.0.2.10',
      netmask: '255.255.255.0',
      family: 'IPv4',
      mac: '02:00:00:00:00:01',
      internal: false,
      cidr: '192.0.2.10/24',
    },
  ],
};

const cwd = '/srv/confab';
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'confab-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function load(options: Omit<LoadConfigOptions, 'cwd' | 'interfaces'> = {}) {
  return loadConfig({ env: {}, cwd, interfaces: LAN, ...options });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function writeJson(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

describe('defaults', () => {
  it('uses the documented defaults', () => {
    expect(load()).toEqual({
      dataDir: '/srv/confab/data',
      httpPort: 8080,
      httpsPort: 8443,
      sipPort: 5060,
      bindAddress: '0.0.0.0',
      advertisedAddress: '192.0.2.10',
      mediaAddresses: ['192.0.2.10', '127.0.0.1'],
      rtpPortRange: [10000, 20000],
      mediaWorkers: availableParallelism(),
      sipDomain: '192.0.2.10',
      logLevel: 'info',
      createDemoUsers: true,
      tlsCertFile: null,
      tlsKeyFile: null,
    });
    expect(defaultConfig({ cwd, interfaces: LAN })).toEqual(load());
  });

  it('advertises the first non-internal IPv4 address, else 127.0.0.1', () => {
    expect(detectAdvertisedAddress(LAN)).toBe('192.0.2.10');
    expect(detectAdvertisedAddress({ lo: LAN['lo'] ?? [] })).toBe('127.0.0.1');
    expect(detectAdvertisedAddress({})).toBe('127.0.0.1');
  });

  it('does not duplicate 127.0.0.1 in the media addresses on a loopback-only host', () => {
    const config = loadConfig({ env: {}, cwd, interfaces: {} });
    expect(config.mediaAddresses).toEqual(['127.0.0.1']);
  });
});

describe('sources and precedence', () => {
  it('reads every setting from flags', () => {
    const flags: ConfigFlags = {
      data: 'var/confab',
      httpPort: '0',
      httpsPort: '0',
      sipPort: '5070',
      bind: '127.0.0.1',
      advertise: '127.0.0.1',
      rtpPorts: '20000-20100',
      mediaWorkers: '3',
      sipDomain: 'pbx.example.org',
      logLevel: 'debug',
      demoUsers: false,
      tlsCert: '/etc/confab/cert.pem',
      tlsKey: 'key.pem',
    };
    expect(load({ argv: flags })).toEqual({
      dataDir: '/srv/confab/var/confab',
      httpPort: 0,
      httpsPort: 0,
      sipPort: 5070,
      bindAddress: '127.0.0.1',
      advertisedAddress: '127.0.0.1',
      mediaAddresses: ['127.0.0.1'],
      rtpPortRange: [20000, 20100],
      mediaWorkers: 3,
      sipDomain: 'pbx.example.org',
      logLevel: 'debug',
      createDemoUsers: false,
      tlsCertFile: '/etc/confab/cert.pem',
      tlsKeyFile: '/srv/confab/key.pem',
    });
  });

  it('reads every setting from the environment', () => {
    const config = load({
      env: {
        CONFAB_DATA: '/tmp/d',
        CONFAB_HTTP_PORT: '81',
        CONFAB_HTTPS_PORT: '444',
        CONFAB_SIP_PORT: '5080',
        CONFAB_BIND: '::',
        CONFAB_ADVERTISE: '198.51.100.7',
        CONFAB_RTP_PORTS: '30000 - 30010',
        CONFAB_MEDIA_WORKERS: '2',
        CONFAB_SIP_DOMAIN: 'example.net',
        CONFAB_LOG_LEVEL: 'warn',
        CONFAB_DEMO_USERS: 'no',
        CONFAB_TLS_CERT: 'c.pem',
        CONFAB_TLS_KEY: 'k.pem',
      },
    });
    expect(config).toMatchObject({
      dataDir: '/tmp/d',
      httpPort: 81,
      httpsPort: 444,
      sipPort: 5080,
      bindAddress: '::',
      advertisedAddress: '198.51.100.7',
      mediaAddresses: ['198.51.100.7', '127.0.0.1'],
      rtpPortRange: [30000, 30010],
      mediaWorkers: 2,
      sipDomain: 'example.net',
      logLevel: 'warn',
      createDemoUsers: false,
      tlsCertFile: '/srv/confab/c.pem',
      tlsKeyFile: '/srv/confab/k.pem',
    });
  });

  it('lets flags win over env, env over file, file over defaults', () => {
    const file = writeJson('precedence.json', {
      httpPort: 1111,
      httpsPort: 2222,
      sipPort: 3333,
      logLevel: 'trace',
    });
    const config = load({
      file,
      env: { CONFAB_HTTP_PORT: '4444', CONFAB_HTTPS_PORT: '5555' },
      argv: { httpPort: '6666' },
    });
    expect(config.httpPort).toBe(6666);
    expect(config.httpsPort).toBe(5555);
    expect(config.sipPort).toBe(3333);
    expect(config.logLevel).toBe('trace');
    expect(config.bindAddress).toBe('0.0.0.0');
  });

  it('takes the file from --config before CONFAB_CONFIG before the file option', () => {
    const a = writeJson('a.json', { sipPort: 1 });
    const b = writeJson('b.json', { sipPort: 2 });
    const c = writeJson('c.json', { sipPort: 3 });
    expect(load({ argv: { config: a }, env: { CONFAB_CONFIG: b }, file: c }).sipPort).toBe(1);
    expect(load({ env: { CONFAB_CONFIG: b }, file: c }).sipPort).toBe(2);
    expect(load({ file: c }).sipPort).toBe(3);
  });

  it('resolves relative paths of the file against the file, of flags and env against the cwd', () => {
    const file = writeJson('paths.json', {
      dataDir: 'state',
      tlsCertFile: 'tls/c.pem',
      tlsKeyFile: 'tls/k.pem',
    });
    expect(load({ file })).toMatchObject({
      dataDir: join(dir, 'state'),
      tlsCertFile: join(dir, 'tls/c.pem'),
    });
    expect(load({ file, env: { CONFAB_DATA: 'x' } }).dataDir).toBe('/srv/confab/x');
  });

  it('accepts native JSON values in the file (numbers, booleans, a port tuple)', () => {
    const file = writeJson('native.json', {
      rtpPortRange: [40000, 40100],
      createDemoUsers: false,
      mediaWorkers: 4,
    });
    expect(load({ file })).toMatchObject({
      rtpPortRange: [40000, 40100],
      createDemoUsers: false,
      mediaWorkers: 4,
    });
  });

  it('treats an empty environment variable as unset', () => {
    expect(load({ env: { CONFAB_HTTP_PORT: '', CONFAB_LOG_LEVEL: '  ' } })).toMatchObject({
      httpPort: 8080,
      logLevel: 'info',
    });
  });

  it('derives the SIP domain from --advertise unless it is given', () => {
    expect(load({ argv: { advertise: '203.0.113.5' } }).sipDomain).toBe('203.0.113.5');
    expect(load({ argv: { advertise: '203.0.113.5', sipDomain: 'example.com' } }).sipDomain).toBe(
      'example.com',
    );
  });

  it('reads the ring timeout from --ring-timeout, CONFAB_RING_TIMEOUT or the file, and leaves it unset by default', () => {
    expect(load().ringTimeoutSeconds).toBeUndefined();
    expect(load({ argv: { ringTimeout: '15' } }).ringTimeoutSeconds).toBe(15);
    expect(load({ env: { CONFAB_RING_TIMEOUT: '25' } }).ringTimeoutSeconds).toBe(25);
    const file = writeJson('ring.json', { ringTimeoutSeconds: 45 });
    expect(load({ file }).ringTimeoutSeconds).toBe(45);
    expect(load({ file, argv: { ringTimeout: 5 } }).ringTimeoutSeconds).toBe(5);
  });

  it('accepts port 0 for ephemeral HTTP and HTTPS ports', () => {
    expect(load({ argv: { httpPort: 0, httpsPort: 0 } })).toMatchObject({
      httpPort: 0,
      httpsPort: 0,
    });
  });
});

describe('validation errors name the source and the problem', () => {
  it.each<[string, LoadConfigOptions, string]>([
    [
      'a non-numeric port flag',
      { argv: { httpPort: 'abc' } },
      '--http-port: expected a port number',
    ],
    [
      'a port above 65535',
      { env: { CONFAB_HTTPS_PORT: '70000' } },
      'CONFAB_HTTPS_PORT: expected a port',
    ],
    ['a negative SIP port', { argv: { sipPort: '-1' } }, '--sip-port: expected a port'],
    ['a fractional port', { argv: { sipPort: 50.5 } }, '--sip-port: expected a port'],
    [
      'a bind address that is not an IP',
      { argv: { bind: 'localhost' } },
      '--bind: expected an IP address, got "localhost"',
    ],
    [
      'an advertised hostname',
      { env: { CONFAB_ADVERTISE: 'pbx.local' } },
      'CONFAB_ADVERTISE: expected an IP address',
    ],
    [
      'a malformed RTP range',
      { argv: { rtpPorts: '10000' } },
      '--rtp-ports: expected a range such as "10000-20000"',
    ],
    [
      'an odd first RTP port',
      { argv: { rtpPorts: '10001-20000' } },
      '--rtp-ports: the first port must be even, got 10001',
    ],
    [
      'an inverted RTP range',
      { argv: { rtpPorts: '20000-10000' } },
      '--rtp-ports: the first port must be below the last',
    ],
    [
      'an empty RTP range',
      { argv: { rtpPorts: '20000-20000' } },
      '--rtp-ports: the first port must be below the last',
    ],
    [
      'RTP ports below 1024',
      { env: { CONFAB_RTP_PORTS: '1000-2000' } },
      'CONFAB_RTP_PORTS: ports must lie within 1024–65535',
    ],
    [
      'RTP ports above 65535',
      { argv: { rtpPorts: '60000-70000' } },
      '--rtp-ports: ports must lie within 1024–65535',
    ],
    [
      'zero media workers',
      { argv: { mediaWorkers: '0' } },
      '--media-workers: expected a number of workers from 1 to 256',
    ],
    [
      'a non-numeric media workers count',
      { env: { CONFAB_MEDIA_WORKERS: 'many' } },
      'CONFAB_MEDIA_WORKERS: expected a number of workers',
    ],
    [
      'a zero ring timeout',
      { argv: { ringTimeout: '0' } },
      '--ring-timeout: expected a ring timeout in seconds from 1 to 3600, got "0"',
    ],
    [
      'a non-numeric ring timeout',
      { env: { CONFAB_RING_TIMEOUT: '1m' } },
      'CONFAB_RING_TIMEOUT: expected a ring timeout in seconds from 1 to 3600, got "1m"',
    ],
    [
      'a SIP domain with a space',
      { argv: { sipDomain: 'my pbx' } },
      '--sip-domain: expected a domain name or IP address, got "my pbx"',
    ],
    [
      'an unknown log level',
      { argv: { logLevel: 'verbose' } },
      '--log-level: expected one of fatal, error, warn, info, debug, trace, got "verbose"',
    ],
    [
      'a non-boolean demo users variable',
      { env: { CONFAB_DEMO_USERS: 'maybe' } },
      'CONFAB_DEMO_USERS: expected true or false, got "maybe"',
    ],
    [
      'a TLS certificate without a key',
      { argv: { tlsCert: 'c.pem' } },
      '--tls-cert (CONFAB_TLS_CERT) needs --tls-key',
    ],
    [
      'a TLS key without a certificate',
      { env: { CONFAB_TLS_KEY: 'k.pem' } },
      '--tls-key (CONFAB_TLS_KEY) needs --tls-cert',
    ],
    [
      'equal HTTP and HTTPS ports',
      { argv: { httpPort: '9000', httpsPort: '9000' } },
      'HTTP and HTTPS need different ports',
    ],
  ])('rejects %s', (_label, options, expected) => {
    const err = configError(() => load(options));
    expect(err.message).toContain(expected);
  });

  it('reports every invalid setting at once', () => {
    const err = configError(() =>
      load({ argv: { httpPort: 'x' }, env: { CONFAB_LOG_LEVEL: 'loud' } }),
    );
    expect(err.issues).toHaveLength(2);
    expect(err.issues[0]).toMatch(/^--http-port: /);
    expect(err.issues[1]).toMatch(/^CONFAB_LOG_LEVEL: /);
  });

  it('names the file and key of an invalid file value', () => {
    const file = writeJson('bad-value.json', { sipPort: 'five' });
    expect(configError(() => load({ file })).message).toBe(
      `${file}: "sipPort": expected a port number from 0 to 65535 (0 = any free port), got "five"`,
    );
  });

  it('rejects an unknown key in the file', () => {
    const file = writeJson('unknown.json', { httpport: 80 });
    expect(configError(() => load({ file })).message).toContain(
      `config file ${file}: unknown setting "httpport"`,
    );
  });

  it('rejects a file that is not JSON, not an object, or missing', () => {
    expect(configError(() => load({ file: writeJson('bad.json', '{ nope') })).message).toContain(
      'not valid JSON',
    );
    expect(configError(() => load({ file: writeJson('array.json', [1]) })).message).toContain(
      'expected a JSON object',
    );
    expect(configError(() => load({ file: join(dir, 'missing.json') })).message).toContain(
      'cannot read it (ENOENT)',
    );
  });

  it('does not let a derived field be configured', () => {
    const file = writeJson('derived.json', { mediaAddresses: ['10.0.0.1'] });
    expect(configError(() => load({ file })).message).toContain('unknown setting "mediaAddresses"');
  });
});
