import type { ImportRun, InitialData, Page, RunDetail, Source } from '../api/types';

let seq = 0;

/** A completed run with sensible defaults; override what the test is about. */
export function makeRun(over: Partial<ImportRun> = {}): ImportRun {
  seq += 1;
  const id = over._id ?? `0193-run-${String(seq).padStart(4, '0')}`;
  return {
    _id: id,
    sourceId: 'jobicy-all',
    sourceName: 'Jobicy: all',
    fileName: 'https://jobicy.com/?feed=job_feed',
    trigger: 'schedule',
    status: 'completed',
    importDateTime: '2026-11-30T05:00:00.000Z',
    startedAt: '2026-11-30T05:00:00.100Z',
    finishedAt: '2026-11-30T05:00:01.300Z',
    totalFetched: 50,
    totalImported: 48,
    newJobs: 40,
    updatedJobs: 8,
    unchangedJobs: 0,
    duplicateJobs: 0,
    failedJobs: 2,
    closedJobs: 0,
    reopenedJobs: 0,
    failures: [],
    failuresByCode: [],
    error: null,
    batchesTotal: 1,
    batchesDone: 1,
    itemsDone: 50,
    durations: { fetchMs: 120, parseMs: 30, persistMs: 40 },
    version: 1,
    fetchedBy: 'host-1',
    updatedAt: '2026-11-30T05:00:01.300Z',
    fetchAttempts: 1,
    retryAt: null,
    resumes: 0,
    closedByReason: {},
    window: null,
    unconditional: false,
    replayOf: null,
    backfill: null,
    ...over,
  };
}

export function makePage(items: ImportRun[], over: Partial<Page<ImportRun>> = {}): Page<ImportRun> {
  return { items, total: items.length, page: 1, limit: 20, ...over };
}

export function makeSource(over: Partial<Source> = {}): Source {
  return {
    _id: 'jobicy-all',
    name: 'Jobicy: all',
    url: 'https://jobicy.com/?feed=job_feed',
    cron: '0 0 * * * *',
    enabled: true,
    format: 'auto',
    mapping: null,
    publisher: null,
    userAgent: null,
    maxBodyBytes: null,
    expiry: 'window',
    linkCheck: false,
    pageParam: null,
    lastWindow: null,
    health: {
      lastRunAt: null,
      lastSuccessAt: null,
      consecutiveFailures: 0,
      nextRunAt: null,
      lastError: null,
      lastRunId: null,
      lastStatus: null,
      backoffUntil: null,
    },
    running: false,
    ...over,
  };
}

/** An `initial_data` payload around a first page. */
export function makeInitial(logs: Page<ImportRun>, over: Partial<InitialData> = {}): InitialData {
  return { logs, sources: [], totals: null, serverTime: '2026-11-30T05:00:00.000Z', maintenance: null, ...over };
}

/** A run as `GET /api/import-logs/{id}` answers it. */
export function makeDetail(over: Partial<RunDetail> = {}): RunDetail {
  const run = makeRun(over);
  return {
    failuresTotal: run.failures.length,
    failuresPage: 1,
    failuresLimit: 50,
    failureGroups: run.failuresByCode.map((c) => ({ code: c.code, count: c.count, stored: 0, example: null })),
    ...run,
    ...over,
  };
}
