import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../../api/errors';
import { renderApp } from '../../../test/renderApp';

describe('Job exports', () => {
  afterEach(() => vi.restoreAllMocks());

  it('downloads the jobs matching the current filters under the name the daemon gave', async () => {
    const user = userEvent.setup();
    const created = vi.fn<(b: Blob) => string>(() => 'blob:export');
    URL.createObjectURL = created;
    URL.revokeObjectURL = vi.fn();
    const clicks: string[] = [];
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push(`${this.download} ${this.href}`);
    });
    const { api } = renderApp('/jobs?q=rust&status=open&page=3');
    await user.click(await screen.findByRole('button', { name: 'Download CSV' }));
    const call = api.next('exportJobs');
    expect(call.args[1]).toBe('csv');
    expect(call.args[0]).toMatchObject({ q: 'rust', status: 'open' });
    expect(call.args[0]).not.toHaveProperty('page');
    expect(screen.getByRole('button', { name: 'Preparing CSV…' })).toBeDisabled();
    const blob = new Blob(['id\r\n'], { type: 'text/csv' });
    act(() => call.resolve({ blob, fileName: 'jobs-20261207T000000Z.csv' }));
    await waitFor(() => expect(clicks).toEqual(['jobs-20261207T000000Z.csv blob:export']));
    expect(created).toHaveBeenCalledWith(blob);
  });

  it('shows why an export was refused', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/jobs');
    await user.click(await screen.findByRole('button', { name: 'Download NDJSON' }));
    const call = api.next('exportJobs');
    expect(call.args[1]).toBe('ndjson');
    act(() => call.reject(new ApiError(400, { code: 'validation.q', message: '`q` is at most 200 printable characters' })));
    expect(await screen.findByRole('alert')).toHaveTextContent('`q` is at most 200 printable characters');
    expect(screen.getByRole('button', { name: 'Download NDJSON' })).toBeEnabled();
  });
});
