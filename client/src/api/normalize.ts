/**
 * Fills defaults for fields an ImportRun may lack (an older daemon, a run still being created),
 * so one missing field never blanks a page. Applied wherever runs enter the app: REST and socket.
 */
import type {
  AlertChannel,
  AlertChannels,
  AlertDelivery,
  AlertMessage,
  BackfillPage,
  ClosedReason,
  CodeCount,
  FailureGroup,
  FeedWindow,
  HeldTask,
  ImportRun,
  Job,
  Maintenance,
  QueueCounts,
  QueueView,
  ChangesWebhook,
  ChangesWebhooks,
  QueueWorker,
  RunBackfill,
  RunDetail,
  RunPage,
  Source,
  SourceHealth,
} from './types';
import {
  ALERT_CHANNEL_KINDS,
  ALERT_DELIVERY_STATUSES,
  ALERT_EVENTS,
  ALERT_TRANSITIONS,
  BACKFILL_STOPS,
  CLOSED_REASONS,
  EXPIRY_MODES,
  WEBHOOK_STARTS,
} from './types';

type Loose = Partial<Record<keyof ImportRun, unknown>>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const str = (...vs: unknown[]): string => vs.find((v): v is string => typeof v === 'string') ?? '';
const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});

export function normalizeRun(raw: unknown): ImportRun {
  const r = obj(raw) as Loose;
  const durations = obj(r.durations);
  return {
    ...(r as ImportRun),
    _id: str(r._id),
    sourceId: str(r.sourceId),
    sourceName: str(r.sourceName, r.sourceId),
    fileName: str(r.fileName),
    importDateTime: str(r.importDateTime, r.startedAt, new Date(0).toISOString()),
    startedAt: strOrNull(r.startedAt),
    finishedAt: strOrNull(r.finishedAt),
    totalFetched: num(r.totalFetched),
    totalImported: num(r.totalImported),
    newJobs: num(r.newJobs),
    updatedJobs: num(r.updatedJobs),
    unchangedJobs: num(r.unchangedJobs),
    duplicateJobs: num(r.duplicateJobs),
    failedJobs: num(r.failedJobs),
    closedJobs: num(r.closedJobs),
    reopenedJobs: num(r.reopenedJobs),
    failures: Array.isArray(r.failures) ? (r.failures as ImportRun['failures']) : [],
    failuresByCode: codeCounts(r.failuresByCode),
    error: r.error && typeof r.error === 'object' ? (r.error as ImportRun['error']) : null,
    batchesTotal: numOrNull(r.batchesTotal),
    batchesDone: num(r.batchesDone),
    itemsDone: num(r.itemsDone),
    durations: {
      fetchMs: numOrNull(durations.fetchMs),
      parseMs: numOrNull(durations.parseMs),
      persistMs: numOrNull(durations.persistMs),
    },
    version: num(r.version),
    fetchedBy: strOrNull(r.fetchedBy),
    updatedAt: strOrNull(r.updatedAt),
    fetchAttempts: num(r.fetchAttempts),
    retryAt: strOrNull(r.retryAt),
    resumes: num(r.resumes),
    unconditional: r.unconditional === true,
    replayOf: strOrNull(r.replayOf),
    closedByReason: closedByReason(r.closedByReason),
    window: normalizeWindow(r.window),
    backfill: normalizeBackfill(r.backfill),
  };
}

function normalizeBackfill(raw: unknown): RunBackfill | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const b = raw as Record<string, unknown>;
  const pages = Array.isArray(b.pages) ? b.pages.map((p) => obj(p)) : [];
  return {
    maxPages: num(b.maxPages),
    pageParam: strOrNull(b.pageParam),
    pages: pages.map((p) => ({
      page: num(p.page),
      items: num(p.items),
      new: num(p.new),
      attempts: num(p.attempts),
      error: p.error && typeof p.error === 'object' ? (p.error as BackfillPage['error']) : null,
    })),
    stopped: BACKFILL_STOPS.find((s) => s === b.stopped) ?? null,
  };
}

function closedByReason(v: unknown): ImportRun['closedByReason'] {
  const o = obj(v);
  const out: ImportRun['closedByReason'] = {};
  for (const reason of CLOSED_REASONS) if (num(o[reason]) > 0) out[reason] = num(o[reason]);
  return out;
}

