// Journey (f): the daemon restarts while the page is open. The page says so, comes back to
// live on its own, and then shows the database: an import finished while it was cut off is there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import {
  IMPORT_TIMEOUT_MS,
  assertNoProblems,
  assertSameDocument,
  env,
  importAndSettle,
  journey,
  liveStatus,
  markDocument,
  signInByFragment,
  uniqueName,
} from './helpers.mjs';

const restartCmd = process.env.E2E_RESTART_CMD;

const state = journey();

test('after a daemon restart the page recovers to live and shows what happened meanwhile', { skip: restartCmd ? false : 'E2E_RESTART_CMD is not set' }, async () => {
  const { page, context, problems, allowConsoleError } = state.browser;
  // Chromium logs each refused WebSocket attempt while the daemon is down or the page offline.
  allowConsoleError(/WebSocket connection to .* failed/);
  allowConsoleError(/Failed to load resource: net::ERR_(INTERNET_DISCONNECTED|CONNECTION_REFUSED)/);

  const name = uniqueName('e2e reconnect');
  const { _id: sourceId } = await state.addSource(name, 'jobicy_wpjm.xml');
  await signInByFragment(page, '/');
  await markDocument(page);
  const status = page.getByTestId('connection-status');

  // Cut the page off first, so the import below happens while it cannot hear about it.
  await context.setOffline(true);
  execFileSync(restartCmd, { stdio: 'inherit', timeout: 120_000 });
  await page.locator('[data-testid="connection-status"]:not([data-state="live"])').waitFor({ timeout: 20_000 });
  const whileAway = await status.getAttribute('data-state');
  assert.ok(['reconnecting', 'offline'].includes(whileAway ?? ''), `the indicator says the page is cut off (${whileAway})`);

  const run = await importAndSettle(sourceId);
  assert.equal(run.status, 'completed');
  assert.equal(await page.locator(`[data-testid="run-row"][data-run-id="${run._id}"]`).count(), 0, 'the page has not seen the run yet');

  await context.setOffline(false);
  await liveStatus(page).waitFor({ timeout: 30_000 });
  const row = page.locator(`[data-testid="run-row"][data-run-id="${run._id}"][data-status="completed"]`);
  await row.waitFor({ timeout: IMPORT_TIMEOUT_MS });
  assert.equal((await row.locator('[data-col="total"]').innerText()).trim(), String(run.totalFetched));
  assert.equal((await row.locator('[data-col="new"]').innerText()).trim(), String(run.newJobs));
  assert.equal(await page.getByTestId('run-row').first().getAttribute('data-run-id'), run._id, 'the run is on top');

  // A second import after the recovery arrives live, as before the restart.
  const again = await importAndSettle(sourceId);
  await page.locator(`[data-testid="run-row"][data-run-id="${again._id}"][data-status="${again.status}"]`).waitFor({ timeout: IMPORT_TIMEOUT_MS });

  await assertSameDocument(page);

  // The restarted daemon also serves a fresh tab, deep link included.
  const fresh = await context.newPage();
  await fresh.goto(`${env.baseUrl}/sources`);
  await liveStatus(fresh).waitFor({ timeout: 20_000 });
  await fresh.close();
  assertNoProblems(problems);
});
