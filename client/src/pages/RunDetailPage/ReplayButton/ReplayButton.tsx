import { useNavigate } from 'react-router';
import { useReplayRun } from '../../../api/hooks';
import { errorMessage, isApiError } from '../../../api/errors';
import type { ImportRun } from '../../../api/types';

/**
 * "Run again": this run's source, now, fetched without cache validators so the whole feed is
 * read even when it did not change. Opens the new run once it is queued.
 */
export function ReplayButton({ run }: { run: ImportRun }) {
  const replay = useReplayRun();
  const navigate = useNavigate();
  const active = run.status === 'queued' || run.status === 'running';
  const error = replay.error
    ? isApiError(replay.error) && replay.error.code === 'run.already_running'
      ? `${run.sourceName} is importing now; try again when that run has ended.`
      : errorMessage(replay.error)
    : null;
  return (
    <div className="replay">
      <button
        type="button"
        className="btn btn--primary btn--small"
        disabled={active || replay.isPending}
        title="Import this source again now, reading the whole feed even if it did not change"
        onClick={() =>
          replay.mutate(run._id, {
            onSuccess: ({ run: started }) => void navigate(`/runs/${encodeURIComponent(started._id)}`),
          })
        }
      >
        {replay.isPending ? 'Starting…' : 'Run again'}
      </button>
      {error ? (
        <p className="field__error" role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}
