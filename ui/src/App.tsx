import type { JSX } from 'react';
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { WhoAmI } from '../../sdk/types.js';
import { api, ApiError, storeToken, storedToken, UNAUTHENTICATED_EVENT } from './api.js';
import { ErrorBox, Loading } from './components/common.js';
import { Alerts } from './pages/Alerts.js';
import { Audit } from './pages/Audit.js';
import { Deployment } from './pages/Deployment.js';
import { Deployments } from './pages/Deployments.js';
import { Job, Jobs } from './pages/Jobs.js';
import { Model } from './pages/Model.js';
import { Models } from './pages/Models.js';
import { Monitor } from './pages/Monitor.js';
import { Playground } from './pages/Playground.js';
import { Run, Runs, RunsCompare } from './pages/Runs.js';
import { SignIn } from './pages/SignIn.js';
import { VersionCompare } from './pages/VersionCompare.js';
import { href, useRoute, type Route } from './router.js';
import { allows, SessionContext, type Session } from './session.js';

const NAV: { path: string; label: string }[] = [
  { path: 'models', label: 'Models' },
  { path: 'deployments', label: 'Deployments' },
  { path: 'alerts', label: 'Alerts' },
  { path: 'jobs', label: 'Jobs' },
  { path: 'runs', label: 'Runs' },
  { path: 'audit', label: 'Audit' },
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
  const section = route.parts[0] ?? 'models';
  return (
    <div className="shell">
      {/* the hash is the route: move focus without changing it */}
      <a
        className="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
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
        <Page route={route} />
        {!NAV.some((n) => n.path === section) ? <p>Nothing here. <a href={href('models')}>Models</a></p> : null}
      </main>
    </div>
  );
}

/**
 * The page a route names:
 * `#/models`, `#/models/NAME`, `#/models/NAME/versions/V`, `#/models/NAME/compare?a=V&b=V`,
 * `#/deployments`, `#/deployments/NAME`, `#/deployments/NAME/monitor`, `#/deployments/NAME/playground`,
 * `#/alerts`, `#/jobs`, `#/jobs/ID`, `#/runs`, `#/runs/ID`, `#/runs/compare?ids=1,2`, `#/audit`.
 */
function Page({ route }: { route: Route }): JSX.Element | null {
  const [section = 'models', second, third, fourth] = route.parts;
  switch (section) {
    case 'models':
      if (second === undefined) return <Models />;
      if (third === 'compare') return <VersionCompare key={second} name={second} a={numberParam(route.query.get('a'))} b={numberParam(route.query.get('b'))} />;
      return <Model name={second} version={third === 'versions' && fourth !== undefined ? Number(fourth) : null} />;
    case 'deployments':
      if (second === undefined) return <Deployments />;
      if (third === 'monitor') return <Monitor key={second} name={second} />;
      if (third === 'playground') return <Playground key={second} name={second} />;
      return <Deployment key={second} name={second} />;
    case 'alerts':
      return <Alerts />;
    case 'jobs':
      return second === undefined ? <Jobs /> : <Job key={second} id={second} />;
    case 'runs':
      if (second === undefined) return <Runs />;
      if (second === 'compare') return <RunsCompare ids={(route.query.get('ids') ?? '').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0)} />;
      return <Run key={second} id={Number(second)} />;
    case 'audit':
      return <Audit />;
    default:
      return null;
  }
}

function numberParam(v: string | null): number | null {
  return v !== null && /^[1-9][0-9]*$/.test(v) ? Number(v) : null;
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
