import type { ImportRun } from '../api/types';
import { newerOf } from './mergeRun';

/**
 * The highest version of each run seen on the WebSocket since the last `initial_data`.
 * Bounded: only recent runs matter for reconciling REST answers.
 */
export class RunLedger {
  private readonly runs = new Map<string, ImportRun>();

  constructor(private readonly capacity = 200) {}

  /** Records the run; returns the version to show (the held one if the incoming is stale). */
  record(run: ImportRun): ImportRun {
    const kept = newerOf(this.runs.get(run._id), run);
    this.runs.delete(run._id);
    this.runs.set(run._id, kept);
    while (this.runs.size > this.capacity) {
      const oldest = this.runs.keys().next().value;
      if (oldest === undefined) break;
      this.runs.delete(oldest);
    }
    return kept;
  }

  get(id: string): ImportRun | undefined {
    return this.runs.get(id);
  }

  values(): IterableIterator<ImportRun> {
    return this.runs.values();
  }

  clear(): void {
    this.runs.clear();
  }
}
