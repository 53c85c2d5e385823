import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SipParseError } from '../src/errors.js';
import {
  getCallId,
  getContacts,
  getCSeq,
  getFrom,
  getMaxForwards,
  getTag,
  getTo,
  getTopVia,
  parseVia,
} from '../src/header-values.js';
import { SipRequest, SipResponse, bodyText, isRequest } from '../src/message.js';
import type { SipMessage } from '../src/message.js';
import { StreamFramer, parseMessage, validateRequest } from '../src/parser.js';
import { serializeMessage } from '../src/serializer.js';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, FIXTURES)));
}

const RFC3261_FIXTURES = readdirSync(FIXTURES)
  .filter((name) => name.startsWith('rfc3261-') && name.endsWith('.sip'))
  .sort();

function parseError(
  data: Uint8Array | string,
  options?: Parameters<typeof parseMessage>[1],
): SipParseError {
  try {
    parseMessage(data, options);
  } catch (error) {
    expect(error).toBeInstanceOf(SipParseError);
    return error as SipParseError;
  }
  return expect.unreachable('expected parseMessage to throw');
}

function request(data: Uint8Array | string): SipRequest {
  const message = parseMessage(data);
  expect(isRequest(message)).toBe(true);
  return message as SipRequest;
}

/** A minimal valid request; `extra` header lines are inserted before Content-Length. */
function invite(extra = '', body = '', startLine = 'INVITE sip:bob@biloxi.com SIP/2.0'): string {
  return (
    `${startLine}\r\n` +
    'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\r\n' +
    'Max-Forwards: 70\r\n' +
    'To: Bob <sip:bob@biloxi.com>\r\n' +
    'From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n' +
    'Call-ID: a84b4c76e66710\r\n' +
    'CSeq: 314159 INVITE\r\n' +
    extra +
    `Content-Length: ${encoder.encode(body).length}\r\n\r\n` +
    body
  );
}

function headerList(m: SipMessage): [string, string][] {
  return [...m.headers].map((entry) => [entry.name, entry.value]);
}

describe('parseMessage: RFC 3261 §24 examples', () => {
  it.each(RFC3261_FIXTURES)(
    '%s parses, validates and serializes back byte for byte (unfolded)',
    (name) => {
      const bytes = fixture(name);
      const message = parseMessage(bytes);
      if (isRequest(message)) {
        expect(() => {
          validateRequest(message);
        }).not.toThrow();
      }
      expect(getCallId(message)).toMatch(/^(843817637684230@998sdasdh09|a84b4c76e66710)$/);
      // Folded lines come back as one line joined by a single SP (§7.3.1); nothing else changes.
      const expected = decoder.decode(bytes).replaceAll('\r\n ', ' ');
      expect(decoder.decode(serializeMessage(message))).toBe(expected);
    },
  );

  it('reads the §24.1 REGISTER', () => {
    const m = request(fixture('rfc3261-24.1-f1-register.sip'));
    expect(m.method).toBe('REGISTER');
    expect(m.uri.host).toBe('registrar.biloxi.com');
    expect(getTopVia(m)).toEqual({
      transport: 'UDP',
      host: 'bobspc.biloxi.com',
      port: 5060,
      params: new Map([['branch', 'z9hG4bKnashds7']]),
    });
    expect(getMaxForwards(m)).toBe(70);
    expect(getTag(getFrom(m))).toBe('456248');
    expect(getCSeq(m)).toEqual({ seq: 1826, method: 'REGISTER' });
    const contacts = getContacts(m);
    expect(contacts !== '*' && contacts[0]?.uri.host).toBe('192.0.2.4');
    expect(m.headers.get('Expires')).toBe('7200');
    expect(m.body.length).toBe(0);
  });

  it('reads the §24.2 F5 INVITE with its three Vias and SDP body', () => {
    const m = request(fixture('rfc3261-24.2-f05-invite.sip'));
    const vias = m.headers.getAll('Via').map(parseVia);
    expect(vias.map((via) => via.host)).toEqual([
      'server10.biloxi.com',
      'bigbox3.site3.atlanta.com',
      'pc33.atlanta.com',
    ]);
    expect(vias[1]?.params.get('received')).toBe('192.0.2.2');
    expect(m.body.length).toBe(142);
    expect(bodyText(m)).toMatch(/^v=0\r\no=alice /);
  });

  it('reads the §24.2 F6 response', () => {
    const m = parseMessage(fixture('rfc3261-24.2-f06-180-ringing.sip')) as SipResponse;
    expect(m).toBeInstanceOf(SipResponse);
    expect(m.status).toBe(180);
    expect(m.reason).toBe('Ringing');
    expect(getTag(getTo(m))).toBe('a6c85cf');
    expect(m.headers.getAll('Via')).toHaveLength(3);
  });
});

