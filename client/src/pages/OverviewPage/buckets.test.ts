import { describe, expect, it } from 'vitest';
import { dayLabel, failureRate, formatRate, hourStart, perSource, sum } from './buckets';

const b = (bucket: string, over = {}) => ({ bucket, runs: 2, failedRuns: 1, newJobs: 5, updatedJobs: 1, failedJobs: 0, ...over });

describe('stats buckets', () => {
  it('reads UTC hour and day buckets', () => {
    expect(hourStart('2026-11-30T04').toISOString()).toBe('2026-11-30T04:00:00.000Z');
    expect(dayLabel('2026-11-30')).toMatch(/30/);
  });

  it('sums buckets, computes the failure rate and ranks sources', () => {
    const t = sum([b('a'), b('b', { runs: 2, failedRuns: 0 })]);
    expect(t).toEqual({ runs: 4, failedRuns: 1, newJobs: 10, updatedJobs: 2, failedJobs: 0 });
    expect(formatRate(failureRate(t))).toBe('25%');
    expect(formatRate(failureRate({ runs: 0, failedRuns: 0 }))).toBe('—');
    const ranked = perSource([
      { sourceId: 'q', sourceName: 'Quiet', hourly: [], daily: [b('d', { newJobs: 0, updatedJobs: 0 })] },
      { sourceId: 'b', sourceName: 'Busy', hourly: [], daily: [b('d', { newJobs: 50 })] },
    ]);
    expect(ranked.map((r) => r.name)).toEqual(['Busy', 'Quiet']);
  });
});
