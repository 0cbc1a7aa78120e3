import { QueryClient } from '@tanstack/react-query';
import { act, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LIVE_FIRST_PAGE, queryKeys } from '../api/queryKeys';
import type { ImportRun, Page } from '../api/types';
import { makeInitial, makePage, makeRun } from '../test/factories';
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
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(logs) }));
    expect(hook.result.current.state).toBe('live');
    expect(firstPage(queryClient)?.items.map((r) => r._id)).toEqual(['a']);
  });

  it('reconnects with growing backoff, says offline after repeated failures, and resyncs', async () => {
    const { hook, sockets, queryClient } = setup();
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([makeRun({ _id: 'a' })])) }));

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
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(snapshot) }));
    expect(hook.result.current.state).toBe('live');
    expect(hook.result.current.attempt).toBe(0);
    expect(firstPage(queryClient)?.items.map((r) => r._id)).toEqual(['b']);
    // Pages the sync cannot place rows in are refetched in the background; page 1 is not.
    expect(queryClient.getQueryState(queryKeys.runs.list({ page: 2, limit: 20 }))?.isInvalidated).toBe(true);
    expect(queryClient.getQueryState(queryKeys.runs.list(LIVE_FIRST_PAGE))?.isInvalidated).toBe(false);
  });

  it('after a reconnect, syncs from the last serverTime with the versions it holds, and applies the answer', async () => {
    const { sockets, queryClient } = setup();
    const held = makeRun({ _id: 'a', status: 'running', version: 2, importDateTime: '2026-11-30T08:00:00Z' });
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([held]), { serverTime: 'T1' }) }));
    queryClient.setQueryData(queryKeys.runs.detail('z'), { ...makeRun({ _id: 'z', version: 7 }), failureGroups: [] });
    expect(sockets.last.sent.filter((e) => e.event === 'sync')).toEqual([]);

    act(() => sockets.last.drop());
    await act(() => vi.advanceTimersByTimeAsync(100));
    // Reconnected: the new snapshot no longer shows `a` on page 1 (newer runs pushed it down).
    const newer = makeRun({ _id: 'n', version: 1, importDateTime: '2026-11-30T09:00:00Z' });
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([newer]), { serverTime: 'T2' }) }));
    const sync = sockets.last.sent.find((e) => e.event === 'sync');
    expect(sync).toEqual({ event: 'sync', data: { since: 'T1', runs: { a: 2, z: 7 } } });

    const settled = { ...held, status: 'completed' as const, version: 5, totalFetched: 5 };
    act(() => sockets.last.emit({ event: 'sync_result', data: { runs: [settled], serverTime: 'T3', hasMore: false } }));
    expect(queryClient.getQueryData<ImportRun>(queryKeys.runs.detail('a'))).toBeUndefined();
    // Page 1 keeps the snapshot's order: `a` is older than the top row, so it is not inserted.
    expect(firstPage(queryClient)?.items.map((r) => r._id)).toEqual(['n']);

    // The next reconnect syncs from the serverTime of the last sync_result.
    act(() => sockets.last.drop());
    await act(() => vi.advanceTimersByTimeAsync(100));
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([newer]), { serverTime: 'T4' }) }));
    expect(sockets.last.sent.find((e) => e.event === 'sync')).toMatchObject({ data: { since: 'T3' } });
  });

  it('asks again from the last run while the sync says hasMore', () => {
    const { sockets } = setup();
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([])) }));
    const r = makeRun({ _id: 'm', updatedAt: '2026-11-30T05:30:00.000Z' });
    act(() => sockets.last.emit({ event: 'sync_result', data: { runs: [r], serverTime: 'T9', hasMore: true } }));
    expect(sockets.last.sent.at(-1)).toEqual({ event: 'sync', data: { since: '2026-11-30T05:30:00.000Z' } });
  });

  it('updates a subscribed run detail from run_progress and resubscribes after a reconnect', async () => {
    const { hook, sockets, queryClient } = setup();
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([])) }));
    let unsubscribe: () => void = () => undefined;
    act(() => {
      unsubscribe = hook.result.current.subscribeRun('r');
    });
    expect(sockets.last.sent).toContainEqual({ event: 'subscribe_run', data: { runId: 'r' } });
    queryClient.setQueryData(queryKeys.runs.detail('r'), { ...makeRun({ _id: 'r', version: 1, status: 'running' }), failureGroups: [], failuresTotal: 0 });
    act(() =>
      sockets.last.emit({
        event: 'run_progress',
        data: { run: makeRun({ _id: 'r', version: 2, status: 'running', itemsDone: 4 }), recentFailures: [], failuresStored: 0 },
      }),
    );
    expect(queryClient.getQueryData<ImportRun>(queryKeys.runs.detail('r'))?.itemsDone).toBe(4);

    act(() => sockets.last.drop());
    await act(() => vi.advanceTimersByTimeAsync(100));
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([])) }));
    expect(sockets.last.sent).toContainEqual({ event: 'subscribe_run', data: { runId: 'r' } });
    act(() => unsubscribe());
    expect(sockets.last.sent).toContainEqual({ event: 'unsubscribe_run', data: { runId: 'r' } });
  });

  it('pings while live and reconnects when a ping goes unanswered', async () => {
    const queryClient = new QueryClient();
    const sockets = new FakeSocketFactory();
    renderHook(() =>
      useImportStream({ token: 't', queryClient, ledger: new RunLedger(), createSocket: sockets.create, backoff: POLICY, random: () => 1, heartbeatMs: 1000 }),
    );
    act(() => sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([])) }));
    await act(() => vi.advanceTimersByTimeAsync(1000));
    expect(sockets.last.sent.at(-1)).toEqual({ event: 'ping' });
    act(() => sockets.last.emit({ event: 'pong' }));
    await act(() => vi.advanceTimersByTimeAsync(1000));
    expect(sockets.sockets).toHaveLength(1);
    await act(() => vi.advanceTimersByTimeAsync(1000));
    expect(sockets.last.closedByClient).toBe(true);
    await act(() => vi.advanceTimersByTimeAsync(100));
    expect(sockets.sockets).toHaveLength(2);
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
      sockets.last.emit({ event: 'initial_data', data: makeInitial(makePage([])) });
      sockets.last.emit({ event: 'import_history_update', data: run });
      sockets.last.emit({ event: 'import_history_update', data: { ...run, version: 4, status: 'running' } });
    });
    expect(queryClient.getQueryData<ImportRun>(queryKeys.runs.detail('x'))).toBeUndefined();
    expect(firstPage(queryClient)?.items[0]?.status).toBe('completed');
    expect(firstPage(queryClient)?.items.map((r) => r._id)).toEqual(['x']);
  });

  it('surfaces server error events and ignores messages it does not understand', () => {
    const { hook, sockets } = setup();
    act(() => {
      sockets.last.onmessage?.(new MessageEvent('message', { data: 'not json' }));
      sockets.last.emit({ event: 'error', data: { code: 'ws.lagged', message: 'You fell behind' } });
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
