import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { Preview } from '../../../api/types';
import { makeSource } from '../../../test/factories';
import { renderApp } from '../../../test/renderApp';

const remotive = { items: '/jobs', fields: { title: 'title', externalId: 'id' } };

function preview(over: Partial<Preview> = {}): Preview {
  return {
    finalUrl: 'https://board.example/api',
    publisher: 'board.example',
    cached: false,
    bodyBytes: 100,
    format: 'json_api',
    items: 2,
    jobs: [
      { externalId: '1', title: 'Rust dev', company: 'Acme', url: null, locations: ['Berlin'], datePosted: null },
      { externalId: '2', title: 'Go dev', company: null, url: null, locations: [], datePosted: null },
    ],
    coverage: { title: 2, company: 1 },
    failures: [],
    failureCount: 0,
    error: null,
    would: { new: 2, updated: 0, unchanged: 0, reopened: 0 },
    ...over,
  };
}

describe('SourceReading', () => {
  it('writes a custom mapping from a built-in, previews it, refreshes the preview after an edit, and sends it', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [] }));
    const form = await screen.findByRole('form', { name: 'Add a source' });
    act(() => api.next('listMappings').resolve({ items: [{ name: 'remotive', mapping: remotive }] }));
    await user.type(within(form).getByLabelText('Name'), 'Board');
    await user.type(within(form).getByLabelText('Feed URL'), 'https://board.example/api');
    await user.selectOptions(within(form).getByLabelText('Format'), 'custom');
    await user.selectOptions(within(form).getByLabelText('Start from a built-in mapping'), 'remotive');
    const editor = within(form).getByLabelText('Mapping (JSON)');
    expect(JSON.parse((editor as HTMLTextAreaElement).value)).toEqual(remotive);

    await user.click(within(form).getByRole('button', { name: 'Test' }));
    const first = api.next('preview');
    expect(first.args[0]).toEqual({ url: 'https://board.example/api', format: 'custom', mapping: remotive });
    act(() => first.resolve(preview()));
    const coverage = await within(form).findByTestId('preview-coverage');
    expect(within(coverage).getByText('Company').closest('tr')).toHaveTextContent('50%');
    expect(within(form).getByTestId('preview-jobs')).toHaveTextContent('Rust dev');
    expect(within(form).getByTestId('preview-summary')).toHaveTextContent('a run would add 2');

    // An edit of the mapping previews again by itself.
    const edited = { ...remotive, fields: { ...remotive.fields, company: 'company_name' } };
    fireEvent.change(editor, { target: { value: JSON.stringify(edited) } });
    await waitFor(() => expect(api.pendingCount('preview')).toBe(1), { timeout: 3000 });
    const second = api.next('preview');
    expect(second.args[0]).toMatchObject({ mapping: edited });
    act(() => second.resolve(preview({ cached: true, coverage: { title: 2, company: 2 } })));
    await waitFor(() => expect(within(coverage).getByText('Company').closest('tr')).toHaveTextContent('100%'));

    await user.click(within(form).getByRole('button', { name: 'Add source' }));
    const call = api.next('createSource');
    expect(call.args[0]).toMatchObject({ format: 'custom', mapping: edited });
  }, 20000);

  it('lists every failure the preview sent and says how many more were only counted', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [] }));
    const form = await screen.findByRole('form', { name: 'Add a source' });
    await user.type(within(form).getByLabelText('Feed URL'), 'https://board.example/api');
    await user.click(within(form).getByRole('button', { name: 'Test' }));
    const failures = Array.from({ length: 30 }, (_, i) => ({ code: 'item.missing_title', message: `item ${i + 1} has no title` }));
    act(() => api.next('preview').resolve(preview({ failures, failureCount: 530 })));
    const list = await within(form).findByTestId('preview-failures');
    expect(within(list).getAllByRole('listitem')).toHaveLength(30);
    expect(list).toHaveTextContent('item 30 has no title');
    expect(within(form).getByTestId('preview-failures-more')).toHaveTextContent('and 500 more failed items');
  });

  it('clears the preview with the rest of the form once the source is added', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [] }));
    const form = await screen.findByRole('form', { name: 'Add a source' });
    await user.type(within(form).getByLabelText('Name'), 'Board');
    await user.type(within(form).getByLabelText('Feed URL'), 'https://board.example/api');
    await user.click(within(form).getByRole('button', { name: 'Test' }));
    act(() => api.next('preview').resolve(preview()));
    await within(form).findByTestId('preview-result');

    await user.click(within(form).getByRole('button', { name: 'Add source' }));
    act(() => api.next('createSource').resolve(makeSource({ name: 'Board', url: 'https://board.example/api' })));
    await waitFor(() => expect(api.pendingCount('listSources')).toBe(1));
    act(() => api.next('listSources').resolve({ items: [makeSource({ name: 'Board', url: 'https://board.example/api' })] }));
    await waitFor(() => expect(within(form).getByLabelText('Name')).toHaveValue(''));
    expect(within(form).queryByTestId('preview-result')).toBeNull();

    // The next source is previewed when asked, not while its URL is being typed.
    fireEvent.change(within(form).getByLabelText('Feed URL'), { target: { value: 'https://other.example/feed' } });
    await new Promise((r) => setTimeout(r, 1000));
    expect(api.pendingCount('preview')).toBe(0);
  }, 20000);

  it('warns before a new publisher and confirms it only when asked', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource({ publisher: 'jobicy.com' })] }));
    await user.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = screen.getByRole('form', { name: 'Edit Jobicy: all' });
    const publisher = within(form).getByLabelText('Publisher (optional)');
    await user.clear(publisher);
    await user.type(publisher, 'jobicy.example');
    expect(within(form).getByTestId('publisher-warning')).toHaveTextContent('new identity');
    await user.click(within(form).getByLabelText('Change the publisher anyway'));
    await user.click(within(form).getByRole('button', { name: 'Save changes' }));
    const call = api.next('updateSource');
    expect(call.args[1]).toMatchObject({ publisher: 'jobicy.example' });
    expect(call.args[2]).toEqual({ confirmPublisher: true });
  }, 20000);
});
