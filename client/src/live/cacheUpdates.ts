/**
 * How what arrives on the WebSocket lands in the query cache: one live run, a snapshot
 * (`initial_data`), a catch-up (`sync_result`). Kept apart from the hook so each rule is tested
 * without a socket.
 */
import type { QueryClient } from '@tanstack/react-query';
import { LIVE_FIRST_PAGE, queryKeys, type RunListKey } from '../api/queryKeys';
import type { ImportRun, InitialData, Page, RunDetail, RunListParams, RunSort, RunStatus, Source } from '../api/types';
import { applyRunToPage } from './mergeRun';
import type { RunLedger } from './RunLedger';

/** A list page the live rules can keep exact: newest first, no date window. */
function liveParamsOfKey(key: readonly unknown[]): RunListParams | null {
  const p = key[3] as
    | { page?: number; limit?: number; source?: string | null; status?: RunStatus | null; from?: string | null; to?: string | null; sort?: RunSort }
    | undefined;
  if (!p || typeof p.page !== 'number' || typeof p.limit !== 'number') return null;
  if (p.from || p.to || (p.sort && p.sort !== 'date')) return null;
  return { page: p.page, limit: p.limit, source: p.source ?? undefined, status: p.status ?? undefined };
}

/**
 * The run detail holds a server-paginated page of failures and the groups; a live run carries
 * neither, so only the run's own fields are taken from it.
 */
export function mergeDetail(held: RunDetail, run: ImportRun): RunDetail {
  if (held.version >= run.version) return held;
  return {
    ...held,
    ...run,
    failures: held.failures,
    failuresTotal: held.failuresTotal,
    failuresPage: held.failuresPage,
    failuresLimit: held.failuresLimit,
    failureGroups: held.failureGroups,
  };
}

const ACTIVE = new Set<RunStatus>(['queued', 'running']);

/** Folds one live run into every cached list page and every cached view of the run. */
export function applyLiveRun(qc: QueryClient, ledger: RunLedger, incoming: ImportRun): void {
  const previous = ledger.get(incoming._id);
  const run = ledger.record(incoming);
  if (previous && previous.version >= incoming.version) return;

  for (const [key, page] of qc.getQueriesData<Page<ImportRun>>({ queryKey: queryKeys.runs.lists() })) {
    if (!page) continue;
    const params = liveParamsOfKey(key);
    if (!params) {
      // A date window or another order: patch the row if shown, the refetch places new ones.
      const next = page.items.some((r) => r._id === run._id && r.version < run.version)
        ? { ...page, items: page.items.map((r) => (r._id === run._id ? run : r)) }
        : page;
      if (next !== page) qc.setQueryData(key, next);
      continue;
    }
    const next = applyRunToPage(page, run, params);
    if (next !== page) qc.setQueryData(key, next);
  }

  let failuresMoved = false;
  for (const [key, held] of qc.getQueriesData<RunDetail>({ queryKey: queryKeys.runs.detailAll(run._id) })) {
    if (!held) continue;
    if (held.failedJobs !== run.failedJobs || held.status !== run.status) failuresMoved = true;
    qc.setQueryData(key, mergeDetail(held, run));
  }
  // The stored failures and their groups only come over REST: refetch them quietly.
  if (failuresMoved && !ACTIVE.has(run.status)) void qc.invalidateQueries({ queryKey: queryKeys.runs.detailAll(run._id) });

  // A run that starts or settles changes its source's `running` flag and health, and the stats.
  if (!previous || previous.status !== run.status) {
    void qc.invalidateQueries({ queryKey: queryKeys.sources.all() });
    if (!ACTIVE.has(run.status)) void qc.invalidateQueries({ queryKey: queryKeys.statsAll() });
  }
}

/** The versions of every run this tab shows, for `sync {runs}` (at most `max`). */
export function heldVersions(qc: QueryClient, ledger: RunLedger, max = 1000): Record<string, number> {
  const out = new Map<string, number>();
  const note = (r: ImportRun) => {
    const v = out.get(r._id);
    if (v === undefined || v < r.version) out.set(r._id, r.version);
  };
  for (const r of ledger.values()) note(r);
  for (const [, page] of qc.getQueriesData<Page<ImportRun>>({ queryKey: queryKeys.runs.lists() })) page?.items.forEach(note);
  for (const [, run] of qc.getQueriesData<RunDetail>({ queryKey: queryKeys.runs.details() })) if (run) note(run);
  return Object.fromEntries([...out].slice(0, max));
}

/**
 * `initial_data`: page 1 and the sources' live state. On the first connection the snapshot is
 * the truth; after a reconnect it is merged by version (the `sync` that follows brings the rest).
 */
export function applySnapshot(qc: QueryClient, ledger: RunLedger, data: InitialData, isResync: boolean): void {
  if (!isResync) ledger.clear();
  const liveKey: RunListKey = queryKeys.runs.list(LIVE_FIRST_PAGE);
  if (isResync) {
    // Runs that vanished from page 1 were pushed down by newer ones: the snapshot's order wins,
    // but a row held at a newer version than the snapshot's keeps it.
    const held = new Map((qc.getQueryData<Page<ImportRun>>(liveKey)?.items ?? []).map((r) => [r._id, r]));
    const items = data.logs.items.map((r) => {
      const h = held.get(r._id);
      return h && h.version > r.version ? h : r;
    });
    qc.setQueryData(liveKey, { ...data.logs, items });
  } else {
    qc.setQueryData(liveKey, data.logs);
  }
  for (const run of data.logs.items) applyLiveRun(qc, ledger, run);
  applySourceStatus(qc, data);
  if (data.totals) qc.setQueryData(queryKeys.totals(), data.totals);
}

/** Copies `running` and `health` of each source into the cached source list. */
function applySourceStatus(qc: QueryClient, data: InitialData): void {
  const list = qc.getQueryData<Source[]>(queryKeys.sources.list());
  if (!list) return;
  const byId = new Map(data.sources.map((s) => [s._id, s]));
  const sameSet = list.length === byId.size && list.every((s) => byId.has(s._id));
  qc.setQueryData<Source[]>(queryKeys.sources.list(), (old) =>
    old?.map((s) => {
      const live = byId.get(s._id);
      return live ? { ...s, running: live.running, health: live.health ?? s.health, enabled: live.enabled, name: live.name } : s;
    }),
  );
  // Added or removed elsewhere while this tab was away: the full documents come over REST.
  if (!sameSet) void qc.invalidateQueries({ queryKey: queryKeys.sources.all() });
}

/**
 * After a reconnect: what a sync cannot patch in place (jobs, stats, sources, run lists other
 * than the live first page, whose rows may have shifted between pages) is refetched in the
 * background; shown data stays until the answer replaces it. Run details are left to the sync.
 */
export function refreshAfterReconnect(qc: QueryClient): void {
  const liveHash = JSON.stringify(queryKeys.runs.list(LIVE_FIRST_PAGE));
  void qc.invalidateQueries({
    queryKey: queryKeys.all,
    predicate: (q) => {
      const key = q.queryKey;
      if (key[1] === 'totals') return false;
      if (key[1] !== 'runs') return true;
      return key[2] === 'list' && JSON.stringify(key) !== liveHash;
    },
  });
}
