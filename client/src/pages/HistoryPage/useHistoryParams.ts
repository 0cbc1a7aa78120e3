import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';
import { RUN_STATUSES, type RunListParams, type RunStatus } from '../../api/types';

export const HISTORY_LIMIT = 20;

function parsePage(v: string | null): number {
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

function parseStatus(v: string | null): RunStatus | undefined {
  return RUN_STATUSES.find((s) => s === v);
}

/** Page and filters live in the query string so a view can be bookmarked and shared. */
export function useHistoryParams() {
  const [search, setSearch] = useSearchParams();
  const params: RunListParams = useMemo(
    () => ({
      page: parsePage(search.get('page')),
      limit: HISTORY_LIMIT,
      source: search.get('source') || undefined,
      status: parseStatus(search.get('status')),
    }),
    [search],
  );

  const update = useCallback(
    (patch: { page?: number; source?: string | undefined; status?: string | undefined }) => {
      setSearch((prev) => {
        const next = new URLSearchParams(prev);
        const set = (k: string, v: string | undefined) => {
          if (v) next.set(k, v);
          else next.delete(k);
        };
        if ('source' in patch) set('source', patch.source);
        if ('status' in patch) set('status', patch.status);
        // Changing a filter starts again from the first page.
        set('page', patch.page && patch.page > 1 ? String(patch.page) : undefined);
        return next;
      });
    },
    [setSearch],
  );

  return { params, update };
}
