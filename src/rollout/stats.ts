/**
 * What each version of a deployment did since a moment (a rollout step's start): requests,
 * version failures, latency, the predictions it made, and for shadows how their answers compare
 * with the primary's. Fed by the data plane's observer; the work happens after the answers are
 * sent (records queue, a setImmediate drains them), so routing pays one array push per request.
 */
import { monitoringSchema, extractPredictions, type MonitoringSchema } from '../monitor/index.js';
import type { FailureRecord, InferenceRecord, ManagedVersion, ShadowRecord } from '../serving/index.js';

/** A uniform sample of at most `size` numbers (Algorithm R), for percentiles of a window. */
export class Reservoir {
  private readonly values: Float64Array;
  seen = 0;
  private seed = 0x9e3779b9;

  constructor(readonly size = 4096) {
    this.values = new Float64Array(size);
  }

  add(x: number): void {
    if (this.filled >= 0) throw new Error('a merged reservoir is read-only');
    if (this.seen < this.size) {
      this.values[this.seen++] = x;
      return;
    }
    this.seen++;
    // xorshift32: cheap, deterministic, good enough to pick a slot
    let s = this.seed;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.seed = s >>> 0;
    const j = this.seed % this.seen;
    if (j < this.size) this.values[j] = x;
  }

  /** Sorted copy of the sample. */
  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort();
  }

  /**
   * A reservoir standing for several: each part (its own sample of `seen` numbers) contributes
   * in proportion to how many numbers it saw, so quantiles of the result are those of all the
   * numbers together (up to sampling). Parts that were not sampled down are taken whole.
   */
  static merged(parts: readonly { seen: number; values: ArrayLike<number> }[], size = 4096): Reservoir {
    const out = new Reservoir(size);
    const total = parts.reduce((n, p) => n + p.seen, 0);
    if (total <= size) {
      let n = 0;
      for (const p of parts) for (let i = 0; i < p.values.length && n < size; i++) out.values[n++] = p.values[i]!;
      out.seen = total;
      out.filled = n;
      return out;
    }
    // one rate for every part (values kept per value seen), as high as the fullest part allows
    let rate = size / total;
    for (const p of parts) if (p.seen > 0) rate = Math.min(rate, p.values.length / p.seen);
    let n = 0;
    for (const p of parts) {
      // a systematic sample of this part's sample, in proportion to what it saw
      const k = Math.min(p.values.length, Math.round(rate * p.seen), size - n);
      if (k <= 0) continue;
      for (let j = 0; j < k; j++) out.values[n++] = p.values[Math.floor(((j + 0.5) * p.values.length) / k)]!;
    }
    out.seen = total;
    out.filled = n;
    return out;
  }

  /** slots in use when built by `merged` (shares rounded); otherwise min(seen, size) */
  private filled = -1;

  private get count(): number {
    return this.filled >= 0 ? this.filled : Math.min(this.seen, this.size);
  }

  quantile(q: number): number | null {
    const s = this.sorted();
    if (s.length === 0) return null;
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  }
}

/** One version's answers in the window. */
export interface VersionWindow {
  version: number;
  /** requests it answered or failed (requests refused for bad input are not its doing and not counted) */
  requests: number;
  failures: number;
  latency: Reservoir;
  /** predicted class → rows (classifiers) */
  labels: Map<string, number>;
  /** predicted values (regressors) */
  values: Reservoir;
  /** rows whose predictions were read (all of them below the per-second budget, a sample above) */
  rows: number;
}

/** One shadow version's copies in the window, compared row by row with the primary's answers. */
export interface ShadowWindow {
  version: number;
  copies: number;
  /** copies that failed or were dropped (busy, not loaded) */
  failures: number;
  latency: Reservoir;
  /** rows compared, rows on which the predicted class agreed */
  rows: number;
  agreed: number;
  /** sum over compared rows of the mean |p_primary − p_shadow| over classes */
  absDiffSum: number;
  probRows: number;
  /** `primary class → shadow class → rows` */
  confusion: Map<string, Map<string, number>>;
  labels: Map<string, number>;
  values: Reservoir;
}

