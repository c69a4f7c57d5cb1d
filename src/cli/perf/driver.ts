/**
 * The load generator behind `berth perf`: for each protocol and concurrency level, N workers in a
 * closed loop (each sends its next request as soon as the last one is answered), a warm-up that is
 * not measured, then the measured window. The window starts and ends with no request in flight,
 * so the server's statistics read on either side of it count exactly the requests measured here.
 */
import { BerthApiError, BerthClientError, createClient, type BerthClient, type ModelMetadata } from 'berth/sdk';
import { BerthError, ERROR_CATALOG, type ErrorCode } from '../../core/index.js';
import { formatPerfDuration } from './duration.js';
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import { isBatchable, readInputData, synthesizeInputs, type RequestInput, type RequestInputs } from './inputs.js';
import { diffStatistics, totalStatistics, type ServerFigures, type StatisticsTotals } from './server-stats.js';

export const PERF_PROTOCOLS = ['rest', 'rest-binary', 'grpc'] as const;
/** `rest`: JSON tensors; `rest-binary`: the binary tensor extension; `grpc`: raw tensor contents. */
export type PerfProtocol = (typeof PERF_PROTOCOLS)[number];

/** Levels measured when --concurrency is not given. */
export const DEFAULT_CONCURRENCY: readonly number[] = [1, 4, 16, 64];

/** Above this share of one core, the client itself may be what limits throughput. */
export const CLIENT_CPU_WARNING_PERCENT = 90;

export interface PerfOptions {
  /** the REST address (`http://host:port`): metadata, statistics, and the REST data plane */
  server: string;
  /** the gRPC address (`grpc://host:port`); else built from `grpcPort` and the server's host */
  grpcUrl?: string;
  grpcPort?: number;
  token?: string;
  deployment: string;
  protocols: readonly PerfProtocol[];
  concurrency: readonly number[];
  durationMs: number;
  warmupMs: number;
  /** rows per request (synthesized inputs) */
  batch?: number;
  /** full input shapes, batch dimension first */
  shapes?: Readonly<Record<string, readonly number[]>>;
  /** a v2 request file sent as is instead of synthesized inputs */
  inputData?: string;
  /** each request's deadline (default 30 s) */
  timeoutMs?: number;
  /** a progress line (the CLI writes them to stderr) */
  onProgress?: (line: string) => void;
  /** how often a progress line is written during a measured window (default 2 s) */
  progressEveryMs?: number;
}

/** Errors of a window, by the server's or the client's code. */
export interface ErrorTally {
  total: number;
  byCode: Record<string, number>;
  /** the first message seen for each code */
  messages: Record<string, string>;
}

/** One protocol at one concurrency. */
export interface PerfLevel {
  protocol: PerfProtocol;
  /** where the requests went */
  url: string;
  concurrency: number;
  /** the measured window, from its first request sent to its last answer, in ms */
  durationMs: number;
  /** requests answered, successfully or not */
  requests: number;
  successes: number;
  /** rows of the successful requests */
  rows: number;
  /** successful requests per second */
  requestsPerSecond: number;
  rowsPerSecond: number;
  /** client-side latency of the successful requests: send to last byte of the answer */
  latencyMs: LatencySummary;
  errors: ErrorTally;
  /** the server's statistics over the window (null when they could not be read) */
  server: ServerFigures | null;
  /** this process's CPU time over the window, as a percentage of one core */
  clientCpuPercent: number;
}

