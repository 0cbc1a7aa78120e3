import { describe, expect, it } from 'vitest';
import { dayEndIso, dayStartIso, isDay } from './dates';

describe('day filters', () => {
  it('accepts only real calendar days', () => {
    expect(isDay('2026-11-30')).toBe(true);
    expect(isDay('2026-13-01')).toBe(false);
    expect(isDay('yesterday')).toBe(false);
    expect(isDay(null)).toBe(false);
  });

  it('spans the whole local day', () => {
    const start = Date.parse(dayStartIso('2026-11-30'));
    const end = Date.parse(dayEndIso('2026-11-30'));
    expect(end - start).toBe(24 * 3600 * 1000 - 1);
    expect(new Date(start).getHours()).toBe(0);
  });
});
