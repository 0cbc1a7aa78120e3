import { describe, expect, it } from 'vitest';
import {
  normalizeAlertChannels,
  normalizeAlertDelivery,
  normalizeJob,
  normalizeMaintenance,
  normalizeQueueView,
  normalizeRun,
  normalizeRunPage,
  normalizeSource,
} from './normalize';

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

describe('expiry fields', () => {
  it('reads a source and a job from a daemon without them as window-expiring and never closed', () => {
    const source = normalizeSource({ _id: 's', name: 'S', url: 'https://x', cron: '0 0 * * * *', enabled: true });
    expect(source.expiry).toBe('window');
    expect(source.lastWindow).toBeNull();
    expect(source.linkCheck).toBe(false);
    const job = normalizeJob({ _id: 'j', title: 'Dev', status: 'open' });
    expect(job).toMatchObject({ validThrough: null, closedAt: null, closedReason: null, reopenedAt: null });
  });

  it('keeps known closing reasons and run windows, and drops what it does not know', () => {
    const run = normalizeRun({
      _id: 'r',
      closedByReason: { expired: 2, missing_from_feed: 0, bogus: 5 },
      window: { oldest: '2026-11-01T00:00:00Z', items: 10 },
    });
    expect(run.closedByReason).toEqual({ expired: 2 });
    expect(run.window).toEqual({ oldest: '2026-11-01T00:00:00Z', newest: null, items: 10, undated: 0 });
    expect(normalizeJob({ _id: 'j', closedReason: 'whatever' }).closedReason).toBeNull();
  });
});

describe('maintenance and the queue view', () => {
  it('read a partial answer as not paused, with empty queues and workers', () => {
    expect(normalizeMaintenance({ paused: true, reason: 'x' })).toEqual({
      paused: true,
      pausedAt: null,
      pausedBy: null,
      reason: 'x',
      resumedAt: null,
      resumedBy: null,
    });
    expect(normalizeMaintenance(null).paused).toBe(false);
    expect(normalizeQueueView({})).toEqual({ paused: false, queues: [], workers: [] });
    const v = normalizeQueueView({
      queues: [{ name: 'items', waiting: 3 }],
      workers: [{ daemon: 'd', queue: 'fetch', worker: 'w', holding: 1, tasks: [{ taskId: 't', runId: 'r', attempt: 2 }] }],
    });
    expect(v.queues[0]).toEqual({ name: 'items', waiting: 3, active: 0, delayed: 0, nextDueAt: null });
    expect(v.workers[0]?.tasks[0]).toEqual({ taskId: 't', runId: 'r', sourceId: null, batchNo: null, attempt: 2 });
  });
});

describe('alerts', () => {
  it('fills what a delivery lacks and drops values the client does not know', () => {
    const d = normalizeAlertDelivery({ _id: 'x', status: 'exploded', message: { event: 'nope', transition: 'opened', at: 't' } });
    expect(d).toMatchObject({ _id: 'x', status: 'pending', attempts: 0, nextAt: null, sentAt: null, lastError: null });
    expect(d.message).toEqual({ incidentId: '', sourceId: '', event: null, transition: 'opened', detail: '', runId: null, at: 't' });
  });

  it('never lets a test through when the daemon does not say the token may send one', () => {
    expect(normalizeAlertChannels({ channels: [{ id: 'a', kind: 'slack', target: 'h' }] })).toEqual({
      channels: [{ id: 'a', kind: 'slack', target: 'h', signed: false }],
      canSendTest: false,
    });
  });
});
