/** Where the admin token lives: read once from `#token=…`, then kept in localStorage. */

export const TOKEN_STORAGE_KEY = 'jobImporter.token';

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

export function loadToken(): string | null {
  return storage()?.getItem(TOKEN_STORAGE_KEY) ?? null;
}

export function saveToken(token: string | null): void {
  const s = storage();
  if (!s) return;
  if (token) s.setItem(TOKEN_STORAGE_KEY, token);
  else s.removeItem(TOKEN_STORAGE_KEY);
}

/**
 * Takes `token` out of the URL fragment (the daemon prints `http://host/#token=…` at start),
 * stores it and rewrites the address bar without it so it does not linger in history or
 * screenshots. Other fragment parameters are kept.
 */
export function consumeTokenFromFragment(loc: Location = window.location, hist: History = window.history): string | null {
  const hash = loc.hash.startsWith('#') ? loc.hash.slice(1) : loc.hash;
  if (!hash) return null;
  const params = new URLSearchParams(hash);
  const token = params.get('token');
  if (!token) return null;
  params.delete('token');
  const rest = params.toString();
  hist.replaceState(hist.state, '', `${loc.pathname}${loc.search}${rest ? `#${rest}` : ''}`);
  saveToken(token);
  return token;
}

/** The current token, shared by the REST client, the WebSocket and the sign-in form. */
export interface TokenStore {
  get: () => string | null;
  set: (token: string | null) => void;
}

export function createTokenStore(initial: string | null, persist = true): TokenStore {
  let current = initial;
  return {
    get: () => current,
    set: (t) => {
      current = t;
      if (persist) saveToken(t);
    },
  };
}
