import type { JSX } from 'react';
import type { ReactNode } from 'react';
import { ApiError } from '../api.js';

/** What went wrong, with the server's code and the field it named, and what to do next. */
export function ErrorBox({ error, onRetry }: { error: Error; onRetry?: () => void }): JSX.Element {
  const api = error instanceof ApiError ? error : null;
  return (
    <div className="error" role="alert">
      <strong>{api ? `${api.code}${api.status ? ` (${api.status})` : ''}` : 'Error'}</strong>
      <span>{error.message}</span>
      {api?.field ? <span className="muted">field: {api.field}</span> : null}
      {onRetry ? (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function Loading({ what }: { what: string }): JSX.Element {
  return (
    <p className="muted" aria-busy="true">
      Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }): JSX.Element {
  return <p className="empty">{children}</p>;
}

export function Tags({ tags }: { tags: Record<string, string> }): JSX.Element | null {
  const entries = Object.entries(tags);
  if (entries.length === 0) return null;
  return (
    <ul className="tags" aria-label="tags">
      {entries.map(([k, v]) => (
        <li key={k} className="tag" title={`${k}=${v}`}>
          {k}={v}
        </li>
      ))}
    </ul>
  );
}

export function Badge({ children, tone = 'plain' }: { children: ReactNode; tone?: 'plain' | 'good' | 'bad' | 'warn' | 'info' }): JSX.Element {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

/** A time as the browser's local time, with the ISO string on hover. */
export function When({ iso }: { iso: string | null | undefined }): JSX.Element {
  if (!iso) return <span className="muted">—</span>;
  return (
    <time dateTime={iso} title={iso}>
      {DATE_TIME.format(new Date(iso))}
    </time>
  );
}

// formatters built once for every page: building one per call (what toLocaleString with options
// does) costs about a millisecond, which a list of 100 rows pays 100 times
export const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
export const TIME_OF_DAY = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function formatNumber(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString();
  return Math.abs(v) >= 1000 ? v.toFixed(1) : Number(v.toPrecision(4)).toString();
}

/** A table's header row from its column titles. */
export function Head({ cols }: { cols: string[] }): JSX.Element {
  return (
    <thead>
      <tr>
        {cols.map((c) => (
          <th key={c} scope="col">
            {c}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/** A detail page's breadcrumb and title (which wraps anywhere: names can be long), with badges beside it. */
export function DetailHead({ section, sectionHref, name, titleId, children }: { section: string; sectionHref: string; name: string; titleId: string; children?: ReactNode }): JSX.Element {
  return (
    <>
      <nav className="crumbs" aria-label="breadcrumb">
        <a href={sectionHref}>{section}</a> / <span>{name}</span>
      </nav>
      <header className="page-head">
        <h1 id={titleId} className="wrap-anywhere">
          {name}
        </h1>
        {children}
      </header>
    </>
  );
}
