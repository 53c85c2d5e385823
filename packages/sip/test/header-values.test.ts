import { describe, expect, it } from 'vitest';
import { SipParseError } from '../src/errors.js';
import {
  formatParams,
  formatVia,
  getCallId,
  getContacts,
  getCSeq,
  getExpires,
  getFrom,
  getMaxForwards,
  getTag,
  getTo,
  getTopVia,
  parseCSeq,
  parseParams,
  parseVia,
  splitHeaderList,
} from '../src/header-values.js';
import { SipHeaders } from '../src/headers.js';
import { SipRequest } from '../src/message.js';
import { parseUri } from '../src/uri-parser.js';

function request(headers: [string, string][]): SipRequest {
  return new SipRequest('INVITE', parseUri('sip:bob@biloxi.com'), new SipHeaders(headers));
}

function errorOf(fn: () => unknown): SipParseError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SipParseError);
    return error as SipParseError;
  }
  return expect.unreachable('expected a SipParseError');
}

describe('parseParams', () => {
  it('reads generic-params, unquoting quoted values', () => {
    expect(parseParams(';a=b;c;D="x;y \\"z\\""')).toEqual(
      new Map<string, string | null>([
        ['a', 'b'],
        ['c', null],
        ['d', 'x;y "z"'],
      ]),
    );
    expect(parseParams('')).toEqual(new Map());
    expect(parseParams('  ;  received = 2001:db8::9:255 ; rport')).toEqual(
      new Map<string, string | null>([
        ['received', '2001:db8::9:255'],
        ['rport', null],
      ]),
    );
  });

  it('keeps the first of repeated parameters', () => {
    expect(parseParams(';tag=1;tag=2').get('tag')).toBe('1');
  });

  it.each(['a=b', ';', ';=b', ';a=', ';a="b', ';a=b c', ';a b'])('rejects %j', (text) => {
    expect(errorOf(() => parseParams(text)).code).toBe('SIP_PARSE_ERROR');
  });

  it('formats values that are not tokens as quoted strings', () => {
    const params = new Map<string, string | null>([
      ['a', 'b'],
      ['c', null],
      ['d', 'x y'],
      ['e', ''],
      ['received', '[2001:db8::1]'],
    ]);
    const text = formatParams(params);
    expect(text).toBe(';a=b;c;d="x y";e="";received=[2001:db8::1]');
    expect(parseParams(text)).toEqual(params);
  });
});

describe('splitHeaderList (§7.3.1)', () => {
  it('splits at top-level commas only', () => {
    expect(
      splitHeaderList('"Doe, John" <sip:j@x.com;a=1,2>;q=1 ,  <sip:k@y.com> ,sip:z@w.com'),
    ).toEqual(['"Doe, John" <sip:j@x.com;a=1,2>;q=1', '<sip:k@y.com>', 'sip:z@w.com']);
  });

  it('respects backslash escapes inside quoted strings', () => {
    expect(splitHeaderList('"a\\", b" <sip:a@b.com>, <sip:c@d.com>')).toEqual([
      '"a\\", b" <sip:a@b.com>',
      '<sip:c@d.com>',
    ]);
  });

  it('drops empty elements', () => {
    expect(splitHeaderList(' , a,,b , ')).toEqual(['a', 'b']);
    expect(splitHeaderList('')).toEqual([]);
  });
});

describe('parseVia (§20.42)', () => {
  it('reads sent-protocol, sent-by and parameters', () => {
    const via = parseVia('SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8 ;received=192.0.2.1');
    expect(via).toEqual({
      transport: 'UDP',
      host: 'pc33.atlanta.com',
      port: undefined,
      params: new Map([
        ['branch', 'z9hG4bKnashds8'],
        ['received', '192.0.2.1'],
      ]),
    });
  });

  it('accepts LWS around "/", ":", ";" and "="', () => {
    const via = parseVia(
      ' SIP  /    2.0   / tcp  spindle.example.com  :  5061 ; branch=  z9hG4bK30239 ;rport',
    );
    expect(via.transport).toBe('TCP');
    expect(via.host).toBe('spindle.example.com');
    expect(via.port).toBe(5061);
    expect(via.params.get('branch')).toBe('z9hG4bK30239');
    expect(via.params.get('rport')).toBeNull();
  });

  it('reads IPv6 sent-by and received values (RFC 5118)', () => {
    const via = parseVia(
      'SIP/2.0/WSS [2001:DB8::9:1]:8443;branch=z9hG4bK1;received=[2001:db8::9:255]',
    );
    expect(via.host).toBe('[2001:db8::9:1]');
    expect(via.port).toBe(8443);
    expect(via.params.get('received')).toBe('[2001:db8::9:255]');
  });

  it('formats a Via that parses back to the same value', () => {
    const via = parseVia('SIP/2.0/TLS [::1]:5061;branch=z9hG4bKx;rport=5061;received=192.0.2.1');
    const text = formatVia(via);
    expect(text).toBe('SIP/2.0/TLS [::1]:5061;branch=z9hG4bKx;rport=5061;received=192.0.2.1');
    expect(parseVia(text)).toEqual(via);
  });

  it.each([
    '',
    'SIP/2.0/UDP',
    'SIP/2.0/UDPhost.com',
    'SIP/3.0/UDP host.com',
    'HTTP/2.0/UDP host.com',
    'SIP/2.0 host.com',
    'SIP/2.0/UDP host.com:',
    'SIP/2.0/UDP host.com:70000',
    'SIP/2.0/UDP host.com;branch',
    'SIP/2.0/UDP host.com, SIP/2.0/UDP other.com',
    'SIP/2.0/UDP [::1;branch=x',
  ])('rejects %j', (text) => {
    expect(errorOf(() => parseVia(text)).code).toBe('SIP_PARSE_ERROR');
  });
});

