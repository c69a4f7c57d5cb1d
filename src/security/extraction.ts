import { silentLogger, systemClock, toBerthError, type Clock, type Logger, type Tensor } from '../core/index.js';
import { monitoringSchema, type StoredReference } from '../monitor/index.js';
import type { InferenceRecord } from '../serving/index.js';

/*
 * Model extraction detection. Someone copying a model sends the queries that teach a copy the most,
 * not the ones the model was built for. That traffic is different in three ways we can measure
 * per caller:
 *
 *  - volume: far more rows than the deployment's other callers send;
 *  - coverage: inputs spread evenly over each feature's range (uniform sampling of the input space),
 *    where real traffic follows the training (reference) distribution, bunched and skewed;
 *  - boundary probing: many answers right at the decision boundary (bisection between two inputs of
 *    different classes finds it in a few dozen queries per point).
 *
 * `observe` runs beside the inference log on every answered request. It only adds to fixed-size
 * per-caller counters: O(rows × features) work and no allocation per row. `evaluate` runs on a
 * timer and turns a window's counters into findings, with the numbers behind each one.
 */

/** The signals a finding can raise. */
export const EXTRACTION_SIGNALS = ['volume', 'coverage', 'boundary'] as const;
export type ExtractionSignalName = (typeof EXTRACTION_SIGNALS)[number];

/** When each signal flags. */
export interface ExtractionThresholds {
  /** volume: rows above this multiple of the median of the deployment's other callers (default 10) */
  volumeRatio: number;
  /** coverage: mean uniformity index at or above this (−1 = like the reference, +1 = uniform; default 0.5) */
  coverageScore: number;
  /** coverage: a feature counts only if its reference differs from uniform by at least this JS distance (default 0.15) */
  informativeDistance: number;
  /** boundary: an answer is near the boundary when its top class probability is within this of the threshold (default 0.1) */
  boundaryMargin: number;
  /** boundary: near-boundary share above this multiple of the other callers' share (default 3)… */
  boundaryRatio: number;
  /** …and above this share (default 0.3) */
  boundaryMinShare: number;
}

export const DEFAULT_EXTRACTION_THRESHOLDS: Readonly<ExtractionThresholds> = Object.freeze({
  volumeRatio: 10,
  coverageScore: 0.5,
  informativeDistance: 0.15,
  boundaryMargin: 0.1,
  boundaryRatio: 3,
  boundaryMinShare: 0.3,
});

/** A numeric feature's reference distribution: its range and its CDF (share of reference rows ≤ x). */
export interface FeatureReference {
  min: number;
  max: number;
  cdf(x: number): number;
}

/** A version's reference features by name (the monitored feature names), or null when it has no reference. */
export type ReferenceSource = (model: string, version: number) => Promise<ReadonlyMap<string, FeatureReference> | null>;

export interface ExtractionDetectorOptions {
  /** each caller's traffic is judged over tumbling windows this long (ms, aligned to the epoch) */
  windowMs: number;
  /** rows a caller must send in a window before it is judged at all */
  minRows: number;
  clock?: Clock;
  /** called once for each new finding (at most one per caller, deployment and window) */
  onFinding?: (finding: ExtractionFinding) => void;
  /** the reference distribution of a version's features (its reference profile); without one, other callers' traffic is the reference */
  reference?: ReferenceSource;
  thresholds?: Partial<ExtractionThresholds>;
  /** equal-width bins per feature over the reference range (default 10) */
  bins?: number;
  /** callers tracked per deployment; traffic of further callers is not judged (default 10 000) */
  maxPrincipals?: number;
  /** findings kept for `recent()` (default 1000) */
  keepFindings?: number;
  logger?: Logger;
}

export interface VolumeSignal {
  applicable: boolean;
  flagged: boolean;
  rows: number;
  /** median rows of the deployment's other callers in the window (null: no other callers) */
  medianOthers: number | null;
  ratio: number | null;
  threshold: { ratio: number; minRows: number };
}

