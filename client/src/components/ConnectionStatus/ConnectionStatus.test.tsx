import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveProvider } from '../../live/LiveContext';
import { makeInitial, makePage } from '../../test/factories';
import { FakeSocketFactory } from '../../test/fakeSocket';
import { ConnectionStatus, RECONNECTED_NOTICE_MS } from './ConnectionStatus';

function renderStatus() {
  const sockets = new FakeSocketFactory();
  render(
    <QueryClientProvider client={new QueryClient()}>
      <LiveProvider token="tok" createSocket={sockets.create} backoff={{ baseMs: 100, maxMs: 1000, offlineAfter: 5 }}>
        <ConnectionStatus />
      </LiveProvider>
    </QueryClientProvider>,
  );
  return sockets;
}

describe('ConnectionStatus', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('says "reconnected" for a while after the server asked the view to reconnect and it resynced', async () => {
    const sockets = renderStatus();
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([]), { serverTime: 'T1' }) }));
    expect(screen.getByTestId('connection-status')).toHaveAttribute('data-state', 'live');
    expect(screen.queryByTestId('connection-reconnected')).toBeNull();

    // The server dropped this view for falling behind (1013, try again later).
    act(() => sockets.last.drop(1013));
    expect(screen.getByTestId('connection-status')).toHaveAttribute('data-state', 'reconnecting');
    await act(() => vi.advanceTimersByTimeAsync(100));
    expect(sockets.sockets).toHaveLength(2);
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([]), { serverTime: 'T2' }) }));

    expect(screen.getByTestId('connection-status')).toHaveAttribute('data-state', 'live');
    const notice = screen.getByTestId('connection-reconnected');
    expect(notice).toHaveTextContent('reconnected');
    expect(notice.getAttribute('title')).toContain('falling behind');
    expect(sockets.last.sent).toContainEqual({ event: 'sync', data: { since: 'T1', runs: {} } });

    await act(() => vi.advanceTimersByTimeAsync(RECONNECTED_NOTICE_MS + 1000));
    expect(screen.queryByTestId('connection-reconnected')).toBeNull();
  });

  it('tells a lost connection from one the server closed', async () => {
    const sockets = renderStatus();
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([])) }));
    act(() => sockets.last.drop(1006));
    await act(() => vi.advanceTimersByTimeAsync(100));
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([])) }));
    expect(screen.getByTestId('connection-reconnected').getAttribute('title')).toContain('connection was lost');
  });
});
