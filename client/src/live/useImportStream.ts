/**
 * THE WebSocket hook: owns the `/ws` connection, reconnects with backoff, resyncs on every
 * `initial_data` (which replaces page 1 and invalidates the rest of the cache so the view equals
 * the database) and patches cached runs with each `import_history_update`.
 * Mounted once, by <LiveProvider>.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { QueryClient } from '@tanstack/react-query';
import { normalizeRun, normalizeRunPage } from '../api/normalize';
import { LIVE_FIRST_PAGE, queryKeys, type RunListKey } from '../api/queryKeys';
import type { CodedMessage, ImportRun, Page, RunListParams, RunStatus, ServerEvent } from '../api/types';
import { applyRunToPage, newerOf } from './mergeRun';
import type { RunLedger } from './RunLedger';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline';

/** The part of the browser WebSocket we use; tests pass a fake. */
export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  readonly readyState?: number;
  close(code?: number, reason?: string): void;
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** After this many failed attempts in a row the indicator says "offline" (retries go on). */
  offlineAfter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 15_000, offlineAfter: 6 };

/** Close codes we treat as "token refused": stop retrying and ask for sign-in. */
const AUTH_CLOSE_CODES = new Set([1008, 4001, 4401, 4403]);

export interface ImportStreamOptions {
  token: string | null;
  queryClient: QueryClient;
  ledger: RunLedger;
  createSocket?: (url: string) => SocketLike;
  socketUrl?: (token: string) => string;
  backoff?: BackoffPolicy;
  onUnauthorized?: () => void;
  /** Jitter source; tests pin it. */
  random?: () => number;
}

export interface ImportStream {
  state: ConnectionState;
  /** Failed attempts since the last successful `initial_data`. */
  attempt: number;
  lastError: CodedMessage | null;
  reconnectNow: () => void;
}

