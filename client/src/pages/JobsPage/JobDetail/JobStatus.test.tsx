import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Job } from '../../../api/types';
import { JobStatus } from './JobStatus';

const base: Job = {
  _id: 'j1',
  externalId: 'x',
  publisher: 'p',
  title: 'Dev',
  company: null,
  locations: [],
  remote: null,
  employmentType: null,
  categories: [],
  descriptionHtml: null,
  url: null,
  datePosted: null,
  status: 'open',
  sources: [],
  firstSeenAt: '2026-11-01T00:00:00Z',
  updatedAt: '2026-11-01T00:00:00Z',
  lastSeenAt: '2026-11-01T00:00:00Z',
  logoUrl: null,
  validThrough: null,
  closedAt: null,
  closedReason: null,
  reopenedAt: null,
};

const renderStatus = (job: Job, now = Date.parse('2026-12-01T00:00:00Z')) =>
  render(
    <dl>
      <JobStatus job={job} now={now} />
    </dl>,
  );

describe('JobStatus', () => {
  it('says why and when a closed job was closed', () => {
    renderStatus({ ...base, status: 'closed', closedReason: 'expired', closedAt: '2026-11-20T10:00:00Z' });
    const status = screen.getByTestId('job-status');
    expect(status).toHaveTextContent('closed');
    expect(status).toHaveTextContent('expired (its end date passed)');
    expect(status.querySelector('time')).toHaveAttribute('dateTime', '2026-11-20T10:00:00Z');
  });

  it('shows an open job that came back with the time it reopened', () => {
    renderStatus({ ...base, reopenedAt: '2026-11-25T08:00:00Z' });
    const status = screen.getByTestId('job-status');
    expect(status).toHaveTextContent('open');
    expect(status).toHaveTextContent('reopened');
    expect(status).not.toHaveTextContent('missing');
  });

  it('shows the end date the feed stated and whether it has passed', () => {
    const { unmount } = renderStatus({ ...base, validThrough: '2026-11-30T00:00:00Z' });
    const until = screen.getByTestId('job-valid-through');
    expect(until.querySelector('time')).toHaveAttribute('dateTime', '2026-11-30T00:00:00Z');
    expect(until).toHaveTextContent('(passed)');
    unmount();
    renderStatus({ ...base, validThrough: '2027-01-30T00:00:00Z' });
    expect(screen.getByTestId('job-valid-through')).not.toHaveTextContent('(passed)');
  });

  it('says when the feed states no end date', () => {
    renderStatus(base);
    expect(screen.getByTestId('job-valid-through')).toHaveTextContent('not stated by the feed');
  });
});
