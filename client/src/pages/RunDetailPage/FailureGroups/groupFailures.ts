import type { ImportRun, RunFailure } from '../../../api/types';

export interface FailureGroup {
  code: string;
  count: number;
  items: RunFailure[];
}

/** Counts come from `failuresByCode` (complete); items from `failures` (the first 1000 only). */
export function groupFailures(run: Pick<ImportRun, 'failures' | 'failuresByCode'>): FailureGroup[] {
  const byCode = new Map<string, FailureGroup>();
  for (const [code, count] of Object.entries(run.failuresByCode)) byCode.set(code, { code, count, items: [] });
  for (const f of run.failures) {
    let g = byCode.get(f.code);
    if (!g) {
      g = { code: f.code, count: 0, items: [] };
      byCode.set(f.code, g);
    }
    g.items.push(f);
  }
  for (const g of byCode.values()) g.count = Math.max(g.count, g.items.length);
  return [...byCode.values()].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
}

