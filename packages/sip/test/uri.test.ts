import { describe, expect, it } from 'vitest';
import { SipParseError } from '../src/errors.js';
import {
  formatNameAddr,
  formatUri,
  parseNameAddr,
  parseUri,
  uriEquals,
} from '../src/uri-parser.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SipParseError);
    return (error as SipParseError).code;
  }
  return undefined;
}

describe('parseUri (RFC 3261 §19.1.1, §25.1)', () => {
  it('reads user, password, host, port, parameters and headers', () => {
    const uri = parseUri(
      'sip:alice:secretword@atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent',
    );
    expect(uri).toEqual({
      scheme: 'sip',
      user: 'alice',
      password: 'secretword',
      host: 'atlanta.com',
      port: 5061,
      params: new Map([
        ['transport', 'tcp'],
        ['lr', null],
      ]),
      headers: new Map([
        ['subject', 'project x'],
        ['priority', 'urgent'],
      ]),
    });
  });

  it('reads the §19.1.3 examples', () => {
    expect(parseUri('sips:alice@atlanta.com?subject=project%20x&priority=urgent').scheme).toBe(
      'sips',
    );
    const phone = parseUri('sip:+1-212-555-1212:1234@gateway.com;user=phone');
    expect(phone.user).toBe('+1-212-555-1212');
    expect(phone.password).toBe('1234');
    expect(phone.params.get('user')).toBe('phone');
    expect(parseUri('sips:1212@gateway.com').user).toBe('1212');
    const ip = parseUri('sip:alice@192.0.2.4');
    expect(ip.host).toBe('192.0.2.4');
    const noUser = parseUri('sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com');
    expect(noUser.user).toBeUndefined();
    expect(noUser.headers.get('to')).toBe('alice@atlanta.com');
    expect(parseUri('sip:alice;day=tuesday@atlanta.com').user).toBe('alice;day=tuesday');
  });

  it('lower-cases the scheme, host and parameter names but keeps user and values', () => {
    const uri = parseUri('SIP:ALICE@AtLanTa.CoM;Transport=UDP');
    expect(uri.scheme).toBe('sip');
    expect(uri.user).toBe('ALICE');
    expect(uri.host).toBe('atlanta.com');
    expect(uri.params.get('transport')).toBe('UDP');
  });

  it('unescapes %HH in user, password, parameters and headers (§19.1.2)', () => {
    const uri = parseUri(
      'sip:sips%3Auser%40example.com:p%61ss@example.net;fo%6F=b%61r?h%64r=v%C3%A9',
    );
    expect(uri.user).toBe('sips:user@example.com');
    expect(uri.password).toBe('pass');
    expect(uri.params.get('foo')).toBe('bar');
    expect(uri.headers.get('hdr')).toBe('vé');
  });

  it('reads IPv6 references with and without ports', () => {
    expect(parseUri('sip:[2001:db8::10]').host).toBe('[2001:db8::10]');
    const withPort = parseUri('sip:alice@[2001:DB8::9:1]:5070;transport=udp');
    expect(withPort.host).toBe('[2001:db8::9:1]');
    expect(withPort.port).toBe(5070);
    expect(parseUri('sip:[::ffff:192.0.2.1]').host).toBe('[::ffff:192.0.2.1]');
    expect(parseUri('sip:[1:2:3:4:5:6:7:8]').host).toBe('[1:2:3:4:5:6:7:8]');
  });

  it('rejects other schemes with SIP_UNSUPPORTED_URI_SCHEME and status 416 (§8.2.2.1)', () => {
    for (const text of ['tel:+1-201-555-0123', 'mailto:alice@atlanta.com', 'urn:uuid:f81d4fae']) {
      try {
        parseUri(text);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(SipParseError);
        expect((error as SipParseError).code).toBe('SIP_UNSUPPORTED_URI_SCHEME');
        expect((error as SipParseError).status).toBe(416);
      }
    }
  });

  it.each([
    '',
    'sip:',
    'sip:@atlanta.com',
    'sip:alice@',
    'sip:alice@atlanta.com:',
    'sip:alice@atlanta.com:99999',
    'sip:alice@atlanta.com:5o60',
    'sip:alice@atl anta.com',
    'sip:alice@-atlanta.com',
    'sip:alice@atlanta.123',
    'sip:alice@256.1.1.1',
    'sip:alice@[2001:db8::10',
    'sip:alice@[2001:db8:::10]',
    'sip:alice@[1:2:3:4:5:6:7:8:9]',
    'sip:alice@[1:2:3:4:5:6:7]',
    'sip:al%4ice@atlanta.com',
    'sip:al%4',
    'sip:al<ice@atlanta.com',
    'sip:alice@atlanta.com;=x',
    'sip:alice@atlanta.com;a=',
    'sip:alice@atlanta.com;a b',
    'sip:alice@atlanta.com?x',
    'sip:alice@atlanta.com?=x',
    'sip:alice@atlanta.com>',
    '1sip:alice@atlanta.com',
    'alice@atlanta.com',
  ])('rejects %j with SIP_PARSE_ERROR', (text) => {
    expect(codeOf(() => parseUri(text))).toBe('SIP_PARSE_ERROR');
  });
});