export interface CoverageSignal {
  applicable: boolean;
  flagged: boolean;
  /** mean over informative features of (d(q, reference) − d(q, uniform)) / d(reference, uniform), in [−1, 1] */
  score: number | null;
  threshold: number;
  /** what the caller's inputs were compared with */
  reference: 'profile' | 'other-traffic' | 'none';
  /** features whose reference is far enough from uniform to tell the two apart */
  features: number;
  /** mean Jensen–Shannon distance (base 2) of the caller's histograms to the reference, and to uniform */
  meanDistanceToReference: number | null;
  meanDistanceToUniform: number | null;
  /** share of the caller's values in bins where the reference has under 1% of its rows, and that share under the reference */
  tailShare: number | null;
  expectedTailShare: number | null;
  /** the features that look most uniform */
  top: { feature: string; index: number; distanceToReference: number; distanceToUniform: number }[];
}

export interface BoundarySignal {
  applicable: boolean;
  flagged: boolean;
  /** share of the caller's answers whose top class probability is within the margin of the threshold */
  share: number | null;
  /** that share over the deployment's other callers (null: no other classified traffic) */
  baseline: number | null;
  ratio: number | null;
  rows: number;
  threshold: { margin: number; ratio: number; minShare: number };
}

/** A caller whose traffic in a window looks like model extraction, with the evidence. */
export interface ExtractionFinding {
  principal: string;
  deployment: string;
  model: string;
  /** the newest version that answered the caller in the window */
  version: number;
  window: { start: string; end: string; startMs: number; endMs: number; closed: boolean };
  rows: number;
  requests: number;
  signals: { volume: VolumeSignal; coverage: CoverageSignal; boundary: BoundarySignal };
  flagged: ExtractionSignalName[];
  /** one signal: possible; two or more: likely */
  verdict: 'possible-extraction' | 'likely-extraction';
  /** one line with the numbers, for logs and alerts */
  summary: string;
  detectedAt: string;
}

// ---------------------------------------------------------------------------------------------
// state

/** How a deployment's inputs are binned: numeric features, their ranges, the reference shares. */
interface FeatureSpace {
  model: string;
  version: number;
  layout: string;
  names: string[];
  /** per input tensor (by name): which feature each column along the last axis is (−1: none) */
  groups: { input: string; width: number; slots: Int32Array }[];
  /** the probabilities output, when the model is a classifier that gives them */
  probabilities: string | null;
  refState: 'loading' | 'profile' | 'none';
  /** per feature: binning range; `active` 0 until the range is known */
  lo: Float64Array;
  hi: Float64Array;
  invWidth: Float64Array;
  active: Uint8Array;
  /** per feature, bins + 2 reference shares (profile mode) */
  refShares: Float64Array[] | null;
  /** running range over all callers, and rows seen (fixes the bins when there is no reference) */
  runMin: Float64Array;
  runMax: Float64Array;
  seen: number;
}

interface WindowStats {
  startMs: number;
  rows: number;
  requests: number;
  version: number;
  /** features × (bins + 2) counts; bin 0 below the range, bin bins + 1 above */
  counts: Float64Array;
  classified: number;
  nearBoundary: number;
}

interface PrincipalState {
  current: WindowStats;
  closed: WindowStats;
}

interface DeploymentState {
  name: string;
  space: FeatureSpace | null;
  /** input layout of each version seen (of the space's model), so a split between versions costs no string per request */
  layouts: Map<number, string>;
  /** the newest version seen: its reference replaces the space's after the window closes */
  latestVersion: number;
  latest: Pick<InferenceRecord, 'model' | 'version' | 'managed'> | null;
  windowStart: number;
  closedStart: number | null;
  closedJudged: boolean;
  principals: Map<string, PrincipalState>;
  dropped: number;
}

/**
 * Per caller and deployment, flags traffic typical of model stealing: volume far above the other
 * callers, inputs spread uniformly over the input space instead of following the reference, and
 * answers bunched at the decision boundary. Records without a principal (auth off) are skipped.
 *
 * @example
 * const detector = new ExtractionDetector({ windowMs: 3_600_000, minRows: 2000, reference, onFinding: (f) => alerts.notifyExternal(f) });
 * observer.onInference = (r) => { inferenceLog.onInference(r); detector.observe(r); };
 * setInterval(() => detector.evaluate(), 60_000);
 */
