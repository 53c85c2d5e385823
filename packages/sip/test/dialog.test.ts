import { describe, expect, it } from 'vitest';
import { isInvalidStateError, type ConfabError } from '@confab/core';
import {
  Dialog,
  VIA_PLACEHOLDER_HOST,
  completeVia,
  dialogIdKey,
  dialogIdOf,
  type DialogState,
} from '../src/dialog.js';
import { getTopVia } from '../src/header-values.js';
import { bodyText, type SipRequest } from '../src/message.js';
import { createResponse } from '../src/transaction/messages.js';
import { formatUri, parseUri } from '../src/uri-parser.js';
import { makeRequest, respondTo } from './transaction-fixtures.js';

const RECORD_ROUTES: [string, string][] = [
  ['Record-Route', '<sip:p2.biloxi.example;lr>'],
  ['Record-Route', '<sip:p1.atlanta.example;lr>'],
];

function invite(extra: [string, string][] = [], uri?: string): SipRequest {
  return makeRequest('INVITE', { cseq: 10, headers: extra, ...(uri === undefined ? {} : { uri }) });
}

function uasDialog(request = invite(RECORD_ROUTES)): Dialog {
  return Dialog.fromUasRequest(request, 'bob-tag', parseUri('sip:bob@192.0.2.4'));
}

function uacDialog(status = 200): { dialog: Dialog; request: SipRequest } {
  const request = invite();
  const response = respondTo(request, status, 'bob-tag');
  for (const [name, value] of RECORD_ROUTES) {
    response.headers.append(name, value);
  }
  if (status < 200) {
    response.headers.set('Contact', '<sip:bob@192.0.2.4;transport=udp>');
  }
  return { dialog: Dialog.fromUacResponse(request, response), request };
}

function threw(fn: () => void): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('Dialog.fromUasRequest (RFC 3261 §12.1.1)', () => {
  it('takes the route set in order, the Contact as remote target and the CSeq as remote sequence', () => {
    const dialog = uasDialog();
    expect(dialog.id).toEqual({
      callId: 'a84b4c76e66710@pc33.atlanta.example',
      localTag: 'bob-tag',
      remoteTag: '1928301774',
    });
    expect(dialog.state).toBe('Early');
    expect(dialog.routeSet).toEqual(['<sip:p2.biloxi.example;lr>', '<sip:p1.atlanta.example;lr>']);
    expect(formatUri(dialog.remoteTarget)).toBe('sip:alice@pc33.atlanta.example');
    expect(dialog.remoteSeq).toBe(10);
    expect(dialog.localSeq).toBeUndefined();
    expect(formatUri(dialog.localUri.uri)).toBe('sip:bob@biloxi.example');
    expect(dialog.localUri.params.has('tag')).toBe(false);
    expect(formatUri(dialog.remoteUri.uri)).toBe('sip:alice@atlanta.example');
    expect(dialog.remoteUri.params.has('tag')).toBe(false);
    expect(dialog.localTarget && formatUri(dialog.localTarget)).toBe('sip:bob@192.0.2.4');
    expect(dialog.secure).toBe(false);
  });

  it('is secure for a SIPS Request-URI', () => {
    expect(uasDialog(invite([], 'sips:bob@biloxi.example')).secure).toBe(true);
  });

  it('uses an empty remote tag for an RFC 2543 peer without From tag', () => {
    const request = invite();
    request.headers.set('From', '<sip:alice@atlanta.example>');
    expect(uasDialog(request).id.remoteTag).toBe('');
  });

  it('refuses a request without Contact', () => {
    const request = invite();
    request.headers.delete('Contact');
    expect(threw(() => uasDialog(request))).toBeInstanceOf(TypeError);
  });

  it('is confirmed once the 2xx is sent, and terminates idempotently', () => {
    const dialog = uasDialog();
    const states: [DialogState, DialogState][] = [];
    dialog.on('stateChanged', (from, to) => states.push([from, to]));
    dialog.confirm();
    dialog.confirm();
    dialog.terminate();
    dialog.close();
    expect(states).toEqual([
      ['Early', 'Confirmed'],
      ['Confirmed', 'Terminated'],
    ]);
  });
});

