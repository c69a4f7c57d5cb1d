import type { JSX } from 'react';
import { useState, type FormEvent } from 'react';
import { api, ApiError, storeToken } from '../api.js';
import type { WhoAmI } from '../../../sdk/types.js';

/** Asks for an API token, checks it against the server, and keeps it for this tab only. */
export function SignIn({ onSignedIn, reason }: { onSignedIn: (who: WhoAmI) => void; reason: string | null }): JSX.Element {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const who = await api<WhoAmI>('/v1/auth/whoami', { token: token.trim() });
      storeToken(token.trim());
      onSignedIn(who);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? 'The server does not know this token (or it expired or was revoked).' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <h1>Berth</h1>
      <form onSubmit={(e) => void submit(e)} aria-label="sign in">
        <p>{reason ?? 'Sign in with an API token. It stays in this tab only and goes to the server with every request.'}</p>
        <label htmlFor="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} placeholder="berth_…" required />
        <button type="submit" disabled={busy || token.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
        <p className="muted small">
          Make one with <code>berth tokens create --name me --role viewer</code>. A server started with <code>--dev</code> needs none.
        </p>
      </form>
    </main>
  );
}
