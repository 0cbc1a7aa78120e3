// Journey (a): a new source's import appears at the top of the history and completes live.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  IMPORT_TIMEOUT_MS,
  assertNoProblems,
  assertSameDocument,
  createSource,
  deleteSourceQuietly,
  markDocument,
  navigate,
  openBrowser,
  signInByFragment,
  startFixtureServer,
  uniqueName,
} from './helpers.mjs';

let feeds;
let browser;
let sourceId;

before(async () => {
  feeds = await startFixtureServer();
  browser = await openBrowser();
});

after(async () => {
  await deleteSourceQuietly(sourceId);
  await browser?.close();
  await feeds?.close();
});

test('an import started with "Import now" appears and reaches completed with total 5 without a reload', async () => {
  const { page, problems } = browser;
  await signInByFragment(page, '/');
  assert.equal(new URL(page.url()).hash, '', 'the token is removed from the address bar');

  const name = uniqueName('e2e live');
  const source = await createSource(name, feeds.url('jobicy_wpjm.xml'));
  sourceId = source._id;

  await markDocument(page);
  await navigate(page, 'Sources');
  const card = page.locator(`[data-testid="source-card"][data-source-id="${sourceId}"]`);
  await card.waitFor();
  await card.getByRole('button', { name: 'Import now' }).click();

  await navigate(page, 'Import history');
  const row = page.getByTestId('run-row').filter({ hasText: name }).first();
  await row.waitFor({ timeout: IMPORT_TIMEOUT_MS });
  await page.locator(`[data-testid="run-row"][data-status="completed"]`).filter({ hasText: name }).waitFor({ timeout: IMPORT_TIMEOUT_MS });

  assert.equal((await row.locator('[data-col="total"]').innerText()).trim(), '5');
  assert.equal((await row.locator('[data-col="failed"]').innerText()).trim(), '0');
  const iso = await row.locator('[data-col="importDateTime"] time').getAttribute('title');
  assert.ok(iso && !Number.isNaN(Date.parse(iso)), `importDateTime carries the ISO instant in its title (${iso})`);
  const firstRowId = await page.getByTestId('run-row').first().getAttribute('data-run-id');
  assert.equal(firstRowId, await row.getAttribute('data-run-id'), 'the new run is the top row');

  await assertSameDocument(page);
  assert.equal(await page.getByTestId('connection-status').getAttribute('data-state'), 'live');
  assertNoProblems(problems);
});