describe('parseCSeq (§20.16)', () => {
  it('reads the number and the case-sensitive method', () => {
    expect(parseCSeq('314159 INVITE')).toEqual({ seq: 314159, method: 'INVITE' });
    expect(parseCSeq(' 0009   invite ')).toEqual({ seq: 9, method: 'invite' });
    expect(parseCSeq('4294967295 BYE')).toEqual({ seq: 4294967295, method: 'BYE' });
  });

  it.each([
    '',
    'INVITE',
    '1',
    '1INVITE',
    '-1 INVITE',
    '4294967296 INVITE',
    '1 INV ITE',
    '1 INVITE;x',
    'x1 BYE',
  ])('rejects %j', (text) => {
    expect(errorOf(() => parseCSeq(text)).code).toBe('SIP_PARSE_ERROR');
  });
});

describe('message accessors', () => {
  const complete = request([
    ['Via', 'SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8'],
    ['Via', 'SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1'],
    ['Max-Forwards', '70'],
    ['To', 'Bob <sip:bob@biloxi.com>'],
    ['From', 'Alice <sip:alice@atlanta.com>;tag=1928301774'],
    ['Call-ID', ' a84b4c76e66710@pc33.atlanta.com '],
    ['CSeq', '314159 INVITE'],
    ['Contact', '<sip:alice@pc33.atlanta.com>;expires=60'],
    ['Contact', 'sip:alice@192.0.2.1'],
    ['Expires', '7200'],
  ]);

  it('read the mandatory headers', () => {
    expect(getCallId(complete)).toBe('a84b4c76e66710@pc33.atlanta.com');
    expect(getCSeq(complete)).toEqual({ seq: 314159, method: 'INVITE' });
    expect(getTopVia(complete).host).toBe('pc33.atlanta.com');
    expect(getTag(getFrom(complete))).toBe('1928301774');
    expect(getTag(getTo(complete))).toBeUndefined();
    expect(getMaxForwards(complete)).toBe(70);
    expect(getExpires(complete)).toBe(7200);
  });

  it('getContacts returns every contact in order', () => {
    const contacts = getContacts(complete);
    expect(contacts).not.toBe('*');
    expect((contacts as { uri: { host: string } }[]).map((c) => c.uri.host)).toEqual([
      'pc33.atlanta.com',
      '192.0.2.1',
    ]);
  });

  it('getContacts returns "*" for the REGISTER wildcard and [] when absent (§10.2.2)', () => {
    expect(getContacts(request([['Contact', '*']]))).toBe('*');
    expect(getContacts(request([]))).toEqual([]);
  });

  it('getContacts rejects "*" mixed with other contacts (§10.3 step 6)', () => {
    const mixed = request([
      ['Contact', '*'],
      ['Contact', '<sip:a@b.com>'],
    ]);
    expect(errorOf(() => getContacts(mixed)).code).toBe('SIP_MISSING_HEADER');
  });

  it('getTag treats a tag without a value as absent', () => {
    expect(getTag(getFrom(request([['From', '<sip:a@b.com>;tag']])))).toBeUndefined();
  });

  it('optional headers read as undefined when absent', () => {
    const bare = request([]);
    expect(getMaxForwards(bare)).toBeUndefined();
    expect(getExpires(bare)).toBeUndefined();
  });

  it('getExpires clamps values above 2^32-1 and accepts leading zeros', () => {
    expect(getExpires(request([['Expires', '99999999999999']]))).toBe(4294967295);
    expect(getMaxForwards(request([['Max-Forwards', '0068']]))).toBe(68);
  });

  it.each([
    ['Call-ID', getCallId],
    ['CSeq', getCSeq],
    ['Via', getTopVia],
    ['From', getFrom],
    ['To', getTo],
  ] as const)('a missing %s throws SIP_MISSING_HEADER with status 400', (name, read) => {
    const error = errorOf(() => read(request([])));
    expect(error.code).toBe('SIP_MISSING_HEADER');
    expect(error.status).toBe(400);
    expect(error.message).toContain(name);
  });

  it.each([
    ['Call-ID', 'a b', getCallId],
    ['Call-ID', '', getCallId],
    ['Call-ID', 'abc\u0000def', getCallId],
    ['Call-ID', 'abc\rdef', getCallId],
    ['CSeq', 'INVITE 1', getCSeq],
    ['Via', 'SIP/2.0/UDP', getTopVia],
    ['From', '<sip:alice@atlanta.com', getFrom],
    ['To', 'Bob <tel:+123>', getTo],
    ['Contact', '<sip:x', getContacts],
    ['Max-Forwards', '256', getMaxForwards],
    ['Max-Forwards', '-1', getMaxForwards],
    ['Expires', 'soon', getExpires],
  ] as const)('a malformed %s (%j) throws SIP_MISSING_HEADER', (name, value, read) => {
    const error = errorOf(() => read(request([[name, value]])));
    expect(error.code).toBe('SIP_MISSING_HEADER');
    expect(error.cause).toBeInstanceOf(SipParseError);
  });
});
