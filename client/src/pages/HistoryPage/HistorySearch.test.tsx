import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { matchesFilters } from '../../live/mergeRun';
import { makePage, makeRun } from '../../test/factories';
import { renderApp } from '../../test/renderApp';

const lastListCall = (api: ReturnType<typeof renderApp>['api']) => api.calls.filter((c) => c.method === 'listRuns').at(-1)?.args[0];

describe('History search', () => {
  it('reads the failure code and error text from the URL and sends them', async () => {
    const { api } = renderApp('/?failureCode=fetch.timeout&errorText=did%20not%20answer');
    const call = api.next('listRuns');
    expect(call.args[0]).toMatchObject({ page: 1, failureCode: 'fetch.timeout', errorText: 'did not answer' });
    act(() => call.resolve(makePage([], { total: 0 })));
    expect(await screen.findByText('No runs match these filters.')).toBeInTheDocument();
    expect(screen.getByLabelText('Failure code')).toHaveValue('fetch.timeout');
    expect(screen.getByLabelText('Error text')).toHaveValue('did not answer');
  });

  it('ignores values in the URL that the daemon would refuse', () => {
    const { api } = renderApp(`/?failureCode=${encodeURIComponent('$where')}&errorText=${'x'.repeat(201)}`);
    const args = api.next('listRuns').args[0];
    expect(args.failureCode).toBeUndefined();
    expect(args.errorText).toBeUndefined();
  });

  it('searches error text once typing pauses, from page 1, and clears it', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/?page=2');
    act(() => api.next('listRuns').resolve(makePage([makeRun({ _id: 'r1', error: { code: 'fetch.dns', message: 'no such host' } })], { page: 2, total: 30 })));
    await user.type(screen.getByLabelText('Error text'), '(a+)+');
    await waitFor(() => expect(lastListCall(api)).toMatchObject({ page: 1, errorText: '(a+)+' }));
    // One request for the whole word, not one per key.
    expect(api.calls.filter((c) => c.method === 'listRuns')).toHaveLength(2);
    // Codes of the runs in view are offered as suggestions.
    expect(document.querySelector('#failure-codes option[value="fetch.dns"]')).not.toBeNull();
    await user.click(screen.getByRole('button', { name: 'Clear filters' }));
    await waitFor(() => expect(lastListCall(api)).toMatchObject({ errorText: undefined }));
    expect(screen.getByLabelText('Error text')).toHaveValue('');
  });

  it('adds a live run to a searched page only when it matches the search', () => {
    const failed = makeRun({
      error: { code: 'fetch.timeout', message: 'The feed did not answer' },
      failuresByCode: [{ code: 'item.missing_title', count: 2 }],
      failures: [{ code: 'item.too_large', message: 'Item is 2 MB' }],
    });
    expect(matchesFilters(failed, { failureCode: 'fetch.timeout' })).toBe(true);
    expect(matchesFilters(failed, { failureCode: 'item.missing_title' })).toBe(true);
    expect(matchesFilters(failed, { failureCode: 'item.too_large' })).toBe(true);
    expect(matchesFilters(failed, { failureCode: 'fetch.dns' })).toBe(false);
    expect(matchesFilters(failed, { errorText: 'DID NOT' })).toBe(true);
    expect(matchesFilters(failed, { errorText: '2 mb' })).toBe(true);
    expect(matchesFilters(failed, { errorText: '.*' })).toBe(false);
    expect(matchesFilters(makeRun(), { errorText: 'feed' })).toBe(false);
  });
});
