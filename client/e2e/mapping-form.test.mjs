// Journey (d): a JSON API that no built-in mapping knows is read through a custom mapping
// written in the source form. "Test" previews it under the source's limits and writes
// nothing; a wrong path shows as 0% coverage, and fixing it in the editor refreshes the
// preview from the body fetched a moment ago. The saved source then imports the mapped jobs.
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
  waitForRunToSettle,
} from './helpers.mjs';

const FEED = 'custom-board-api.json';
/** The fixture's jobs, as the mapping below reads them. */
const JOBS = [
  { externalId: 'cb-101', title: 'Rust Platform Engineer', company: 'Northwind Tooling', locations: ['Berlin', 'Remote'], datePosted: '2026-11-30T09:00:00' },
  { externalId: 'cb-102', title: 'Site Reliability Engineer', company: 'Fabrikam Logistics', locations: ['Lisbon'], datePosted: '2026-12-01T14:30:00' },
  { externalId: 'cb-103', title: 'Frontend Developer (React)', company: 'Contoso Media', locations: ['Remote'], datePosted: '2026-12-02T08:15:00' },
];

/** The board's own field names; `company` first read from a field its items do not have. */
function mapping(companyPath) {
  return {
    items: 'data.jobs',
    fields: {
      externalId: 'ref',
      title: 'position',
      company: companyPath,
      locations: { path: 'where', transforms: [{ split: ';' }] },
      url: 'link',
      datePosted: { path: 'posted_epoch', transforms: [{ date: 'epoch_seconds' }] },
      description: 'summary',
    },
  };
}

/** What the preview is meant to leave untouched: sources, runs of this feed, these jobs. */
async function storedTraces(name, feedUrl) {
  const sources = await api('GET', '/api/sources');
  const runs = await api('GET', '/api/import-logs?limit=100');
  const jobs = await api('GET', `/api/jobs?q=${encodeURIComponent(JOBS[0].title)}&limit=1`);
  return {
    sources: sources.items.filter((s) => s.name === name || s.url === feedUrl).length,
    runs: runs.items.filter((r) => r.fileName === feedUrl).length,
    jobs: jobs.total,
  };
}

const state = journey();

