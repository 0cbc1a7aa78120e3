import type { ClosedReason, ImportRun } from '../../../api/types';
import { CLOSED_REASONS } from '../../../api/types';
import { CLOSED_REASON_LABELS } from '../../../lib/expiry';
import { formatDateTime } from '../../../lib/format';

/** The jobs a run closed, by reason, and the span of postings its feed covered. */
export function ClosedByReason({ run }: { run: ImportRun }) {
  const counts = CLOSED_REASONS.map((r): [ClosedReason, number] => [r, run.closedByReason[r] ?? 0]).filter(([, n]) => n > 0);
  const w = run.window;
  if (counts.length === 0 && run.reopenedJobs === 0 && !w) return null;
  return (
    <section className="card" aria-labelledby="closing-title" data-testid="closed-by-reason">
      <h2 id="closing-title" style={{ marginTop: 0 }}>
        Closed and reopened
      </h2>
      {counts.length > 0 ? (
        <ul>
          {counts.map(([reason, n]) => (
            <li key={reason}>
              <strong>{n}</strong> {CLOSED_REASON_LABELS[reason]}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No jobs closed by this run.</p>
      )}
      {run.reopenedJobs > 0 ? (
        <p>
          <strong>{run.reopenedJobs}</strong> reopened
        </p>
      ) : null}
      {w ? (
        <p className="muted" data-testid="run-window">
          The feed covered {w.items} {w.items === 1 ? 'posting' : 'postings'}
          {w.oldest ? (
            <>
              {' '}
              from <time dateTime={w.oldest}>{formatDateTime(w.oldest)}</time>
            </>
          ) : null}
          {w.newest ? (
            <>
              {' '}
              to <time dateTime={w.newest}>{formatDateTime(w.newest)}</time>
            </>
          ) : null}
          .
        </p>
      ) : null}
    </section>
  );
}
