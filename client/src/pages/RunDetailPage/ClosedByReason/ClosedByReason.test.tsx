import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { makeRun } from '../../../test/factories';
import { ClosedByReason } from './ClosedByReason';

describe('ClosedByReason', () => {
  it('lists what the run closed by reason, what it reopened, and the window it covered', () => {
    render(
      <ClosedByReason
        run={makeRun({
          closedJobs: 5,
          reopenedJobs: 2,
          closedByReason: { missing_from_feed: 3, expired: 2 },
          window: { oldest: '2026-11-20T00:00:00Z', newest: '2026-11-29T00:00:00Z', items: 10, undated: 0 },
        })}
      />,
    );
    const items = screen.getAllByRole('listitem').map((li) => li.textContent);
    expect(items).toEqual(['3 missing from the feed', '2 expired (its end date passed)']);
    expect(screen.getByText('reopened')).toBeInTheDocument();
    expect(screen.getByTestId('run-window')).toHaveTextContent('The feed covered 10 postings');
  });

  it('renders nothing for a run that recorded neither closings nor a window', () => {
    const { container } = render(<ClosedByReason run={makeRun()} />);
    expect(container).toBeEmptyDOMElement();
  });
});
