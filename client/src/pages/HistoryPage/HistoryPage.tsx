import { useCallback } from 'react';
import { useRunsPage, useSources } from '../../api/hooks';
import { RUN_STATUSES } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage/ErrorMessage';
import { Pagination } from '../../components/Pagination/Pagination';
import { useNow } from '../../lib/useNow';
import { RunRow } from './RunRow/RunRow';
import { MAX_ERROR_TEXT, MAX_FAILURE_CODE, useHistoryParams } from './useHistoryParams';
import { DebouncedInput } from './DebouncedInput/DebouncedInput';

export function HistoryPage() {
  const { params, days, filtered, update } = useHistoryParams();
  const runs = useRunsPage(params);
  const sources = useSources();
  const items = runs.data?.items ?? [];
  const now = useNow(items.some((r) => r.status === 'running' || r.status === 'queued'));
  const onFailureCode = useCallback((v: string | undefined) => update({ failureCode: v }), [update]);
  const onErrorText = useCallback((v: string | undefined) => update({ errorText: v }), [update]);
  // Suggestions for the code filter: the codes of the runs in view.
  const codesOnPage = [...new Set(items.flatMap((r) => [...(r.error ? [r.error.code] : []), ...r.failuresByCode.map((c) => c.code)]))].sort();

  return (
    <section aria-labelledby="history-title">
      <div className="page-head">
        <h1 id="history-title">Import history</h1>
        <form className="filters" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
          <div className="field field--inline">
            <label htmlFor="filter-source">Source</label>
            <select
              id="filter-source"
              value={params.source ?? ''}
              onChange={(e) => update({ source: e.target.value || undefined })}
            >
              <option value="">All sources</option>
              {(sources.data ?? []).map((s) => (
                <option key={s._id} value={s._id}>
                  {s.name}
                </option>
              ))}
              {params.source && !sources.data?.some((s) => s._id === params.source) ? (
                <option value={params.source}>{params.source}</option>
              ) : null}
            </select>
          </div>
          <div className="field field--inline">
            <label htmlFor="filter-status">Status</label>
            <select
              id="filter-status"
              value={params.status ?? ''}
              onChange={(e) => update({ status: e.target.value || undefined })}
            >
              <option value="">Any status</option>
              {RUN_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s.replace('_', ' ')}
                </option>
              ))}
            </select>
          </div>
          <div className="field field--inline">
            <label htmlFor="filter-from">From</label>
            <input id="filter-from" type="date" value={days.from ?? ''} max={days.to} onChange={(e) => update({ from: e.target.value || undefined })} />
          </div>
          <div className="field field--inline">
            <label htmlFor="filter-to">To</label>
            <input id="filter-to" type="date" value={days.to ?? ''} min={days.from} onChange={(e) => update({ to: e.target.value || undefined })} />
          </div>
          <DebouncedInput
            id="filter-failure-code"
            label="Failure code"
            value={params.failureCode ?? ''}
            onChange={onFailureCode}
            maxLength={MAX_FAILURE_CODE}
            placeholder="fetch.timeout"
            list="failure-codes"
          />
          <datalist id="failure-codes">
            {codesOnPage.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
          <DebouncedInput
            id="filter-error-text"
            label="Error text"
            value={params.errorText ?? ''}
            onChange={onErrorText}
            maxLength={MAX_ERROR_TEXT}
            placeholder="words in the error"
          />
          <div className="field field--inline">
            <label htmlFor="filter-sort">Order</label>
            <select id="filter-sort" value={params.sort ?? 'date'} onChange={(e) => update({ sort: e.target.value === 'date' ? undefined : e.target.value })}>
              <option value="date">Newest first</option>
              <option value="failures">Most failed items first</option>
            </select>
          </div>
          {filtered || params.sort ? (
            <button
              type="button"
              className="btn btn--small btn--ghost"
              onClick={() =>
                update({ source: undefined, status: undefined, from: undefined, to: undefined, sort: undefined, failureCode: undefined, errorText: undefined })
              }
            >
              Clear filters
            </button>
          ) : null}
        </form>
      </div>

      {runs.isError ? <ErrorMessage error={runs.error} title="Could not load the import history" onRetry={() => void runs.refetch()} /> : null}

      <div className="table-wrap" aria-busy={runs.isFetching}>
        <table className="table table--cards" data-testid="history-table">
          <caption className="sr-only">Import runs, {params.sort === 'failures' ? 'most failed items first' : 'newest first'}</caption>
          <thead>
            <tr>
              <th scope="col">fileName</th>
              <th scope="col">importDateTime</th>
              <th scope="col" className="num">total</th>
              <th scope="col" className="num">new</th>
              <th scope="col" className="num">updated</th>
              <th scope="col" className="num">unchanged</th>
              <th scope="col" className="num">failed</th>
              <th scope="col">status</th>
              <th scope="col" className="num">duration</th>
              <th scope="col"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {items.map((run) => (
              <RunRow key={run._id} run={run} now={now} />
            ))}
          </tbody>
        </table>
        {runs.isPending ? <p className="muted">Loading import runs…</p> : null}
        {runs.isSuccess && items.length === 0 ? (
          <p className="empty">
            {filtered ? 'No runs match these filters.' : 'No imports yet. Add a source and press “Import now”.'}
          </p>
        ) : null}
      </div>

      {runs.data ? (
        <Pagination page={params.page} limit={params.limit} total={runs.data.total} onPage={(page) => update({ page })} label="Import history pages" />
      ) : null}
    </section>
  );
}
