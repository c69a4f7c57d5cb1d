/**
 * The inference log: every deployment's answered requests (inputs, predictions, version, latency,
 * request id), sampled, buffered in memory column by column and written as Parquet files
 * partitioned by deployment and hour:
 *
 *   <dataDir>/inference-log/deployment=<name>/hour=<YYYY-MM-DDTHH>/part-<tag>-<first ts>-<seq>.parquet
 *
 * (`<tag>` is the process id unless `fileTag` says otherwise; replicas that ship their files to one
 * store give each machine its own, see shipping.ts). Each file is written whole under a hidden
 * temp name and renamed into place, so anything named `*.parquet` is complete.
 *
 * Nothing here runs on the request's path: `onInference` only queues the record; copying it into
 * the buffers happens in a later turn of the event loop, after the answer has been written. A
 * clean `close()` writes everything buffered, so no answered request that was sampled is lost.
 * A crash loses at most what was buffered (`flushRows` / `flushIntervalMs`).
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, silentLogger, systemClock, toBerthError, type Clock, type InferenceLogConfig, type Logger } from '../../core/index.js';
import { createFileWriter, type FileWriter } from './file-writer.js';
import type { FailureRecord, InferenceRecord, ShadowRecord } from '../../serving/index.js';
import { monitoringSchema, type MonitoringSchema } from '../schema.js';
import { RateSampler } from './sampler.js';
import { LogSegment, logFilePrefix } from './segment.js';

/** Most records waiting to be copied into buffers; beyond it records are dropped (and counted). */
const MAX_PENDING = 100_000;

export interface InferenceLogOptions {
  dataDir: string;
  config: InferenceLogConfig;
  clock?: Clock;
  logger?: Logger;
  /**
   * What names this process in its file names (`part-<fileTag>-<first ts>-<seq>.parquet`); default
   * the process id. Replicas shipping to one store need names unique across machines: pass
   * something like `${hostname}.${pid}` (letters, digits, `.`, `_`, `-`; at most 64).
   */
  fileTag?: string;
}

const FILE_TAG_RE = /^[A-Za-z0-9._-]{1,64}$/;

export interface InferenceLogStats {
  /** rows offered by the data plane, kept by sampling, written to files, dropped (queue full or write failed) */
  offeredRows: number;
  sampledRows: number;
  writtenRows: number;
  droppedRows: number;
  files: number;
  bufferedRows: number;
}

export function inferenceLogDir(dataDir: string): string {
  return path.join(dataDir, 'inference-log');
}

/** `2026-11-24T10` for a timestamp: the hour partition's value (UTC). */
export function hourPartition(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13);
}

/** The hour partition before which a retention of `hours` hours deletes everything. */
export function retentionCutoff(hours: number, now: number): string {
  return hourPartition(now - hours * 3_600_000);
}

/**
 * Delete the hour partitions of every deployment under `<dataDir>/inference-log` whose hour is
 * before `cutoff` (an hour partition value). Returns how many were removed.
 */
export async function removeHoursBefore(dataDir: string, cutoff: string): Promise<number> {
  let removed = 0;
  const root = inferenceLogDir(dataDir);
  for (const d of await readdir(root).catch(() => [] as string[])) {
    if (!d.startsWith('deployment=')) continue;
    for (const h of await readdir(path.join(root, d)).catch(() => [] as string[])) {
      if (h.startsWith('hour=') && h.slice(5) < cutoff) {
        await rm(path.join(root, d, h), { recursive: true, force: true });
        removed++;
      }
    }
  }
  return removed;
}

export function deploymentDir(dataDir: string, deployment: string): string {
  return path.join(inferenceLogDir(dataDir), `deployment=${encodeURIComponent(deployment)}`);
}

export class InferenceLog {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private pending: (InferenceRecord | FailureRecord)[] = [];
  private scheduled = false;
  private readonly segments = new Map<string, LogSegment>();
  private readonly samplers = new Map<string, RateSampler>();
  private readonly schemas = new Map<string, MonitoringSchema>();
  private writing: Promise<void> = Promise.resolve();
  private readonly files: FileWriter = createFileWriter();
  private timer: NodeJS.Timeout | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private seq = 0;
  /** the hour partition of the last record and where that hour ends (formatting a Date per record costs) */
  private hour = '';
  private hourStart = 0;
  private hourEnd = 0;
  private closed = false;
  private readonly fileTag: string;
  readonly stats: InferenceLogStats = { offeredRows: 0, sampledRows: 0, writtenRows: 0, droppedRows: 0, files: 0, bufferedRows: 0 };

  constructor(private readonly opts: InferenceLogOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.fileTag = opts.fileTag ?? String(process.pid);
    if (!FILE_TAG_RE.test(this.fileTag)) {
      throw new BerthError('INVALID_CONFIG', `inference log: fileTag ${JSON.stringify(this.fileTag)} must be 1-64 letters, digits, ".", "_" or "-" (it goes into file names)`, {
        field: 'fileTag', expected: FILE_TAG_RE.source, got: this.fileTag,
      });
    }
    const tick = Math.min(1000, opts.config.flushIntervalMs);
    this.timer = setInterval(() => this.flushAged(), tick);
    this.timer.unref();
    if (opts.config.retentionHours > 0) {
      this.retentionTimer = setInterval(() => void this.applyRetention(), 3_600_000);
      this.retentionTimer.unref();
    }
  }

  get enabled(): boolean {
    return this.opts.config.enabled;
  }

