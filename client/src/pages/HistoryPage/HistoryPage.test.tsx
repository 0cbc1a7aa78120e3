import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../api/errors';
import { makeInitial, makePage, makeRun, makeSource } from '../../test/factories';
import { renderApp } from '../../test/renderApp';

function rows() {
  return screen.queryAllByTestId('run-row');
}

describe('HistoryPage', () => {
  it('shows a loading state, then one row per run with its counts and status', async () => {
    const { api } = renderApp('/');
    expect(screen.getByText('Loading import runs…')).toBeInTheDocument();

    act(() =>
      api.next('listRuns').resolve(
        makePage([
          makeRun({ _id: 'r2', status: 'running', batchesTotal: 4, batchesDone: 1, itemsDone: 25, importDateTime: '2026-11-30T06:00:00Z' }),
          makeRun({ _id: 'r1', totalFetched: 50, newJobs: 40, updatedJobs: 8, failedJobs: 2 }),
        ]),
      ),
    );

    await waitFor(() => expect(rows()).toHaveLength(2));
    const [running, done] = rows();
    expect(running).toHaveAttribute('data-run-id', 'r2');
    expect(running).toHaveAttribute('data-status', 'running');
    expect(within(running!).getByRole('progressbar')).toHaveAttribute('aria-label', '25 items, batch 1 of 4');
    expect(done!.querySelector('[data-col="total"]')).toHaveTextContent('50');
    expect(done!.querySelector('[data-col="new"]')).toHaveTextContent('40');
    expect(done!.querySelector('[data-col="updated"]')).toHaveTextContent('8');
    expect(done!.querySelector('[data-col="failed"]')).toHaveTextContent('2');
    expect(done!.querySelector('time')).toHaveAttribute('title', '2026-11-30T05:00:00.000Z');
  });

  it('reads the page and filters from the query string', async () => {
    const { api } = renderApp('/?status=failed&source=jobicy-all&page=3');
    const call = api.next('listRuns');
    expect(call.args[0]).toMatchObject({ page: 3, limit: 20, status: 'failed', source: 'jobicy-all' });
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    act(() => call.resolve(makePage([], { page: 3, total: 0 })));
    expect(await screen.findByText('No runs match these filters.')).toBeInTheDocument();
    expect(screen.getByLabelText('Status')).toHaveValue('failed');
  });

  it('filters by a date range in the viewer\'s zone and sorts by failures, all from the URL', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/?from=2026-11-01&to=2026-11-30&sort=failures');
    const call = api.next('listRuns');
    expect(call.args[0]).toEqual({
      page: 1,
      limit: 20,
      source: undefined,
      status: undefined,
      from: new Date('2026-11-01T00:00:00').toISOString(),
      to: new Date('2026-11-30T23:59:59.999').toISOString(),
      sort: 'failures',
    });
    expect(screen.getByLabelText('From')).toHaveValue('2026-11-01');
    expect(screen.getByLabelText('Order')).toHaveValue('failures');
    await user.click(screen.getByRole('button', { name: 'Clear filters' }));
    await waitFor(() => expect(api.calls.filter((c) => c.method === 'listRuns').at(-1)?.args[0]).toMatchObject({ from: undefined, sort: undefined }));
  });

  it('puts a new run on top and patches rows from the socket without refetching', async () => {
    const { api, sockets } = renderApp('/');
    act(() => api.next('listRuns').resolve(makePage([makeRun({ _id: 'old', version: 3 })])));
    await waitFor(() => expect(rows()).toHaveLength(1));

    const socket = sockets.last;
    expect(socket.url).toContain('token=test-token');
    act(() => {
      socket.open();
      socket.emit({ event: 'initial_data', data: makeInitial(makePage([makeRun({ _id: 'old', version: 3 })])) });
    });
    expect(screen.getByTestId('connection-status')).toHaveAttribute('data-state', 'live');

    const fresh = makeRun({ _id: 'new', status: 'queued', importDateTime: '2026-11-30T07:00:00Z', version: 1, totalFetched: 0 });
    act(() => socket.emit({ event: 'import_history_update', data: fresh }));
    await waitFor(() => expect(rows()[0]).toHaveAttribute('data-run-id', 'new'));

    act(() => socket.emit({ event: 'import_history_update', data: { ...fresh, status: 'completed', totalFetched: 5, version: 3 } }));
    await waitFor(() => expect(rows()[0]).toHaveAttribute('data-status', 'completed'));
    // A late, older version must not roll the row back.
    act(() => socket.emit({ event: 'import_history_update', data: { ...fresh, status: 'running', version: 2 } }));
    expect(rows()[0]).toHaveAttribute('data-status', 'completed');
    expect(rows()[0]!.querySelector('[data-col="total"]')).toHaveTextContent('5');

    expect(api.calls.filter((c) => c.method === 'listRuns')).toHaveLength(1);
  });

  it('shows the server message when the history cannot be loaded', async () => {
    const { api } = renderApp('/');
    act(() => api.next('listRuns').reject(new ApiError(403, { code: 'auth.forbidden', message: 'Admins only.' })));
    expect(await screen.findByRole('alert')).toHaveTextContent('Admins only.');
  });

  it('asks for a token when the API answers 401', async () => {
    const user = userEvent.setup();
    const { api, sockets } = renderApp('/');
    act(() => sockets.last.open());
    act(() => api.next('listRuns').reject(new ApiError(401, { code: 'auth.invalid_token', message: 'Bad token' })));
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    await waitFor(() => expect(sockets.last.closedByClient).toBe(true));
    expect(screen.getByTestId('connection-status')).toHaveAttribute('data-state', 'offline');

    await user.type(screen.getByLabelText('Token'), 'good-token');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(sockets.last.url).toContain('token=good-token'));
    expect(api.pendingCount('listRuns')).toBeGreaterThan(0);
  });
});
