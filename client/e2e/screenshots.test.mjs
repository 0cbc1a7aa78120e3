// Journey (e): every page, light and dark (and at phone width), saved as PNGs; keyboard skip link
// and the theme toggle.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  api,
  assertNoProblems,
  journey,
  openBrowser,
  screenshotPath,
  signInByFragment,
  uniqueName,
  waitForRunToSettle,
} from './helpers.mjs';

let runId;
let jobId;

journey({
  browser: false,
  async setUp(state) {
    const source = await state.addSource(uniqueName('e2e screenshots'), 'jobicy_wpjm.xml');
    const { run } = await api('POST', `/api/sources/${encodeURIComponent(source._id)}/import`);
    runId = run._id;
    await waitForRunToSettle(runId);
    jobId = (await api('GET', '/api/jobs?limit=1')).items[0]?._id;
  },
});

for (const colorScheme of ['light', 'dark']) {
  test(`screenshots of every page in the ${colorScheme} theme`, async () => {
    const browser = await openBrowser({ colorScheme });
    try {
      const { page, problems } = browser;
      await signInByFragment(page, '/');
      const pages = [
        ['history', '/', '[data-testid="run-row"]'],
        ['run-detail', `/runs/${runId}`, '[data-testid="run-detail"]'],
        ['sources', '/sources', '[data-testid="source-card"]'],
        ['jobs', jobId ? `/jobs?job=${jobId}` : '/jobs', jobId ? '[data-testid="job-detail"]' : 'h1'],
        ['overview', '/overview', '[data-testid="stat-tiles"]'],
      ];
      for (const [name, path, ready] of pages) {
        await page.goto(`${process.env.E2E_BASE_URL.replace(/\/+$/, '')}${path}`);
        await page.locator(ready).first().waitFor();
        await page.getByTestId('connection-status').and(page.locator('[data-state="live"]')).waitFor();
        await page.waitForLoadState('networkidle').catch(() => {});
        await page.screenshot({ path: screenshotPath(`${name}-${colorScheme}`), fullPage: true });
      }
      await page.setViewportSize({ width: 390, height: 844 });
      for (const [name, path, ready] of [pages[0], pages[2], pages[3], pages[4]]) {
        await page.goto(`${process.env.E2E_BASE_URL.replace(/\/+$/, '')}${path}`);
        await page.locator(ready).first().waitFor();
        await page.waitForLoadState('networkidle').catch(() => {});
        await page.screenshot({ path: screenshotPath(`${name}-phone-${colorScheme}`), fullPage: true });
      }
      if (colorScheme === 'light') {
        // Keyboard: the first Tab reaches the skip link, which moves focus to the content.
        await page.goto(`${process.env.E2E_BASE_URL.replace(/\/+$/, '')}/`);
        await page.locator('[data-testid="run-row"]').first().waitFor();
        await page.keyboard.press('Tab');
        assert.equal(await page.evaluate(() => globalThis.document.activeElement?.textContent), 'Skip to content');
        await page.keyboard.press('Enter');
        assert.equal(await page.evaluate(() => globalThis.document.activeElement?.id), 'main');
        // The theme toggle overrides the system preference and is remembered.
        const toggle = page.getByTestId('theme-toggle');
        await toggle.click(); // system → light
        await toggle.click(); // light → dark
        assert.equal(await page.evaluate(() => globalThis.document.documentElement.dataset.theme), 'dark');
        await page.reload();
        await page.locator('[data-testid="run-row"]').first().waitFor();
        assert.equal(await page.evaluate(() => globalThis.document.documentElement.dataset.theme), 'dark');
        await page.screenshot({ path: screenshotPath('history-phone-toggled-dark'), fullPage: false });
      }
      assertNoProblems(problems);
    } finally {
      await browser.close();
    }
  });
}
