/**
 * Serving the web phone (apps/phone/dist) at `/`, with the single-page-app fallback: any GET of a
 * path without a file extension outside `/api/` answers `index.html`, so client-side routes
 * survive a reload. When the build is missing, pages answer 503 with a hint to build it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Prefix of every API route; never answered with the web app. */
export const API_PREFIX = '/api/';

const MISSING_BUILD_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Confab: web phone not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}
code{background:#f2f2f2;padding:.1rem .3rem;border-radius:.2rem}</style></head>
<body>
<h1>The web phone has not been built</h1>
<p>The Confab server is running, but there is no web phone to serve yet.
Run <code>npm run build</code> at the root of the repository (or start with <code>npm start</code>,
which builds first), then reload this page.</p>
</body>
</html>
`;

/** Wazo-style error body (spec §2.2) for unknown API paths. */
function notFoundBody(request: FastifyRequest) {
  return {
    message: 'Not found',
    error_id: 'not-found',
    details: { method: request.method, url: request.url.slice(0, 256) },
    timestamp: Date.now() / 1000,
  };
}

function pathOf(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

/** Whether the last path segment looks like a file (`/assets/app.js`), not an app route. */
function looksLikeFile(path: string): boolean {
  const last = path.slice(path.lastIndexOf('/') + 1);
  return last.includes('.');
}

/**
 * Registers static serving of `staticDir` and the not-found handler (SPA fallback, JSON 404 under
 * `/api/`, 503 page while the build is missing).
 */
export async function registerWebApp(app: FastifyInstance, dir: string): Promise<void> {
  const staticDir = resolve(dir);
  const indexFile = join(staticDir, 'index.html');
  if (!existsSync(indexFile)) {
    app.log.warn({ staticDir }, 'the web phone is not built: run `npm run build`, then reload');
  }
  // Registered even when the directory is missing (the plugin only warns), so a build made while
  // the server runs is served without a restart.
  await app.register(fastifyStatic, {
    root: staticDir,
    prefix: '/',
    index: ['index.html'],
    cacheControl: false,
    setHeaders: (res, path) => {
      // Vite fingerprints everything under assets/; index.html must be revalidated so a new
      // build is picked up.
      if (path.includes(`${join('/', 'assets', '/')}`)) {
        res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
      } else {
        res.setHeader('Cache-Control', 'no-cache');
      }
    },
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = pathOf(request.url);
    const isPage = request.method === 'GET' || request.method === 'HEAD';
    if (!isPage || path.startsWith(API_PREFIX) || path === '/api' || looksLikeFile(path)) {
      return reply.code(404).type('application/json').send(notFoundBody(request));
    }
    if (!existsSync(indexFile)) {
      return reply
        .code(503)
        .header('Cache-Control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(MISSING_BUILD_PAGE);
    }
    return reply.header('Cache-Control', 'no-cache').sendFile('index.html');
  });
}
