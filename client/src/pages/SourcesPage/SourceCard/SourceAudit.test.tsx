import { act, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { makeSource } from '../../../test/factories';
import { renderApp } from '../../../test/renderApp';
import { SOURCE_AUDIT_LIMIT } from './SourceAudit';

describe('SourceAudit on a source card', () => {
  it('asks for the latest entries of that source and lists them with who made them', async () => {
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    await waitFor(() => expect(api.pendingCount('listAudit')).toBeGreaterThan(0));
    const call = api.next('listAudit');
    expect(call.args[0]).toEqual({ source: 'jobicy-all', page: 1, limit: SOURCE_AUDIT_LIMIT });
    act(() =>
      call.resolve({
        items: [
          { _id: 'a1', at: '2026-12-01T10:00:00Z', actor: 'admin', action: 'source_updated', sourceId: 'jobicy-all' },
          { _id: 'a2', at: '2026-11-30T09:00:00Z', actor: 'cli', action: 'import_started', sourceId: 'jobicy-all' },
        ],
        total: 2,
        page: 1,
        limit: SOURCE_AUDIT_LIMIT,
      }),
    );
    const list = await screen.findByTestId('source-audit');
    await waitFor(() => expect(list).toHaveTextContent('edited'));
    expect(list).toHaveTextContent('by admin');
    expect(list).toHaveTextContent('import started');
    expect(list).toHaveTextContent('by cli');
    expect(list.querySelector('a')).toHaveAttribute('href', '/audit?source=jobicy-all');
  });
});
