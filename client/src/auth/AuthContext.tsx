import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import type { TokenStore } from './token';

interface AuthState {
  token: string | null;
  /** True when there is no token or the API answered 401: the sign-in form is shown. */
  needsSignIn: boolean;
  signIn: (token: string) => void;
  signOut: () => void;
  reportUnauthorized: () => void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ store, children }: { store: TokenStore; children: ReactNode }) {
  const [token, setToken] = useState(store.get);
  const [rejected, setRejected] = useState(false);

  const signIn = useCallback(
    (t: string) => {
      store.set(t);
      setToken(t);
      setRejected(false);
    },
    [store],
  );
  const signOut = useCallback(() => {
    store.set(null);
    setToken(null);
  }, [store]);
  const reportUnauthorized = useCallback(() => setRejected(true), []);

  const value = useMemo(
    () => ({ token, needsSignIn: token === null || rejected, signIn, signOut, reportUnauthorized }),
    [token, rejected, signIn, signOut, reportUnauthorized],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth must be used inside <AuthProvider>');
  return v;
}
