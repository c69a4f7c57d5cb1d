/**
 * A rollout window as text, and several windows as one: how replicas pool the numbers of one
 * rollout step. Each replica stores its window (counts exactly, latencies and predicted values as
 * a bounded sample); the leader decodes every replica's and merges them, so the analysis judges
 * all the traffic of the step, not only the share its own process answered.
 */
import { Reservoir, type DeploymentWindow, type ShadowWindow, type VersionWindow } from './stats.js';

/** Most sample values stored per reservoir: about 1 % resolution at p99, ~10 KB per version. */
const STORED_SAMPLE = 1024;

const FORMAT = 'berth-rollout-window/1';

interface StoredReservoir {
  seen: number;
  sample: number[];
}

interface StoredVersion {
  version: number;
  requests: number;
  failures: number;
  rows: number;
  latency: StoredReservoir;
  labels: [string, number][];
  values: StoredReservoir;
}

/** A shadow window's plain counts, stored and read back as they are. */
const SHADOW_COUNTS = ['version', 'copies', 'failures', 'rows', 'agreed', 'absDiffSum', 'probRows'] as const;
type ShadowCounts = Pick<ShadowWindow, (typeof SHADOW_COUNTS)[number]>;

function shadowCounts(s: ShadowCounts): ShadowCounts {
  return Object.fromEntries(SHADOW_COUNTS.map((k) => [k, s[k]])) as unknown as ShadowCounts;
}

interface StoredShadow extends ShadowCounts {
  latency: StoredReservoir;
  confusion: [string, [string, number][]][];
  labels: [string, number][];
  values: StoredReservoir;
}

interface StoredWindow {
  format: typeof FORMAT;
  since: number;
  epoch: string | null;
  versions: StoredVersion[];
  preview: StoredVersion[];
  shadows: StoredShadow[];
}

function storeReservoir(r: Reservoir): StoredReservoir {
  const sorted = r.sorted();
  const k = Math.min(sorted.length, STORED_SAMPLE);
  const sample: number[] = [];
  // every (n/k)-th of the sorted sample keeps the distribution's shape
  for (let j = 0; j < k; j++) sample.push(round(sorted[Math.floor(((j + 0.5) * sorted.length) / k)]!));
  return { seen: r.seen, sample };
}

function round(x: number): number {
  return Math.abs(x) >= 1e-3 ? Number(x.toPrecision(7)) : x;
}

function storeVersion(v: VersionWindow): StoredVersion {
  return {
    version: v.version,
    requests: v.requests,
    failures: v.failures,
    rows: v.rows,
    latency: storeReservoir(v.latency),
    labels: [...v.labels],
    values: storeReservoir(v.values),
  };
}

/** The window as text (JSON), bounded in size whatever the traffic. */
export function encodeWindow(w: DeploymentWindow): string {
  const stored: StoredWindow = {
    format: FORMAT,
    since: w.since,
    epoch: w.epoch,
    versions: [...w.versions.values()].map(storeVersion),
    preview: [...w.preview.values()].map(storeVersion),
    shadows: [...w.shadows.values()].map((s) => ({
      ...shadowCounts(s),
      latency: storeReservoir(s.latency),
      confusion: [...s.confusion].map(([k, m]) => [k, [...m]] as [string, [string, number][]]),
      labels: [...s.labels],
      values: storeReservoir(s.values),
    })),
  };
  return JSON.stringify(stored);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}

function loadReservoir(x: StoredReservoir): Reservoir {
  if (!x || !isCount(x.seen) || !Array.isArray(x.sample) || !x.sample.every((v) => typeof v === 'number')) throw new Error('bad reservoir');
  return Reservoir.merged([{ seen: x.seen, values: x.sample }]);
}

function loadCounts(x: unknown): Map<string, number> {
  if (!Array.isArray(x)) throw new Error('bad counts');
  const m = new Map<string, number>();
  for (const e of x as unknown[]) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || !isCount(e[1])) throw new Error('bad count');
    m.set(e[0], e[1]);
  }
  return m;
}

function loadVersion(v: StoredVersion): VersionWindow {
  if (!v || !isCount(v.version) || !isCount(v.requests) || !isCount(v.failures) || !isCount(v.rows)) throw new Error('bad version window');
  return { version: v.version, requests: v.requests, failures: v.failures, rows: v.rows, latency: loadReservoir(v.latency), labels: loadCounts(v.labels), values: loadReservoir(v.values) };
}

