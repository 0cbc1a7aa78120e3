import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { AlertChannels, AlertDelivery } from '../../../api/types';
import { ApiError } from '../../../api/errors';
import { makeSource } from '../../../test/factories';
import { renderApp } from '../../../test/renderApp';
import { SOURCE_ALERTS_LIMIT } from './SourceAlerts';

function delivery(over: Partial<AlertDelivery> = {}): AlertDelivery {
  return {
    _id: 'jobicy-all:run_failed:1:opened:ops',
    sourceId: 'jobicy-all',
    channelId: 'ops',
    message: {
      incidentId: 'jobicy-all:run_failed:1',
      sourceId: 'jobicy-all',
      event: 'run_failed',
      transition: 'opened',
      detail: 'run r1 failed',
      runId: 'r1',
      at: '2026-12-01T10:00:00.000Z',
    },
    status: 'sent',
    attempts: 1,
    createdAt: '2026-12-01T10:00:00.000Z',
    nextAt: null,
    sentAt: '2026-12-01T10:00:01.000Z',
    lastError: null,
    ...over,
  };
}

const CHANNELS: AlertChannels = {
  channels: [
    { id: 'ops', kind: 'webhook', target: 'hooks.example.com', signed: true },
    { id: 'mail', kind: 'email', target: 'smtp.example.com -> ops@example.com', signed: false },
  ],
  canSendTest: true,
};

async function openCard() {
  const rendered = renderApp('/sources');
  const { api } = rendered;
  act(() => api.next('listSources').resolve({ items: [makeSource()] }));
  await waitFor(() => expect(api.pendingCount('listAlertDeliveries')).toBeGreaterThan(0));
  return rendered;
}

describe('SourceAlerts on a source card', () => {
  it('lists the latest deliveries of that source with their outcome, attempts and last error', async () => {
    const { api } = await openCard();
    const call = api.next('listAlertDeliveries');
    expect(call.args[0]).toEqual({ source: 'jobicy-all', limit: SOURCE_ALERTS_LIMIT });
    act(() =>
      call.resolve([
        delivery({
          _id: 'd2',
          message: { ...delivery().message, transition: 'recovered' },
          status: 'pending',
          attempts: 2,
          sentAt: null,
          nextAt: '2026-12-01T11:00:00.000Z',
          lastError: 'channel ops: HTTP 500',
        }),
        delivery({ _id: 'd1', attempts: 3 }),
      ]),
    );
    const box = await screen.findByTestId('source-alerts');
    await waitFor(() => expect(within(box).getAllByTestId('alert-delivery')).toHaveLength(2));
    const [pending, sent] = within(box).getAllByTestId('alert-delivery');
    expect(pending).toHaveTextContent('run failed recovered');
    expect(pending).toHaveTextContent('pending');
    expect(pending).toHaveTextContent('after 2 attempts');
    expect(pending).toHaveTextContent('channel ops: HTTP 500');
    expect(sent).toHaveTextContent('run failed opened');
    expect(sent).toHaveTextContent('to ops');
    expect(sent).toHaveTextContent('after 3 attempts');
    expect(sent).not.toHaveTextContent('HTTP 500');
  });

  it('says when nothing was sent, and offers no test to a token that may only read', async () => {
    const { api } = await openCard();
    act(() => api.next('listAlertDeliveries').resolve([]));
    await waitFor(() => expect(api.pendingCount('listAlertChannels')).toBeGreaterThan(0));
    act(() => api.next('listAlertChannels').resolve({ ...CHANNELS, canSendTest: false }));
    const box = await screen.findByTestId('source-alerts');
    await waitFor(() => expect(box).toHaveTextContent('none sent'));
    expect(within(box).queryByRole('button', { name: 'Send test' })).toBeNull();
  });

  it('sends a test to the chosen channel for this source and refreshes the history', async () => {
    const user = userEvent.setup();
    const { api } = await openCard();
    act(() => api.next('listAlertDeliveries').resolve([]));
    await waitFor(() => expect(api.pendingCount('listAlertChannels')).toBeGreaterThan(0));
    act(() => api.next('listAlertChannels').resolve(CHANNELS));
    const box = await screen.findByTestId('source-alerts');
    const button = await within(box).findByRole('button', { name: 'Send test' });
    await user.selectOptions(within(box).getByLabelText('Channel'), 'mail');
    await user.click(button);
    const send = api.next('sendAlertTest');
    expect(send.args).toEqual(['mail', 'jobicy-all']);
    act(() => send.resolve({ deliveryId: 'test:1:test:mail' }));
    await waitFor(() => expect(within(box).getByRole('status')).toHaveTextContent('Test queued'));
    // The history is asked again and shows the test.
    await waitFor(() => expect(api.pendingCount('listAlertDeliveries')).toBeGreaterThan(0));
    act(() =>
      api.next('listAlertDeliveries').resolve([
        delivery({
          _id: 'test:1:test:mail',
          channelId: 'mail',
          message: { ...delivery().message, event: null, transition: 'test', runId: null },
          status: 'pending',
          attempts: 0,
          sentAt: null,
        }),
      ]),
    );
    await waitFor(() => expect(within(box).getByTestId('alert-delivery')).toHaveTextContent('test message to mail'));
  });

  it('shows why a test could not be queued', async () => {
    const user = userEvent.setup();
    const { api } = await openCard();
    act(() => api.next('listAlertDeliveries').resolve([]));
    await waitFor(() => expect(api.pendingCount('listAlertChannels')).toBeGreaterThan(0));
    act(() => api.next('listAlertChannels').resolve({ ...CHANNELS, channels: [CHANNELS.channels[0]!] }));
    const box = await screen.findByTestId('source-alerts');
    // One channel: no choice to make.
    expect(within(box).queryByLabelText('Channel')).toBeNull();
    await user.click(await within(box).findByRole('button', { name: 'Send test' }));
    const send = api.next('sendAlertTest');
    expect(send.args).toEqual(['ops', 'jobicy-all']);
    act(() => send.reject(new ApiError(404, { code: 'not_found', message: 'no alert channel `ops`' })));
    await waitFor(() => expect(within(box).getByRole('alert')).toHaveTextContent('no alert channel'));
  });
});
