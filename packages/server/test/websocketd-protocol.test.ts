import { describe, expect, it } from 'vitest';
import {
  encodeFrame,
  encodeTextFrame,
  nextTokenCheckDelay,
  parseClientOperation,
  parseConnectionParameters,
  wrapEventFrame,
} from '../src/websocketd/protocol.js';

describe('parseConnectionParameters', () => {
  it('reads the token from ?token= before X-Auth-Token, and version 1 by default', () => {
    expect(parseConnectionParameters('/api/websocketd/?token=abc', 'hdr')).toEqual({
      token: 'abc',
      version: 1,
    });
    expect(parseConnectionParameters('/api/websocketd/', 'hdr')).toEqual({
      token: 'hdr',
      version: 1,
    });
    expect(parseConnectionParameters('/api/websocketd/?token=', ['h1', 'h2'])).toEqual({
      token: 'h1',
      version: 1,
    });
  });

  it('reports no token when neither the query nor the header carries one', () => {
    expect(parseConnectionParameters('/api/websocketd/', undefined).token).toBeUndefined();
    expect(parseConnectionParameters('/api/websocketd/?token=', '  ').token).toBeUndefined();
  });

  it.each([
    ['version=1', 1],
    ['version=2', 2],
    ['version=3', undefined],
    ['version=', undefined],
    ['version=2.0', undefined],
    ['version=v2', undefined],
  ])('maps %s to version %s', (query, version) => {
    expect(parseConnectionParameters(`/api/websocketd/?token=t&${query}`, undefined).version).toBe(
      version,
    );
  });

  it('ignores the userUuid parameter the SDK adds', () => {
    expect(
      parseConnectionParameters('/api/websocketd/?token=t&version=2&userUuid=u', undefined),
    ).toEqual({ token: 't', version: 2 });
  });
});

describe('parseClientOperation', () => {
  it.each([
    ['{"op":"start"}', { op: 'start' }],
    ['{"op":"start","data":null}', { op: 'start' }],
    ['{"op":"subscribe","data":{"event_name":"*"}}', { op: 'subscribe', eventName: '*' }],
    ['{"op":"token","data":{"token":"t2"}}', { op: 'token', token: 't2' }],
    ['{"op":"ping","data":{"payload":"pong"}}', { op: 'ping', payload: 'pong' }],
    ['{"op":"ping","data":{"payload":""}}', { op: 'ping', payload: '' }],
  ])('accepts %s', (text, operation) => {
    expect(parseClientOperation(text)).toEqual({ ok: true, operation });
  });

  it.each([
    ['', 'empty frame'],
    ['{', 'truncated JSON'],
    ['null', 'null'],
    ['[]', 'an array'],
    ['"start"', 'a string'],
    ['42', 'a number'],
    ['{}', 'no op'],
    ['{"op":42}', 'a numeric op'],
    ['{"op":null}', 'a null op'],
    ['{"op":"START"}', 'an op in the wrong case'],
    ['{"op":"unsubscribe","data":{"event_name":"x"}}', 'an unknown op'],
    ['{"op":"subscribe"}', 'subscribe without data'],
    ['{"op":"subscribe","data":"x"}', 'subscribe with string data'],
    ['{"op":"subscribe","data":[]}', 'subscribe with array data'],
    ['{"op":"subscribe","data":{"event_name":7}}', 'a numeric event name'],
    ['{"op":"subscribe","data":{"name":"x"}}', 'subscribe with the wrong key'],
    [`{"op":"subscribe","data":{"event_name":"${'x'.repeat(257)}"}}`, 'an oversized event name'],
    ['{"op":"token","data":{"token":null}}', 'a null token'],
    ['{"op":"token","data":{}}', 'token without data.token'],
    ['{"op":"ping"}', 'ping without data'],
    ['{"op":"ping","data":{"payload":{"x":1}}}', 'an object payload'],
    ['['.repeat(100_000), 'deep nesting'],
  ])('rejects %s (%s) as a protocol error', (text) => {
    const result = parseClientOperation(text);
    expect(result.ok).toBe(false);
  });
});

describe('server frames', () => {
  it('encodes {op, code: 0, data} without a msg key', () => {
    expect(JSON.parse(encodeFrame('init', { version: 2 }))).toEqual({
      op: 'init',
      code: 0,
      data: { version: 2 },
    });
    expect(JSON.parse(encodeFrame('start'))).toEqual({ op: 'start', code: 0, data: null });
  });

  it('wraps a serialised bus body as a v2 event frame', () => {
    const body = JSON.stringify({ name: 'call_updated', data: { call_id: '1' } });
    expect(JSON.parse(wrapEventFrame(body))).toEqual({
      op: 'event',
      code: 0,
      data: { name: 'call_updated', data: { call_id: '1' } },
    });
  });
});

/** An independent reading of one unmasked frame (RFC 6455 §5.2). */
function decodeFrame(frame: Buffer) {
  const fin = (frame[0]! & 0x80) !== 0;
  const rsv = frame[0]! & 0x70;
  const opcode = frame[0]! & 0x0f;
  const masked = (frame[1]! & 0x80) !== 0;
  let length = frame[1]! & 0x7f;
  let offset = 2;
  if (length === 126) {
    length = frame.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    length = Number(frame.readBigUInt64BE(2));
    offset = 10;
  }
  return {
    fin,
    rsv,
    opcode,
    masked,
    headerLength: offset,
    payload: frame.subarray(offset),
    length,
  };
}

describe('encodeTextFrame (RFC 6455 §5.2)', () => {
  it.each([
    [0, 2],
    [125, 2],
    [126, 4],
    [65535, 4],
    [65536, 10],
    [200_000, 10],
  ])(
    'frames a %i-byte payload as one final unmasked text frame with a %i-byte header',
    (size, header) => {
      const payload = Buffer.from('é'.repeat(size / 2) + 'x'.repeat(size % 2));
      expect(payload.length).toBe(size);
      const decoded = decodeFrame(encodeTextFrame(payload));
      expect(decoded).toMatchObject({ fin: true, rsv: 0, opcode: 1, masked: false, length: size });
      expect(decoded.headerLength).toBe(header);
      expect(decoded.payload.equals(payload)).toBe(true);
    },
  );
});

describe('nextTokenCheckDelay (dynamic strategy, spec §8.5)', () => {
  const S = 1000;
  it.each([
    [-5 * S, 15 * S],
    [0, 15 * S],
    [1 * S, 1 * S],
    [14 * S, 14 * S],
    [30 * S, 30 * S],
    [80 * S, 60 * S],
    [100 * S, 75 * S],
    [16 * 3600 * S, 12 * 3600 * S],
    [7 * 24 * 3600 * S, 12 * 3600 * S],
  ])('with %i ms left checks after %i ms', (remaining, delay) => {
    expect(nextTokenCheckDelay(remaining)).toBe(delay);
  });
});
