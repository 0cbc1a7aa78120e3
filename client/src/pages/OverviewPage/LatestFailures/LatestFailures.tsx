import { Link } from 'react-router';
import { useRunsPage } from '../../../api/hooks';
import { ErrorMessage } from '../../../components/ErrorMessage/ErrorMessage';
import { formatDateTime } from '../../../lib/format';

const FAILED = { page: 1, limit: 8, status: 'failed' as const };

/** The most recent failed runs with their reasons, each opening the run. */
export function LatestFailures() {
  const runs = useRunsPage(FAILED);
  return (
    <section className="card" aria-labelledby="latest-failures">
      <h2 id="latest-failures">Latest failures</h2>
      {runs.isError ? <ErrorMessage error={runs.error} title="Could not load failed runs" /> : null}
      {runs.data?.items.length === 0 ? <p className="muted">No run has failed.</p> : null}
      <ul className="failure-list" data-testid="latest-failures">
        {runs.data?.items.map((r) => (
          <li key={r._id}>
            <Link to={`/runs/${encodeURIComponent(r._id)}`}>{r.sourceName}</Link>{' '}
            <time className="muted" dateTime={r.importDateTime} title={r.importDateTime}>
              {formatDateTime(r.importDateTime)}
            </time>
            {r.error ? (
              <p className="failure-list__reason">
                <code>{r.error.code}</code> {r.error.message}
              </p>
            ) : null}
          </li>
        ))}
      </ul>
      {runs.data && runs.data.total > FAILED.limit ? <Link to="/?status=failed">All {runs.data.total} failed runs</Link> : null}
    </section>
  );
}
