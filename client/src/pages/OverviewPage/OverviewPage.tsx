import { useRunsPage, useStats } from '../../api/hooks';
import { isApiError } from '../../api/errors';
import { ErrorMessage } from '../../components/ErrorMessage/ErrorMessage';
import { RunCharts } from './RunCharts/RunCharts';

const RECENT = { page: 1, limit: 100 };

function humanize(key: string): string {
  return key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[_.]/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

/** Top-level numbers of /api/stats, whatever they are; the endpoint may not exist yet. */
function StatTiles() {
  const stats = useStats();
  if (stats.isError) {
    if (isApiError(stats.error) && stats.error.isNotFound) return null;
    return <ErrorMessage error={stats.error} title="Could not load statistics" />;
  }
  const numbers = Object.entries(stats.data ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number');
  if (numbers.length === 0) return null;
  return (
    <dl className="stats" aria-label="Totals">
      {numbers.map(([k, v]) => (
        <div className="stat" key={k}>
          <dt>{humanize(k)}</dt>
          <dd>{v.toLocaleString()}</dd>
        </div>
      ))}
    </dl>
  );
}

export default function OverviewPage() {
  const runs = useRunsPage(RECENT);
  const items = runs.data?.items ?? [];
  const finished = items.filter((r) => r.status !== 'queued' && r.status !== 'running');
  const ok = finished.filter((r) => r.status === 'completed' || r.status === 'not_modified').length;

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <StatTiles />
      {runs.isError ? <ErrorMessage error={runs.error} title="Could not load runs" onRetry={() => void runs.refetch()} /> : null}
      {runs.isPending ? <p className="muted">Loading…</p> : null}
      {runs.data ? (
        <>
          <dl className="stats" aria-label="Recent runs">
            <div className="stat">
              <dt>Runs (all time)</dt>
              <dd>{runs.data.total.toLocaleString()}</dd>
            </div>
            <div className="stat">
              <dt>Success, last {finished.length}</dt>
              <dd>{finished.length ? `${Math.round((ok / finished.length) * 100)}%` : '—'}</dd>
            </div>
            <div className="stat">
              <dt>New jobs, last {items.length}</dt>
              <dd>{items.reduce((n, r) => n + r.newJobs, 0).toLocaleString()}</dd>
            </div>
            <div className="stat">
              <dt>Failed items, last {items.length}</dt>
              <dd>{items.reduce((n, r) => n + r.failedJobs, 0).toLocaleString()}</dd>
            </div>
          </dl>
          {items.length ? <RunCharts runs={items} /> : <p className="empty">No runs yet.</p>}
        </>
      ) : null}
    </section>
  );
}
