/**
 * The explanation service. For a registered version and some rows of its inputs, it answers
 * per-feature contributions with the base value and the prediction, where
 * base + Σ contributions = prediction.
 *
 * - Exact TreeSHAP applies when the file is one tree ensemble on one float input. It is
 *   path-dependent with covers counted from the reference data (or the file's hit rates), or
 *   interventional against the background.
 * - Kernel SHAP covers any other model, against the background.
 *
 * The background is the reference data summarised once (k-means). It is stored as an artifact
 * beside the reference, with the covers and the category dictionaries.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BerthError, allocateData, toBerthError, type Logger, type Tensor } from '../core/index.js';
import { parseCsv, readParquetFile, type Table } from '../data/index.js';
import { cellText, monitoringSchema, tableToInputs, type ReportExplanations } from '../monitor/index.js';
import type { ReferenceBackgroundRecord, Registry, VersionRecord } from '../registry/index.js';
import type { Backend, LoadedModel } from '../runtime/index.js';
import { backgroundFromJson, backgroundToJson, createBackground, summarizeBackground, type Background, type BackgroundJson } from './background.js';
import { LimeTabular } from './lime.js';
import { permutationImportance, type PermutationMetric } from './permutation.js';
import { explainedOutput, explainedValues, FeatureSpace, type ExplainedOutput, type FeatureValue } from './features.js';
import { kernelShap, type ExplainableModel } from './kernel-shap.js';
import type { ExplainOptions } from './options.js';
import { TreeShap } from './tree-shap.js';
import { coversFrom, readTreeModel, type TreeModel } from './trees.js';

/** Settings of the explanation service (`explain` in the config). */
export interface ExplainConfig {
  /** background rows the reference is summarised to (k-means) */
  backgroundSize: number;
  /** the most model evaluations (rows × coalitions × background rows) one request may cost */
  maxEvaluations: number;
  /** onnxruntime threads of the sessions explanations run on */
  intraOpThreads: number;
  /** rows kept by requests that ask for the cache (least recently used go first) */
  cacheEntries: number;
  /** sessions (worker threads) per version: a large batch of model rows is split across them */
  sessions: number;
}

export const DEFAULT_EXPLAIN_CONFIG: ExplainConfig = { backgroundSize: 100, maxEvaluations: 50_000_000, intraOpThreads: 1, cacheEntries: 10_000, sessions: 2 };

/** One feature's share of one row's prediction. */
export interface FeatureContribution {
  feature: string;
  /** the row's value of the feature (a string for 64-bit integers) */
  value: number | string | boolean | null;
  contribution: number;
  /** sampled methods: the estimate's standard error */
  standard_error?: number;
  /** LIME: the row's bin of the feature, e.g. `0.5 < age <= 0.9` */
  condition?: string;
}

/** One row's explanation. base_value + Σ contributions = prediction, in `space`. */
export interface RowExplanation {
  /** the class whose score is explained (classifiers) */
  class: string | null;
  base_value: number;
  prediction: number;
  /** the model's own output for the row (a probability, when `space` is margin or log-odds) */
  output: number;
  /** every feature, largest |contribution| first */
  contributions: FeatureContribution[];
  /** LIME: how well the local linear model fits the model around the row (weighted R², 0–1) */
  fidelity?: number;
}

/** The methods as answered. */
export type AnsweredMethod = 'tree-path-dependent' | 'tree-interventional' | 'kernel' | 'lime';

/** An answer to an explain request. */
export interface ExplainResult {
  model: string;
  version: number;
  method: AnsweredMethod;
  /** exact Shapley values (TreeSHAP, or Kernel SHAP that enumerated every coalition) */
  exact: boolean;
  /** what the numbers are: the trees' margin (log-odds of a logistic classifier), log-odds, a probability, a score or a value */
  space: 'margin' | 'log-odds' | 'probability' | 'logit' | 'score' | 'value';
  /** the model output explained */
  output: string;
  background: { rows: number; method: string; source: 'reference' | 'hit-rates' | 'none' };
  /** Kernel SHAP: coalitions evaluated per row, and the budget asked for */
  coalitions?: number;
  budget?: number;
  /** LIME: perturbed samples per row */
  samples?: number;
  /** model rows evaluated for the whole request */
  evaluations: number;
  /** rows answered from the cache (requests with `cache: true`) */
  cached: number;
  milliseconds: number;
  explanations: RowExplanation[];
}

/** Permutation importance as answered: every feature, most important first. */
export interface PermutationImportanceResult {
  model: string;
  version: number;
  /** roc-auc and log-loss: the class whose probability is scored */
  class?: string;
  metric: PermutationMetric;
  /** the metric on the unshuffled rows */
  baseline: number;
  repeats: number;
  /** the intervals' confidence level */
  confidence: number;
  rows: number;
  evaluations: number;
  /** the worsening of the metric when the feature is shuffled: mean, sd and interval over the repeats */
  features: { feature: string; mean: number; sd: number; low: number; high: number }[];
  milliseconds: number;
}