test('a custom mapping written in the source form is previewed, fixed with the preview refreshing, saved and imported', async () => {
  const { page, problems, allowHttpError } = state.browser;
  // The first test runs under a size cap the feed (1.2 KB) exceeds: the daemon answers 502 on
  // purpose.
  allowHttpError((url) => new URL(url).pathname === '/api/preview');
  await signInByFragment(page, '/');
  await navigate(page, 'Sources');

  const name = uniqueName('e2e mapping');
  const publisher = `e2e-mapping-${Math.random().toString(36).slice(2, 10)}`;
  const userAgent = `JobImporterJourney/1.0 (${publisher})`;
  const feedUrl = state.feeds.url(FEED);
  const form = page.getByRole('form', { name: 'Add a source' });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Feed URL').fill(feedUrl);
  await form.getByLabel(/Schedule/).fill('0 15 * * * *');
  await form.getByLabel(/User-Agent/).fill(userAgent);
  await form.getByLabel(/Publisher/).fill(publisher);
  await form.getByLabel(/Size cap/).fill('1024');
  await form.getByLabel('Format', { exact: true }).selectOption('custom');
  const editor = form.getByLabel('Mapping (JSON)');
  await editor.fill(JSON.stringify(mapping('employer_name'), null, 2));
  // Disabled, so the scheduler leaves it to this test.
  await form.getByLabel(/Enabled/).uncheck();

  const before = await storedTraces(name, feedUrl);
  const preview = form.getByTestId('mapping-preview');
  const testButton = preview.getByRole('button', { name: 'Test', exact: true });

  // Under the smallest cap a source may have the fetch fails as a run's would, and the preview
  // says why.
  await testButton.click();
  const fetchError = preview.getByTestId('preview-error');
  await fetchError.waitFor();
  assert.match(await fetchError.innerText(), /cap of 1024 bytes/, 'the preview names the size cap');

  // A cap the feed fits under: the preview refreshes by itself and shows what a run would store.
  await form.getByLabel(/Size cap/).fill('65536');
  const result = preview.getByTestId('preview-result');
  await result.waitFor();
  assert.equal(await fetchError.count(), 0, 'the fetch error is gone once the feed fits the cap');
  const summary = preview.getByTestId('preview-summary');
  assert.match(await summary.innerText(), /^3 items \(json_api\), 0 failed/);
  const jobs = preview.getByTestId('preview-jobs').getByRole('listitem');
  assert.equal(await jobs.count(), JOBS.length, 'every job shows in the preview');
  const firstJob = await jobs.first().innerText();
  assert.ok(firstJob.startsWith(JOBS[0].title), firstJob);
  assert.ok(!firstJob.includes(JOBS[0].company), 'no company is read from a path that leads nowhere');
  const coverage = (field) => preview.getByTestId('preview-coverage').locator(`tr[data-field="${field}"]`);
  assert.equal(await coverage('company').getAttribute('data-count'), '0');
  assert.equal((await coverage('company').getByRole('cell').innerText()).trim(), '0%', 'the wrong path shows as 0%');
  assert.equal((await coverage('title').getByRole('cell').innerText()).trim(), '100%');
  assert.equal((await coverage('datePosted').getByRole('cell').innerText()).trim(), '100%');

  // Fix the path in the editor: the preview refreshes without another click, from the body
  // fetched a moment ago.
  await editor.fill(JSON.stringify(mapping('employer'), null, 2));
  await coverage('company').and(page.locator(`[data-count="${JOBS.length}"]`)).waitFor();
  assert.equal((await coverage('company').getByRole('cell').innerText()).trim(), '100%');
  for (const [i, job] of JOBS.entries()) {
    assert.match(await jobs.nth(i).innerText(), new RegExp(`^${escape(job.title)} · ${escape(job.company)} · ${escape(job.locations.join(', '))}$`));
  }
  const refreshed = await summary.innerText();
  assert.match(refreshed, /a run would add 3, update 0, leave 0 unchanged/, 'all new against what is stored');
  assert.match(refreshed, /body fetched less than a minute ago/, 'the refresh reused the fetched body');
  const fetches = state.feeds.requests.filter((r) => r.name === FEED);
  // One fetch under each cap (the body cache is keyed by URL, User-Agent and cap); none for the edit.
  assert.equal(fetches.length, 2, `the feed was fetched ${fetches.length} times`);
  assert.ok(fetches.every((r) => r.userAgent === userAgent), `the preview fetched with the form's User-Agent: ${fetches.map((r) => r.userAgent).join(', ')}`);

  // The preview wrote nothing: no source, no run of this feed, no job.
  assert.deepEqual(await storedTraces(name, feedUrl), before, 'the preview left the store as it was');
  assert.deepEqual([before.sources, before.runs], [0, 0]);

  await form.getByRole('button', { name: 'Add source' }).click();
  const card = page.getByTestId('source-card').filter({ hasText: name });
  await card.waitFor();
  const sourceId = await card.getAttribute('data-source-id');
  state.sourceIds.push(sourceId);
  // The form empties for the next source, its preview with it.
  await result.waitFor({ state: 'detached' });
  assert.equal(await form.getByLabel('Feed URL').inputValue(), '');
  const saved = await api('GET', `/api/sources/${encodeURIComponent(sourceId)}`);
  assert.equal(saved.format, 'custom');
  // Stored in its canonical form: a path is a list of paths.
  assert.deepEqual(saved.mapping.fields.company, { paths: ['employer'] }, 'the fixed mapping was saved');
  assert.equal(saved.publisher, publisher);
  assert.equal(saved.userAgent, userAgent);
  assert.equal(saved.maxBodyBytes, 65536);
  assert.equal(saved.cron, '0 15 * * * *');
  assert.equal(saved.enabled, false);

  // Import it from its card and follow the run to its end.
  await card.getByRole('button', { name: 'Import now' }).click();
  await card.getByRole('link', { name: 'open the run' }).click();
  await page.waitForURL('**/runs/*');
  const runId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  const detail = page.locator('[data-testid="run-detail"][data-status="completed"]').filter({ hasText: runId });
  await detail.waitFor({ timeout: IMPORT_TIMEOUT_MS });
  const numbers = await detail.innerText();
  assert.match(numbers, /Fetched\s+3\b/);
  assert.match(numbers, /New\s+3\b/);
  assert.match(numbers, /Updated\s+0\b/);
  assert.match(numbers, /Failed\s+0\b/);
  const run = await waitForRunToSettle(runId);
  assert.equal(run.sourceId, sourceId);
  assert.deepEqual(
    [run.status, run.totalFetched, run.newJobs, run.updatedJobs, run.unchangedJobs, run.failedJobs],
    ['completed', 3, 3, 0, 0, 0],
  );

  // The jobs page shows the jobs as the mapping read them.
  await navigate(page, 'Jobs');
  await page.getByLabel('Source').selectOption(sourceId);
  await page.waitForURL((url) => url.searchParams.get('source') === sourceId);
  await page.getByRole('status').filter({ hasText: /^3 jobs$/ }).waitFor();
  for (const job of JOBS) {
    await page.getByTestId('job-item').filter({ hasText: job.title }).filter({ hasText: job.company }).waitFor();
  }
  assert.equal(await page.getByTestId('job-item').count(), JOBS.length);
  const stored = await api('GET', `/api/jobs?source=${encodeURIComponent(sourceId)}&limit=20`);
  const byId = Object.fromEntries(stored.items.map((j) => [j.externalId, j]));
  for (const job of JOBS) {
    const got = byId[job.externalId];
    assert.ok(got, `job ${job.externalId} is stored`);
    assert.equal(got.publisher, publisher);
    assert.equal(got.title, job.title);
    assert.equal(got.company, job.company);
    assert.deepEqual(got.locations, job.locations);
    assert.equal(got.url, `https://board.example/jobs/${job.externalId}`);
    assert.equal(Date.parse(got.datePosted), Date.parse(`${job.datePosted}Z`));
  }
  assertNoProblems(problems);
});

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
