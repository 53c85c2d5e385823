/**
 * Out-of-dialog methods and hostile input on every SIP transport (UDP, TCP, WebSocket):
 * requests the server can answer get the status RFC 3261 prescribes (400, 413, 416, 481, 501,
 * 505, 513), the rest is dropped, stream framing errors close the connection, and afterwards the
 * server still completes a normal call with nothing leaked.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { getTag, getTo, type SipResponse } from '@confab/sip';
import { addUser, startTestServer, type TestLine, type TestServer } from './support/server.js';
import { peerPort } from '../support/ports.js';
import {
  expectSippSuccess,
  registerLine,
  startCallee,
  startCaller,
  statsOf,
  waitFor,
} from './support/sip-peers.js';
import {
  openPeer,
  openTcp,
  openUdp,
  openWs,
  rawRequest,
  type WirePeer,
  type WireTransport,
} from './support/sip-wire.js';

/** How long we listen for an answer that must not come. */
const SILENCE_MS = 300;

let test: TestServer;
let caller: TestLine;
let callee: TestLine;
let baseline: { connections: number };

const target = (): { sipPort: number; httpUrl: string } => ({
  sipPort: test.sipPort,
  httpUrl: test.server.httpUrl,
});

beforeAll(async () => {
  test = await startTestServer();
  caller = await addUser(test.server, 'robust', '4000');
  callee = await addUser(test.server, 'sturdy', '4001');
  baseline = { connections: statsOf(test).connections };
});

afterAll(async () => {
  await test.close();
});

/** Runs `body` with a fresh peer on `transport` and closes the peer afterwards. */
async function withPeer<T>(
  transport: WireTransport,
  body: (peer: WirePeer) => Promise<T>,
): Promise<T> {
  const peer = await openPeer(transport, target());
  try {
    return await body(peer);
  } finally {
    await peer.close();
  }
}

/** The entries of a comma-separated list header, over all its lines. */
function listOf(response: SipResponse, name: string): string[] {
  return response.headers
    .getAll(name)
    .flatMap((value) => value.split(','))
    .map((entry) => entry.trim());
}

function allowOf(response: SipResponse): string[] {
  return listOf(response, 'Allow');
}

const TRANSPORTS: WireTransport[] = ['UDP', 'TCP', 'WS'];

describe.each(TRANSPORTS)('out-of-dialog requests over %s', (transport) => {
  it('answers OPTIONS with 200, a To tag, and Allow, Accept and Supported listing only what it implements (§11.2, §8.2.6.2)', async () => {
    await withPeer(transport, async (peer) => {
      peer.send(rawRequest(peer, { method: 'OPTIONS' }));
      const response = await peer.response('OPTIONS');
      expect(response.status).toBe(200);
      expect(allowOf(response).sort()).toEqual(
        ['ACK', 'BYE', 'CANCEL', 'INFO', 'INVITE', 'OPTIONS', 'REFER', 'REGISTER', 'UPDATE'].sort(),
      );
      expect(response.headers.get('Accept')).toBe('application/sdp');
      expect(listOf(response, 'Supported').sort()).toEqual(['norefersub', 'outbound']);
      expect(getTag(getTo(response))).toBeTruthy();
    });
  });

  it('refuses a Require of the extensions it does not implement (path, gruu, replaces, timer) with 420 naming them', async () => {
    await withPeer(transport, async (peer) => {
      for (const tag of ['path', 'gruu', 'replaces', 'timer']) {
        peer.send(rawRequest(peer, { method: 'OPTIONS', headers: [`Require: ${tag}`] }));
        const response = await peer.response('OPTIONS');
        expect(response.status, tag).toBe(420);
        expect(response.headers.get('Unsupported')).toBe(tag);
      }
      peer.send(rawRequest(peer, { method: 'OPTIONS', headers: ['Require: norefersub'] }));
      expect((await peer.response('OPTIONS')).status).toBe(200);
    });
  });

  it('answers an unknown method with 501 (§21.5.2)', async () => {
    await withPeer(transport, async (peer) => {
      peer.send(rawRequest(peer, { method: 'FROBNICATE' }));
      expect((await peer.response('FROBNICATE')).status).toBe(501);
    });
  });

  it('answers MESSAGE, known but not supported, with 405 and Allow (§8.2.1)', async () => {
    await withPeer(transport, async (peer) => {
      peer.send(
        rawRequest(peer, {
          method: 'MESSAGE',
          headers: ['Content-Type: text/plain'],
          body: 'hello',
        }),
      );
      const response = await peer.response('MESSAGE');
      expect(response.status).toBe(405);
      expect(allowOf(response)).toContain('INVITE');
      expect(allowOf(response)).not.toContain('MESSAGE');
    });
  });

  it('answers a request that requires an extension it lacks (100rel) with 420 and Unsupported (§8.2.2.3)', async () => {
    await withPeer(transport, async (peer) => {
      peer.send(rawRequest(peer, { method: 'OPTIONS', headers: ['Require: 100rel, outbound'] }));
      const response = await peer.response('OPTIONS');
      expect(response.status).toBe(420);
      expect(response.headers.get('Unsupported')).toBe('100rel');
      // An extension it supports is no obstacle.
      peer.send(rawRequest(peer, { method: 'OPTIONS', headers: ['Require: outbound'] }));
      expect((await peer.response('OPTIONS')).status).toBe(200);
    });
  });

  it('answers an in-dialog BYE for a dialog it does not know with 481 (§12.2.2)', async () => {
    await withPeer(transport, async (peer) => {
      peer.send(rawRequest(peer, { method: 'BYE', to: '<sip:confab@127.0.0.1>;tag=nosuchdialog' }));
      expect((await peer.response('BYE')).status).toBe(481);
    });
  });
});

