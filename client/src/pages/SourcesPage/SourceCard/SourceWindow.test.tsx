import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { makeSource } from '../../../test/factories';
import { SourceWindow } from './SourceWindow';

const renderWindow = (source: ReturnType<typeof makeSource>) =>
  render(
    <dl>
      <SourceWindow source={source} />
    </dl>,
  );

describe('SourceWindow', () => {
  it('shows the span and size of the last complete run and the expiry mode', () => {
    renderWindow(
      makeSource({
        expiry: 'window',
        lastWindow: { oldest: '2026-11-20T00:00:00Z', newest: '2026-11-29T12:00:00Z', items: 10, undated: 2 },
      }),
    );
    expect(screen.getByTestId('source-expiry')).toHaveTextContent('Window');
    const w = screen.getByTestId('source-window');
    expect(w).toHaveTextContent('10 items per run');
    expect(w).toHaveTextContent('2 undated');
    const times = w.querySelectorAll('time');
    expect(times[0]).toHaveAttribute('dateTime', '2026-11-20T00:00:00Z');
    expect(times[1]).toHaveAttribute('dateTime', '2026-11-29T12:00:00Z');
  });

  it('says when no complete run has covered anything yet', () => {
    renderWindow(makeSource({ expiry: 'never', lastWindow: null }));
    expect(screen.getByTestId('source-expiry')).toHaveTextContent('Never');
    expect(screen.getByTestId('source-window')).toHaveTextContent('no complete run yet');
    expect(screen.getByTestId('source-link-check')).toHaveTextContent('off');
  });

  it('says whether the links of jobs that left the window are checked', () => {
    renderWindow(makeSource({ linkCheck: true }));
    expect(screen.getByTestId('source-link-check')).toHaveTextContent('on');
  });
});
