import { useState } from 'preact/hooks';
import { signIn, type SessionState } from '../api';

/** The only page shown without a session: it asks for an API key and fetches no data. */
export function SignInPage({ onSignedIn }: { onSignedIn: (session: SessionState) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(key));
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="page sign-in">
      <h1>landscape</h1>
      <form onSubmit={submit}>
        <label>
          API key
          <input name="key" type="password" autocomplete="current-password" value={key} onInput={(e) => setKey(e.currentTarget.value)} required />
        </label>
        <button type="submit" disabled={busy || key === ''}>
          Sign in
        </button>
        {error && <p class="error">{error}</p>}
      </form>
      <p class="hint">The server has API keys on (LANDSCAPE_API_KEYS). Scripts keep using “Authorization: Bearer &lt;key&gt;”.</p>
    </main>
  );
}
