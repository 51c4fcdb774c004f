import { useEffect, useState } from 'preact/hooks';
import { loadSession, signOut, whenSignedOut, type SessionState } from './api';
import { JobPage } from './pages/job';
import { JobsPage } from './pages/jobs';
import { SignInPage } from './pages/sign-in';
import { SubmitPage } from './pages/submit';
import { WorkersPage } from './pages/workers';
import { useRoute } from './route';

/** Loads the session first: without one (keys on, not signed in) only the sign-in page renders and nothing is fetched. */
export function App() {
  const [session, setSession] = useState<SessionState | Error | undefined>();
  const refresh = () => loadSession().then(setSession, (error: Error) => setSession(error));
  useEffect(() => {
    whenSignedOut(() => setSession({ authRequired: true, authenticated: false }));
    void refresh();
  }, []);
  if (session === undefined) return <p class="page">Loading…</p>;
  if (session instanceof Error) return <p class="page error">The API did not answer: {session.message}</p>;
  if (session.authRequired && !session.authenticated) return <SignInPage onSignedIn={setSession} />;
  return <Shell session={session} onSignOut={() => void signOut().then(refresh)} />;
}

function Shell({ session, onSignOut }: { session: SessionState; onSignOut: () => void }) {
  const [page, ...rest] = useRoute();
  const link = (path: string, label: string) => (
    <a href={`#/${path}`} class={page === path ? 'active' : ''}>
      {label}
    </a>
  );
  return (
    <>
      <header>
        <strong>landscape</strong>
        <nav>
          {link('jobs', 'Jobs')}
          {link('submit', 'Submit')}
          {link('workers', 'Workers')}
          <a href="/admin/queues">Queues</a>
          <a href="/docs">API docs</a>
        </nav>
        {session.authRequired && (
          <button type="button" class="quiet" onClick={onSignOut}>
            Sign out
          </button>
        )}
      </header>
      <main class="page">
        {page === 'jobs' && rest[0] ? <JobPage key={rest[0]} id={rest[0]} /> : null}
        {page === 'jobs' && !rest[0] ? <JobsPage /> : null}
        {page === 'submit' ? <SubmitPage /> : null}
        {page === 'workers' ? <WorkersPage /> : null}
        {!['jobs', 'submit', 'workers'].includes(page!) ? <p class="error">No page '{page}'.</p> : null}
      </main>
    </>
  );
}
