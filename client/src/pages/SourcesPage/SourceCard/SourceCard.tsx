import { useState } from 'react';
import { Link } from 'react-router';
import { useBackfill, useDeleteSource, useImportNow, useUpdateSource } from '../../../api/hooks';
import { errorMessage, isApiError } from '../../../api/errors';
import type { RemovedSourceJobs } from '../../../api/client';
import type { Source } from '../../../api/types';
import { StatusBadge } from '../../../components/StatusBadge/StatusBadge';
import { describeCron } from '../../../lib/cron';
import { formatDateTime } from '../../../lib/format';
import { useNow } from '../../../lib/useNow';
import { SourceForm } from '../SourceForm/SourceForm';
import { SourceAlerts } from './SourceAlerts';
import { SourceAudit } from './SourceAudit';
import { SourceWindow } from './SourceWindow';

function When({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <>never</>;
  return (
    <time dateTime={iso} title={iso}>
      {formatDateTime(iso)}
    </time>
  );
}

export function SourceCard({ source }: { source: Source }) {
  const [editing, setEditing] = useState(false);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [removedJobs, setRemovedJobs] = useState<RemovedSourceJobs>('close');
  const importNow = useImportNow();
  const backfill = useBackfill();
  const update = useUpdateSource();
  const remove = useDeleteSource();
  const h = source.health;
  const now = useNow(Boolean(h?.backoffUntil), 60_000);
  const backoff = h?.backoffUntil && Date.parse(h.backoffUntil) > now ? h.backoffUntil : null;
  const busy = source.running || importNow.isPending || backfill.isPending;
  const headingId = `source-${source._id}-name`;

  const startError = backfill.error ?? importNow.error;
  const importError = startError
    ? isApiError(startError) && startError.code === 'run.already_running'
      ? `An import of ${source.name} is already running. ${startError.message}`
      : errorMessage(startError)
    : null;
  const queued = backfill.data ?? importNow.data;

  return (
    <li className="card source" data-testid="source-card" data-source-id={source._id} aria-labelledby={headingId}>
      <div className="source__head">
        <h2 className="source__name" id={headingId}>
          {source.name} {source.enabled ? null : <span className="badge">disabled</span>}{' '}
          {source.running ? <span className="badge badge--running">running</span> : null}
        </h2>
        <div className="source__actions">
          <button
            type="button"
            className="btn btn--primary btn--small"
            onClick={() => importNow.mutate(source._id)}
            disabled={busy}
            aria-describedby={busy ? `${headingId}-busy` : undefined}
          >
            Import now
          </button>
          <button
            type="button"
            className="btn btn--small"
            onClick={() => backfill.mutate(source._id)}
            disabled={busy}
            title="Read the feed's older pages too (one run; closes nothing)"
          >
            Backfill
          </button>
          {busy ? (
            <span id={`${headingId}-busy`} className="source__reason">
              An import is running
            </span>
          ) : null}
          <button type="button" className="btn btn--small" onClick={() => setEditing((v) => !v)} aria-expanded={editing}>
            {editing ? 'Close editor' : 'Edit'}
          </button>
          {confirmRemove ? (
            <div className="source__remove" role="group" aria-label={`Remove ${source.name}`}>
              <fieldset className="source__remove-jobs">
                <legend>Jobs that only this source carries</legend>
                <label>
                  <input
                    type="radio"
                    name={`${headingId}-jobs`}
                    value="close"
                    checked={removedJobs === 'close'}
                    onChange={() => setRemovedJobs('close')}
                  />{' '}
                  Close them (they leave the board)
                </label>
                <label>
                  <input
                    type="radio"
                    name={`${headingId}-jobs`}
                    value="keep"
                    checked={removedJobs === 'keep'}
                    onChange={() => setRemovedJobs('keep')}
                  />{' '}
                  Keep them open
                </label>
              </fieldset>
              <button
                type="button"
                className="btn btn--danger btn--small"
                onClick={() => remove.mutate({ id: source._id, jobs: removedJobs })}
                disabled={remove.isPending}
              >
                Confirm remove
              </button>
              <button type="button" className="btn btn--small" onClick={() => setConfirmRemove(false)}>
                Keep
              </button>
            </div>
          ) : (
            <button type="button" className="btn btn--danger btn--small" onClick={() => setConfirmRemove(true)}>
              Remove
            </button>
          )}
        </div>
      </div>
      <div className="source__url">
        <a href={source.url} target="_blank" rel="noreferrer noopener">
          {source.url}
        </a>
      </div>
      {backoff ? (
        <div className="alert alert--warn" role="status" data-testid="source-backoff">
          Scheduled runs are paused until <When iso={backoff} /> after {h?.consecutiveFailures ?? 0} failures in a row
          {h?.lastError ? (
            <>
              : {h.lastError.message} <code>{h.lastError.code}</code>
            </>
          ) : null}
          . “Import now” still works.
        </div>
      ) : null}
      {importError ? (
        <div className="alert alert--error" role="alert">
          {importError}
        </div>
      ) : null}
      {remove.error ? (
        <div className="alert alert--error" role="alert">
          Could not remove: {errorMessage(remove.error)}
        </div>
      ) : null}
      {queued && !importError ? (
        <p className="muted" role="status">
          {queued.run.backfill ? 'Backfill queued.' : 'Import queued.'} <Link to="/">Follow it in the import history</Link> or{' '}
          <Link to={`/runs/${encodeURIComponent(queued.run._id)}`}>open the run</Link>.
        </p>
      ) : null}
      <dl className="kv">
        <dt>Schedule</dt>
        <dd>
          <code>{source.cron}</code> · {describeCron(source.cron).text}
        </dd>
        <dt>Last run</dt>
        <dd>
          {h?.lastStatus ? <StatusBadge status={h.lastStatus} /> : null} <When iso={h?.lastRunAt} />
          {h?.lastRunId ? (
            <>
              {' '}
              · <Link to={`/runs/${encodeURIComponent(h.lastRunId)}`}>details</Link>
            </>
          ) : null}
        </dd>
        <dt>Last success</dt>
        <dd>
          <When iso={h?.lastSuccessAt} />
        </dd>
        <dt>Next run</dt>
        <dd>
          {source.enabled ? <When iso={h?.nextRunAt} /> : 'not scheduled (disabled)'}
          {source.enabled && backoff ? <> · skipped until <When iso={backoff} /></> : null}
        </dd>
        <SourceWindow source={source} />
        <SourceAudit sourceId={source._id} />
        <SourceAlerts sourceId={source._id} />
        {h && h.consecutiveFailures > 0 ? (
          <>
            <dt>Failures in a row</dt>
            <dd className="num--bad">{h.consecutiveFailures}</dd>
          </>
        ) : null}
        {h?.lastError ? (
          <>
            <dt>Last error</dt>
            <dd className="num--bad">
              {h.lastError.message} <code>{h.lastError.code}</code>
            </dd>
          </>
        ) : null}
        {source.userAgent ? (
          <>
            <dt>User-Agent</dt>
            <dd>{source.userAgent}</dd>
          </>
        ) : null}
      </dl>
      {editing ? (
        <SourceForm
          initial={source}
          submitLabel="Save changes"
          onSubmit={(input, o) => update.mutateAsync({ id: source._id, input, confirmPublisher: o?.confirmPublisher })}
          onCancel={() => setEditing(false)}
          onDone={() => setEditing(false)}
        />
      ) : null}
    </li>
  );
}
