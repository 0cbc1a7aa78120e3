import { useSearchParams } from 'react-router';
import { useSources, useStats } from '../../api/hooks';
import { isApiError } from '../../api/errors';
import type { Stats } from '../../api/types';
import { ErrorMessage } from '../../components/ErrorMessage/ErrorMessage';
import { formatDateTime } from '../../lib/format';
import { failureRate, formatRate, sum } from './buckets';
import { LatestFailures } from './LatestFailures/LatestFailures';
import { StatsCharts } from './StatsCharts/StatsCharts';

const HOURS = [24, 48, 168];
const DAYS = [7, 14, 30, 90];

function pick(options: number[], v: string | null, fallback: number): number {
  const n = Number(v);
  return options.includes(n) ? n : fallback;
}

function Tiles({ stats }: { stats: Stats }) {
  const day = sum(stats.daily);
  const itemsTried = day.newJobs + day.updatedJobs + day.failedJobs;
  const tiles: [string, string][] = [
    ['Runs (all time)', stats.totalRuns.toLocaleString()],
    ['Running now', stats.activeRuns.toLocaleString()],
    ['Jobs stored', stats.totalJobs.toLocaleString()],
    ['Open jobs', stats.openJobs.toLocaleString()],
    ['Sources', stats.sources.toLocaleString()],
    [`Failed runs, ${String(stats.days)} d`, formatRate(failureRate(day))],
    [`Failed items, ${String(stats.days)} d`, itemsTried ? formatRate(day.failedJobs / itemsTried) : '—'],
  ];
  return (
    <dl className="stats" aria-label="Totals" data-testid="stat-tiles">
      {tiles.map(([k, v]) => (
        <div className="stat" key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export default function OverviewPage() {
  const [search, setSearch] = useSearchParams();
  const hours = pick(HOURS, search.get('hours'), 24);
  const days = pick(DAYS, search.get('days'), 14);
  const source = search.get('source') || undefined;
  const stats = useStats({ hours, days, source });
  const sources = useSources();
  const set = (k: string, v: string | null) =>
    setSearch((prev) => {
      const next = new URLSearchParams(prev);
      if (v) next.set(k, v);
      else next.delete(k);
      return next;
    });

  return (
    <section aria-labelledby="overview-title">
      <div className="page-head">
        <h1 id="overview-title">Overview</h1>
        <form className="filters" aria-label="Statistics window" onSubmit={(e) => e.preventDefault()}>
          <div className="field field--inline">
            <label htmlFor="ov-source">Source</label>
            <select id="ov-source" value={source ?? ''} onChange={(e) => set('source', e.target.value || null)}>
              <option value="">All sources</option>
              {(sources.data ?? []).map((s) => (
                <option key={s._id} value={s._id}>
                  {s.name}
                </option>
              ))}
            </select>
          </div>
          <div className="field field--inline">
            <label htmlFor="ov-hours">Hours</label>
            <select id="ov-hours" value={hours} onChange={(e) => set('hours', e.target.value === '24' ? null : e.target.value)}>
              {HOURS.map((h) => (
                <option key={h} value={h}>
                  last {h} h
                </option>
              ))}
            </select>
          </div>
          <div className="field field--inline">
            <label htmlFor="ov-days">Days</label>
            <select id="ov-days" value={days} onChange={(e) => set('days', e.target.value === '14' ? null : e.target.value)}>
              {DAYS.map((d) => (
                <option key={d} value={d}>
                  last {d} days
                </option>
              ))}
            </select>
          </div>
        </form>
      </div>
      {stats.isError ? (
        isApiError(stats.error) && stats.error.isNotFound ? (
          <div className="alert alert--info" role="status">
            The statistics API is not available on this daemon yet.
          </div>
        ) : (
          <ErrorMessage error={stats.error} title="Could not load statistics" onRetry={() => void stats.refetch()} />
        )
      ) : null}
      {stats.isPending ? <p className="muted">Loading statistics…</p> : null}
      {stats.data ? (
        <div aria-busy={stats.isFetching}>
          <Tiles stats={stats.data} />
          {stats.data.truncated ? (
            <p className="muted" role="note">
              Only the most recent runs were counted; older buckets may be incomplete.
            </p>
          ) : null}
          <StatsCharts stats={stats.data} />
          <p className="muted">
            As of{' '}
            <time dateTime={stats.data.generatedAt} title={stats.data.generatedAt}>
              {formatDateTime(stats.data.generatedAt)}
            </time>
            .
          </p>
        </div>
      ) : null}
      <LatestFailures />
    </section>
  );
}