/** A request that must be answered with `status`, on every transport. */
interface AnsweredCase {
  name: string;
  status: number;
  method: string;
  build: (peer: WirePeer) => string | Uint8Array;
  /**
   * On TCP the message cannot be framed: its Content-Length is unusable, or header parsing
   * stopped at an oversized part before reaching it. The connection must close after the
   * answer (§18.3); otherwise it must go on.
   */
  breaksStream?: boolean;
}

const HUGE_VALUE = 'x'.repeat(10_000);

const answered: AnsweredCase[] = [
  {
    name: 'a CSeq method that differs from the request method',
    status: 400,
    // The response copies the request's CSeq (§8.2.6.2), so it names INVITE.
    method: 'INVITE',
    build: (peer) => rawRequest(peer, { method: 'OPTIONS', cseq: '1 INVITE' }),
  },
  {
    name: 'a Content-Length that is not a number',
    breaksStream: true,
    status: 400,
    method: 'OPTIONS',
    build: (peer) => rawRequest(peer, { method: 'OPTIONS', contentLength: 'ten' }),
  },
  {
    name: 'a malformed header line',
    status: 400,
    method: 'OPTIONS',
    build: (peer) => rawRequest(peer, { method: 'OPTIONS', headers: ['this is not a header'] }),
  },
  {
    name: 'an unsupported SIP version',
    status: 505,
    method: 'OPTIONS',
    build: (peer) => rawRequest(peer, { method: 'OPTIONS', version: 'SIP/3.0' }),
  },
  {
    name: 'a Request-URI with an unsupported scheme',
    status: 416,
    method: 'OPTIONS',
    build: (peer) => rawRequest(peer, { method: 'OPTIONS', uri: 'http://127.0.0.1/' }),
  },
  {
    name: 'a 10 KB header field',
    breaksStream: true,
    status: 513,
    method: 'OPTIONS',
    build: (peer) => rawRequest(peer, { method: 'OPTIONS', headers: [`X-Huge: ${HUGE_VALUE}`] }),
  },
  {
    name: 'more than 256 header fields',
    breaksStream: true,
    status: 513,
    method: 'OPTIONS',
    build: (peer) =>
      rawRequest(peer, {
        method: 'OPTIONS',
        headers: Array.from({ length: 300 }, (_, i) => `X-Filler-${i}: ${i}`),
      }),
  },
  {
    name: 'a Content-Length of more than ten digits',
    breaksStream: true,
    status: 400,
    method: 'OPTIONS',
    build: (peer) => rawRequest(peer, { method: 'OPTIONS', contentLength: '99999999999' }),
  },
  {
    name: 'two different Call-ID header fields',
    status: 400,
    method: 'OPTIONS',
    build: (peer) => rawRequest(peer, { method: 'OPTIONS', headers: ['Call-ID: second-one'] }),
  },
  {
    name: 'a Max-Forwards that is not a number',
    status: 400,
    method: 'OPTIONS',
    build: (peer) => rawRequest(peer, { method: 'OPTIONS', maxForwards: 'many' }),
  },
];

