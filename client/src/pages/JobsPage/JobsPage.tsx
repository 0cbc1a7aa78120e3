import { useEffect, useState } from 'react';
import { useSearchParams } from 'react-router';
import { useJobs } from '../../api/hooks';
import { isApiError } from '../../api/errors';
import { ErrorMessage } from '../../components/ErrorMessage/ErrorMessage';
import { Pagination } from '../../components/Pagination/Pagination';
import { JobDetail } from './JobDetail/JobDetail';

const LIMIT = 20;
const DEBOUNCE_MS = 300;

export function JobsPage() {
  const [search, setSearch] = useSearchParams();
  const q = search.get('q') ?? '';
  const page = Math.max(1, Number(search.get('page')) || 1);
  const selectedId = search.get('job');
  const [draft, setDraft] = useState(q);

  // Typing updates the URL (and so the query) once the user pauses.
  useEffect(() => {
    if (draft === q) return;
    const t = setTimeout(() => {
      setSearch(
        (prev) => {
          const next = new URLSearchParams(prev);
          if (draft) next.set('q', draft);
          else next.delete('q');
          next.delete('page');
          next.delete('job');
          return next;
        },
        { replace: true },
      );
    }, DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [draft, q, setSearch]);

  const jobs = useJobs({ q, page, limit: LIMIT });
  const items = jobs.data?.items ?? [];
  const selected = items.find((j) => j._id === selectedId) ?? null;
  const unavailable = isApiError(jobs.error) && jobs.error.isNotFound;

  const setParam = (key: string, value: string | null) =>
    setSearch((prev) => {
      const next = new URLSearchParams(prev);
      if (value) next.set(key, value);
      else next.delete(key);
      return next;
    });

  return (
    <section aria-labelledby="jobs-title">
      <div className="page-head">
        <h1 id="jobs-title">Jobs</h1>
        <form role="search" onSubmit={(e) => e.preventDefault()} className="filters">
          <div className="field field--inline">
            <label htmlFor="jobs-q">Search</label>
            <input id="jobs-q" type="search" value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="title, company…" />
          </div>
        </form>
      </div>

      {unavailable ? (
        <div className="alert alert--info" role="status">
          The jobs API is not available on this daemon yet.
        </div>
      ) : jobs.isError ? (
        <ErrorMessage error={jobs.error} title="Could not load jobs" onRetry={() => void jobs.refetch()} />
      ) : null}
      {jobs.isPending ? <p className="muted">Loading jobs…</p> : null}

      {jobs.data ? (
        <div className="jobs">
          <div>
            {items.length === 0 ? <p className="empty">{q ? `No job matches “${q}”.` : 'No jobs imported yet.'}</p> : null}
            <ul className="job-list" aria-label="Jobs">
              {items.map((j) => (
                <li key={j._id}>
                  <button
                    type="button"
                    className="job-item"
                    aria-current={j._id === selectedId ? 'true' : undefined}
                    onClick={() => setParam('job', j._id)}
                  >
                    <span className="job-item__title">{j.title}</span>
                    <span className="job-item__meta">
                      {[j.company, j.locations.join(', '), j.status === 'closed' ? 'closed' : null].filter(Boolean).join(' · ')}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
            <Pagination page={page} limit={LIMIT} total={jobs.data.total} onPage={(p) => setParam('page', p > 1 ? String(p) : null)} label="Job pages" />
          </div>
          <div aria-live="polite">
            {selected ? <JobDetail job={selected} /> : <p className="muted">Select a job to read its description.</p>}
          </div>
        </div>
      ) : null}
    </section>
  );
}