/** What the service needs. */
export interface ExplainServiceOptions {
  registry: Registry;
  backend: Backend;
  logger: Logger;
  config?: Partial<ExplainConfig>;
  now?: () => number;
}

const STORED_FORMAT = 'berth-explain-background/1';

/** `background.json` as stored beside a version's reference. */
interface StoredBackground {
  format: typeof STORED_FORMAT;
  features: string[];
  background: BackgroundJson;
  /** coded features: the values their codes stand for (64-bit integers as strings) */
  dictionaries: (Array<number | string | boolean | null> | null)[];
  /** path-dependent TreeSHAP: rows of the whole reference through each node, when the model is a tree ensemble */
  covers: number[] | null;
  referenceRows: number;
}

interface Prepared {
  version: VersionRecord;
  space: FeatureSpace;
  tree: TreeModel | null;
  treeShap: TreeShap | null;
  background: Background | null;
  backgroundSource: 'reference' | 'none';
  coverSource: 'reference' | 'hit-rates' | null;
}

/**
 * Explanations for registered versions. One per server; safe for concurrent requests.
 *
 * @example
 * const svc = new ExplainService({ registry, backend: new OnnxBackend(), logger });
 * await svc.prepareBackground('credit', 3); // after reference data is attached
 * const r = await svc.explain(version, inputs, { method: 'auto', budget: 2048, link: 'identity', seed: 0 });
 */
export class ExplainService {
  private readonly config: ExplainConfig;
  private readonly prepared = new Map<string, Promise<Prepared>>();
  private readonly sessions = new Map<string, Promise<LoadedModel>>();
  private readonly now: () => number;
  /** explained rows by (version, method, options, row values), least recently used first */
  private readonly cache = new Map<string, { explanation: RowExplanation; exact: boolean; coalitions?: number }>();
  private readonly importances = new Map<string, Promise<ReportExplanations | null>>();
  private readonly limes = new Map<string, Promise<{ lime: LimeTabular; rows: number }>>();

