/** The JSON contract with the daemon, typed exactly as the wire format (Mongo field names). */

export type RunStatus = 'queued' | 'running' | 'completed' | 'partial' | 'failed' | 'not_modified';
export type RunTrigger = 'schedule' | 'manual' | 'cli';

export const RUN_STATUSES: readonly RunStatus[] = [
  'queued',
  'running',
  'completed',
  'partial',
  'failed',
  'not_modified',
];

export interface CodedMessage {
  code: string;
  message: string;
}

export interface RunFailure extends CodedMessage {
  externalId?: string | null;
}

/** One entry of `failuresByCode`: an array, since MongoDB field names cannot hold the dots of codes. */
export interface CodeCount {
  code: string;
  count: number;
}

export interface RunDurations {
  fetchMs: number | null;
  parseMs: number | null;
  persistMs: number | null;
}

/** How absence from a source's feed closes its jobs. */
export type Expiry = 'window' | 'complete' | 'never';
export const EXPIRY_MODES: readonly Expiry[] = ['window', 'complete', 'never'];

/** Why a job was closed. */
export type ClosedReason = 'missing_from_feed' | 'expired' | 'link_gone' | 'source_removed';
export const CLOSED_REASONS: readonly ClosedReason[] = ['missing_from_feed', 'expired', 'link_gone', 'source_removed'];

/** The span of postings one read of a feed covered. */
export interface FeedWindow {
  /** Oldest posting date (first-seen time for undated postings). */
  oldest: string | null;
  newest: string | null;
  /** Postings read. */
  items: number;
  /** Postings without a date. */
  undated: number;
}

/** One `import_logs` document. */
export interface ImportRun {
  _id: string;
  sourceId: string;
  sourceName: string;
  fileName: string;
  trigger: RunTrigger;
  status: RunStatus;
  importDateTime: string;
  startedAt: string | null;
  finishedAt: string | null;
  totalFetched: number;
  totalImported: number;
  newJobs: number;
  updatedJobs: number;
  unchangedJobs: number;
  duplicateJobs: number;
  failedJobs: number;
  closedJobs: number;
  reopenedJobs: number;
  failures: RunFailure[];
  failuresByCode: CodeCount[];
  error: CodedMessage | null;
  batchesTotal: number | null;
  batchesDone: number;
  itemsDone: number;
  batches?: Record<string, unknown>;
  durations: RunDurations;
  version: number;
  fetchedBy: string | null;
  updatedAt: string | null;
  /** Fetch attempts so far (transient failures are tried again). */
  fetchAttempts: number;
  /** When the next fetch attempt is due, while the run waits for it. */
  retryAt: string | null;
  /** Times the sweeper queued the run's fetch again after its work was lost. */
  resumes: number;
  /** Jobs this run closed, by reason (set when it ends). */
  closedByReason: Partial<Record<ClosedReason, number>>;
  /** The span of postings the feed covered in this run. */
  window: FeedWindow | null;
  /** Fetched without cache validators (a replay): the whole feed was read even if unchanged. */
  unconditional: boolean;
  /** The run this one replays. */
  replayOf: string | null;
  /** On a backfill run: its walk over the feed's pages. */
  backfill: RunBackfill | null;
}

export const BACKFILL_STOPS = ['empty_page', 'nothing_new', 'page_cap', 'last_page', 'error', 'no_page_param'] as const;
export type BackfillStop = (typeof BACKFILL_STOPS)[number];

export interface BackfillPage {
  page: number;
  items: number;
  /** Postings no earlier page listed and not stored before the run. */
  new: number;
  attempts: number;
  error?: CodedMessage | null;
}

export interface RunBackfill {
  maxPages: number;
  pageParam: string | null;
  pages: BackfillPage[];
  /** Why the walk ended; null while it goes on. */
  stopped: BackfillStop | null;
}

/** `POST /api/sources/import-all`: what was started, source by source. */
export interface StartAllReport {
  started: { sourceId: string; run: ImportRun }[];
  alreadyRunning: { sourceId: string; runId: string | null }[];
  failed: { sourceId: string; code: string; message: string }[];
}

