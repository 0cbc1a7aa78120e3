import type { ImportRun } from '../../../api/types';
import { groupFailures } from './groupFailures';

export function FailureGroups({ run }: { run: ImportRun }) {
  const groups = groupFailures(run);
  if (groups.length === 0) return <p className="muted">No item failed.</p>;
  return (
    <div data-testid="failure-groups">
      {groups.map((g) => (
        <details key={g.code} className="failure-group" data-code={g.code}>
          <summary>
            <code>{g.code}</code>
            <span>
              {g.count} {g.count === 1 ? 'item' : 'items'}
            </span>
          </summary>
          {g.items.length === 0 ? (
            <p className="muted">Item details were not kept (only the first 1000 failures are stored).</p>
          ) : (
            <ul>
              {g.items.map((f, i) => (
                <li key={`${f.externalId ?? ''}-${i}`}>
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
              ))}
              {g.items.length < g.count ? (
                <li className="muted">…and {g.count - g.items.length} more not listed (only the first 1000 are kept).</li>
              ) : null}
            </ul>
          )}
        </details>
      ))}
    </div>
  );
}
