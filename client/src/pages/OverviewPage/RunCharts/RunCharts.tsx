import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { ImportRun, RunStatus } from '../../../api/types';
import { RUN_STATUSES } from '../../../api/types';

const STATUS_COLOR: Record<RunStatus, string> = {
  queued: 'var(--info)',
  running: 'var(--accent)',
  completed: 'var(--ok)',
  partial: 'var(--warn)',
  failed: 'var(--bad)',
  not_modified: 'var(--muted)',
};

const axis = { stroke: 'var(--muted)', fontSize: 12 };
const tooltipStyle = { background: 'var(--surface)', border: '1px solid var(--border)', color: 'var(--text)' };

/** Charts over the most recent runs; colours come from the theme's CSS variables. */
export function RunCharts({ runs }: { runs: ImportRun[] }) {
  const chronological = [...runs].reverse().map((r) => ({
    name: new Date(r.importDateTime).toLocaleString(undefined, { month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit' }),
    source: r.sourceName,
    new: r.newJobs,
    updated: r.updatedJobs,
    unchanged: r.unchangedJobs,
    failed: r.failedJobs,
  }));

  const bySource = new Map<string, Record<string, number | string>>();
  for (const r of runs) {
    const row = bySource.get(r.sourceId) ?? { name: r.sourceName };
    row[r.status] = ((row[r.status] as number | undefined) ?? 0) + 1;
    bySource.set(r.sourceId, row);
  }
  const sourceRows = [...bySource.values()];

  return (
    <div className="charts">
      <figure className="card" style={{ margin: 0 }}>
        <figcaption>
          <h2 style={{ marginTop: 0 }}>Jobs per run (last {runs.length} runs)</h2>
        </figcaption>
        <div className="chart" role="img" aria-label="Stacked bars of new, updated, unchanged and failed jobs per run, oldest to newest">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={chronological}>
              <CartesianGrid stroke="var(--border)" vertical={false} />
              <XAxis dataKey="name" tick={axis} stroke="var(--border)" minTickGap={24} />
              <YAxis tick={axis} stroke="var(--border)" allowDecimals={false} />
              <Tooltip contentStyle={tooltipStyle} cursor={{ fill: 'var(--surface-2)' }} />
              <Legend />
              <Bar dataKey="new" stackId="a" fill="var(--ok)" />
              <Bar dataKey="updated" stackId="a" fill="var(--info)" />
              <Bar dataKey="unchanged" stackId="a" fill="var(--muted)" />
              <Bar dataKey="failed" stackId="a" fill="var(--bad)" />
            </BarChart>
          </ResponsiveContainer>
        </div>
      </figure>
      <figure className="card" style={{ margin: 0 }}>
        <figcaption>
          <h2 style={{ marginTop: 0 }}>Outcome by source</h2>
        </figcaption>
        <div className="chart" role="img" aria-label="Run outcomes per source">
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={sourceRows} layout="vertical" margin={{ left: 24 }}>
              <CartesianGrid stroke="var(--border)" horizontal={false} />
              <XAxis type="number" tick={axis} stroke="var(--border)" allowDecimals={false} />
              <YAxis type="category" dataKey="name" tick={axis} stroke="var(--border)" width={140} />
              <Tooltip contentStyle={tooltipStyle} cursor={{ fill: 'var(--surface-2)' }} />
              <Legend />
              {RUN_STATUSES.map((s) => (
                <Bar key={s} dataKey={s} stackId="s" fill={STATUS_COLOR[s]} name={s.replace('_', ' ')} />
              ))}
            </BarChart>
          </ResponsiveContainer>
        </div>
      </figure>
    </div>
  );
}
