import type { Job } from '../../../api/types';
import { SafeHtml } from '../../../components/SafeHtml/SafeHtml';
import { formatDateTime } from '../../../lib/format';
import { JobStatus } from './JobStatus';

export function JobDetail({ job }: { job: Job }) {
  const safeUrl = job.url && /^https?:\/\//i.test(job.url) ? job.url : null;
  return (
    <article className="card job-detail" aria-labelledby="job-title" data-testid="job-detail">
      <h2 id="job-title" style={{ marginTop: 0 }}>
        {job.title} {job.status === 'closed' ? <span className="badge badge--failed">closed</span> : null}
      </h2>
      <p className="muted">
        {[job.company, job.locations.join(', '), job.remote ? 'remote' : null, job.employmentType].filter(Boolean).join(' · ')}
      </p>
      {job.categories.length > 0 ? (
        <ul className="tags" aria-label="Categories">
          {job.categories.map((c) => (
            <li key={c}>{c}</li>
          ))}
        </ul>
      ) : null}
      <dl className="kv">
        <JobStatus job={job} />
        <dt>Posted</dt>
        <dd>{job.datePosted ? <time dateTime={job.datePosted} title={job.datePosted}>{formatDateTime(job.datePosted)}</time> : '—'}</dd>
        <dt>First seen</dt>
        <dd>
          <time dateTime={job.firstSeenAt} title={job.firstSeenAt}>
            {formatDateTime(job.firstSeenAt)}
          </time>
        </dd>
        <dt>Last seen in a feed</dt>
        <dd>
          <time dateTime={job.lastSeenAt} title={job.lastSeenAt}>
            {formatDateTime(job.lastSeenAt)}
          </time>
        </dd>
        <dt>Sources</dt>
        <dd>{job.sources.join(', ') || '—'}</dd>
        <dt>Publisher</dt>
        <dd>{job.publisher || '—'}</dd>
        <dt>External id</dt>
        <dd>
          <code>{job.externalId}</code>
        </dd>
      </dl>
      {safeUrl ? (
        <p>
          <a className="btn btn--primary btn--small" href={safeUrl} target="_blank" rel="noreferrer noopener">
            Open the original posting ↗
          </a>
        </p>
      ) : null}
      {job.descriptionHtml ? <SafeHtml html={job.descriptionHtml} className="job-detail__body" testId="job-description" /> : <p className="muted">No description.</p>}
    </article>
  );
}
