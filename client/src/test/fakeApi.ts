import type { ApiClient } from '../api/client';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

type Method = keyof ApiClient;
type Result<M extends Method> = Awaited<ReturnType<ApiClient[M]>>;

export interface PendingCall<M extends Method> {
  args: Parameters<ApiClient[M]>;
  resolve: (value: Result<M>) => void;
  reject: (reason: unknown) => void;
}

/**
 * An ApiClient whose every call stays pending until the test settles it, so a test can look at
 * the loading state, then answer (or fail) each request in the order it chooses.
 */
export class FakeApi {
  private readonly pending = new Map<Method, PendingCall<Method>[]>();
  readonly calls: { method: Method; args: unknown[] }[] = [];

  readonly client: ApiClient;

  constructor() {
    const handler = <M extends Method>(method: M) =>
      ((...args: Parameters<ApiClient[M]>) => {
        const d = deferred<Result<M>>();
        this.calls.push({ method, args });
        const list = this.pending.get(method) ?? [];
        list.push({ args, resolve: d.resolve, reject: d.reject } as unknown as PendingCall<Method>);
        this.pending.set(method, list);
        return d.promise;
      }) as unknown as ApiClient[M];
    this.client = {
      listRuns: handler('listRuns'),
      getRun: handler('getRun'),
      listSources: handler('listSources'),
      createSource: handler('createSource'),
      updateSource: handler('updateSource'),
      preview: handler('preview'),
      listMappings: handler('listMappings'),
      deleteSource: handler('deleteSource'),
      importNow: handler('importNow'),
      replayRun: handler('replayRun'),
      backfill: handler('backfill'),
      importAll: handler('importAll'),
      listJobs: handler('listJobs'),
      getJob: handler('getJob'),
      exportJobs: handler('exportJobs'),
      getStats: handler('getStats'),
      listAudit: handler('listAudit'),
      getMaintenance: handler('getMaintenance'),
      pause: handler('pause'),
      resume: handler('resume'),
      getQueues: handler('getQueues'),
      getChangesWebhooks: handler('getChangesWebhooks'),
      listAlertChannels: handler('listAlertChannels'),
      listAlertDeliveries: handler('listAlertDeliveries'),
      sendAlertTest: handler('sendAlertTest'),
    };
  }

  /** The oldest unanswered call of `method`; throws when there is none (the UI did not ask). */
  next<M extends Method>(method: M): PendingCall<M> {
    const list = this.pending.get(method) ?? [];
    const call = list.shift();
    if (!call) throw new Error(`no pending ${method} call (calls so far: ${this.calls.map((c) => c.method).join(', ') || 'none'})`);
    return call;
  }

  pendingCount(method: Method): number {
    return this.pending.get(method)?.length ?? 0;
  }
}
