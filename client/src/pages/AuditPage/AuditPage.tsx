import { Link, useSearchParams } from 'react-router';
import { useAudit, useSources } from '../../api/hooks';
import { AUDIT_ACTIONS, type AuditAction, type AuditEntry } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage/ErrorMessage';
import { Pagination } from '../../components/Pagination/Pagination';
import { formatDateTime } from '../../lib/format';

const LIMIT = 20;

const ACTION_LABELS: Record<AuditAction, string> = {
  source_created: 'Source added',
  source_updated: 'Source edited',
  source_removed: 'Source removed',
  import_started: 'Import started',
  import_all_started: 'All sources imported',
  run_replayed: 'Run replayed',
  maintenance_paused: 'Paused for maintenance',
  maintenance_resumed: 'Resumed after maintenance',
  alert_test_sent: 'Alert test sent',
};

const ACTOR_LABELS: Record<AuditEntry['actor'], string> = {
  admin: 'admin token',
  previous_admin: 'previous admin token',
  cli: 'command line',
};

const show = (v: unknown) => (v === null || v === undefined || v === '' ? '—' : typeof v === 'string' ? v : JSON.stringify(v));

/** The audit log: who changed which source and started which run, and when. */
export function AuditPage() {
  const [search, setSearch] = useSearchParams();
  const page = Math.max(1, Number(search.get('page')) || 1);
  const source = search.get('source') || undefined;
  const action = AUDIT_ACTIONS.find((a) => a === search.get('action'));
  const audit = useAudit({ page, limit: LIMIT, source, action });
  const sources = useSources();
  const set = (k: string, v: string | undefined) =>
    setSearch((prev) => {
      const next = new URLSearchParams(prev);
      if (v) next.set(k, v);
      else next.delete(k);
      if (k !== 'page') next.delete('page');
      return next;
    });
  const items = audit.data?.items ?? [];
  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <h1 id="audit-title">Audit log</h1>
        <form className="filters" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
          <div className="field field--inline">
            <label htmlFor="audit-source">Source</label>
            <select id="audit-source" value={source ?? ''} onChange={(e) => set('source', e.target.value || undefined)}>
              <option value="">All sources</option>
              {(sources.data ?? []).map((s) => (
                <option key={s._id} value={s._id}>
                  {s.name}
                </option>
              ))}
              {source && !sources.data?.some((s) => s._id === source) ? <option value={source}>{source}</option> : null}
            </select>
          </div>
          <div className="field field--inline">
            <label htmlFor="audit-action">Action</label>
            <select id="audit-action" value={action ?? ''} onChange={(e) => set('action', e.target.value || undefined)}>
              <option value="">Any action</option>
              {AUDIT_ACTIONS.map((a) => (
                <option key={a} value={a}>
                  {ACTION_LABELS[a]}
                </option>
              ))}
            </select>
          </div>
        </form>
      </div>
      {audit.isError ? <ErrorMessage error={audit.error} title="Could not load the audit log" onRetry={() => void audit.refetch()} /> : null}
      {audit.isPending ? <p className="muted">Loading the audit log…</p> : null}
      {audit.isSuccess && items.length === 0 ? <p className="empty">No changes recorded{source || action ? ' for these filters' : ''}.</p> : null}
      <ol className="audit" aria-label="Changes, newest first">
        {items.map((e) => (
          <li key={e._id} className="card audit__entry" data-testid="audit-entry" data-action={e.action}>
            <div>
              <strong>{ACTION_LABELS[e.action]}</strong>
              {e.sourceId ? (
                <>
                  {' · '}
                  <Link to={`/audit?source=${encodeURIComponent(e.sourceId)}`}>{e.sourceId}</Link>
                </>
              ) : null}
              {e.runId ? (
                <>
                  {' · '}
                  <Link to={`/runs/${encodeURIComponent(e.runId)}`}>run</Link>
                </>
              ) : null}
            </div>
            <div className="muted">
              <time dateTime={e.at} title={e.at}>
                {formatDateTime(e.at)}
              </time>{' '}
              by the {ACTOR_LABELS[e.actor]}
              {e.detail ? ` · ${e.detail}` : ''}
            </div>
            {e.changes && e.changes.length > 0 ? (
              <table className="table audit__changes">
                <caption className="sr-only">Fields changed</caption>
                <thead>
                  <tr>
                    <th scope="col">field</th>
                    <th scope="col">before</th>
                    <th scope="col">after</th>
                  </tr>
                </thead>
                <tbody>
                  {e.changes.map((c) => (
                    <tr key={c.field}>
                      <th scope="row">{c.field}</th>
                      <td>{show(c.before)}</td>
                      <td>{show(c.after)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </li>
        ))}
      </ol>
      {audit.data ? <Pagination page={page} limit={LIMIT} total={audit.data.total} onPage={(p) => set('page', p > 1 ? String(p) : undefined)} label="Audit log pages" /> : null}
    </section>
  );
}