describe('Dialog.fromUacResponse (RFC 3261 §12.1.2)', () => {
  it('reverses the Record-Route, targets the response Contact and keeps the INVITE CSeq', () => {
    const { dialog } = uacDialog();
    expect(dialog.state).toBe('Confirmed');
    expect(dialog.id).toEqual({
      callId: 'a84b4c76e66710@pc33.atlanta.example',
      localTag: '1928301774',
      remoteTag: 'bob-tag',
    });
    expect(dialog.routeSet).toEqual(['<sip:p1.atlanta.example;lr>', '<sip:p2.biloxi.example;lr>']);
    expect(formatUri(dialog.remoteTarget)).toBe('sip:bob@192.0.2.4');
    expect(dialog.localSeq).toBe(10);
    expect(dialog.remoteSeq).toBeUndefined();
    expect(dialog.localTarget && formatUri(dialog.localTarget)).toBe(
      'sip:alice@pc33.atlanta.example',
    );
  });

  it('creates an early dialog from a provisional response with a To tag', () => {
    const { dialog } = uacDialog(180);
    expect(dialog.state).toBe('Early');
    expect(formatUri(dialog.remoteTarget)).toBe('sip:bob@192.0.2.4;transport=udp');
  });

  it('falls back to the Request-URI when a provisional response has no Contact', () => {
    const request = invite();
    const ringing = createResponse(request, 180, undefined, { toTag: 't' });
    expect(formatUri(Dialog.fromUacResponse(request, ringing).remoteTarget)).toBe(
      'sip:bob@biloxi.example',
    );
  });

  it('refuses a non-2xx final response, a response without To tag and a 2xx without Contact', () => {
    const request = invite();
    expect(threw(() => Dialog.fromUacResponse(request, respondTo(request, 486)))).toBeInstanceOf(
      TypeError,
    );
    expect(
      threw(() => Dialog.fromUacResponse(request, createResponse(request, 180))),
    ).toBeInstanceOf(TypeError);
    const noContact = createResponse(request, 200, undefined, { toTag: 't' });
    expect(threw(() => Dialog.fromUacResponse(request, noContact))).toBeInstanceOf(TypeError);
  });

  it('confirms an early dialog on the 2xx and recomputes route set and target (§13.2.2.4)', () => {
    const { dialog, request } = uacDialog(183);
    const ok = respondTo(request, 200, 'bob-tag');
    ok.headers.set('Contact', '<sip:bob@198.51.100.7>');
    ok.headers.append('Record-Route', '<sip:only.example;lr>');
    dialog.receiveResponse(ok);
    expect(dialog.state).toBe('Confirmed');
    expect(dialog.routeSet).toEqual(['<sip:only.example;lr>']);
    expect(formatUri(dialog.remoteTarget)).toBe('sip:bob@198.51.100.7');
  });

  it('updates the target on a 2xx to a re-INVITE, ignores other responses, never throws', () => {
    const { dialog } = uacDialog();
    const reinvite = dialog.createRequest('INVITE');
    const busy = respondTo(reinvite, 491, 'bob-tag');
    busy.headers.set('Contact', '<sip:bob@203.0.113.1>');
    dialog.receiveResponse(busy);
    expect(formatUri(dialog.remoteTarget)).toBe('sip:bob@192.0.2.4');
    const ok = respondTo(reinvite, 200, 'bob-tag');
    ok.headers.set('Contact', '<sip:bob@203.0.113.9>');
    dialog.receiveResponse(ok);
    expect(formatUri(dialog.remoteTarget)).toBe('sip:bob@203.0.113.9');
    const broken = respondTo(reinvite, 200, 'bob-tag');
    broken.headers.set('CSeq', 'garbage');
    expect(() => {
      dialog.receiveResponse(broken);
    }).not.toThrow();
  });
});