describe('parseMessage: valid but unusual messages (RFC 4475 §3.1.1 style)', () => {
  it('reads a tortuous INVITE: folding, odd whitespace, compact and mixed-case names', () => {
    const m = request(fixture('torture-tortuous-invite.sip'));
    expect(() => {
      validateRequest(m);
    }).not.toThrow();
    expect(m.uri.params.get('unknownparam')).toBeNull();
    const to = getTo(m);
    expect(to.displayName).toBe('Carol, the "Chief"');
    expect(getTag(to)).toBe('77aa');
    const from = getFrom(m);
    expect(from.displayName).toBe('Ted \\ Smith');
    expect(getTag(from)).toBe('55bb');
    expect(getMaxForwards(m)).toBe(42);
    expect(getCallId(m)).toBe('tortuous.7719@192.0.2.33');
    expect(getCSeq(m)).toEqual({ seq: 17, method: 'INVITE' });
    const vias = m.headers.getAll('Via').map(parseVia);
    expect(vias.map((via) => [via.transport, via.host, via.params.get('branch')])).toEqual([
      ['UDP', '192.0.2.33', 'z9hG4bKtort1'],
      ['TCP', 'relay.example.net', 'z9hG4bKtort2'],
      ['UDP', '192.0.2.44', 'z9hG4bKtort3'],
    ]);
    expect(m.headers.get('Subject')).toBe('');
    expect(m.headers.get('X-Made-Up-Header')).toBe('first part continued part');
    expect(m.headers.get('X-Unusual-Value')).toBe(';;,,;;,;');
    expect(m.headers.get('Content-Type')).toBe('application/sdp');
    expect(m.headers.getAll('Route')).toEqual([
      '<sip:proxy.example.com;lr;unknownwith=value;unknown-no-value>',
    ]);
    const contacts = getContacts(m);
    expect(contacts).not.toBe('*');
    const [first, second] = contacts as Exclude<typeof contacts, '*'>;
    expect(first?.displayName).toBe('Quoted string, with comma ""');
    expect(first?.params).toEqual(
      new Map([
        ['newparam', 'newvalue'],
        ['secondparam', null],
        ['q', '0.33'],
      ]),
    );
    expect(second?.params.get('expires')).toBe('60');
    expect(bodyText(m)).toMatch(/^v=0\r\n[^]*a=rtpmap:31 LPC\r\n$/);
  });

  it('reads escaped URI components, UTF-8 and IPv6 references', () => {
    const m = request(fixture('torture-escaped-ipv6-register.sip'));
    expect(() => {
      validateRequest(m);
    }).not.toThrow();
    expect(m.uri.scheme).toBe('sips');
    const via = getTopVia(m);
    expect(via).toMatchObject({ transport: 'TLS', host: '[2001:db8::9:1]', port: 5061 });
    expect(via.params.get('received')).toBe('2001:db8::9:255');
    const from = getFrom(m);
    expect(from.displayName).toBe('Jörg "the" Bauer');
    expect(from.uri.user).toBe('jörg@home');
    const contacts = getContacts(m) as Exclude<ReturnType<typeof getContacts>, '*'>;
    expect(contacts).toHaveLength(3);
    const [main, work, home] = contacts;
    expect(main?.uri).toEqual({
      scheme: 'sip',
      user: 'alice+work',
      password: 'p@ss',
      host: '[2001:db8::10]',
      port: 5070,
      params: new Map([
        ['transport', 'tcp'],
        ['x-name', 'Jörg'],
        ['lr', null],
      ]),
      headers: new Map([
        ['subject', 'call me'],
        ['priority', 'urgent'],
      ]),
    });
    expect(main?.params.get('+sip.instance')).toBe(
      '<urn:uuid:00000000-0000-1000-8000-000A95A0E128>',
    );
    expect(work?.displayName).toBe('Work, main');
    expect(home?.params.get('q')).toBe('0.1');
    expect(m.headers.getAll('Supported')).toEqual(['outbound', 'path']);
    expect(bodyText(m)).toBe('Hello, Alice!\r\n');
  });

  it('ignores CRLFs before the start line (§7.5)', () => {
    const m = request(`\r\n\r\n\r\n${invite()}`);
    expect(m.method).toBe('INVITE');
  });

  it('accepts bare LF line endings, and mixed endings', () => {
    const lf = decoder.decode(fixture('rfc3261-24.2-f03-invite.sip')).replaceAll('\r\n', '\n');
    const m = request(lf.replace('Content-Length: 142', 'Content-Length: 135'));
    expect(m.headers.getAll('Via')).toHaveLength(2);
    expect(m.headers.getAll('Via')[1]).toBe(
      'SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8 ;received=192.0.2.1',
    );
    expect(m.body.length).toBe(135);
    // The body keeps its own bytes; Content-Length 142 counted CRLFs, so 135 bytes remain → 400.
    expect(parseError(lf).code).toBe('SIP_BAD_CONTENT_LENGTH');
    const mixed = request(invite().replace('Max-Forwards: 70\r\n', 'Max-Forwards: 70\n'));
    expect(getMaxForwards(mixed)).toBe(70);
  });

  it('expands every compact header form (§7.3.3)', () => {
    const m = request(
      'INVITE sip:bob@biloxi.com SIP/2.0\r\n' +
        'v: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK1\r\n' +
        't: <sip:bob@biloxi.com>\r\n' +
        'f: <sip:alice@atlanta.com>;tag=1\r\n' +
        'i: c1@atlanta.com\r\n' +
        'CSeq: 1 INVITE\r\n' +
        'm: <sip:alice@pc33.atlanta.com>\r\n' +
        'k: 100rel\r\n' +
        's: hello\r\n' +
        'c: text/plain\r\n' +
        'e: gzip\r\n' +
        'o: presence\r\n' +
        'u: refer\r\n' +
        'r: <sip:carol@chicago.com>\r\n' +
        'b: <sip:alice@atlanta.com>\r\n' +
        'x: 1800\r\n' +
        'L: 2\r\n\r\nhi',
    );
    expect(headerList(m).map(([name]) => name)).toEqual([
      'Via',
      'To',
      'From',
      'Call-ID',
      'CSeq',
      'Contact',
      'Supported',
      'Subject',
      'Content-Type',
      'Content-Encoding',
      'Event',
      'Allow-Events',
      'Refer-To',
      'Referred-By',
      'Session-Expires',
      'Content-Length',
    ]);
    expect(bodyText(m)).toBe('hi');
  });

  it('treats header names case-insensitively and allows empty values', () => {
    const m = request(invite('sUbJeCt:\r\nx-EMPTY:   \r\nWARNING :  \r\n'));
    expect(m.headers.get('subject')).toBe('');
    expect(m.headers.get('X-Empty')).toBe('');
    expect(m.headers.getAll('Warning')).toEqual(['']);
  });

  it('splits comma-joined list headers but leaves other headers whole', () => {
    const m = request(
      invite(
        'Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK2, SIP/2.0/TCP b.example.com;branch=z9hG4bK3\r\n' +
          'Contact: "Doe, John" <sip:john@x.com>, <sip:j@y.com;a=1,2>\r\n' +
          'Allow: INVITE, ACK,CANCEL , BYE\r\n' +
          'Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n' +
          'X-Custom: a, b\r\n' +
          'Authorization: Digest username="bob", realm="biloxi.com", nonce="a,b"\r\n',
      ),
    );
    expect(m.headers.getAll('Via').map((v) => parseVia(v).host)).toEqual([
      'pc33.atlanta.com',
      'a.example.com',
      'b.example.com',
    ]);
    expect(m.headers.getAll('Contact')).toEqual([
      '"Doe, John" <sip:john@x.com>',
      '<sip:j@y.com;a=1,2>',
    ]);
    expect(m.headers.getAll('Allow')).toEqual(['INVITE', 'ACK', 'CANCEL', 'BYE']);
    expect(m.headers.get('Date')).toBe('Sat, 13 Nov 2010 23:29:00 GMT');
    expect(m.headers.get('X-Custom')).toBe('a, b');
    expect(m.headers.getAll('Authorization')).toHaveLength(1);
  });

  it('keeps the body bytes exactly, binary included', () => {
    const body = new Uint8Array(256).map((_, i) => i);
    const head = encoder.encode(
      invite().replace('Content-Length: 0', `Content-Length: ${body.length}`),
    );
    const data = new Uint8Array(head.length + body.length);
    data.set(head);
    data.set(body, head.length);
    expect(parseMessage(data).body).toEqual(body);
  });

  it('reads a response with an empty reason phrase and an extension method', () => {
    const m = parseMessage(
      'SIP/2.0 499 \r\nVia: SIP/2.0/UDP a.com;branch=z9hG4bK1\r\nCSeq: 3 FOO-BAR\r\nContent-Length: 0\r\n\r\n',
    ) as SipResponse;
    expect(m.status).toBe(499);
    expect(m.reason).toBe('');
    expect(getCSeq(m).method).toBe('FOO-BAR');
  });
});

