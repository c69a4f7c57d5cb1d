import type { JSX } from 'react';
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { WhoAmI } from '../../sdk/types.js';
import { api, ApiError, storeToken, storedToken, UNAUTHENTICATED_EVENT } from './api.js';
import { ErrorBox, Loading } from './components/common.js';
import { Deployment } from './pages/Deployment.js';
import { Deployments } from './pages/Deployments.js';
import { Model } from './pages/Model.js';
import { Models } from './pages/Models.js';
import { SignIn } from './pages/SignIn.js';
import { href, useRoute } from './router.js';
import { allows, SessionContext, type Session } from './session.js';

const NAV: { path: string; label: string }[] = [
  { path: 'models', label: 'Models' },
  { path: 'deployments', label: 'Deployments' },
];

/** Signs in (or finds dev mode), then shows the page the hash names. */
export function App(): JSX.Element {
  const [who, setWho] = useState<WhoAmI | null>(null);
  const [checking, setChecking] = useState(true);
  const [reason, setReason] = useState<string | null>(null);
  const [fatal, setFatal] = useState<Error | null>(null);

  const check = useCallback(() => {
    setChecking(true);
    // dev mode answers without a token; otherwise the one kept for this tab, if any
    api<WhoAmI>('/v1/auth/whoami', { token: storedToken() }).then(
      (w) => {
        setWho(w);
        setChecking(false);
      },
      (err: unknown) => {
        if (err instanceof ApiError && err.status === 401) {
          if (storedToken()) setReason('Your token was not accepted (expired or revoked). Sign in again.');
          storeToken(null);
          setWho(null);
        } else {
          setFatal(err as Error);
        }
        setChecking(false);
      },
    );
  }, []);
  useEffect(check, [check]);
  useEffect(() => {
    const on = (): void => {
      storeToken(null);
      setReason('The server asked for credentials again. Sign in.');
      setWho(null);
    };
    window.addEventListener(UNAUTHENTICATED_EVENT, on);
    return () => window.removeEventListener(UNAUTHENTICATED_EVENT, on);
  }, []);

  const session = useMemo<Session | null>(
    () =>
      who && {
        who,
        can: (verb, resource) => allows(who.scopes, verb, resource),
        signOut: () => {
          storeToken(null);
          setReason(null);
          setWho(null);
        },
      },
    [who],
  );

  if (fatal) return <main className="signin"><ErrorBox error={fatal} onRetry={() => { setFatal(null); check(); }} /></main>;
  if (checking) return <main className="signin"><Loading what="your session" /></main>;
  if (!session) return <SignIn reason={reason} onSignedIn={(w) => { setReason(null); setWho(w); }} />;
  return (
    <SessionContext.Provider value={session}>
      <Shell />
    </SessionContext.Provider>
  );
}

function Shell(): JSX.Element {
  const route = useRoute();
  const [first, second, third, fourth] = route.parts;
  const section = first ?? 'models';
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href={href('models')}>
          Berth
        </a>
        <nav aria-label="sections">
          <ul>
            {NAV.map((n) => (
              <li key={n.path}>
                <a href={href(n.path)} aria-current={section === n.path ? 'page' : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <Who />
      </header>
      <main id="main" tabIndex={-1}>
        {section === 'models' && second === undefined ? <Models /> : null}
        {section === 'models' && second !== undefined ? <Model name={second} version={third === 'versions' && fourth !== undefined ? Number(fourth) : null} /> : null}
        {section === 'deployments' && second === undefined ? <Deployments /> : null}
        {section === 'deployments' && second !== undefined ? <Deployment key={second} name={second} /> : null}
        {!NAV.some((n) => n.path === section) ? <p>Nothing here. <a href={href('models')}>Models</a></p> : null}
      </main>
    </div>
  );
}

function Who(): JSX.Element {
  return (
    <SessionContext.Consumer>
      {(s) =>
        s ? (
          <div className="who">
            <span title={s.who.scopes.join(' ')}>{s.who.kind === 'dev' ? 'dev mode (no authentication)' : s.who.name}</span>
            {s.who.kind !== 'dev' ? (
              <button type="button" onClick={s.signOut}>
                Sign out
              </button>
            ) : null}
          </div>
        ) : (
          <span />
        )
      }
    </SessionContext.Consumer>
  );
}