/** `GET /api/import-logs/{id}`: the run, one page of its stored failures, and counts per code. */
export interface FailureGroup {
  code: string;
  /** Every failure with this code, stored or not. */
  count: number;
  /** How many of them are stored (listable). */
  stored: number;
  example?: RunFailure | null;
}

export interface RunDetail extends ImportRun {
  failuresTotal: number;
  failuresPage: number;
  failuresLimit: number;
  failureGroups: FailureGroup[];
}

export interface RunDetailParams {
  failuresPage: number;
  failuresLimit: number;
  failureCode?: string | undefined;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  limit: number;
}

export interface RunPage extends Page<ImportRun> {
  nextCursor?: string | null;
}

/** `auto`, a built-in mapping by name, or `custom` (the source's own `mapping`). */
export type SourceFormat = 'auto' | 'custom' | { json_api: string };

/** A declarative mapping (README, "Mappings"); the daemon checks it. */
export type Mapping = Record<string, unknown>;

export interface SourceHealth {
  lastRunAt: string | null;
  lastSuccessAt: string | null;
  consecutiveFailures: number;
  nextRunAt: string | null;
  lastError: CodedMessage | null;
  lastRunId: string | null;
  lastStatus: RunStatus | null;
  /** After 3 failures in a row, scheduled runs are skipped until then (manual runs are not). */
  backoffUntil: string | null;
}

export interface Source {
  _id: string;
  name: string;
  url: string;
  cron: string;
  enabled: boolean;
  format: SourceFormat;
  /** The source's own mapping, read when `format` is `custom`. */
  mapping: Mapping | null;
  publisher: string | null;
  userAgent: string | null;
  /** Body cap of this source; `null`: the daemon's default. */
  maxBodyBytes: number | null;
  expiry: Expiry;
  /** Jobs that left the window have their posting's link checked (404/410 closes them). */
  linkCheck: boolean;
  /** The query parameter that numbers the feed's pages for a backfill; `null`: found from the feed. */
  pageParam: string | null;
  /** The span the last complete run covered. */
  lastWindow: FeedWindow | null;
  health: SourceHealth | null;
  running: boolean;
}

export interface SourceInput {
  name?: string;
  url?: string;
  cron?: string;
  enabled?: boolean;
  /** `""` clears a custom User-Agent (`null` would mean "unchanged" to the daemon). */
  userAgent?: string;
  expiry?: Expiry;
  linkCheck?: boolean;
  /** `""` goes back to finding it from the feed. */
  pageParam?: string;
  format?: SourceFormat;
  mapping?: Mapping;
  /** `""` goes back to the URL's host. */
  publisher?: string;
  /** 0 goes back to the daemon's default. */
  maxBodyBytes?: number;
}

/** What `POST /api/preview` is asked. */
export interface PreviewInput {
  url: string;
  format?: SourceFormat;
  mapping?: Mapping;
  publisher?: string;
  userAgent?: string;
  maxBodyBytes?: number;
  refetch?: boolean;
}

export interface PreviewJob {
  externalId: string;
  title: string;
  company: string | null;
  url: string | null;
  locations: string[];
  datePosted: string | null;
}

/** What an import would give, written nowhere. */
export interface Preview {
  finalUrl: string;
  publisher: string;
  cached: boolean;
  bodyBytes: number;
  format: string | null;
  items: number;
  jobs: PreviewJob[];
  coverage: Record<string, number>;
  failures: CodedMessage[];
  failureCount: number;
  error: CodedMessage | null;
  would: { new: number; updated: number; unchanged: number; reopened: number } | null;
}

export interface Job {
  _id: string;
  externalId: string;
  publisher: string;
  title: string;
  company: string | null;
  locations: string[];
  remote: boolean | null;
  employmentType: string | null;
  categories: string[];
  descriptionHtml: string | null;
  url: string | null;
  datePosted: string | null;
  status: 'open' | 'closed';
  sources: string[];
  firstSeenAt: string;
  updatedAt: string;
  lastSeenAt: string;
  logoUrl: string | null;
  /** Until when the feed said the posting is open. */
  validThrough: string | null;
  closedAt: string | null;
  closedReason: ClosedReason | null;
  reopenedAt: string | null;
  /** Only on `GET /api/jobs/{id}`. */
  descriptionText?: string | null;
}

