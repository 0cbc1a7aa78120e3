import { act, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../api/errors';
import { makeRun } from '../../test/factories';
import { renderApp } from '../../test/renderApp';

describe('RunDetailPage', () => {
  it('shows the run-level reason and failures grouped by code, expandable to items', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/runs/r1');
    const call = api.next('getRun');
    expect(call.args).toEqual(['r1']);
    act(() =>
      call.resolve(
        makeRun({
          _id: 'r1',
          status: 'partial',
          error: { code: 'parse.truncated', message: 'The feed ended mid-item; 48 items kept.' },
          failures: [
            { code: 'item.missing_title', message: 'no <title>', externalId: 'https://jobicy.com/jobs/1' },
            { code: 'item.missing_title', message: 'no <title>', externalId: 'https://jobicy.com/jobs/2' },
            { code: 'item.bad_date', message: 'pubDate "soon"', externalId: '77' },
          ],
          failuresByCode: { 'item.missing_title': 2, 'item.bad_date': 1, 'item.too_large': 4 },
        }),
      ),
    );

    expect(await screen.findByTestId('run-error')).toHaveTextContent('The feed ended mid-item; 48 items kept.');
    const groups = screen.getByTestId('failure-groups').querySelectorAll('details');
    expect([...groups].map((g) => g.getAttribute('data-code'))).toEqual(['item.too_large', 'item.missing_title', 'item.bad_date']);

    const missing = groups[1] as HTMLElement;
    expect(within(missing).getByText('2 items')).toBeInTheDocument();
    await user.click(within(missing).getByText('item.missing_title'));
    expect(missing).toHaveAttribute('open');
    expect(within(missing).getByRole('link', { name: 'https://jobicy.com/jobs/2' })).toBeInTheDocument();
    expect(within(groups[0] as HTMLElement).getByText(/only the first 1000/)).toBeInTheDocument();
  });

  it('says when the run does not exist', async () => {
    const { api } = renderApp('/runs/nope');
    act(() => api.next('getRun').reject(new ApiError(404, { code: 'not_found', message: 'No import run nope.' })));
    expect(await screen.findByRole('alert')).toHaveTextContent('Run not found');
    expect(screen.getByRole('alert')).toHaveTextContent('No import run nope.');
  });
});
