/**
 * Monitoring's front door for the protocol adapters and the CLI: reference profiles in, ground
 * truth in, reports out. It resolves a deployment to the version it serves through the registry,
 * so every caller sees the same monitored view of its columns.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BerthError, systemClock, type Clock, type Signature } from '../core/index.js';
import { readCsvFile, readParquetFile, type Table } from '../data/index.js';
import type { ReferenceDataRecord, ReferenceProfileRecord, Registry, VersionRecord } from '../registry/index.js';
import type { DriftOptions } from './drift.js';
import { parseFeedback, RegistryFeedbackStore, type FeedbackStore } from './feedback.js';
import { readInferenceLog, type LogReadInfo, type LogWindow } from './inference-log/reader.js';
import { LOG_ERROR_FIELD, LOG_LATENCY, LOG_REQUEST_ID, LOG_ROW, LOG_STATUS, LOG_TS, LOG_VERSION, LOG_WEIGHT } from './inference-log/segment.js';
import type { Calibration } from './performance.js';
import { parseProfile, serializeProfile, type DatasetProfile } from './profile/index.js';
import type { QualityOptions } from './quality.js';
import { buildReferenceProfile, type PredictFn } from './reference.js';
import { buildReport, numericColumn, type MonitorReport, type ReportExplanations, type ReportInput } from './report.js';
import { PREDICTION_COLUMN, SCORE_COLUMN, monitoringSchema, probaColumn, type MonitoringSchema } from './schema.js';
import { buildTimeline, loggedRequests, referenceView, type LoggedRequest, type MonitorTimeline, type ReferenceView } from './views.js';
import { parseWindow, type ResolvedWindow } from './window.js';

export const REFERENCE_FORMAT = 'berth-reference/1';

/** What is stored for a version's reference: its profile, calibration and metrics. */
export interface StoredReference {
  format: typeof REFERENCE_FORMAT;
  profile: DatasetProfile;
  calibration: Calibration | null;
  metrics: Record<string, number>;
}

/** A way to run a version's model over reference rows (the server and the CLI pass onnxruntime's). */
export type PredictorFactory = (version: VersionRecord) => Promise<{ predict: PredictFn; dispose: () => Promise<void> }>;

export interface MonitorServiceOptions {
  dataDir: string;
  /**
   * the directory whose `inference-log/` reports read (default `dataDir`): with several replicas,
   * a LogMirror's `mirrorDir`
   */
  logDir?: string;
  /**
   * brings the log files of a window into `logDir` before a report reads it (with several
   * replicas: `(d, from, to) => mirror.sync(d, from, to)`); runs after `flush`
   */
  syncLog?: (deployment: string, from: number | undefined, to: number | undefined) => Promise<unknown>;
  registry: Registry;
  /** where ground-truth labels live (default: the registry's database) */
  feedback?: FeedbackStore;
  /** how to write every buffered row before a report reads the files (this process's log, or every process's) */
  flush?: () => Promise<void>;
  /** runs the model over the reference so its predictions are profiled too */
  predictor?: PredictorFactory;
  /**
   * Global importance for a version's report (explanations live in a layer above: the server
   * injects them). Failing or absent, the report goes without the section.
   */
  explanations?: (v: VersionRecord) => Promise<ReportExplanations | null>;
  /** about the most rows one report reads (beyond, a weighted sample of the files; the report says so): bounds memory */
  maxReportRows?: number;
  clock?: Clock;
}

export interface FeedbackResult {
  deployment: string;
  /** labels stored (one per row) */
  accepted: number;
  /** of those, how many replaced an earlier label for the same row */
  replaced: number;
}

export interface ProfileResult {
  model: string;
  version: number;
  reference: ReferenceDataRecord;
  columns: string[];
  predictions: boolean;
  metrics: Record<string, number>;
}

export interface ReportRequest {
  /** `15m`, `2h`, `1000rows`, `FROM..TO`, `all` (default `24h`) */
  window?: string;
  /** compare with this earlier window instead of the reference profile */
  against?: string;
  /** only rows answered by this version */
  version?: number;
  preset?: DriftOptions['preset'];
  drift?: Partial<DriftOptions>;
  quality?: Partial<QualityOptions>;
}

