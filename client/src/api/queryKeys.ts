import type { JobListParams, RunListParams } from './types';

/** The one place query keys are built, so invalidation can target a whole family. */
export const queryKeys = {
  all: ['api'] as const,
  runs: {
    all: () => [...queryKeys.all, 'runs'] as const,
    lists: () => [...queryKeys.runs.all(), 'list'] as const,
    list: (p: RunListParams) =>
      [...queryKeys.runs.lists(), { page: p.page, limit: p.limit, source: p.source ?? null, status: p.status ?? null }] as const,
    details: () => [...queryKeys.runs.all(), 'detail'] as const,
    detail: (id: string) => [...queryKeys.runs.details(), id] as const,
  },
  sources: {
    all: () => [...queryKeys.all, 'sources'] as const,
    list: () => [...queryKeys.sources.all(), 'list'] as const,
  },
  jobs: {
    all: () => [...queryKeys.all, 'jobs'] as const,
    list: (p: JobListParams) => [...queryKeys.jobs.all(), 'list', p] as const,
  },
  stats: () => [...queryKeys.all, 'stats'] as const,
};

export type RunListKey = ReturnType<typeof queryKeys.runs.list>;

/** Parameters the WebSocket's `initial_data` corresponds to (page 1, limit 20, no filters). */
export const LIVE_FIRST_PAGE: RunListParams = { page: 1, limit: 20 };
