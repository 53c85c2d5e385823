/**
 * Swagger UI at `/api/docs` in a real Chromium against the real server: the page loads its own
 * assets and the OpenAPI document, renders the operations of every service (no script error, no
 * blocked resource), and expands one to show its documented parameters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchParticipant, type BrowserParticipant } from '../support/browser.js';
import { startTestConfab, type TestConfab } from '../support/confab-server.js';

describe('Swagger UI in Chromium', () => {
  let confab: TestConfab;
  let browser: BrowserParticipant;

  beforeAll(async () => {
    confab = await startTestConfab();
    browser = await launchParticipant({ name: 'docs' });
  });

  afterAll(async () => {
    await browser?.close();
    await confab?.close();
  });

  for (const listener of ['http', 'https'] as const) {
    it(`renders the operations of auth, confd and calld (${listener})`, async () => {
      const page = browser.page;
      const failed: string[] = [];
      const onFailed = (request: { url(): string }) => failed.push(request.url());
      page.on('requestfailed', onFailed);
      const logsBefore = browser.logs.length;
      try {
        const base = listener === 'http' ? confab.origin : confab.server.httpsUrl;
        const response = await page.goto(`${base}/api/docs`);
        expect(response?.status()).toBe(200);

        const calls = page.locator('.opblock-summary-path', { hasText: /\/users\/me\/calls$/ });
        await calls.first().waitFor({ timeout: 30_000 });
        for (const path of [
          '/api/auth/0.1/token',
          '/api/confd/1.1/infos',
          '/api/calld/1.0/users/me/calls/{call_id}/dtmf',
        ]) {
          await expect
            .poll(() => page.locator('.opblock-summary-path', { hasText: path }).count())
            .toBeGreaterThan(0);
        }
        for (const tag of ['auth', 'confd', 'calld']) {
          await expect.poll(() => page.locator(`.opblock-tag[data-tag="${tag}"]`).count()).toBe(1);
        }

        // Expanding DTMF shows its documented `digits` query parameter.
        const dtmf = page.locator('.opblock-put', {
          has: page.locator('.opblock-summary-path', { hasText: /\/dtmf$/ }),
        });
        await dtmf.locator('.opblock-summary').click();
        await dtmf.locator('.parameters-col_name', { hasText: 'digits' }).waitFor();

        const errors = browser.logs
          .slice(logsBefore)
          .filter((line) => /pageerror|error:/.test(line));
        expect({ errors, failed }).toEqual({ errors: [], failed: [] });
      } finally {
        page.off('requestfailed', onFailed);
      }
    });
  }
});
