/**
 * A stand-in for the Confab server's client-facing surface, for SDK and phone-page tests that
 * must run before the real server exists: the wazo-auth token route and the confd routes the
 * SDK login reads (spec wazo-server-protocols §3.1, §3.8), the SIP WebSocket at
 * `/api/asterisk/ws` (subprotocol `sip`) backed by {@link SipHub}, and the built phone page.
 *
 * Shapes follow the Wazo wire format; this file is a test double, never shipped.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { SipHub, type HubAccount } from './sip-hub.js';
import { startStaticServer, type StaticServer } from './static-server.js';

/** A user of the fake directory. */
export interface FakeUser {
  username: string;
  password: string;
  firstname: string;
  lastname: string;
  extension: string;
  sipUsername: string;
  sipSecret: string;
  /** @default true */
  webrtc?: boolean;
}

/** alice/1001 and bob/1002 with fixed credentials. */
export const DEMO_USERS: readonly FakeUser[] = [
  {
    username: 'alice',
    password: 'alice-password',
    firstname: 'Alice',
    lastname: 'Liddell',
    extension: '1001',
    sipUsername: 'alicesip',
    sipSecret: 'alice-sip-secret',
  },
  {
    username: 'bob',
    password: 'bob-password',
    firstname: 'Bob',
    lastname: 'Marley',
    extension: '1002',
    sipUsername: 'bobsip',
    sipSecret: 'bob-sip-secret',
  },
];

/** Hub accounts for {@link SipHub} from fake users. */
export function hubAccounts(users: readonly FakeUser[]): HubAccount[] {
  return users.map((u) => ({
    username: u.sipUsername,
    password: u.sipSecret,
    extension: u.extension,
  }));
}

/** A REST request as the directory sees it. */
export interface FakeRequest {
  method: string;
  /** Path and query, e.g. `/api/confd/1.1/users/x/lines/1/associated/endpoints/sip?view=merged`. */
  url: string;
  headers: Record<string, string | undefined>;
  body: string;
}

export interface FakeReply {
  status: number;
  body?: unknown;
}

interface StoredUser extends FakeUser {
  uuid: string;
  lineId: number;
}

/** The REST half: tokens and confd resources for a fixed set of users. */
export class FakeDirectory {
  readonly tenantUuid = randomUUID();
  readonly requests: FakeRequest[] = [];
  readonly #users: StoredUser[];
  readonly #tokens = new Map<string, StoredUser>();

  constructor(users: readonly FakeUser[]) {
    this.#users = users.map((u, i) => ({ ...u, uuid: randomUUID(), lineId: i + 1 }));
  }

  /** The uuid the directory gave `username`. */
  uuidOf(username: string): string {
    return this.#users.find((u) => u.username === username)!.uuid;
  }

  /** Live tokens (login adds, DELETE removes). */
  get tokenCount(): number {
    return this.#tokens.size;
  }

