// Journey: an admin presses "Send test" on a source card; the loopback webhook receiver gets one
// signed test message, and the card's alert history shows it sent.
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { assertNoProblems, journey, signInByFragment, uniqueName } from './helpers.mjs';

const port = Number(process.env.E2E_ALERT_PORT ?? 0);
const secret = process.env.E2E_ALERT_SECRET ?? '';

/** The webhook receiver of channel `e2e-hook`: keeps each request with its verdict. */
async function startReceiver() {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const header = String(req.headers['x-job-importer-signature'] ?? '');
      const t = /(?:^|,)t=(\d+)/.exec(header)?.[1] ?? '';
      const v1 = /(?:^|,)v1=([0-9a-f]+)/.exec(header)?.[1] ?? '';
      const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest();
      const given = Buffer.from(v1, 'hex');
      const valid = given.length === expected.length && timingSafeEqual(given, expected);
      const fresh = Math.abs(Date.now() / 1000 - Number(t)) < 120;
      received.push({ path: req.url, valid, fresh, body: JSON.parse(body.toString('utf8')) });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { received, close: () => new Promise((r) => server.close(() => r())) };
}

const state = journey();

test('Send test on a source card reaches the signed webhook and shows in the alert history', { skip: !port || !secret }, async () => {
  const receiver = await startReceiver();
  try {
    const { page, problems } = state.browser;
    const name = uniqueName('e2e alerts');
    const { _id: sourceId } = await state.addSource(name, 'jobicy_wpjm.xml');
    await signInByFragment(page, '/sources');

    const card = page.locator(`[data-testid="source-card"][data-source-id="${sourceId}"]`);
    const history = card.getByTestId('source-alerts');
    await history.getByText('none sent').waitFor();
    await history.getByRole('button', { name: 'Send test' }).click();
    await history.getByRole('status').getByText('Test queued').waitFor();

    // The daemon sends it from its outbox; the card refreshes while it is pending.
    await history.locator('[data-testid="alert-delivery"][data-status="sent"]').waitFor({ timeout: 30_000 });
    const line = await history.getByTestId('alert-delivery').innerText();
    assert.match(line, /test message to e2e-hook/);

    assert.equal(receiver.received.length, 1, JSON.stringify(receiver.received));
    const [got] = receiver.received;
    assert.equal(got.path, '/hook');
    assert.ok(got.valid, 'the signature verifies with the channel secret');
    assert.ok(got.fresh, 'the signature timestamp is current');
    assert.equal(got.body.transition, 'test');
    assert.equal(got.body.sourceId, sourceId);
    assertNoProblems(problems);
  } finally {
    await receiver.close();
  }
});
