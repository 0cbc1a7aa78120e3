import { describe, expect, it } from 'vitest';
import { normalizeRun, normalizeRunPage } from './normalize';

describe('normalizeRun', () => {
  it('fills counters, durations and lists a partial document lacks', () => {
    const run = normalizeRun({ _id: 'a', sourceId: 's', status: 'queued', importDateTime: '2026-11-30T05:00:00Z', version: 1 });
    expect(run).toMatchObject({
      sourceName: 's',
      totalFetched: 0,
      failures: [],
      failuresByCode: [],
      error: null,
      batchesTotal: null,
      durations: { fetchMs: null, parseMs: null, persistMs: null },
    });
  });

  it('keeps a full document as it is', () => {
    const full = normalizeRun({ _id: 'b', durations: { fetchMs: 5, parseMs: null, persistMs: 7 }, failuresByCode: [{ code: 'item.x', count: 2 }], batchesTotal: 3 });
    expect(full.durations).toEqual({ fetchMs: 5, parseMs: null, persistMs: 7 });
    expect(full.failuresByCode).toEqual([{ code: 'item.x', count: 2 }]);
    expect(full.batchesTotal).toBe(3);
  });

  it('reads failuresByCode as the array of {code, count} the daemon sends', () => {
    const run = normalizeRun({ _id: 'd', failuresByCode: [{ code: 'item.missing_title', count: 3 }, { nope: 1 }] });
    expect(run.failuresByCode).toEqual([{ code: 'item.missing_title', count: 3 }]);
  });

  it('reads a page whose items are runs', () => {
    expect(normalizeRunPage({ items: [{ _id: 'c' }], total: 9, page: 2, limit: 1 })).toMatchObject({ total: 9, page: 2, limit: 1 });
  });
});
