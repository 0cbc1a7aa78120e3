import { ApiError, parseErrorBody } from './errors';
import {
  normalizeAlertChannels,
  normalizeAlertDelivery,
  normalizeJob,
  normalizeMaintenance,
  normalizeQueueView,
  normalizeChangesWebhooks,
  normalizeRun,
  normalizeRunDetail,
  normalizeRunPage,
  normalizeSource,
} from './normalize';
import type {
  AlertChannels,
  AlertDelivery,
  AlertDeliveryParams,
  AuditEntry,
  AuditParams,
  ImportRun,
  ExportFile,
  ExportFormat,
  Job,
  JobListParams,
  Maintenance,
  Page,
  QueueView,
  ChangesWebhooks,
  RunDetail,
  RunDetailParams,
  RunListParams,
  RunPage,
  Mapping,
  Preview,
  PreviewInput,
  Source,
  SourceInput,
  StartAllReport,
  Stats,
  StatsParams,
} from './types';

/**
 * The query parameters the client sends on each endpoint, by name. `contract.test.ts` checks
 * every one against `docs/openapi.json`, so a parameter renamed on the daemon fails a test.
 */
export const QUERY_PARAMS = {
  '/api/import-logs': ['page', 'limit', 'source', 'status', 'from', 'to', 'sort', 'failureCode', 'errorText'],
  '/api/import-logs/{id}': ['failuresPage', 'failuresLimit', 'failureCode'],
  '/api/jobs': ['q', 'page', 'limit', 'source', 'company', 'location', 'employmentType', 'remote', 'status', 'from', 'to'],
  '/api/jobs/export': ['format', 'q', 'source', 'company', 'location', 'employmentType', 'remote', 'status', 'from', 'to'],
  '/api/stats': ['hours', 'days', 'source'],
  '/api/audit': ['source', 'action', 'page', 'limit'],
  '/api/alerts/deliveries': ['source', 'limit'],
} as const satisfies Record<string, readonly string[]>;

type ParamsOf<P extends keyof typeof QUERY_PARAMS> = Partial<Record<(typeof QUERY_PARAMS)[P][number], string | number | undefined>>;

/** Everything the UI asks the daemon over REST. Tests substitute a fake with the same shape. */
/** What a source removal does with the jobs only that source carries. */
export type RemovedSourceJobs = 'close' | 'keep';

export interface ApiClient {
  listRuns: (params: RunListParams) => Promise<RunPage>;
  getRun: (id: string, params?: RunDetailParams) => Promise<RunDetail>;
  listSources(): Promise<{ items: Source[] }>;
  createSource(input: SourceInput): Promise<Source>;
  /** `confirmPublisher`: go ahead with a new publisher although the source has jobs. */
  updateSource(id: string, input: SourceInput, opts?: { confirmPublisher?: boolean }): Promise<Source>;
  /** What importing a URL would give; writes nothing. */
  preview(input: PreviewInput): Promise<Preview>;
  /** The built-in mappings, to start a source's own from. */
  listMappings(): Promise<{ items: { name: string; mapping: Mapping }[] }>;
  /** Removes a source; `jobs` says what happens to the jobs only it carries (closed by default). */
  deleteSource(id: string, jobs?: RemovedSourceJobs): Promise<void>;
  importNow(id: string, opts?: { unconditional?: boolean }): Promise<{ run: ImportRun }>;
  /** Runs the source of run `id` again now, fetching without validators. */
  replayRun(id: string): Promise<{ run: ImportRun }>;
  /** One run that walks the feed's pages (at most `pages`; the daemon's cap by default). */
  backfill(id: string, opts?: { pages?: number }): Promise<{ run: ImportRun }>;
  /** One run of every enabled source. */
  importAll(): Promise<StartAllReport>;
  listJobs(params: JobListParams): Promise<Page<Job>>;
  getJob(id: string): Promise<Job>;
  /** Every job matching the list's filters, as a file. */
  exportJobs(params: Omit<JobListParams, 'page' | 'limit'>, format: ExportFormat): Promise<ExportFile>;
  getStats(params?: StatsParams): Promise<Stats>;
  listAudit(params: AuditParams): Promise<Page<AuditEntry>>;
  getMaintenance(): Promise<Maintenance>;
  /** Pauses every daemon (admin); a reason shows on every dashboard's banner. */
  pause(reason?: string): Promise<Maintenance>;
  resume(): Promise<Maintenance>;
  getQueues(): Promise<QueueView>;
  /** The webhooks the changes feed is pushed to (no URLs or secrets), and how far each got. */
  getChangesWebhooks(): Promise<ChangesWebhooks>;
  /** The alert channels of the config file (no secrets), and whether this token may test them. */
  listAlertChannels(): Promise<AlertChannels>;
  /** Alert deliveries, newest first (of one source when given). */
  listAlertDeliveries(params: AlertDeliveryParams): Promise<AlertDelivery[]>;
  /** Queues a test message to a channel, shown in `source`'s history when given. */
  sendAlertTest(channelId: string, source?: string): Promise<{ deliveryId: string }>;
}

