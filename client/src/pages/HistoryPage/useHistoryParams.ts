import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';
import { RUN_SORTS, RUN_STATUSES, type RunListParams, type RunSort, type RunStatus } from '../../api/types';
import { dayEndIso, dayStartIso, isDay } from '../../lib/dates';

export const HISTORY_LIMIT = 20;

function parsePage(v: string | null): number {
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

function parseStatus(v: string | null): RunStatus | undefined {
  return RUN_STATUSES.find((s) => s === v);
}

function parseSort(v: string | null): RunSort | undefined {
  const s = RUN_SORTS.find((x) => x === v);
  return s === 'date' ? undefined : s;
}

export interface HistoryFilters {
  source?: string | undefined;
  status?: string | undefined;
  /** Calendar days (YYYY-MM-DD) in the viewer's zone, inclusive. */
  from?: string | undefined;
  to?: string | undefined;
  sort?: string | undefined;
  failureCode?: string | undefined;
  errorText?: string | undefined;
}

/** The daemon's caps on the search values (longer values are refused with a 400). */
export const MAX_FAILURE_CODE = 64;
export const MAX_ERROR_TEXT = 200;

const FAILURE_CODE = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$/;

function parseFailureCode(v: string | null): string | undefined {
  return v && v.length <= MAX_FAILURE_CODE && FAILURE_CODE.test(v) ? v : undefined;
}

function parseErrorText(v: string | null): string | undefined {
  const t = v?.trim();
  // Control characters are refused by the daemon; such a link is ignored rather than failing.
  return t && t.length <= MAX_ERROR_TEXT && !/\p{Cc}/u.test(t) ? t : undefined;
}

/** Page, filters and order live in the query string so a view can be bookmarked and shared. */
export function useHistoryParams() {
  const [search, setSearch] = useSearchParams();
  const fromDay = isDay(search.get('from')) ? (search.get('from') ?? undefined) : undefined;
  const toDay = isDay(search.get('to')) ? (search.get('to') ?? undefined) : undefined;
  const params: RunListParams = useMemo(
    () => ({
      page: parsePage(search.get('page')),
      limit: HISTORY_LIMIT,
      source: search.get('source') || undefined,
      status: parseStatus(search.get('status')),
      from: fromDay ? dayStartIso(fromDay) : undefined,
      to: toDay ? dayEndIso(toDay) : undefined,
      sort: parseSort(search.get('sort')),
      failureCode: parseFailureCode(search.get('failureCode')),
      errorText: parseErrorText(search.get('errorText')),
    }),
    [search, fromDay, toDay],
  );

  const update = useCallback(
    (patch: HistoryFilters & { page?: number }) => {
      setSearch((prev) => {
        const next = new URLSearchParams(prev);
        const set = (k: string, v: string | undefined) => {
          if (v) next.set(k, v);
          else next.delete(k);
        };
        for (const k of ['source', 'status', 'from', 'to', 'sort', 'failureCode', 'errorText'] as const) if (k in patch) set(k, patch[k]);
        // Changing a filter starts again from the first page.
        set('page', patch.page && patch.page > 1 ? String(patch.page) : undefined);
        return next;
      });
    },
    [setSearch],
  );

  const filtered = Boolean(params.source || params.status || fromDay || toDay || params.failureCode || params.errorText);
  return { params, days: { from: fromDay, to: toDay }, filtered, update };
}
