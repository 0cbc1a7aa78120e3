import cronstrue from 'cronstrue';

export const DEFAULT_CRON = '0 0 * * * *';

/**
 * A human reading of the daemon's 6-field cron (sec min hour dom mon dow, UTC), or the reason it
 * cannot be read. The server stays the judge of validity; this only helps while typing.
 */
export function describeCron(expr: string): { ok: true; text: string } | { ok: false; text: string } {
  const trimmed = expr.trim();
  if (!trimmed) return { ok: true, text: 'Uses the daemon default schedule.' };
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 6) {
    return { ok: false, text: `Expected 6 fields (sec min hour day month weekday), got ${fields.length}.` };
  }
  try {
    const text = cronstrue.toString(trimmed, { use24HourTimeFormat: true, verbose: false });
    return { ok: true, text: `${text} (UTC)` };
  } catch (e) {
    return { ok: false, text: typeof e === 'string' ? e : e instanceof Error ? e.message : 'Not a valid cron expression.' };
  }
}
