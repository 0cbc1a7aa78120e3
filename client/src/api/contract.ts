/**
 * What the client reads from (and sends to) the daemon, field by field, written against the
 * TypeScript types: each map must name every key of its interface (the compiler enforces it), and
 * `contract.test.ts` checks each entry against `docs/openapi.json`. A field renamed on either side
 * therefore fails the typecheck or the test.
 */
import { ALERT_CHANNEL_KINDS, ALERT_DELIVERY_STATUSES, ALERT_EVENTS, ALERT_TRANSITIONS, WEBHOOK_STARTS } from './types';
import type {
  AlertChannel,
  AlertChannels,
  AlertDelivery,
  AlertMessage,
  ChangesWebhook,
  ChangesWebhooks,
  ChangesWebhookState,
  BackfillPage,
  CodeCount,
  FeedWindow,
  FailureGroup,
  HeldTask,
  ImportRun,
  Job,
  Maintenance,
  Page,
  QueueCounts,
  QueueView,
  QueueWorker,
  RunDetail,
  RunFailure,
  RunBackfill,
  RunPage,
  Source,
  SourceInput,
  SourceStats,
  Stats,
  StatsBucket,
  SyncResult,
} from './types';

export type WireType = 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object';

export interface FieldSpec {
  type: WireType;
  /** The client accepts `null` here. */
  nullable?: boolean;
  /** The client accepts the field being absent or null because `normalize.ts` fills a default. */
  defaulted?: boolean;
  /** The values the client knows, for string enums; must equal the schema's. */
  enum?: readonly string[];
  /** For arrays of objects: the item's fields. */
  items?: ObjectSpec;
  /** For objects the schema describes: their fields. */
  fields?: ObjectSpec;
  /** The OpenAPI document does not pin this object's fields (the test then only checks the type). */
  unpinned?: boolean;
  /**
   * The daemon sends it (see the Rust type) but the document does not list it yet. Allowed only
   * with `defaulted`; the test fails once the document gains the field, so the mark goes away.
   */
  undocumented?: boolean;
}

export type ObjectSpec = Readonly<Record<string, FieldSpec>>;
/** Exactly the keys of T, each described. */
type SpecOf<T> = { readonly [K in keyof Required<T>]: FieldSpec };

const S = (extra: Partial<FieldSpec> = {}): FieldSpec => ({ type: 'string', ...extra });
const I = (extra: Partial<FieldSpec> = {}): FieldSpec => ({ type: 'integer', ...extra });
const nullable = { nullable: true } as const;

export const RUN_STATUS_VALUES = ['queued', 'running', 'completed', 'partial', 'failed', 'not_modified'] as const;

const feedWindow: SpecOf<FeedWindow> = { oldest: S(nullable), newest: S(nullable), items: I(), undated: I() };

const failure: SpecOf<RunFailure> = { code: S(), message: S(), externalId: S({ nullable: true, defaulted: true }) };
const codeCount: SpecOf<CodeCount> = { code: S(), count: I() };

const backfillPage: SpecOf<BackfillPage> = {
  page: I(),
  items: I(),
  new: I(),
  attempts: I(),
  error: { type: 'object', nullable: true, defaulted: true, fields: failure },
};
const runBackfill: SpecOf<RunBackfill> = {
  maxPages: I(),
  pageParam: S(nullable),
  pages: { type: 'array', items: backfillPage },
  stopped: S({ nullable: true, enum: ['empty_page', 'nothing_new', 'page_cap', 'last_page', 'error', 'no_page_param'] }),
};

export const importRunSpec: SpecOf<ImportRun> = {
  _id: S(),
  sourceId: S(),
  sourceName: S(),
  fileName: S(),
  trigger: S({ enum: ['schedule', 'manual', 'cli'] }),
  status: S({ enum: RUN_STATUS_VALUES }),
  importDateTime: S(),
  startedAt: S(nullable),
  finishedAt: S(nullable),
  updatedAt: S(nullable),
  totalFetched: I(),
  totalImported: I(),
  newJobs: I(),
  updatedJobs: I(),
  unchangedJobs: I(),
  duplicateJobs: I(),
  failedJobs: I(),
  closedJobs: I(),
  reopenedJobs: I(),
  failures: { type: 'array', items: failure, defaulted: true },
  failuresByCode: { type: 'array', items: codeCount },
  error: { type: 'object', nullable: true, fields: failure },
  batchesTotal: I(nullable),
  batchesDone: I(),
  itemsDone: I(),
  // Per-batch results are only read on run_progress and not pinned by the schema.
  batches: { type: 'object', defaulted: true, unpinned: true, undocumented: true },
  durations: { type: 'object', unpinned: true },
  version: I(),
  fetchedBy: S(nullable),
  fetchAttempts: I({ defaulted: true, undocumented: true }),
  retryAt: S({ nullable: true, defaulted: true, undocumented: true }),
  resumes: I({ defaulted: true, undocumented: true }),
  // Reason → count; the schema leaves the keys open.
  closedByReason: { type: 'object', defaulted: true, unpinned: true },
  window: { type: 'object', nullable: true, defaulted: true, fields: feedWindow },
  unconditional: { type: 'boolean', defaulted: true },
  replayOf: S({ nullable: true, defaulted: true }),
  backfill: { type: 'object', nullable: true, defaulted: true, fields: runBackfill },
};

