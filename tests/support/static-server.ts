/**
 * A tiny HTTP server on 127.0.0.1 serving fixed HTML pages, for browser tests that need no Confab
 * server (the real-peer harness self-test). `http://127.0.0.1` is a secure context, so
 * getUserMedia and WebRTC work there (a `data:` URL is not).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A started server. */
export interface StaticServer {
  readonly server: Server;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  close(): Promise<void>;
}

/** Options of {@link startStaticServer}. */
export interface StaticServerOptions {
  /** HTML pages by exact path, e.g. `{ '/': '<!doctype html>…' }`; other paths answer 404. */
  pages: Readonly<Record<string, string>>;
}

/** Starts the server on an ephemeral loopback port. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const page = options.pages[pathname];
    if (page === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
