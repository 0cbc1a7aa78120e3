import { render } from '@testing-library/react';
import { App } from '../App';
import { createTokenStore } from '../auth/token';
import { FakeApi } from './fakeApi';
import { FakeSocketFactory } from './fakeSocket';

/** Renders the whole app at `path` with a fake API and a fake socket. */
export function renderApp(path = '/', { token = 'test-token' }: { token?: string | null } = {}) {
  window.history.replaceState(null, '', path);
  const api = new FakeApi();
  const sockets = new FakeSocketFactory();
  const utils = render(<App api={api.client} tokens={createTokenStore(token, false)} createSocket={sockets.create} />);
  return { ...utils, api, sockets };
}
