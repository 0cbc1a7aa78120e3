// Journey (a): a new source's import appears at the top of the history and completes live.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  IMPORT_TIMEOUT_MS,
  assertNoProblems,
  assertSameDocument,
  journey,
  markDocument,
  navigate,
  signInByFragment,
  uniqueName,
} from './helpers.mjs';

const state = journey();

test('an import started with "Import now" appears and reaches completed with total 5 without a reload', async () => {
  const { page, problems } = state.browser;
  await signInByFragment(page, '/');
  assert.equal(new URL(page.url()).hash, '', 'the token is removed from the address bar');

  const name = uniqueName('e2e live');
  const { _id: sourceId } = await state.addSource(name, 'jobicy_wpjm.xml');

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
