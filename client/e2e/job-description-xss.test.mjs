// Journey (d): a job description carrying script, event handlers and `javascript:` links is
// shown without running anything. The feed comes from this test's own server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertNoProblems,
  env,
  importAndSettle,
  journey,
  signInByFragment,
  uniqueName,
} from './helpers.mjs';

const marker = `xsscheck${Math.random().toString(36).slice(2, 8)}`;
// Every trick here would set window.__pwned or open a dialog if it ran.
const evil = [
  `<p>Build things at ${marker}.</p>`,
  '<script>window.__pwned = "script"; alert("script")</script>',
  '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" onerror="window.__pwned=\'onerror\'; alert(1)" onload="window.__pwned=\'onload\'">',
  '<svg><script>window.__pwned="svg"</script></svg>',
  '<svg onload="window.__pwned=\'svg-onload\'"></svg>',
  '<a href="javascript:window.__pwned=\'href\';alert(2)" id="evil-link">Apply here</a>',
  '<a href="JaVaScRiPt:alert(3)">Or here</a>',
  '<iframe src="javascript:alert(4)"></iframe>',
  '<div onmouseover="window.__pwned=\'hover\'" style="background:url(javascript:alert(5))">Hover me</div>',
  '<form action="javascript:alert(6)"><button>Send</button></form>',
  '<a href="https://example.com/apply">A real link</a>',
].join('');

const feed = `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Hostile feed</title>
  <link>https://example.com</link>
  <description>Descriptions that try to run code</description>
  <item>
    <title>Hostile ${marker} engineer</title>
    <link>https://example.com/jobs/${marker}</link>
    <guid>https://example.com/jobs/${marker}</guid>
    <pubDate>Mon, 03 Aug 2026 18:45:05 +0000</pubDate>
    <description><![CDATA[${evil}]]></description>
    <content:encoded><![CDATA[${evil}]]></content:encoded>
  </item>
</channel>
</rss>`;

const state = journey({
  files: { 'hostile.xml': feed },
  async setUp() {
    const source = await state.addSource(uniqueName('e2e hostile'), 'hostile.xml');
    const run = await importAndSettle(source._id);
    assert.equal(run.status, 'completed', `the hostile feed imports (${JSON.stringify(run.error)})`);
  },
});

test('a job description with script, handlers and javascript: links renders without running anything', async () => {
  const { page, problems } = state.browser;
  await signInByFragment(page, `/jobs?q=${marker}`);
  const item = page.getByTestId('job-item').filter({ hasText: marker });
  await item.waitFor();
  await item.click();

  const body = page.getByTestId('job-description');
  await body.waitFor();
  await page.getByTestId('job-detail').getByText(`Build things at ${marker}.`).waitFor();
  // Wait for the full document (GET /api/jobs/{id}) to have replaced the list row.
  await page.waitForLoadState('networkidle').catch(() => {});

  const found = await body.evaluate((el) => ({
    scripts: el.querySelectorAll('script, iframe, form, object, embed').length,
    handlers: [...el.querySelectorAll('*')].flatMap((n) => [...n.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${n.tagName}@${a.name}`)),
    badLinks: [...el.querySelectorAll('[href], [src], [action]')]
      .map((n) => n.getAttribute('href') ?? n.getAttribute('src') ?? n.getAttribute('action') ?? '')
      .filter((u) => /^\s*(javascript|data|vbscript):/i.test(u)),
    styles: el.querySelectorAll('[style]').length,
    goodLink: el.querySelector('a[href="https://example.com/apply"]')?.getAttribute('rel') ?? null,
  }));
  assert.equal(found.scripts, 0, 'no script, iframe or form survives');
  assert.deepEqual(found.handlers, [], 'no event handler attribute survives');
  assert.deepEqual(found.badLinks, [], 'no javascript: or data: URL survives');
  assert.equal(found.styles, 0, 'no inline style survives');
  assert.match(found.goodLink ?? '', /noopener/, 'real links open without an opener');

  // Touch what a user would: hover the bait and click the former javascript: link.
  await body.getByText('Hover me').hover();
  const link = body.getByText('Apply here');
  if ((await link.count()) > 0) await link.click();
  await page.waitForTimeout(300);

  assert.equal(await page.evaluate(() => globalThis.__pwned ?? null), null, 'nothing ran');
  assert.equal(new URL(page.url()).origin, env.baseUrl, 'still on the dashboard');
  const out = page.getByTestId('job-detail').getByRole('link', { name: /Open the original posting/ });
  assert.equal(await out.getAttribute('href'), `https://example.com/jobs/${marker}`, 'the link out is the posting URL');
  assertNoProblems(problems);
});