  constructor(private readonly opts: ExplainServiceOptions) {
    this.config = { ...DEFAULT_EXPLAIN_CONFIG, ...(opts.config ?? {}) };
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * Summarise a version's reference data into the background (and covers, for tree models) and
   * store it beside the reference. Called when reference data is attached; explain calls it too
   * for versions whose reference predates it. Answers the record stored, or null without reference data.
   */
  async prepareBackground(model: string, version: number, actor?: string): Promise<ReferenceBackgroundRecord | null> {
    const v = await this.opts.registry.getVersion(model, version);
    const ref = v.reference;
    if (ref === null || ref === undefined) return null;
    if (ref.background !== undefined && (await this.opts.registry.artifacts.has(ref.background.sha256))) return ref.background;
    const space = FeatureSpace.of(v.signature);
    const table = await this.referenceTable(v);
    const inputs = tableToInputs(table, v.signature, monitoringSchema(v.signature, v.card ?? undefined));
    const { rows, n } = space.encode(inputs);
    const background = summarizeBackground(rows, n, space.size, {
      method: 'kmeans', size: this.config.backgroundSize, seed: 0, categorical: space.features.map((f) => f.kind === 'categorical'),
    });
    let covers: number[] | null = null;
    const tree = await this.treeOf(v);
    if (tree !== null && space.direct) covers = Array.from(coversFrom(tree.ensemble, rows, n));
    const stored: StoredBackground = {
      format: STORED_FORMAT,
      features: space.features.map((f) => f.name),
      background: backgroundToJson(background),
      dictionaries: space.dictionaryJson(),
      covers,
      referenceRows: n,
    };
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-background-'));
    try {
      const file = path.join(dir, 'background.json');
      await writeFile(file, JSON.stringify(stored));
      const put = await this.opts.registry.artifacts.put(file);
      const record: ReferenceBackgroundRecord = { sha256: put.sha256, sizeBytes: put.sizeBytes, rows: background.n, method: background.method, createdAt: new Date().toISOString() };
      await this.opts.registry.setReference(model, version, { ...ref, background: record }, actor);
      this.prepared.delete(keyOf(v));
      return record;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * What a request will cost before it runs: the method `auto` resolves to, and the model
   * evaluations (rows × coalitions × background rows for Kernel SHAP, rows × samples for LIME,
   * none for TreeSHAP). Refuses what `explain` would refuse (a method the model cannot take).
   */
  async estimate(version: VersionRecord, rows: number, options: ExplainOptions): Promise<{ method: AnsweredMethod; rows: number; evaluations: number }> {
    const p = await this.prepare(version);
    const method = this.methodFor(p, options);
    const M = p.space.size;
    const evaluations = method === 'kernel'
      ? rows * (Math.min(options.budget, 2 ** Math.min(M, 40)) * p.background!.n + p.background!.n + 1)
      : method === 'lime' ? rows * options.samples : 0;
    return { method, rows, evaluations };
  }

  /**
   * Explain rows (the version's input tensors, validated) with the options asked for. `run.limit`
   * replaces `explain.maxEvaluations` (explain jobs pass theirs); `onProgress` hears of each row
   * done; an aborted `signal` stops it between rows (CANCELLED).
   */
  async explain(
    version: VersionRecord, inputs: readonly Tensor[], options: ExplainOptions,
    run: { limit?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {},
  ): Promise<ExplainResult> {
    const started = this.now();
    const limit = run.limit ?? this.config.maxEvaluations;
    const p = await this.prepare(version);
    const target = explainedOutput(version.signature, version.card ?? undefined, options.className);
    const { rows, n } = p.space.encode(inputs);
    const M = p.space.size;
    const method = this.methodFor(p, options);
    const perRowClass = target.className !== null && options.className === undefined;
    const explanations: (RowExplanation | null)[] = new Array<RowExplanation | null>(n).fill(null);
    let evaluations = 0;
    let coalitions: number | undefined;
    let exact = true;
    let cached = 0;
    // rows explained before with the same settings come from the cache when the request asks
    const settings = `${keyOf(version)}|${method}|${options.className ?? '*'}${method === 'kernel' ? `|${options.budget}|${options.link}|${options.seed}` : method === 'lime' ? `|${options.samples}|${options.seed}` : ''}`;
    const keys = options.cache ? Array.from({ length: n }, (_, r) => `${settings}|${rowKey(p.space, rows.subarray(r * M, (r + 1) * M))}`) : null;
    if (keys !== null) {
      keys.forEach((k, r) => {
        const hit = this.cache.get(k);
        if (hit === undefined) return;
        this.cache.delete(k);
        this.cache.set(k, hit);
        explanations[r] = hit.explanation;
        exact &&= hit.exact;
        if (hit.coalitions !== undefined) coalitions = hit.coalitions;
        cached++;
      });
    }
    const todo = explanations.flatMap((e, r) => (e === null ? [r] : []));
    let done = n - todo.length;
    const keep = (r: number, e: RowExplanation, rowExact: boolean, rowCoalitions?: number): void => {
      explanations[r] = e;
      run.onProgress?.(++done, n);
      if (run.signal?.aborted) throw new BerthError('CANCELLED', `cancelled after ${done} of ${n} rows`);
      if (keys === null) return;
      this.cache.set(keys[r]!, { explanation: e, exact: rowExact, ...(rowCoalitions !== undefined ? { coalitions: rowCoalitions } : {}) });
      while (this.cache.size > this.config.cacheEntries) this.cache.delete(this.cache.keys().next().value as string);
    };
    let space: ExplainResult['space'];
    if (method === 'lime') {
      const cost = todo.length * options.samples;
      this.checkCost(cost, limit, `${todo.length} rows × ${options.samples} samples`, 'samples', 'send fewer rows or fewer samples');
      space = target.kind;
      exact = false;
      if (todo.length > 0) {
        const { lime } = await this.limeOf(p);
        const session = await this.session(version);
        const targets = await this.rowTargets(session, p.space, rows, todo, target, perRowClass, version);
        for (let i = 0; i < todo.length; i++) {
          const r = todo[i]!;
          const t = targets[i]!;
          const x = rows.subarray(r * M, (r + 1) * M);
          const e = await lime.explain(this.explainable(session, p.space, t), x, { samples: options.samples, seed: options.seed });
          evaluations += e.evaluations;
          const row = this.rowExplanation(p.space, x, t.className, e.intercept, e.localPrediction, e.prediction, e.contributions, undefined, e.descriptions);
          keep(r, { ...row, fidelity: e.score }, false);
        }
      }
    } else if (method === 'kernel') {
      const background = p.background!;
      const cost = todo.length * Math.min(options.budget, 2 ** Math.min(M, 40)) * background.n;
      this.checkCost(cost, limit, `${todo.length} rows × up to ${options.budget} coalitions × ${background.n} background rows`, 'budget', 'send fewer rows or a smaller budget');
      space = options.link === 'logit' ? 'log-odds' : target.kind;
      if (todo.length > 0) {
        const session = await this.session(version);
        const targets = await this.rowTargets(session, p.space, rows, todo, target, perRowClass, version);
        for (let i = 0; i < todo.length; i++) {
          const r = todo[i]!;
          const t = targets[i]!;
          const x = rows.subarray(r * M, (r + 1) * M);
          const e = await kernelShap(this.explainable(session, p.space, t), x, background, { budget: options.budget, link: options.link, seed: options.seed });
          evaluations += e.evaluations;
          coalitions = e.coalitions;
          exact &&= e.exact;
          keep(r, this.rowExplanation(p.space, x, t.className, e.base, e.prediction, e.output, e.contributions, e.standardErrors), e.exact, e.coalitions);
        }
      }
    } else {
      const shap = p.treeShap!;
      const ensemble = p.tree!.ensemble;
      space = 'margin';
      const bg = method === 'tree-interventional' ? { rows: p.background!.rows, n: p.background!.n, weights: p.background!.weights } : null;
      for (const r of todo) {
        const x = rows.subarray(r * M, (r + 1) * M);
        const e = bg !== null ? shap.interventional(x, bg) : shap.pathDependent(x);
        let classIndex = 0;
        if (target.className !== null) {
          classIndex = perRowClass ? argmax(e.scores) : target.column;
        }
        const cm = ensemble.kind === 'classifier' ? ensemble.classMargin(classIndex) : { target: 0, sign: 1 as const };
        const t = e.targets[cm.target]!;
        const contributions = cm.sign === 1 ? t.contributions : t.contributions.map((c) => -c);
        const output = ensemble.kind === 'classifier' ? e.scores[classIndex]! : e.scores[0]!;
        const cls = target.className !== null ? this.className(version, classIndex) : null;
        keep(r, this.rowExplanation(p.space, x, cls, cm.sign * t.base, cm.sign * t.margin, output, contributions, undefined), true);
      }
    }
    return {
      model: version.model,
      version: version.version,
      method,
      exact,
      space,
      output: target.output,
      background: method === 'tree-path-dependent'
        ? { rows: p.background?.n ?? 0, method: p.background?.method ?? 'none', source: p.coverSource === 'hit-rates' ? 'hit-rates' : 'reference' }
        : method === 'lime'
          ? { rows: (await this.limeOf(p)).rows, method: 'sample', source: 'reference' }
          : { rows: p.background!.n, method: p.background!.method, source: 'reference' },
      ...(method === 'kernel' ? { coalitions: coalitions ?? 0, budget: options.budget } : {}),
      ...(method === 'lime' ? { samples: options.samples } : {}),
      evaluations,
      cached,
      milliseconds: Math.round((this.now() - started) * 100) / 100,
      explanations: explanations as RowExplanation[],
    };
  }

  /**
   * What drives a version's predictions overall: the mean |contribution| (and mean contribution)
   * of every feature over up to `rows` reference rows (a seeded sample), for the monitoring report.
   * Classifiers: the last class's score. Null without reference data. Computed once per version.
   */
  importance(version: VersionRecord, rows = 200): Promise<ReportExplanations | null> {
    const key = `${keyOf(version)}|${rows}`;
    let p = this.importances.get(key);
    if (p === undefined) {
      p = this.computeImportance(version, rows);
      this.importances.set(key, p);
      p.catch(() => this.importances.delete(key));
    }
    return p;
  }

  private async computeImportance(version: VersionRecord, want: number): Promise<ReportExplanations | null> {
    if (!version.reference) return null;
    const table = await this.referenceTable(version);
    const inputs = tableToInputs(table, version.signature, monitoringSchema(version.signature, version.card ?? undefined));
    const n = inputs[0]?.shape[0] ?? 0;
    // a seeded sample of the reference rows, in their order
    const pick = sampleIndices(n, Math.min(want, n), 17);
    const sampled = inputs.map((t) => takeRows(t, pick));
    const target = explainedOutput(version.signature, version.card ?? undefined);
    const className = target.className !== null ? this.className(version, target.width - 1) : undefined;
    const result = await this.explain(version, sampled, {
      method: 'auto', budget: 256, link: 'identity', seed: 0, cache: false, samples: 5000, ...(className !== undefined ? { className } : {}),
    });
    const sums = new Map<string, { abs: number; sum: number }>();
    for (const e of result.explanations) {
      for (const c of e.contributions) {
        const s = sums.get(c.feature) ?? { abs: 0, sum: 0 };
        s.abs += Math.abs(c.contribution);
        s.sum += c.contribution;
        sums.set(c.feature, s);
      }
    }
    const k = result.explanations.length;
    const features = [...sums].map(([feature, s]) => ({ feature, meanAbs: s.abs / k, mean: s.sum / k })).sort((a, b) => b.meanAbs - a.meanAbs);
    return { method: result.method, space: className !== undefined ? `${result.space} of class ${className}` : result.space, rows: k, features };
  }

  /**
   * Permutation feature importance of a version over its reference data (labelled: the card's
   * label column): how much the metric worsens when one feature's column is shuffled, with a
   * t-interval over the repeats. Classifiers: `accuracy` on the predicted class (default), or
   * `roc-auc`/`log-loss` on the last class's probability (binary); regressions: `r2` (default),
   * `rmse`, `mae`.
   */
  async permutationImportance(version: VersionRecord, o: { metric?: PermutationMetric; repeats?: number; maxRows?: number; seed?: number } = {}): Promise<PermutationImportanceResult> {
    const started = this.now();
    if (!version.reference) {
      throw new BerthError('FAILED_PRECONDITION', `permutation importance needs labelled data, and version ${version.version} of "${version.model}" has no reference data; attach it with \`berth models profile ${version.model} ${version.version} --reference train.csv\` (with its label column)`, {
        field: 'version', expected: 'a version with reference data', got: version.version,
      });
    }
    const schema = monitoringSchema(version.signature, version.card ?? undefined);
    const table = await this.referenceTable(version);
    const labelColumn = table.columns.find((c) => c.name === schema.labelColumn);
    if (labelColumn === undefined) {
      throw new BerthError('FAILED_PRECONDITION', `the reference data of version ${version.version} of "${version.model}" has no label column "${schema.labelColumn}" (its columns: ${table.columns.map((c) => c.name).join(', ')}); profile it again with a labelled file, or set monitoring.labelColumn in the card`, {
        field: 'labelColumn', expected: schema.labelColumn, got: table.columns.map((c) => c.name),
      });
    }
    const p = await this.prepare(version);
    const inputs = tableToInputs(table, version.signature, schema);
    const { rows, n } = p.space.encode(inputs);
    const target = explainedOutput(version.signature, version.card ?? undefined);
    const classifier = target.className !== null;
    const metric: PermutationMetric = o.metric ?? (classifier ? 'accuracy' : 'r2');
    const regressionMetrics: readonly PermutationMetric[] = ['r2', 'rmse', 'mae'];
    if (classifier === regressionMetrics.includes(metric)) {
      throw new BerthError('INVALID_ARGUMENT', `metric: ${metric} does not fit a ${classifier ? 'classifier' : 'regression'}; use ${classifier ? 'accuracy, roc-auc or log-loss' : 'r2, rmse or mae'}`, {
        field: 'metric', expected: classifier ? ['accuracy', 'roc-auc', 'log-loss'] : ['r2', 'rmse', 'mae'], got: metric,
      });
    }
    const classes = version.card?.classes?.labels.map(String) ?? Array.from({ length: target.width }, (_, i) => String(i));
    const names = version.card?.classes?.names ?? [];
    const labels = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      const text = cellText(labelColumn, r);
      if (text === null) throw new BerthError('INVALID_INPUT', `reference row ${r + 1}: the label ("${schema.labelColumn}") is missing; permutation importance needs every row labelled`, { field: schema.labelColumn, got: r + 1 });
      if (!classifier) {
        labels[r] = Number(text);
        continue;
      }
      let k = classes.indexOf(text);
      if (k < 0) k = names.indexOf(text);
      if (k < 0 && Number.isFinite(Number(text))) k = classes.findIndex((c) => Number(c) === Number(text));
      if (k < 0) throw new BerthError('INVALID_INPUT', `reference row ${r + 1}: label ${JSON.stringify(text)} is not one of the classes ${classes.join(', ')}`, { field: schema.labelColumn, expected: classes, got: text });
      // accuracy compares class indexes; roc-auc and log-loss ask "is it the last class?"
      labels[r] = metric === 'accuracy' ? k : k === target.width - 1 ? 1 : 0;
    }
    const repeats = o.repeats ?? 5;
    const used = Math.min(n, o.maxRows ?? n);
    const cost = used * (1 + p.space.size * repeats);
    this.checkCost(cost, this.config.maxEvaluations, `${used} rows × (1 + ${p.space.size} features × ${repeats} repeats)`, 'max_rows', 'pass a smaller max_rows or fewer repeats');
    const session = await this.session(version);
    const model: ExplainableModel = metric === 'accuracy'
      ? {
          featureCount: p.space.size,
          // the predicted class's index, compared with the label's
          predict: async (r, k) => Float64Array.from(await this.predictedClasses(session, p.space, r, k, target)),
        }
      : this.explainable(session, p.space, { ...target, column: target.width - 1 });
    const result = await permutationImportance(model, { rows, n, labels }, {
      metric, repeats, seed: o.seed ?? 0, ...(o.maxRows !== undefined ? { maxRows: o.maxRows } : {}),
      ...(metric === 'accuracy' ? { decision: { kind: 'label' as const } } : {}),
      featureNames: p.space.features.map((f) => f.name),
    });
    return {
      model: version.model, version: version.version,
      ...(classifier && metric !== 'accuracy' ? { class: this.className(version, target.width - 1) } : {}),
      ...result,
      features: result.features.map((f) => ({ feature: f.name, mean: f.mean, sd: f.sd, low: f.low, high: f.high })),
      milliseconds: Math.round((this.now() - started) * 100) / 100,
    };
  }

  /** Free the sessions. */
  async close(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    this.prepared.clear();
    await Promise.all(sessions.map(async (s) => (await s.catch(() => null))?.dispose()));
  }

  // -------------------------------------------------------------------------------------------

  private methodFor(p: Prepared, o: ExplainOptions): AnsweredMethod {
    const noBackground = (what: string): BerthError => new BerthError('FAILED_PRECONDITION',
      `${what} needs background data, and version ${p.version.version} of "${p.version.model}" has no reference data; attach it with \`berth models profile ${p.version.model} ${p.version.version} --reference train.csv\` (or register the version with --reference)`, {
        field: 'method', expected: 'a version with reference data', got: o.method,
      });
    const notTree = (): BerthError => new BerthError('INVALID_ARGUMENT',
      `method ${o.method}: version ${p.version.version} of "${p.version.model}" is not a tree ensemble on one float input, so TreeSHAP cannot explain it; use method kernel (or auto)`, {
        field: 'method', expected: ['auto', 'kernel'], got: o.method,
      });
    const treeOk = p.treeShap !== null;
    switch (o.method) {
      case 'tree':
        if (!treeOk) throw notTree();
        if (!p.treeShap!.hasCovers) throw noBackground('path-dependent TreeSHAP (node covers)');
        return 'tree-path-dependent';
      case 'tree-interventional':
        if (!treeOk) throw notTree();
        if (p.background === null) throw noBackground('interventional TreeSHAP');
        return 'tree-interventional';
      case 'kernel':
        if (p.background === null) throw noBackground('Kernel SHAP');
        return 'kernel';
      case 'lime':
        if (!p.version.reference) throw noBackground('LIME (training rows for its bins)');
        return 'lime';
      case 'auto':
        if (treeOk && p.treeShap!.hasCovers) return 'tree-path-dependent';
        if (treeOk && p.background !== null) return 'tree-interventional';
        if (p.background === null) throw noBackground('Kernel SHAP');
        return 'kernel';
    }
  }

  private prepare(version: VersionRecord): Promise<Prepared> {
    const key = keyOf(version);
    let p = this.prepared.get(key);
    if (p === undefined) {
      p = this.build(version);
      this.prepared.set(key, p);
      p.catch(() => this.prepared.delete(key));
    }
    return p;
  }

  private async build(given: VersionRecord): Promise<Prepared> {
    let version = given;
    if (version.reference && version.reference.background === undefined) {
      // reference data from before explanations existed: summarise it now, once
      await this.prepareBackground(version.model, version.version).catch((err: unknown) => {
        this.opts.logger.warn('explain: summarising the reference data failed', { model: version.model, version: version.version, error: toBerthError(err).message });
      });
      version = await this.opts.registry.getVersion(version.model, version.version);
    }
    const tree = await this.treeOf(version);
    let space = FeatureSpace.of(version.signature);
    let background: Background | null = null;
    let covers: Float64Array | null = null;
    if (version.reference?.background) {
      const stored = parseStored(Buffer.from(await this.opts.registry.artifacts.read(version.reference.background.sha256)).toString('utf8'));
      space = FeatureSpace.of(version.signature, stored.dictionaries);
      background = backgroundFromJson(stored.background);
      if (background.M !== space.size) {
        throw new BerthError('ARTIFACT_CORRUPTED', `the stored background of version ${version.version} of "${version.model}" has ${background.M} features, the model ${space.size}`);
      }
      if (stored.covers !== null) covers = Float64Array.from(stored.covers);
    }
    let treeShap: TreeShap | null = null;
    let coverSource: Prepared['coverSource'] = null;
    if (tree !== null && space.direct && tree.featureCount === space.size) {
      if (covers !== null) coverSource = 'reference';
      else if (tree.ensemble.hitRates !== null) coverSource = 'hit-rates';
      treeShap = new TreeShap(tree.ensemble, covers !== null ? { covers } : {});
    }
    return { version, space, tree, treeShap, background, backgroundSource: background !== null ? 'reference' : 'none', coverSource };
  }

  /** LIME's bins, from up to 5,000 reference rows (a seeded sample), once per version. */
  private limeOf(p: Prepared): Promise<{ lime: LimeTabular; rows: number }> {
    const key = keyOf(p.version);
    let l = this.limes.get(key);
    if (l === undefined) {
      l = (async () => {
        const v = p.version;
        const table = await this.referenceTable(v);
        const inputs = tableToInputs(table, v.signature, monitoringSchema(v.signature, v.card ?? undefined));
        const n = inputs[0]?.shape[0] ?? 0;
        const pick = sampleIndices(n, Math.min(5000, n), 23);
        const { rows, n: k } = p.space.encode(inputs.map((t) => takeRows(t, pick)));
        const training = createBackground(rows, k, p.space.size, { method: 'sample', seed: 23 });
        const lime = new LimeTabular(training, { categorical: p.space.features.map((f) => f.kind === 'categorical'), featureNames: p.space.features.map((f) => f.name) });
        return { lime, rows: k };
      })();
      this.limes.set(key, l);
      l.catch(() => this.limes.delete(key));
    }
    return l;
  }

  private async treeOf(v: VersionRecord): Promise<TreeModel | null> {
    try {
      return readTreeModel(await this.opts.registry.artifacts.read(v.sha256)).model;
    } catch {
      return null;
    }
  }

  private async referenceTable(v: VersionRecord): Promise<Table> {
    const ref = v.reference!;
    if (ref.fileName.toLowerCase().endsWith('.parquet')) return readParquetFile(this.opts.registry.artifacts.path(ref.sha256));
    return parseCsv(Buffer.from(await this.opts.registry.artifacts.read(ref.sha256)).toString('utf8'));
  }

  private session(v: VersionRecord): Promise<LoadedModel> {
    const key = keyOf(v);
    let s = this.sessions.get(key);
    if (s === undefined) {
      s = (async () => {
        const bytes = await this.opts.registry.artifacts.read(v.sha256);
        const members = await Promise.all(Array.from({ length: this.config.sessions }, () =>
          this.opts.backend.load(bytes, { intraOpThreads: this.config.intraOpThreads, interOpThreads: 1, worker: true })));
        return members.length === 1 ? members[0]! : new SplitModel(members);
      })();
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
      // a few versions at most: the oldest session goes
      if (this.sessions.size > 4) {
        const [oldest, gone] = this.sessions.entries().next().value as [string, Promise<LoadedModel>];
        this.sessions.delete(oldest);
        void gone.then((m) => m.dispose(), () => undefined);
      }
    }
    return s;
  }

  private explainable(session: LoadedModel, space: FeatureSpace, target: ExplainedOutput): ExplainableModel {
    return {
      featureCount: space.size,
      predict: async (rows, n) => explainedValues(await session.run(space.decode(rows, n), [target.output]), target, n),
    };
  }

  /** Refuse, before any work, a request that would cost more model evaluations than allowed. */
  private checkCost(cost: number, limit: number, how: string, field: string, hint: string): void {
    if (cost <= limit) return;
    throw new BerthError('PAYLOAD_TOO_LARGE', `this request would take about ${cost.toLocaleString('en-US')} model evaluations (${how}), over the limit of ${limit.toLocaleString('en-US')}; ${hint}`, {
      field, expected: `≤ ${limit} evaluations`, got: cost,
    });
  }

  /** What each of the rows `todo` explains: the class asked for, else the row's predicted class. */
  private async rowTargets(
    session: LoadedModel, space: FeatureSpace, rows: Float32Array, todo: readonly number[], target: ExplainedOutput, perRowClass: boolean, version: VersionRecord,
  ): Promise<ExplainedOutput[]> {
    if (!perRowClass) return todo.map(() => target);
    const M = space.size;
    const picked = new Float32Array(todo.length * M);
    todo.forEach((r, i) => picked.set(rows.subarray(r * M, (r + 1) * M), i * M));
    const classes = await this.predictedClasses(session, space, picked, todo.length, target);
    return Array.from(classes, (c) => ({ ...target, column: c, className: this.className(version, c) }));
  }

  private async predictedClasses(session: LoadedModel, space: FeatureSpace, rows: Float32Array, n: number, target: ExplainedOutput): Promise<Int32Array> {
    const outputs = await session.run(space.decode(rows, n), [target.output]);
    const t = outputs[0]!;
    const data = t.data as ArrayLike<number>;
    const out = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      let best = 0;
      for (let c = 1; c < target.width; c++) if (Number(data[r * target.width + c]) > Number(data[r * target.width + best])) best = c;
      out[r] = best;
    }
    return out;
  }

  private className(v: VersionRecord, column: number): string {
    const names = v.card?.classes?.names ?? v.card?.classes?.labels.map(String);
    return names?.[column] ?? String(column);
  }

  private rowExplanation(
    space: FeatureSpace, x: Float32Array, cls: string | null, base: number, prediction: number, output: number,
    contributions: ArrayLike<number>, errors: ArrayLike<number> | undefined, conditions?: readonly string[],
  ): RowExplanation {
    const list: FeatureContribution[] = space.features.map((f, j) => ({
      feature: f.name,
      value: jsonValue(space.valueOf(j, x[j]!)),
      contribution: contributions[j]!,
      ...(errors !== undefined ? { standard_error: errors[j]! } : {}),
      ...(conditions !== undefined ? { condition: conditions[j]! } : {}),
    }));
    list.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
    return { class: cls, base_value: base, prediction, output, contributions: list };
  }
}

/**
 * Several sessions of one model, each in its own worker thread, as one: a large batch is cut into
 * one slice of rows per session, run at once, and put back together in order. On a machine with
 * cores to spare this beats one session with as many runtime threads, which share one batch less
 * evenly; small batches go to the first session alone.
 */
class SplitModel implements LoadedModel {
  constructor(private readonly members: readonly LoadedModel[]) {}

  get signature(): LoadedModel['signature'] {
    return this.members[0]!.signature;
  }

  async run(inputs: readonly Tensor[], outputNames?: readonly string[]): Promise<Tensor[]> {
    const n = inputs[0]?.shape[0] ?? 0;
    const k = Math.min(this.members.length, Math.floor(n / 4096));
    if (k <= 1) return this.members[0]!.run(inputs, outputNames);
    const bounds = Array.from({ length: k + 1 }, (_, i) => Math.round((i * n) / k));
    const parts = await Promise.all(this.members.slice(0, k).map((m, i) => m.run(inputs.map((t) => sliceRows(t, bounds[i]!, bounds[i + 1]!, n)), outputNames)));
    return parts[0]!.map((first, o) => {
      const datas = parts.map((p) => p[o]!.data);
      const total = datas.reduce((s, d) => s + d.length, 0);
      let data: Tensor['data'];
      if (Array.isArray(first.data)) {
        data = (datas as string[][]).flat();
      } else {
        const out = allocateData(first.datatype, total) as Exclude<Tensor['data'], string[]>;
        let at = 0;
        for (const d of datas as Exclude<Tensor['data'], string[]>[]) {
          (out as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(d as unknown as ArrayLike<unknown>, at);
          at += d.length;
        }
        data = out;
      }
      return { ...first, shape: [n, ...first.shape.slice(1)], data };
    });
  }

  async dispose(): Promise<void> {
    await Promise.all(this.members.map((m) => m.dispose()));
  }
}

/** Rows [from, to) of a tensor whose first axis has n rows. */
function sliceRows(t: Tensor, from: number, to: number, n: number): Tensor {
  const width = n === 0 ? 0 : t.data.length / n;
  const data = Array.isArray(t.data) ? t.data.slice(from * width, to * width) : (t.data as Exclude<Tensor['data'], string[]>).subarray(from * width, to * width);
  return { ...t, shape: [to - from, ...t.shape.slice(1)], data: data as Tensor['data'] };
}

function keyOf(v: VersionRecord): string {
  return `${v.model}@${v.version}:${v.sha256}:${v.reference?.background?.sha256 ?? '-'}`;
}

/** `k` of `0..n-1`, seeded, in increasing order. */
function sampleIndices(n: number, k: number, seed: number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < k; i++) {
    // xorshift32: a partial Fisher–Yates shuffle
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const j = i + (s % (n - i));
    const t = idx[i]!; idx[i] = idx[j]!; idx[j] = t;
  }
  return idx.slice(0, k).sort();
}

/** Rows `pick` of a tensor (batch on the first axis). */
function takeRows(t: Tensor, pick: Int32Array): Tensor {
  const n = t.shape[0] ?? 0;
  const width = n === 0 ? 0 : (t.data as ArrayLike<unknown>).length / n;
  const data = allocateData(t.datatype, pick.length * width) as unknown as { [k: number]: unknown };
  const src = t.data as unknown as ArrayLike<unknown>;
  pick.forEach((r, i) => {
    for (let j = 0; j < width; j++) data[i * width + j] = src[r * width + j];
  });
  return { ...t, shape: [pick.length, ...t.shape.slice(1)], data: data as unknown as Tensor['data'] };
}

/** A row's values as they came (codes decoded), so equal rows meet in the cache whatever their codes. */
function rowKey(space: FeatureSpace, x: Float32Array): string {
  return JSON.stringify(Array.from(x, (v, j) => jsonValue(space.valueOf(j, v))));
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

function jsonValue(v: FeatureValue): number | string | boolean | null {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v;
}

function parseStored(text: string): StoredBackground {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new BerthError('ARTIFACT_CORRUPTED', 'a stored explanation background is not JSON');
  }
  const d = doc as Partial<StoredBackground> | null;
  if (d === null || typeof d !== 'object' || d.format !== STORED_FORMAT || !Array.isArray(d.dictionaries)) {
    throw new BerthError('ARTIFACT_CORRUPTED', `a stored explanation background has format ${JSON.stringify(d?.format)}, expected ${STORED_FORMAT}`);
  }
  return d as StoredBackground;
}
