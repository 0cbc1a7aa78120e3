// Journeys (m): pausing every daemon from the dashboard shows a banner on every open page until
// the resume; the Queues page shows the queues and the daemon's live workers.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  IMPORT_TIMEOUT_MS,
  api,
  assertNoProblems,
  assertSameDocument,
  env,
  journey,
  liveStatus,
  markDocument,
  navigate,
  signInByFragment,
  uniqueName,
  waitForRunToSettle,
} from './helpers.mjs';

const state = journey();

// The journeys share one daemon: whatever happens here, it is left running.
after(async () => {
  await api('POST', '/api/maintenance/resume').catch(() => {});
});

const banner = (page) => page.getByTestId('maintenance-banner');

test('a pause from the dashboard shows the banner on every page, holds a manual import, and the resume clears it', async () => {
  const { page, context, problems } = state.browser;
  const { _id: sourceId } = await state.addSource(uniqueName('e2e pause'), 'jobicy_wpjm.xml');
  await signInByFragment(page, '/');
  await markDocument(page);
  await navigate(page, 'Queues');
  const reason = `e2e upgrade ${Math.random().toString(36).slice(2, 8)}`;
  await page.getByLabel('Reason').fill(reason);
  await page.getByRole('button', { name: 'Pause all daemons' }).click();
  await banner(page).waitFor();
  assert.match(await banner(page).innerText(), new RegExp(`Paused for maintenance.*by the admin token: ${reason}`, 's'));
  assert.equal((await api('GET', '/api/maintenance')).paused, true);

  // A second page, opened meanwhile, shows it too.
  const second = await context.newPage();
  await second.goto(`${env.baseUrl}/sources`);
  await liveStatus(second).waitFor({ timeout: 20_000 });
  await banner(second).waitFor();

  // A manual import is accepted and waits in the queue while paused.
  const started = await api('POST', `/api/sources/${encodeURIComponent(sourceId)}/import`);
  assert.equal(started.paused, true);
  const fetchWaiting = page.getByTestId('queue-fetch').locator('td').first();
  await page.waitForFunction(
    (el) => Number(el?.textContent) >= 1,
    await fetchWaiting.elementHandle(),
    { timeout: 15_000 },
  );
  await new Promise((r) => setTimeout(r, 2_000));
  const held = await api('GET', `/api/import-logs/${encodeURIComponent(started.run._id)}`);
  assert.equal(held.status, 'queued', 'nothing takes the run while paused');

  // Resumed from the second page: the banner leaves both, the first through the socket.
  await banner(second).getByRole('button', { name: 'Resume' }).click();
  await banner(second).waitFor({ state: 'detached' });
  await banner(page).waitFor({ state: 'detached', timeout: 10_000 });
  await page.getByRole('button', { name: 'Pause all daemons' }).waitFor();
  const run = await waitForRunToSettle(started.run._id, IMPORT_TIMEOUT_MS);
  assert.equal(run.status, 'completed');
  assert.equal(run.totalFetched, 5);
  await second.close();
  await assertSameDocument(page);
  assertNoProblems(problems);
});

test('the Queues page shows both queues and the live workers of the daemon', async () => {
  const { page, problems } = state.browser;
  const { _id: sourceId } = await state.addSource(uniqueName('e2e queues'), 'jobicy_wpjm.xml');
  const { run } = await api('POST', `/api/sources/${encodeURIComponent(sourceId)}/import`);
  const done = await waitForRunToSettle(run._id);
  await signInByFragment(page, '/queues');
  await page.getByTestId('queue-fetch').waitFor();
  await page.getByTestId('queue-items').waitFor();
  const workers = page.getByTestId('queue-worker');
  await workers.first().waitFor({ timeout: 15_000 });
  const rows = await workers.allInnerTexts();
  assert.ok(rows.some((r) => r.includes(done.fetchedBy) && r.includes('fetch')), `the daemon's fetcher is listed: ${rows.join(' | ')}`);
  assert.ok(rows.some((r) => r.includes('items')), `its batch worker is listed: ${rows.join(' | ')}`);
  assertNoProblems(problems);
});
