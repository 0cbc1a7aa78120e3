import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../api/errors';
import type { Job } from '../../api/types';
import { renderApp } from '../../test/renderApp';

const job: Job = {
  _id: 'j1',
  externalId: '145880',
  publisher: 'jobicy',
  firstSeenAt: '2026-11-30T05:00:00Z',
  updatedAt: '2026-11-30T05:00:00Z',
  lastSeenAt: '2026-11-30T05:00:00Z',
  logoUrl: null,
  title: 'Senior Copywriter',
  company: 'Acme <b>Inc</b>',
  locations: ['Remote'],
  remote: true,
  employmentType: 'Full-Time',
  categories: ['Copywriting'],
  descriptionHtml:
    '<p>Write <strong>well</strong>.</p><img src="x" onerror="alert(1)"><script>alert(2)</script><a href="https://acme.test">site</a><a href="javascript:alert(3)">bad</a>',
  url: 'https://jobicy.com/jobs/145880-senior-copywriter',
  datePosted: '2026-11-29T10:00:00Z',
  status: 'open',
  sources: ['jobicy-all'],
  validThrough: null,
  closedAt: null,
  closedReason: null,
  reopenedAt: null,
};

describe('JobsPage', () => {
  it('says the jobs API is not there yet when it answers 404', async () => {
    const { api } = renderApp('/jobs');
    act(() => api.next('listJobs').reject(new ApiError(404, { code: 'not_found', message: 'No route' })));
    expect(await screen.findByText('The jobs API is not available on this daemon yet.')).toBeInTheDocument();
  });

  it('renders the sanitized description as HTML and every other field as text', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/jobs');
    act(() => api.next('listJobs').resolve({ items: [job], total: 1, page: 1, limit: 20 }));
    await user.click(await screen.findByRole('button', { name: /Senior Copywriter/ }));
    const full = api.next('getJob');
    expect(full.args).toEqual(['j1']);
    act(() => full.resolve({ ...job, descriptionText: 'Write well.' }));

    const detail = await screen.findByTestId('job-detail');
    expect(detail.querySelector('strong')).toHaveTextContent('well');
    expect(detail.querySelector('script')).toBeNull();
    expect(detail.querySelector('img')?.getAttribute('onerror')).toBeNull();
    expect(detail.querySelector('a[href="https://acme.test"]')).toHaveAttribute('rel', 'noreferrer noopener nofollow');
    expect(detail.querySelector('a[href^="javascript"]')).toBeNull();
    expect(screen.getAllByText(/Acme <b>Inc<\/b>/).length).toBeGreaterThan(0);
    expect(screen.getByRole('link', { name: /Open the original posting/ })).toHaveAttribute('href', job.url);
    expect(window.location.search).toBe('?job=j1');
  });

  it('sends every filter from the URL and changes them from the form', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/jobs?q=rust&remote=true&employmentType=FULL_TIME&from=2026-11-01&page=2');
    expect(api.next('listJobs').args[0]).toEqual({
      q: 'rust',
      page: 2,
      limit: 20,
      source: undefined,
      company: undefined,
      location: undefined,
      employmentType: 'FULL_TIME',
      remote: 'true',
      status: undefined,
      from: new Date('2026-11-01T00:00:00').toISOString(),
      to: undefined,
    });
    await user.selectOptions(screen.getByLabelText('Status'), 'closed');
    await waitFor(() => expect(api.calls.filter((c) => c.method === 'listJobs').at(-1)?.args[0]).toMatchObject({ status: 'closed', page: 1, q: 'rust' }));
    expect(window.location.search).toContain('status=closed');
  });
});
