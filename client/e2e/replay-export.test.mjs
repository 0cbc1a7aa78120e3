// Journey: a finished run is run again from its page (fetched without validators) and the
// jobs it stored are downloaded as CSV with the jobs page's filters.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { IMPORT_TIMEOUT_MS, api, assertNoProblems, journey, navigate, signInByFragment, uniqueName } from './helpers.mjs';

const state = journey();

test('a run is replayed from its page, and the jobs download as CSV with the current filters', async () => {
  const { page, problems } = state.browser;
  const name = uniqueName('e2e replay');
  const { _id: sourceId } = await state.addSource(name, 'jobicy_wpjm.xml');
  const { run } = await api('POST', `/api/sources/${encodeURIComponent(sourceId)}/import`);

  await signInByFragment(page, `/runs/${run._id}`);
  await page.locator('[data-testid="run-detail"][data-status="completed"]').waitFor({ timeout: IMPORT_TIMEOUT_MS });
  await page.getByRole('button', { name: 'Run again' }).click();
  await page.waitForURL((url) => url.pathname.startsWith('/runs/') && !url.pathname.endsWith(run._id));
  const replayId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  // The replay's own page (not the first run's, which may still show while the new one loads).
  await page
    .locator('[data-testid="run-detail"][data-status="completed"]')
    .filter({ hasText: replayId })
    .waitFor({ timeout: IMPORT_TIMEOUT_MS });
  const detail = await page.getByTestId('run-detail').innerText();
  assert.match(detail, /read without cache validators/);
  assert.match(detail, new RegExp(`replay of\\s+${run._id}`));
  const replay = await api('GET', `/api/import-logs/${encodeURIComponent(replayId)}`);
  assert.equal(replay.replayOf, run._id);
  assert.equal(replay.unconditional, true);
  assert.ok(replay.totalFetched > 0, 'the replay read the whole feed');

  await navigate(page, 'Jobs');
  await page.getByLabel('Source').selectOption(sourceId);
  await page.waitForURL((url) => url.searchParams.get('source') === sourceId);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  assert.match(download.suggestedFilename(), /^jobs-\d{8}T\d{6}Z\.csv$/);
  const csv = await readFile(await download.path(), 'utf8');
  const header = csv.split('\r\n')[0];
  assert.ok(header.startsWith('id,externalId,publisher,title,company'), header);
  const expected = (await api('GET', `/api/jobs?source=${encodeURIComponent(sourceId)}&limit=1`)).total;
  assert.ok(expected > 0);
  // One line per job (descriptions may hold line breaks inside quotes, so count record ends).
  const records = csv.split('\r\n').filter((l) => l.length > 0).length - 1;
  assert.ok(records >= expected, `${records} CSV records for ${expected} jobs`);
  assertNoProblems(problems);
});
