// Entry point of `npm run test:e2e`: refuses to run without a daemon to test, then hands the
// browser journeys to node's test runner.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

if (!process.env.E2E_BASE_URL) {
  console.error(
    [
      'test:e2e: E2E_BASE_URL is not set.',
      'These browser tests run against a real daemon. Start it (the project Makefile does) and set:',
      '  E2E_BASE_URL      daemon URL, e.g. http://127.0.0.1:38123',
      '  E2E_TOKEN         admin token',
      '  E2E_FIXTURES_DIR  absolute path of tests/fixtures/feeds',
      '  E2E_ARTIFACTS_DIR optional, default ../artifacts (screenshots go to <dir>/screenshots)',
    ].join('\n'),
  );
  process.exit(2);
}
for (const name of ['E2E_TOKEN', 'E2E_FIXTURES_DIR']) {
  if (!process.env[name]) {
    console.error(`test:e2e: ${name} is not set (needed with E2E_BASE_URL).`);
    process.exit(2);
  }
}

// E2E_ONLY=reconnect,screenshots runs the files whose names contain one of the words.
const only = (process.env.E2E_ONLY ?? '').split(',').filter(Boolean);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.mjs'))
  .filter((f) => only.length === 0 || only.some((w) => f.includes(w)))
  .sort()
  .map((f) => join(here, f));
// One browser at a time: the machine has 2 cores and the journeys share one daemon.
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);
