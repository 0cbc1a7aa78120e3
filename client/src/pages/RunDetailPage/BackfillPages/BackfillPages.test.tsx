import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { makeRun } from '../../../test/factories';
import { BackfillPages } from './BackfillPages';

describe('BackfillPages', () => {
  it('lists each page read and why the walk stopped', () => {
    const run = makeRun({
      backfill: {
        maxPages: 10,
        pageParam: 'paged',
        pages: [
          { page: 1, items: 4, new: 4, attempts: 1 },
          { page: 2, items: 4, new: 3, attempts: 2 },
        ],
        stopped: 'last_page',
      },
    });
    render(<BackfillPages run={run} />);
    expect(screen.getByTestId('backfill-status')).toHaveTextContent('2 of at most 10 pages read (by paged); stopped: the feed has no further page');
    const rows = within(screen.getByRole('table')).getAllByRole('row');
    expect(rows).toHaveLength(3);
    expect(rows[2]).toHaveTextContent('2432');
  });

  it('shows nothing for a run that is no backfill', () => {
    const { container } = render(<BackfillPages run={makeRun()} />);
    expect(container).toBeEmptyDOMElement();
  });
});
