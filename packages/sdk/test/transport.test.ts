import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '@confab/core';
import { TransportState } from 'sip.js';
import { WebSocketTransport } from '../src/phone/transport.js';
import type { WebSocketLike } from '../src/platform.js';

/** A socket the test drives by hand. */
class FakeSocket implements WebSocketLike {
  readyState = 0;
  protocol = '';
  onopen: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  readonly sent: string[] = [];
  closeCalls = 0;
  readonly url: string;
  readonly protocols: string[];
  constructor(url: string, protocols: string[]) {
    this.url = url;
    this.protocols = protocols;
  }
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.closeCalls++;
    this.readyState = 2;
  }
  open(protocol = 'sip'): void {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.({});
  }
  closed(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
  receive(data: unknown): void {
    this.onmessage?.({ data });
  }
}

function setup(options: { connectionTimeout?: number } = {}) {
  const sockets: FakeSocket[] = [];
  const transport = new WebSocketTransport(undefined, {
    server: 'wss://pbx.example.com/api/asterisk/ws?userUuid=u1',
    logger: silentLogger,
    createWebSocket: (url, protocols) => {
      const socket = new FakeSocket(url, protocols);
      sockets.push(socket);
      return socket;
    },
    ...options,
  });
  const states: TransportState[] = [];
  transport.stateChange.addListener((state) => states.push(state));
  const onConnect = vi.fn();
  const onDisconnect = vi.fn();
  const onMessage = vi.fn();
  transport.onConnect = onConnect;
  transport.onDisconnect = onDisconnect;
  transport.onMessage = onMessage;
  return { transport, sockets, states, onConnect, onDisconnect, onMessage };
}

describe('WebSocketTransport', () => {
  it('opens the server URL offering the "sip" subprotocol (RFC 7118 §4) and connects on open', async () => {
    const { transport, sockets, states, onConnect } = setup();
    const connected = transport.connect();
    expect(transport.state).toBe(TransportState.Connecting);
    expect(sockets[0]!.url).toBe('wss://pbx.example.com/api/asterisk/ws?userUuid=u1');
    expect(sockets[0]!.protocols).toEqual(['sip']);
    sockets[0]!.open();
    await connected;
    expect(transport.isConnected()).toBe(true);
    expect(states).toEqual([TransportState.Connecting, TransportState.Connected]);
    expect(onConnect).toHaveBeenCalledTimes(1);
    expect(transport.protocol).toBe('WSS');
  });

  it('shares one attempt between concurrent connect() calls', async () => {
    const { transport, sockets } = setup();
    const a = transport.connect();
    const b = transport.connect();
    sockets[0]!.open();
    await Promise.all([a, b]);
    expect(sockets).toHaveLength(1);
  });

  it('rejects connect() and returns to Disconnected when the socket closes before opening', async () => {
    const { transport, sockets, onDisconnect } = setup();
    const connected = transport.connect();
    sockets[0]!.closed(1006);
    await expect(connected).rejects.toThrow(/closed/);
    expect(transport.state).toBe(TransportState.Disconnected);
    expect(onDisconnect).not.toHaveBeenCalled();
  });

  it('refuses a server that selected another subprotocol', async () => {
    const { transport, sockets } = setup();
    const connected = transport.connect();
    sockets[0]!.open('chat');
    await expect(connected).rejects.toThrow(/subprotocol/);
    expect(transport.state).toBe(TransportState.Disconnected);
    expect(sockets[0]!.closeCalls).toBe(1);
  });

  it('times out a connection that never opens', async () => {
    vi.useFakeTimers();
    try {
      const { transport, sockets } = setup({ connectionTimeout: 500 });
      const connected = transport.connect();
      const assertion = expect(connected).rejects.toThrow(/timed out/);
      await vi.advanceTimersByTimeAsync(500);
      await assertion;
      expect(transport.state).toBe(TransportState.Disconnected);
      expect(sockets[0]!.closeCalls).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reports a lost connection through onDisconnect(error)', async () => {
    const { transport, sockets, onDisconnect } = setup();
    const connected = transport.connect();
    sockets[0]!.open();
    await connected;
    sockets[0]!.closed(1006);
    expect(transport.state).toBe(TransportState.Disconnected);
    expect(onDisconnect).toHaveBeenCalledTimes(1);
    expect(onDisconnect.mock.calls[0]![0]).toBeInstanceOf(Error);
  });

  it('disconnect() calls onDisconnect without an error and resolves once the socket closed', async () => {
    const { transport, sockets, onDisconnect, states } = setup();
    const connected = transport.connect();
    sockets[0]!.open();
    await connected;
    const disconnected = transport.disconnect();
    expect(transport.state).toBe(TransportState.Disconnecting);
    expect(onDisconnect).toHaveBeenCalledWith();
    sockets[0]!.closed(1000);
    await disconnected;
    expect(states.slice(-2)).toEqual([TransportState.Disconnecting, TransportState.Disconnected]);
  });

  it('delivers text frames and UTF-8 binary frames, and drops keep-alives and oversized frames', async () => {
    const { transport, sockets, onMessage } = setup();
    const connected = transport.connect();
    sockets[0]!.open();
    await connected;
    sockets[0]!.receive('OPTIONS sip:a@b SIP/2.0\r\n\r\n');
    sockets[0]!.receive(new TextEncoder().encode('BYE sip:é@b SIP/2.0\r\n\r\n').buffer);
    sockets[0]!.receive('\r\n');
    sockets[0]!.receive('x'.repeat(300 * 1024));
    expect(onMessage.mock.calls.map((c) => c[0] as string)).toEqual([
      'OPTIONS sip:a@b SIP/2.0\r\n\r\n',
      'BYE sip:é@b SIP/2.0\r\n\r\n',
    ]);
  });

  it('contains an exception thrown while handling a message', async () => {
    const { transport, sockets, onMessage } = setup();
    onMessage.mockImplementation(() => {
      throw new Error('parser exploded');
    });
    const connected = transport.connect();
    sockets[0]!.open();
    await connected;
    expect(() => sockets[0]!.receive('garbage')).not.toThrow();
    expect(transport.isConnected()).toBe(true);
  });

  it('send() writes when connected and rejects otherwise', async () => {
    const { transport, sockets } = setup();
    await expect(transport.send('x')).rejects.toThrow(/not connected/);
    const connected = transport.connect();
    sockets[0]!.open();
    await connected;
    await transport.send('REGISTER sip:b SIP/2.0\r\n\r\n');
    expect(sockets[0]!.sent).toEqual(['REGISTER sip:b SIP/2.0\r\n\r\n']);
  });

  it('ignores events of a socket abandoned by a reconnect', async () => {
    const { transport, sockets, onMessage } = setup();
    const first = transport.connect();
    sockets[0]!.open();
    await first;
    const leaving = transport.disconnect();
    const second = transport.connect();
    await leaving;
    sockets[1]!.open();
    await second;
    sockets[0]!.receive('INVITE sip:x SIP/2.0\r\n\r\n');
    sockets[0]!.closed(1000);
    expect(onMessage).not.toHaveBeenCalled();
    expect(transport.isConnected()).toBe(true);
  });

  it('rejects connect() after dispose()', async () => {
    const { transport } = setup();
    await transport.dispose();
    await expect(transport.connect()).rejects.toThrow(/disposed/);
  });
});
