import { useState, type SyntheticEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { useAuth } from '../AuthContext';

/** Shown when there is no token or the API answered 401. */
export function SignInForm() {
  const { token, signIn } = useAuth();
  const queryClient = useQueryClient();
  const [value, setValue] = useState('');
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    const t = value.trim();
    if (!t) return;
    signIn(t);
    void queryClient.invalidateQueries();
  };
  return (
    <section className="signin card" aria-labelledby="signin-title">
      <h1 id="signin-title">Sign in</h1>
      <p>
        {token
          ? 'The server did not accept the stored token. Paste a current admin or read token.'
          : 'Paste the admin token (auth.admin_token in the daemon\'s configuration, or the one it printed at start when it generated one: the part after #token= in its URL), or a read token for a view without changes.'}
      </p>
      <form onSubmit={submit} className="form">
        <div className="field">
          <label htmlFor="signin-token">Token</label>
          <input
            id="signin-token"
            type="password"
            autoComplete="current-password"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            required
          />
        </div>
        <button type="submit" className="btn btn--primary">
          Sign in
        </button>
      </form>
    </section>
  );
}
