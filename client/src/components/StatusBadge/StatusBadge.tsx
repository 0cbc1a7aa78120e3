import type { RunStatus } from '../../api/types';

const TEXT: Record<RunStatus, string> = {
  queued: 'queued',
  running: 'running',
  completed: 'completed',
  partial: 'partial',
  failed: 'failed',
  not_modified: 'not modified',
};

export function StatusBadge({ status }: { status: RunStatus }) {
  return <span className={`badge badge--${status}`}>{TEXT[status]}</span>;
}