describe('parseMessage: Content-Length on datagrams (§18.3)', () => {
  it('truncates a body longer than Content-Length', () => {
    const m = request(`${invite('', 'abcd')}EXTRA BYTES`);
    expect(bodyText(m)).toBe('abcd');
  });

  it('rejects a body shorter than Content-Length with 400 and a partial message', () => {
    const error = parseError(invite('', 'abcd').replace('Content-Length: 4', 'Content-Length: 10'));
    expect(error.code).toBe('SIP_BAD_CONTENT_LENGTH');
    expect(error.status).toBe(400);
    expect(error.partial).toBeInstanceOf(SipRequest);
    expect(getCallId(error.partial!)).toBe('a84b4c76e66710');
  });

  it('takes the rest of the datagram as the body when Content-Length is absent', () => {
    const m = request(invite('', 'abcd').replace('Content-Length: 4\r\n', ''));
    expect(bodyText(m)).toBe('abcd');
  });

  it.each(['-1', 'abc', '1 2', '', '12345678901', '0x10'])(
    'rejects Content-Length %j with 400',
    (value) => {
      const error = parseError(invite().replace('Content-Length: 0', `Content-Length: ${value}`));
      expect(error.code).toBe('SIP_BAD_CONTENT_LENGTH');
      expect(error.status).toBe(400);
      expect(error.partial).toBeDefined();
    },
  );

  it('rejects two different Content-Length values and accepts two equal ones', () => {
    expect(parseError(invite('l: 3\r\n', 'ab')).code).toBe('SIP_BAD_CONTENT_LENGTH');
    expect(bodyText(request(invite('l: 2\r\n', 'ab')))).toBe('ab');
  });
});

