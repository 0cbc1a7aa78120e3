import { useQuery } from '@tanstack/react-query';
import { queryKeys } from '../../../api/queryKeys';
import type { RunProgressView } from '../../../live/useImportStream';

/** The latest item failures of a running run, as `run_progress` pushes them (no REST call). */
export function RecentFailures({ runId }: { runId: string }) {
  const { data } = useQuery<RunProgressView>({
    queryKey: queryKeys.runs.progress(runId),
    queryFn: () => new Promise<RunProgressView>(() => undefined),
    enabled: false,
  });
  if (!data || data.recentFailures.length === 0) return null;
  return (
    <section aria-labelledby="recent-failures" className="card">
      <h3 id="recent-failures" style={{ marginTop: 0 }}>
        Latest failures (live, {data.failuresStored} stored so far)
      </h3>
      <ul>
        {data.recentFailures.map((f, i) => (
          <li key={`${f.externalId ?? ''}-${String(i)}`}>
            <code>{f.code}</code> {f.externalId ? <code>{f.externalId}</code> : null}: {f.message}
          </li>
        ))}
      </ul>
    </section>
  );
}
