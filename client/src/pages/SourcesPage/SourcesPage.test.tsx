import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../api/errors';
import { makeRun, makeSource } from '../../test/factories';
import { renderApp } from '../../test/renderApp';

describe('SourcesPage', () => {
  it('shows the server validation message next to the field it is about', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [] }));
    const form = await screen.findByRole('form', { name: 'Add a source' });

    await user.type(within(form).getByLabelText('Name'), 'Jobicy');
    await user.type(within(form).getByLabelText('Feed URL'), 'ftp://nope');
    await user.type(within(form).getByLabelText(/Schedule/), '0 15 * * * *');
    expect(within(form).getByTestId('cron-reading')).toHaveTextContent(/15 minutes past the hour.*UTC/i);
    await user.click(within(form).getByRole('button', { name: 'Add source' }));

    const call = api.next('createSource');
    expect(call.args[0]).toEqual({ name: 'Jobicy', url: 'ftp://nope', cron: '0 15 * * * *', enabled: true, expiry: 'window', linkCheck: false, format: 'auto' });
    expect(within(form).getByRole('button', { name: 'Saving…' })).toBeDisabled();
    act(() => call.reject(new ApiError(400, { code: 'validation.url', message: 'Only http and https URLs are allowed.' })));

    const urlInput = within(form).getByLabelText('Feed URL');
    await waitFor(() => expect(urlInput).toHaveAttribute('aria-invalid', 'true'));
    expect(urlInput).toHaveAccessibleDescription('Only http and https URLs are allowed.');
    expect(within(form).getByLabelText('Name')).not.toHaveAttribute('aria-invalid');
  });

  it('edits how jobs missing from the feed expire', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    await user.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = screen.getByRole('form', { name: 'Edit Jobicy: all' });
    const select = within(form).getByLabelText('Jobs missing from the feed');
    expect(select).toHaveValue('window');
    await user.selectOptions(select, 'complete');
    expect(within(form).getByTestId('expiry-hint')).toHaveTextContent('lists every open posting');
    await user.click(within(form).getByRole('button', { name: 'Save changes' }));
    const call = api.next('updateSource');
    expect(call.args[0]).toBe('jobicy-all');
    expect(call.args[1]).toMatchObject({ expiry: 'complete' });
  });

  it('names the page parameter a backfill uses, shows the server message about it, and clears it', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    await user.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = screen.getByRole('form', { name: 'Edit Jobicy: all' });
    const input = within(form).getByLabelText('Page parameter (backfill)');
    expect(input).toHaveValue('');
    await user.type(input, 'pg.no');
    await user.click(within(form).getByRole('button', { name: 'Save changes' }));
    let call = api.next('updateSource');
    expect(call.args[1]).toMatchObject({ pageParam: 'pg.no' });
    act(() => call.reject(new ApiError(400, { code: 'validation.pageParam', message: '`pageParam` is at most 50 letters' })));
    await waitFor(() => expect(input).toHaveAttribute('aria-invalid', 'true'));
    expect(input).toHaveAccessibleDescription(/at most 50 letters/);

    await user.clear(input);
    await user.type(input, 'pg');
    await user.click(within(form).getByRole('button', { name: 'Save changes' }));
    call = api.next('updateSource');
    expect(call.args[1]).toMatchObject({ pageParam: 'pg' });
  });

  it('sends an empty page parameter to go back to finding it from the feed', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource({ pageParam: 'page' })] }));
    await user.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = screen.getByRole('form', { name: 'Edit Jobicy: all' });
    const input = within(form).getByLabelText('Page parameter (backfill)');
    expect(input).toHaveValue('page');
    await user.clear(input);
    await user.click(within(form).getByRole('button', { name: 'Save changes' }));
    expect(api.next('updateSource').args[1]).toMatchObject({ pageParam: '' });
  });

  it('starts a backfill of a source and links to its run', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    await user.click(await screen.findByRole('button', { name: 'Backfill' }));
    const call = api.next('backfill');
    expect(call.args[0]).toBe('jobicy-all');
    act(() =>
      call.resolve({ run: makeRun({ _id: 'r-bf', sourceId: 'jobicy-all', backfill: { maxPages: 30, pageParam: null, pages: [], stopped: null } }) }),
    );
    // The mutation ends once the sources are read again.
    await waitFor(() => expect(api.pendingCount('listSources')).toBeGreaterThan(0));
    act(() => {
      while (api.pendingCount('listSources') > 0) api.next('listSources').resolve({ items: [makeSource({ running: true })] });
    });
    expect(await screen.findByText(/Backfill queued\./)).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'open the run' })).toHaveAttribute('href', '/runs/r-bf');
  });

  it('turns on link checks for a source', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    await user.click(await screen.findByRole('button', { name: 'Edit' }));
    const form = screen.getByRole('form', { name: 'Edit Jobicy: all' });
    const box = within(form).getByLabelText('Check links of jobs that left the window');
    expect(box).not.toBeChecked();
    await user.click(box);
    await user.click(within(form).getByRole('button', { name: 'Save changes' }));
    expect(api.next('updateSource').args[1]).toMatchObject({ linkCheck: true });
  });

  it('disables "Import now" with a reason while the source is running', async () => {
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource({ running: true })] }));
    const button = await screen.findByRole('button', { name: 'Import now' });
    expect(button).toBeDisabled();
    expect(button).toHaveAccessibleDescription('An import is running');
  });

  it('explains a back-off: until when, after how many failures, and why', async () => {
    const { api } = renderApp('/sources');
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const health = {
      ...makeSource().health!,
      consecutiveFailures: 3,
      backoffUntil: until,
      lastError: { code: 'fetch.http_status', message: 'The feed answered 503.' },
    };
    act(() => api.next('listSources').resolve({ items: [makeSource({ health })] }));
    const note = await screen.findByTestId('source-backoff');
    expect(note).toHaveTextContent('after 3 failures in a row');
    expect(note).toHaveTextContent('The feed answered 503.');
    expect(note.querySelector('time')).toHaveAttribute('title', until);
  });

  it('says so when the server answers that a run is already going', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    await user.click(await screen.findByRole('button', { name: 'Import now' }));
    act(() => api.next('importNow').reject(new ApiError(409, { code: 'run.already_running', message: 'Run 0193 is in progress.' })));
    expect(await screen.findByRole('alert')).toHaveTextContent('already running');
  });

  it('queues an import and links to the new run', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    await user.click(await screen.findByRole('button', { name: 'Import now' }));
    expect(api.next('importNow').args).toEqual(['jobicy-all']);
  });

  it('removes a source only after an in-page confirmation', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    await user.click(await screen.findByRole('button', { name: 'Remove' }));
    expect(api.pendingCount('deleteSource')).toBe(0);
    await user.click(screen.getByRole('button', { name: 'Confirm remove' }));
    expect(api.next('deleteSource').args).toEqual(['jobicy-all', 'close']);
  });

  it('asks whether the jobs only the removed source carries are closed or kept', async () => {
    const user = userEvent.setup();
    const { api } = renderApp('/sources');
    act(() => api.next('listSources').resolve({ items: [makeSource()] }));
    await user.click(await screen.findByRole('button', { name: 'Remove' }));
    const closing = screen.getByRole('radio', { name: /Close them/ });
    expect(closing).toBeChecked();
    await user.click(screen.getByRole('radio', { name: /Keep them open/ }));
    await user.click(screen.getByRole('button', { name: 'Confirm remove' }));
    expect(api.next('deleteSource').args).toEqual(['jobicy-all', 'keep']);
  });
});