const failureGroup: SpecOf<FailureGroup> = {
  code: S(),
  count: I(),
  stored: I(),
  example: { type: 'object', nullable: true, defaulted: true, fields: failure },
};

/** RunDetail = ImportRun + these. */
export const runDetailSpec: SpecOf<Omit<RunDetail, keyof ImportRun>> = {
  failuresTotal: I(),
  failuresPage: I(),
  failuresLimit: I(),
  failureGroups: { type: 'array', items: failureGroup },
};

const pageSpec = (items: ObjectSpec): SpecOf<Page<unknown>> => ({
  items: { type: 'array', items },
  total: I(),
  page: I(),
  limit: I(),
});

export const runPageSpec: SpecOf<RunPage> = { ...pageSpec(importRunSpec), nextCursor: S(nullable) };

export const syncResultSpec: SpecOf<SyncResult> = {
  runs: { type: 'array', items: importRunSpec },
  serverTime: S(),
  hasMore: { type: 'boolean' },
};

export const jobSpec: SpecOf<Job> = {
  _id: S(),
  externalId: S(),
  publisher: S(),
  title: S(),
  company: S(nullable),
  locations: { type: 'array' },
  remote: { type: 'boolean', nullable: true },
  employmentType: S(nullable),
  categories: { type: 'array' },
  descriptionHtml: S(nullable),
  descriptionText: S({ nullable: true, defaulted: true }),
  url: S(nullable),
  datePosted: S(nullable),
  status: S({ enum: ['open', 'closed'] }),
  sources: { type: 'array' },
  firstSeenAt: S(),
  updatedAt: S(),
  lastSeenAt: S(),
  logoUrl: S(nullable),
  validThrough: S({ nullable: true, defaulted: true }),
  closedAt: S({ nullable: true, defaulted: true }),
  closedReason: S({ nullable: true, defaulted: true, enum: ['missing_from_feed', 'expired', 'link_gone', 'source_removed'] }),
  reopenedAt: S({ nullable: true, defaulted: true }),
};

export const jobPageSpec: SpecOf<Page<Job>> = pageSpec(jobSpec);

const bucket: SpecOf<StatsBucket> = { bucket: S(), runs: I(), failedRuns: I(), newJobs: I(), updatedJobs: I(), failedJobs: I() };
const sourceStats: SpecOf<SourceStats> = {
  sourceId: S(),
  sourceName: S(),
  hourly: { type: 'array', items: bucket },
  daily: { type: 'array', items: bucket },
};

export const statsSpec: SpecOf<Stats> = {
  totalRuns: I(),
  activeRuns: I(),
  totalJobs: I(),
  openJobs: I(),
  jobsCountedAt: S(),
  sources: I(),
  generatedAt: S(),
  hours: I(),
  days: I(),
  truncated: { type: 'boolean' },
  hourly: { type: 'array', items: bucket },
  daily: { type: 'array', items: bucket },
  bySource: { type: 'array', items: sourceStats },
};

export const sourceSpec: SpecOf<Source> = {
  _id: S(),
  name: S(),
  url: S(),
  cron: S(),
  enabled: { type: 'boolean' },
  // `"auto"` or `{json_api: ...}`: any JSON; the schema says the same.
  format: { type: 'object', unpinned: true },
  mapping: { type: 'object', nullable: true, defaulted: true, unpinned: true },
  publisher: S(nullable),
  userAgent: S(nullable),
  maxBodyBytes: I({ nullable: true, defaulted: true }),
  expiry: S({ defaulted: true, enum: ['window', 'complete', 'never'] }),
  linkCheck: { type: 'boolean', defaulted: true },
  pageParam: S({ nullable: true, defaulted: true }),
  lastWindow: { type: 'object', nullable: true, defaulted: true, fields: feedWindow },
  // The schema types health as a bare object; normalizeHealth() defaults each field.
  health: { type: 'object', nullable: true, defaulted: true, unpinned: true },
  running: { type: 'boolean', defaulted: true },
};

