import { describe, expect, it } from 'vitest';
import { makePage, makeRun } from '../test/factories';
import { applyRunToPage, reconcilePage } from './mergeRun';

const FIRST = { page: 1, limit: 20 };

describe('applyRunToPage', () => {
  it('replaces a row when the update has a higher version', () => {
    const held = makeRun({ _id: 'a', version: 3, status: 'running' });
    const page = makePage([held]);
    const next = applyRunToPage(page, { ...held, version: 4, status: 'completed' }, FIRST);
    expect(next.items[0]?.status).toBe('completed');
  });

  it('ignores an update whose version is lower than the one held', () => {
    const held = makeRun({ _id: 'a', version: 5, status: 'completed' });
    const page = makePage([held]);
    expect(applyRunToPage(page, { ...held, version: 4, status: 'running' }, FIRST)).toBe(page);
  });

  it('inserts a new run at the top of page 1 when it is newer than the first row', () => {
    const old = makeRun({ _id: 'a', importDateTime: '2026-11-30T05:00:00Z' });
    const fresh = makeRun({ _id: 'b', importDateTime: '2026-11-30T06:00:00Z', status: 'queued' });
    const next = applyRunToPage(makePage([old], { total: 1 }), fresh, FIRST);
    expect(next.items.map((r) => r._id)).toEqual(['b', 'a']);
    expect(next.total).toBe(2);
  });

  it('does not insert a run older than the first row, on later pages, or outside the filters', () => {
    const first = makeRun({ _id: 'a', importDateTime: '2026-11-30T06:00:00Z' });
    const older = makeRun({ _id: 'b', importDateTime: '2026-11-30T05:00:00Z' });
    const page = makePage([first]);
    expect(applyRunToPage(page, older, FIRST)).toBe(page);

    const newer = makeRun({ _id: 'c', importDateTime: '2026-11-30T07:00:00Z', sourceId: 'other' });
    expect(applyRunToPage(page, newer, { page: 2, limit: 20 })).toBe(page);
    expect(applyRunToPage(page, newer, { ...FIRST, source: 'jobicy-all' })).toBe(page);
    expect(applyRunToPage(page, newer, { ...FIRST, status: 'failed' })).toBe(page);
  });

  it('keeps the page at its limit when inserting', () => {
    const rows = [1, 2].map((i) => makeRun({ _id: `r${i}`, importDateTime: `2026-11-30T0${i}:00:00Z` })).reverse();
    const next = applyRunToPage(makePage(rows, { limit: 2, total: 9 }), makeRun({ _id: 'n', importDateTime: '2026-11-30T09:00:00Z' }), {
      page: 1,
      limit: 2,
    });
    expect(next.items.map((r) => r._id)).toEqual(['n', 'r2']);
    expect(next.total).toBe(10);
  });
});

describe('reconcilePage', () => {
  it('lets runs seen live win over an older REST answer and inserts them newest first', () => {
    const rest = makePage([makeRun({ _id: 'a', version: 2, status: 'running', importDateTime: '2026-11-30T05:00:00Z' })]);
    const seen = [
      makeRun({ _id: 'a', version: 3, status: 'completed', importDateTime: '2026-11-30T05:00:00Z' }),
      makeRun({ _id: 'c', importDateTime: '2026-11-30T07:00:00Z' }),
      makeRun({ _id: 'b', importDateTime: '2026-11-30T06:00:00Z' }),
    ];
    const next = reconcilePage(rest, seen, FIRST);
    expect(next.items.map((r) => [r._id, r.status])).toEqual([
      ['c', 'completed'],
      ['b', 'completed'],
      ['a', 'completed'],
    ]);
  });
});