describe('Dialog.createRequest (RFC 3261 §12.2.1.1)', () => {
  it('builds a BYE to the remote target through the route set, with tags and CSeq + 1', () => {
    const { dialog } = uacDialog();
    const bye = dialog.createRequest('BYE');
    expect(bye.method).toBe('BYE');
    expect(formatUri(bye.uri)).toBe('sip:bob@192.0.2.4');
    expect(bye.headers.getAll('Route')).toEqual([
      '<sip:p1.atlanta.example;lr>',
      '<sip:p2.biloxi.example;lr>',
    ]);
    expect(bye.headers.get('From')).toBe('"Alice" <sip:alice@atlanta.example>;tag=1928301774');
    expect(bye.headers.get('To')).toBe('"Bob" <sip:bob@biloxi.example>;tag=bob-tag');
    expect(bye.headers.get('Call-ID')).toBe('a84b4c76e66710@pc33.atlanta.example');
    expect(bye.headers.get('CSeq')).toBe('11 BYE');
    expect(bye.headers.get('Max-Forwards')).toBe('70');
    expect(bye.headers.has('Contact')).toBe(false);
    expect(dialog.localSeq).toBe(11);
    expect(dialog.createRequest('INFO').headers.get('CSeq')).toBe('12 INFO');
  });

  it('puts a placeholder Via with a fresh branch, which completeVia turns into ours', () => {
    const { dialog } = uacDialog();
    const first = dialog.createRequest('BYE');
    const second = dialog.createRequest('BYE');
    const via = getTopVia(first);
    expect(via.host).toBe(VIA_PLACEHOLDER_HOST);
    expect(via.params.get('branch')).toMatch(/^z9hG4bK/);
    expect(getTopVia(second).params.get('branch')).not.toBe(via.params.get('branch'));
    completeVia(first, { transport: 'tcp', host: '192.0.2.1', port: 5070 });
    const completed = getTopVia(first);
    expect(completed.transport).toBe('TCP');
    expect(completed.host).toBe('192.0.2.1');
    expect(completed.port).toBe(5070);
    expect(completed.params.get('branch')).toBe(via.params.get('branch'));
    expect(first.headers.getAll('Via')).toHaveLength(1);
  });

  it('uses the given sent-by instead of the placeholder', () => {
    const { dialog } = uacDialog();
    const via = getTopVia(
      dialog.createRequest('BYE', { via: { transport: 'WSS', host: 'edge.example' } }),
    );
    expect(via.transport).toBe('WSS');
    expect(via.host).toBe('edge.example');
  });

  it('adds our Contact to target-refresh requests, and a body and extra headers when given', () => {
    const { dialog } = uacDialog();
    const reinvite = dialog.createRequest('INVITE', {
      body: 'v=0\r\n',
      contentType: 'application/sdp',
      headers: [['Subject', 'hold']],
    });
    expect(reinvite.headers.get('Contact')).toBe('<sip:alice@pc33.atlanta.example>');
    expect(reinvite.headers.get('Content-Type')).toBe('application/sdp');
    expect(reinvite.headers.get('Subject')).toBe('hold');
    expect(bodyText(reinvite)).toBe('v=0\r\n');
    expect(dialog.createRequest('UPDATE').headers.has('Contact')).toBe(true);
  });

  it("ACKs with the INVITE's CSeq and a new branch, without advancing the local sequence (§13.2.2.4)", () => {
    const { dialog } = uacDialog();
    const ack = dialog.createRequest('ACK');
    expect(ack.headers.get('CSeq')).toBe('10 ACK');
    expect(dialog.localSeq).toBe(10);
    const reinvite = dialog.createRequest('INVITE');
    expect(reinvite.headers.get('CSeq')).toBe('11 INVITE');
    expect(dialog.createRequest('ACK').headers.get('CSeq')).toBe('11 ACK');
    expect(dialog.createRequest('ACK', { cseq: 10 }).headers.get('CSeq')).toBe('10 ACK');
    expect(getTopVia(ack).params.get('branch')).not.toBe(getTopVia(reinvite).params.get('branch'));
  });

  it('starts the UAS local sequence at a random value below 2^31 on its first request', () => {
    const dialog = uasDialog();
    const bye = dialog.createRequest('BYE');
    const seq = dialog.localSeq ?? -1;
    expect(seq).toBeGreaterThan(0);
    expect(seq).toBeLessThan(2 ** 31);
    expect(bye.headers.get('CSeq')).toBe(`${seq} BYE`);
    expect(bye.headers.get('From')).toBe('"Bob" <sip:bob@biloxi.example>;tag=bob-tag');
    expect(bye.headers.get('To')).toBe('"Alice" <sip:alice@atlanta.example>;tag=1928301774');
    expect(bye.headers.getAll('Route')).toEqual([
      '<sip:p2.biloxi.example;lr>',
      '<sip:p1.atlanta.example;lr>',
    ]);
    expect(dialog.createRequest('BYE').headers.get('CSeq')).toBe(`${seq + 1} BYE`);
  });

  it('refuses an ACK with no INVITE sent, CANCEL, strict routing and any request once terminated', () => {
    const uas = uasDialog();
    expect(isInvalidStateError(threw(() => uas.createRequest('ACK')))).toBe(true);
    expect(threw(() => uas.createRequest('CANCEL'))).toBeInstanceOf(TypeError);
    const strict = uasDialog(invite([['Record-Route', '<sip:strict.example>']]));
    expect((threw(() => strict.createRequest('BYE')) as ConfabError | undefined)?.code).toBe(
      'UNSUPPORTED',
    );
    uas.terminate();
    expect(isInvalidStateError(threw(() => uas.createRequest('BYE')))).toBe(true);
  });
});