  /** The serving observer hook: queue the record; the copy happens after the answer is sent. */
  onInference(record: InferenceRecord): void {
    this.enqueue(record, record.rows);
  }

  /** The serving observer hook for shadow copies: their answers are logged in `shadow-` files. */
  onShadow(record: ShadowRecord): void {
    if (record.shadow) this.enqueue(record.shadow, record.shadow.rows);
  }

  /** The serving observer hook for refused and failed requests (data quality counts them). */
  onFailure(record: FailureRecord): void {
    this.enqueue(record, 1);
  }

  private enqueue(record: InferenceRecord | FailureRecord, rows: number): void {
    if (!this.opts.config.enabled || this.closed) return;
    this.stats.offeredRows += rows;
    if (this.pending.length >= MAX_PENDING) {
      this.stats.droppedRows += rows;
      return;
    }
    this.pending.push(record);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** The schema a version is logged with (cached). */
  schemaFor(record: Pick<InferenceRecord, 'model' | 'version' | 'managed'>): MonitoringSchema {
    const key = `${record.model}\u0000${record.version}`;
    let s = this.schemas.get(key);
    if (!s) {
      s = monitoringSchema(record.managed.signature, record.managed.card);
      this.schemas.set(key, s);
    }
    return s;
  }

  private drain(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const cfg = this.opts.config;
    for (const rec of batch) {
      const rows = 'rows' in rec ? rec.rows : 1;
      try {
        // each role samples on its own budget: shadow copies never crowd out what callers saw
        const skey = rec.role === 'primary' ? rec.deployment : `${rec.deployment}\u0000${rec.role}`;
        let sampler = this.samplers.get(skey);
        if (!sampler) {
          sampler = new RateSampler(cfg.sampleRate, cfg.maxRowsPerSecond, this.samplers.size + 1);
          this.samplers.set(skey, sampler);
        }
        const p = sampler.probability(rows, rec.timestampMs);
        if (p <= 0) continue;
        const key = `${rec.deployment}\u0000${rec.model}\u0000${rec.version}\u0000${rec.role}`;
        let seg = this.segments.get(key);
        if (!seg) {
          seg = new LogSegment(rec.deployment, rec.model, rec.version, this.schemaFor(rec), rec.managed.signature.inputs.map((s) => s.name), rec.role);
          this.segments.set(key, seg);
        }
        const ts = rec.timestampMs;
        if (ts < this.hourStart || ts >= this.hourEnd) {
          this.hourStart = ts - (ts % 3_600_000);
          this.hourEnd = this.hourStart + 3_600_000;
          this.hour = hourPartition(ts);
        }
        const hour = this.hour;
        if (seg.rows > 0 && seg.hour !== hour) this.flushSegment(seg);
        seg.hour = hour;
        if ('rows' in rec) seg.append(rec.requestId, rec.inputs, rec.outputs, rows, rec.latencyMs, rec.timestampMs, 1 / p);
        else seg.appendFailure(rec.requestId, rec.code, rec.field, rec.latencyMs, rec.timestampMs, 1 / p);
        this.stats.sampledRows += rows;
        this.stats.bufferedRows += rows;
        if (seg.rows >= cfg.flushRows) this.flushSegment(seg);
      } catch (err) {
        this.stats.droppedRows += rows;
        this.logger.error('inference log: could not record a request', { deployment: rec.deployment, error: toBerthError(err).message });
      }
    }
  }

  private flushAged(): void {
    const now = this.clock.now();
    for (const seg of this.segments.values()) {
      if (seg.rows > 0 && now - seg.firstAt >= this.opts.config.flushIntervalMs) this.flushSegment(seg);
    }
  }

  /** Hand a segment's rows to the (serialised) file writer. */
  private flushSegment(seg: LogSegment): void {
    const rows = seg.rows;
    if (rows === 0) return;
    const firstAt = seg.firstAt;
    const table = seg.take();
    this.stats.bufferedRows -= rows;
    table.metadata = {
      'berth.format': 'berth-inference-log/1',
      'berth.deployment': seg.deployment,
      'berth.model': seg.modelName,
      'berth.version': String(seg.modelVersion),
      'berth.role': seg.role,
      'berth.schema': JSON.stringify(seg.schema),
    };
    const dir = path.join(deploymentDir(this.opts.dataDir, seg.deployment), `hour=${seg.hour}`);
    const file = path.join(dir, `${logFilePrefix(seg.role)}${this.fileTag}-${firstAt}-${++this.seq}.parquet`);
    this.writing = this.writing.then(async () => {
      try {
        await mkdir(dir, { recursive: true });
        await this.files.write(file, table);
        this.stats.writtenRows += rows;
        this.stats.files++;
      } catch (err) {
        this.stats.droppedRows += rows;
        this.logger.error('inference log: writing a file failed; its rows are lost', { file, rows, error: toBerthError(err).message });
      }
    });
  }

  /** Copy everything queued, write every buffer and wait for the files (reports call this first). */
  async flush(): Promise<void> {
    if (this.pending.length > 0) this.drain();
    for (const seg of this.segments.values()) this.flushSegment(seg);
    await this.writing;
  }

  /** Delete hour partitions older than the retention. Returns how many were removed. */
  async applyRetention(): Promise<number> {
    const hours = this.opts.config.retentionHours;
    if (hours <= 0) return 0;
    return removeHoursBefore(this.opts.dataDir, retentionCutoff(hours, this.clock.now()));
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    await this.flush();
    this.closed = true;
    await this.files.close();
  }
}
