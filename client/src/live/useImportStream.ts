/**
 * THE WebSocket hook: owns the `/ws` connection, reconnects with backoff and, after a reconnect,
 * catches up with `sync` (the versions it holds, and every change since the last `serverTime`)
 * so the view equals the database without a visible reload. Patches cached runs with each
 * `import_history_update`, and keeps run subscriptions (`run_progress`) across reconnects.
 * Mounted once, by <LiveProvider>.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { QueryClient } from '@tanstack/react-query';
import { normalizeHealth, normalizeMaintenance, normalizeRun, normalizeRunPage } from '../api/normalize';
import { queryKeys } from '../api/queryKeys';
import type { ClientEvent, CodedMessage, InitialData, RunFailure, ServerEvent, SourceStatus, Totals } from '../api/types';
import { applyLiveRun, applySnapshot, heldVersions, refreshAfterReconnect } from './cacheUpdates';
import type { RunLedger } from './RunLedger';

export { applyLiveRun } from './cacheUpdates';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline';

/** The part of the browser WebSocket we use; tests pass a fake. */
export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  readonly readyState?: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** After this many failed attempts in a row the indicator says "offline" (retries go on). */
  offlineAfter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 15_000, offlineAfter: 6 };

/** Browsers do not notice a half-open TCP connection; an unanswered ping does. */
export const DEFAULT_HEARTBEAT_MS = 25_000;

/** Close codes we treat as "token refused": stop retrying and ask for sign-in. */
const AUTH_CLOSE_CODES = new Set([1008, 4001, 4401, 4403]);

/**
 * Close codes by which the server asks us to come back: 1001 (it is stopping), 1012 (its
 * live-update broker restarted), 1013 (we fell too far behind). Reconnecting and `sync` repair
 * whatever was missed.
 */
const SERVER_ASKED_CODES = new Set([1001, 1012, 1013]);

/** The last reconnect that brought the view back in line with the database. */
export interface Reconnected {
  /** When the resync started (ms since the epoch). */
  at: number;
  /** The server closed the connection and asked for the reconnect (rather than it being lost). */
  serverAsked: boolean;
  /** The close code of the connection before. */
  code: number;
}

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
  /** A ping is sent this often; no answer within the same time counts as a lost connection. */
  heartbeatMs?: number;
}

export interface ImportStream {
  state: ConnectionState;
  /** Failed attempts since the last successful `initial_data`. */
  attempt: number;
  lastError: CodedMessage | null;
  /** Set after each reconnect that resynced the view; `null` until the first one. */
  reconnected: Reconnected | null;
  reconnectNow: () => void;
  /** Item-level progress of one run while the caller is interested; returns the unsubscribe. */
  subscribeRun: (runId: string) => () => void;
}

/** Stored failures sent with `run_progress`, cached under `queryKeys.runs.progress(id)`. */
export interface RunProgressView {
  recentFailures: RunFailure[];
  failuresStored: number;
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

const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});

function parseInitialData(raw: unknown): InitialData {
  const d = obj(raw);
  const sources: SourceStatus[] = Array.isArray(d.sources)
    ? d.sources.map(obj).map((s) => ({
        _id: String(s._id),
        name: typeof s.name === 'string' ? s.name : String(s._id),
        enabled: s.enabled !== false,
        running: s.running === true,
        health: normalizeHealth(s.health),
      }))
    : [];
  const totals = d.totals && typeof d.totals === 'object' ? (d.totals as Totals) : null;
  return {
    logs: normalizeRunPage(d.logs),
    sources,
    totals,
    serverTime: typeof d.serverTime === 'string' ? d.serverTime : null,
    maintenance: d.maintenance && typeof d.maintenance === 'object' ? normalizeMaintenance(d.maintenance) : null,
  };
}

function parseEvent(raw: unknown): ServerEvent | null {
  if (typeof raw !== 'string') return null;
  try {
    const msg = JSON.parse(raw) as unknown;
    if (typeof msg !== 'object' || msg === null) return null;
    const { event, data } = msg as { event?: unknown; data?: unknown };
    const d = obj(data);
    switch (event) {
      case 'initial_data':
        return { event, data: parseInitialData(data) };
      case 'import_history_update':
        return { event, data: normalizeRun(data) };
      case 'sync_result':
        return {
          event,
          data: {
            runs: Array.isArray(d.runs) ? d.runs.map(normalizeRun) : [],
            serverTime: typeof d.serverTime === 'string' ? d.serverTime : '',
            hasMore: d.hasMore === true,
          },
        };
      case 'run_progress':
        return {
          event,
          data: {
            run: normalizeRun(d.run),
            recentFailures: Array.isArray(d.recentFailures) ? (d.recentFailures as RunFailure[]) : [],
            failuresStored: typeof d.failuresStored === 'number' ? d.failuresStored : 0,
          },
        };
      case 'maintenance':
        return { event, data: normalizeMaintenance(data) };
      case 'pong':
        return { event };
      case 'error':
        return { event, data: { code: String(d.code), message: String(d.message) } };
      default:
        return null;
    }
  } catch {
    return null;
  }
}