export interface HttpApiClientOptions {
  /** Origin-relative by default: the daemon serves the UI. */
  baseUrl?: string;
  getToken: () => string | null;
  fetch?: typeof fetch;
}

function query<P extends keyof typeof QUERY_PARAMS>(_path: P, params: ParamsOf<P>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries<string | number | undefined>(params)) {
    if (v !== undefined && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `?${s}` : '';
}

export function createHttpApiClient(opts: HttpApiClientOptions): ApiClient {
  const base = opts.baseUrl ?? '';
  const doFetch = opts.fetch ?? ((input, init) => fetch(input, init));

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    const token = opts.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';

    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, {
        code: 'network',
        message: 'Could not reach the server. Check that the daemon is running.',
      });
    }

    const text = await res.text();
    let parsed: unknown = undefined;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (!res.ok) throw new ApiError(res.status, parseErrorBody(res.status, res.statusText, parsed));
    if (res.status !== 204 && parsed === undefined) {
      throw new ApiError(res.status, {
        code: 'client.bad_response',
        message: 'The server sent a response that is not JSON.',
      });
    }
    return parsed as T;
  }

  /** A download: the body as a Blob, errors as from `request`. */
  async function download(path: string): Promise<ExportFile> {
    const headers: Record<string, string> = {};
    const token = opts.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, { method: 'GET', headers });
    } catch {
      throw new ApiError(0, { code: 'network', message: 'Could not reach the server. Check that the daemon is running.' });
    }
    if (!res.ok) {
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      throw new ApiError(res.status, parseErrorBody(res.status, res.statusText, parsed));
    }
    const disposition = res.headers.get('Content-Disposition') ?? '';
    const fileName = /filename="([^"]+)"/.exec(disposition)?.[1] ?? 'jobs-export';
    return { blob: await res.blob(), fileName };
  }

  const enc = encodeURIComponent;
  return {
    listRuns: async (p) => {
      const qs = query('/api/import-logs', {
        page: p.page,
        limit: p.limit,
        source: p.source,
        status: p.status,
        from: p.from,
        to: p.to,
        sort: p.sort === 'date' ? undefined : p.sort,
        failureCode: p.failureCode,
        errorText: p.errorText,
      });
      return normalizeRunPage(await request<unknown>('GET', `/api/import-logs${qs}`));
    },
    getRun: async (id, p) => {
      const qs = p ? query('/api/import-logs/{id}', { failuresPage: p.failuresPage, failuresLimit: p.failuresLimit, failureCode: p.failureCode }) : '';
      return normalizeRunDetail(await request<unknown>('GET', `/api/import-logs/${enc(id)}${qs}`));
    },
    listSources: async () => {
      const body = await request<{ items?: unknown[] }>('GET', '/api/sources');
      return { items: (body.items ?? []).map(normalizeSource) };
    },
    createSource: async (input) => normalizeSource(await request('POST', '/api/sources', input)),
    updateSource: async (id, input, o) =>
      normalizeSource(await request('PATCH', `/api/sources/${enc(id)}${o?.confirmPublisher ? '?confirm=publisher' : ''}`, input)),
    preview: (input) => request<Preview>('POST', '/api/preview', input),
    listMappings: () => request<{ items: { name: string; mapping: Mapping }[] }>('GET', '/api/mappings'),
    deleteSource: (id, jobs = 'close') => request('DELETE', `/api/sources/${enc(id)}?jobs=${jobs}`),
    importNow: async (id, o) => {
      const qs = o?.unconditional ? '?unconditional=true' : '';
      const body = await request<{ run?: unknown }>('POST', `/api/sources/${enc(id)}/import${qs}`);
      return { run: normalizeRun(body.run) };
    },
    replayRun: async (id) => {
      const body = await request<{ run?: unknown }>('POST', `/api/import-logs/${enc(id)}/replay`);
      return { run: normalizeRun(body.run) };
    },
    backfill: async (id, o) => {
      const qs = o?.pages ? `?pages=${o.pages}` : '';
      const body = await request<{ run?: unknown }>('POST', `/api/sources/${enc(id)}/backfill${qs}`);
      return { run: normalizeRun(body.run) };
    },
    importAll: async () => {
      const body = await request<Partial<StartAllReport>>('POST', '/api/sources/import-all');
      return {
        started: (body.started ?? []).map((s) => ({ sourceId: s.sourceId, run: normalizeRun(s.run) })),
        alreadyRunning: body.alreadyRunning ?? [],
        failed: body.failed ?? [],
      };
    },
    listJobs: async (p) => {
      const { q, page, limit, source, company, location, employmentType, remote, status, from, to } = p;
      const qs = query('/api/jobs', { q, page, limit, source, company, location, employmentType, remote, status, from, to });
      const body = await request<Partial<Page<unknown>>>('GET', `/api/jobs${qs}`);
      const items = (body.items ?? []).map(normalizeJob);
      return { items, total: body.total ?? items.length, page: body.page ?? 1, limit: body.limit ?? items.length };
    },
    getJob: async (id) => normalizeJob(await request('GET', `/api/jobs/${enc(id)}`)),
    exportJobs: (p, format) => {
      const { q, source, company, location, employmentType, remote, status, from, to } = p;
      return download(`/api/jobs/export${query('/api/jobs/export', { format, q, source, company, location, employmentType, remote, status, from, to })}`);
    },
    listAudit: (p) => request('GET', `/api/audit${query('/api/audit', { source: p.source, action: p.action, page: p.page, limit: p.limit })}`),
    listAlertChannels: async () => normalizeAlertChannels(await request<unknown>('GET', '/api/alerts/channels')),
    listAlertDeliveries: async (p) => {
      const body = await request<{ deliveries?: unknown[] }>('GET', `/api/alerts/deliveries${query('/api/alerts/deliveries', { source: p.source, limit: p.limit })}`);
      return (body.deliveries ?? []).map(normalizeAlertDelivery);
    },
    sendAlertTest: (channelId, source) =>
      request('POST', `/api/alerts/channels/${enc(channelId)}/test${source ? `?source=${enc(source)}` : ''}`),
    getStats: (p = {}) => request('GET', `/api/stats${query('/api/stats', { hours: p.hours, days: p.days, source: p.source })}`),
    getMaintenance: async () => normalizeMaintenance(await request('GET', '/api/maintenance')),
    pause: async (reason) => normalizeMaintenance(await request('POST', '/api/maintenance/pause', reason ? { reason } : {})),
    resume: async () => normalizeMaintenance(await request('POST', '/api/maintenance/resume')),
    getQueues: async () => normalizeQueueView(await request('GET', '/api/queues')),
    getChangesWebhooks: async () => normalizeChangesWebhooks(await request('GET', '/api/jobs/changes/webhooks')),
  };
}