function loadShadow(s: StoredShadow): ShadowWindow {
  if (!s || !SHADOW_COUNTS.every((k) => isCount(s[k])) || !Array.isArray(s.confusion)) throw new Error('bad shadow window');
  const confusion = new Map<string, Map<string, number>>();
  for (const e of s.confusion) {
    if (!Array.isArray(e) || typeof e[0] !== 'string') throw new Error('bad confusion');
    confusion.set(e[0], loadCounts(e[1]));
  }
  return {
    ...shadowCounts(s),
    latency: loadReservoir(s.latency),
    confusion,
    labels: loadCounts(s.labels),
    values: loadReservoir(s.values),
  };
}

/** A stored window back; throws on anything that is not one (the caller skips that replica). */
export function decodeWindow(body: string): DeploymentWindow {
  const x = JSON.parse(body) as StoredWindow;
  if (!x || x.format !== FORMAT || !isCount(x.since) || !Array.isArray(x.versions) || !Array.isArray(x.preview) || !Array.isArray(x.shadows)) {
    throw new Error(`not a ${FORMAT}`);
  }
  const byVersion = <T extends { version: number }>(list: T[]): Map<number, T> => new Map(list.map((v) => [v.version, v]));
  return {
    since: x.since,
    epoch: typeof x.epoch === 'string' ? x.epoch : null,
    changes: 0,
    versions: byVersion(x.versions.map(loadVersion)),
    preview: byVersion(x.preview.map(loadVersion)),
    shadows: byVersion(x.shadows.map(loadShadow)),
  };
}

function addCounts(into: Map<string, number>, from: Map<string, number>): void {
  for (const [k, n] of from) into.set(k, (into.get(k) ?? 0) + n);
}

function mergeVersions(list: VersionWindow[]): VersionWindow {
  const labels = new Map<string, number>();
  for (const v of list) addCounts(labels, v.labels);
  return {
    version: list[0]!.version,
    requests: list.reduce((n, v) => n + v.requests, 0),
    failures: list.reduce((n, v) => n + v.failures, 0),
    rows: list.reduce((n, v) => n + v.rows, 0),
    latency: Reservoir.merged(list.map((v) => ({ seen: v.latency.seen, values: v.latency.sorted() }))),
    labels,
    values: Reservoir.merged(list.map((v) => ({ seen: v.values.seen, values: v.values.sorted() }))),
  };
}

function mergeShadows(list: ShadowWindow[]): ShadowWindow {
  const labels = new Map<string, number>();
  const confusion = new Map<string, Map<string, number>>();
  for (const s of list) {
    addCounts(labels, s.labels);
    for (const [k, m] of s.confusion) {
      let row = confusion.get(k);
      if (!row) confusion.set(k, (row = new Map()));
      addCounts(row, m);
    }
  }
  const sum = (f: (s: ShadowWindow) => number): number => list.reduce((n, s) => n + f(s), 0);
  return {
    version: list[0]!.version,
    copies: sum((s) => s.copies),
    failures: sum((s) => s.failures),
    rows: sum((s) => s.rows),
    agreed: sum((s) => s.agreed),
    absDiffSum: sum((s) => s.absDiffSum),
    probRows: sum((s) => s.probRows),
    latency: Reservoir.merged(list.map((s) => ({ seen: s.latency.seen, values: s.latency.sorted() }))),
    confusion,
    labels,
    values: Reservoir.merged(list.map((s) => ({ seen: s.values.seen, values: s.values.sorted() }))),
  };
}

function mergeMaps<T extends { version: number }>(maps: Map<number, T>[], merge: (list: T[]) => T): Map<number, T> {
  const groups = new Map<number, T[]>();
  for (const m of maps) for (const [v, w] of m) (groups.get(v) ?? groups.set(v, []).get(v)!).push(w);
  return new Map([...groups].sort((a, b) => a[0] - b[0]).map(([v, list]) => [v, merge(list)]));
}

/** Several replicas' windows of one step as one: counts summed, samples pooled by their weight. */
export function mergeWindows(windows: readonly DeploymentWindow[]): DeploymentWindow {
  if (windows.length === 0) throw new Error('mergeWindows: no windows');
  return {
    since: Math.min(...windows.map((w) => w.since)),
    epoch: windows[0]!.epoch,
    changes: windows.reduce((n, w) => n + w.changes, 0),
    versions: mergeMaps(windows.map((w) => w.versions), mergeVersions),
    preview: mergeMaps(windows.map((w) => w.preview), mergeVersions),
    shadows: mergeMaps(windows.map((w) => w.shadows), mergeShadows),
  };
}
