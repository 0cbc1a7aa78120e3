// Journey (e): every page, light and dark (and the history at phone width), saved as PNGs.
import { after, before, test } from 'node:test';
import { api, assertNoProblems, createSource, deleteSourceQuietly, openBrowser, screenshotPath, signInByFragment, startFixtureServer, uniqueName } from './helpers.mjs';

let feeds;
let sourceId;
let runId;

before(async () => {
  feeds = await startFixtureServer();
  const source = await createSource(uniqueName('e2e screenshots'), feeds.url('jobicy_wpjm.xml'));
  sourceId = source._id;
  const { run } = await api('POST', `/api/sources/${encodeURIComponent(sourceId)}/import`);
  runId = run._id;
});

after(async () => {
  await deleteSourceQuietly(sourceId);
  await feeds?.close();
});

// Jobs and stats endpoints may not exist yet on the daemon; the pages say so instead of failing.
const optionalEndpoint = (url) => /\/api\/(jobs|stats)(\?|$)/.test(new URL(url).pathname + new URL(url).search);

for (const colorScheme of ['light', 'dark']) {
  test(`screenshots of every page in the ${colorScheme} theme`, async () => {
    const browser = await openBrowser({ colorScheme });
    try {
      const { page, problems, allowHttpError } = browser;
      allowHttpError(optionalEndpoint);
      await signInByFragment(page, '/');
      const pages = [
        ['history', '/', '[data-testid="run-row"]'],
        ['run-detail', `/runs/${runId}`, '[data-testid="run-detail"]'],
        ['sources', '/sources', '[data-testid="source-card"]'],
        ['jobs', '/jobs', 'h1'],
        ['overview', '/overview', 'h1'],
      ];
      for (const [name, path, ready] of pages) {
        await page.goto(`${process.env.E2E_BASE_URL.replace(/\/+$/, '')}${path}`);
        await page.locator(ready).first().waitFor();
        await page.getByTestId('connection-status').and(page.locator('[data-state="live"]')).waitFor();
        await page.waitForLoadState('networkidle').catch(() => {});
        await page.screenshot({ path: screenshotPath(`${name}-${colorScheme}`), fullPage: true });
      }
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${process.env.E2E_BASE_URL.replace(/\/+$/, '')}/`);
      await page.locator('[data-testid="run-row"]').first().waitFor();
      await page.screenshot({ path: screenshotPath(`history-phone-${colorScheme}`), fullPage: true });
      assertNoProblems(problems);
    } finally {
      await browser.close();
    }
  });
}
