// Journey (c): the Sources form shows the server's message next to a bad URL and a bad cron;
// a source added through it (with its expiry mode) can then be imported from its card, which
// then shows the window the run covered, and backfilled from its card.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  IMPORT_TIMEOUT_MS,
  api,
  assertNoProblems,
  journey,
  navigate,
  signInByFragment,
  uniqueName,
} from './helpers.mjs';

const state = journey();

test('the add-source form shows a clear message for a bad URL and for a bad cron, then adds a source that imports', async () => {
  const { page, problems, allowHttpError } = state.browser;
  // The two rejected submits are expected 400s; Chromium logs each as a console error.
  allowHttpError((url) => new URL(url).pathname === '/api/sources');
  await signInByFragment(page, '/');
  await navigate(page, 'Sources');

  const form = page.getByRole('form', { name: 'Add a source' });
  const name = uniqueName('e2e form');
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Feed URL').fill('not a url');
  await form.getByRole('button', { name: 'Add source' }).click();

  const urlError = form.getByTestId('field-error-url');
  await urlError.waitFor();
  assert.ok((await urlError.innerText()).trim().length > 0, 'a message sits next to the URL field');
  assert.equal(await form.getByLabel('Feed URL').getAttribute('aria-invalid'), 'true');

  await form.getByLabel('Feed URL').fill(state.feeds.url('jobicy_wpjm.xml'));
  await form.getByLabel(/Schedule/).fill('every hour please');
  assert.match(await form.getByTestId('cron-reading').innerText(), /6 fields|not|invalid|expected/i, 'the cron reading flags it while typing');
  await form.getByRole('button', { name: 'Add source' }).click();

  const cronError = form.getByTestId('field-error-cron');
  await cronError.waitFor();
  assert.ok((await cronError.innerText()).trim().length > 0, 'a message sits next to the cron field');
  assert.equal(await form.getByTestId('field-error-url').count(), 0, 'the URL message is gone once the URL is valid');

  // A good cron gets a human reading and the source is created.
  await form.getByLabel(/Schedule/).fill('0 30 * * * *');
  assert.match(await form.getByTestId('cron-reading').innerText(), /30/);
  // Disabled, so the scheduler leaves it to this test.
  await form.getByLabel(/Enabled/).uncheck();
  await form.getByLabel('Jobs missing from the feed').selectOption('complete');
  assert.match(await form.getByTestId('expiry-hint').innerText(), /every open posting/);
  await form.getByRole('button', { name: 'Add source' }).click();
  const card = page.getByTestId('source-card').filter({ hasText: name });
  await card.waitFor();
  state.sourceIds.push(await card.getAttribute('data-source-id'));
  assert.match(await card.getByTestId('source-expiry').innerText(), /Complete/);
  assert.match(await card.getByTestId('source-window').innerText(), /no complete run yet/);

  const { items } = await api('GET', '/api/sources');
  const created = items.find((s) => s.name === name);
  assert.ok(created, 'the source exists on the server');
  assert.equal(created.expiry, 'complete', 'the expiry mode was saved');

  // Import it from its card and follow the run to its end.
  await card.getByRole('button', { name: 'Import now' }).click();
  await card.getByRole('link', { name: 'open the run' }).click();
  const detail = page.locator('[data-testid="run-detail"][data-status="completed"]');
  await detail.waitFor({ timeout: IMPORT_TIMEOUT_MS });
  assert.match(await detail.innerText(), /Fetched\s+5/, 'the run shows its final numbers');
  assert.match(await page.getByTestId('run-window').innerText(), /covered 5 postings/);

  // The source's card now shows the span that run covered.
  await navigate(page, 'Sources');
  await card.getByTestId('source-window').filter({ hasText: '5 items per run' }).waitFor();

  // A backfill from the card is one run that shows its walk page by page; the feed's first
  // page lists nothing new now, so the walk stops there.
  await card.getByRole('button', { name: 'Backfill' }).click();
  await card.getByText('Backfill queued.').waitFor();
  await card.getByRole('link', { name: 'open the run' }).click();
  await page.locator('[data-testid="run-detail"][data-status="completed"]').waitFor({ timeout: IMPORT_TIMEOUT_MS });
  const walk = page.getByTestId('backfill-status').filter({ hasText: 'stopped' });
  await walk.waitFor();
  assert.match(await walk.innerText(), /1 of at most \d+ pages read; stopped: a page listed nothing new/);
  await navigate(page, 'Sources');

  // Remove it, keeping the jobs it brought: the dialog asks, and the request says so.
  await card.getByRole('button', { name: 'Remove' }).click();
  assert.equal(await card.getByRole('radio', { name: /Close them/ }).isChecked(), true, 'closing is the default');
  await card.getByRole('radio', { name: /Keep them open/ }).check();
  const removal = page.waitForRequest((r) => r.method() === 'DELETE' && new URL(r.url()).pathname.startsWith('/api/sources/'));
  await card.getByRole('button', { name: 'Confirm remove' }).click();
  assert.equal(new URL((await removal).url()).searchParams.get('jobs'), 'keep');
  await card.waitFor({ state: 'detached' });
  const after = await api('GET', '/api/sources');
  assert.ok(!after.items.some((s) => s.name === name), 'the source is gone on the server');
  assertNoProblems(problems);
});
