interface Props {
  itemsDone: number;
  batchesDone: number;
  batchesTotal: number | null;
}

/** Progress of a running import: batches done out of total; indeterminate until the total is known. */
export function ProgressBar({ itemsDone, batchesDone, batchesTotal }: Props) {
  const known = batchesTotal !== null && batchesTotal > 0;
  const label = known
    ? `${itemsDone} items, batch ${batchesDone} of ${batchesTotal}`
    : `${itemsDone} items, fetching`;
  return (
    <div className="progress" title={label}>
      <progress
        className="progress__bar"
        max={known ? batchesTotal : undefined}
        value={known ? batchesDone : undefined}
        aria-label={label}
      />
      <span className="progress__text">{label}</span>
    </div>
  );
}
