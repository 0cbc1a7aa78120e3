import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { makeSource } from '../../test/factories';
import { renderApp } from '../../test/renderApp';

describe('AuditPage', () => {
  it('lists changes newest first with who made them and what changed, filtered by source', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/audit');
    const call = api.next('listAudit');
    expect(call.args[0]).toEqual({ page: 1, limit: 20, source: undefined, action: undefined });
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    act(() =>
      call.resolve({
        items: [
          {
            _id: 'a2',
            at: '2026-12-07T03:00:00.000Z',
            actor: 'previous_admin',
            action: 'source_updated',
            sourceId: 'jobicy-all',
            changes: [{ field: 'cron', before: '0 0 * * * *', after: '0 30 * * * *' }],
          },
          { _id: 'a1', at: '2026-12-07T02:00:00.000Z', actor: 'cli', action: 'source_created', sourceId: 'jobicy-all' },
        ],
        total: 2,
        page: 1,
        limit: 20,
      }),
    );
    const entries = await screen.findAllByTestId('audit-entry');
    expect(entries.map((e) => e.getAttribute('data-action'))).toEqual(['source_updated', 'source_created']);
    const first = entries[0]!;
    expect(first).toHaveTextContent('by the previous admin token');
    const row = within(first).getByRole('row', { name: /cron/ });
    expect(row).toHaveTextContent('0 0 * * * *');
    expect(row).toHaveTextContent('0 30 * * * *');
    expect(entries[1]).toHaveTextContent('by the command line');

    await user.selectOptions(screen.getByLabelText('Source'), 'jobicy-all');
    await waitFor(() => expect(api.calls.filter((c) => c.method === 'listAudit').at(-1)?.args[0]).toMatchObject({ source: 'jobicy-all' }));
  });
});