export class MonitorService {
  private readonly clock: Clock;
  private readonly references = new Map<string, StoredReference>();
  private readonly feedback: FeedbackStore;

  constructor(private readonly opts: MonitorServiceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.feedback = opts.feedback ?? new RegistryFeedbackStore(opts.registry);
  }

  get dataDir(): string {
    return this.opts.dataDir;
  }

  /** The monitored view of the version a deployment serves now. */
  async schemaOf(deployment: string): Promise<MonitoringSchema> {
    const { version } = await this.opts.registry.resolveDeployment(deployment);
    return monitoringSchema(version.signature, version.card ?? undefined);
  }

  /** Check and store ground truth for a deployment's predictions (all or nothing). */
  async recordFeedback(deployment: string, body: unknown): Promise<FeedbackResult> {
    const schema = await this.schemaOf(deployment);
    const items = parseFeedback(body, schema);
    const { stored, replaced } = await this.feedback.put(deployment, items, this.clock.now());
    return { deployment, accepted: stored, replaced };
  }

  /** Write whatever this process has buffered, so a report sees every answered request. */
  async flushLog(): Promise<void> {
    await this.opts.flush?.();
  }

  /**
   * Compute a version's reference profile from a CSV or Parquet file (features, label, and the
   * model's predictions on it), store file and profile as artifacts and attach them to the version.
   */
  async profileVersion(
    model: string,
    version: number,
    file: string,
    opts: { actor?: string; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<ProfileResult> {
    const v = await this.opts.registry.getVersion(model, version);
    const schema = monitoringSchema(v.signature, v.card ?? undefined);
    const table = await readReferenceFile(file);
    const predictor = this.opts.predictor && schema.prediction.kind !== 'none' ? await this.opts.predictor(v) : null;
    let built;
    try {
      built = await buildReferenceProfile(table, schema, v.signature as Signature, {
        ...(predictor ? { predict: predictor.predict } : {}),
        source: path.basename(file),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
    } finally {
      await predictor?.dispose();
    }
    const stored: StoredReference = { format: REFERENCE_FORMAT, profile: built.profile, calibration: built.calibration, metrics: built.metrics };
    const text = storedReferenceText(stored);
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-profile-'));
    try {
      const profilePath = path.join(dir, 'profile.json');
      await writeFile(profilePath, text);
      const profileArtifact = await this.opts.registry.artifacts.put(profilePath);
      const dataArtifact = await this.opts.registry.artifacts.put(path.resolve(file));
      const profile: ReferenceProfileRecord = {
        sha256: profileArtifact.sha256,
        sizeBytes: profileArtifact.sizeBytes,
        rows: table.rows,
        columns: built.columns,
        predictions: built.predictions,
        createdAt: new Date(this.clock.now()).toISOString(),
      };
      const reference: ReferenceDataRecord = { sha256: dataArtifact.sha256, sizeBytes: dataArtifact.sizeBytes, fileName: path.basename(file), rows: table.rows, profile };
      await this.opts.registry.setReference(model, version, reference, opts.actor);
      this.references.set(profile.sha256, stored);
      return { model, version, reference, columns: built.columns, predictions: built.predictions, metrics: built.metrics };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** A version's stored reference (profile, calibration, metrics), or null when it has none. */
  async referenceOf(v: VersionRecord): Promise<StoredReference | null> {
    const sha = v.reference?.profile?.sha256;
    if (sha === undefined) return null;
    const cached = this.references.get(sha);
    if (cached) return cached;
    const bytes = await this.opts.registry.artifacts.read(sha);
    const stored = parseStoredReference(Buffer.from(bytes).toString('utf8'));
    this.references.set(sha, stored);
    return stored;
  }

  /** A monitoring report of a deployment's traffic over a window. */
  async report(deployment: string, req: ReportRequest = {}): Promise<MonitorReport> {
    const w = await this.readWindow(deployment, req, parseWindow(req.window ?? '24h', this.clock.now()), true);
    const report = buildReport({ ...w.base, current: w.current, feedback: w.feedback, window: { from: w.win.from, to: w.win.to, description: w.description } });
    if (this.opts.explanations === undefined) return report;
    const explanations = await this.opts.explanations(w.version).catch(() => null);
    return { ...report, explanations };
  }

  /**
   * A window of a deployment's traffic cut into `points` time buckets, each with its drift per
   * column, quality and errors against the same reference as the report (the dashboard's heatmap).
   */
  async timeline(deployment: string, req: ReportRequest & { points?: number } = {}): Promise<MonitorTimeline> {
    const now = this.clock.now();
    const win = parseWindow(req.window ?? '24h', now);
    if (win.lastRows !== null || win.lastRequests !== null) {
      throw new BerthError('INVALID_ARGUMENT', `window: a timeline needs a time window (24h, FROM..TO or all), got ${JSON.stringify(req.window)}`, {
        field: 'window', expected: 'a duration, FROM..TO or all', got: req.window,
      });
    }
    const points = req.points ?? 24;
    const w = await this.readWindow(deployment, req, win, false);
    const ts = w.current ? numericColumn(w.current, LOG_TS) : null;
    const first = ts && ts.length > 0 ? ts[0]! : now - 3_600_000;
    const to = win.to ?? now;
    const from = Math.min(win.from ?? first, to - points);
    return buildTimeline({ base: w.base, current: w.current, from, to, description: w.description, points });
  }

  /** The newest `limit` requests a deployment logged, newest first, with their features and predictions. */
  async requests(deployment: string, limit: number): Promise<{ deployment: string; requests: LoggedRequest[] }> {
    const resolved = await this.opts.registry.resolveDeployment(deployment);
    const schema = monitoringSchema(resolved.version.signature, resolved.version.card ?? undefined);
    await this.flushLog();
    await this.opts.syncLog?.(deployment, undefined, undefined);
    const t = await readInferenceLog(this.opts.logDir ?? this.opts.dataDir, deployment, { lastRequests: limit }, { columns: reportColumns(schema) });
    return { deployment, requests: loggedRequests(t, schema) };
  }

  /** A version's reference profile as histograms per column; NOT_FOUND when it has none. */
  async referenceView(model: string, version: number): Promise<ReferenceView> {
    const v = await this.opts.registry.getVersion(model, version);
    const stored = await this.referenceOf(v);
    if (!stored) {
      throw new BerthError('NOT_FOUND', `${model}@${v.version} has no reference data: attach it with \`berth models profile ${model} ${v.version} --reference FILE\``, {
        field: 'version', expected: 'a version with reference data', got: v.version,
      });
    }
    return referenceView(v.model, v.version, stored.profile, monitoringSchema(v.signature, v.card ?? undefined));
  }

  /** Read a window's rows and its reference: what a report or a timeline is built from. */
  private async readWindow(deployment: string, req: ReportRequest, win: ResolvedWindow, withFeedback: boolean) {
    const now = this.clock.now();
    const resolved = await this.opts.registry.resolveDeployment(deployment);
    const v = req.version === undefined ? resolved.version : await this.opts.registry.getVersion(resolved.deployment.model, req.version);
    const schema = monitoringSchema(v.signature, v.card ?? undefined);
    await this.flushLog();
    const window = logWindow(win, req.version);
    const info: LogReadInfo = { truncated: false, files: 0, filesInWindow: 0, weightFactor: 1 };
    // labels can only have arrived after the window began; without any, request ids are not needed
    const feedback = withFeedback ? await this.feedback.labelsSince(deployment, win.from ?? 0) : [];
    const columns = reportColumns(schema).filter((c) => c !== LOG_REQUEST_ID || feedback.length > 0);
    const maxRows = this.opts.maxReportRows ?? DEFAULT_MAX_REPORT_ROWS;
    const logDir = this.opts.logDir ?? this.opts.dataDir;
    await this.opts.syncLog?.(deployment, window.from, window.to);
    const current = await readInferenceLog(logDir, deployment, window, { columns, maxRows, info });
    let reference: ReportInput['reference'] = null;
    let referenceMetrics: Record<string, number> = { ...(v.card?.metrics ?? {}) };
    if (req.against !== undefined) {
      const w2 = parseWindow(req.against, now, 'against');
      const against = logWindow(w2, req.version);
      await this.opts.syncLog?.(deployment, against.from, against.to);
      const table = await readInferenceLog(
        logDir,
        deployment,
        against,
        { columns: reportColumns(schema).filter((c) => c !== LOG_REQUEST_ID), maxRows },
      );
      if (table === null) {
        throw new BerthError('INVALID_ARGUMENT', `against: the window ${JSON.stringify(req.against)} holds no traffic of deployment "${deployment}" to compare with`, {
          field: 'against', got: req.against,
        });
      }
      reference = { kind: 'window', table, description: w2.description };
    } else {
      const stored = await this.referenceOf(v);
      if (stored) {
        reference = { kind: 'profile', version: v.version, profile: stored.profile, calibration: stored.calibration };
        referenceMetrics = { ...referenceMetrics, ...prefixed(stored.metrics) };
      }
    }
    const description = info.truncated
      ? `${win.description}, sampled: ${info.files} of ${info.filesInWindow} log files (each row weighs ${info.weightFactor.toFixed(2)}×)`
      : win.description;
    const base: Omit<ReportInput, 'current' | 'window' | 'feedback'> = {
      deployment,
      model: v.model,
      schema,
      reference,
      referenceMetrics,
      drift: { ...(req.drift ?? {}), ...(req.preset ? { preset: req.preset } : {}) },
      ...(req.quality ? { quality: req.quality } : {}),
      now,
    };
    return { version: v, base, current, feedback, win, description };
  }
}

/** The log reader's window for a parsed window (and optionally one version). */
function logWindow(w: ResolvedWindow, version: number | undefined): LogWindow {
  const out: LogWindow = {};
  if (w.from !== null) out.from = w.from;
  if (w.to !== null) out.to = w.to;
  if (w.lastRows !== null) out.lastRows = w.lastRows;
  if (w.lastRequests !== null) out.lastRequests = w.lastRequests;
  if (version !== undefined) out.version = version;
  return out;
}

/** A report reads about this many rows at most (a uniform sample of the window's files beyond it). */
export const DEFAULT_MAX_REPORT_ROWS = 2_000_000;

/** The log columns a report uses: never the raw input bytes. */
function reportColumns(schema: MonitoringSchema): string[] {
  return [
    LOG_TS, LOG_REQUEST_ID, LOG_ROW, LOG_VERSION, LOG_LATENCY, LOG_WEIGHT, LOG_STATUS, LOG_ERROR_FIELD,
    ...schema.features.map((f) => f.name),
    PREDICTION_COLUMN, SCORE_COLUMN, ...schema.prediction.classes.map(probaColumn),
  ];
}

function prefixed(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, x]) => [`reference_${k}`, x]));
}

/** Read a reference data file: `.parquet` by its format, anything else as CSV. */
export async function readReferenceFile(file: string): Promise<Table> {
  const t = file.toLowerCase().endsWith('.parquet') ? await readParquetFile(file) : await readCsvFile(file);
  if (t.rows === 0) {
    throw new BerthError('INVALID_ARGUMENT', `reference data ${file} has no rows; pass the training data (CSV with a header, or Parquet)`, { field: 'reference', got: file });
  }
  return t;
}

export function storedReferenceText(r: StoredReference): string {
  return `{"format":${JSON.stringify(r.format)},"calibration":${JSON.stringify(r.calibration)},"metrics":${JSON.stringify(r.metrics)},"profile":${serializeProfile(r.profile)}}`;
}

export function parseStoredReference(text: string): StoredReference {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new BerthError('ARTIFACT_CORRUPTED', 'a stored reference profile is not JSON');
  }
  const d = doc as Record<string, unknown>;
  if (d === null || typeof d !== 'object' || d['format'] !== REFERENCE_FORMAT) {
    throw new BerthError('ARTIFACT_CORRUPTED', `a stored reference profile has format ${JSON.stringify(d?.['format'])}, expected ${REFERENCE_FORMAT}`);
  }
  return {
    format: REFERENCE_FORMAT,
    profile: parseProfile(JSON.stringify(d['profile'])),
    calibration: (d['calibration'] as Calibration | null) ?? null,
    metrics: (d['metrics'] as Record<string, number> | undefined) ?? {},
  };
}