export class ExtractionDetector {
  private readonly windowMs: number;
  private readonly minRows: number;
  private readonly clock: Clock;
  private readonly thresholds: ExtractionThresholds;
  private readonly bins: number;
  private readonly maxPrincipals: number;
  private readonly keepFindings: number;
  private readonly logger: Logger;
  private readonly deployments = new Map<string, DeploymentState>();
  private readonly raised = new Set<string>();
  private readonly findings: ExtractionFinding[] = [];

  constructor(private readonly opts: ExtractionDetectorOptions) {
    if (!(opts.windowMs > 0) || !(opts.minRows >= 1)) throw new RangeError('ExtractionDetector: windowMs must be > 0 and minRows >= 1');
    this.windowMs = opts.windowMs;
    this.minRows = opts.minRows;
    this.clock = opts.clock ?? systemClock;
    this.thresholds = { ...DEFAULT_EXTRACTION_THRESHOLDS, ...opts.thresholds };
    this.bins = opts.bins ?? 10;
    this.maxPrincipals = opts.maxPrincipals ?? 10_000;
    this.keepFindings = opts.keepFindings ?? 1000;
    this.logger = opts.logger ?? silentLogger;
  }

  /** Count one answered request. Cheap: fixed per-caller counters, nothing allocated per row. */
  observe(record: InferenceRecord): void {
    const principal = record.principal;
    if (principal === undefined || record.role === 'shadow' || record.rows <= 0) return;
    const d = this.deployment(record.deployment, record.timestampMs);
    const space = this.spaceFor(d, record);
    let p = d.principals.get(principal);
    if (!p) {
      if (d.principals.size >= this.maxPrincipals) {
        d.dropped++;
        return;
      }
      p = { current: this.newStats(space, d.windowStart), closed: this.newStats(space, d.closedStart ?? d.windowStart) };
      d.principals.set(principal, p);
    }
    const s = p.current;
    if (s.counts.length !== space.names.length * (this.bins + 2)) return;
    s.rows += record.rows;
    s.requests++;
    s.version = Math.max(s.version, record.version);
    this.observeInputs(space, s, record);
    if (space.probabilities !== null) this.observeProbabilities(space.probabilities, s, record.outputs, record.rows);
  }

  /**
   * Judge every caller's window: the window that closed since the last call (once, for good) and
   * the current one so far. Returns the new findings (also passed to `onFinding`).
   */
  evaluate(): ExtractionFinding[] {
    const now = this.clock.now();
    const out: ExtractionFinding[] = [];
    for (const d of this.deployments.values()) {
      this.roll(d, this.windowOf(now));
      if (d.closedStart !== null && !d.closedJudged) {
        out.push(...this.judgeWindow(d, 'closed', now));
        d.closedJudged = true;
        // a newer version with the same inputs took over: judge the next windows against its reference
        const space = d.space;
        if (space && d.latest && d.latest.version > space.version) {
          this.replaceSpace(d, d.latest, space.layout, false);
          d.latest = null;
        }
      }
      out.push(...this.judgeWindow(d, 'current', now));
    }
    // keys of windows older than the previous one can no longer come back
    const oldest = this.windowOf(now) - this.windowMs;
    for (const k of this.raised) if (Number(k.slice(k.lastIndexOf('\n') + 1)) < oldest) this.raised.delete(k);
    for (const f of out) {
      this.findings.push(f);
      if (this.findings.length > this.keepFindings) this.findings.shift();
      try {
        this.opts.onFinding?.(f);
      } catch (err) {
        this.logger.error('extraction: a finding handler failed', { error: toBerthError(err).message });
      }
    }
    return out;
  }

  /** The newest findings, newest first. */
  recent(limit = 100): ExtractionFinding[] {
    return this.findings.slice(-limit).reverse();
  }

  /** Callers tracked and dropped per deployment (for metrics). */
  stats(): { deployment: string; principals: number; dropped: number }[] {
    return [...this.deployments.values()].map((d) => ({ deployment: d.name, principals: d.principals.size, dropped: d.dropped }));
  }

