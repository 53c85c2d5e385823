import { describe, expect, it } from 'vitest';
import { getFrom, getTopVia } from '../src/header-values.js';
import { SipHeaders } from '../src/headers.js';
import { SipRequest, SipResponse, bodyText } from '../src/message.js';
import type { SipMessage } from '../src/message.js';
import { parseMessage } from '../src/parser.js';
import { serializeMessage, serializeMessageToString } from '../src/serializer.js';
import { formatNameAddr, parseUri } from '../src/uri-parser.js';

const decoder = new TextDecoder();

function headerList(m: SipMessage): [string, string][] {
  return [...m.headers].map((entry) => [entry.name, entry.value]);
}

/** Compares two messages field by field; `headers` overrides the expected header list. */
function expectSameMessage(
  actual: SipMessage,
  expected: SipMessage,
  headers = expected.headers,
): void {
  if (expected.type === 'request') {
    expect(actual.type).toBe('request');
    expect((actual as SipRequest).method).toBe(expected.method);
    expect((actual as SipRequest).uri).toEqual(expected.uri);
  } else {
    expect(actual.type).toBe('response');
    expect((actual as SipResponse).status).toBe(expected.status);
    expect((actual as SipResponse).reason).toBe(expected.reason);
  }
  expect(headerList(actual)).toEqual([...headers].map((entry) => [entry.name, entry.value]));
  expect(actual.body).toEqual(expected.body);
}

function options(): SipRequest {
  return new SipRequest(
    'OPTIONS',
    parseUri('sip:carol@chicago.com'),
    new SipHeaders([
      ['Via', 'SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877'],
      ['Max-Forwards', '70'],
      ['To', '<sip:carol@chicago.com>'],
      ['From', 'Alice <sip:alice@atlanta.com>;tag=1928301774'],
      ['Call-ID', 'a84b4c76e66710'],
      ['CSeq', '63104 OPTIONS'],
      ['Accept', 'application/sdp'],
    ]),
  );
}

describe('serializeMessage', () => {
  it('writes the start line, one CRLF-terminated line per header, Content-Length and the empty line', () => {
    expect(serializeMessageToString(options())).toBe(
      'OPTIONS sip:carol@chicago.com SIP/2.0\r\n' +
        'Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKhjhs8ass877\r\n' +
        'Max-Forwards: 70\r\n' +
        'To: <sip:carol@chicago.com>\r\n' +
        'From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n' +
        'Call-ID: a84b4c76e66710\r\n' +
        'CSeq: 63104 OPTIONS\r\n' +
        'Accept: application/sdp\r\n' +
        'Content-Length: 0\r\n' +
        '\r\n',
    );
  });

  it('writes a status line', () => {
    const response = new SipResponse(486, 'Busy Here', new SipHeaders([['Call-ID', 'x']]));
    expect(serializeMessageToString(response)).toBe(
      'SIP/2.0 486 Busy Here\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n',
    );
  });

  it('writes Content-Length from the body byte length, in place of a stale value', () => {
    const m = options();
    m.headers.set('Content-Length', '999');
    m.headers.append('Subject', 'after');
    m.body = new TextEncoder().encode('héllo');
    expect(serializeMessageToString(m)).toMatch(
      /Accept: application\/sdp\r\nContent-Length: 6\r\nSubject: after\r\n\r\nhéllo$/,
    );
  });

  it('writes compact and odd-case names in their canonical form', () => {
    const m = parseMessage(
      'BYE sip:a@b.com SIP/2.0\r\nv: SIP/2.0/UDP h.com;branch=z9hG4bK1\r\ni: c1\r\nCSEQ: 2 BYE\r\nl: 0\r\n\r\n',
    );
    expect(serializeMessageToString(m)).toBe(
      'BYE sip:a@b.com SIP/2.0\r\nVia: SIP/2.0/UDP h.com;branch=z9hG4bK1\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n',
    );
  });

  it('writes an empty header value without a trailing space', () => {
    const m = options();
    m.headers.append('Subject', '');
    expect(serializeMessageToString(m)).toContain('\r\nSubject:\r\n');
  });

  it('escapes the Request-URI as §19.1.2 requires', () => {
    const m = options();
    m.uri = parseUri('sip:x@chicago.com');
    m.uri.user = 'carol smith';
    expect(serializeMessageToString(m).split('\r\n')[0]).toBe(
      'OPTIONS sip:carol%20smith@chicago.com SIP/2.0',
    );
  });

  it('appends a binary body unchanged', () => {
    const m = options();
    m.body = new Uint8Array(256).map((_, i) => 255 - i);
    const bytes = serializeMessage(m);
    expect(bytes.subarray(bytes.length - 256)).toEqual(m.body);
    expect(decoder.decode(bytes)).toContain('Content-Length: 256\r\n\r\n');
  });

  it.each([
    [
      'a header value with CRLF',
      (m: SipRequest) => m.headers.append('Subject', 'x\r\nVia: injected'),
    ],
    ['a header value with a bare LF', (m: SipRequest) => m.headers.append('Subject', 'x\ny')],
    ['a header name that is not a token', (m: SipRequest) => m.headers.append('Bad Name', 'x')],
    ['a method that is not a token', (m: SipRequest) => (m.method = 'IN VITE')],
  ])('refuses %s with TypeError', (_what, spoil) => {
    const m = options();
    spoil(m);
    expect(() => serializeMessage(m)).toThrow(TypeError);
  });

  it('refuses a status outside 100-699 or a reason phrase with a line break', () => {
    expect(() => serializeMessage(new SipResponse(99, 'x'))).toThrow(TypeError);
    expect(() => serializeMessage(new SipResponse(200, 'OK\r\nVia: x'))).toThrow(TypeError);
  });
});

