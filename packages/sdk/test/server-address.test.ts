import { describe, expect, it } from 'vitest';
import { parseServerAddress } from '../src/server-address.js';

describe('parseServerAddress', () => {
  it('defaults a bare host to https and wss, like @wazo/sdk', () => {
    const address = parseServerAddress('confab.example.com');
    expect(address).toMatchObject({
      secure: true,
      hostname: 'confab.example.com',
      authority: 'confab.example.com',
      httpOrigin: 'https://confab.example.com',
      wsOrigin: 'wss://confab.example.com',
    });
  });

  it('keeps an explicit port of a bare host', () => {
    const address = parseServerAddress('127.0.0.1:8443');
    expect(address.httpOrigin).toBe('https://127.0.0.1:8443');
    expect(address.wsOrigin).toBe('wss://127.0.0.1:8443');
    expect(address.hostname).toBe('127.0.0.1');
  });

  it('speaks http and ws when given an http:// origin (page served over plain HTTP)', () => {
    const address = parseServerAddress('http://localhost:8080/');
    expect(address).toMatchObject({
      secure: false,
      hostname: 'localhost',
      authority: 'localhost:8080',
      httpOrigin: 'http://localhost:8080',
      wsOrigin: 'ws://localhost:8080',
    });
  });

  it('drops the default port of the scheme from the authority', () => {
    expect(parseServerAddress('https://pbx.example.com:443').authority).toBe('pbx.example.com');
    expect(parseServerAddress('http://pbx.example.com:80').authority).toBe('pbx.example.com');
  });

  it('brackets IPv6 hosts', () => {
    const address = parseServerAddress('[::1]:8443');
    expect(address.hostname).toBe('[::1]');
    expect(address.wsOrigin).toBe('wss://[::1]:8443');
  });

  it.each([
    [''],
    ['   '],
    ['ftp://host'],
    ['wss://host'],
    ['https://host/path'],
    ['https://user:pw@host'],
    ['host?x=1'],
    ['host#frag'],
    ['http://'],
  ])('rejects %j with a TypeError', (input) => {
    expect(() => parseServerAddress(input)).toThrow(TypeError);
  });
});
