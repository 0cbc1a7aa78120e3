// Journey (b): a source whose feed answers 404 fails, and the reason opens from the table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  IMPORT_TIMEOUT_MS,
  api,
  assertNoProblems,
  assertSameDocument,
  journey,
  markDocument,
  signInByFragment,
  uniqueName,
} from './helpers.mjs';

const state = journey();

test('a feed that answers 404 fails and its reason can be opened from the history table', async () => {
  const { page, problems } = state.browser;
  await signInByFragment(page, '/');
  await markDocument(page);

  const name = uniqueName('e2e missing');
  const { _id: sourceId } = await state.addSource(name, 'no-such-feed.xml');
  const { run } = await api('POST', `/api/sources/${encodeURIComponent(sourceId)}/import`);

  const row = page.locator(`[data-testid="run-row"][data-run-id="${run._id}"]`);
  await page.locator(`[data-testid="run-row"][data-run-id="${run._id}"][data-status="failed"]`).waitFor({ timeout: IMPORT_TIMEOUT_MS });
  await assertSameDocument(page);

  const reasonInTable = row.getByTestId('run-error-link');
  await reasonInTable.waitFor();
  const shortReason = (await reasonInTable.innerText()).trim();
  assert.ok(shortReason.length > 0, 'the table shows the run-level reason');

  await reasonInTable.click();
  await page.waitForURL(`**/runs/${run._id}`);
  const detail = page.getByTestId('run-error');
  await detail.waitFor();
  const text = await detail.innerText();
  assert.ok(text.includes(shortReason), `the detail page explains the failure (${text})`);
  assert.match(text, /fetch\.|http|404|not found/i, 'the reason names the fetch problem');
  assertNoProblems(problems);
});