  // -------------------------------------------------------------------------------------------

  private windowOf(ms: number): number {
    return Math.floor(ms / this.windowMs) * this.windowMs;
  }

  private deployment(name: string, ts: number): DeploymentState {
    let d = this.deployments.get(name);
    const w = this.windowOf(ts);
    if (!d) {
      d = { name, space: null, layouts: new Map(), latestVersion: 0, latest: null, windowStart: w, closedStart: null, closedJudged: true, principals: new Map(), dropped: 0 };
      this.deployments.set(name, d);
    } else if (w > d.windowStart) {
      this.roll(d, w);
    }
    return d;
  }

  /** Move every caller's current window to `closed` and start window `w` (no allocation: the two slots swap). */
  private roll(d: DeploymentState, w: number): void {
    if (w <= d.windowStart) return;
    for (const [id, p] of d.principals) {
      if (p.current.rows === 0 && p.closed.rows === 0) {
        d.principals.delete(id);
        continue;
      }
      const closed = p.closed;
      p.closed = p.current;
      resetStats(closed, w);
      p.current = closed;
    }
    d.closedStart = d.windowStart;
    d.closedJudged = false;
    d.windowStart = w;
    d.dropped = 0;
  }

  private newStats(space: FeatureSpace, startMs: number): WindowStats {
    return { startMs, rows: 0, requests: 0, version: 0, counts: new Float64Array(space.names.length * (this.bins + 2)), classified: 0, nearBoundary: 0 };
  }

  /**
   * The deployment's feature space. Versions with the same inputs share it (a split, a canary), so
   * callers' counts carry on; a version with other inputs replaces it and starts the counts afresh.
   */
  private spaceFor(d: DeploymentState, record: InferenceRecord): FeatureSpace {
    const cur = d.space;
    if (cur && cur.model === record.model) {
      if (cur.version === record.version) return cur;
      if (record.version > d.latestVersion) {
        d.latestVersion = record.version;
        d.latest = { model: record.model, version: record.version, managed: record.managed };
      }
      let layout = d.layouts.get(record.version);
      if (layout === undefined) {
        layout = layoutOf(record);
        d.layouts.set(record.version, layout);
      }
      if (layout === cur.layout) return cur;
    }
    d.layouts.clear();
    d.latestVersion = record.version;
    d.latest = null;
    const layout = layoutOf(record);
    d.layouts.set(record.version, layout);
    return this.replaceSpace(d, record, layout, true);
  }

  private replaceSpace(d: DeploymentState, record: Pick<InferenceRecord, 'model' | 'version' | 'managed'>, layout: string, clearCallers: boolean): FeatureSpace {
    const schema = monitoringSchema(record.managed.signature, record.managed.card);
    const numeric = schema.features.filter((f) => f.kind === 'numeric' && f.datatype !== 'FP16' && f.datatype !== 'UINT64');
    const groups = new Map<string, { input: string; width: number; slots: Int32Array }>();
    numeric.forEach((f, i) => {
      let g = groups.get(f.input);
      if (!g) {
        g = { input: f.input, width: f.width, slots: new Int32Array(f.width).fill(-1) };
        groups.set(f.input, g);
      }
      g.slots[f.index] = i;
    });
    const n = numeric.length;
    const probs = schema.prediction.kind === 'classification' ? (schema.prediction.probabilitiesOutput ?? null) : null;
    const space: FeatureSpace = {
      model: record.model,
      version: record.version,
      layout,
      names: numeric.map((f) => f.name),
      groups: [...groups.values()],
      probabilities: probs,
      refState: 'loading',
      lo: new Float64Array(n),
      hi: new Float64Array(n),
      invWidth: new Float64Array(n),
      active: new Uint8Array(n),
      refShares: null,
      runMin: new Float64Array(n).fill(Infinity),
      runMax: new Float64Array(n).fill(-Infinity),
      seen: 0,
    };
    d.space = space;
    if (clearCallers) {
      // counts laid out for other inputs mean nothing now
      d.principals.clear();
      d.closedStart = null;
      d.closedJudged = true;
    } else {
      // same inputs, new bins: the current window's histograms start again (volumes and answers carry on)
      for (const p of d.principals.values()) p.current.counts.fill(0);
    }
    void this.loadReference(space);
    return space;
  }

