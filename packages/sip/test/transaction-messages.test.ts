import { describe, expect, it } from 'vitest';
import { bodyText } from '../src/message.js';
import {
  MAGIC_COOKIE,
  createAckForNon2xx,
  createCancel,
  createResponse,
  initialCSeq,
  isRfc3261Branch,
  newBranch,
  newCallId,
  newTag,
  nextCSeq,
} from '../src/transaction/messages.js';
import { makeRequest, respondTo } from './transaction-fixtures.js';

describe('newBranch / newTag / newCallId', () => {
  it('starts branches with the magic cookie and makes them unique, with at least 64 random bits', () => {
    const branches = new Set(Array.from({ length: 1000 }, () => newBranch()));
    expect(branches.size).toBe(1000);
    for (const branch of branches) {
      expect(branch.startsWith(MAGIC_COOKIE)).toBe(true);
      expect(branch.length - MAGIC_COOKIE.length).toBeGreaterThanOrEqual(16);
      expect(isRfc3261Branch(branch)).toBe(true);
    }
  });

  it('recognises RFC 3261 branches', () => {
    expect(isRfc3261Branch('z9hG4bK776asdhds')).toBe(true);
    expect(isRfc3261Branch('z9hG4bK')).toBe(false);
    expect(isRfc3261Branch('776asdhds')).toBe(false);
    expect(isRfc3261Branch(null)).toBe(false);
    expect(isRfc3261Branch(undefined)).toBe(false);
  });

  it('makes distinct tags and Call-IDs, optionally with a host', () => {
    expect(newTag()).not.toBe(newTag());
    expect(newTag()).toMatch(/^[0-9a-f]{16}$/);
    expect(newCallId('atlanta.example')).toMatch(/@atlanta\.example$/);
  });
});

describe('CSeq helpers', () => {
  it('picks an initial CSeq below 2^31 (§8.1.1.5)', () => {
    for (let k = 0; k < 100; k++) {
      const seq = initialCSeq();
      expect(seq).toBeGreaterThanOrEqual(1);
      expect(seq).toBeLessThan(2 ** 31);
    }
  });

  it('increments by one and refuses to pass 2^32-1', () => {
    expect(nextCSeq(41)).toBe(42);
    expect(() => nextCSeq(0xffff_ffff)).toThrow(RangeError);
    expect(() => nextCSeq(-1)).toThrow(RangeError);
  });
});

describe('createResponse (§8.2.6)', () => {
  it('copies Via (all, in order), From, To, Call-ID and CSeq, and adds the To tag', () => {
    const request = makeRequest('INVITE', {
      extraVia: ['SIP/2.0/UDP proxy.example;branch=z9hG4bKp1'],
    });
    request.headers.set('Subject', 'lunch');
    const response = createResponse(request, 180, undefined, { toTag: 'xyz' });
    expect(response.status).toBe(180);
    expect(response.reason).toBe('Ringing');
    expect(response.headers.getAll('Via')).toEqual(request.headers.getAll('Via'));
    expect(response.headers.get('From')).toBe(request.headers.get('From'));
    expect(response.headers.get('To')).toBe('Bob <sip:bob@biloxi.example>;tag=xyz');
    expect(response.headers.get('Call-ID')).toBe(request.headers.get('Call-ID'));
    expect(response.headers.get('CSeq')).toBe('314159 INVITE');
    expect(response.headers.has('Subject')).toBe(false);
    expect(response.headers.has('Contact')).toBe(false);
  });

  it('keeps an existing To tag and never tags a 100 Trying, which copies Timestamp (§8.2.6.1)', () => {
    const inDialog = makeRequest('BYE', { toTag: 'existing' });
    expect(createResponse(inDialog, 200, undefined, { toTag: 'new' }).headers.get('To')).toBe(
      'Bob <sip:bob@biloxi.example>;tag=existing',
    );
    const request = makeRequest('INVITE', { headers: [['Timestamp', '54.2 0.1']] });
    const trying = createResponse(request, 100, undefined, { toTag: 'x' });
    expect(trying.headers.get('To')).toBe('Bob <sip:bob@biloxi.example>');
    expect(trying.headers.get('Timestamp')).toBe('54.2 0.1');
    expect(createResponse(request, 180).headers.has('Timestamp')).toBe(false);
  });

  it('detects a tag in a To the URI parser rejects (tel: URI)', () => {
    const request = makeRequest('INVITE');
    request.headers.set('To', '<tel:+15551234>;tag=abc');
    expect(createResponse(request, 486, undefined, { toTag: 'new' }).headers.get('To')).toBe(
      '<tel:+15551234>;tag=abc',
    );
    request.headers.set('To', '"a;tag=b>" <tel:+15551234>');
    expect(createResponse(request, 486, undefined, { toTag: 'new' }).headers.get('To')).toBe(
      '"a;tag=b>" <tel:+15551234>;tag=new',
    );
  });

  it('uses a custom reason, extra headers, a body, and Record-Route when asked (§12.1.1)', () => {
    const request = makeRequest('INVITE', {
      headers: [
        ['Record-Route', '<sip:p1.example;lr>'],
        ['Record-Route', '<sip:p2.example;lr>'],
      ],
    });
    const response = createResponse(request, 200, 'Fine', {
      toTag: 't',
      copyRecordRoute: true,
      headers: [['Contact', '<sip:bob@192.0.2.4>']],
      body: 'v=0\r\n',
      contentType: 'application/sdp',
    });
    expect(response.reason).toBe('Fine');
    expect(response.headers.getAll('Record-Route')).toEqual([
      '<sip:p1.example;lr>',
      '<sip:p2.example;lr>',
    ]);
    expect(response.headers.get('Contact')).toBe('<sip:bob@192.0.2.4>');
    expect(bodyText(response)).toBe('v=0\r\n');
    expect(response.headers.get('Content-Type')).toBe('application/sdp');
    expect(createResponse(request, 200).headers.has('Record-Route')).toBe(false);
  });

  it('builds what it can from a request missing headers, and rejects invalid status codes', () => {
    const request = makeRequest('INVITE', { via: null, cseqHeader: null });
    const response = createResponse(request, 400);
    expect(response.headers.has('Via')).toBe(false);
    expect(response.headers.has('CSeq')).toBe(false);
    expect(() => createResponse(request, 99)).toThrow(RangeError);
    expect(() => createResponse(request, 700)).toThrow(RangeError);
  });
});

