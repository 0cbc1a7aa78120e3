import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { ChangesWebhooks, Maintenance, QueueView } from '../../api/types';
import { renderApp } from '../../test/renderApp';

const running: Maintenance = { paused: false, pausedAt: null, pausedBy: null, reason: null, resumedAt: null, resumedBy: null };

const view: QueueView = {
  paused: false,
  queues: [
    { name: 'fetch', waiting: 2, active: 1, delayed: 1, nextDueAt: '2026-12-07T10:10:00.000Z' },
    { name: 'items', waiting: 7, active: 0, delayed: 0, nextDueAt: null },
  ],
  workers: [
    {
      daemon: 'host-1-ab12',
      queue: 'fetch',
      worker: 'fetcher-host-1-ab12-1',
      lastHeartbeatAt: '2026-12-07T10:00:00.000Z',
      holding: 1,
      tasks: [{ taskId: 'fetch:r1:0:2', runId: 'r1', sourceId: 'jobicy', batchNo: null, attempt: 2 }],
    },
    { daemon: 'host-2-cd34', queue: 'items', worker: 'worker-host-2-cd34-3', lastHeartbeatAt: '2026-12-07T10:00:01.000Z', holding: 0, tasks: [] },
  ],
};

describe('QueuesPage', () => {
  it('shows each queue and what every live worker is doing, linked to its run', async () => {
    const { api } = renderApp('/queues');
    act(() => api.next('getMaintenance').resolve(running));
    act(() => api.next('getQueues').resolve(view));
    const fetch = await screen.findByTestId('queue-fetch');
    expect(within(fetch).getAllByRole('cell').map((c) => c.textContent)).toEqual(['2', '1', '1', expect.stringMatching(/\S/)]);
    expect(within(screen.getByTestId('queue-items')).getAllByRole('cell')[0]).toHaveTextContent('7');
    const workers = screen.getAllByTestId('queue-worker');
    expect(workers).toHaveLength(2);
    expect(workers[0]).toHaveTextContent('host-1-ab12');
    expect(within(workers[0]!).getByRole('link', { name: 'jobicy: fetch, attempt 2' })).toHaveAttribute('href', '/runs/r1');
    expect(workers[1]).toHaveTextContent('idle');
  });

  it('pauses with a reason, then offers no second pause', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/queues');
    act(() => api.next('getMaintenance').resolve(running));
    act(() => api.next('getQueues').resolve({ paused: false, queues: [], workers: [] }));
    expect(await screen.findByTestId('no-workers')).toHaveTextContent('no daemon runs');
    await user.type(screen.getByLabelText('Reason'), 'db upgrade');
    await user.click(screen.getByRole('button', { name: 'Pause all daemons' }));
    const call = api.next('pause');
    expect(call.args).toEqual(['db upgrade']);
    act(() => call.resolve({ ...running, paused: true, pausedAt: '2026-12-07T10:00:00.000Z', pausedBy: 'admin', reason: 'db upgrade' }));
    expect(await screen.findByTestId('maintenance-banner')).toHaveTextContent('db upgrade');
    expect(screen.queryByRole('button', { name: 'Pause all daemons' })).toBeNull();
  });

  it('shows how far each changes webhook got, and why one is failing', async () => {
    const { api } = renderApp('/queues');
    act(() => api.next('getMaintenance').resolve(running));
    act(() => api.next('getQueues').resolve(view));
    const hooks: ChangesWebhooks = {
      head: 120,
      webhooks: [
        {
          id: 'board',
          target: 'board.example.com',
          sources: [],
          start: 'beginning',
          behind: 0,
          state: {
            cursor: 120,
            attempts: 0,
            lastError: null,
            nextAttemptAt: null,
            lastDeliveredAt: '2026-12-07T10:00:00.000Z',
            deliveredChanges: 120,
            deliveredBatches: 2,
          },
        },
        {
          id: 'partner',
          target: 'partner.example.org',
          sources: ['jobicy'],
          start: 'now',
          behind: 30,
          state: {
            cursor: 90,
            attempts: 3,
            lastError: 'changes webhook partner: HTTP 503',
            nextAttemptAt: '2026-12-07T10:05:00.000Z',
            lastDeliveredAt: null,
            deliveredChanges: 0,
            deliveredBatches: 0,
          },
        },
      ],
    };
    await screen.findByTestId('queue-fetch');
    const call = await waitFor(() => api.next('getChangesWebhooks'));
    act(() => call.resolve(hooks));
    const board = await screen.findByTestId('webhook-board');
    expect(board).toHaveTextContent('board.example.com');
    expect(board).toHaveTextContent('all');
    expect(board).toHaveTextContent('120 of 120');
    expect(board).toHaveTextContent('up to date');
    const partner = screen.getByTestId('webhook-partner');
    expect(partner).toHaveTextContent('jobicy');
    expect(partner).toHaveTextContent('90 of 120');
    expect(partner).toHaveTextContent('3 failed attempts: changes webhook partner: HTTP 503');
  });

  it('shows no webhook table when none is configured', async () => {
    const { api } = renderApp('/queues');
    act(() => api.next('getMaintenance').resolve(running));
    act(() => api.next('getQueues').resolve(view));
    await screen.findByTestId('queue-fetch');
    const call = await waitFor(() => api.next('getChangesWebhooks'));
    act(() => call.resolve({ head: 0, webhooks: [] }));
    expect(screen.queryByRole('table', { name: 'Changes webhooks' })).toBeNull();
  });
});
