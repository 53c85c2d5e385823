/**
 * A tiny HTTP server on 127.0.0.1 for browser tests: serves fixed pages and, optionally, a
 * directory. `http://127.0.0.1` is a secure context, so getUserMedia and WebRTC work there
 * (a `data:` URL is not).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.wav': 'audio/wav',
};

/** A started server. */
export interface StaticServer {
  readonly server: Server;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  close(): Promise<void>;
}

/** Options of {@link startStaticServer}. */
export interface StaticServerOptions {
  /** Fixed responses by exact path, e.g. `{ '/': '<!doctype html>…' }` (served as HTML). */
  pages?: Record<string, string>;
  /** A directory served under `/`; unknown paths fall back to its index.html (SPA). */
  root?: string;
  /** Called first; return true when the request was handled. */
  handler?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
}

async function serveFile(root: string, pathname: string, res: ServerResponse): Promise<boolean> {
  const relative = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, '');
  const path = join(root, relative === '' ? 'index.html' : relative);
  if (!(path + sep).startsWith(root + sep) && path !== root) {
    return false;
  }
  try {
    const body = await readFile(path);
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
    });
    res.end(body);
    return true;
  } catch {
    return false;
  }
}

/** Starts the server on an ephemeral loopback port. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const root =
    options.root === undefined ? undefined : normalize(options.root).replace(/[/\\]$/, '');
  const server = createServer((req, res) => {
    void (async () => {
      try {
        if (options.handler && (await options.handler(req, res))) {
          return;
        }
        const pathname = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
        const page = options.pages?.[pathname];
        if (page !== undefined) {
          res.writeHead(200, { 'content-type': CONTENT_TYPES['.html']! });
          res.end(page);
          return;
        }
        if (root !== undefined) {
          if (
            (await serveFile(root, pathname, res)) ||
            (await serveFile(root, '/index.html', res))
          ) {
            return;
          }
        }
        res.writeHead(404).end();
      } catch (error) {
        if (!res.headersSent) {
          res.writeHead(500);
        }
        res.end(String(error));
      }
    })();
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
