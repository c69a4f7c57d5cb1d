import { useEffect, useState } from 'react';

/**
 * Hash routes (`#/models/credit`): deep links work behind any proxy, and the server serves one page.
 * `route()` splits the hash into decoded parts and a query.
 */
export interface Route {
  parts: string[];
  query: URLSearchParams;
}

function current(): Route {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [p = '', q = ''] = hash.split('?');
  return { parts: p.split('/').filter((x) => x !== '').map((x) => decodeURIComponent(x)), query: new URLSearchParams(q) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const on = (): void => setRoute(current());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function href(...parts: (string | number)[]): string {
  return `#/${parts.map((p) => encodeURIComponent(String(p))).join('/')}`;
}
