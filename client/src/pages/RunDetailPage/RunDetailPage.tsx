import { useEffect } from 'react';
import { Link, useParams } from 'react-router';
import { useRun } from '../../api/hooks';
import { isApiError } from '../../api/errors';
import { ErrorMessage } from '../../components/ErrorMessage/ErrorMessage';
import { ProgressBar } from '../../components/ProgressBar/ProgressBar';
import { StatusBadge } from '../../components/StatusBadge/StatusBadge';
import { formatDateTime, formatMs, runDurationMs } from '../../lib/format';
import { useNow } from '../../lib/useNow';
import { useLive } from '../../live/LiveContext';
import { RecentFailures } from './RecentFailures/RecentFailures';
import { FailureGroups } from './FailureGroups/FailureGroups';
import { StageTimings } from './StageTimings/StageTimings';
import { BackfillPages } from './BackfillPages/BackfillPages';
import { ClosedByReason } from './ClosedByReason/ClosedByReason';
import { ReplayButton } from './ReplayButton/ReplayButton';

function Time({ iso }: { iso: string | null }) {
  if (!iso) return <>—</>;
  return (
    <time dateTime={iso} title={iso}>
      {formatDateTime(iso)}
    </time>
  );
}

export function RunDetailPage() {
  const { id = '' } = useParams();
  const query = useRun(id);
  const run = query.data;
  const active = run?.status === 'running' || run?.status === 'queued';
  const now = useNow(active);
  const { subscribeRun } = useLive();
  // Item-level progress while the run is going; the subscription follows reconnects.
  useEffect(() => (active ? subscribeRun(id) : undefined), [active, id, subscribeRun]);

  if (query.isPending) return <p className="muted">Loading run…</p>;
  if (query.isError) {
    const missing = isApiError(query.error) && query.error.isNotFound;
    return (
      <section>
        <p>
          <Link to="/">← Import history</Link>
        </p>
        <ErrorMessage error={query.error} title={missing ? 'Run not found' : 'Could not load the run'} onRetry={missing ? undefined : () => void query.refetch()} />
      </section>
    );
  }
  if (!run) return null;

  const counts: [string, number][] = [
    ['Fetched', run.totalFetched],
    ['Imported', run.totalImported],
    ['New', run.newJobs],
    ['Updated', run.updatedJobs],
    ['Unchanged', run.unchangedJobs],
    ['Duplicates', run.duplicateJobs],
    ['Failed', run.failedJobs],
    ['Closed', run.closedJobs],
    ['Reopened', run.reopenedJobs],
  ];

  return (
    <section aria-labelledby="run-title" data-testid="run-detail" data-status={run.status}>
      <p>
        <Link to="/">← Import history</Link>
      </p>
      <div className="page-head">
        <h1 id="run-title">
          {run.sourceName} <StatusBadge status={run.status} />
        </h1>
        <ReplayButton run={run} />
      </div>

      {run.error ? (
        <div className="alert alert--error" role="alert" data-testid="run-error">
          <strong>Why this run {run.status === 'partial' ? 'is partial' : 'failed'}:</strong>
          <p>{run.error.message}</p>
          <p>
            <code>{run.error.code}</code>
          </p>
        </div>
      ) : null}

      {run.status === 'running' ? (
        <ProgressBar itemsDone={run.itemsDone} batchesDone={run.batchesDone} batchesTotal={run.batchesTotal} />
      ) : null}
      {run.retryAt && active ? (
        <div className="alert alert--info" role="status">
          The fetch failed and will be tried again at <Time iso={run.retryAt} /> (attempt {run.fetchAttempts + 1}).
        </div>
      ) : null}

      <dl className="stats">
        {counts.map(([label, n]) => (
          <div className="stat" key={label}>
            <dt>{label}</dt>
            <dd>{n}</dd>
          </div>
        ))}
      </dl>

      <div className="card">
        <dl className="kv">
          <dt>Feed</dt>
          <dd>
            <a href={run.fileName} target="_blank" rel="noreferrer noopener">
              {run.fileName}
            </a>
          </dd>
          <dt>Source</dt>
          <dd>
            <Link to={`/?source=${encodeURIComponent(run.sourceId)}`}>{run.sourceId}</Link>
          </dd>
          <dt>Trigger</dt>
          <dd>
            {run.trigger}
            {run.unconditional ? ' · read without cache validators' : ''}
            {run.replayOf ? (
              <>
                {' · replay of '}
                <Link to={`/runs/${encodeURIComponent(run.replayOf)}`}>
                  <code>{run.replayOf}</code>
                </Link>
              </>
            ) : null}
          </dd>
          <dt>Queued</dt>
          <dd>
            <Time iso={run.importDateTime} />
          </dd>
          <dt>Started</dt>
          <dd>
            <Time iso={run.startedAt} />
          </dd>
          <dt>Finished</dt>
          <dd>
            <Time iso={run.finishedAt} />
          </dd>
          <dt>Duration</dt>
          <dd>{formatMs(runDurationMs(run, now))}</dd>
          <dt>Batches</dt>
          <dd>
            {run.batchesDone} of {run.batchesTotal ?? '?'} ({run.itemsDone} items)
          </dd>
          <dt>Fetched by</dt>
          <dd>{run.fetchedBy ?? '—'}</dd>
          {run.fetchAttempts > 1 || run.resumes > 0 ? (
            <>
              <dt>Fetch attempts</dt>
              <dd>
                {run.fetchAttempts}
                {run.resumes > 0 ? ` · resumed ${String(run.resumes)}× after lost work` : ''}
              </dd>
            </>
          ) : null}
          <dt>Run id</dt>
          <dd>
            <code>{run._id}</code> (version {run.version})
          </dd>
        </dl>
      </div>

      <h2>Stage timings</h2>
      <StageTimings durations={run.durations} />
      <BackfillPages run={run} />
      <ClosedByReason run={run} />

      <h2>Failures by reason</h2>
      <FailureGroups run={run} />
      {active ? <RecentFailures runId={run._id} /> : null}
    </section>
  );
}
