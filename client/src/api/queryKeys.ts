import type { AlertDeliveryParams, AuditParams, JobListParams, RunDetailParams, RunListParams, StatsParams } from './types';

/** Failures per page on the run detail page. */
export const DEFAULT_FAILURES: RunDetailParams = { failuresPage: 1, failuresLimit: 50 };

/** The one place query keys are built, so invalidation can target a whole family. */
export const queryKeys = {
  all: ['api'] as const,
  alerts: {
    all: () => [...queryKeys.all, 'alerts'] as const,
    channels: () => [...queryKeys.alerts.all(), 'channels'] as const,
    deliveriesAll: () => [...queryKeys.alerts.all(), 'deliveries'] as const,
    deliveries: (p: AlertDeliveryParams) => [...queryKeys.alerts.deliveriesAll(), { source: p.source ?? null, limit: p.limit }] as const,
  },
  audit: (p: AuditParams) => [...queryKeys.all, 'audit', { page: p.page, limit: p.limit, source: p.source ?? null, action: p.action ?? null }] as const,
  runs: {
    all: () => [...queryKeys.all, 'runs'] as const,
    lists: () => [...queryKeys.runs.all(), 'list'] as const,
    list: (p: RunListParams) =>
      [
        ...queryKeys.runs.lists(),
        {
          page: p.page,
          limit: p.limit,
          source: p.source ?? null,
          status: p.status ?? null,
          from: p.from ?? null,
          to: p.to ?? null,
          sort: p.sort ?? 'date',
          failureCode: p.failureCode ?? null,
          errorText: p.errorText ?? null,
        },
      ] as const,
    details: () => [...queryKeys.runs.all(), 'detail'] as const,
    /** Every cached view of one run (each failures page and code filter). */
    detailAll: (id: string) => [...queryKeys.runs.details(), id] as const,
    detail: (id: string, p: RunDetailParams = DEFAULT_FAILURES) =>
      [...queryKeys.runs.detailAll(id), { failuresPage: p.failuresPage, failuresLimit: p.failuresLimit, failureCode: p.failureCode ?? null }] as const,
    /** Item-level progress (`run_progress`) of a run this tab subscribed to. */
    progress: (id: string) => [...queryKeys.runs.all(), 'progress', id] as const,
  },
  sources: {
    all: () => [...queryKeys.all, 'sources'] as const,
    list: () => [...queryKeys.sources.all(), 'list'] as const,
  },
  jobs: {
    all: () => [...queryKeys.all, 'jobs'] as const,
    list: (p: JobListParams) => [...queryKeys.jobs.all(), 'list', p] as const,
    detail: (id: string) => [...queryKeys.jobs.all(), 'detail', id] as const,
  },
  statsAll: () => [...queryKeys.all, 'stats'] as const,
  stats: (p: StatsParams = {}) => [...queryKeys.statsAll(), { hours: p.hours ?? null, days: p.days ?? null, source: p.source ?? null }] as const,
  /** The pause state: read once, then kept current by the socket. */
  maintenance: () => [...queryKeys.all, 'maintenance'] as const,
  queues: () => [...queryKeys.all, 'queues'] as const,
  changesWebhooks: () => [...queryKeys.all, 'changes-webhooks'] as const,
  /** Sums over every run, as the last `initial_data` gave them. */
  totals: () => [...queryKeys.all, 'totals'] as const,
};


export type RunListKey = ReturnType<typeof queryKeys.runs.list>;

/** Parameters the WebSocket's `initial_data` corresponds to (page 1, limit 20, no filters). */
export const LIVE_FIRST_PAGE: RunListParams = { page: 1, limit: 20 };
