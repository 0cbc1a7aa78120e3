import type { SourceStats, StatsBucket } from '../../api/types';

/** `2026-11-30T04` (a UTC hour) → the instant it starts. */
export function hourStart(bucket: string): Date {
  return new Date(`${bucket}:00:00Z`);
}

/** Hour buckets labelled in the viewer's zone. */
export function hourLabel(bucket: string): string {
  const d = hourStart(bucket);
  if (Number.isNaN(d.getTime())) return bucket;
  return d.toLocaleString(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
}

/** Day buckets are UTC days; shown as that calendar date. */
export function dayLabel(bucket: string): string {
  const d = new Date(`${bucket}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return bucket;
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

export interface Totals {
  runs: number;
  failedRuns: number;
  newJobs: number;
  updatedJobs: number;
  failedJobs: number;
}

export function sum(buckets: readonly StatsBucket[]): Totals {
  return buckets.reduce(
    (t, b) => ({
      runs: t.runs + b.runs,
      failedRuns: t.failedRuns + b.failedRuns,
      newJobs: t.newJobs + b.newJobs,
      updatedJobs: t.updatedJobs + b.updatedJobs,
      failedJobs: t.failedJobs + b.failedJobs,
    }),
    { runs: 0, failedRuns: 0, newJobs: 0, updatedJobs: 0, failedJobs: 0 },
  );
}

/** Share of failed runs, or null when nothing ran. */
export function failureRate(t: Pick<Totals, 'runs' | 'failedRuns'>): number | null {
  return t.runs > 0 ? t.failedRuns / t.runs : null;
}

export function formatRate(r: number | null): string {
  return r === null ? '—' : `${(r * 100).toFixed(r > 0 && r < 0.1 ? 1 : 0)}%`;
}

/** One row per source over the daily window, busiest first. */
export function perSource(bySource: readonly SourceStats[]): (Totals & { name: string; id: string })[] {
  return bySource
    .map((s) => ({ id: s.sourceId, name: s.sourceName || s.sourceId, ...sum(s.daily) }))
    .sort((a, b) => b.newJobs + b.updatedJobs + b.failedJobs - (a.newJobs + a.updatedJobs + a.failedJobs) || a.name.localeCompare(b.name));
}