describe('parseMessage: start line errors', () => {
  it('answers an unsupported SIP version with 505 and a partial message', () => {
    const error = parseError(invite('', '', 'INVITE sip:bob@biloxi.com SIP/7.0'));
    expect(error.code).toBe('SIP_VERSION_NOT_SUPPORTED');
    expect(error.status).toBe(505);
    expect((error.partial as SipRequest).method).toBe('INVITE');
  });

  it('accepts the version token case-insensitively', () => {
    expect(request(invite('', '', 'INVITE sip:bob@biloxi.com sip/2.0')).method).toBe('INVITE');
  });

  it('rejects a response with another version', () => {
    expect(parseError('SIP/3.0 200 OK\r\nContent-Length: 0\r\n\r\n').code).toBe(
      'SIP_VERSION_NOT_SUPPORTED',
    );
  });

  it('answers a tel: Request-URI with 416 and a partial message', () => {
    const error = parseError(invite('', '', 'INVITE tel:+1-201-555-0123 SIP/2.0'));
    expect(error.code).toBe('SIP_UNSUPPORTED_URI_SCHEME');
    expect(error.status).toBe(416);
    const partial = error.partial as SipRequest;
    expect(partial.uri.host).toBe('');
    expect(getCSeq(partial)).toEqual({ seq: 314159, method: 'INVITE' });
  });

  it('answers a malformed Request-URI with 400 and a partial message', () => {
    for (const line of [
      'INVITE sip:bob@bi loxi.com SIP/2.0',
      'INVITE  sip:bob@biloxi.com SIP/2.0',
      'INVITE sip:bob@[::1 SIP/2.0',
      'INVITE sip:bob%@biloxi.com SIP/2.0',
    ]) {
      const error = parseError(invite('', '', line));
      expect(error.code).toBe('SIP_PARSE_ERROR');
      expect(error.status).toBe(400);
      expect(error.partial).toBeDefined();
    }
  });

  it.each([
    'GET / HTTP/1.1',
    'INVITE sip:bob@biloxi.com',
    'INVITE sip:bob@biloxi.com SIP/2',
    'INV,ITE sip:bob@biloxi.com SIP/2.0',
    'SIP/2.0 20 OK',
    'SIP/2.0 700 Nope',
    'SIP/2.0 2000 OK',
    'SIP/2.0',
    ' INVITE sip:bob@biloxi.com SIP/2.0',
  ])('rejects start line %j with 400 and no partial', (line) => {
    const error = parseError(invite('', '', line));
    expect(['SIP_PARSE_ERROR', 'SIP_VERSION_NOT_SUPPORTED']).toContain(error.code);
    expect(error.partial).toBeUndefined();
  });
});

describe('parseMessage: malformed header sections', () => {
  it('rejects a header line without a colon, with a partial message when the core headers are fine', () => {
    const error = parseError(invite('This is not a header\r\n'));
    expect(error.code).toBe('SIP_PARSE_ERROR');
    expect(error.status).toBe(400);
    expect(getCallId(error.partial!)).toBe('a84b4c76e66710');
  });

  it('gives no partial message when a header a response needs is unreadable', () => {
    const error = parseError(
      invite('Bad Header Name: x\r\n').replace('CSeq: 314159 INVITE', 'CSeq: INVITE'),
    );
    expect(error.code).toBe('SIP_PARSE_ERROR');
    expect(error.partial).toBeUndefined();
  });

  it('rejects a continuation line right after the start line', () => {
    const text = invite().replace('\r\nVia:', '\r\n  folded\r\nVia:');
    expect(parseError(text).code).toBe('SIP_PARSE_ERROR');
  });

  it('rejects a bare CR inside a header value', () => {
    expect(parseError(invite('Subject: a\rb\r\n')).code).toBe('SIP_PARSE_ERROR');
    expect(
      parseError(invite().replace('Call-ID: a84b', 'Call-ID: a8\r4b')).partial,
    ).toBeUndefined();
  });

  it('rejects a message truncated inside its header section', () => {
    const text = invite();
    const error = parseError(text.slice(0, text.indexOf('Content-Length')));
    expect(error.code).toBe('SIP_PARSE_ERROR');
    expect(error.partial).toBeDefined();
  });

  it('rejects empty input and input made only of line breaks', () => {
    expect(parseError('').code).toBe('SIP_PARSE_ERROR');
    expect(parseError('\r\n\r\n').code).toBe('SIP_PARSE_ERROR');
  });
});