export interface StatsBucket {
  bucket: string;
  runs: number;
  failedRuns: number;
  newJobs: number;
  updatedJobs: number;
  failedJobs: number;
}

export interface SourceStats {
  sourceId: string;
  sourceName: string;
  hourly: StatsBucket[];
  daily: StatsBucket[];
}

/** `GET /api/stats`. */
export interface Stats {
  totalRuns: number;
  activeRuns: number;
  totalJobs: number;
  openJobs: number;
  /** When `totalJobs` and `openJobs` were counted (a snapshot, refreshed in the background). */
  jobsCountedAt: string;
  sources: number;
  generatedAt: string;
  hours: number;
  days: number;
  /** Only the most recent runs were counted. */
  truncated: boolean;
  hourly: StatsBucket[];
  daily: StatsBucket[];
  bySource: SourceStats[];
}

export interface StatsParams {
  hours?: number | undefined;
  days?: number | undefined;
  source?: string | undefined;
}

export type RunSort = 'date' | 'failures';
export const RUN_SORTS: readonly RunSort[] = ['date', 'failures'];

export interface RunListParams {
  page: number;
  limit: number;
  source?: string | undefined;
  status?: RunStatus | undefined;
  /** RFC 3339 instants, inclusive. */
  from?: string | undefined;
  to?: string | undefined;
  sort?: RunSort | undefined;
  /** Runs that failed with this code, or had items fail with it. */
  failureCode?: string | undefined;
  /** Literal, case-insensitive text in the run's error or its item failures' messages. */
  errorText?: string | undefined;
}

export const EMPLOYMENT_TYPES = ['FULL_TIME', 'PART_TIME', 'CONTRACTOR', 'TEMPORARY', 'INTERN', 'VOLUNTEER', 'PER_DIEM', 'OTHER'] as const;
export type EmploymentType = (typeof EMPLOYMENT_TYPES)[number];

