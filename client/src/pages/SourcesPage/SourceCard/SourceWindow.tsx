import type { Source } from '../../../api/types';
import { EXPIRY_LABELS } from '../../../lib/expiry';
import { formatDateTime } from '../../../lib/format';

function At({ iso }: { iso: string | null }) {
  if (!iso) return <>—</>;
  return (
    <time dateTime={iso} title={iso}>
      {formatDateTime(iso)}
    </time>
  );
}

/** How a source's jobs expire, and the span of postings its last complete run covered. */
export function SourceWindow({ source }: { source: Source }) {
  const mode = EXPIRY_LABELS[source.expiry];
  const w = source.lastWindow;
  return (
    <>
      <dt>Expiry</dt>
      <dd data-testid="source-expiry" title={mode.hint}>
        {mode.title} <span className="muted">· {mode.hint}</span>
      </dd>
      <dt>Link checks</dt>
      <dd data-testid="source-link-check">
        {source.linkCheck ? 'on: jobs that left the window are checked daily' : 'off'}
      </dd>
      <dt>Window</dt>
      <dd data-testid="source-window">
        {w && w.items > 0 ? (
          <>
            {w.items} {w.items === 1 ? 'item' : 'items'} per run, from <At iso={w.oldest} /> to <At iso={w.newest} />
            {w.undated > 0 ? <span className="muted"> ({w.undated} undated)</span> : null}
          </>
        ) : w ? (
          'the last run listed nothing'
        ) : (
          'no complete run yet'
        )}
      </dd>
    </>
  );
}
