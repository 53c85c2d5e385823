/**
 * Reading a REFER (telephony/transfer.ts `parseRefer`): RFC 3515 Refer-To rules, RFC 4488
 * Refer-Sub, RFC 3892 Referred-By. The protocol exchange itself, over sockets, is in
 * tests/integration/sip-transfer.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage, type SipRequest } from '@confab/sip';
import { isReferRefusal, parseRefer } from '../src/telephony/transfer.js';

function refer(...headers: string[]): SipRequest {
  const text = [
    'REFER sip:ch@127.0.0.1 SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKtest',
    'From: <sip:alice@127.0.0.1>;tag=a',
    'To: <sip:confab@127.0.0.1>;tag=b',
    'Call-ID: transfer-test',
    'CSeq: 7 REFER',
    'Max-Forwards: 70',
    ...headers,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const message = parseMessage(new TextEncoder().encode(text));
  if (message.type !== 'request') {
    throw new Error('not a request');
  }
  return message;
}

describe('parseRefer', () => {
  it('reads the extension of a SIP Refer-To (name-addr or addr-spec, compact form r), the CSeq for the NOTIFY id, and subscribes by default', () => {
    for (const value of [
      '<sip:1003@example.com>',
      'sip:1003@example.com',
      '"Carol" <sip:1003@x>',
    ]) {
      expect(parseRefer(refer(`Refer-To: ${value}`))).toEqual({
        extension: '1003',
        referredBy: undefined,
        subscribe: true,
        cseq: 7,
      });
    }
    expect(parseRefer(refer('r: <sip:1003@x>'))).toMatchObject({ extension: '1003' });
  });

  it('reads a tel: Refer-To without its visual separators (RFC 3966)', () => {
    expect(parseRefer(refer('Refer-To: <tel:+1-555-(010).99;phone-context=x>'))).toMatchObject({
      extension: '+155501099',
    });
  });

  it('honours Refer-Sub: false and keeps Referred-By (compact form b)', () => {
    expect(
      parseRefer(refer('Refer-To: <sip:1003@x>', 'Refer-Sub: false', 'b: <sip:alice@x>;cid=1')),
    ).toMatchObject({ subscribe: false, referredBy: '<sip:alice@x>;cid=1' });
    expect(parseRefer(refer('Refer-To: <sip:1003@x>', 'Refer-Sub: true'))).toMatchObject({
      subscribe: true,
    });
  });

  it.each([
    [[], 400],
    [['Refer-To: <sip:1@x>', 'Refer-To: <sip:2@x>'], 400],
    [['Refer-To: <sip:1@x>, <sip:2@x>'], 400],
    [['Refer-To: <sip:1@x'], 400],
    [['Refer-To: <tel:abc>'], 400],
    [['Refer-To: <http://example.com/>'], 403],
    [['Refer-To: <urn:service:sos>'], 403],
    [['Refer-To: <sip:1@x;method=BYE>'], 403],
    [['Refer-To: <sip:example.com>'], 404],
    [['Refer-To: <sip:1@x?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2>'], 501],
    [['Refer-To: <sip:1@x>', 'Refer-Sub: yes'], 400],
    [['Refer-To: <sip:1@x>', 'Referred-By: <<bad'], 400],
    [['Refer-To: <sip:1@x>', 'Referred-By: <sip:a@x>, <sip:b@x>'], 400],
  ])('refuses %j with %i', (headers, status) => {
    const result = parseRefer(refer(...headers));
    expect(isReferRefusal(result) && result.status).toBe(status);
  });

  it("with local hosts, refuses a sip: Refer-To in a foreign domain with 403 and accepts ours, the REFER's To host, and tel:", () => {
    const local = ['pbx.example.com', '192.0.2.10', '::1'];
    const status = (referTo: string): number | undefined => {
      const result = parseRefer(refer(`Refer-To: ${referTo}`), local);
      return isReferRefusal(result) ? result.status : undefined;
    };
    expect(status('<sip:1003@other.example>')).toBe(403);
    expect(status('<sip:1003@198.51.100.7>')).toBe(403);
    expect(status('<sips:1003@pbx.example.com.evil>')).toBe(403);
    expect(status('<sip:1003@PBX.Example.COM>')).toBeUndefined();
    expect(status('<sip:1003@pbx.example.com.;user=phone>')).toBeUndefined();
    expect(status('<sip:1003@192.0.2.10:5080>')).toBeUndefined();
    expect(status('<sip:1003@[::1]>')).toBeUndefined();
    // The host this endpoint addresses us by in the dialog (To: sip:confab@127.0.0.1).
    expect(status('<sip:1003@127.0.0.1>')).toBeUndefined();
    expect(status('<tel:1003>')).toBeUndefined();
    const refused = parseRefer(refer('Refer-To: <sip:1003@other.example>'), local);
    expect(isReferRefusal(refused) && refused.warning).toMatch(/foreign domain/);
  });
});