/** What the forms send; the server refuses unknown keys, so each must exist. */
export const sourceInputSpec: SpecOf<SourceInput> = {
  name: S(),
  url: S(),
  cron: S(),
  enabled: { type: 'boolean' },
  userAgent: S(),
  expiry: S({ enum: ['window', 'complete', 'never'] }),
  linkCheck: { type: 'boolean' },
  pageParam: S(),
  format: { type: 'object', unpinned: true },
  mapping: { type: 'object', unpinned: true },
  publisher: S(),
  maxBodyBytes: I(),
};

export const maintenanceSpec: SpecOf<Maintenance> = {
  paused: { type: 'boolean' },
  pausedAt: S(nullable),
  pausedBy: S(nullable),
  reason: S(nullable),
  resumedAt: S(nullable),
  resumedBy: S(nullable),
};

const queueNames = { enum: ['fetch', 'items'] } as const;
const heldTask: SpecOf<HeldTask> = { taskId: S(), runId: S(nullable), sourceId: S(nullable), batchNo: I(nullable), attempt: I(nullable) };
const queueCounts: SpecOf<QueueCounts> = { name: S(queueNames), waiting: I(), active: I(), delayed: I(), nextDueAt: S(nullable) };
const queueWorker: SpecOf<QueueWorker> = {
  daemon: S(),
  queue: S(queueNames),
  worker: S(),
  lastHeartbeatAt: S(),
  holding: I(),
  tasks: { type: 'array', items: heldTask },
};
export const queueViewSpec: SpecOf<QueueView> = {
  paused: { type: 'boolean' },
  queues: { type: 'array', items: queueCounts },
  workers: { type: 'array', items: queueWorker },
};

const alertChannelSpec: SpecOf<AlertChannel> = { id: S(), kind: S({ enum: ALERT_CHANNEL_KINDS }), target: S(), signed: { type: 'boolean' } };

export const alertChannelsSpec: SpecOf<AlertChannels> = {
  channels: { type: 'array', items: alertChannelSpec },
  canSendTest: { type: 'boolean' },
};

const alertMessageSpec: SpecOf<AlertMessage> = {
  incidentId: S(),
  sourceId: S(),
  // A test message has no event.
  event: S({ nullable: true, enum: ALERT_EVENTS }),
  transition: S({ enum: ALERT_TRANSITIONS }),
  detail: S(),
  runId: S({ nullable: true, defaulted: true }),
  at: S(),
};

export const alertDeliverySpec: SpecOf<AlertDelivery> = {
  _id: S(),
  sourceId: S(),
  channelId: S(),
  message: { type: 'object', fields: alertMessageSpec },
  status: S({ enum: ALERT_DELIVERY_STATUSES }),
  attempts: I(),
  createdAt: S(),
  nextAt: S(nullable),
  sentAt: S(nullable),
  lastError: S(nullable),
};

const webhookState: SpecOf<ChangesWebhookState> = {
  cursor: I(),
  attempts: I(),
  lastError: S({ nullable: true, defaulted: true }),
  nextAttemptAt: S({ nullable: true, defaulted: true }),
  lastDeliveredAt: S({ nullable: true, defaulted: true }),
  deliveredChanges: I(),
  deliveredBatches: I(),
};
const changesWebhook: SpecOf<ChangesWebhook> = {
  id: S(),
  target: S(),
  sources: { type: 'array' },
  start: S({ enum: WEBHOOK_STARTS }),
  behind: I(nullable),
  state: { type: 'object', nullable: true, fields: webhookState },
};
export const changesWebhooksSpec: SpecOf<ChangesWebhooks> = {
  head: I(),
  webhooks: { type: 'array', items: changesWebhook },
};

/** Schema name in docs/openapi.json → what the client expects of it. */
export const CONTRACT: Readonly<Record<string, ObjectSpec>> = {
  ImportRun: importRunSpec,
  RunPage: runPageSpec,
  RunDetail: { ...importRunSpec, ...runDetailSpec },
  SyncResult: syncResultSpec,
  Failure: failure,
  Job: jobSpec,
  JobPage: jobPageSpec,
  Stats: statsSpec,
  Source: sourceSpec,
  SourceInput: sourceInputSpec,
  Maintenance: maintenanceSpec,
  QueueView: queueViewSpec,
  AlertChannels: alertChannelsSpec,
  AlertDelivery: alertDeliverySpec,
  ChangesWebhooks: changesWebhooksSpec,
};
