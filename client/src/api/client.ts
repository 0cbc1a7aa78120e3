import { ApiError, parseErrorBody } from './errors';
import { normalizeRun, normalizeRunPage } from './normalize';
import type {
  ImportRun,
  Job,
  JobListParams,
  Page,
  RunListParams,
  Source,
  SourceInput,
  Stats,
} from './types';

/** Everything the UI asks the daemon over REST. Tests substitute a fake with the same shape. */
export interface ApiClient {
  listRuns: (params: RunListParams) => Promise<Page<ImportRun>>;
  getRun: (id: string) => Promise<ImportRun>;
  listSources(): Promise<{ items: Source[] }>;
  createSource(input: SourceInput): Promise<Source>;
  updateSource(id: string, input: SourceInput): Promise<Source>;
  deleteSource(id: string): Promise<void>;
  importNow(id: string): Promise<{ run: ImportRun }>;
  listJobs(params: JobListParams): Promise<Page<Job>>;
  getStats(): Promise<Stats>;
}

export interface HttpApiClientOptions {
  /** Origin-relative by default: the daemon serves the UI. */
  baseUrl?: string;
  getToken: () => string | null;
  fetch?: typeof fetch;
}

function query(params: Record<string, string | number | undefined>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
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

  const enc = encodeURIComponent;
  return {
    listRuns: async (p) =>
      normalizeRunPage(
        await request<unknown>('GET', `/api/import-logs${query({ page: p.page, limit: p.limit, source: p.source, status: p.status })}`),
      ),
    getRun: async (id) => normalizeRun(await request<unknown>('GET', `/api/import-logs/${enc(id)}`)),
    listSources: () => request('GET', '/api/sources'),
    createSource: (input) => request('POST', '/api/sources', input),
    updateSource: (id, input) => request('PATCH', `/api/sources/${enc(id)}`, input),
    deleteSource: (id) => request('DELETE', `/api/sources/${enc(id)}`),
    importNow: async (id) => {
      const body = await request<{ run?: unknown }>('POST', `/api/sources/${enc(id)}/import`);
      return { run: normalizeRun(body.run) };
    },
    listJobs: (p) => request('GET', `/api/jobs${query({ q: p.q, page: p.page, limit: p.limit })}`),
    getStats: () => request('GET', '/api/stats'),
  };
}
