/** React Query bindings for the API client: one hook per read, one per write. */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useLive } from '../live/LiveContext';
import { reconcilePage } from '../live/mergeRun';
import { applyLiveRun } from '../live/cacheUpdates';
import { useApi } from './ApiContext';
import { mergeDetail } from '../live/cacheUpdates';
import { DEFAULT_FAILURES, queryKeys } from './queryKeys';
import type {
  AlertDeliveryParams,
  AuditParams,
  ImportRun,
  JobListParams,
  Maintenance,
  RunDetailParams,
  RunListParams,
  Source,
  SourceInput,
  StartAllReport,
  StatsParams,
} from './types';
import type { ApiClient, RemovedSourceJobs } from './client';

export function useRunsPage(params: RunListParams) {
  const api = useApi();
  const { ledger } = useLive();
  return useQuery({
    queryKey: queryKeys.runs.list(params),
    // Runs that changed on the socket while this request was in flight keep their newer version.
    queryFn: async () => reconcilePage(await api.listRuns(params), ledger.values(), params),
    placeholderData: keepPreviousData,
  });
}

export function useRun(id: string, params: RunDetailParams = DEFAULT_FAILURES) {
  const api = useApi();
  const { ledger } = useLive();
  return useQuery({
    queryKey: queryKeys.runs.detail(id, params),
    queryFn: async () => {
      const run = await api.getRun(id, params);
      const live = ledger.get(id);
      return live ? mergeDetail(run, live) : run;
    },
    placeholderData: keepPreviousData,
  });
}

export function useSources() {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.sources.list(),
    queryFn: async () => (await api.listSources()).items,
    // Sources change outside this tab (CLI, other admins) and the socket does not announce them;
    // health (next run, last error) also moves with time.
    staleTime: 0,
    refetchInterval: 30_000,
  });
}

export function useJobs(params: JobListParams) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.jobs.list(params),
    queryFn: () => api.listJobs(params),
    placeholderData: keepPreviousData,
  });
}

export function useJob(id: string | null) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.jobs.detail(id ?? ''),
    queryFn: () => api.getJob(id ?? ''),
    enabled: id !== null,
  });
}

export function useStats(params: StatsParams = {}) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.stats(params),
    queryFn: () => api.getStats(params),
    placeholderData: keepPreviousData,
    // Buckets move with the clock even when no run changes.
    refetchInterval: 60_000,
  });
}

export function useCreateSource() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: SourceInput) => api.createSource(input),
    onSuccess: () => qc.invalidateQueries({ queryKey: queryKeys.sources.all() }),
  });
}

export function useUpdateSource() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, input, confirmPublisher }: { id: string; input: SourceInput; confirmPublisher?: boolean }) =>
      api.updateSource(id, input, { confirmPublisher }),
    onSuccess: (updated: Source) => {
      qc.setQueryData<Source[]>(queryKeys.sources.list(), (old) => old?.map((s) => (s._id === updated._id ? updated : s)));
      return qc.invalidateQueries({ queryKey: queryKeys.sources.all() });
    },
  });
}

export function useDeleteSource() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, jobs }: { id: string; jobs: RemovedSourceJobs }) => api.deleteSource(id, jobs),
    onSuccess: () => qc.invalidateQueries({ queryKey: queryKeys.sources.all() }),
  });
}

export function useImportNow() {
  const api = useApi();
  const qc = useQueryClient();
  const { ledger } = useLive();
  return useMutation({
    mutationFn: (id: string) => api.importNow(id),
    onSuccess: ({ run }: { run: ImportRun }) => {
      // Show the queued run at once; the socket's updates then carry it forward by version.
      applyLiveRun(qc, ledger, run);
      qc.setQueryData<Source[]>(queryKeys.sources.list(), (old) =>
        old?.map((s) => (s._id === run.sourceId ? { ...s, running: true } : s)),
      );
      return qc.invalidateQueries({ queryKey: queryKeys.sources.all() });
    },
  });
}