  private async loadReference(space: FeatureSpace): Promise<void> {
    let ref: ReadonlyMap<string, FeatureReference> | null = null;
    try {
      ref = this.opts.reference ? await this.opts.reference(space.model, space.version) : null;
    } catch (err) {
      this.logger.debug('extraction: no reference for the version; other callers are the reference', { model: space.model, version: space.version, error: toBerthError(err).message });
    }
    if (!ref) {
      space.refState = 'none';
      return;
    }
    const B = this.bins;
    const shares: Float64Array[] = [];
    space.names.forEach((name, i) => {
      const r = ref.get(name);
      const s = new Float64Array(B + 2);
      shares.push(s);
      if (!r || !(r.max > r.min)) return;
      space.lo[i] = r.min;
      space.hi[i] = r.max;
      space.invWidth[i] = B / (r.max - r.min);
      let prev = 0;
      for (let b = 1; b <= B; b++) {
        const c = b === B ? 1 : Math.min(1, Math.max(prev, r.cdf(r.min + (b * (r.max - r.min)) / B)));
        s[b] = c - prev;
        prev = c;
      }
      space.active[i] = 1;
    });
    space.refShares = shares;
    space.refState = 'profile';
  }

  private observeInputs(space: FeatureSpace, s: WindowStats, record: InferenceRecord): void {
    const B = this.bins;
    const stride = B + 2;
    const binning = space.refState === 'profile' || (space.refState === 'none' && space.seen >= this.minRows);
    if (space.refState === 'none' && !binning) this.track(space, record);
    if (!binning) return;
    for (const g of space.groups) {
      const t = findTensor(record.inputs, g.input);
      if (!t || t.datatype === 'BYTES') continue;
      const data = t.data as ArrayLike<number | bigint>;
      const width = g.width;
      const rows = Math.min(record.rows, Math.floor(data.length / width));
      for (let r = 0; r < rows; r++) {
        const base = r * width;
        for (let c = 0; c < width; c++) {
          const f = g.slots[c]!;
          if (f < 0 || space.active[f] === 0) continue;
          const v = Number(data[base + c]!);
          if (v !== v) continue;
          let bin: number;
          if (v < space.lo[f]!) bin = 0;
          else if (v > space.hi[f]!) bin = B + 1;
          else bin = 1 + Math.min(B - 1, Math.floor((v - space.lo[f]!) * space.invWidth[f]!));
          s.counts[f * stride + bin]! += 1;
        }
      }
    }
  }