describe('parseMessage: limits', () => {
  it('answers an oversize datagram with 413 and a partial message when the headers fit', () => {
    const body = 'x'.repeat(70_000);
    const error = parseError(invite('', body));
    expect(error.code).toBe('SIP_MESSAGE_TOO_LARGE');
    expect(error.status).toBe(413);
    expect(error.partial).toBeDefined();
  });

  it('rejects a 1 MB header line with SIP_MESSAGE_TOO_LARGE', () => {
    const error = parseError(invite(`X-Huge: ${'a'.repeat(1 << 20)}\r\n`));
    expect(error.code).toBe('SIP_MESSAGE_TOO_LARGE');
    expect(error.status).toBe(513);
  });

  it('applies maxHeaderLineBytes even when the message size is allowed', () => {
    const error = parseError(invite(`X-Huge: ${'a'.repeat(1 << 20)}\r\n`), {
      maxMessageBytes: 2 << 20,
    });
    expect(error.code).toBe('SIP_MESSAGE_TOO_LARGE');
    expect(error.status).toBe(513);
    expect(error.partial).toBeDefined();
  });

  it('bounds folded header values too', () => {
    const folded = `X-Folded: a${'\r\n b'.repeat(5000)}\r\n`;
    expect(parseError(invite(folded)).code).toBe('SIP_MESSAGE_TOO_LARGE');
  });

  it('rejects a Request-URI longer than maxHeaderLineBytes with 414', () => {
    const error = parseError(invite('', '', `INVITE sip:${'a'.repeat(9000)}@biloxi.com SIP/2.0`));
    expect(error.code).toBe('SIP_MESSAGE_TOO_LARGE');
    expect(error.status).toBe(414);
    expect(error.partial).toBeDefined();
  });

  it('counts header values against maxHeaders after splitting lists', () => {
    const vias = Array.from(
      { length: 300 },
      (_, i) => `SIP/2.0/UDP h${i}.example.com;branch=z9hG4bK${i}`,
    );
    const lines = (count: number): string => {
      let out = '';
      for (let i = 0; i < count; i += 20) {
        out += `Via: ${vias.slice(i, Math.min(count, i + 20)).join(',')}\r\n`;
      }
      return out;
    };
    expect(parseError(invite(lines(300))).code).toBe('SIP_MESSAGE_TOO_LARGE');
    expect(request(invite(lines(200))).headers.getAll('Via')).toHaveLength(201);
    expect(parseError(invite('X-A: 1\r\n'.repeat(20)), { maxHeaders: 20 }).code).toBe(
      'SIP_MESSAGE_TOO_LARGE',
    );
  });

  it('rejects invalid limits as a caller mistake', () => {
    expect(() => parseMessage(invite(), { maxHeaders: 0 })).toThrow(TypeError);
  });
});

describe('validateRequest (§8.2, §16.3)', () => {
  it.each(['Via', 'From', 'To', 'Call-ID', 'CSeq'])(
    'rejects a request without %s as SIP_MISSING_HEADER',
    (name) => {
      const m = request(invite());
      m.headers.delete(name);
      try {
        validateRequest(m);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(SipParseError);
        expect((error as SipParseError).code).toBe('SIP_MISSING_HEADER');
        expect((error as SipParseError).status).toBe(400);
      }
    },
  );

  it('accepts a request without Max-Forwards', () => {
    const m = request(invite());
    m.headers.delete('Max-Forwards');
    expect(() => {
      validateRequest(m);
    }).not.toThrow();
  });

  function validationError(m: SipRequest): SipParseError {
    try {
      validateRequest(m);
    } catch (error) {
      expect(error).toBeInstanceOf(SipParseError);
      return error as SipParseError;
    }
    return expect.unreachable('expected validateRequest to throw');
  }

  it('rejects a CSeq method that differs from the request method with 400', () => {
    const error = validationError(
      request(invite().replace('CSeq: 314159 INVITE', 'CSeq: 314159 BYE')),
    );
    expect(error.code).toBe('SIP_PARSE_ERROR');
    expect(error.status).toBe(400);
    expect(error.partial).toBeDefined();
  });

  it.each(['INVITE', '-5 INVITE', '99999999999999999999 INVITE', '1 IN VITE', '1.5 INVITE'])(
    'rejects the bad CSeq %j with 400',
    (value) => {
      const error = validationError(
        request(invite().replace('CSeq: 314159 INVITE', `CSeq: ${value}`)),
      );
      expect(error.code).toBe('SIP_MISSING_HEADER');
      expect(error.status).toBe(400);
    },
  );

  it('rejects an out-of-range Max-Forwards with 400 and a partial message', () => {
    const error = validationError(
      request(invite().replace('Max-Forwards: 70', 'Max-Forwards: 300')),
    );
    expect(error.status).toBe(400);
    expect(error.partial).toBeDefined();
  });

  it('rejects a second From, To, Call-ID or CSeq', () => {
    for (const extra of [
      'From: <sip:x@y.com>;tag=2\r\n',
      'Call-ID: other\r\n',
      'CSeq: 1 INVITE\r\n',
    ]) {
      expect(validationError(request(invite(extra))).code).toBe('SIP_PARSE_ERROR');
    }
  });

  it('rejects a constructed request whose URI scheme is not sip or sips with 416', () => {
    const m = request(invite());
    (m.uri as { scheme: string }).scheme = 'tel';
    const error = validationError(m);
    expect(error.code).toBe('SIP_UNSUPPORTED_URI_SCHEME');
    expect(error.status).toBe(416);
  });
});

