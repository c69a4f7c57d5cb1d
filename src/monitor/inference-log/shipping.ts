/**
 * The inference log across replicas. Each replica writes its log into its own data dir; a
 * `LogShipper` moves every finished file to the shared store under the same relative key
 * (`inference-log/deployment=<name>/hour=<YYYY-MM-DDTHH>/<file>`) and deletes it locally; the
 * process that makes reports runs a `LogMirror`, which copies the files of the window a report
 * reads back down into a directory of the same layout, so `readInferenceLog(mirrorDir, …)` sees
 * every replica's rows.
 *
 * File names are unique per writer (`InferenceLogOptions.fileTag`) and files never change once
 * named `.parquet`, so "the key exists locally" is all the mirror needs to know.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { isBerthError, silentLogger, toBerthError, type Logger } from '../../core/index.js';
import type { SharedFiles } from '../../registry/index.js';
import { hourPartition, inferenceLogDir, removeHoursBefore, retentionCutoff } from './inference-log.js';
import { hourInRange } from './reader.js';

/** Top folder of the log, locally and in the shared store. */
const LOG_ROOT = 'inference-log';
/** Transfers in flight at once, per pass or sync. */
const TRANSFER_CONCURRENCY = 4;
const HOUR_MS = 3_600_000;
/**
 * A window of at most this many hours is listed hour by hour (a listing per partition, so a 24 h
 * report does not page through a week of keys); longer or open windows list the deployment whole.
 */
const MAX_LISTED_HOURS = 48;

/** A log file's key in the shared store, split into its parts. */
interface LogKey {
  key: string;
  deploymentDir: string;
  hour: string;
  file: string;
}

/** `inference-log/deployment=…/hour=…/<name>.parquet`, else null (a temp file, something else). */
function parseLogKey(key: string): LogKey | null {
  const parts = key.split('/');
  if (parts.length !== 4 || parts[0] !== LOG_ROOT) return null;
  const [, deploymentDir, hourDir, file] = parts as [string, string, string, string];
  if (!deploymentDir.startsWith('deployment=') || !hourDir.startsWith('hour=') || !isLogFileName(file)) return null;
  return { key, deploymentDir, hour: hourDir.slice(5), file };
}

/** A finished log file: temp files are hidden (`.<name>.<pid>.<hex>.tmp`). */
function isLogFileName(name: string): boolean {
  return name.endsWith('.parquet') && !name.startsWith('.');
}

/** The key prefix of one deployment's files. */
function deploymentPrefix(deployment: string): string {
  return `${LOG_ROOT}/deployment=${encodeURIComponent(deployment)}/`;
}

/** Run `fn` over `items`, at most `limit` at once; every item runs, failures are collected. */
async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return errors;
}

export interface LogShipperOptions {
  /** the replica's data dir: its `inference-log/` is shipped */
  dataDir: string;
  files: SharedFiles;
  logger?: Logger;
  /** time between passes of `start()` */
  intervalMs: number;
}

/** What one pass did: files uploaded (and deleted here), files whose upload failed (kept for the next pass). */
export interface ShipResult {
  shipped: number;
  failed: number;
}

/**
 * Ships a replica's finished inference log files to the shared store and deletes them locally.
 * A file whose upload fails stays where it is and is tried again at the next pass, so nothing is
 * lost while the store is unreachable (the disk holds it meanwhile). Passes never overlap.
 *
 * Close the InferenceLog first (it writes what it buffered), then the shipper (its last pass
 * ships those files).
 *
 * @example
 * const shipper = new LogShipper({ dataDir, files, logger, intervalMs: 30_000 });
 * shipper.start();
 * // … on shutdown:
 * await inferenceLog.close();
 * await shipper.close();
 */
export class LogShipper {
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | null = null;
  /** the pass running now (or settled), and the one queued after it */
  private tail: Promise<unknown> = Promise.resolve();
  private queued: Promise<ShipResult> | null = null;

  constructor(private readonly opts: LogShipperOptions) {
    this.logger = opts.logger ?? silentLogger;
  }

