/**
 * Fills defaults for fields an ImportRun may lack (an older daemon, a run still being created),
 * so one missing field never blanks a page. Applied wherever runs enter the app: REST and socket.
 */
import type { ImportRun, Page } from './types';

type Loose = Partial<Record<keyof ImportRun, unknown>>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const str = (...vs: unknown[]): string => vs.find((v): v is string => typeof v === 'string') ?? '';
const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});

export function normalizeRun(raw: unknown): ImportRun {
  const r = obj(raw) as Loose;
  const durations = obj(r.durations);
  const counts = obj(r.failuresByCode);
  return {
    ...(r as ImportRun),
    _id: str(r._id),
    sourceId: str(r.sourceId),
    sourceName: str(r.sourceName, r.sourceId),
    fileName: str(r.fileName),
    importDateTime: str(r.importDateTime, r.startedAt, new Date(0).toISOString()),
    startedAt: strOrNull(r.startedAt),
    finishedAt: strOrNull(r.finishedAt),
    totalFetched: num(r.totalFetched),
    totalImported: num(r.totalImported),
    newJobs: num(r.newJobs),
    updatedJobs: num(r.updatedJobs),
    unchangedJobs: num(r.unchangedJobs),
    duplicateJobs: num(r.duplicateJobs),
    failedJobs: num(r.failedJobs),
    closedJobs: num(r.closedJobs),
    reopenedJobs: num(r.reopenedJobs),
    failures: Array.isArray(r.failures) ? (r.failures as ImportRun['failures']) : [],
    failuresByCode: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, num(v)])),
    error: r.error && typeof r.error === 'object' ? (r.error as ImportRun['error']) : null,
    batchesTotal: numOrNull(r.batchesTotal),
    batchesDone: num(r.batchesDone),
    itemsDone: num(r.itemsDone),
    durations: {
      fetchMs: numOrNull(durations.fetchMs),
      parseMs: numOrNull(durations.parseMs),
      persistMs: numOrNull(durations.persistMs),
    },
    version: num(r.version),
    fetchedBy: strOrNull(r.fetchedBy),
  };
}

export function normalizeRunPage(raw: unknown): Page<ImportRun> {
  const p = obj(raw);
  const items = Array.isArray(p.items) ? p.items.map(normalizeRun) : [];
  return { items, total: num(p.total) || items.length, page: num(p.page) || 1, limit: num(p.limit) || items.length };
}