/** A backfill of a source; its run shows at once. */
export function useBackfill() {
  const api = useApi();
  const qc = useQueryClient();
  const { ledger } = useLive();
  return useMutation({
    mutationFn: (id: string) => api.backfill(id),
    onSuccess: ({ run }: { run: ImportRun }) => {
      applyLiveRun(qc, ledger, run);
      qc.setQueryData<Source[]>(queryKeys.sources.list(), (old) =>
        old?.map((s) => (s._id === run.sourceId ? { ...s, running: true } : s)),
      );
      return qc.invalidateQueries({ queryKey: queryKeys.sources.all() });
    },
  });
}

/** Runs the source of a run again now, without validators; the new run shows at once. */
export function useReplayRun() {
  const api = useApi();
  const qc = useQueryClient();
  const { ledger } = useLive();
  return useMutation({
    mutationFn: (id: string) => api.replayRun(id),
    onSuccess: ({ run }: { run: ImportRun }) => {
      applyLiveRun(qc, ledger, run);
      return qc.invalidateQueries({ queryKey: queryKeys.sources.all() });
    },
  });
}

/** One run of every enabled source; the runs started show at once. */
export function useImportAll() {
  const api = useApi();
  const qc = useQueryClient();
  const { ledger } = useLive();
  return useMutation({
    mutationFn: () => api.importAll(),
    onSuccess: (report: StartAllReport) => {
      for (const { run } of report.started) applyLiveRun(qc, ledger, run);
      return qc.invalidateQueries({ queryKey: queryKeys.sources.all() });
    },
  });
}

/** A page of the audit log. */
export function useAudit(params: AuditParams) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.audit(params),
    queryFn: () => api.listAudit(params),
    placeholderData: keepPreviousData,
  });
}

/** The pause state: read once, then kept current by the socket (`initial_data`, `maintenance`). */
export function useMaintenance() {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.maintenance(),
    queryFn: () => api.getMaintenance(),
    staleTime: Infinity,
  });
}

function useMaintenanceChange(change: (api: ApiClient, reason?: string) => Promise<Maintenance>) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (reason?: string) => change(api, reason),
    onSuccess: (m: Maintenance) => {
      qc.setQueryData(queryKeys.maintenance(), m);
      return qc.invalidateQueries({ queryKey: queryKeys.queues() });
    },
  });
}

export const usePause = () => useMaintenanceChange((api, reason) => api.pause(reason));
export const useResume = () => useMaintenanceChange((api) => api.resume());

/** The queue view, read again every few seconds while shown. */
export function useQueues(refetchMs = QUEUES_REFRESH_MS) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.queues(),
    queryFn: () => api.getQueues(),
    refetchInterval: refetchMs,
  });
}

export const QUEUES_REFRESH_MS = 3000;

/** The changes webhooks, read again as often as the queues while shown. */
export function useChangesWebhooks(refetchMs = QUEUES_REFRESH_MS) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.changesWebhooks(),
    queryFn: () => api.getChangesWebhooks(),
    refetchInterval: refetchMs,
  });
}
/** The alert channels (they change only with the config file, so they are read once a minute). */
export function useAlertChannels() {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.alerts.channels(),
    queryFn: () => api.listAlertChannels(),
    staleTime: 60_000,
  });
}

/** Alert deliveries of a source; polled, since they are sent in the background with retries. */
export function useAlertDeliveries(params: AlertDeliveryParams) {
  const api = useApi();
  return useQuery({
    queryKey: queryKeys.alerts.deliveries(params),
    queryFn: () => api.listAlertDeliveries(params),
    // Faster while one waits to be sent or retried.
    refetchInterval: (q) => (q.state.data?.some((d) => d.status === 'pending') ? 2_000 : 15_000),
  });
}

/** "Send test": queues a test message; the history shows it at once, then as it is sent. */
export function useSendAlertTest() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ channelId, source }: { channelId: string; source?: string }) => api.sendAlertTest(channelId, source),
    // Not awaited: "queued" shows at once, the history catches up.
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: queryKeys.alerts.deliveriesAll() });
    },
  });
}
