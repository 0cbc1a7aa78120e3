import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';
import { EMPLOYMENT_TYPES, type EmploymentType, type JobListParams } from '../../api/types';
import { dayEndIso, dayStartIso, isDay } from '../../lib/dates';

export const JOBS_LIMIT = 20;
/** The filter keys kept in the query string (dates as calendar days in the viewer's zone). */
export const JOB_FILTER_KEYS = ['q', 'source', 'company', 'location', 'employmentType', 'remote', 'status', 'from', 'to'] as const;
export type JobFilterKey = (typeof JOB_FILTER_KEYS)[number];

const oneOf = <T extends string>(values: readonly T[], v: string | null): T | undefined => values.find((x) => x === v);

/** Search, filters, page and the open job live in the URL so a search can be shared. */
export function useJobsParams() {
  const [search, setSearch] = useSearchParams();
  const raw = (k: JobFilterKey) => search.get(k) ?? '';
  const params: JobListParams = useMemo(() => {
    const from = search.get('from');
    const to = search.get('to');
    return {
      q: search.get('q') ?? '',
      page: Math.max(1, Number(search.get('page')) || 1),
      limit: JOBS_LIMIT,
      source: search.get('source') || undefined,
      company: search.get('company') || undefined,
      location: search.get('location') || undefined,
      employmentType: oneOf<EmploymentType>(EMPLOYMENT_TYPES, search.get('employmentType')),
      remote: oneOf(['true', 'false'] as const, search.get('remote')),
      status: oneOf(['open', 'closed'] as const, search.get('status')),
      from: isDay(from) ? dayStartIso(from) : undefined,
      to: isDay(to) ? dayEndIso(to) : undefined,
    };
  }, [search]);

  const set = useCallback(
    (patch: Partial<Record<JobFilterKey | 'page' | 'job', string | null>>, replace = false) => {
      setSearch(
        (prev) => {
          const next = new URLSearchParams(prev);
          for (const [k, v] of Object.entries(patch)) {
            if (v) next.set(k, v);
            else next.delete(k);
          }
          // A new search starts from its first page with nothing open.
          if (!('page' in patch) && !('job' in patch)) {
            next.delete('page');
            next.delete('job');
          }
          return next;
        },
        { replace },
      );
    },
    [setSearch],
  );

  const filtered = JOB_FILTER_KEYS.some((k) => search.get(k));
  return { params, raw, selectedId: search.get('job'), filtered, set };
}
