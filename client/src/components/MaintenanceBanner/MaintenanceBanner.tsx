import { useMaintenance, useResume } from '../../api/hooks';
import { formatDateTime } from '../../lib/format';
import { ErrorMessage } from '../ErrorMessage/ErrorMessage';

const ACTORS: Record<string, string> = { admin: 'the admin token', previous_admin: 'the previous admin token', cli: 'the command line' };

/**
 * Shown on every page while the deployment is paused for maintenance: who paused it, when and
 * why, and a Resume button (a read token's resume is refused by the daemon, and says so).
 */
export function MaintenanceBanner() {
  const { data } = useMaintenance();
  const resume = useResume();
  if (!data?.paused) return null;
  const by = data.pausedBy ? (ACTORS[data.pausedBy] ?? data.pausedBy) : null;
  return (
    <div className="alert alert--warn maintenance-banner" role="status" data-testid="maintenance-banner">
      <p>
        <strong>Paused for maintenance</strong>
        {data.pausedAt ? ` since ${formatDateTime(data.pausedAt)}` : ''}
        {by ? ` by ${by}` : ''}
        {data.reason ? `: ${data.reason}` : ''}. No scheduled runs, no new queue work; manual imports wait in the queue until the resume.
      </p>
      <button type="button" className="btn btn--small" onClick={() => resume.mutate(undefined)} disabled={resume.isPending}>
        {resume.isPending ? 'Resuming…' : 'Resume'}
      </button>
      {resume.isError ? <ErrorMessage error={resume.error} title="Could not resume" /> : null}
    </div>
  );
}