describe('Dialog.receiveRequest (RFC 3261 §12.2.2)', () => {
  it('rejects a lower CSeq as out of order and accepts equal or higher ones', () => {
    const dialog = uasDialog();
    expect(dialog.receiveRequest(makeRequest('INFO', { cseq: 9, toTag: 'bob-tag' }))).toBe(
      'out-of-order',
    );
    expect(dialog.receiveRequest(makeRequest('INFO', { cseq: 10, toTag: 'bob-tag' }))).toBe('ok');
    expect(dialog.receiveRequest(makeRequest('INFO', { cseq: 15, toTag: 'bob-tag' }))).toBe('ok');
    expect(dialog.remoteSeq).toBe(15);
    expect(dialog.receiveRequest(makeRequest('BYE', { cseq: 12, toTag: 'bob-tag' }))).toBe(
      'out-of-order',
    );
    expect(dialog.remoteSeq).toBe(15);
  });

  it('accepts any first request on the UAC side, and never judges ACK or CANCEL by CSeq', () => {
    const { dialog } = uacDialog();
    expect(dialog.receiveRequest(makeRequest('BYE', { cseq: 3 }))).toBe('ok');
    expect(dialog.remoteSeq).toBe(3);
    expect(dialog.receiveRequest(makeRequest('ACK', { cseq: 1 }))).toBe('ok');
    expect(dialog.remoteSeq).toBe(3);
  });

  it('refreshes the remote target on re-INVITE and UPDATE, not on INFO, and keeps it on an unreadable Contact', () => {
    const dialog = uasDialog();
    const info = makeRequest('INFO', { cseq: 11, headers: [] });
    info.headers.set('Contact', '<sip:alice@203.0.113.5>');
    dialog.receiveRequest(info);
    expect(formatUri(dialog.remoteTarget)).toBe('sip:alice@pc33.atlanta.example');
    const reinvite = makeRequest('INVITE', { cseq: 12 });
    reinvite.headers.set('Contact', '<sip:alice@203.0.113.5>');
    expect(dialog.receiveRequest(reinvite)).toBe('ok');
    expect(formatUri(dialog.remoteTarget)).toBe('sip:alice@203.0.113.5');
    const update = makeRequest('UPDATE', { cseq: 13 });
    update.headers.set('Contact', '<<<garbage');
    expect(dialog.receiveRequest(update)).toBe('ok');
    expect(formatUri(dialog.remoteTarget)).toBe('sip:alice@203.0.113.5');
  });

  it('does not let a caller mutate the remote target through the getter', () => {
    const dialog = uasDialog();
    dialog.remoteTarget.host = 'evil.example';
    expect(dialog.remoteTarget.host).toBe('pc33.atlanta.example');
  });
});

describe('dialogIdOf', () => {
  it('reads the id from both sides, matching the dialogs that each UA built', () => {
    const { dialog: alice, request } = uacDialog();
    const bob = uasDialog(request);
    const bye = alice.createRequest('BYE');
    expect(dialogIdOf(bye, 'uas')).toEqual(bob.id);
    expect(dialogIdKey(dialogIdOf(bye, 'uas') ?? bob.id)).toBe(dialogIdKey(bob.id));
    const ok = createResponse(bye, 200);
    expect(dialogIdOf(ok, 'uac')).toEqual(alice.id);
  });

  it('returns undefined without To tag, without From tag on the UAC side, or for unreadable headers', () => {
    expect(dialogIdOf(makeRequest('INVITE'), 'uas')).toBeUndefined();
    const noFromTag = makeRequest('BYE', { toTag: 't' });
    noFromTag.headers.set('From', '<sip:alice@atlanta.example>');
    expect(dialogIdOf(noFromTag, 'uac')).toBeUndefined();
    expect(dialogIdOf(noFromTag, 'uas')?.remoteTag).toBe('');
    const broken = makeRequest('BYE', { toTag: 't' });
    broken.headers.delete('Call-ID');
    expect(dialogIdOf(broken, 'uas')).toBeUndefined();
  });
});