  /** Without a reference: the running range of every feature; once `minRows` rows were seen it becomes the bins. */
  private track(space: FeatureSpace, record: InferenceRecord): void {
    for (const g of space.groups) {
      const t = findTensor(record.inputs, g.input);
      if (!t || t.datatype === 'BYTES') continue;
      const data = t.data as ArrayLike<number | bigint>;
      const rows = Math.min(record.rows, Math.floor(data.length / g.width));
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < g.width; c++) {
          const f = g.slots[c]!;
          if (f < 0) continue;
          const v = Number(data[r * g.width + c]!);
          if (v < space.runMin[f]!) space.runMin[f] = v;
          if (v > space.runMax[f]!) space.runMax[f] = v;
        }
      }
    }
    space.seen += record.rows;
    if (space.seen >= this.minRows) {
      const B = this.bins;
      for (let f = 0; f < space.names.length; f++) {
        const lo = space.runMin[f]!;
        const hi = space.runMax[f]!;
        if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) continue;
        space.lo[f] = lo;
        space.hi[f] = hi;
        space.invWidth[f] = B / (hi - lo);
        space.active[f] = 1;
      }
    }
  }

  private observeProbabilities(name: string, s: WindowStats, outputs: readonly Tensor[], rows: number): void {
    const t = findTensor(outputs, name);
    if (!t || (t.datatype !== 'FP32' && t.datatype !== 'FP64')) return;
    const data = t.data as Float32Array | Float64Array;
    const k = t.shape.length >= 2 ? t.shape[t.shape.length - 1]! : 1;
    if (k < 1 || data.length < rows * k) return;
    const margin = 2 * this.thresholds.boundaryMargin;
    for (let r = 0; r < rows; r++) {
      let top = -Infinity;
      let second = -Infinity;
      if (k === 1) {
        const p = data[r]!;
        top = Math.max(p, 1 - p);
        second = 1 - top;
      } else {
        for (let c = 0; c < k; c++) {
          const v = data[r * k + c]!;
          if (v > top) {
            second = top;
            top = v;
          } else if (v > second) second = v;
        }
      }
      if (top !== top) continue;
      s.classified++;
      // top − second < 2·margin: for two classes, the top probability is within `margin` of 0.5
      if (top - second < margin) s.nearBoundary++;
    }
  }

  // -------------------------------------------------------------------------------------------
  // judging

  private judgeWindow(d: DeploymentState, which: 'current' | 'closed', now: number): ExtractionFinding[] {
    const space = d.space;
    if (!space || d.principals.size === 0) return [];
    const startMs = which === 'current' ? d.windowStart : d.closedStart!;
    const entries: [string, WindowStats][] = [];
    for (const [id, p] of d.principals) {
      const s = which === 'current' ? p.current : p.closed;
      if (s.rows > 0 && s.startMs === startMs) entries.push([id, s]);
    }
    if (entries.length === 0) return [];
    const volumes = entries.map(([, s]) => s.rows).sort((a, b) => a - b);
    let classified = 0;
    let near = 0;
    for (const [, s] of entries) {
      classified += s.classified;
      near += s.nearBoundary;
    }
    const pooled = space.refState === 'none' ? sumCounts(entries.map(([, s]) => s.counts)) : null;
    const out: ExtractionFinding[] = [];
    for (const [id, s] of entries) {
      if (s.rows < this.minRows) continue;
      const key = `${d.name}\n${id}\n${startMs}`;
      if (this.raised.has(key)) continue;
      const volume = this.volumeSignal(s.rows, volumes);
      const coverage = this.coverageSignal(space, s, pooled);
      const boundary = this.boundarySignal(space, s, classified - s.classified, near - s.nearBoundary);
      const flagged = EXTRACTION_SIGNALS.filter((n) => ({ volume, coverage, boundary })[n].flagged);
      if (flagged.length === 0) continue;
      this.raised.add(key);
      const finding: ExtractionFinding = {
        principal: id,
        deployment: d.name,
        model: space.model,
        version: s.version,
        window: { start: new Date(startMs).toISOString(), end: new Date(startMs + this.windowMs).toISOString(), startMs, endMs: startMs + this.windowMs, closed: which === 'closed' },
        rows: s.rows,
        requests: s.requests,
        signals: { volume, coverage, boundary },
        flagged,
        verdict: flagged.length >= 2 ? 'likely-extraction' : 'possible-extraction',
        summary: '',
        detectedAt: new Date(now).toISOString(),
      };
      finding.summary = summarize(finding);
      out.push(finding);
    }
    return out;
  }

  private volumeSignal(rows: number, sortedVolumes: readonly number[]): VolumeSignal {
    const threshold = { ratio: this.thresholds.volumeRatio, minRows: this.minRows };
    const median = medianWithoutOne(sortedVolumes, rows);
    if (median === null || median <= 0) return { applicable: false, flagged: false, rows, medianOthers: median, ratio: null, threshold };
    const ratio = rows / median;
    return { applicable: true, flagged: ratio > threshold.ratio && rows > this.minRows, rows, medianOthers: median, ratio, threshold };
  }

  private coverageSignal(space: FeatureSpace, s: WindowStats, pooled: Float64Array | null): CoverageSignal {
    const t = this.thresholds;
    const B = this.bins;
    const stride = B + 2;
    const empty: CoverageSignal = {
      applicable: false, flagged: false, score: null, threshold: t.coverageScore,
      reference: space.refState === 'profile' ? 'profile' : space.refState === 'none' ? 'other-traffic' : 'none',
      features: 0, meanDistanceToReference: null, meanDistanceToUniform: null, tailShare: null, expectedTailShare: null, top: [],
    };
    const uniform = new Float64Array(stride);
    for (let b = 1; b <= B; b++) uniform[b] = 1 / B;
    const q = new Float64Array(stride);
    const ref = new Float64Array(stride);
    const per: { feature: string; index: number; u: number; distanceToReference: number; distanceToUniform: number }[] = [];
    let tail = 0;
    let expectedTail = 0;
    let tailFeatures = 0;
    for (let f = 0; f < space.names.length; f++) {
      if (space.active[f] === 0) continue;
      let own = 0;
      let others = 0;
      for (let b = 0; b < stride; b++) {
        q[b] = s.counts[f * stride + b]!;
        own += q[b]!;
        if (space.refState === 'profile') ref[b] = space.refShares![f]![b]!;
        else {
          ref[b] = pooled ? pooled[f * stride + b]! - q[b]! : 0;
          others += ref[b]!;
        }
      }
      // the other callers must have sent enough to stand for real traffic
      if (own < this.minRows || (space.refState === 'none' && others < this.minRows)) continue;
      const refVsUniform = jsDistance(ref, uniform);
      if (refVsUniform < t.informativeDistance) continue;
      const dRef = jsDistance(q, ref);
      const dUni = jsDistance(q, uniform);
      per.push({ feature: space.names[f]!, index: f, u: (dRef - dUni) / refVsUniform, distanceToReference: dRef, distanceToUniform: dUni });
      const refTotal = sum(ref);
      let ft = 0;
      let fe = 0;
      for (let b = 0; b < stride; b++) {
        if (ref[b]! / refTotal < 0.01) {
          ft += q[b]!;
          fe += ref[b]! / refTotal;
        }
      }
      tail += ft / own;
      expectedTail += fe;
      tailFeatures++;
    }
    if (per.length === 0) return empty;
    const score = mean(per.map((p) => p.u));
    return {
      ...empty,
      applicable: true,
      flagged: score >= t.coverageScore,
      score,
      features: per.length,
      meanDistanceToReference: mean(per.map((p) => p.distanceToReference)),
      meanDistanceToUniform: mean(per.map((p) => p.distanceToUniform)),
      tailShare: tailFeatures > 0 ? tail / tailFeatures : null,
      expectedTailShare: tailFeatures > 0 ? expectedTail / tailFeatures : null,
      top: per
        .sort((a, b) => b.u - a.u)
        .slice(0, 3)
        .map(({ feature, index, distanceToReference, distanceToUniform }) => ({ feature, index, distanceToReference, distanceToUniform })),
    };
  }

  private boundarySignal(space: FeatureSpace, s: WindowStats, othersClassified: number, othersNear: number): BoundarySignal {
    const t = this.thresholds;
    const threshold = { margin: t.boundaryMargin, ratio: t.boundaryRatio, minShare: t.boundaryMinShare };
    if (space.probabilities === null || s.classified === 0) {
      return { applicable: false, flagged: false, share: null, baseline: null, ratio: null, rows: s.classified, threshold };
    }
    const share = s.nearBoundary / s.classified;
    if (othersClassified <= 0) return { applicable: false, flagged: false, share, baseline: null, ratio: null, rows: s.classified, threshold };
    const baseline = othersNear / othersClassified;
    const ratio = baseline > 0 ? share / baseline : share > 0 ? Infinity : 0;
    return { applicable: true, flagged: share > t.boundaryMinShare && share > t.boundaryRatio * baseline, share, baseline, ratio, rows: s.classified, threshold };
  }
}