/** Everything `berth perf` measured, as `--json` prints it. */
export interface PerfReport {
  deployment: string;
  server: string;
  grpcUrl: string | null;
  startedAt: string;
  options: {
    protocols: PerfProtocol[];
    concurrency: number[];
    durationMs: number;
    warmupMs: number;
    timeoutMs: number;
    batch: number;
    shapes: Record<string, number[]>;
    inputData: string | null;
  };
  model: {
    name: string;
    versions: string[];
    inputs: { name: string; datatype: string; shape: number[] }[];
    rowsPerRequest: number;
    source: RequestInputs['source'];
  };
  levels: PerfLevel[];
  warnings: string[];
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Measure `deployment`: every protocol × concurrency level in turn.
 *
 * @example
 * const report = await runPerf({ server: 'http://127.0.0.1:8080', deployment: 'fraud', protocols: ['rest-binary'], concurrency: [1, 8], durationMs: 10_000, warmupMs: 2_000 });
 * report.levels[1].requestsPerSecond
 */
export async function runPerf(opts: PerfOptions): Promise<PerfReport> {
  checkOptions(opts);
  const progress = opts.onProgress ?? ((): void => undefined);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const common = { timeoutMs, ...(opts.token !== undefined ? { token: opts.token } : {}) };
  const control = createClient({ url: opts.server, ...common });
  const clients: BerthClient[] = [];
  try {
    const grpcUrl = opts.protocols.includes('grpc') ? resolveGrpcUrl(opts.server, opts.grpcUrl, opts.grpcPort ?? (await publishedGrpcPort(control))) : null;
    const meta = await control.modelMetadata(opts.deployment).catch((err: unknown) => {
      throw serverRefusal(err, opts.deployment, opts.server);
    });
    const request = opts.inputData !== undefined ? await readInputData(opts.inputData, isBatchable(meta)) : synthesizeInputs(meta, { ...(opts.batch !== undefined ? { batch: opts.batch } : {}), ...(opts.shapes ? { shapes: opts.shapes } : {}) });
    const report = emptyReport(opts, meta, request, grpcUrl, timeoutMs);
    const maxBatch = meta.parameters?.['max_batch_size'];
    if (typeof maxBatch === 'number' && maxBatch > 0 && request.rows > maxBatch) {
      report.warnings.push(`each request holds ${request.rows} rows, more than deployment "${opts.deployment}"'s max_batch_size ${maxBatch}: every request runs alone in the runtime`);
    }
    let statsWarned = false;
    const readStats = async (): Promise<StatisticsTotals | null> => {
      try {
        return totalStatistics(await control.statistics(opts.deployment));
      } catch (err) {
        if (!statsWarned) {
          statsWarned = true;
          report.warnings.push(`the server's statistics could not be read (${err instanceof Error ? err.message : String(err)}): the server-side columns are empty`);
        }
        return null;
      }
    };

    for (const protocol of opts.protocols) {
      const url = protocol === 'grpc' ? grpcUrl! : opts.server;
      const client = createClient({ url, ...common, retry: false, binary: protocol === 'rest-binary', ...(protocol === 'grpc' ? { managementUrl: opts.server } : {}) });
      clients.push(client);
      const send = (): Promise<unknown> => client.infer(opts.deployment, request.inputs, { retry: false });
      // one request first: a refusal (wrong shape, no access) is reported now, not as N errors
      await send().catch((err: unknown) => {
        throw firstRequestRefusal(err, protocol, url, opts, request);
      });
      for (const concurrency of opts.concurrency) {
        const level = await measureLevel({ protocol, url, concurrency, send, rows: request.rows, opts, readStats, progress });
        report.levels.push(level);
      }
    }
    warnAbout(report.levels, opts.deployment, report.warnings);
    return report;
  } finally {
    await Promise.all([control, ...clients].map((c) => c.close().catch(() => undefined)));
  }
}

interface LevelPlan {
  protocol: PerfProtocol;
  url: string;
  concurrency: number;
  send: () => Promise<unknown>;
  rows: number;
  opts: PerfOptions;
  readStats: () => Promise<StatisticsTotals | null>;
  progress: (line: string) => void;
}

/** Warm up, then measure one protocol at one concurrency between two readings of the server's statistics. */
async function measureLevel({ protocol, url, concurrency, send, rows, opts, readStats, progress }: LevelPlan): Promise<PerfLevel> {
  const label = `${protocol} concurrency ${concurrency}`;
  if (opts.warmupMs > 0) {
    progress(`${label}: warming up for ${formatPerfDuration(opts.warmupMs)}…`);
    const warm = newTally();
    await drive(send, concurrency, opts.warmupMs, warm);
    if (warm.successes === 0) throw everyRequestFailed(warm.errors, label, opts.deployment);
  }
  const before = await readStats();
  const tally = newTally();
  const cpu0 = process.cpuUsage();
  const ticker = setInterval(() => {
    const s = (performance.now() - tally.startedAt) / 1000;
    progress(`${label}: ${s.toFixed(1)}s / ${formatPerfDuration(opts.durationMs)}, ${tally.successes} requests${tally.errors.total > 0 ? `, ${tally.errors.total} errors` : ''}`);
  }, opts.progressEveryMs ?? 2000);
  ticker.unref();
  let elapsed: number;
  try {
    elapsed = await drive(send, concurrency, opts.durationMs, tally);
  } finally {
    clearInterval(ticker);
  }
  const cpu = process.cpuUsage(cpu0);
  if (tally.successes === 0) throw everyRequestFailed(tally.errors, label, opts.deployment);
  const after = before === null ? null : await readStats();
  const level: PerfLevel = {
    protocol,
    url,
    concurrency,
    durationMs: elapsed,
    requests: tally.successes + tally.errors.total,
    successes: tally.successes,
    rows: tally.successes * rows,
    requestsPerSecond: (tally.successes * 1000) / elapsed,
    rowsPerSecond: (tally.successes * rows * 1000) / elapsed,
    latencyMs: tally.latency.summary(),
    errors: tally.errors,
    server: before !== null && after !== null ? diffStatistics(before, after) : null,
    clientCpuPercent: ((cpu.user + cpu.system) / 1000 / elapsed) * 100,
  };
  progress(
    `${label}: ${level.requestsPerSecond.toFixed(1)} req/s, p50 ${level.latencyMs.p50.toFixed(2)} ms, p99 ${level.latencyMs.p99.toFixed(2)} ms` +
      (level.errors.total > 0 ? `, ${level.errors.total} errors` : ''),
  );
  return level;
}

function checkOptions(opts: PerfOptions): void {
  const bad = (field: string, expected: string, got: unknown): BerthError =>
    new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${JSON.stringify(got)}`, { field, expected, got });
  if (opts.protocols.length === 0 || !opts.protocols.every((p) => (PERF_PROTOCOLS as readonly string[]).includes(p))) throw bad('--protocol', PERF_PROTOCOLS.join(', '), opts.protocols);
  if (opts.concurrency.length === 0 || !opts.concurrency.every((c) => Number.isInteger(c) && c >= 1)) throw bad('--concurrency', 'whole numbers ≥ 1', opts.concurrency);
  if (!(opts.durationMs > 0)) throw bad('--duration', 'a positive duration', opts.durationMs);
  if (!(opts.warmupMs >= 0)) throw bad('--warmup', 'a duration ≥ 0', opts.warmupMs);
  if (opts.inputData !== undefined && (opts.batch !== undefined || (opts.shapes && Object.keys(opts.shapes).length > 0))) {
    throw new BerthError('INVALID_ARGUMENT', '--input-data sends its request as is; drop --batch and --shape (the file says the shapes)', { field: '--input-data' });
  }
}

/** The gRPC port the server reports in `/v1/status` (undefined: it serves none, or would not say). */
async function publishedGrpcPort(control: BerthClient): Promise<number | undefined> {
  try {
    const status = await control.request<{ grpcPort?: number | null }>({ method: 'GET', path: ['v1', 'status'] });
    return typeof status.grpcPort === 'number' ? status.grpcPort : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The gRPC address to load: `--grpc-url` as given, else the REST server's host with `--grpc-port`
 * or the port the server reports in its status.
 */
export function resolveGrpcUrl(server: string, grpcUrl: string | undefined, grpcPort: number | undefined): string {
  if (grpcUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(grpcUrl) ? grpcUrl : `grpc://${grpcUrl}`);
    } catch {
      u = undefined;
    }
    if (u === undefined || (u.protocol !== 'grpc:' && u.protocol !== 'grpcs:') || u.port === '') {
      throw new BerthError('INVALID_ARGUMENT', `--grpc-url: expected grpc://HOST:PORT (or grpcs://), got ${JSON.stringify(grpcUrl)}`, { field: '--grpc-url', got: grpcUrl });
    }
    return `${u.protocol}//${u.host}`;
  }
  if (grpcPort !== undefined) {
    const u = new URL(server);
    return `${u.protocol === 'https:' ? 'grpcs' : 'grpc'}://${u.hostname.includes(':') && !u.hostname.startsWith('[') ? `[${u.hostname}]` : u.hostname}:${grpcPort}`;
  }
  throw new BerthError(
    'INVALID_ARGUMENT',
    `--protocol grpc: the server at ${server} serves no gRPC (its status reports no gRPC port); start it with \`berth serve --grpc-port PORT\`, or pass --grpc-url grpc://HOST:PORT`,
    { field: '--grpc-url' },
  );
}