export interface JobListParams {
  q: string;
  page: number;
  limit: number;
  source?: string | undefined;
  company?: string | undefined;
  location?: string | undefined;
  employmentType?: EmploymentType | undefined;
  remote?: 'true' | 'false' | undefined;
  status?: 'open' | 'closed' | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export const AUDIT_ACTIONS = [
  'source_created',
  'source_updated',
  'source_removed',
  'import_started',
  'import_all_started',
  'run_replayed',
  'maintenance_paused',
  'maintenance_resumed',
  'alert_test_sent',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** One entry of `GET /api/audit`: who (the token's role, never the token) did what, when. */
export interface AuditEntry {
  _id: string;
  at: string;
  actor: 'admin' | 'previous_admin' | 'cli';
  action: AuditAction;
  sourceId?: string;
  runId?: string;
  changes?: { field: string; before: unknown; after: unknown }[];
  detail?: string;
}

export interface AuditParams {
  page: number;
  limit: number;
  source?: string | undefined;
  action?: AuditAction | undefined;
}

export type ExportFormat = 'csv' | 'ndjson';

/** A downloaded export: the file and the name the daemon gave it. */
export interface ExportFile {
  blob: Blob;
  fileName: string;
}

export interface ErrorBody {
  error: CodedMessage;
}

/** One source as `initial_data` lists it. */
export interface SourceStatus {
  _id: string;
  name: string;
  enabled: boolean;
  running: boolean;
  health: SourceHealth | null;
}

export interface Totals {
  runs: number;
  activeRuns: number;
  totalFetched: number;
  newJobs: number;
  updatedJobs: number;
  failedJobs: number;
}

/** Whether the deployment is paused for maintenance (`GET /api/maintenance`). */
export interface Maintenance {
  paused: boolean;
  pausedAt: string | null;
  /** The credential's role: `admin`, `previous_admin` or `cli`. */
  pausedBy: string | null;
  reason: string | null;
  resumedAt: string | null;
  resumedBy: string | null;
}

export type QueueName = 'fetch' | 'items';

export interface QueueCounts {
  name: QueueName;
  waiting: number;
  active: number;
  delayed: number;
  nextDueAt: string | null;
}

export interface HeldTask {
  taskId: string;
  runId: string | null;
  sourceId: string | null;
  batchNo: number | null;
  attempt: number | null;
}

export interface QueueWorker {
  daemon: string;
  queue: QueueName;
  worker: string;
  lastHeartbeatAt: string;
  holding: number;
  tasks: HeldTask[];
}

/** How far one changes webhook got (absent until a daemon first looked at it). */
export interface ChangesWebhookState {
  /** `seq` of the last change its receiver acknowledged. */
  cursor: number;
  /** Failed attempts of the next batch. */
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
  lastDeliveredAt: string | null;
  deliveredChanges: number;
  deliveredBatches: number;
}

export const WEBHOOK_STARTS = ['beginning', 'now'] as const;

export interface ChangesWebhook {
  id: string;
  /** The webhook's host (never its URL or secret). */
  target: string;
  /** Empty: every source. */
  sources: string[];
  start: (typeof WEBHOOK_STARTS)[number];
  /** Changes recorded after its cursor. */
  behind: number | null;
  state: ChangesWebhookState | null;
}

/** `GET /api/jobs/changes/webhooks`. */
export interface ChangesWebhooks {
  head: number;
  webhooks: ChangesWebhook[];
}

/** `GET /api/queues`. */
export interface QueueView {
  paused: boolean;
  queues: QueueCounts[];
  workers: QueueWorker[];
}

export interface InitialData {
  logs: Page<ImportRun>;
  sources: SourceStatus[];
  totals: Totals | null;
  /** Pass as `since` in the next `sync`. */
  serverTime: string | null;
  maintenance: Maintenance | null;
}

export interface SyncResult {
  runs: ImportRun[];
  serverTime: string;
  hasMore: boolean;
}

export interface RunProgress {
  run: ImportRun;
  recentFailures: RunFailure[];
  failuresStored: number;
}

/** Server → client WebSocket messages. */
export type ServerEvent =
  | { event: 'initial_data'; data: InitialData }
  | { event: 'import_history_update'; data: ImportRun }
  | { event: 'sync_result'; data: SyncResult }
  | { event: 'run_progress'; data: RunProgress }
  | { event: 'maintenance'; data: Maintenance }
  | { event: 'pong' }
  | { event: 'error'; data: CodedMessage };

/** Client → server WebSocket messages. */
export type ClientEvent =
  | { event: 'ping' }
  | { event: 'sync'; data: { since?: string; runs?: Record<string, number> } }
  | { event: 'subscribe_run' | 'unsubscribe_run'; data: { runId: string } }
  | { event: 'subscribe_source' | 'unsubscribe_source'; data: { sourceId: string } };

export const ALERT_EVENTS = ['run_failed', 'backing_off', 'stale', 'coverage_drop', 'item_failures'] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];
export const ALERT_TRANSITIONS = ['opened', 'recovered', 'test'] as const;
export type AlertTransition = (typeof ALERT_TRANSITIONS)[number];
export const ALERT_DELIVERY_STATUSES = ['pending', 'sent', 'failed'] as const;
export type AlertDeliveryStatus = (typeof ALERT_DELIVERY_STATUSES)[number];
export const ALERT_CHANNEL_KINDS = ['webhook', 'slack', 'email'] as const;
export type AlertChannelKind = (typeof ALERT_CHANNEL_KINDS)[number];

/** A channel of `[alerts]` as the API shows it: never its URL path, secret or password. */
export interface AlertChannel {
  id: string;
  kind: AlertChannelKind;
  /** A webhook's host; an email channel's SMTP host and recipients. */
  target: string;
  signed: boolean;
}

/** `GET /api/alerts/channels`: the channels, and whether this token may send a test. */
export interface AlertChannels {
  channels: AlertChannel[];
  canSendTest: boolean;
}

/** What an alert says (the webhook's body). */
export interface AlertMessage {
  incidentId: string;
  sourceId: string;
  /** Null for a test message. */
  event: AlertEvent | null;
  transition: AlertTransition;
  detail: string;
  runId: string | null;
  at: string;
}

/** One message to one channel, with how its sending went. */
export interface AlertDelivery {
  _id: string;
  sourceId: string;
  channelId: string;
  message: AlertMessage;
  status: AlertDeliveryStatus;
  attempts: number;
  createdAt: string;
  nextAt: string | null;
  sentAt: string | null;
  lastError: string | null;
}

export interface AlertDeliveryParams {
  source?: string | undefined;
  limit: number;
}
