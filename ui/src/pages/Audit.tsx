import type { FormEvent, JSX } from 'react';
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { DeploymentTarget, ModelList } from '../../../sdk/types.js';
import { ApiError, storedToken, UNAUTHENTICATED_EVENT } from '../api.js';
import { Badge, Empty, ErrorBox, formatBytes, Loading, TIME_OF_DAY } from '../components/common.js';
import { VirtualList } from '../components/virtual-list.js';
import { useApi } from '../hooks.js';
import { href, useRoute } from '../router.js';
import { useSession } from '../session.js';
import './audit.css';

/** One row of the audit log (docs/audit.md), as `GET /v1/audit` answers it. */
export interface AuditEntry {
  id: number;
  at: string;
  atMs: number;
  actor: string;
  action: string;
  target: string;
  model: string | null;
  details: Record<string, unknown>;
  source: string | null;
  hash: string | null;
  prevHash: string | null;
}

interface AuditVerification {
  ok: boolean;
  rows: number;
  firstBroken: { id: number; reason: string } | null;
  head: string | null;
}

/** The actions the server records (src/registry/records.ts AUDIT_ACTIONS); ones it adds later show up from the data. */
const KNOWN_ACTIONS = [
  'version.register', 'version.tags.set', 'version.tags.delete', 'version.describe', 'version.reference', 'version.sign',
  'model.tags.set', 'model.tags.delete', 'model.describe',
  'alias.set', 'alias.delete', 'alias.rollback',
  'deployment.create', 'deployment.update', 'deployment.rollback', 'deployment.delete', 'deployment.fallback',
  'rollout.start', 'rollout.step', 'rollout.analysis', 'rollout.pause', 'rollout.resume', 'rollout.promote', 'rollout.abort', 'rollout.rollback', 'rollout.gates',
  'token.create', 'token.revoke', 'config.change',
  'job.submit', 'job.cancel', 'schedule.create', 'schedule.update', 'schedule.delete',
  'pipeline.create', 'pipeline.update', 'pipeline.pause', 'pipeline.resume', 'pipeline.delete', 'pipeline.run', 'pipeline.cancel',
];

/** The most rows `GET /v1/audit` answers at once. */
const LIMIT = 10_000;

const RANGES = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;
type RangeKey = keyof typeof RANGES;
const RANGE_LABELS: Record<RangeKey, string> = { '1h': 'last hour', '24h': 'last 24 hours', '7d': 'last 7 days', '30d': 'last 30 days' };

/** The filters, as the hash query holds them (`#/audit?action=alias.&model=credit`) so a view can be shared. */
interface Filters {
  /** server: an action or a prefix (`deployment.`) */
  action: string;
  /** server: exact target (`deployment:credit-api`) */
  target: string;
  /** server: the model concerned */
  model: string;
  /** server: a relative range, or `since`/`until` (ISO) */
  range: RangeKey | '';
  since: string;
  until: string;
  /** in the browser: actor contains */
  actor: string;
  /** in the browser: free text over target, action, actor, model and the summary */
  q: string;
}

const FILTER_KEYS = ['action', 'target', 'model', 'range', 'since', 'until', 'actor', 'q'] as const;

function readFilters(query: URLSearchParams): Filters {
  const range = query.get('range') ?? '';
  return {
    action: query.get('action') ?? '',
    target: query.get('target') ?? '',
    model: query.get('model') ?? '',
    range: range in RANGES ? (range as RangeKey) : '',
    since: query.get('since') ?? '',
    until: query.get('until') ?? '',
    actor: query.get('actor') ?? '',
    q: query.get('q') ?? '',
  };
}

/** Replace the hash's filters (no new history entry per keystroke); the route follows. */
function writeFilters(f: Filters): void {
  const q = new URLSearchParams();
  for (const k of FILTER_KEYS) if (f[k] !== '') q.set(k, f[k]);
  const s = q.toString();
  window.location.replace(`${href('audit')}${s ? `?${s}` : ''}`);
}

/** The server's part of the filters as a query string (also the export's). */
function serverQuery(f: Filters, now: number): URLSearchParams {
  const q = new URLSearchParams();
  if (f.action) q.set('action', f.action);
  if (f.target) q.set('target', f.target);
  if (f.model) q.set('model', f.model);
  if (f.range) q.set('since', new Date(now - RANGES[f.range]).toISOString());
  else {
    const since = isoOf(f.since);
    const until = isoOf(f.until);
    if (since) q.set('since', since);
    if (until) q.set('until', until);
  }
  return q;
}

