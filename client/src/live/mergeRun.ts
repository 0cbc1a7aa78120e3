/**
 * Pure rules for folding a live `ImportRun` into what the UI holds. Kept free of React and the
 * query cache so the ordering rules (version wins, newest on top) are unit-tested on their own.
 */
import type { ImportRun, Page, RunListParams } from '../api/types';

/** Newest first, the order the server lists runs in: importDateTime, then the time-ordered id. */
export function compareNewestFirst(a: ImportRun, b: ImportRun): number {
  const ta = Date.parse(a.importDateTime);
  const tb = Date.parse(b.importDateTime);
  if (ta !== tb) return tb - ta;
  return a._id < b._id ? 1 : a._id > b._id ? -1 : 0;
}

export function matchesFilters(run: ImportRun, p: Pick<RunListParams, 'source' | 'status' | 'failureCode' | 'errorText'>): boolean {
  if (p.source && run.sourceId !== p.source) return false;
  if (p.status && run.status !== p.status) return false;
  if (p.failureCode) {
    const c = p.failureCode;
    const has = run.error?.code === c || run.failuresByCode.some((x) => x.code === c) || run.failures.some((f) => f.code === c);
    if (!has) return false;
  }
  if (p.errorText) {
    // As the server matches it: literally, ignoring case.
    const t = p.errorText.toLowerCase();
    const has = run.error?.message.toLowerCase().includes(t) === true || run.failures.some((f) => f.message.toLowerCase().includes(t));
    if (!has) return false;
  }
  return true;
}

/** Keeps the held copy when the incoming one is older (lower `version`). */
export function newerOf(held: ImportRun | undefined, incoming: ImportRun): ImportRun {
  if (held && held.version > incoming.version) return held;
  return incoming;
}

/**
 * Applies one run to one cached page. Returns the same object when nothing changes so React
 * Query does not re-render subscribers needlessly.
 *  - a row already on the page is replaced unless the update is stale;
 *  - a run not on the page is inserted at the top of page 1 when it matches the page's filters
 *    and is newer than the current first row (or the page is empty); the page keeps `limit` rows.
 */
export function applyRunToPage(page: Page<ImportRun>, run: ImportRun, params: RunListParams): Page<ImportRun> {
  const idx = page.items.findIndex((r) => r._id === run._id);
  if (idx >= 0) {
    const held = page.items[idx];
    if (!held || held.version >= run.version) return page;
    const items = page.items.slice();
    items[idx] = run;
    return { ...page, items };
  }
  if (params.page !== 1 || !matchesFilters(run, params)) return page;
  const first = page.items[0];
  if (first && compareNewestFirst(run, first) > 0) return page;
  const items = [run, ...page.items].slice(0, params.limit);
  return { ...page, items, total: page.total + 1 };
}

/**
 * Re-applies runs seen live to a page fetched over REST. A REST answer can be older than the
 * WebSocket updates that arrived while it was in flight; this makes the newest version win.
 */
export function reconcilePage(
  page: Page<ImportRun>,
  seen: Iterable<ImportRun>,
  params: RunListParams,
): Page<ImportRun> {
  // Oldest first so that inserts at the top end up in newest-first order.
  const runs = [...seen].sort((a, b) => compareNewestFirst(b, a));
  return runs.reduce((acc, run) => applyRunToPage(acc, run, params), page);
}
