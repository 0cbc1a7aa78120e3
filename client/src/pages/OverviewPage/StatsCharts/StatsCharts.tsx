import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { Stats, StatsBucket } from '../../../api/types';
import { dayLabel, failureRate, hourLabel, perSource } from '../buckets';

const axis = { fill: 'var(--muted)', fontSize: 12 };
const tooltipStyle = { background: 'var(--surface)', border: '1px solid var(--border)', color: 'var(--text)' };
const legendStyle = { color: 'var(--text)' };

function ItemsChart({ title, data, label, summary }: { title: string; data: StatsBucket[]; label: (b: string) => string; summary: string }) {
  const rows = data.map((b) => ({ name: label(b.bucket), new: b.newJobs, updated: b.updatedJobs, failed: b.failedJobs }));
  return (
    <figure className="card chart-card">
      <figcaption>
        <h2>{title}</h2>
      </figcaption>
      <div className="chart" role="img" aria-label={summary}>
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={rows}>
            <CartesianGrid stroke="var(--border)" vertical={false} />
            <XAxis dataKey="name" tick={axis} stroke="var(--border)" minTickGap={16} />
            <YAxis tick={axis} stroke="var(--border)" allowDecimals={false} width={40} />
            <Tooltip contentStyle={tooltipStyle} cursor={{ fill: 'var(--surface-2)' }} />
            <Legend wrapperStyle={legendStyle} />
            <Bar dataKey="new" stackId="a" fill="var(--ok)" />
            <Bar dataKey="updated" stackId="a" fill="var(--info)" />
            <Bar dataKey="failed" stackId="a" fill="var(--bad)" />
          </BarChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}

function FailureRateChart({ data }: { data: StatsBucket[] }) {
  const rows = data.map((b) => {
    const r = failureRate(b);
    return { name: dayLabel(b.bucket), rate: r === null ? null : Math.round(r * 1000) / 10 };
  });
  return (
    <figure className="card chart-card">
      <figcaption>
        <h2>Failed runs per day (%)</h2>
      </figcaption>
      <div className="chart" role="img" aria-label="Share of failed runs per day, oldest to newest">
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={rows}>
            <CartesianGrid stroke="var(--border)" vertical={false} />
            <XAxis dataKey="name" tick={axis} stroke="var(--border)" minTickGap={16} />
            <YAxis tick={axis} stroke="var(--border)" domain={[0, 100]} unit="%" width={48} />
            <Tooltip contentStyle={tooltipStyle} formatter={(v) => `${String(v)}%`} />
            <Line type="monotone" dataKey="rate" name="failed runs" stroke="var(--bad)" strokeWidth={2} connectNulls dot={{ r: 3 }} />
          </LineChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}

function SourcesChart({ stats }: { stats: Stats }) {
  const rows = perSource(stats.bySource).slice(0, 12);
  if (rows.length === 0) return null;
  return (
    <figure className="card chart-card">
      <figcaption>
        <h2>Per source, last {stats.days} days</h2>
      </figcaption>
      <div className="chart" style={{ height: `${String(Math.max(160, rows.length * 34 + 60))}px` }} role="img" aria-label="New, updated and failed jobs per source">
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={rows} layout="vertical" margin={{ left: 8 }}>
            <CartesianGrid stroke="var(--border)" horizontal={false} />
            <XAxis type="number" tick={axis} stroke="var(--border)" allowDecimals={false} />
            <YAxis type="category" dataKey="name" tick={axis} stroke="var(--border)" width={140} />
            <Tooltip contentStyle={tooltipStyle} cursor={{ fill: 'var(--surface-2)' }} />
            <Legend wrapperStyle={legendStyle} />
            <Bar dataKey="newJobs" name="new" stackId="s" fill="var(--ok)" />
            <Bar dataKey="updatedJobs" name="updated" stackId="s" fill="var(--info)" />
            <Bar dataKey="failedJobs" name="failed" stackId="s" fill="var(--bad)" />
          </BarChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}

/** Charts of /api/stats; colours come from the theme's CSS variables. */
export function StatsCharts({ stats }: { stats: Stats }) {
  return (
    <div className="charts">
      <ItemsChart
        title={`Jobs per hour, last ${String(stats.hours)} hours`}
        data={stats.hourly}
        label={hourLabel}
        summary="New, updated and failed jobs per hour, oldest to newest, in your time zone"
      />
      <ItemsChart
        title={`Jobs per day (UTC), last ${String(stats.days)} days`}
        data={stats.daily}
        label={dayLabel}
        summary="New, updated and failed jobs per UTC day, oldest to newest"
      />
      <FailureRateChart data={stats.daily} />
      <SourcesChart stats={stats} />
    </div>
  );
}