function isoOf(text: string): string | null {
  if (text === '') return null;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : text; // the server names what is wrong with it
}

/** `datetime-local` wants local `YYYY-MM-DDTHH:MM`. */
function localInput(iso: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

type Item = { kind: 'day'; key: string; label: string; count: number } | { kind: 'entry'; key: string; e: AuditEntry };

const DAY_FORMAT = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });

/** Newest first, with a header for each local day. */
function groupByDay(entries: readonly AuditEntry[]): Item[] {
  const out: Item[] = [];
  const today = dayKey(Date.now());
  const yesterday = dayKey(Date.now() - 86_400_000);
  let header: Extract<Item, { kind: 'day' }> | null = null;
  for (const e of entries) {
    const k = dayKey(e.atMs);
    if (header === null || header.key !== `day:${k}`) {
      header = { kind: 'day', key: `day:${k}`, label: k === today ? `Today, ${DAY_FORMAT.format(e.atMs)}` : k === yesterday ? `Yesterday, ${DAY_FORMAT.format(e.atMs)}` : DAY_FORMAT.format(e.atMs), count: 0 };
      out.push(header);
    }
    header.count++;
    out.push({ kind: 'entry', key: String(e.id), e });
  }
  return out;
}

function dayKey(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** Every change Berth made, newest first and grouped by day, filterable, with the chain's state and an export. */
export function Audit(): JSX.Element {
  const session = useSession();
  const route = useRoute();
  const filters = useMemo(() => readFilters(route.query), [route.query]);
  // a relative range ("last hour") is resolved when the filters change, and again on Refresh
  const [refreshed, setRefreshed] = useState(0);
  const query = useMemo(() => serverQuery(filters, Date.now()), [filters, refreshed]);
  const allowed = session.can('admin');
  const qs = query.toString();
  const list = useApi<{ entries: AuditEntry[] }>(allowed ? `/v1/audit?limit=${LIMIT}${qs ? `&${qs}` : ''}` : null, { mark: 'audit' });
  const verify = useApi<AuditVerification>(allowed ? '/v1/audit/verify' : null, { mark: 'audit-verify' });
  const models = useApi<ModelList>(allowed ? '/v1/models' : null);
  const [expanded, setExpanded] = useState<ReadonlySet<number>>(() => new Set());
  const compact = useNarrow();

  const entries = list.data?.entries ?? null;
  const actor = filters.actor.trim().toLowerCase();
  const needle = filters.q.trim().toLowerCase();
  const shown = useMemo(() => {
    if (!entries) return [];
    if (actor === '' && needle === '') return entries;
    return entries.filter((e) => (actor === '' || e.actor.toLowerCase().includes(actor)) && (needle === '' || haystack(e).includes(needle)));
  }, [entries, actor, needle]);
  const items = useMemo(() => groupByDay(shown), [shown]);
  const actions = useMemo(() => {
    const present = new Set(entries?.map((e) => e.action) ?? []);
    return [...new Set([...KNOWN_ACTIONS, ...present])].sort();
  }, [entries]);
  const actors = useMemo(() => [...new Set(entries?.map((e) => e.actor) ?? [])].sort(), [entries]);

  const set = useCallback((patch: Partial<Filters>): void => writeFilters({ ...filters, ...patch }), [filters]);
  const anyFilter = FILTER_KEYS.some((k) => filters[k] !== '');
  const rowHeight = compact ? 78 : 44;

  if (!allowed) {
    return (
      <section aria-labelledby="audit-title">
        <h1 id="audit-title">Audit</h1>
        <Empty>Reading the audit log needs the admin scope; this token has {session.who.scopes.join(', ') || 'no scopes'}. Ask an admin for a token with admin, or use <code>berth audit</code> on the server.</Empty>
      </section>
    );
  }
  return (
    <section aria-labelledby="audit-title" className="audit-page">
      <header className="page-head">
        <h1 id="audit-title">Audit</h1>
        <ChainBadge v={verify.data} error={verify.error} loading={verify.loading} />
        <div className="audit-tools">
          <button type="button" onClick={() => { setRefreshed((n) => n + 1); list.reload(); verify.reload(); }}>
            Refresh
          </button>
          <ExportButton query={qs} />
        </div>
      </header>
      {verify.data && !verify.data.ok && verify.data.firstBroken ? (
        <p className="error" role="alert" data-testid="audit-chain-broken">
          The hash chain breaks at row {verify.data.firstBroken.id}: {verify.data.firstBroken.reason}. Rows from there on may have been changed outside Berth (see docs/audit.md).
        </p>
      ) : null}
      <FilterBar filters={filters} actions={actions} actors={actors} models={models.data?.models.map((m) => m.name) ?? []} onChange={set} />
      {list.error ? <ErrorBox error={list.error} onRetry={list.reload} /> : null}
      {list.loading && !entries ? <Loading what="the audit log" /> : null}
      {entries ? (
        <>
          <p className="muted small" aria-live="polite" data-testid="audit-count">
            {shown.length === entries.length ? `${entries.length.toLocaleString()} entries` : `${shown.length.toLocaleString()} of ${entries.length.toLocaleString()} entries`}
            {entries.length >= LIMIT ? ` (the newest ${LIMIT.toLocaleString()}: narrow the time range or filter to see older ones)` : ''}
            {list.loading ? ' · refreshing…' : ''}
          </p>
          {entries.length === 0 && !anyFilter ? (
            <Empty>The audit log is empty. Every change (registering a version, setting an alias or tags, deploying, a rollout step, a token) writes a row here.</Empty>
          ) : shown.length === 0 ? (
            <Empty>
              No entries match these filters.{' '}
              <button type="button" onClick={() => writeFilters(readFilters(new URLSearchParams()))}>
                Clear the filters
              </button>
            </Empty>
          ) : (
            <VirtualList
              items={items}
              itemKey={itemKey}
              estimate={(it) => (it.kind === 'day' ? 34 : rowHeight)}
              focusable={isEntry}
              label="audit entries, newest first"
              className="audit-list"
              testId="audit-list"
              render={(it, _i, tabbable) =>
                it.kind === 'day' ? (
                  <h2 className="audit-day">
                    {it.label} <span className="muted small">· {it.count.toLocaleString()}</span>
                  </h2>
                ) : (
                  <Row
                    e={it.e}
                    height={rowHeight}
                    tabbable={tabbable}
                    open={expanded.has(it.e.id)}
                    onToggle={() =>
                      setExpanded((s) => {
                        const n = new Set(s);
                        if (!n.delete(it.e.id)) n.add(it.e.id);
                        return n;
                      })
                    }
                    onFilter={set}
                  />
                )
              }
            />
          )}
        </>
      ) : null}
    </section>
  );
}

const itemKey = (it: Item): string => it.key;
const isEntry = (it: Item): boolean => it.kind === 'entry';

/** Narrow screens get two-line rows. */
function useNarrow(): boolean {
  const [narrow, setNarrow] = useState(() => window.matchMedia('(max-width: 640px)').matches);
  useEffect(() => {
    const m = window.matchMedia('(max-width: 640px)');
    const on = (): void => setNarrow(m.matches);
    m.addEventListener('change', on);
    return () => m.removeEventListener('change', on);
  }, []);
  return narrow;
}

function Row({ e, height, tabbable, open, onToggle, onFilter }: { e: AuditEntry; height: number; tabbable: boolean; open: boolean; onToggle(): void; onFilter(p: Partial<Filters>): void }): JSX.Element {
  const summary = summarize(e);
  return (
    <div className={open ? 'audit-entry open' : 'audit-entry'} data-testid="audit-row" data-id={e.id} data-action={e.action}>
      <button type="button" className="audit-row" style={{ height: `${height}px` }} aria-expanded={open} tabIndex={tabbable ? 0 : -1} onClick={onToggle} title={`${e.at} · ${e.actor} · ${e.action} · ${e.target}`}>
        <time className="audit-time" dateTime={e.at}>
          {TIME_OF_DAY.format(e.atMs)}
        </time>
        <span className="audit-action">
          <Badge tone={toneOf(e.action)}>{e.action}</Badge>
        </span>
        <span className="audit-target" data-testid="audit-target">
          {e.target}
        </span>
        <span className="audit-summary muted">{summary}</span>
        <span className="audit-actor">{e.actor}</span>
      </button>
      {open ? <Details e={e} onFilter={onFilter} /> : null}
    </div>
  );
}

function Details({ e, onFilter }: { e: AuditEntry; onFilter(p: Partial<Filters>): void }): JSX.Element {
  const link = targetLink(e.target);
  return (
    <div className="audit-details" data-testid="audit-details">
      <dl className="facts">
        <dt>entry</dt>
        <dd>
          {e.id} · <time dateTime={e.at}>{e.at}</time>
        </dd>
        <dt>who</dt>
        <dd className="wrap-anywhere">
          {e.actor}
          {e.source ? <span className="muted"> from {e.source}</span> : null}{' '}
          <button type="button" className="link" onClick={() => onFilter({ actor: e.actor })}>
            only this actor
          </button>
        </dd>
        <dt>what</dt>
        <dd>
          {e.action}{' '}
          <button type="button" className="link" onClick={() => onFilter({ action: e.action })}>
            only this action
          </button>
        </dd>
        <dt>target</dt>
        <dd className="wrap-anywhere">
          {link ? <a href={link}>{e.target}</a> : e.target}{' '}
          <button type="button" className="link" onClick={() => onFilter({ target: e.target })}>
            only this target
          </button>
        </dd>
        {e.model ? (
          <>
            <dt>model</dt>
            <dd className="wrap-anywhere">
              <a href={href('models', e.model)}>{e.model}</a>{' '}
              <button type="button" className="link" onClick={() => onFilter({ model: e.model ?? '' })}>
                only this model
              </button>
            </dd>
          </>
        ) : null}
        <dt>hash</dt>
        <dd>
          <code title={e.hash ?? undefined}>{e.hash ? e.hash.slice(0, 16) : 'none (written outside Berth)'}</code>
        </dd>
      </dl>
      <pre className="audit-json">{JSON.stringify(e.details, null, 2)}</pre>
    </div>
  );
}

function FilterBar({ filters, actions, actors, models, onChange }: { filters: Filters; actions: string[]; actors: string[]; models: string[]; onChange(p: Partial<Filters>): void }): JSX.Element {
  // typed fields apply on Enter (server filters) or after a pause (the browser's own filters)
  const [target, setTarget] = useState(filters.target);
  const [model, setModel] = useState(filters.model);
  const [actor, setActor] = useState(filters.actor);
  const [q, setQ] = useState(filters.q);
  useEffect(() => setTarget(filters.target), [filters.target]);
  useEffect(() => setModel(filters.model), [filters.model]);
  useEffect(() => setActor(filters.actor), [filters.actor]);
  useEffect(() => setQ(filters.q), [filters.q]);
  useEffect(() => {
    if (actor === filters.actor && q === filters.q) return;
    const t = setTimeout(() => onChange({ actor, q }), 200);
    return () => clearTimeout(t);
  }, [actor, q, filters.actor, filters.q, onChange]);
  const prefixes = [...new Set(actions.map((a) => `${a.split('.')[0]!}.`))];
  const custom = filters.range === '' && (filters.since !== '' || filters.until !== '');
  const submit = (ev: FormEvent): void => {
    ev.preventDefault();
    onChange({ target: target.trim(), model: model.trim(), actor, q });
  };
  return (
    <form className="audit-filters" onSubmit={submit} aria-label="filters" data-testid="audit-filters">
      <label>
        <span>Action</span>
        <select value={filters.action} onChange={(e) => onChange({ action: e.target.value })} aria-label="action">
          <option value="">all actions</option>
          <optgroup label="every action of a kind">
            {prefixes.map((p) => (
              <option key={p} value={p}>
                {p}*
              </option>
            ))}
          </optgroup>
          <optgroup label="one action">
            {actions.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </optgroup>
        </select>
      </label>
      <label>
        <span>When</span>
        <select
          aria-label="time range"
          value={filters.range !== '' ? filters.range : custom ? 'custom' : ''}
          onChange={(e) => {
            const v = e.target.value;
            if (v === 'custom') onChange({ range: '', since: filters.since || new Date(Date.now() - RANGES['24h']).toISOString(), until: filters.until });
            else onChange({ range: v in RANGES ? (v as RangeKey) : '', since: '', until: '' });
          }}
        >
          <option value="">any time</option>
          {(Object.keys(RANGES) as RangeKey[]).map((r) => (
            <option key={r} value={r}>
              {RANGE_LABELS[r]}
            </option>
          ))}
          <option value="custom">from … to …</option>
        </select>
      </label>
      {custom ? (
        <>
          <label>
            <span>From</span>
            <input type="datetime-local" aria-label="from" value={localInput(filters.since)} onChange={(e) => onChange({ since: e.target.value ? new Date(e.target.value).toISOString() : '' })} />
          </label>
          <label>
            <span>To</span>
            <input type="datetime-local" aria-label="to" value={localInput(filters.until)} onChange={(e) => onChange({ until: e.target.value ? new Date(e.target.value).toISOString() : '' })} />
          </label>
        </>
      ) : null}
      <label>
        <span>Model</span>
        <input type="text" aria-label="model" list="audit-models" value={model} placeholder="any" onChange={(e) => setModel(e.target.value)} onBlur={() => model.trim() !== filters.model && onChange({ model: model.trim() })} />
        <datalist id="audit-models">
          {models.map((m) => (
            <option key={m} value={m} />
          ))}
        </datalist>
      </label>
      <label>
        <span>Target (exact)</span>
        <input type="text" aria-label="target" value={target} placeholder="deployment:credit-api" onChange={(e) => setTarget(e.target.value)} onBlur={() => target.trim() !== filters.target && onChange({ target: target.trim() })} />
      </label>
      <label>
        <span>Actor</span>
        <input type="text" aria-label="actor" list="audit-actors" value={actor} placeholder="anyone" onChange={(e) => setActor(e.target.value)} />
        <datalist id="audit-actors">
          {actors.slice(0, 200).map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
      </label>
      <label className="audit-search">
        <span>Search</span>
        <input type="search" aria-label="search the entries" value={q} placeholder="text in target, action, actor or summary" onChange={(e) => setQ(e.target.value)} />
      </label>
      <div className="audit-filter-actions">
        <button type="submit">Apply</button>
        {FILTER_KEYS.some((k) => filters[k] !== '') ? (
          <button type="button" onClick={() => writeFilters(readFilters(new URLSearchParams()))}>
            Clear
          </button>
        ) : null}
      </div>
    </form>
  );
}

function ChainBadge({ v, error, loading }: { v: AuditVerification | null; error: Error | null; loading: boolean }): JSX.Element {
  if (error) return <span data-testid="audit-chain"><Badge tone="warn">chain not checked: {error.message}</Badge></span>;
  if (!v) return <span data-testid="audit-chain">{loading ? <Badge>checking the chain…</Badge> : <Badge>chain not checked</Badge>}</span>;
  return (
    <span data-testid="audit-chain" title={v.head ? `head ${v.head}` : 'empty log'}>
      {v.ok ? <Badge tone="good">chain intact · {v.rows.toLocaleString()} rows</Badge> : <Badge tone="bad">chain broken at row {v.firstBroken?.id ?? '?'}</Badge>}
    </span>
  );
}

/** Download what the filters select as JSON lines; fetch carries the token, which a plain link could not. */
function ExportButton({ query }: { query: string }): JSX.Element {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const run = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const token = storedToken();
      const res = await fetch(`/v1/audit/export${query ? `?${query}` : ''}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      if (!res.ok) {
        if (res.status === 401) window.dispatchEvent(new Event(UNAUTHENTICATED_EVENT));
        const body = (await res.json().catch(() => ({}))) as { code?: string; error?: string };
        throw new ApiError(res.status, body.code ?? `HTTP_${res.status}`, body.error ?? res.statusText);
      }
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `berth-audit-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.jsonl`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" onClick={() => void run()} disabled={busy} title="Every entry the filters select (no 10,000 limit), oldest first, one JSON object per line">
        {busy ? 'Exporting…' : 'Export (JSON lines)'}
      </button>
      {error ? <ErrorBox error={error} /> : null}
    </>
  );
}

function toneOf(action: string): 'plain' | 'good' | 'bad' | 'warn' | 'info' {
  if (/\.(delete|revoke|abort|rollback|cancel)$/.test(action) || action === 'deployment.fallback') return 'bad';
  if (/\.(register|create|promote|start)$/.test(action)) return 'good';
  if (action.startsWith('alias.') || action.startsWith('deployment.') || action.startsWith('rollout.')) return 'info';
  if (action === 'config.change' || action.startsWith('token.')) return 'warn';
  return 'plain';
}

/** Where a target lives in the dashboard, when it has a page. */
function targetLink(target: string): string | null {
  const i = target.indexOf(':');
  if (i < 0) return null;
  const kind = target.slice(0, i);
  const rest = target.slice(i + 1);
  const at = rest.lastIndexOf('@');
  switch (kind) {
    case 'model':
      return href('models', rest);
    case 'version':
      return at > 0 && /^[0-9]+$/.test(rest.slice(at + 1)) ? href('models', rest.slice(0, at), 'versions', rest.slice(at + 1)) : href('models', rest);
    case 'alias':
      return href('models', at > 0 ? rest.slice(0, at) : rest);
    case 'deployment':
      return href('deployments', rest);
    case 'job':
      return href('jobs', rest);
    default:
      return null;
  }
}

function haystack(e: AuditEntry): string {
  return `${e.target} ${e.action} ${e.actor} ${e.model ?? ''} ${summarize(e)}`.toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// one line per entry: what changed, from its details (their shapes per action are in docs/audit.md)

const str = (v: unknown): string | null => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : null);
const rec = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

function clip(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function tagsText(v: unknown): string {
  const r = rec(v);
  return r ? Object.entries(r).map(([k, x]) => `${k}=${str(x) ?? JSON.stringify(x)}`).join(', ') : '';
}

function targetText(v: unknown): string {
  const t = rec(v) as DeploymentTarget | null;
  if (!t) return '?';
  if (t.kind === 'version') return `version ${t.version}`;
  if (t.kind === 'alias') return `alias ${t.alias}`;
  return JSON.stringify(t);
}

/** A one-line summary of an entry's details. */
export function summarize(e: AuditEntry): string {
  const d = e.details;
  switch (e.action) {
    case 'version.register': {
      const parts = [`sha256 ${(str(d['sha256']) ?? '').slice(0, 12)}`];
      if (typeof d['sizeBytes'] === 'number') parts.push(formatBytes(d['sizeBytes']));
      if (d['modelCreated'] === true) parts.push('new model');
      if (d['reference']) parts.push('with reference data');
      return parts.join(', ');
    }
    case 'version.tags.set':
    case 'model.tags.set':
      return `set ${tagsText(d['set'])}`;
    case 'version.tags.delete':
    case 'model.tags.delete':
      return `removed tag ${str(d['key']) ?? '?'}`;
    case 'version.describe':
    case 'model.describe': {
      const text = str(d['description']);
      return text === null ? 'description cleared' : `“${clip(text, 60)}”`;
    }
    case 'version.reference': {
      const rows = typeof d['rows'] === 'number' ? `${d['rows'].toLocaleString()} rows` : '';
      return [str(d['fileName']), rows, d['profile'] ? 'profiled' : ''].filter((x) => x).join(', ');
    }
    case 'version.sign':
      return `signed with key ${str(d['keyId']) ?? '?'}${d['replaced'] ? ' (replacing its earlier signature)' : ''}`;
    case 'alias.set':
    case 'alias.rollback': {
      const prev = d['previousVersion'];
      return `→ version ${str(d['version']) ?? '?'}${typeof prev === 'number' ? ` (was ${prev})` : ' (new alias)'}`;
    }
    case 'alias.delete':
      return `removed (was version ${str(d['previousVersion']) ?? '?'})`;
    case 'deployment.create':
      return `revision ${str(d['revision']) ?? '?'}: serves ${targetText(d['target'])}`;
    case 'deployment.update':
    case 'deployment.fallback': {
      const from = rec(d['from']);
      const to = rec(d['to']);
      const model = from && to && from['model'] !== to['model'] ? `${str(from['model'])} → ${str(to['model'])}, ` : '';
      const target = from && to ? `${model}${targetText(from['target'])} → ${targetText(to['target'])}` : 'settings';
      return `revision ${str(d['revision']) ?? '?'}: ${target}`;
    }
    case 'deployment.rollback':
      return `back to revision ${str(d['toRevision']) ?? '?'}: serves ${targetText(d['target'])}`;
    case 'deployment.delete':
      return `deleted at revision ${str(d['revision']) ?? '?'}`;
    case 'config.change':
      return `changed ${Array.isArray(d['changed']) ? d['changed'].join(', ') : 'the configuration'}`;
    case 'token.create':
    case 'token.revoke': {
      const t = rec(d['after']) ?? rec(d['before']);
      return t ? `${str(t['name']) ?? ''} (${Array.isArray(t['scopes']) ? t['scopes'].join(' ') : ''})` : '';
    }
    default:
      if (e.action.startsWith('rollout.')) {
        const parts = [`rollout ${str(d['rollout']) ?? '?'}`];
        if (d['fromState'] !== undefined && d['state'] !== undefined) parts.push(`${str(d['fromState'])} → ${str(d['state'])}`);
        else if (d['state'] !== undefined) parts.push(str(d['state']) ?? '');
        if (d['verdict']) parts.push(`verdict ${str(d['verdict'])}`);
        return parts.join(', ');
      }
      return clip(
        Object.entries(d)
          .filter(([, x]) => str(x) !== null)
          .slice(0, 4)
          .map(([k, x]) => `${k} ${str(x)}`)
          .join(', '),
      );
  }
}