describe('createCancel (§9.1)', () => {
  it('copies Request-URI, Call-ID, From, To, the CSeq number, the top Via only, and Route', () => {
    const invite = makeRequest('INVITE', {
      uri: 'sip:bob@biloxi.example;transport=udp',
      extraVia: ['SIP/2.0/UDP proxy.example;branch=z9hG4bKp1'],
      headers: [
        ['Route', '<sip:p1.example;lr>'],
        ['Route', '<sip:p2.example;lr>'],
      ],
    });
    invite.body = new TextEncoder().encode('v=0');
    const cancel = createCancel(invite);
    expect(cancel.method).toBe('CANCEL');
    expect(cancel.uri).toEqual(invite.uri);
    expect(cancel.uri).not.toBe(invite.uri);
    expect(cancel.headers.getAll('Via')).toEqual([invite.headers.getAll('Via')[0]]);
    expect(cancel.headers.get('From')).toBe(invite.headers.get('From'));
    expect(cancel.headers.get('To')).toBe(invite.headers.get('To'));
    expect(cancel.headers.get('Call-ID')).toBe(invite.headers.get('Call-ID'));
    expect(cancel.headers.get('CSeq')).toBe('314159 CANCEL');
    expect(cancel.headers.getAll('Route')).toEqual(['<sip:p1.example;lr>', '<sip:p2.example;lr>']);
    expect(cancel.headers.get('Max-Forwards')).toBe('70');
    expect(cancel.body).toHaveLength(0);
    expect(cancel.headers.has('Contact')).toBe(false);
  });
});

describe('createAckForNon2xx (§17.1.1.3)', () => {
  it('takes To from the response and everything else from the INVITE', () => {
    const invite = makeRequest('INVITE', { headers: [['Route', '<sip:p1.example;lr>']] });
    const response = respondTo(invite, 404, 'uas-tag');
    const ack = createAckForNon2xx(invite, response);
    expect(ack.method).toBe('ACK');
    expect(ack.uri).toEqual(invite.uri);
    expect(ack.headers.get('To')).toBe('Bob <sip:bob@biloxi.example>;tag=uas-tag');
    expect(ack.headers.get('CSeq')).toBe('314159 ACK');
    expect(ack.headers.getAll('Via')).toEqual([invite.headers.get('Via')]);
    expect(ack.headers.getAll('Route')).toEqual(['<sip:p1.example;lr>']);
  });
});