export function normalizeWindow(raw: unknown): FeedWindow | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const w = raw as Record<string, unknown>;
  return { oldest: strOrNull(w.oldest), newest: strOrNull(w.newest), items: num(w.items), undated: num(w.undated) };
}

/** Jobs from a daemon that predates expiry lack its fields. */
export function normalizeJob(raw: unknown): Job {
  const j = obj(raw);
  const reason = strOrNull(j.closedReason);
  return {
    ...(j as unknown as Job),
    validThrough: strOrNull(j.validThrough),
    closedAt: strOrNull(j.closedAt),
    closedReason: reason && (CLOSED_REASONS as readonly string[]).includes(reason) ? (reason as ClosedReason) : null,
    reopenedAt: strOrNull(j.reopenedAt),
  };
}

/** `failuresByCode` is `[{code, count}]` on the wire (MongoDB keys cannot contain the dots of codes). */
function codeCounts(v: unknown): CodeCount[] {
  if (!Array.isArray(v)) return [];
  return v
    .map(obj)
    .filter((e) => typeof e.code === 'string')
    .map((e) => ({ code: str(e.code), count: num(e.count) }));
}

export function normalizeRunDetail(raw: unknown): RunDetail {
  const r = obj(raw);
  const run = normalizeRun(raw);
  const groups: FailureGroup[] = Array.isArray(r.failureGroups)
    ? r.failureGroups.map(obj).map((g) => ({
        code: str(g.code),
        count: num(g.count),
        stored: num(g.stored),
        example: g.example && typeof g.example === 'object' ? (g.example as FailureGroup['example']) : null,
      }))
    : run.failuresByCode.map((c) => ({ code: c.code, count: c.count, stored: 0, example: null }));
  return {
    ...run,
    failuresTotal: num(r.failuresTotal) || run.failures.length,
    failuresPage: num(r.failuresPage) || 1,
    failuresLimit: num(r.failuresLimit) || run.failures.length,
    failureGroups: groups,
  };
}

export function normalizeHealth(raw: unknown): SourceHealth | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const h = raw as Record<string, unknown>;
  return {
    lastRunAt: strOrNull(h.lastRunAt),
    lastSuccessAt: strOrNull(h.lastSuccessAt),
    consecutiveFailures: num(h.consecutiveFailures),
    nextRunAt: strOrNull(h.nextRunAt),
    lastError: h.lastError && typeof h.lastError === 'object' ? (h.lastError as SourceHealth['lastError']) : null,
    lastRunId: strOrNull(h.lastRunId),
    lastStatus: strOrNull(h.lastStatus) as SourceHealth['lastStatus'],
    backoffUntil: strOrNull(h.backoffUntil),
  };
}

export function normalizeSource(raw: unknown): Source {
  const s = obj(raw);
  const expiry = EXPIRY_MODES.find((m) => m === s.expiry) ?? 'window';
  return {
    ...(s as unknown as Source),
    expiry,
    linkCheck: s.linkCheck === true,
    pageParam: strOrNull(s.pageParam),
    mapping: typeof s.mapping === 'object' && s.mapping !== null ? (s.mapping as Source['mapping']) : null,
    maxBodyBytes: numOrNull(s.maxBodyBytes),
    lastWindow: normalizeWindow(s.lastWindow),
    health: normalizeHealth(s.health),
    running: s.running === true,
  };
}

export function normalizeRunPage(raw: unknown): RunPage {
  const p = obj(raw);
  const items = Array.isArray(p.items) ? p.items.map(normalizeRun) : [];
  return {
    items,
    total: num(p.total) || items.length,
    page: num(p.page) || 1,
    limit: num(p.limit) || items.length,
    nextCursor: strOrNull(p.nextCursor),
  };
}

export function normalizeMaintenance(raw: unknown): Maintenance {
  const m = obj(raw);
  return {
    paused: m.paused === true,
    pausedAt: strOrNull(m.pausedAt),
    pausedBy: strOrNull(m.pausedBy),
    reason: strOrNull(m.reason),
    resumedAt: strOrNull(m.resumedAt),
    resumedBy: strOrNull(m.resumedBy),
  };
}

