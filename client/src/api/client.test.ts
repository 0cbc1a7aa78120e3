import { describe, expect, it, vi } from 'vitest';
import { ApiError } from './errors';
import { createHttpApiClient } from './client';

function respond(status: number, body?: unknown) {
  return vi.fn<typeof fetch>(() =>
    Promise.resolve(new Response(body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body), { status })),
  );
}

describe('createHttpApiClient', () => {
  it('sends the bearer token and query parameters', async () => {
    const fetch = respond(200, { items: [], total: 0, page: 2, limit: 20 });
    const api = createHttpApiClient({ getToken: () => 'abc', fetch });
    await api.listRuns({ page: 2, limit: 20, status: 'failed' });
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe('/api/import-logs?page=2&limit=20&status=failed');
    expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer abc');
  });

  it('rejects with the server error code and message', async () => {
    const api = createHttpApiClient({
      getToken: () => 't',
      fetch: respond(400, { error: { code: 'validation.url', message: 'URL must be http(s)' } }),
    });
    const err = await api.createSource({ name: 'x', url: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: 'validation.url', message: 'URL must be http(s)', field: 'url' });
  });

  it('rejects, never resolves, when the error body is not ours', async () => {
    const api = createHttpApiClient({ getToken: () => 't', fetch: respond(502, '<html>bad gateway</html>') });
    await expect(api.listSources()).rejects.toMatchObject({ status: 502, code: 'http.502' });
  });

  it('rejects with a network error when the server cannot be reached', async () => {
    const api = createHttpApiClient({ getToken: () => null, fetch: vi.fn<typeof fetch>(() => Promise.reject(new TypeError('fail'))) });
    await expect(api.getRun('x')).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  it('resolves an empty 204 and escapes ids in paths', async () => {
    const fetch = respond(204);
    const api = createHttpApiClient({ getToken: () => 't', fetch });
    await expect(api.deleteSource('a/b')).resolves.toBeUndefined();
    expect(fetch.mock.calls[0]![0]).toBe('/api/sources/a%2Fb?jobs=close');
    expect(fetch.mock.calls[0]![1]?.method).toBe('DELETE');
    await api.deleteSource('a', 'keep');
    expect(fetch.mock.calls[1]![0]).toBe('/api/sources/a?jobs=keep');
  });

  it('reads alert deliveries of a source and posts a test to an escaped channel id', async () => {
    const fetch = respond(200, { deliveries: [{ _id: 'd1', status: 'sent', message: { transition: 'test', event: null } }] });
    const api = createHttpApiClient({ getToken: () => 't', fetch });
    const list = await api.listAlertDeliveries({ source: 'src-1', limit: 5 });
    expect(fetch.mock.calls[0]![0]).toBe('/api/alerts/deliveries?source=src-1&limit=5');
    expect(list[0]).toMatchObject({ _id: 'd1', status: 'sent', attempts: 0, lastError: null, message: { transition: 'test', event: null, runId: null } });
    await api.sendAlertTest('ops/1', 'src-1');
    expect(fetch.mock.calls[1]![0]).toBe('/api/alerts/channels/ops%2F1/test?source=src-1');
    expect(fetch.mock.calls[1]![1]?.method).toBe('POST');
  });
});
