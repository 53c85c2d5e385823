import { describe, expect, it } from 'vitest';
import { ConfabError, UnsupportedError } from '@confab/core';
import {
  ConfigError,
  StartupError,
  StoreError,
  describeListenError,
  isUserFacingError,
} from '../src/errors.js';

function errno(
  code: string,
  syscall: string,
  port: number,
  address = '0.0.0.0',
): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code} ${address}:${port}`), {
    code,
    syscall,
    port,
    address,
  });
}

describe('describeListenError', () => {
  it('names the port, transport, listener and flag of a port in use (TCP listen)', () => {
    const err = describeListenError(errno('EADDRINUSE', 'listen', 8443), 'HTTPS', '--https-port');
    expect(err).toBeInstanceOf(StartupError);
    expect(err.code).toBe('PORT_IN_USE');
    expect(err.message).toBe(
      'Port 8443/tcp (HTTPS) is already in use — choose another with --https-port',
    );
  });

  it('reports a UDP bind failure as udp', () => {
    const err = describeListenError(errno('EADDRINUSE', 'bind', 5060), 'SIP', '--sip-port');
    expect(err.message).toBe(
      'Port 5060/udp (SIP) is already in use — choose another with --sip-port',
    );
  });

  it('uses a full "port/transport (label)" descriptor as given', () => {
    const err = describeListenError(
      errno('EADDRINUSE', 'bind', 5060),
      '5060/udp (SIP)',
      '--sip-port',
    );
    expect(err.message).toBe(
      'Port 5060/udp (SIP) is already in use — choose another with --sip-port',
    );
  });

  it('explains a privileged port', () => {
    const err = describeListenError(errno('EACCES', 'listen', 443), 'HTTPS', '--https-port');
    expect(err.code).toBe('PORT_ACCESS_DENIED');
    expect(err.message).toBe(
      'Not allowed to listen on port 443/tcp (HTTPS): ports below 1024 need privileges — choose a port of 1024 or more with --https-port',
    );
  });

  it('points at --bind for an address this machine does not have', () => {
    const err = describeListenError(
      errno('EADDRNOTAVAIL', 'listen', 8080, '192.0.2.1'),
      'HTTP',
      '--http-port',
    );
    expect(err.code).toBe('ADDRESS_NOT_AVAILABLE');
    expect(err.message).toContain('192.0.2.1 is not an address of this machine — check --bind');
  });

  it('keeps other failures with their reason and the original error as cause', () => {
    const original = errno('EMFILE', 'listen', 8080);
    const err = describeListenError(original, 'HTTP', '--http-port');
    expect(err.code).toBe('LISTEN_FAILED');
    expect(err.message).toContain('Cannot listen on port 8080/tcp (HTTP): ');
    expect(err.cause).toBe(original);
  });

  it('copes with a value that is not an error', () => {
    expect(describeListenError('weird', 'HTTP', '--http-port').message).toBe(
      'Cannot listen on port ?/tcp (HTTP): weird',
    );
  });
});

describe('isUserFacingError', () => {
  it('accepts configuration, start-up and store errors', () => {
    expect(isUserFacingError(new ConfigError(['--x: bad']))).toBe(true);
    expect(isUserFacingError(new StartupError('PORT_IN_USE', 'busy'))).toBe(true);
    expect(isUserFacingError(new StoreError('STORE_CONFLICT', 'taken'))).toBe(true);
  });

  it('accepts errors from another realm by their code', () => {
    const foreign = Object.assign(new Error('busy'), { code: 'PORT_IN_USE' });
    expect(isUserFacingError(foreign)).toBe(true);
  });

  it('rejects bugs and other Confab errors', () => {
    expect(isUserFacingError(new TypeError('x is undefined'))).toBe(false);
    expect(isUserFacingError(new ConfabError('SIP_PARSE_ERROR', 'bad'))).toBe(false);
    expect(isUserFacingError(new UnsupportedError('nope'))).toBe(false);
    expect(isUserFacingError('string')).toBe(false);
  });
});

describe('ConfigError', () => {
  it('joins its issues into the message and keeps them', () => {
    const err = new ConfigError(['--a: x', 'CONFAB_B: y']);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe('--a: x; CONFAB_B: y');
    expect(err.issues).toEqual(['--a: x', 'CONFAB_B: y']);
  });
});