export function defaultSocketUrl(token: string): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}/ws?token=${encodeURIComponent(token)}`;
}

export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  // Equal jitter: never below half the step, so a fleet of tabs does not reconnect in lockstep.
  return Math.round(exp / 2 + (exp / 2) * random());
}

function parseEvent(raw: unknown): ServerEvent | null {
  if (typeof raw !== 'string') return null;
  try {
    const msg = JSON.parse(raw) as unknown;
    if (typeof msg !== 'object' || msg === null) return null;
    const { event, data } = msg as { event?: unknown; data?: unknown };
    switch (event) {
      case 'initial_data':
        return { event, data: { logs: normalizeRunPage((data as { logs?: unknown } | undefined)?.logs) } };
      case 'import_history_update':
        return { event, data: normalizeRun(data) };
      case 'error':
        return { event, data: data as { code: string; message: string } };
      default:
        return null;
    }
  } catch {
    return null;
  }
}

function paramsOfKey(key: readonly unknown[]): RunListParams | null {
  const p = key[3] as { page?: number; limit?: number; source?: string | null; status?: RunStatus | null } | undefined;
  if (!p || typeof p.page !== 'number' || typeof p.limit !== 'number') return null;
  return { page: p.page, limit: p.limit, source: p.source ?? undefined, status: p.status ?? undefined };
}

/** Folds one live run into every cached list page and the run's detail entry. */
export function applyLiveRun(qc: QueryClient, ledger: RunLedger, incoming: ImportRun): void {
  const previous = ledger.get(incoming._id);
  const run = ledger.record(incoming);
  if (previous && previous.version >= incoming.version) return;

  for (const [key, page] of qc.getQueriesData<Page<ImportRun>>({ queryKey: queryKeys.runs.lists() })) {
    const params = paramsOfKey(key);
    if (!page || !params) continue;
    const next = applyRunToPage(page, run, params);
    if (next !== page) qc.setQueryData(key, next);
  }
  qc.setQueryData<ImportRun>(queryKeys.runs.detail(run._id), (old) => newerOf(old, run));

  // A run that starts or settles changes its source's `running` flag and health.
  if (!previous || previous.status !== run.status) {
    void qc.invalidateQueries({ queryKey: queryKeys.sources.all() });
  }
}

/** Replaces page 1 with the snapshot and refetches everything else from the database. */
export function applySnapshot(qc: QueryClient, ledger: RunLedger, logs: Page<ImportRun>, isResync: boolean): void {
  ledger.clear();
  const liveKey: RunListKey = queryKeys.runs.list(LIVE_FIRST_PAGE);
  qc.setQueryData(liveKey, logs);
  for (const run of logs.items) {
    ledger.record(run);
    qc.setQueryData<ImportRun>(queryKeys.runs.detail(run._id), (old) => newerOf(old, run));
  }
  if (isResync) {
    const liveHash = JSON.stringify(liveKey);
    void qc.invalidateQueries({
      queryKey: queryKeys.all,
      predicate: (q) => JSON.stringify(q.queryKey) !== liveHash,
    });
  }
}

export function useImportStream(opts: ImportStreamOptions): ImportStream {
  const [state, setState] = useState<ConnectionState>('connecting');
  const [attempt, setAttempt] = useState(0);
  const [lastError, setLastError] = useState<CodedMessage | null>(null);
  const kick = useRef<() => void>(() => undefined);

  // Options other than the token are read through a ref: changing a callback must not reconnect.
  const optsRef = useRef(opts);
  useEffect(() => {
    optsRef.current = opts;
  });

  const { token } = opts;
  useEffect(() => {
    if (!token) return;
    const o = optsRef.current;
    const policy = o.backoff ?? DEFAULT_BACKOFF;
    const random = o.random ?? Math.random;
    const create = o.createSocket ?? ((url: string) => new WebSocket(url));
    const urlOf = o.socketUrl ?? defaultSocketUrl;

    let socket: SocketLike | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let failures = 0;
    let everSynced = false;
    let disposed = false;

    const connect = () => {
      timer = null;
      if (disposed) return;
      setState(failures === 0 && !everSynced ? 'connecting' : failures >= policy.offlineAfter ? 'offline' : 'reconnecting');
      const ws = create(urlOf(token));
      socket = ws;
      ws.onmessage = (ev) => {
        const msg = parseEvent(ev.data);
        if (!msg) return;
        const { queryClient, ledger } = optsRef.current;
        switch (msg.event) {
          case 'initial_data':
            applySnapshot(queryClient, ledger, msg.data.logs, everSynced);
            everSynced = true;
            failures = 0;
            setAttempt(0);
            setLastError(null);
            setState('live');
            break;
          case 'import_history_update':
            applyLiveRun(queryClient, ledger, msg.data);
            break;
          case 'error':
            setLastError(msg.data);
            break;
        }
      };
      ws.onclose = (ev) => {
        if (disposed || socket !== ws) return;
        socket = null;
        if (AUTH_CLOSE_CODES.has(ev.code)) {
          setState('offline');
          setLastError({ code: 'auth.invalid_token', message: ev.reason || 'The server refused the token.' });
          optsRef.current.onUnauthorized?.();
          return;
        }
        failures += 1;
        setAttempt(failures);
        const browserOffline = typeof navigator !== 'undefined' && !navigator.onLine;
        setState(browserOffline || failures >= policy.offlineAfter ? 'offline' : 'reconnecting');
        timer = setTimeout(connect, backoffDelay(failures, policy, random));
      };
      ws.onerror = () => {
        // A close event always follows; reconnecting is decided there.
      };
    };

    kick.current = () => {
      if (disposed || socket) return;
      if (timer) clearTimeout(timer);
      connect();
    };
    const onOnline = () => kick.current();
    const onOffline = () => setState('offline');
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);

    connect();
    return () => {
      disposed = true;
      window.removeEventListener('online', onOnline);
      window.removeEventListener('offline', onOffline);
      if (timer) clearTimeout(timer);
      const ws = socket;
      socket = null;
      if (ws) {
        ws.onclose = null;
        ws.onmessage = null;
        // Closing a socket that is still connecting makes browsers log an error; wait for open.
        if (ws.readyState === 0) ws.onopen = () => ws.close(1000, 'client closing');
        else ws.close(1000, 'client closing');
      }
    };
  }, [token]);

  const reconnectNow = useCallback(() => kick.current(), []);
  // Without a token there is nothing to connect to: the sign-in form is showing.
  return { state: token ? state : 'offline', attempt, lastError, reconnectNow };
}
