import { useState } from 'react';
import { useRun } from '../../../api/hooks';
import type { FailureGroup, RunDetail, RunFailure } from '../../../api/types';
import { ErrorMessage } from '../../../components/ErrorMessage/ErrorMessage';
import { Pagination } from '../../../components/Pagination/Pagination';

/** Stored failures listed per page when a group is opened. */
export const GROUP_PAGE_SIZE = 50;

function FailureItem({ f }: { f: RunFailure }) {
  return (
    <li>
      {f.externalId ? (
        /^https?:\/\//.test(f.externalId) ? (
          <a href={f.externalId} target="_blank" rel="noreferrer noopener">
            {f.externalId}
          </a>
        ) : (
          <code>{f.externalId}</code>
        )
      ) : (
        <span className="muted">(no id)</span>
      )}
      : {f.message}
    </li>
  );
}

/** One code's stored failures, a page at a time, read from the server only once opened. */
function GroupItems({ runId, group }: { runId: string; group: FailureGroup }) {
  const [page, setPage] = useState(1);
  const q = useRun(runId, { failuresPage: page, failuresLimit: GROUP_PAGE_SIZE, failureCode: group.code });
  if (q.isError) return <ErrorMessage error={q.error} title="Could not load these failures" onRetry={() => void q.refetch()} />;
  if (!q.data) return <p className="muted">Loading failures…</p>;
  const stored = q.data.failuresTotal;
  const notStored = Math.max(0, group.count - stored);
  return (
    <div aria-busy={q.isFetching}>
      {stored === 0 ? (
        <p className="muted">Item details were not kept (only the first 1000 failures of a run are stored).</p>
      ) : (
        <ul data-testid="failure-items">
          {q.data.failures.map((f, i) => (
            <FailureItem key={`${f.externalId ?? ''}-${String(i)}`} f={f} />
          ))}
        </ul>
      )}
      {stored > GROUP_PAGE_SIZE ? (
        <Pagination page={page} limit={GROUP_PAGE_SIZE} total={stored} onPage={setPage} label={`Pages of ${group.code} failures`} />
      ) : null}
      {notStored > 0 && stored > 0 ? <p className="muted">…and {notStored} more not stored (only the first 1000 of a run are kept).</p> : null}
    </div>
  );
}

function Group({ runId, group }: { runId: string; group: FailureGroup }) {
  const [open, setOpen] = useState(false);
  return (
    <details className="failure-group" data-code={group.code} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>
        <code>{group.code}</code>
        <span>
          {group.count} {group.count === 1 ? 'item' : 'items'}
        </span>
        {group.example ? <span className="failure-group__example muted">e.g. {group.example.message}</span> : null}
      </summary>
      {open ? <GroupItems runId={runId} group={group} /> : null}
    </details>
  );
}

/** Failures grouped by reason code with counts (from the server), each group expandable. */
export function FailureGroups({ run }: { run: RunDetail }) {
  const groups = [...run.failureGroups].sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
  if (groups.length === 0) return <p className="muted">{run.failedJobs > 0 ? `${String(run.failedJobs)} items failed; their reasons are not recorded yet.` : 'No item failed.'}</p>;
  return (
    <div data-testid="failure-groups">
      {groups.map((g) => (
        <Group key={g.code} runId={run._id} group={g} />
      ))}
    </div>
  );
}