describe('serializer output parses back to an equal message', () => {
  it('for a request built field by field', () => {
    const m = options();
    m.uri = parseUri('sips:j%C3%B6rg@[2001:db8::10]:5061;transport=tcp;lr?subject=hi%20there');
    m.headers.append(
      'Contact',
      formatNameAddr({
        displayName: 'Jörg "JB" Bauer, Jr.',
        uri: parseUri('sip:jorg@192.0.2.1:5070;ob'),
        params: new Map<string, string | null>([
          ['+sip.instance', '<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>'],
          ['reg-id', '1'],
          ['expires', '600'],
        ]),
      }),
    );
    m.headers.append('X-Binary-Safe', 'tab\there');
    m.body = new TextEncoder().encode('v=0\r\n');
    m.headers.set('Content-Type', 'application/sdp');
    const again = parseMessage(serializeMessage(m));
    expectSameMessage(again, m, withLength(m));
    expect(getFrom(again).displayName).toBe('Alice');
    expect(bodyText(again)).toBe('v=0\r\n');
  });

  it('for a response with several Vias', () => {
    const m = new SipResponse(
      180,
      'Ringing',
      new SipHeaders([
        ['Via', 'SIP/2.0/UDP a.example.com;branch=z9hG4bK1;received=192.0.2.1'],
        ['Via', 'SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK2;rport=5060'],
        ['To', '<sip:b@c.com>;tag=x'],
        ['From', '<sip:a@c.com>;tag=y'],
        ['Call-ID', 'abc'],
        ['CSeq', '1 INVITE'],
      ]),
    );
    const again = parseMessage(serializeMessage(m));
    expectSameMessage(again, m, withLength(m));
    expect(getTopVia(again).params.get('received')).toBe('192.0.2.1');
  });

  it('serializeMessageToString matches serializeMessage for text bodies', () => {
    const m = options();
    m.body = new TextEncoder().encode('hello ☎');
    expect(serializeMessageToString(m)).toBe(decoder.decode(serializeMessage(m)));
  });
});

/** The headers the parser reads back: the originals plus the Content-Length the serializer writes. */
function withLength(m: SipMessage): SipHeaders {
  const headers = m.headers.clone();
  if (!headers.has('Content-Length')) {
    headers.append('Content-Length', String(m.body.length));
  }
  return headers;
}