const queueName = (v: unknown): QueueCounts['name'] => (v === 'items' ? 'items' : 'fetch');

function heldTask(raw: unknown): HeldTask {
  const t = obj(raw);
  return { taskId: str(t.taskId), runId: strOrNull(t.runId), sourceId: strOrNull(t.sourceId), batchNo: numOrNull(t.batchNo), attempt: numOrNull(t.attempt) };
}

export function normalizeQueueView(raw: unknown): QueueView {
  const v = obj(raw);
  const queues: QueueCounts[] = (Array.isArray(v.queues) ? v.queues : []).map(obj).map((q) => ({
    name: queueName(q.name),
    waiting: num(q.waiting),
    active: num(q.active),
    delayed: num(q.delayed),
    nextDueAt: strOrNull(q.nextDueAt),
  }));
  const workers: QueueWorker[] = (Array.isArray(v.workers) ? v.workers : []).map(obj).map((w) => ({
    daemon: str(w.daemon),
    queue: queueName(w.queue),
    worker: str(w.worker),
    lastHeartbeatAt: str(w.lastHeartbeatAt),
    holding: num(w.holding),
    tasks: Array.isArray(w.tasks) ? w.tasks.map(heldTask) : [],
  }));
  return { paused: v.paused === true, queues, workers };
}

const oneOf = <T extends string>(values: readonly T[], v: unknown, fallback: T): T =>
  values.find((x) => x === v) ?? fallback;

export function normalizeAlertChannels(raw: unknown): AlertChannels {
  const r = obj(raw);
  const channels = Array.isArray(r.channels) ? r.channels : [];
  return {
    channels: channels.map((c): AlertChannel => {
      const o = obj(c);
      return { id: str(o.id), kind: oneOf(ALERT_CHANNEL_KINDS, o.kind, 'webhook'), target: str(o.target), signed: o.signed === true };
    }),
    canSendTest: r.canSendTest === true,
  };
}

function normalizeAlertMessage(raw: unknown): AlertMessage {
  const m = obj(raw);
  return {
    incidentId: str(m.incidentId),
    sourceId: str(m.sourceId),
    event: ALERT_EVENTS.find((e) => e === m.event) ?? null,
    transition: oneOf(ALERT_TRANSITIONS, m.transition, 'test'),
    detail: str(m.detail),
    runId: strOrNull(m.runId),
    at: str(m.at),
  };
}

/** A delivery with every field present (`runId` is absent when no run was involved). */
export function normalizeAlertDelivery(raw: unknown): AlertDelivery {
  const d = obj(raw);
  return {
    _id: str(d._id),
    sourceId: str(d.sourceId),
    channelId: str(d.channelId),
    message: normalizeAlertMessage(d.message),
    status: oneOf(ALERT_DELIVERY_STATUSES, d.status, 'pending'),
    attempts: num(d.attempts),
    createdAt: str(d.createdAt),
    nextAt: strOrNull(d.nextAt),
    sentAt: strOrNull(d.sentAt),
    lastError: strOrNull(d.lastError),
  };
}

/** The changes webhooks with every field present (`state` is null until a daemon saw one). */
export function normalizeChangesWebhooks(raw: unknown): ChangesWebhooks {
  const r = obj(raw);
  const hooks = Array.isArray(r.webhooks) ? r.webhooks : [];
  return {
    head: num(r.head),
    webhooks: hooks.map((h): ChangesWebhook => {
      const o = obj(h);
      const st = o.state === null || o.state === undefined ? null : obj(o.state);
      return {
        id: str(o.id),
        target: str(o.target),
        sources: Array.isArray(o.sources) ? o.sources.filter((x): x is string => typeof x === 'string') : [],
        start: oneOf(WEBHOOK_STARTS, o.start, 'beginning'),
        behind: numOrNull(o.behind),
        state: st
          ? {
              cursor: num(st.cursor),
              attempts: num(st.attempts),
              lastError: strOrNull(st.lastError),
              nextAttemptAt: strOrNull(st.nextAttemptAt),
              lastDeliveredAt: strOrNull(st.lastDeliveredAt),
              deliveredChanges: num(st.deliveredChanges),
              deliveredBatches: num(st.deliveredBatches),
            }
          : null,
      };
    }),
  };
}
