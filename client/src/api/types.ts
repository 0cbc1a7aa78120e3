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

export interface RunDurations {
  fetchMs: number | null;
  parseMs: number | null;
  persistMs: number | null;
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
  failuresByCode: Record<string, number>;
  error: CodedMessage | null;
  batchesTotal: number | null;
  batchesDone: number;
  itemsDone: number;
  batches?: Record<string, unknown>;
  durations: RunDurations;
  version: number;
  fetchedBy: string | null;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  limit: number;
}

export type SourceFormat = 'auto' | { json_api: string };

export interface SourceHealth {
  lastRunAt: string | null;
  lastSuccessAt: string | null;
  consecutiveFailures: number;
  nextRunAt: string | null;
  lastError: CodedMessage | null;
  lastRunId: string | null;
  lastStatus: RunStatus | null;
}

export interface Source {
  _id: string;
  name: string;
  url: string;
  cron: string;
  enabled: boolean;
  format: SourceFormat;
  publisher: string | null;
  userAgent: string | null;
  health: SourceHealth | null;
  running: boolean;
}

export interface SourceInput {
  name?: string;
  url?: string;
  cron?: string;
  enabled?: boolean;
  userAgent?: string | null;
}

export interface Job {
  _id: string;
  externalId: string;
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
}

/** Shape is not pinned by the contract yet; we only read top-level numbers from it. */
export type Stats = Record<string, unknown>;

export interface RunListParams {
  page: number;
  limit: number;
  source?: string | undefined;
  status?: RunStatus | undefined;
}

export interface JobListParams {
  q: string;
  page: number;
  limit: number;
}

export interface ErrorBody {
  error: CodedMessage;
}

/** Server → client WebSocket messages. */
export type ServerEvent =
  | { event: 'initial_data'; data: { logs: Page<ImportRun> } }
  | { event: 'import_history_update'; data: ImportRun }
  | { event: 'error'; data: CodedMessage };