export function useImportStream(opts: ImportStreamOptions): ImportStream {
  const [state, setState] = useState<ConnectionState>('connecting');
  const [attempt, setAttempt] = useState(0);
  const [lastError, setLastError] = useState<CodedMessage | null>(null);
  const [reconnected, setReconnected] = useState<Reconnected | null>(null);
  const kick = useRef<() => void>(() => undefined);
  // Subscribed run ids with a count of interested components; replayed on every connection.
  const runSubs = useRef(new Map<string, number>());
  const sendRef = useRef<(ev: ClientEvent) => void>(() => undefined);

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
    const heartbeatMs = o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;

    let socket: SocketLike | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let heartbeat: ReturnType<typeof setInterval> | null = null;
    let awaitingPong = false;
    let failures = 0;
    let everSynced = false;
    let disposed = false;
    // The last `serverTime` received: a `sync` from it misses no change made while away.
    let serverTime: string | null = null;
    // How the connection before this one ended.
    let lastCloseCode = 0;

    const send = (ev: ClientEvent) => {
      if (socket && socket.readyState === 1) socket.send(JSON.stringify(ev));
    };
    sendRef.current = send;

    const stopHeartbeat = () => {
      if (heartbeat) clearInterval(heartbeat);
      heartbeat = null;
      awaitingPong = false;
    };

    const connect = () => {
      timer = null;
      if (disposed) return;
      setState(failures === 0 && !everSynced ? 'connecting' : failures >= policy.offlineAfter ? 'offline' : 'reconnecting');
      const ws = create(urlOf(token));
      socket = ws;
      ws.onmessage = (ev) => {
        awaitingPong = false;
        const msg = parseEvent(ev.data);
        if (!msg) return;
        const { queryClient, ledger } = optsRef.current;
        switch (msg.event) {
          case 'initial_data': {
            const resync = everSynced;
            const since = serverTime;
            const versions = resync ? heldVersions(queryClient, ledger) : {};
            applySnapshot(queryClient, ledger, msg.data, resync);
            if (msg.data.maintenance) queryClient.setQueryData(queryKeys.maintenance(), msg.data.maintenance);
            if (msg.data.serverTime) serverTime = msg.data.serverTime;
            if (resync) {
              // Whatever changed while we were away, read from MongoDB, applied by version.
              send({ event: 'sync', data: { ...(since ? { since } : {}), runs: versions } });
              refreshAfterReconnect(queryClient);
              setReconnected({ at: Date.now(), serverAsked: SERVER_ASKED_CODES.has(lastCloseCode), code: lastCloseCode });
            }
            for (const runId of runSubs.current.keys()) send({ event: 'subscribe_run', data: { runId } });
            everSynced = true;
            failures = 0;
            setAttempt(0);
            setLastError(null);
            setState('live');
            stopHeartbeat();
            heartbeat = setInterval(() => {
              if (awaitingPong) {
                // No answer to the last ping: the connection is dead without having said so.
                ws.close(4000, 'heartbeat timeout');
                ws.onclose?.(new CloseEvent('close', { code: 4000 }));
                return;
              }
              awaitingPong = true;
              send({ event: 'ping' });
            }, heartbeatMs);
            break;
          }
          case 'import_history_update':
            applyLiveRun(queryClient, ledger, msg.data);
            break;
          case 'sync_result': {
            for (const run of msg.data.runs) applyLiveRun(queryClient, ledger, run);
            const last = msg.data.runs.at(-1);
            if (msg.data.hasMore && last?.updatedAt) send({ event: 'sync', data: { since: last.updatedAt } });
            else if (msg.data.serverTime) serverTime = msg.data.serverTime;
            break;
          }
          case 'run_progress':
            applyLiveRun(queryClient, ledger, msg.data.run);
            queryClient.setQueryData<RunProgressView>(queryKeys.runs.progress(msg.data.run._id), {
              recentFailures: msg.data.recentFailures,
              failuresStored: msg.data.failuresStored,
            });
            break;
          case 'maintenance':
            queryClient.setQueryData(queryKeys.maintenance(), msg.data);
            break;
          case 'pong':
            break;
          case 'error':
            setLastError(msg.data);
            break;
        }
      };
      ws.onclose = (ev) => {
        if (disposed || socket !== ws) return;
        socket = null;
        stopHeartbeat();
        lastCloseCode = ev.code;
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
      sendRef.current = () => undefined;
      window.removeEventListener('online', onOnline);
      window.removeEventListener('offline', onOffline);
      if (timer) clearTimeout(timer);
      stopHeartbeat();
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
  const subscribeRun = useCallback((runId: string) => {
    const subs = runSubs.current;
    const n = subs.get(runId) ?? 0;
    subs.set(runId, n + 1);
    if (n === 0) sendRef.current({ event: 'subscribe_run', data: { runId } });
    return () => {
      const left = (subs.get(runId) ?? 1) - 1;
      if (left > 0) {
        subs.set(runId, left);
        return;
      }
      subs.delete(runId);
      sendRef.current({ event: 'unsubscribe_run', data: { runId } });
    };
  }, []);
  // Without a token there is nothing to connect to: the sign-in form is showing.
  return { state: token ? state : 'offline', attempt, lastError, reconnected, reconnectNow, subscribeRun };
}