describe('RFC 4475 categories, with our own messages', () => {
  it('accepts the widest valid user and password characters (§3.1.1.2)', () => {
    const user = "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*";
    const password = "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)";
    const m = request(invite('', '', `INVITE sip:${user}:${password}@example.com SIP/2.0`));
    expect(m.uri.user).toBe(user);
    expect(m.uri.password).toBe(password);
  });

  it('accepts % in a method token and an escaped NUL in a user part (§3.1.1.4, §3.1.1.5)', () => {
    const text = invite('', '', 'RE%47IST%45R sip:null-%00-null@example.com SIP/2.0').replace(
      'CSeq: 314159 INVITE',
      'CSeq: 1 RE%47IST%45R',
    );
    const m = request(text);
    expect(m.method).toBe('RE%47IST%45R');
    expect(m.uri.user).toBe('null-\u0000-null');
    expect(() => {
      validateRequest(m);
    }).not.toThrow();
  });

  it('accepts a display name glued to <, and a semicolon in the user part (§3.1.1.6, §3.1.1.9)', () => {
    const m = request(
      invite('', '', 'OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0')
        .replace('CSeq: 314159 INVITE', 'CSeq: 1 OPTIONS')
        .replace('From: Alice <sip', 'From: caller<sip'),
    );
    expect(m.uri.user).toBe('user;par=u@example.net');
    expect(getFrom(m).displayName).toBe('caller');
  });

  it('keeps only the first of two requests in one datagram (§3.1.1.8)', () => {
    const m = request(invite() + invite('', '', 'BYE sip:bob@biloxi.com SIP/2.0'));
    expect(m.method).toBe('INVITE');
    expect(m.body.length).toBe(0);
  });

  it('accepts SP at the end of the Request-Line (§3.1.2.10, liberal)', () => {
    expect(request(invite('', '', 'OPTIONS sip:remote-target@example.com SIP/2.0  ')).method).toBe(
      'OPTIONS',
    );
  });

  it('answers a Request-URI of an unknown or atypical scheme with 416 (§3.3.2, §3.3.3)', () => {
    for (const uri of [
      'nobodyKnowsThisScheme:totallyopaquecontent',
      'soap.beep://192.0.2.103:3002',
    ]) {
      expect(parseError(invite('', '', `OPTIONS ${uri} SIP/2.0`)).status).toBe(416);
    }
  });

  it('rejects a Request-URI enclosed in <> with 400 (§3.1.2.7)', () => {
    const error = parseError(invite('', '', 'INVITE <sip:user@example.com> SIP/2.0'));
    expect(error.status).toBe(400);
    expect(error.partial).toBeDefined();
  });

  it('rejects URI headers in the Request-URI (§3.1.2.11)', () => {
    const m = request(
      invite('', '', 'INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0'),
    );
    expect(() => {
      validateRequest(m);
    }).toThrow(SipParseError);
  });

  it.each([
    [
      'an addr-spec with URI headers outside <> (§3.1.2.13)',
      'Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\r\n',
      getContacts,
    ],
    [
      'spaces inside <> (§3.1.2.14)',
      'To: "Watson, Thomas" < sip:t.watson@example.org >\r\n',
      getTo,
    ],
    [
      'non-token characters in an unquoted display name (§3.1.2.15)',
      'To: Bell, Alexander <sip:a.g.bell@example.com>\r\n',
      getTo,
    ],
    [
      'an unterminated quoted display name (§3.1.2.6)',
      'To: "Mr. J. User <sip:j.user@example.com>\r\n',
      getTo,
    ],
  ] as const)('rejects %s', (_what, header, read) => {
    const text = invite(header).replace('To: Bob <sip:bob@biloxi.com>\r\n', '');
    const m = request(text);
    try {
      read(m);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SipParseError);
      expect((error as SipParseError).status).toBe(400);
    }
  });

  it('rejects an overlarge status code (§3.1.2.19)', () => {
    expect(
      parseError('SIP/2.0 4294967301 better not break the receiver\r\nContent-Length: 0\r\n\r\n')
        .code,
    ).toBe('SIP_PARSE_ERROR');
  });
});

