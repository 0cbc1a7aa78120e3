import { Link } from 'react-router';
import { useAudit } from '../../../api/hooks';
import type { AuditAction } from '../../../api/types';
import { formatDateTime } from '../../../lib/format';

/** How many recent audit entries a source card shows. */
export const SOURCE_AUDIT_LIMIT = 3;

const ACTIONS: Record<AuditAction, string> = {
  source_created: 'added',
  source_updated: 'edited',
  source_removed: 'removed',
  import_started: 'import started',
  import_all_started: 'all imported',
  run_replayed: 'run replayed',
  maintenance_paused: 'paused',
  maintenance_resumed: 'resumed',
  alert_test_sent: 'alert test sent',
};

/** The latest audit entries about one source, with a link to its whole log. */
export function SourceAudit({ sourceId }: { sourceId: string }) {
  const audit = useAudit({ source: sourceId, page: 1, limit: SOURCE_AUDIT_LIMIT });
  const entries = audit.data?.items ?? [];
  return (
    <>
      <dt>Changes</dt>
      <dd data-testid="source-audit">
        {audit.isPending ? (
          <span className="muted">…</span>
        ) : audit.isError ? (
          <span className="muted">audit log unavailable</span>
        ) : entries.length === 0 ? (
          <span className="muted">none recorded</span>
        ) : (
          <ul className="plain">
            {entries.map((e) => (
              <li key={e._id}>
                <time dateTime={e.at} title={e.at}>
                  {formatDateTime(e.at)}
                </time>{' '}
                {ACTIONS[e.action]} <span className="muted">by {e.actor}</span>
              </li>
            ))}
          </ul>
        )}{' '}
        <Link to={`/audit?source=${encodeURIComponent(sourceId)}`}>audit log</Link>
      </dd>
    </>
  );
}