/** A deployment's window: since when, each version and each shadow. */
export interface DeploymentWindow {
  since: number;
  /**
   * Which rollout step the window belongs to (`<rollout id>:<step>:<step start>`), so replicas'
   * windows of the same step can be merged; null when no step was named.
   */
  epoch: string | null;
  /** grows with every record folded in: a publisher sends the window only when it moved */
  changes: number;
  versions: Map<number, VersionWindow>;
  shadows: Map<number, ShadowWindow>;
  preview: Map<number, VersionWindow>;
}

type Pending = { kind: 'ok'; r: InferenceRecord } | { kind: 'fail'; r: FailureRecord } | { kind: 'shadow'; r: ShadowRecord };

/**
 * Rows per second per deployment whose predictions are read (shares, shadow agreement, confusion).
 * Counts of requests, failures and latencies are exact; predictions above this rate are a uniform
 * sample — shares and agreement do not need every row, and reading them costs the event loop.
 */
export const DEFAULT_PREDICTION_ROWS_PER_SECOND = 2000;

export class RolloutStats {
  private readonly windows = new Map<string, DeploymentWindow>();
  private readonly schemas = new Map<string, MonitoringSchema>();
  private readonly budgets = new Map<string, { second: number; rows: number }>();
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly predictionRowsPerSecond = DEFAULT_PREDICTION_ROWS_PER_SECOND,
  ) {}

  /** May this many more rows of this deployment have their predictions read in the current second? */
  private takeBudget(deployment: string, rows: number): boolean {
    const second = Math.floor(this.now() / 1000);
    let b = this.budgets.get(deployment);
    if (!b || b.second !== second) {
      b = { second, rows: 0 };
      this.budgets.set(deployment, b);
    }
    if (b.rows + rows > this.predictionRowsPerSecond && b.rows > 0) return false;
    b.rows += rows;
    return true;
  }

  /** Start collecting for a deployment, or start its window over (a new step, named by `epoch`). */
  reset(deployment: string, epoch: string | null = null): void {
    this.drain();
    this.windows.set(deployment, { since: this.now(), epoch, changes: 0, versions: new Map(), shadows: new Map(), preview: new Map() });
  }

  /**
   * Make sure the deployment's window is the one of step `epoch`: a replica that learns a step
   * began starts its window then (its routing changes at the same moment). True if it started over.
   */
  align(deployment: string, epoch: string): boolean {
    const w = this.window(deployment);
    if (w && w.epoch === epoch) return false;
    if (w && w.epoch === null) {
      // a window opened when this replica's routing changed (or it started): all of it is the step's
      w.epoch = epoch;
      return false;
    }
    this.reset(deployment, epoch);
    return true;
  }

  /** Keep collecting only for these deployments (those with a traffic policy or a rollout). */
  track(deployments: Iterable<string>): void {
    const keep = new Set(deployments);
    for (const d of [...this.windows.keys()]) if (!keep.has(d)) this.windows.delete(d);
    for (const d of keep) if (!this.windows.has(d)) this.reset(d);
  }

  window(deployment: string): DeploymentWindow | undefined {
    this.drain();
    return this.windows.get(deployment);
  }

  onInference(r: InferenceRecord): void {
    if (this.windows.has(r.deployment)) this.enqueue({ kind: 'ok', r });
  }

  onFailure(r: FailureRecord): void {
    if (this.windows.has(r.deployment)) this.enqueue({ kind: 'fail', r });
  }

  onShadow(r: ShadowRecord): void {
    if (this.windows.has(r.deployment)) this.enqueue({ kind: 'shadow', r });
  }

  private enqueue(p: Pending): void {
    if (this.pending.length >= 100_000) return; // a stalled loop never grows memory without bound
    this.pending.push(p);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Fold the queued records in (also called before any read, so a read sees every answer). */
  drain(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const p of batch) {
      const w = this.windows.get(p.r.deployment);
      if (!w) continue;
      w.changes++;
      if (p.kind === 'ok') this.addAnswer(w, p.r);
      else if (p.kind === 'fail') this.addFailure(w, p.r);
      else this.addShadow(w, p.r);
    }
  }

  private schemaOf(v: ManagedVersion): MonitoringSchema {
    const key = `${v.model}@${v.version}`;
    let s = this.schemas.get(key);
    if (!s) {
      s = monitoringSchema(v.signature, v.card);
      this.schemas.set(key, s);
    }
    return s;
  }

  private addAnswer(w: DeploymentWindow, r: InferenceRecord): void {
    const vw = versionWindow(r.role === 'preview' ? w.preview : w.versions, r.version);
    vw.requests++;
    vw.latency.add(r.latencyMs);
    if (!this.takeBudget(r.deployment, r.rows)) return;
    const p = extractPredictions(this.schemaOf(r.managed), r.outputs, r.rows);
    countPredictions(vw, p.labels, p.values);
    vw.rows += r.rows;
  }

  private addFailure(w: DeploymentWindow, r: FailureRecord): void {
    if (!r.versionFailure) return;
    const vw = versionWindow(r.role === 'preview' ? w.preview : w.versions, r.version);
    vw.requests++;
    vw.failures++;
    vw.latency.add(r.latencyMs);
  }

  private addShadow(w: DeploymentWindow, r: ShadowRecord): void {
    let sw = w.shadows.get(r.shadowVersion);
    if (!sw) {
      sw = {
        version: r.shadowVersion,
        copies: 0,
        failures: 0,
        latency: new Reservoir(),
        rows: 0,
        agreed: 0,
        absDiffSum: 0,
        probRows: 0,
        confusion: new Map(),
        labels: new Map(),
        values: new Reservoir(),
      };
      w.shadows.set(r.shadowVersion, sw);
    }
    sw.copies++;
    sw.latency.add(r.latencyMs);
    if (!r.shadow) {
      sw.failures++;
      return;
    }
    const rows = r.primary.rows;
    if (!this.takeBudget(r.deployment, rows)) return;
    const a = extractPredictions(this.schemaOf(r.primary.managed), r.primary.outputs, rows);
    const b = extractPredictions(this.schemaOf(r.shadow.managed), r.shadow.outputs, rows);
    countPredictions(sw, b.labels, b.values);
    if (a.labels && b.labels) {
      for (let i = 0; i < rows; i++) {
        const pa = a.labels[i] ?? 'null';
        const pb = b.labels[i] ?? 'null';
        sw.rows++;
        if (pa === pb) sw.agreed++;
        let row = sw.confusion.get(pa);
        if (!row) sw.confusion.set(pa, (row = new Map()));
        row.set(pb, (row.get(pb) ?? 0) + 1);
      }
    }
    if (a.probabilities && b.probabilities && a.probabilities.length === b.probabilities.length) {
      const k = a.probabilities.length / rows;
      for (let i = 0; i < rows; i++) {
        let d = 0;
        for (let c = 0; c < k; c++) d += Math.abs(a.probabilities[i * k + c]! - b.probabilities[i * k + c]!);
        sw.absDiffSum += d / k;
        sw.probRows++;
      }
    }
    if (a.values && b.values) {
      for (let i = 0; i < rows; i++) {
        sw.rows++;
        sw.absDiffSum += Math.abs(a.values[i]! - b.values[i]!);
        sw.probRows++;
      }
    }
  }
}

function versionWindow(m: Map<number, VersionWindow>, version: number): VersionWindow {
  let vw = m.get(version);
  if (!vw) {
    vw = { version, requests: 0, failures: 0, latency: new Reservoir(), labels: new Map(), values: new Reservoir(), rows: 0 };
    m.set(version, vw);
  }
  return vw;
}

function countPredictions(w: { labels: Map<string, number>; values: Reservoir }, labels: (string | null)[] | null, values: Float64Array | null): void {
  if (labels) for (const l of labels) if (l !== null) w.labels.set(l, (w.labels.get(l) ?? 0) + 1);
  if (values) for (const v of values) if (Number.isFinite(v)) w.values.add(v);
}
