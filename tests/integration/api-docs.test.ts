/**
 * The OpenAPI document and Swagger UI at `/api/docs` on a real server. The routes the API
 * actually registered are observed with an `onRoute` hook (wrapping the real
 * `registerPlatformApi`), so a route added without a schema or summary, or missing from the
 * document, fails here. Whether an operation is token-protected is checked on the wire: it must
 * declare security exactly when a request without credentials is refused with 401.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerPlatformApi } from '@confab/server';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';

const SERVICE_PREFIXES = ['/api/auth/', '/api/confd/', '/api/calld/'] as const;

interface Parameter {
  in: string;
  name: string;
  schema?: { type?: string | string[] };
}

interface Operation {
  summary?: string;
  requestBody?: { required?: boolean };
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
}

interface SecurityScheme {
  type: string;
  in?: string;
  name?: string;
  scheme?: string;
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  servers?: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, SecurityScheme> };
}

interface RegisteredRoute {
  method: string;
  url: string;
}

const serverVersion = (
  JSON.parse(
    readFileSync(new URL('../../packages/server/package.json', import.meta.url), 'utf8'),
  ) as { version: string }
).version;

/** `/users/:user_uuid` → `/users/{user_uuid}`. */
const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const isServiceRoute = (url: string): boolean =>
  SERVICE_PREFIXES.some((prefix) => url.startsWith(prefix));

