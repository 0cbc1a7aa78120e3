import { Link } from 'react-router';
import type { ImportRun } from '../../../api/types';
import { ProgressBar } from '../../../components/ProgressBar/ProgressBar';
import { StatusBadge } from '../../../components/StatusBadge/StatusBadge';
import { formatDateTime, formatMs, runDurationMs } from '../../../lib/format';

const ACTIVE = new Set(['queued', 'running']);

export function RunRow({ run, now }: { run: ImportRun; now: number }) {
  const active = ACTIVE.has(run.status);
  return (
    <tr data-testid="run-row" data-run-id={run._id} data-status={run.status} className={active ? 'row--active' : undefined}>
      <td data-col="fileName" data-label="fileName" className="cell-source">
        <Link to={`/runs/${encodeURIComponent(run._id)}`} className="cell-source__name">
          {run.sourceName}
        </Link>
        <a href={run.fileName} className="cell-source__url" target="_blank" rel="noreferrer noopener" title={run.fileName}>
          {run.fileName}
        </a>
      </td>
      <td data-col="importDateTime" data-label="importDateTime">
        <time dateTime={run.importDateTime} title={run.importDateTime}>
          {formatDateTime(run.importDateTime)}
        </time>
      </td>
      <td data-col="total" data-label="total" className="num">
        {run.totalFetched}
      </td>
      <td data-col="new" data-label="new" className="num">
        {run.newJobs}
      </td>
      <td data-col="updated" data-label="updated" className="num">
        {run.updatedJobs}
      </td>
      <td data-col="unchanged" data-label="unchanged" className="num">
        {run.unchangedJobs}
      </td>
      <td data-col="failed" data-label="failed" className={`num${run.failedJobs > 0 ? ' num--bad' : ''}`}>
        {run.failedJobs}
      </td>
      <td data-col="status" data-label="status">
        <StatusBadge status={run.status} />
        {run.status === 'running' ? (
          <ProgressBar itemsDone={run.itemsDone} batchesDone={run.batchesDone} batchesTotal={run.batchesTotal} />
        ) : null}
        {run.error ? (
          <Link
            to={`/runs/${encodeURIComponent(run._id)}`}
            className="cell-error"
            data-testid="run-error-link"
            title={`${run.error.code}: ${run.error.message}`}
          >
            {run.error.message}
          </Link>
        ) : null}
      </td>
      <td data-col="duration" data-label="duration" className="num">
        {formatMs(runDurationMs(run, now))}
      </td>
      <td data-col="actions">
        <Link to={`/runs/${encodeURIComponent(run._id)}`} aria-label={`Details of the ${run.sourceName} run`}>
          Details
        </Link>
      </td>
    </tr>
  );
}