interface Tally {
  startedAt: number;
  successes: number;
  latency: LatencyHistogram;
  errors: ErrorTally;
}

function newTally(): Tally {
  return { startedAt: performance.now(), successes: 0, latency: new LatencyHistogram(), errors: { total: 0, byCode: {}, messages: {} } };
}

/**
 * `concurrency` workers, each sending its next request when the last is answered, until `ms` have
 * passed (at least one request each); requests sent before then are waited for. Gives up early when a run of errors comes
 * with no success at all. Answers the elapsed time in ms.
 */
async function drive(send: () => Promise<unknown>, concurrency: number, ms: number, tally: Tally): Promise<number> {
  const start = performance.now();
  tally.startedAt = start;
  const end = start + ms;
  const giveUpAfter = Math.max(20, 2 * concurrency);
  let stop = false;
  const worker = async (): Promise<void> => {
    // at least one request each, however short the window
    do {
      const t0 = performance.now();
      try {
        await send();
        tally.latency.record(performance.now() - t0);
        tally.successes++;
      } catch (err) {
        countError(tally.errors, err);
        if (tally.successes === 0 && tally.errors.total >= giveUpAfter) stop = true;
      }
    } while (!stop && performance.now() < end);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - start;
}

function countError(errors: ErrorTally, err: unknown): void {
  const code = err instanceof BerthApiError || err instanceof BerthClientError ? err.code : err instanceof BerthError ? err.code : 'INTERNAL';
  errors.total++;
  errors.byCode[code] = (errors.byCode[code] ?? 0) + 1;
  errors.messages[code] ??= err instanceof Error ? err.message : String(err);
}

function everyRequestFailed(errors: ErrorTally, label: string, deployment: string): BerthError {
  const [code, n] = Object.entries(errors.byCode).sort((a, b) => b[1] - a[1])[0] ?? ['INTERNAL', 0];
  const others = Object.keys(errors.byCode).length > 1 ? ` (and ${errors.total - n} others: ${Object.keys(errors.byCode).filter((c) => c !== code).join(', ')})` : '';
  return new BerthError(
    catalogCode(code),
    `${label}: every request to deployment "${deployment}" failed, so there is nothing to measure; ${n}× ${code}: ${errors.messages[code] ?? ''}${others}`,
    { deployment },
  );
}

function catalogCode(code: string): ErrorCode {
  if (code in ERROR_CATALOG) return code as ErrorCode;
  if (code === 'UNREACHABLE') return 'SERVER_UNREACHABLE';
  return 'INTERNAL';
}

/** The metadata request failed: no such deployment, no server, no access. */
function serverRefusal(err: unknown, deployment: string, server: string): BerthError {
  if (err instanceof BerthClientError && err.code === 'UNREACHABLE') {
    return new BerthError('SERVER_UNREACHABLE', `no Berth server answers at ${server}; start one with \`berth serve\`, or point --server (or BERTH_SERVER) at it`, { cause: err });
  }
  if (err instanceof BerthApiError) {
    // the server's 404 already says how to list deployments
    const hint =
      err.status === 401 || err.status === 403
          ? '; pass a token that may read and predict on it with --token or BERTH_TOKEN'
          : '';
    return new BerthError(err.status === 404 ? 'DEPLOYMENT_NOT_FOUND' : catalogCode(err.code), `deployment "${deployment}" at ${server}: ${err.message}${hint}`, { deployment }, { cause: err });
  }
  return new BerthError('INTERNAL', `deployment "${deployment}" at ${server}: ${err instanceof Error ? err.message : String(err)}`, { deployment }, { cause: err });
}

/** The one request sent before measuring was refused. */
function firstRequestRefusal(err: unknown, protocol: PerfProtocol, url: string, opts: PerfOptions, request: RequestInputs): BerthError {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof BerthClientError && err.code === 'UNREACHABLE') {
    const hint = protocol === 'grpc' ? 'is the server started with --grpc-port, and is --grpc-url/--grpc-port right?' : 'is the server still running?';
    return new BerthError('SERVER_UNREACHABLE', `${protocol}: nothing answers at ${url}; ${hint}`, { cause: err });
  }
  const code = err instanceof BerthApiError || err instanceof BerthClientError ? err.code : 'INTERNAL';
  const what = request.source === 'file' ? `the request in ${opts.inputData}` : `the synthesized request (${describeInputs(request.inputs)})`;
  const hint =
    code === 'INVALID_INPUT' || code === 'INVALID_ARGUMENT'
      ? request.source === 'file'
        ? `; fix ${opts.inputData}`
        : '; give input shapes with --shape NAME=D1,D2 or send a real request with --input-data FILE.json'
      : code === 'UNAUTHENTICATED' || code === 'FORBIDDEN'
        ? `; pass a token that may predict on deployment "${opts.deployment}" with --token or BERTH_TOKEN`
        : '';
  return new BerthError(catalogCode(code), `${protocol}: deployment "${opts.deployment}" refused ${what}: ${message}${hint}`, { deployment: opts.deployment }, { cause: err });
}

