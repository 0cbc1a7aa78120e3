import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../api/errors';
import { makeRun, makeSource } from '../../../test/factories';
import { renderApp } from '../../../test/renderApp';

describe('Import all enabled sources', () => {
  it('starts every enabled source and names those that were already running', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    const button = await screen.findByRole('button', { name: 'Import all enabled sources' });
    await user.click(button);
    expect(screen.getByRole('button', { name: 'Starting…' })).toBeDisabled();
    act(() =>
      api.next('importAll').resolve({
        started: [{ sourceId: 'a', run: makeRun({ _id: 'ra', sourceId: 'a' }) }],
        alreadyRunning: [{ sourceId: 'jobicy-all', runId: 'r0' }],
        failed: [],
      }),
    );
    // The list is read again (the started sources now show as running).
    await waitFor(() => expect(api.pendingCount('listSources')).toBeGreaterThan(0));
    while (api.pendingCount('listSources') > 0) {
      act(() => api.next('listSources').resolve({ items: [makeSource({ running: true })] }));
    }
    expect(await screen.findByText('1 started, 1 already running (jobicy-all)')).toBeInTheDocument();
  });

  it('shows a refusal of the rate limit', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [] }));
    await user.click(await screen.findByRole('button', { name: 'Import all enabled sources' }));
    act(() => api.next('importAll').reject(new ApiError(429, { code: 'rate_limited', message: 'at most 10 per minute' })));
    expect(await screen.findByRole('alert')).toHaveTextContent('at most 10 per minute');
  });
});
