import type { RunDurations } from '../../../api/types';
import { formatMs } from '../../../lib/format';

const STAGES: { key: keyof RunDurations; label: string }[] = [
  { key: 'fetchMs', label: 'Fetch' },
  { key: 'parseMs', label: 'Parse' },
  { key: 'persistMs', label: 'Persist' },
];

export function StageTimings({ durations }: { durations: RunDurations }) {
  const max = Math.max(1, ...STAGES.map((s) => durations[s.key] ?? 0));
  return (
    <div className="timings" role="list" aria-label="Stage timings">
      {STAGES.map((s) => {
        const ms = durations[s.key];
        return (
          <div className="timing" role="listitem" key={s.key}>
            <span>{s.label}</span>
            <span aria-hidden="true">
              {ms !== null ? <span className="timing__bar" style={{ display: 'block', width: `${(ms / max) * 100}%` }} /> : null}
            </span>
            <span className="num">{ms === null ? 'not run' : formatMs(ms)}</span>
          </div>
        );
      })}
    </div>
  );
}
