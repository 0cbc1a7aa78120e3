/** Calendar days typed in the viewer's zone, turned into the instants the API filters on. */

export function isDay(v: string | null | undefined): v is string {
  return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(new Date(`${v}T00:00:00`).getTime());
}

/** Local midnight at the start of `day`, as an RFC 3339 instant. */
export function dayStartIso(day: string): string {
  return new Date(`${day}T00:00:00`).toISOString();
}

/** The last millisecond of `day` in the viewer's zone. */
export function dayEndIso(day: string): string {
  return new Date(`${day}T23:59:59.999`).toISOString();
}
