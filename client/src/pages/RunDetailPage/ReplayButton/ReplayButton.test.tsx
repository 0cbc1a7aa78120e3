import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../../api/errors';
import { makeDetail, makeRun } from '../../../test/factories';
import { renderApp } from '../../../test/renderApp';

describe('Run again', () => {
  it('replays a finished run and opens the new one, which says what it replays', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/runs/r1');
    act(() => api.next('getRun').resolve(makeDetail({ _id: 'r1', status: 'not_modified' })));
    await user.click(await screen.findByRole('button', { name: 'Run again' }));
    const call = api.next('replayRun');
    expect(call.args).toEqual(['r1']);
    act(() => call.resolve({ run: makeRun({ _id: 'r2', status: 'queued', unconditional: true, replayOf: 'r1' }) }));

    await waitFor(() => expect(api.pendingCount('getRun')).toBe(1));
    const next = api.next('getRun');
    expect(next.args[0]).toBe('r2');
    act(() => next.resolve(makeDetail({ _id: 'r2', status: 'queued', unconditional: true, replayOf: 'r1' })));
    expect(await screen.findByText(/read without cache validators/)).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'r1' })).toHaveAttribute('href', '/runs/r1');
    // The new run is in progress: it cannot be replayed yet.
    expect(screen.getByRole('button', { name: 'Run again' })).toBeDisabled();
  });

  it('says so when the source is importing already', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/runs/r1');
    act(() => api.next('getRun').resolve(makeDetail({ _id: 'r1', status: 'failed', sourceName: 'Jobicy' })));
    await user.click(await screen.findByRole('button', { name: 'Run again' }));
    act(() => api.next('replayRun').reject(new ApiError(409, { code: 'run.already_running', message: 'busy' })));
    expect(await screen.findByRole('alert')).toHaveTextContent('Jobicy is importing now');
  });
});