  handle(request: FakeRequest): FakeReply {
    this.requests.push(request);
    const url = new URL(request.url, 'http://fake');
    const path = url.pathname;
    if (request.method === 'POST' && path === '/api/auth/0.1/token') {
      return this.#login(request);
    }
    const tokenPath = /^\/api\/auth\/0\.1\/token\/([^/]+)$/.exec(path);
    if (request.method === 'DELETE' && tokenPath) {
      this.#tokens.delete(decodeURIComponent(tokenPath[1]!));
      return { status: 200, body: { data: { message: 'success' } } };
    }
    if (!path.startsWith('/api/confd/1.1/users/')) {
      return { status: 404, body: { message: 'Not found', error_id: 'not-found', details: {} } };
    }
    const user = this.#tokens.get(request.headers['x-auth-token'] ?? '');
    if (user === undefined) {
      return {
        status: 401,
        body: {
          message: 'Unauthorized',
          error_id: 'unauthorized',
          details: { invalid_token: request.headers['x-auth-token'] },
        },
      };
    }
    const userPath = /^\/api\/confd\/1\.1\/users\/([^/]+)$/.exec(path);
    if (request.method === 'GET' && userPath && decodeURIComponent(userPath[1]!) === user.uuid) {
      return { status: 200, body: this.#userBody(user) };
    }
    const endpointPath =
      /^\/api\/confd\/1\.1\/users\/([^/]+)\/lines\/(\d+)\/associated\/endpoints\/sip$/.exec(path);
    if (
      request.method === 'GET' &&
      endpointPath &&
      decodeURIComponent(endpointPath[1]!) === user.uuid &&
      Number(endpointPath[2]) === user.lineId &&
      url.searchParams.get('view') === 'merged'
    ) {
      return { status: 200, body: this.#endpointBody(user) };
    }
    return {
      status: 404,
      body: { message: 'Resource not found', error_id: 'not-found', details: {} },
    };
  }

  #login(request: FakeRequest): FakeReply {
    const authorization = request.headers['authorization'] ?? '';
    const decoded = Buffer.from(authorization.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = this.#users.find(
      (u) => u.username === decoded.slice(0, colon) && u.password === decoded.slice(colon + 1),
    );
    if (!authorization.startsWith('Basic ') || colon === -1 || user === undefined) {
      // Legacy wazo-auth error shape (spec §2.2).
      return {
        status: 401,
        body: {
          reason: ['Authentication Failed'],
          timestamp: [Date.now() / 1000],
          status_code: 401,
        },
      };
    }
    const parsed = JSON.parse(request.body || '{}') as { expiration?: number };
    const token = randomUUID();
    this.#tokens.set(token, user);
    const expires = new Date(Date.now() + (parsed.expiration ?? 7200) * 1000);
    return {
      status: 200,
      body: {
        data: {
          token,
          auth_id: user.uuid,
          xivo_uuid: randomUUID(),
          session_uuid: randomUUID(),
          // UTC without a zone designator, like wazo-auth (spec §3.2, §11.10).
          utc_expires_at: expires.toISOString().replace('Z', ''),
          acl: ['confd.users.me.read', 'websocketd'],
          metadata: { uuid: user.uuid, tenant_uuid: this.tenantUuid, purpose: 'user' },
        },
      },
    };
  }

  #userBody(user: StoredUser): unknown {
    return {
      uuid: user.uuid,
      username: user.username,
      firstname: user.firstname,
      lastname: user.lastname,
      email: null,
      lines: [
        {
          id: user.lineId,
          name: user.sipUsername,
          endpoint_sip: { uuid: randomUUID(), name: user.sipUsername },
          extensions: [{ id: user.lineId, exten: user.extension, context: 'default' }],
        },
      ],
    };
  }

  #endpointBody(user: StoredUser): unknown {
    return {
      uuid: randomUUID(),
      name: user.sipUsername,
      label: user.sipUsername,
      auth_section_options: [
        ['username', user.sipUsername],
        ['password', user.sipSecret],
      ],
      endpoint_section_options: [['webrtc', user.webrtc === false ? 'no' : 'yes']],
    };
  }
}

/** A `fetch` answering from `directory` in memory (for SDK unit tests). */
export function fakeFetch(
  directory: FakeDirectory,
): (url: string, init: RequestInit) => Promise<Response> {
  return (url, init) => {
    const parsed = new URL(url);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    const reply = directory.handle({
      method: init.method ?? 'GET',
      url: parsed.pathname + parsed.search,
      headers,
      body: typeof init.body === 'string' ? init.body : '',
    });
    return Promise.resolve(
      new Response(reply.body === undefined ? null : JSON.stringify(reply.body), {
        status: reply.status,
        headers: { 'content-type': 'application/json' },
      }),
    );
  };
}

/** A running stand-in server. */
export interface FakeConfab {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly hub: SipHub;
  readonly directory: FakeDirectory;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the stand-in on 127.0.0.1: REST + SIP WebSocket + (optionally) the phone page. */
export async function startFakeConfab(
  options: { users?: readonly FakeUser[]; staticRoot?: string } = {},
): Promise<FakeConfab> {
  const users = options.users ?? DEMO_USERS;
  const directory = new FakeDirectory(users);
  const hub = new SipHub(hubAccounts(users));
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
  });
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (!req.url?.startsWith('/api/')) {
      return false;
    }
    const headers: Record<string, string | undefined> = {};
    for (const [key, value] of Object.entries(req.headers)) {
      headers[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    const reply = directory.handle({
      method: req.method ?? 'GET',
      url: req.url,
      headers,
      body: await readBody(req),
    });
    res.writeHead(reply.status, { 'content-type': 'application/json' });
    res.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
    return true;
  };
  const server: StaticServer = await startStaticServer({
    handler,
    ...(options.staticRoot === undefined ? {} : { root: options.staticRoot }),
  });
  server.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!req.url?.startsWith('/api/asterisk/ws')) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = hub.connect({
        send: (text) => ws.send(text),
        close: () => ws.close(),
      });
      ws.on('message', (data, isBinary) => {
        const text = isBinary
          ? Buffer.from(data as Buffer).toString('utf8')
          : (data as Buffer).toString('utf8');
        connection.receive(text);
      });
      ws.on('close', () => connection.closed());
    });
  });
  return {
    origin: server.origin,
    hub,
    directory,
    close: async () => {
      for (const client of wss.clients) {
        client.terminate();
      }
      wss.close();
      await server.close();
    },
  };
}
