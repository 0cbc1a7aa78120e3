import { describe, expect, it } from 'vitest';
import { describeCron } from './cron';

describe('describeCron', () => {
  it('reads the 6-field form with seconds first, in UTC', () => {
    const r = describeCron('0 0 * * * *');
    expect(r.ok).toBe(true);
    expect(r.text).toMatch(/hour/i);
    expect(r.text).toMatch(/UTC/);
  });

  it('says why a 5-field or garbled expression is not accepted', () => {
    expect(describeCron('0 * * * *')).toEqual({ ok: false, text: expect.stringContaining('6 fields') as unknown });
    expect(describeCron('a b c d e f').ok).toBe(false);
  });

  it('accepts an empty value as the daemon default', () => {
    expect(describeCron('  ').ok).toBe(true);
  });
});
