import { useJob, useJobs } from '../../api/hooks';
import { isApiError } from '../../api/errors';
import { ErrorMessage } from '../../components/ErrorMessage/ErrorMessage';
import { Pagination } from '../../components/Pagination/Pagination';
import { JobDetail } from './JobDetail/JobDetail';
import { JobFilters } from './JobFilters/JobFilters';
import { ExportButtons } from './ExportButtons/ExportButtons';
import { JOBS_LIMIT, useJobsParams } from './useJobsParams';

export function JobsPage() {
  const { params, raw, selectedId, filtered, set } = useJobsParams();
  const jobs = useJobs(params);
  const detail = useJob(selectedId);
  const items = jobs.data?.items ?? [];
  // The list row shows at once; the full document (GET /api/jobs/{id}) replaces it.
  const selected = detail.data ?? items.find((j) => j._id === selectedId) ?? null;
  const unavailable = isApiError(jobs.error) && jobs.error.isNotFound;

  return (
    <section aria-labelledby="jobs-title">
      <div className="page-head">
        <h1 id="jobs-title">Jobs</h1>
        {jobs.data ? (
          <p className="muted" role="status">
            {jobs.data.total.toLocaleString()} {jobs.data.total === 1 ? 'job' : 'jobs'}
          </p>
        ) : null}
        <ExportButtons params={params} />
      </div>
      <JobFilters raw={raw} set={set} filtered={filtered} />

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
          <div aria-busy={jobs.isFetching}>
            {items.length === 0 ? <p className="empty">{filtered ? 'No job matches this search.' : 'No jobs imported yet.'}</p> : null}
            <ul className="job-list" aria-label="Jobs">
              {items.map((j) => (
                <li key={j._id}>
                  <button
                    type="button"
                    className="job-item"
                    data-testid="job-item"
                    aria-current={j._id === selectedId ? 'true' : undefined}
                    onClick={() => set({ job: j._id })}
                  >
                    <span className="job-item__title">{j.title}</span>
                    <span className="job-item__meta">
                      {[j.company, j.locations.join(', '), j.remote ? 'remote' : null, j.status === 'closed' ? 'closed' : null].filter(Boolean).join(' · ')}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
            <Pagination page={params.page} limit={JOBS_LIMIT} total={jobs.data.total} onPage={(p) => set({ page: p > 1 ? String(p) : null })} label="Job pages" />
          </div>
          <div aria-live="polite">
            {detail.isError && !selected ? <ErrorMessage error={detail.error} title="Could not load the job" /> : null}
            {selected ? <JobDetail job={selected} /> : <p className="muted">Select a job to read its description.</p>}
          </div>
        </div>
      ) : null}
    </section>
  );
}