/** Deterministic PRNG (mulberry32) so that fuzz failures reproduce. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function expectOnlySipParseErrors(data: Uint8Array): void {
  let message: SipMessage;
  try {
    message = parseMessage(data);
  } catch (error) {
    if (!(error instanceof SipParseError)) {
      throw new Error(
        `non-SipParseError for ${JSON.stringify(decoder.decode(data).slice(0, 200))}`,
        { cause: error },
      );
    }
    return;
  }
  // Whatever parses must serialize and parse back to the same message.
  const again = parseMessage(serializeMessage(message));
  // The serializer adds Content-Length when the datagram had none.
  const withoutLength = (m: SipMessage): [string, string][] =>
    headerList(m).filter(([name]) => name !== 'Content-Length');
  expect(withoutLength(again)).toEqual(withoutLength(message));
  expect(again.body).toEqual(message.body);
}

describe('parseMessage: garbage never escapes as anything but SipParseError', () => {
  it('10,000 random buffers', () => {
    const random = prng(0x5eed);
    for (let i = 0; i < 10_000; i++) {
      const data = new Uint8Array(Math.floor(random() * 600));
      for (let j = 0; j < data.length; j++) {
        data[j] = Math.floor(random() * 256);
      }
      if (i % 3 === 0) {
        // Give some buffers a plausible start so that the header parser gets exercised.
        data.set(encoder.encode('INVITE sip:a@b.com SIP/2.0\r\nVia: ').subarray(0, data.length));
      }
      expectOnlySipParseErrors(data);
    }
  }, 60_000);

  it('10,000 mutations of valid messages (SIP-significant characters inserted, bytes flipped)', () => {
    const random = prng(42);
    const seeds = [...RFC3261_FIXTURES.map(fixture), fixture('torture-tortuous-invite.sip')];
    const alphabet = encoder.encode(' \t\r\n:;,<>"\\@%=?&[]/.0123456789abcSIP\u0000\u00ff');
    for (let i = 0; i < 10_000; i++) {
      const source = seeds[i % seeds.length]!;
      const data = new Uint8Array(source);
      const edits = 1 + Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * data.length);
        data[at] =
          random() < 0.7
            ? alphabet[Math.floor(random() * alphabet.length)]!
            : Math.floor(random() * 256);
      }
      expectOnlySipParseErrors(data);
    }
  }, 60_000);

  it('every truncation of an INVITE', () => {
    const bytes = fixture('rfc3261-24.2-f01-invite.sip');
    for (let cut = 0; cut < bytes.length; cut++) {
      const error = parseError(bytes.subarray(0, cut));
      const headerEnd = decoder.decode(bytes).indexOf('\r\n\r\n') + 4;
      expect(error.code).toBe(cut >= headerEnd ? 'SIP_BAD_CONTENT_LENGTH' : error.code);
    }
  });
});

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function framed(
  framer: StreamFramer,
  data: Uint8Array,
  chunkSize: number,
): (SipMessage | SipParseError)[] {
  const out: (SipMessage | SipParseError)[] = [];
  for (let at = 0; at < data.length; at += chunkSize) {
    out.push(...framer.push(data.subarray(at, at + chunkSize)));
  }
  return out;
}

function sameMessage(actual: SipMessage | SipParseError | undefined, expected: SipMessage): void {
  expect(actual).not.toBeInstanceOf(SipParseError);
  const message = actual as SipMessage;
  expect(headerList(message)).toEqual(headerList(expected));
  expect(message.body).toEqual(expected.body);
  expect(decoder.decode(serializeMessage(message))).toBe(
    decoder.decode(serializeMessage(expected)),
  );
}

describe('StreamFramer (§18.3)', () => {
  const messages = RFC3261_FIXTURES.map(fixture);
  const stream = concat(...messages);
  const expected = messages.map((bytes) => parseMessage(bytes));

  it('frames every §24 message when the stream arrives one byte at a time', () => {
    const framer = new StreamFramer();
    const out = framed(framer, stream, 1);
    expect(out).toHaveLength(expected.length);
    out.forEach((message, i) => {
      sameMessage(message, expected[i]!);
    });
    expect(framer.bufferedBytes).toBe(0);
    expect(framer.broken).toBe(false);
  });

  it('frames a message split at every byte boundary', () => {
    const bytes = fixture('rfc3261-24.2-f09-200-ok.sip');
    const want = parseMessage(bytes);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const framer = new StreamFramer();
      const out = [...framer.push(bytes.subarray(0, cut)), ...framer.push(bytes.subarray(cut))];
      expect(out).toHaveLength(1);
      sameMessage(out[0], want);
    }
  });

  it('returns several messages from one chunk, and keeps a trailing partial message', () => {
    const framer = new StreamFramer();
    const tail = messages[0]!.subarray(0, 40);
    const out = framer.push(concat(stream, tail));
    expect(out).toHaveLength(expected.length);
    expect(framer.bufferedBytes).toBe(40);
    const rest = framer.push(messages[0]!.subarray(40));
    expect(rest).toHaveLength(1);
    sameMessage(rest[0], expected[0]!);
  });

  it('keeps a body that contains an empty line', () => {
    const body = 'line one\r\n\r\nline three\r\n';
    const out = new StreamFramer().push(encoder.encode(invite('', body) + invite()));
    expect(out).toHaveLength(2);
    expect(bodyText(out[0] as SipMessage)).toBe(body);
  });

  it('skips RFC 5626 keep-alives between messages and reports pings and pongs, whatever the chunking', () => {
    const data = encoder.encode(`\r\n\r\n${invite()}\r\n\r\n\r\n${invite()}\r\n`);
    for (const chunkSize of [1, 2, 3, 7, data.length]) {
      const keepAlives: string[] = [];
      const framer = new StreamFramer({ onKeepAlive: (kind) => keepAlives.push(kind) });
      const out = framed(framer, data, chunkSize);
      const follow = framer.push(encoder.encode('OPTIONS'));
      expect(out.map((m) => (m as SipRequest).method)).toEqual(['INVITE', 'INVITE']);
      expect(follow).toEqual([]);
      // The trailing CRLF is a pong once the next bytes show it is not the start of a ping.
      expect(keepAlives).toEqual(['ping', 'ping', 'pong', 'pong']);
    }
  });

  it('tolerates bare LF line endings on streams', () => {
    const lf = decoder.decode(fixture('rfc3261-24.1-f1-register.sip')).replaceAll('\r\n', '\n');
    const out = framed(new StreamFramer(), encoder.encode(lf + lf), 5);
    expect(out).toHaveLength(2);
    expect((out[1] as SipRequest).method).toBe('REGISTER');
  });

  it('reports a missing Content-Length as a framing error and stops', () => {
    const framer = new StreamFramer();
    const out = framer.push(
      encoder.encode(invite().replace('Content-Length: 0\r\n', '') + invite()),
    );
    expect(out).toHaveLength(1);
    const error = out[0] as SipParseError;
    expect(error).toBeInstanceOf(SipParseError);
    expect(error.code).toBe('SIP_BAD_CONTENT_LENGTH');
    expect(error.status).toBe(400);
    expect(error.partial).toBeDefined();
    expect(framer.broken).toBe(true);
    expect(framer.push(encoder.encode(invite()))).toEqual([]);
  });

  it('reports an invalid Content-Length as a framing error', () => {
    const framer = new StreamFramer();
    const out = framer.push(
      encoder.encode(invite().replace('Content-Length: 0', 'Content-Length: x')),
    );
    expect((out[0] as SipParseError).code).toBe('SIP_BAD_CONTENT_LENGTH');
    expect(framer.broken).toBe(true);
  });

  it('reports a message that cannot be accepted and goes on with the next one', () => {
    const framer = new StreamFramer();
    const bad = invite('Not a header line\r\n', 'abc');
    const out = framer.push(encoder.encode(bad + invite('', 'xyz')));
    expect(out).toHaveLength(2);
    expect((out[0] as SipParseError).code).toBe('SIP_PARSE_ERROR');
    expect((out[0] as SipParseError).partial).toBeDefined();
    expect(bodyText(out[1] as SipMessage)).toBe('xyz');
    expect(framer.broken).toBe(false);
  });

  it('answers a tel: Request-URI with 416 without losing the stream', () => {
    const framer = new StreamFramer();
    const out = framer.push(
      encoder.encode(invite('', '', 'INVITE tel:+1-201-555-0123 SIP/2.0') + invite()),
    );
    expect((out[0] as SipParseError).status).toBe(416);
    expect((out[1] as SipRequest).method).toBe('INVITE');
  });

  it('rejects a header section that grows past maxMessageBytes without buffering it', () => {
    const framer = new StreamFramer({ maxMessageBytes: 4096 });
    const out = framed(
      framer,
      encoder.encode(`INVITE sip:a@b.com SIP/2.0\r\nX-Huge: ${'a'.repeat(1 << 20)}`),
      1000,
    );
    expect(out).toHaveLength(1);
    expect((out[0] as SipParseError).code).toBe('SIP_MESSAGE_TOO_LARGE');
    expect(framer.broken).toBe(true);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('rejects a Content-Length that makes the message too large with 413 before the body arrives', () => {
    const framer = new StreamFramer();
    const out = framer.push(
      encoder.encode(invite().replace('Content-Length: 0', 'Content-Length: 1000000')),
    );
    expect((out[0] as SipParseError).status).toBe(413);
    expect((out[0] as SipParseError).partial).toBeDefined();
    expect(framer.broken).toBe(true);
  });

  it('breaks on a start line that is not SIP', () => {
    const framer = new StreamFramer();
    const out = framer.push(encoder.encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect((out[0] as SipParseError).code).toBe('SIP_PARSE_ERROR');
    expect(framer.broken).toBe(true);
  });

  it('never throws on random chunks, and never buffers more than the limit plus one chunk', () => {
    const random = prng(7);
    for (let run = 0; run < 200; run++) {
      const framer = new StreamFramer({ maxMessageBytes: 2048 });
      for (let i = 0; i < 50 && !framer.broken; i++) {
        const chunk =
          random() < 0.3
            ? messages[Math.floor(random() * messages.length)]!
            : new Uint8Array(Math.floor(random() * 300)).map(() => Math.floor(random() * 256));
        for (const item of framer.push(chunk)) {
          expect(
            item instanceof SipParseError ||
              item instanceof SipRequest ||
              item instanceof SipResponse,
          ).toBe(true);
        }
        expect(framer.bufferedBytes).toBeLessThanOrEqual(2048 + chunk.length);
      }
    }
  });
});
