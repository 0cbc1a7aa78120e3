import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../api/errors';
import type { Maintenance } from '../../api/types';
import { makeInitial, makePage } from '../../test/factories';
import { renderApp } from '../../test/renderApp';

const running: Maintenance = { paused: false, pausedAt: null, pausedBy: null, reason: null, resumedAt: null, resumedBy: null };
const paused: Maintenance = { ...running, paused: true, pausedAt: '2026-12-07T09:00:00.000Z', pausedBy: 'cli', reason: 'db upgrade' };

describe('MaintenanceBanner', () => {
  it('appears on every page while paused, follows the socket, and resumes', async () => {
    const user = userEvent.setup();
    const { api, sockets } = renderApp('/audit');
    act(() => api.next('getMaintenance').resolve(running));
    // Let the answer land before the socket's newer state.
    await act(() => Promise.resolve());
    expect(screen.queryByTestId('maintenance-banner')).toBeNull();

    // Another daemon (or the command line) paused: the socket says so.
    act(() => sockets.last.emit({ event: 'maintenance', data: paused }));
    const banner = await screen.findByTestId('maintenance-banner');
    expect(banner).toHaveTextContent('Paused for maintenance');
    expect(banner).toHaveTextContent('by the command line: db upgrade');

    await user.click(screen.getByRole('button', { name: 'Resume' }));
    act(() => api.next('resume').resolve({ ...paused, paused: false, resumedAt: '2026-12-07T10:00:00.000Z', resumedBy: 'admin' }));
    await waitFor(() => expect(screen.queryByTestId('maintenance-banner')).toBeNull());
  });

  it('shows the state initial_data carries, and a refused resume says why', async () => {
    const user = userEvent.setup();
    const { api, sockets } = renderApp('/');
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([]), { maintenance: paused }) }));
    expect(await screen.findByTestId('maintenance-banner')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Resume' }));
    act(() => api.next('resume').reject(new ApiError(403, { code: 'auth.read_only', message: 'this token may only read; changes need the admin token' })));
    expect(await screen.findByText(/may only read/)).toBeInTheDocument();
    expect(screen.getByTestId('maintenance-banner')).toBeInTheDocument();
  });
});