describe('formatUri (§19.1.2)', () => {
  it('writes back what it read', () => {
    for (const text of [
      'sip:alice@atlanta.com',
      'sips:alice:secret@atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent',
      'sip:+1-212-555-1212:1234@gateway.com;user=phone',
      'sip:[2001:db8::10]:5070;maddr=[2001:db8::1]',
      'sip:alice;day=tuesday@atlanta.com',
    ]) {
      expect(formatUri(parseUri(text))).toBe(text);
    }
  });

  it('escapes characters the component does not allow, and only those', () => {
    const uri = parseUri('sip:x@atlanta.com');
    uri.user = 'al ice@home';
    uri.password = 'p:w';
    uri.params.set('na me', 'v;a=l');
    uri.headers.set('subject', 'a&b é');
    const text = formatUri(uri);
    expect(text).toBe(
      'sip:al%20ice%40home:p%3Aw@atlanta.com;na%20me=v%3Ba%3Dl?subject=a%26b%20%C3%A9',
    );
    expect(parseUri(text)).toEqual(uri);
  });

  it('brackets a bare IPv6 host', () => {
    const uri = parseUri('sip:alice@atlanta.com');
    uri.host = '2001:db8::1';
    expect(formatUri(uri)).toBe('sip:alice@[2001:db8::1]');
  });
});

describe('uriEquals (§19.1.4)', () => {
  it.each([
    ['sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'],
    ['sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on'],
    [
      'sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com',
      'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com',
    ],
    [
      'sip:alice@atlanta.com?subject=project%20x&priority=urgent',
      'sip:alice@atlanta.com?priority=urgent&subject=project%20x',
    ],
  ])('%s equals %s', (a, b) => {
    expect(uriEquals(parseUri(a), parseUri(b))).toBe(true);
    expect(uriEquals(parseUri(b), parseUri(a))).toBe(true);
  });

  it.each([
    ['SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting'],
    ['sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4'],
    ['sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off'],
    ['sip:alice@atlanta.com', 'sips:alice@atlanta.com'],
    ['sip:alice:a@atlanta.com', 'sip:alice:b@atlanta.com'],
    ['sip:alice@atlanta.com;maddr=192.0.2.1', 'sip:alice@atlanta.com'],
    ['sip:alice@atlanta.com;ttl=1', 'sip:alice@atlanta.com;ttl=2'],
  ])('%s differs from %s', (a, b) => {
    expect(uriEquals(parseUri(a), parseUri(b))).toBe(false);
    expect(uriEquals(parseUri(b), parseUri(a))).toBe(false);
  });
});

