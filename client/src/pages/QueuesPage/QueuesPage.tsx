import { useState } from 'react';
import { Link } from 'react-router';
import { useChangesWebhooks, useMaintenance, usePause, useQueues } from '../../api/hooks';
import type { ChangesWebhook, HeldTask, QueueWorker } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage/ErrorMessage';
import { formatDateTime } from '../../lib/format';

function describe(t: HeldTask): string {
  const what = t.batchNo !== null ? `batch ${t.batchNo}` : t.attempt !== null ? `fetch, attempt ${t.attempt}` : t.taskId;
  return t.sourceId ? `${t.sourceId}: ${what}` : what;
}

/** The tasks a worker holds, each linked to its run. */
function Doing({ w }: { w: QueueWorker }) {
  if (w.holding === 0) return <span className="muted">idle</span>;
  return (
    <ul className="plain">
      {w.tasks.map((t) => (
        <li key={t.taskId}>{t.runId ? <Link to={`/runs/${encodeURIComponent(t.runId)}`}>{describe(t)}</Link> : describe(t)}</li>
      ))}
      {w.holding > w.tasks.length ? <li className="muted">and {w.holding - w.tasks.length} more</li> : null}
    </ul>
  );
}

/** One changes webhook's delivery state, in words. */
function WebhookState({ h }: { h: ChangesWebhook }) {
  const s = h.state;
  if (!s) return <span className="muted">not looked at yet</span>;
  if (s.attempts > 0) {
    return (
      <span className="webhook__failing">
        {s.attempts} failed {s.attempts === 1 ? 'attempt' : 'attempts'}
        {s.lastError ? `: ${s.lastError}` : ''}
        {s.nextAttemptAt ? ` (next ${formatDateTime(s.nextAttemptAt)})` : ''}
      </span>
    );
  }
  return <span>{h.behind === 0 ? 'up to date' : 'sending'}</span>;
}

/** The webhooks the changes feed is pushed to (set in the config file), when there are any. */
function ChangesWebhooks() {
  const w = useChangesWebhooks();
  if (w.isError) return <ErrorMessage error={w.error} title="Could not read the changes webhooks" onRetry={() => void w.refetch()} />;
  if (!w.data || w.data.webhooks.length === 0) return null;
  return (
    <>
      <h2>Changes webhooks</h2>
      <table className="queues__table" aria-label="Changes webhooks">
        <thead>
          <tr>
            <th scope="col">Webhook</th>
            <th scope="col">Host</th>
            <th scope="col">Sources</th>
            <th scope="col">Cursor</th>
            <th scope="col">Behind</th>
            <th scope="col">Last delivered</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {w.data.webhooks.map((h) => (
            <tr key={h.id} data-testid={`webhook-${h.id}`}>
              <th scope="row">{h.id}</th>
              <td>{h.target}</td>
              <td>{h.sources.length === 0 ? 'all' : h.sources.join(', ')}</td>
              <td>
                {h.state ? h.state.cursor : '—'} of {w.data.head}
              </td>
              <td>{h.behind ?? '—'}</td>
              <td>{h.state?.lastDeliveredAt ? formatDateTime(h.state.lastDeliveredAt) : '—'}</td>
              <td>
                <WebhookState h={h} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/** Pausing for maintenance; the banner on every page offers the resume. */
function PauseControl() {
  const { data } = useMaintenance();
  const pause = usePause();
  const [reason, setReason] = useState('');
  if (data?.paused) return null;
  return (
    <form
      className="queues__pause"
      onSubmit={(e) => {
        e.preventDefault();
        pause.mutate(reason.trim() || undefined);
      }}
    >
      <label>
        Reason <input value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} placeholder="optional" />
      </label>
      <button type="submit" className="btn btn--small" disabled={pause.isPending}>
        Pause all daemons
      </button>
      {pause.isError ? <ErrorMessage error={pause.error} title="Could not pause" /> : null}
    </form>
  );
}

/** The queues now: what waits, what is in flight, what is delayed, and each live worker's task. */
export function QueuesPage() {
  const q = useQueues();
  return (
    <section className="queues" aria-labelledby="queues-title">
      <h1 id="queues-title">Queues</h1>
      <PauseControl />
      {q.isError ? <ErrorMessage error={q.error} onRetry={() => void q.refetch()} /> : null}
      {q.data ? (
        <>
          <table className="queues__table" aria-label="Queues">
            <thead>
              <tr>
                <th scope="col">Queue</th>
                <th scope="col">Waiting</th>
                <th scope="col">Active</th>
                <th scope="col">Delayed</th>
                <th scope="col">Next due</th>
              </tr>
            </thead>
            <tbody>
              {q.data.queues.map((c) => (
                <tr key={c.name} data-testid={`queue-${c.name}`}>
                  <th scope="row">{c.name === 'fetch' ? 'fetch (feeds)' : 'items (batches)'}</th>
                  <td>{c.waiting}</td>
                  <td>{c.active}</td>
                  <td>{c.delayed}</td>
                  <td>{c.nextDueAt ? formatDateTime(c.nextDueAt) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Live workers</h2>
          {q.data.workers.length === 0 ? (
            <p className="muted" data-testid="no-workers">
              {q.data.paused ? 'None: every daemon is paused.' : 'None: no daemon runs a fetcher or worker role.'}
            </p>
          ) : (
            <table className="queues__table" aria-label="Live workers">
              <thead>
                <tr>
                  <th scope="col">Daemon</th>
                  <th scope="col">Queue</th>
                  <th scope="col">Last heartbeat</th>
                  <th scope="col">Doing now</th>
                </tr>
              </thead>
              <tbody>
                {q.data.workers.map((w) => (
                  <tr key={w.worker} data-testid="queue-worker">
                    <td>{w.daemon}</td>
                    <td>{w.queue}</td>
                    <td>{formatDateTime(w.lastHeartbeatAt)}</td>
                    <td>
                      <Doing w={w} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <ChangesWebhooks />
        </>
      ) : q.isPending ? (
        <p className="muted">Loading…</p>
      ) : null}
    </section>
  );
}
