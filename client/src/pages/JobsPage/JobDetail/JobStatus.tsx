import type { Job } from '../../../api/types';
import { CLOSED_REASON_LABELS } from '../../../lib/expiry';
import { formatDateTime } from '../../../lib/format';
import { useNow } from '../../../lib/useNow';

function At({ iso }: { iso: string }) {
  return (
    <time dateTime={iso} title={iso}>
      {formatDateTime(iso)}
    </time>
  );
}

/** A job's status: open or closed, why and when it closed, when it came back, and its end date. */
export function JobStatus({ job, now }: { job: Job; now?: number }) {
  const until = job.validThrough;
  const clock = useNow(now === undefined && until !== null, 60_000);
  const passed = until ? Date.parse(until) <= (now ?? clock) : false;
  return (
    <>
      <dt>Status</dt>
      <dd data-testid="job-status">
        {job.status === 'closed' ? (
          <>
            <span className="badge badge--failed">closed</span>
            {job.closedReason ? <> · {CLOSED_REASON_LABELS[job.closedReason]}</> : null}
            {job.closedAt ? (
              <>
                {' '}
                · <At iso={job.closedAt} />
              </>
            ) : null}
          </>
        ) : (
          <>
            <span className="badge badge--completed">open</span>
            {job.reopenedAt ? (
              <>
                {' '}
                · reopened <At iso={job.reopenedAt} />
              </>
            ) : null}
          </>
        )}
      </dd>
      <dt>Valid through</dt>
      <dd data-testid="job-valid-through">
        {until ? (
          <>
            <At iso={until} />
            {passed ? <span className="num--bad"> (passed)</span> : null}
          </>
        ) : (
          'not stated by the feed'
        )}
      </dd>
    </>
  );
}