/**
 * A version's reference features from its stored reference profile (monitoring's `referenceOf`):
 * each numeric column's range and its KLL CDF.
 *
 * @example
 * reference: async (model, version) => {
 *   const stored = await monitor.referenceOf(await registry.getVersion(model, version));
 *   return stored ? referenceFeaturesFromProfile(stored.profile) : null;
 * }
 */
export function referenceFeaturesFromProfile(profile: StoredReference['profile']): Map<string, FeatureReference> {
  const out = new Map<string, FeatureReference>();
  for (const c of profile.columns) {
    if (c.kind !== 'numeric' || !(c.max > c.min)) continue;
    const kll = c.kll;
    out.set(c.name, { min: c.min, max: c.max, cdf: (x) => kll.rank(x) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

function resetStats(s: WindowStats, startMs: number): void {
  s.startMs = startMs;
  s.rows = 0;
  s.requests = 0;
  s.version = 0;
  s.counts.fill(0);
  s.classified = 0;
  s.nearBoundary = 0;
}

function findTensor(tensors: readonly Tensor[], name: string): Tensor | undefined {
  for (let i = 0; i < tensors.length; i++) if (tensors[i]!.name === name) return tensors[i];
  return undefined;
}

function layoutOf(record: InferenceRecord): string {
  return record.managed.signature.inputs.map((i) => `${i.name}:${i.datatype}:${(i.featureNames ?? []).join(',')}`).join('|');
}

function sumCounts(all: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(all[0]?.length ?? 0);
  for (const c of all) for (let i = 0; i < c.length; i++) out[i]! += c[i]!;
  return out;
}

/** Median of `sorted` with one occurrence of `value` left out (null when nothing is left). */
function medianWithoutOne(sorted: readonly number[], value: number): number | null {
  const n = sorted.length - 1;
  if (n <= 0) return null;
  const skip = sorted.indexOf(value);
  const at = (j: number): number => sorted[j < skip ? j : j + 1]!;
  return n % 2 === 1 ? at((n - 1) / 2) : (at(n / 2 - 1) + at(n / 2)) / 2;
}

/** Jensen–Shannon distance, base 2 (0 = same, 1 = disjoint); weights are normalised. */
function jsDistance(p: Float64Array, q: Float64Array): number {
  const sp = sum(p);
  const sq = sum(q);
  if (!(sp > 0) || !(sq > 0)) return 0;
  let js = 0;
  for (let i = 0; i < p.length; i++) {
    const a = p[i]! / sp;
    const b = q[i]! / sq;
    const m = (a + b) / 2;
    if (a > 0) js += a * Math.log2(a / m);
    if (b > 0) js += b * Math.log2(b / m);
  }
  return js > 0 ? Math.sqrt(js / 2) : 0;
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

function mean(a: readonly number[]): number {
  return a.length === 0 ? NaN : a.reduce((x, y) => x + y, 0) / a.length;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(x < 0.1 ? 1 : 0)}%`;
}

function summarize(f: ExtractionFinding): string {
  const parts: string[] = [];
  const { volume: v, coverage: c, boundary: b } = f.signals;
  if (v.flagged) parts.push(`volume: ${f.rows} rows, ${v.ratio!.toFixed(1)}× the median of other callers (${v.medianOthers}; threshold ${v.threshold.ratio}×)`);
  if (c.flagged) {
    parts.push(
      `coverage: inputs spread uniformly over the input space (uniformity ${c.score!.toFixed(2)} ≥ ${c.threshold} over ${c.features} features, ` +
        `compared with the ${c.reference === 'profile' ? 'reference profile' : "other callers' traffic"}; ${pct(c.tailShare ?? 0)} of values where the reference has < 1%, expected ${pct(c.expectedTailShare ?? 0)})`,
    );
  }
  if (b.flagged) {
    parts.push(`boundary probing: ${pct(b.share!)} of answers within ${b.threshold.margin} of the decision threshold (other callers ${pct(b.baseline!)}; threshold ${b.threshold.ratio}× and ${pct(b.threshold.minShare)})`);
  }
  const verdict = f.verdict === 'likely-extraction' ? 'likely model extraction' : 'possible model extraction';
  return `${verdict} by ${f.principal} on ${f.deployment} (${f.model}@${f.version}) in ${f.window.start}–${f.window.end}: ${parts.join('; ')}`;
}