  /** Ship every finished file now. Called while a pass runs, it runs one more pass after it (shared by every such caller). */
  shipNow(): Promise<ShipResult> {
    if (this.queued) return this.queued;
    const p = this.tail.then(() => {
      this.queued = null;
      return this.pass();
    });
    this.queued = p;
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Ship every `intervalMs` (the timer does not keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.shipNow().catch((err: unknown) => this.logger.error('inference log shipping: a pass failed', { location: this.opts.files.location, error: toBerthError(err).message }));
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stop the timer and run a last pass. */
  async close(): Promise<ShipResult> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.shipNow();
  }

  private async pass(): Promise<ShipResult> {
    const files = await this.finishedFiles();
    let shipped = 0;
    const errors = await forEachLimited(files, TRANSFER_CONCURRENCY, async ({ key, local }) => {
      try {
        await this.opts.files.put(key, local);
      } catch (err) {
        // the log's own retention deleted it meanwhile: nothing to ship, nothing lost
        if (!(await exists(local))) return;
        throw err;
      }
      await unlink(local).catch((err: unknown) => {
        // shipped; the next pass uploads it again under the same key, which is harmless
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      });
      shipped++;
    });
    if (errors.length > 0) {
      this.logger.warn('inference log shipping: files stay here and are retried at the next pass', {
        location: this.opts.files.location,
        shipped,
        failed: errors.length,
        error: toBerthError(errors[0]).message,
      });
    } else if (shipped > 0) {
      this.logger.debug('inference log shipped', { location: this.opts.files.location, files: shipped });
    }
    return { shipped, failed: errors.length };
  }

  /** Every finished `.parquet` file of the local log with its key, oldest hour first. */
  private async finishedFiles(): Promise<{ key: string; local: string }[]> {
    const root = inferenceLogDir(this.opts.dataDir);
    const out: { key: string; local: string }[] = [];
    for (const d of (await readdirOrEmpty(root)).filter((n) => n.startsWith('deployment='))) {
      for (const h of (await readdirOrEmpty(path.join(root, d))).filter((n) => n.startsWith('hour=')).sort()) {
        for (const f of (await readdirOrEmpty(path.join(root, d, h))).filter(isLogFileName)) {
          out.push({ key: `${LOG_ROOT}/${d}/${h}/${f}`, local: path.join(root, d, h, f) });
        }
      }
    }
    return out;
  }
}

export interface LogMirrorOptions {
  /** where mirrored files go: `<mirrorDir>/inference-log/…`, read with `readInferenceLog(mirrorDir, …)` */
  mirrorDir: string;
  files: SharedFiles;
  logger?: Logger;
}

/**
 * Copies the shipped inference log files of a window down from the shared store, so reports read
 * every replica's rows from one directory. Files already here are not fetched again; concurrent
 * syncs of a deployment whose windows one running sync covers share it.
 *
 * @example
 * const mirror = new LogMirror({ mirrorDir: path.join(dataDir, 'log-mirror'), files });
 * await mirror.sync('fraud', Date.now() - 3_600_000, Date.now());
 * const table = await readInferenceLog(mirror.mirrorDir, 'fraud', { from: Date.now() - 3_600_000 });
 */
export class LogMirror {
  private readonly logger: Logger;
  private readonly running = new Map<string, { from: number | undefined; to: number | undefined; done: Promise<{ downloaded: number }> }>();

  constructor(private readonly opts: LogMirrorOptions) {
    this.logger = opts.logger ?? silentLogger;
  }

  get mirrorDir(): string {
    return this.opts.mirrorDir;
  }

  /**
   * Download the files of `deployment` whose hour overlaps [from, to) (all hours when open) that
   * are not here yet. Throws (after trying every file) when a download failed, so a report never
   * reads a window silently missing a replica's rows.
   */
  sync(deployment: string, from?: number, to?: number): Promise<{ downloaded: number }> {
    const run = this.running.get(deployment);
    if (run) {
      const covers = (run.from === undefined || (from !== undefined && from >= run.from)) && (run.to === undefined || (to !== undefined && to <= run.to));
      if (covers) return run.done;
      return run.done.catch(() => undefined).then(() => this.sync(deployment, from, to));
    }
    const done = this.download(deployment, from, to).finally(() => this.running.delete(deployment));
    this.running.set(deployment, { from, to, done });
    return done;
  }

  /** Delete mirrored hours older than `hours` before `now` (the shared store keeps them). Returns hour folders removed. */
  applyRetention(hours: number, now: number): Promise<number> {
    return removeHoursBefore(this.opts.mirrorDir, retentionCutoff(hours, now));
  }

  /**
   * Delete shared files of hours older than `hours` before `now`, every deployment's (the control
   * plane runs this; replicas keep nothing they shipped). Returns keys deleted.
   */
  async applyRemoteRetention(hours: number, now: number): Promise<number> {
    const cutoff = retentionCutoff(hours, now);
    const old = (await this.opts.files.list(`${LOG_ROOT}/`))
      .map(parseLogKey)
      .filter((k): k is LogKey => k !== null && k.hour < cutoff)
      .map((k) => k.key);
    if (old.length > 0) {
      await this.opts.files.delete(old);
      this.logger.info('inference log: deleted shared files past retention', { location: this.opts.files.location, files: old.length, before: cutoff });
    }
    return old.length;
  }

  /** The keys of a deployment's hours in [from, to): one listing per hour for a bounded window, else the whole prefix. */
  private async listWindow(deployment: string, from: number | undefined, to: number | undefined): Promise<string[]> {
    const prefix = deploymentPrefix(deployment);
    // hours that have not begun hold no files yet
    const end = to ?? Date.now() + HOUR_MS;
    if (from === undefined || end - from > MAX_LISTED_HOURS * HOUR_MS) return this.opts.files.list(prefix);
    const hours: string[] = [];
    for (let t = from - (from % HOUR_MS); t < end; t += HOUR_MS) hours.push(hourPartition(t));
    const lists = await Promise.all(hours.map((h) => this.opts.files.list(`${prefix}hour=${h}/`)));
    return lists.flat();
  }

  private async download(deployment: string, from: number | undefined, to: number | undefined): Promise<{ downloaded: number }> {
    const inRange = hourInRange(from, to);
    const wanted = (await this.listWindow(deployment, from, to)).map(parseLogKey).filter((k): k is LogKey => k !== null && inRange(k.hour));
    let downloaded = 0;
    const errors = await forEachLimited(wanted, TRANSFER_CONCURRENCY, async (k) => {
      const dest = path.join(this.opts.mirrorDir, LOG_ROOT, k.deploymentDir, `hour=${k.hour}`, k.file);
      if (await exists(dest)) return;
      try {
        await this.opts.files.get(k.key, dest);
        downloaded++;
      } catch (err) {
        // deleted by remote retention between list and get: it is outside any window we keep
        if (!isBerthError(err, 'NOT_FOUND')) throw err;
      }
    });
    if (errors.length > 0) {
      const first = toBerthError(errors[0]);
      this.logger.warn('inference log mirror: downloads failed', { deployment, location: this.opts.files.location, failed: errors.length, downloaded, error: first.message });
      throw first;
    }
    return { downloaded };
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
