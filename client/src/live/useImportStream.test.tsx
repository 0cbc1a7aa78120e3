import { QueryClient } from '@tanstack/react-query';
import { act, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LIVE_FIRST_PAGE, queryKeys } from '../api/queryKeys';
import type { ImportRun, Page } from '../api/types';
import { makePage, makeRun } from '../test/factories';
import { FakeSocketFactory } from '../test/fakeSocket';
import { RunLedger } from './RunLedger';
import { backoffDelay, useImportStream, type BackoffPolicy } from './useImportStream';

const POLICY: BackoffPolicy = { baseMs: 100, maxMs: 1000, offlineAfter: 3 };

function setup(token: string | null = 'tok') {
  const queryClient = new QueryClient();
  const ledger = new RunLedger();
  const sockets = new FakeSocketFactory();
  const onUnauthorized = vi.fn();
  const hook = renderHook(
    ({ t }) =>
      useImportStream({
        token: t,
        queryClient,
        ledger,
        createSocket: sockets.create,
        socketUrl: (tk) => `ws://test/ws?token=${tk}`,
        backoff: POLICY,
        random: () => 1,
        onUnauthorized,
      }),
    { initialProps: { t: token } },
  );
  return { hook, queryClient, sockets, onUnauthorized };
}

const firstPage = (qc: QueryClient) => qc.getQueryData<Page<ImportRun>>(queryKeys.runs.list(LIVE_FIRST_PAGE));

describe('useImportStream', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('connects with the token and goes live on initial_data, which fills page 1', () => {
    const { hook, sockets, queryClient } = setup();
    expect(hook.result.current.state).toBe('connecting');
    expect(sockets.last.url).toBe('ws://test/ws?token=tok');

    const logs = makePage([makeRun({ _id: 'a' })]);
    act(() => sockets.last.send({ event: 'initial_data', data: { logs } }));
    expect(hook.result.current.state).toBe('live');
    expect(firstPage(queryClient)?.items.map((r) => r._id)).toEqual(['a']);
  });

  it('reconnects with growing backoff, says offline after repeated failures, and resyncs', async () => {
    const { hook, sockets, queryClient } = setup();
    act(() => sockets.last.send({ event: 'initial_data', data: { logs: makePage([makeRun({ _id: 'a' })]) } }));

    // Another cached query must be refetched after the resync.
    queryClient.setQueryData(queryKeys.runs.list({ page: 2, limit: 20 }), makePage([]));

    act(() => sockets.last.drop());
    expect(hook.result.current.state).toBe('reconnecting');
    expect(sockets.sockets).toHaveLength(1);
    await act(() => vi.advanceTimersByTimeAsync(99));
    expect(sockets.sockets).toHaveLength(1);
    await act(() => vi.advanceTimersByTimeAsync(1));
    expect(sockets.sockets).toHaveLength(2);

    act(() => sockets.last.drop());
    await act(() => vi.advanceTimersByTimeAsync(200));
    expect(sockets.sockets).toHaveLength(3);
    act(() => sockets.last.drop());
    expect(hook.result.current.state).toBe('offline');
    expect(backoffDelay(3, POLICY, () => 1)).toBe(400);
    await act(() => vi.advanceTimersByTimeAsync(400));
    expect(sockets.sockets).toHaveLength(4);

    const snapshot = makePage([makeRun({ _id: 'b', importDateTime: '2026-11-30T09:00:00Z' })]);
    act(() => sockets.last.send({ event: 'initial_data', data: { logs: snapshot } }));
    expect(hook.result.current.state).toBe('live');
    expect(hook.result.current.attempt).toBe(0);
    expect(firstPage(queryClient)?.items.map((r) => r._id)).toEqual(['b']);
    expect(queryClient.getQueryState(queryKeys.runs.list({ page: 2, limit: 20 }))?.isInvalidated).toBe(true);
    expect(queryClient.getQueryState(queryKeys.runs.list(LIVE_FIRST_PAGE))?.isInvalidated).toBe(false);
  });

  it('stops and asks for sign-in when the server closes for a refused token', () => {
    const { hook, sockets, onUnauthorized } = setup();
    act(() => sockets.last.drop(4401));
    expect(onUnauthorized).toHaveBeenCalledOnce();
    expect(hook.result.current.state).toBe('offline');
    act(() => {
      vi.advanceTimersByTime(60_000);
    });
    expect(sockets.sockets).toHaveLength(1);
  });

  it('keeps the newest version of a run in its detail entry', () => {
    const { sockets, queryClient } = setup();
    const run = makeRun({ _id: 'x', version: 5, status: 'completed' });
    act(() => {
      sockets.last.send({ event: 'initial_data', data: { logs: makePage([]) } });
      sockets.last.send({ event: 'import_history_update', data: run });
      sockets.last.send({ event: 'import_history_update', data: { ...run, version: 4, status: 'running' } });
    });
    expect(queryClient.getQueryData<ImportRun>(queryKeys.runs.detail('x'))?.status).toBe('completed');
    expect(firstPage(queryClient)?.items.map((r) => r._id)).toEqual(['x']);
  });

  it('surfaces server error events and ignores messages it does not understand', () => {
    const { hook, sockets } = setup();
    act(() => {
      sockets.last.onmessage?.(new MessageEvent('message', { data: 'not json' }));
      sockets.last.send({ event: 'error', data: { code: 'ws.lagged', message: 'You fell behind' } });
    });
    expect(hook.result.current.lastError?.message).toBe('You fell behind');
  });

  it('closes the socket on unmount and does not reconnect', () => {
    const { hook, sockets } = setup();
    sockets.last.open();
    hook.unmount();
    expect(sockets.last.closedByClient).toBe(true);
    act(() => {
      vi.advanceTimersByTime(10_000);
    });
    expect(sockets.sockets).toHaveLength(1);
  });

  it('stays offline without a token', () => {
    const { hook, sockets } = setup(null);
    expect(hook.result.current.state).toBe('offline');
    expect(sockets.sockets).toHaveLength(0);
  });
});