describe.each(TRANSPORTS)('malformed requests over %s', (transport) => {
  it.each(answered)(
    'answers $name with $status',
    async ({ status, method, build, breaksStream = false }) => {
      await withPeer(transport, async (peer) => {
        peer.send(build(peer));
        const response = await peer.response(method);
        expect(response.status).toBe(status);
        if (transport === 'TCP' && breaksStream) {
          await peer.closed;
          return;
        }
        // Otherwise the transport goes on: the next request is answered normally.
        peer.send(rawRequest(peer, { method: 'OPTIONS' }));
        expect((await peer.response('OPTIONS')).status).toBe(200);
      });
    },
  );

  it.each([
    ['Call-ID', { callId: null }],
    ['CSeq', { cseq: null }],
    ['From', { from: null }],
    ['Via', { via: null }],
  ] as const)(
    'drops a request without %s: no response can be built from it (§8.2.6.2)',
    async (_header, omit) => {
      await withPeer(transport, async (peer) => {
        peer.send(rawRequest(peer, { method: 'OPTIONS', ...omit }));
        expect(await peer.next(SILENCE_MS)).toBeUndefined();
        // The transport is still usable.
        peer.send(rawRequest(peer, { method: 'OPTIONS' }));
        expect((await peer.response('OPTIONS')).status).toBe(200);
      });
    },
  );

  it('drops non-SIP text and binary junk without answering', async () => {
    await withPeer(transport, async (peer) => {
      peer.send('hello there, this is not SIP\r\n\r\n');
      expect(await peer.next(SILENCE_MS)).toBeUndefined();
      if (transport === 'TCP') {
        // §18.3: a stream that is not SIP cannot be re-synchronised.
        await peer.closed;
        return;
      }
      peer.send(randomBytes(2048));
      expect(await peer.next(SILENCE_MS)).toBeUndefined();
      peer.send(rawRequest(peer, { method: 'OPTIONS' }));
      expect((await peer.response('OPTIONS')).status).toBe(200);
    });
  });

  it('drops a malformed response', async () => {
    await withPeer(transport, async (peer) => {
      peer.send('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
      expect(await peer.next(SILENCE_MS)).toBeUndefined();
      peer.send(rawRequest(peer, { method: 'OPTIONS' }));
      expect((await peer.response('OPTIONS')).status).toBe(200);
    });
  });
});

describe('datagram and message boundaries', () => {
  it.each(['UDP', 'WS'] as const)(
    'answers a truncated request (no empty line after the headers) with 400 over %s',
    async (transport) => {
      await withPeer(transport, async (peer) => {
        const text = rawRequest(peer, { method: 'OPTIONS' });
        peer.send(text.slice(0, text.indexOf('\r\nContent-Length')));
        expect((await peer.response('OPTIONS')).status).toBe(400);
      });
    },
  );

  it.each(['UDP', 'WS'] as const)(
    'answers a request whose body is shorter than its Content-Length with 400 over %s (§18.3)',
    async (transport) => {
      await withPeer(transport, async (peer) => {
        peer.send(rawRequest(peer, { method: 'OPTIONS', contentLength: '500', body: 'short' }));
        expect((await peer.response('OPTIONS')).status).toBe(400);
      });
    },
  );

  it('answers the largest possible UDP datagram claiming a 70 KB body with 400; a 70 KB datagram cannot even be sent', async () => {
    const peer = await openUdp(test.sipPort);
    try {
      const head = rawRequest(peer, { method: 'OPTIONS', contentLength: '70000' });
      const filler = 'a'.repeat(65_507 - Buffer.byteLength(head));
      expect(await peer.sendChecked(Buffer.from(head + filler))).toBeNull();
      expect((await peer.response('OPTIONS')).status).toBe(400);
      // UDP over IPv4 carries at most 65,507 bytes: the kernel refuses anything bigger.
      const tooBig = await peer.sendChecked(Buffer.alloc(70 * 1024, 0x41));
      expect(tooBig).toMatchObject({ code: 'EMSGSIZE' });
    } finally {
      await peer.close();
    }
  });

  it('answers a 70 KB request over TCP with 413 and closes the connection (§18.3)', async () => {
    const peer = await openTcp(test.sipPort);
    const body = 'b'.repeat(70 * 1024);
    peer.send(rawRequest(peer, { method: 'OPTIONS', headers: ['Content-Type: text/plain'], body }));
    expect((await peer.response('OPTIONS')).status).toBe(413);
    await peer.closed;
  });

  it('answers a bad Content-Length on a TCP stream with 400 and closes the connection', async () => {
    const peer = await openTcp(test.sipPort);
    peer.send(rawRequest(peer, { method: 'OPTIONS', contentLength: '-5' }));
    expect((await peer.response('OPTIONS')).status).toBe(400);
    await peer.closed;
  });

  it('closes a TCP connection whose request has no Content-Length (§18.3: mandatory on streams)', async () => {
    const peer = await openTcp(test.sipPort);
    peer.send(rawRequest(peer, { method: 'OPTIONS', contentLength: null }));
    expect((await peer.response('OPTIONS')).status).toBe(400);
    await peer.closed;
  });

  it('answers 50 requests pipelined in one TCP write, and a request written one byte at a time', async () => {
    const peer = await openTcp(test.sipPort);
    try {
      const requests = Array.from({ length: 50 }, (_, i) =>
        rawRequest(peer, { method: 'OPTIONS', cseq: `${i + 1} OPTIONS` }),
      );
      peer.send(requests.join(''));
      const statuses = [];
      for (let i = 0; i < 50; i++) {
        statuses.push((await peer.response('OPTIONS')).status);
      }
      expect(statuses).toEqual(Array.from({ length: 50 }, () => 200));
      const bytes = Buffer.from(rawRequest(peer, { method: 'FROBNICATE' }));
      for (const byte of bytes) {
        peer.send(Uint8Array.of(byte));
      }
      expect((await peer.response('FROBNICATE')).status).toBe(501);
    } finally {
      await peer.close();
    }
  });

  it('waits for the rest of a TCP message whose body has not arrived, then answers it', async () => {
    const peer = await openTcp(test.sipPort);
    try {
      const text = rawRequest(peer, {
        method: 'OPTIONS',
        headers: ['Content-Type: text/plain'],
        body: 'split body',
      });
      peer.send(text.slice(0, -5));
      expect(await peer.next(SILENCE_MS)).toBeUndefined();
      peer.send(text.slice(-5));
      expect((await peer.response('OPTIONS')).status).toBe(200);
    } finally {
      await peer.close();
    }
  });

  it('refuses a WebSocket upgrade that does not offer the sip subprotocol (RFC 7118 §4)', async () => {
    const url = `${test.server.httpUrl.replace(/^http/, 'ws')}/api/asterisk/ws`;
    const refused = await new Promise<string>((resolve) => {
      const socket = new WebSocket(url, 'chat');
      socket.once('open', () => {
        socket.close();
        resolve('opened');
      });
      socket.once('error', (error) => {
        resolve(error.message);
      });
    });
    expect(refused).toMatch(/400/);
  });

  it('closes a WebSocket that sends a 70 KB message with 1009 (message too big)', async () => {
    const peer = await openWs(test.server.httpUrl);
    const body = 'b'.repeat(70 * 1024);
    peer.send(rawRequest(peer, { method: 'OPTIONS', headers: ['Content-Type: text/plain'], body }));
    await peer.closed;
    expect(peer.closeCode).toBe(1009);
  });

  it('keeps a WebSocket open through non-SIP text and binary frames and CRLF keep-alives', async () => {
    const peer = await openWs(test.server.httpUrl);
    try {
      peer.sendFrame('{"op":"subscribe"}', false);
      peer.sendFrame(randomBytes(512), true);
      peer.sendFrame('\r\n\r\n', false);
      peer.sendFrame('', false);
      expect(await peer.next(SILENCE_MS)).toBeUndefined();
      expect(peer.isClosed).toBe(false);
      peer.send(rawRequest(peer, { method: 'OPTIONS' }));
      expect((await peer.response('OPTIONS')).status).toBe(200);
    } finally {
      await peer.close();
    }
  });
});

describe('INVITE offers the server cannot accept', () => {
  const sdpType = '      Content-Type: application/sdp\n';
  const g729Only = [
    'v=0',
    'o=user1 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    'm=audio 6000 RTP/AVP 18',
    'a=rtpmap:18 G729/8000',
    '',
  ]
    .map((line) => `      ${line}\n`)
    .join('');
  it.each([
    ['without SDP', '', '', '488'],
    ['with garbage SDP', sdpType, '      this is = not SDP\n      m=\n\n', '488'],
    ['offering only a codec the server lacks (G.729)', sdpType, g729Only, '488'],
    ['with an SDP body but no Content-Type (§21.4.13)', '', g729Only, '415'],
  ])(
    'answers an INVITE %s with %s and keeps no channel',
    async (_name, contentType, body, status) => {
      // The callee is reachable (else 480 comes first), at a port where nothing listens: the
      // offer must be refused before any fork starts.
      const unused = await peerPort();
      await registerLine(test, callee, unused);
      try {
        const run = await startCaller(test, 'uac-offer.xml', caller, callee.extension, {
          substitute: { content_type: contentType, body, status },
        });
        expectSippSuccess(await run.done, 'caller');
        await waitFor(() => statsOf(test).channels === 0, 'no channel');
      } finally {
        await registerLine(test, callee, unused, 0);
      }
      expect(statsOf(test).bindings).toBe(0);
    },
  );
});

describe('after all of the above', () => {
  it('still completes a normal sipp call and has leaked no channel, bridge or connection', async () => {
    const answering = await startCallee('uas-answer.xml', callee);
    await registerLine(test, callee, answering.port);
    const call = await startCaller(test, 'uac-call.xml', caller, callee.extension);
    const [called, answeredCall] = await Promise.all([call.done, answering.done]);
    expectSippSuccess(called, 'caller');
    expectSippSuccess(answeredCall, 'callee');
    await waitFor(() => {
      const stats = statsOf(test);
      return (
        stats.channels === 0 && stats.bridges === 0 && stats.connections === baseline.connections
      );
    }, 'no channels, bridges or extra connections');
  });
});