/** A GET over HTTPS accepting the server's self-signed certificate. */
function httpsGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('API documentation at /api/docs', () => {
  let confab: TestConfab;
  let doc: OpenApiDocument;
  const registered: RegisteredRoute[] = [];

  beforeAll(async () => {
    confab = await startTestConfab({
      registerApi: async (app, deps) => {
        const getHandlers = new Map<string, unknown>();
        app.addHook('onRoute', (route) => {
          for (const method of [route.method].flat()) {
            if (method === 'GET') {
              getHandlers.set(route.url, route.handler);
            }
            // The HEAD route Fastify adds to each GET route shares its handler: not an operation
            // of its own. An explicitly declared HEAD route has its own handler.
            if (method === 'HEAD' && getHandlers.get(route.url) === route.handler) {
              continue;
            }
            registered.push({ method, url: route.url });
          }
        });
        await registerPlatformApi(app, deps);
      },
    });
    const response = await fetch(`${confab.origin}/api/docs/json`);
    expect(response.status).toBe(200);
    doc = (await response.json()) as OpenApiDocument;
  });

  afterAll(async () => {
    await confab?.close();
  });

  const operations = (): { method: string; path: string; operation: Operation }[] =>
    Object.entries(doc.paths)
      .filter(([path]) => isServiceRoute(path))
      .flatMap(([path, item]) =>
        Object.entries(item).map(([method, operation]) => ({
          method: method.toUpperCase(),
          path,
          operation,
        })),
      );

  it('is an OpenAPI 3 document named Confab, versioned as the server, with relative servers', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: 'Confab', version: serverVersion });
    expect(doc.servers?.length).toBeGreaterThan(0);
    for (const server of doc.servers ?? []) {
      expect(server.url.startsWith('/')).toBe(true);
    }
    const schemes = Object.values(doc.components.securitySchemes);
    expect(schemes).toContainEqual(
      expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-Auth-Token' }),
    );
    expect(schemes).toContainEqual(expect.objectContaining({ type: 'http', scheme: 'basic' }));
  });

  it('documents every route registered under auth, confd and calld, and nothing else', () => {
    const routes = registered.filter((route) => isServiceRoute(route.url));
    // The API has more than a dozen routes; an empty observation would make the rest vacuous.
    expect(routes.length).toBeGreaterThan(15);
    const expected = routes.map((r) => `${r.method} ${openApiPath(r.url)}`).sort();
    const documented = operations()
      .map((o) => `${o.method} ${o.path}`)
      .sort();
    expect(documented).toEqual([...new Set(expected)]);
  });

  it('gives every operation a summary and its service tag', () => {
    const defects = operations()
      .filter(({ path, operation }) => {
        const service = /^\/api\/([a-z]+)\//.exec(path)?.[1] ?? '';
        const summary = operation.summary ?? '';
        return summary.trim() === '' || !(operation.tags ?? []).includes(service);
      })
      .map(({ method, path }) => `${method} ${path}`);
    expect(defects).toEqual([]);
  });

  it('declares security exactly on the operations that refuse a request without credentials', async () => {
    const tokenHeader = Object.entries(doc.components.securitySchemes).find(
      ([, s]) => s.type === 'apiKey' && s.in === 'header' && s.name === 'X-Auth-Token',
    )?.[0];
    expect(tokenHeader).toBeDefined();
    const mismatches: string[] = [];
    let guarded = 0;
    for (const { method, path, operation } of operations()) {
      const url = path.replace(/\{([^}]+)\}/g, (_match, name: string) => {
        const parameter = operation.parameters?.find((p) => p.in === 'path' && p.name === name);
        const type = [parameter?.schema?.type ?? 'string'].flat();
        return type.includes('integer') ? '1' : 'x1';
      });
      const response = await fetch(`${confab.origin}${url}`, { method });
      await response.arrayBuffer();
      const declared = (operation.security ?? []).length > 0;
      if ((response.status === 401) !== declared) {
        mismatches.push(`${method} ${path}: ${response.status}, security ${String(declared)}`);
      }
      // Token-guarded operations (all but POST /token, which takes Basic) name X-Auth-Token.
      if (declared && !path.endsWith('/token')) {
        guarded++;
        const names = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
        if (!names.includes(tokenHeader!)) {
          mismatches.push(`${method} ${path}: no X-Auth-Token security`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(guarded).toBeGreaterThan(10);
  });

  it('documents a request body as required exactly when the route refuses an empty one', async () => {
    const alice = confab.users[0];
    const basic = Buffer.from(`${alice.username}:${alice.password}`).toString('base64');
    const login = await fetch(`${confab.origin}/api/auth/0.1/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/json' },
      body: '{}',
    });
    const token = ((await login.json()) as { data: { token: string } }).data.token;
    const withBody = operations().filter(({ operation }) => operation.requestBody !== undefined);
    expect(withBody.length).toBeGreaterThan(2);
    const mismatches: string[] = [];
    for (const { method, path, operation } of withBody) {
      const url = path.replace(/\{([^}]+)\}/g, (_match, name: string) =>
        name === 'token' ? token : 'x1',
      );
      const response = await fetch(`${confab.origin}${url}`, {
        method,
        headers: {
          'x-auth-token': token,
          authorization: `Basic ${basic}`,
          'content-type': 'application/json',
        },
      });
      await response.arrayBuffer();
      const required = operation.requestBody?.required === true;
      if ((response.status === 400) !== required) {
        mismatches.push(`${method} ${path}: ${response.status}, required ${String(required)}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('serves Swagger UI with its assets, CORS headers, and the YAML document', async () => {
    const page = await fetch(`${confab.origin}/api/docs`, {
      headers: { origin: 'https://app.example' },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const html = await page.text();
    expect(html).toContain('swagger-ui');
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of assets) {
      const response = await fetch(new URL(asset, `${confab.origin}/api/docs`));
      await response.arrayBuffer();
      expect({ asset, status: response.status }).toEqual({ asset, status: 200 });
    }
    const yaml = await fetch(`${confab.origin}/api/docs/yaml`);
    expect(yaml.status).toBe(200);
    expect(await yaml.text()).toMatch(/^openapi: 3\./m);
  });

  it('serves the same document on the HTTPS listener', async () => {
    const response = await httpsGet(`${confab.server.httpsUrl}/api/docs/json`);
    expect(response.status).toBe(200);
    const overHttps = JSON.parse(response.body) as OpenApiDocument;
    expect(Object.keys(overHttps.paths).sort()).toEqual(Object.keys(doc.paths).sort());
  });
});