describe('parseNameAddr (§20.10)', () => {
  it('reads a display name, the URI and header parameters', () => {
    const value = parseNameAddr('Bob <sip:bob@biloxi.com;transport=tcp>;tag=a6c85cf;expires=60');
    expect(value.displayName).toBe('Bob');
    expect(value.uri.params.get('transport')).toBe('tcp');
    expect(value.params).toEqual(
      new Map([
        ['tag', 'a6c85cf'],
        ['expires', '60'],
      ]),
    );
  });

  it('unquotes quoted display names with backslash escapes and commas', () => {
    const value = parseNameAddr('"Rosenberg, \\"J\\" \\\\" <sip:jdrosen@example.com>');
    expect(value.displayName).toBe('Rosenberg, "J" \\');
    expect(parseNameAddr('"" <sip:a@b.com>').displayName).toBe('');
  });

  it('treats parameters after a bare addr-spec as header parameters', () => {
    const value = parseNameAddr('sip:alice@atlanta.com;tag=1928301774');
    expect(value.displayName).toBeUndefined();
    expect(value.uri.params.size).toBe(0);
    expect(value.params.get('tag')).toBe('1928301774');
  });

  it('accepts whitespace around the parts and between parameters', () => {
    const value = parseNameAddr(' sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n ');
    expect(value.uri.user).toBe('vivekg');
    expect(value.params.get('tag')).toBe('1918181833n');
    const spaced = parseNameAddr(
      '"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33',
    );
    expect(spaced.displayName).toBe('Quoted string ""');
    expect(spaced.params).toEqual(
      new Map([
        ['newparam', 'newvalue'],
        ['secondparam', null],
        ['q', '0.33'],
      ]),
    );
  });

  it('reads quoted parameter values such as +sip.instance (RFC 5626)', () => {
    const value = parseNameAddr(
      '<sip:alice@192.0.2.1;ob>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1',
    );
    expect(value.params.get('+sip.instance')).toBe(
      '<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>',
    );
    expect(value.uri.params.get('ob')).toBeNull();
  });

  it('reads multi-token and UTF-8 display names', () => {
    expect(parseNameAddr('J  Rosenberg <sip:j@example.com>').displayName).toBe('J  Rosenberg');
    expect(parseNameAddr('Zoë <sip:z@example.com>').displayName).toBe('Zoë');
  });

  it.each([
    '',
    '<sip:alice@atlanta.com',
    '"unterminated <sip:alice@atlanta.com>',
    '"Alice" sip:alice@atlanta.com',
    '<sip:alice@atlanta.com> junk',
    '<sip:alice@atlanta.com>;',
    '<sip:alice@atlanta.com>;tag=',
    '<sip:alice@atlanta.com>;tag="open',
    'Alice <>',
    'Al,ice <sip:alice@atlanta.com>',
  ])('rejects %j', (text) => {
    expect(codeOf(() => parseNameAddr(text))).toBe('SIP_PARSE_ERROR');
  });

  it('requires <> around a URI with URI headers (§20.10)', () => {
    expect(codeOf(() => parseNameAddr('sip:user@example.com?Route=%3Csip:a.com%3E'))).toBe(
      'SIP_PARSE_ERROR',
    );
    expect(
      parseNameAddr('<sip:user@example.com?Route=%3Csip:a.com%3E>').uri.headers.get('route'),
    ).toBe('<sip:a.com>');
  });

  it('reports a tel: URI as an unsupported scheme', () => {
    expect(codeOf(() => parseNameAddr('<tel:+12015550123>'))).toBe('SIP_UNSUPPORTED_URI_SCHEME');
  });
});

describe('formatNameAddr', () => {
  it('quotes the display name and always brackets the URI', () => {
    const value = parseNameAddr('Bob <sip:bob@biloxi.com>;tag=a6c85cf');
    expect(formatNameAddr(value)).toBe('"Bob" <sip:bob@biloxi.com>;tag=a6c85cf');
    expect(formatNameAddr(parseNameAddr('sip:bob@biloxi.com'))).toBe('<sip:bob@biloxi.com>');
  });

  it('round-trips escapes, quoted values and URI parameters', () => {
    const value = parseNameAddr('"A \\"B\\"" <sip:a@b.com;lr>;p="x y";q=0.5;flag');
    const again = parseNameAddr(formatNameAddr(value));
    expect(again).toEqual(value);
    expect(formatNameAddr(value)).toBe('"A \\"B\\"" <sip:a@b.com;lr>;p="x y";q=0.5;flag');
  });

  it('never lets CR or LF into the header', () => {
    const value = parseNameAddr('<sip:a@b.com>');
    value.displayName = 'evil\r\nVia: x';
    expect(formatNameAddr(value)).toBe('"evil  Via: x" <sip:a@b.com>');
  });
});
