import { act, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../api/errors';
import { makeDetail } from '../../test/factories';
import { renderApp } from '../../test/renderApp';

describe('RunDetailPage', () => {
  it('shows the run-level reason and failure groups from the server, each opening a page of its items', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/runs/r1');
    const call = api.next('getRun');
    expect(call.args).toEqual(['r1', { failuresPage: 1, failuresLimit: 50 }]);
    act(() =>
      call.resolve(
        makeDetail({
          _id: 'r1',
          status: 'partial',
          error: { code: 'parse.truncated', message: 'The feed ended mid-item; 48 items kept.' },
          failuresByCode: [
            { code: 'item.missing_title', count: 2 },
            { code: 'item.too_large', count: 4 },
          ],
          failureGroups: [
            { code: 'item.missing_title', count: 2, stored: 2, example: { code: 'item.missing_title', message: 'no <title>' } },
            { code: 'item.too_large', count: 1200, stored: 0, example: null },
          ],
        }),
      ),
    );

    expect(await screen.findByTestId('run-error')).toHaveTextContent('The feed ended mid-item; 48 items kept.');
    const groups = screen.getByTestId('failure-groups').querySelectorAll('details');
    expect([...groups].map((g) => g.getAttribute('data-code'))).toEqual(['item.too_large', 'item.missing_title']);

    const missing = groups[1] as HTMLElement;
    expect(within(missing).getByText('2 items')).toBeInTheDocument();
    await user.click(within(missing).getByText('item.missing_title'));
    expect(missing).toHaveAttribute('open');
    const items = api.next('getRun');
    expect(items.args).toEqual(['r1', { failuresPage: 1, failuresLimit: 50, failureCode: 'item.missing_title' }]);
    act(() =>
      items.resolve(
        makeDetail({
          _id: 'r1',
          failures: [
            { code: 'item.missing_title', message: 'no <title>', externalId: 'https://jobicy.com/jobs/1' },
            { code: 'item.missing_title', message: 'no <title>', externalId: 'https://jobicy.com/jobs/2' },
          ],
          failuresTotal: 2,
        }),
      ),
    );
    expect(await within(missing).findByRole('link', { name: 'https://jobicy.com/jobs/2' })).toBeInTheDocument();

    const large = groups[0] as HTMLElement;
    await user.click(within(large).getByText('item.too_large'));
    act(() => api.next('getRun').resolve(makeDetail({ _id: 'r1', failures: [], failuresTotal: 0 })));
    expect(await within(large).findByText(/only the first 1000/)).toBeInTheDocument();
  });

  it('says when the run does not exist', async () => {
    const { api } = renderApp('/runs/nope');
    act(() => api.next('getRun').reject(new ApiError(404, { code: 'not_found', message: 'No import run nope.' })));
    expect(await screen.findByRole('alert')).toHaveTextContent('Run not found');
    expect(screen.getByRole('alert')).toHaveTextContent('No import run nope.');
  });
});
