// Shared plumbing for the browser journeys: environment, a fixture feed server, a Chromium page
// that records every dialog, console error and page error, and a small REST helper.
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const env = {
  baseUrl: (process.env.E2E_BASE_URL ?? '').replace(/\/+$/, ''),
  token: process.env.E2E_TOKEN ?? '',
  fixturesDir: process.env.E2E_FIXTURES_DIR ?? '',
  artifactsDir: resolve(clientDir, process.env.E2E_ARTIFACTS_DIR ?? '../artifacts'),
  chromium: process.env.E2E_CHROMIUM ?? '/usr/bin/chromium',
};
if (!env.baseUrl || !env.token || !env.fixturesDir) {
  throw new Error('E2E_BASE_URL, E2E_TOKEN and E2E_FIXTURES_DIR must be set (run through `npm run test:e2e`).');
}

/** How long a live import may take to show up and settle in the table. */
export const IMPORT_TIMEOUT_MS = Number(process.env.E2E_IMPORT_TIMEOUT_MS ?? 60_000);

export function uniqueName(prefix) {
  return `${prefix} ${new Date().toISOString().slice(11, 19)} ${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Serves the fixture feeds on 127.0.0.1, port 0, plus `extra` feeds given as strings by name
 * (`{'evil.xml': '<rss…'}`). Unknown files answer 404. `requests` lists every request it got
 * (`{name, userAgent}`), so a journey can tell how often, and how, a feed was fetched.
 */
export async function startFixtureServer(extra = {}) {
  const root = resolve(env.fixturesDir);
  const requests = [];
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = join(root, path);
    const name = path.replace(/^\/+/, '');
    requests.push({ name, userAgent: req.headers['user-agent'] ?? '' });
    let body = Object.hasOwn(extra, name) ? Buffer.from(extra[name], 'utf8') : null;
    if (!body) try {
      if (file.startsWith(root) && statSync(file).isFile()) body = readFileSync(file);
    } catch {
      body = null;
    }
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    const type = file.endsWith('.json') ? 'application/json' : 'application/rss+xml; charset=utf-8';
    res.writeHead(200, { 'content-type': type, 'content-length': body.length });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Calls the daemon's REST API as the admin; rejects with the server's error message. */
export async function api(method, path, body) {
  const res = await fetch(`${env.baseUrl}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${env.token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const err = new Error(`${method} ${path} → ${res.status}: ${json?.error?.message ?? text}`);
    err.status = res.status;
    err.body = json;
    throw err;
  }
  return json;
}

export async function createSource(name, url, extra = {}) {
  return api('POST', '/api/sources', { name, url, enabled: false, ...extra });
}

/**
 * The set-up every journey shares, registered as `before`/`after` hooks of the calling file: a
 * fixture feed server (with `files` served besides the fixtures), a Chromium page unless
 * `browser: false`, and the sources created through `addSource`, deleted afterwards. `setUp`
 * runs once all that is ready, with the state, before the first test.
 */
export function journey({ files = {}, browser = true, setUp } = {}) {
  const state = {
    feeds: undefined,
    browser: undefined,
    sourceIds: [],
    /** Creates a source reading fixture `file` and remembers it for clean-up. */
    async addSource(name, file, extra = {}) {
      const source = await createSource(name, state.feeds.url(file), extra);
      state.sourceIds.push(source._id);
      return source;
    },
  };
  before(async () => {
    state.feeds = await startFixtureServer(files);
    if (browser) state.browser = await openBrowser();
    await setUp?.(state);
  });
  after(async () => {
    for (const id of state.sourceIds) await deleteSourceQuietly(id);
    await state.browser?.close();
    await state.feeds?.close();
  });
  return state;
}

export async function deleteSourceQuietly(id) {
  if (!id) return;
  try {
    await api('DELETE', `/api/sources/${encodeURIComponent(id)}`);
  } catch {
    /* already gone */
  }
}

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Opens Chromium with a fresh profile. Every dialog, page error and console error is recorded;
 * `allowHttpError(pred)` whitelists the console line Chromium writes for an HTTP error response
 * the test provokes on purpose (e.g. a 400 from a bad form submit).
 */
export async function openBrowser({ colorScheme = 'light', viewport = { width: 1280, height: 860 } } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'job-importer-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: env.chromium,
    headless: true,
    args: LAUNCH_ARGS,
    colorScheme,
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  const allowed = [];
  const allowedText = [];
  page.on('dialog', (d) => {
    problems.push(`dialog (${d.type()}): ${d.message()}`);
    void d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location()?.url ?? '';
    if (msg.text().startsWith('Failed to load resource') && allowed.some((pred) => pred(url))) return;
    if (allowedText.some((re) => re.test(msg.text()))) return;
    problems.push(`console error: ${msg.text()} ${url ? `(${url})` : ''}`.trim());
  });
  return {
    context,
    page,
    problems,
    allowHttpError: (pred) => allowed.push(pred),
    /** Tolerates console errors matching `re` (e.g. Chromium's line for a refused WebSocket). */
    allowConsoleError: (re) => allowedText.push(re),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens the app the way the daemon's start-up URL does: with the token in the fragment. */
export async function signInByFragment(page, path = '/') {
  await page.goto(`${env.baseUrl}${path}#token=${encodeURIComponent(env.token)}`);
  await page.getByTestId('connection-status').and(page.locator('[data-state="live"]')).waitFor({ timeout: 20_000 });
}

export function assertNoProblems(problems) {
  assert.deepEqual(problems, [], `dialogs or console errors during the journey:\n${problems.join('\n')}`);
}

/** Navigates inside the single-page app by clicking the main menu (never a reload). */
export async function navigate(page, label) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
}

export function screenshotPath(name) {
  const dir = join(env.artifactsDir, 'screenshots');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.png`);
}

/** Marks the window; `assertSameDocument` later proves no reload happened in between. */
export async function markDocument(page) {
  await page.evaluate(() => {
    globalThis.__e2eNoReload = "still-here";
  });
}

export async function assertSameDocument(page) {
  const mark = await page.evaluate(() => globalThis.__e2eNoReload);
  assert.equal(mark, 'still-here', 'the page was reloaded');
}

/** Polls the API until the run has settled (any status but queued/running); returns it. */
export async function waitForRunToSettle(runId, timeoutMs = IMPORT_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await api('GET', `/api/import-logs/${encodeURIComponent(runId)}`);
    if (run.status !== 'queued' && run.status !== 'running') return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${run.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts an import of the source over the API and waits for it to settle. */
export async function importAndSettle(sourceId) {
  const { run } = await api('POST', `/api/sources/${encodeURIComponent(sourceId)}/import`);
  return waitForRunToSettle(run._id);
}

export const liveStatus = (page) => page.getByTestId('connection-status').and(page.locator('[data-state="live"]'));