function describeInputs(inputs: readonly RequestInput[]): string {
  return inputs.map((i) => `${i.name} ${i.datatype} [${i.shape.join(', ')}]`).join(', ');
}

function emptyReport(opts: PerfOptions, meta: ModelMetadata, request: RequestInputs, grpcUrl: string | null, timeoutMs: number): PerfReport {
  return {
    deployment: opts.deployment,
    server: opts.server,
    grpcUrl,
    startedAt: new Date().toISOString(),
    options: {
      protocols: [...opts.protocols],
      concurrency: [...opts.concurrency],
      durationMs: opts.durationMs,
      warmupMs: opts.warmupMs,
      timeoutMs,
      batch: request.rows,
      shapes: Object.fromEntries(Object.entries(opts.shapes ?? {}).map(([k, v]) => [k, [...v]])),
      inputData: opts.inputData ?? null,
    },
    model: {
      name: meta.name,
      versions: meta.versions,
      inputs: request.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: [...i.shape] })),
      rowsPerRequest: request.rows,
      source: request.source,
    },
    levels: [],
    warnings: [],
  };
}

/** Warnings about the figures: a client near a full core, statistics that count other traffic. */
function warnAbout(levels: readonly PerfLevel[], deployment: string, warnings: string[]): void {
  const busy = levels.filter((l) => l.clientCpuPercent > CLIENT_CPU_WARNING_PERCENT);
  if (busy.length > 0) {
    const where = busy.map((l) => `${l.protocol} concurrency ${l.concurrency} (${Math.round(l.clientCpuPercent)}%)`).join(', ');
    warnings.push(`the client used more than ${CLIENT_CPU_WARNING_PERCENT}% of a core during ${where}; the client may be the limit; run berth perf from another machine`);
  }
  for (const level of levels) checkServerCount(level, deployment, warnings);
}

function checkServerCount(level: PerfLevel, deployment: string, warnings: string[]): void {
  const at = `${level.protocol} concurrency ${level.concurrency}`;
  const s = level.server;
  if (s !== null && s.success !== level.successes) {
    warnings.push(
      `${at}: the server counted ${s.success} successful requests to "${deployment}", this client ${level.successes}: other traffic reached the deployment, or the server runs several processes (each keeps its own statistics)`,
    );
  }
}
