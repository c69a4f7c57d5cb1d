/*
 * The inference log across replicas, for real: two replicas log real answers of the breast-cancer
 * model (onnxruntime) into their own data dirs and ship the files to one s3rver bucket; a control
 * plane mirrors them down and reads, or reports over, the union of both.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock, silentLogger, type InferenceLogConfig, type Logger, type Tensor } from '../../src/core/index.js';
import { readCsvFile, type Column } from '../../src/data/index.js';
import {
  InferenceLog,
  LogMirror,
  LogShipper,
  MonitorService,
  monitoringSchema,
  readInferenceLog,
} from '../../src/monitor/index.js';
import { S3SharedFiles, mergeCardIntoSignature, openEmbeddedRegistry, parseCard, type Registry } from '../../src/registry/index.js';
import { OnnxBackend, type LoadedModel } from '../../src/runtime/index.js';
import type { InferenceRecord, ManagedVersion } from '../../src/serving/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from '../registry/s3rver-harness.js';

const HOUR = 3_600_000;
/** the start of the hour the traffic is in (and an old hour two days before) */
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % HOUR);
const OLD = T0 - 48 * HOUR;
const F = 30;
const CONFIG: InferenceLogConfig = { enabled: true, sampleRate: 1, maxRowsPerSecond: 0, flushRows: 50_000, flushIntervalMs: 10_000, retentionHours: 0, shipIntervalMs: 10_000 };

let s3: TestS3;
let bucket: string;
let bucketSeq = 0;
let dir: string;
let managed: ManagedVersion;
let model: LoadedModel;
let labelOutput: string;
let reference: Float32Array[];
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  s3 = await startS3rver();
  const backend = new OnnxBackend();
  const bytes = await readFile(fixturePath('breast-cancer-gbt'));
  const cardFile = fixturePath('breast-cancer-gbt', 'card.json');
  const card = parseCard(await readFile(cardFile, 'utf8'), cardFile);
  const signature = mergeCardIntoSignature(await backend.inspect(bytes), card);
  managed = { model: 'bc', version: 1, sha256: 'f'.repeat(64), sizeBytes: bytes.length, signature, card };
  model = await backend.load(bytes, { intraOpThreads: 1, interOpThreads: 1 });
  const p = monitoringSchema(signature, card).prediction;
  if (p.kind !== 'classification' || p.labelOutput === undefined) throw new Error('the fixture should be a classifier with a label output');
  labelOutput = p.labelOutput;
  const table = await readCsvFile(fixturePath('breast-cancer-gbt', 'reference.csv'));
  const schema = monitoringSchema(signature, card);
  const cols = schema.features.map((f) => (table.columns.find((c) => c.name === f.name) as { values: Float64Array }).values);
  reference = Array.from({ length: 60 }, (_, r) => Float32Array.from(cols, (c) => c[r]!));
}, 60_000);

afterAll(async () => {
  await s3.stop();
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-log-shipping-'));
  bucket = `berth-logs-${++bucketSeq}`;
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await rm(dir, { recursive: true, force: true });
});

/** One request of `rows` reference rows through the real model, as the data plane reports it. */
async function answer(id: string, first: number, rows: number, at: number): Promise<{ record: InferenceRecord; sent: Float32Array[]; labels: string[] }> {
  const sent = Array.from({ length: rows }, (_, i) => reference[(first + i) % reference.length]!);
  const data = new Float32Array(rows * F);
  sent.forEach((r, i) => data.set(r, i * F));
  const inputs: Tensor[] = [{ name: 'input', datatype: 'FP32', shape: [rows, F], data }];
  const outputs = await model.run(inputs);
  const label = outputs.find((o) => o.name === labelOutput)!;
  const labels = Array.from({ length: rows }, (_, i) => String((label.data as ArrayLike<number | bigint>)[i]));
  const record: InferenceRecord = { deployment: 'bc', model: 'bc', version: 1, managed, requestId: id, inputs, outputs, rows, latencyMs: 1, timestampMs: at, role: 'primary' };
  return { record, sent, labels };
}

interface Sent {
  ids: string[];
  rows: Float32Array[];
  labels: string[];
}

/** A replica: its own data dir and log (file tag = its name), `requests` requests of 1..3 rows in the hour of `at`. */
async function replica(name: string, requests: number, at: number): Promise<{ dataDir: string; log: InferenceLog; sent: Sent }> {
  const sent: Sent = { ids: [], rows: [], labels: [] };
  const dataDir = path.join(dir, name);
  const log = new InferenceLog({ dataDir, config: CONFIG, clock: new ManualClock(at), fileTag: name });
  closers.push(() => log.close());
  for (let i = 0; i < requests; i++) {
    const id = `${name}-${at}-${i}`;
    const a = await answer(id, i, 1 + (i % 3), at + i * 1000);
    log.onInference(a.record);
    sent.ids.push(id);
    sent.rows.push(...a.sent);
    sent.labels.push(...a.labels);
  }
  await log.flush();
  return { dataDir, log, sent };
}

function sharedFiles(b = bucket): S3SharedFiles {
  const files = new S3SharedFiles({ bucket: b, prefix: 'berth', endpoint: s3.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS, maxAttempts: 1 });
  closers.push(() => files.close());
  return files;
}

/** Every `.parquet` file under a data dir's log, relative. */
async function localLogFiles(dataDir: string): Promise<string[]> {
  const root = path.join(dataDir, 'inference-log');
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else if (e.name.endsWith('.parquet')) out.push(path.relative(root, path.join(d, e.name)));
    }
  };
  await walk(root);
  return out.sort();
}

function strings(c: Column | undefined): (string | null)[] {
  if (!c || c.type !== 'string') throw new Error('expected a string column');
  return Array.from(c.codes, (code) => (code < 0 ? null : c.dictionary[code]!));
}

function numbers(c: Column | undefined): Float64Array {
  if (!c || c.type === 'string' || c.type === 'binary') throw new Error('expected a numeric column');
  return c.values;
}

/** A logger that keeps what it was told. */
function recordingLogger(): Logger & { lines: { level: string; msg: string; fields: Record<string, unknown> | undefined }[] } {
  const lines: { level: string; msg: string; fields: Record<string, unknown> | undefined }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  return { ...silentLogger, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), lines } as Logger & { lines: typeof lines };
}

describe('shipping and mirroring the inference log', () => {
  it('ships both replicas to one bucket, deletes what it shipped, and the mirror reads their union', async () => {
    await s3.createBucket(bucket);
    const files = sharedFiles();
    const a = await replica('a', 30, T0 + 60_000);
    const b = await replica('b', 20, T0 + 120_000);
    const filesA = await localLogFiles(a.dataDir);
    const filesB = await localLogFiles(b.dataDir);
    expect(filesA).toHaveLength(1);
    expect(filesA[0]).toMatch(/^deployment=bc\/hour=\d{4}-\d\d-\d\dT\d\d\/part-a-\d+-1\.parquet$/);

    const shipA = new LogShipper({ dataDir: a.dataDir, files, logger: silentLogger, intervalMs: 60_000 });
    const shipB = new LogShipper({ dataDir: b.dataDir, files, logger: silentLogger, intervalMs: 60_000 });
    expect(await shipA.shipNow()).toEqual({ shipped: 1, failed: 0 });
    expect(await shipB.shipNow()).toEqual({ shipped: 1, failed: 0 });
    expect(await localLogFiles(a.dataDir)).toEqual([]);
    expect(await localLogFiles(b.dataDir)).toEqual([]);
    expect((await files.list('inference-log/')).sort()).toEqual([...filesA, ...filesB].map((f) => `inference-log/${f}`).sort());
    expect(await shipA.shipNow()).toEqual({ shipped: 0, failed: 0 });

    const mirrorDir = path.join(dir, 'control');
    const mirror = new LogMirror({ mirrorDir, files });
    // two reports at once share one sync
    const [s1, s2] = await Promise.all([mirror.sync('bc', T0, T0 + HOUR), mirror.sync('bc', T0 + 60_000, T0 + HOUR)]);
    expect(s1).toEqual({ downloaded: 2 });
    expect(s2).toBe(s1);
    expect(await mirror.sync('bc', T0, T0 + HOUR)).toEqual({ downloaded: 0 });

    const t = (await readInferenceLog(mirrorDir, 'bc', { from: T0, to: T0 + HOUR }))!;
    const all: Sent = { ids: [...a.sent.ids, ...b.sent.ids], rows: [...a.sent.rows, ...b.sent.rows], labels: [...a.sent.labels, ...b.sent.labels] };
    expect(t.rows).toBe(all.rows.length);
    // requests of 1, 2, 3, 1… rows: A 10×(1+2+3), B 7×1 + 7×2 + 6×3
    expect(t.rows).toBe(60 + 39);
    expect(new Set(strings(t.columns.find((c) => c.name === 'request_id')))).toEqual(new Set(all.ids));
    // rows come back in time order: A's requests (second 60..89) before B's (second 120..139)
    expect(Array.from(numbers(t.columns.find((c) => c.name === 'mean radius')))).toEqual(all.rows.map((r) => Math.fround(r[0]!)));
    expect(Array.from(numbers(t.columns.find((c) => c.name === 'worst fractal dimension')))).toEqual(all.rows.map((r) => Math.fround(r[F - 1]!)));
    expect(strings(t.columns.find((c) => c.name === 'prediction'))).toEqual(all.labels);
  });

  it('keeps a file whose upload failed and ships it at the next pass', async () => {
    const files = sharedFiles();
    const a = await replica('a', 5, T0);
    const logger = recordingLogger();
    const shipper = new LogShipper({ dataDir: a.dataDir, files, logger, intervalMs: 60_000 });
    // the bucket does not exist yet
    expect(await shipper.shipNow()).toEqual({ shipped: 0, failed: 1 });
    expect(await localLogFiles(a.dataDir)).toHaveLength(1);
    const warn = logger.lines.find((l) => l.level === 'warn')!;
    expect(warn.msg).toContain('retried at the next pass');
    expect(String(warn.fields?.['error'])).toContain(`bucket "${bucket}" does not exist`);

    await s3.createBucket(bucket);
    expect(await shipper.close()).toEqual({ shipped: 1, failed: 0 });
    expect(await localLogFiles(a.dataDir)).toEqual([]);
    const mirrorDir = path.join(dir, 'control');
    expect(await new LogMirror({ mirrorDir, files }).sync('bc')).toEqual({ downloaded: 1 });
    expect((await readInferenceLog(mirrorDir, 'bc', {}))!.rows).toBe(a.sent.rows.length);
  });

  it('ships on its timer, one pass at a time, and what a log writes later too', async () => {
    await s3.createBucket(bucket);
    const files = sharedFiles();
    const a = await replica('a', 3, T0);
    const shipper = new LogShipper({ dataDir: a.dataDir, files, intervalMs: 20 });
    shipper.start();
    await vi.waitFor(async () => expect(await files.list('inference-log/')).toHaveLength(1), { timeout: 5_000 });
    // a second flush of the same log: another file, shipped by the timer too
    a.log.onInference((await answer('late', 0, 2, T0 + 5_000)).record);
    await a.log.flush();
    await vi.waitFor(async () => expect(await files.list('inference-log/')).toHaveLength(2), { timeout: 5_000 });
    // calls during a pass share the one queued after it
    const [p1, p2, p3] = [shipper.shipNow(), shipper.shipNow(), shipper.shipNow()];
    expect(p2).toBe(p3);
    await Promise.all([p1, p2]);
    expect(await shipper.close()).toEqual({ shipped: 0, failed: 0 });
    expect(await localLogFiles(a.dataDir)).toEqual([]);
  });

  it('syncs only the hours a window touches, and retention deletes old hours here and in the bucket', async () => {
    await s3.createBucket(bucket);
    const files = sharedFiles();
    const old = await replica('a', 4, OLD);
    const now = await replica('b', 6, T0);
    await new LogShipper({ dataDir: old.dataDir, files, intervalMs: 60_000 }).close();
    await new LogShipper({ dataDir: now.dataDir, files, intervalMs: 60_000 }).close();

    const mirrorDir = path.join(dir, 'control');
    const mirror = new LogMirror({ mirrorDir, files });
    expect(await mirror.sync('bc', T0, T0 + HOUR)).toEqual({ downloaded: 1 });
    expect(await readInferenceLog(mirrorDir, 'bc', { from: OLD, to: OLD + HOUR })).toBeNull();
    expect(await mirror.sync('bc')).toEqual({ downloaded: 1 });
    expect((await readInferenceLog(mirrorDir, 'bc', { from: OLD, to: OLD + HOUR }))!.rows).toBe(old.sent.rows.length);
    expect(await mirror.sync('other-deployment')).toEqual({ downloaded: 0 });

    // a day of retention, an hour after the traffic: the old hour goes, here and there
    expect(await mirror.applyRetention(24, T0 + HOUR)).toBe(1);
    expect(await readInferenceLog(mirrorDir, 'bc', { from: OLD, to: OLD + HOUR })).toBeNull();
    expect(await mirror.applyRemoteRetention(24, T0 + HOUR)).toBe(1);
    const left = await files.list('inference-log/');
    expect(left).toHaveLength(1);
    expect(left[0]).toContain('/part-b-');
    expect(await mirror.applyRemoteRetention(24, T0 + HOUR)).toBe(0);
    // the mirror does not fetch the deleted hour back
    expect(await mirror.sync('bc')).toEqual({ downloaded: 0 });
    expect((await readInferenceLog(mirrorDir, 'bc', {}))!.rows).toBe(
      (await readInferenceLog(mirrorDir, 'bc', { from: T0, to: T0 + HOUR }))!.rows,
    );
  });

  it('a MonitorService reading the mirror reports over both replicas', async () => {
    await s3.createBucket(bucket);
    const files = sharedFiles();
    const a = await replica('a', 12, T0 + 60_000);
    const b = await replica('b', 9, T0 + 90_000);
    await new LogShipper({ dataDir: a.dataDir, files, intervalMs: 60_000 }).close();
    await new LogShipper({ dataDir: b.dataDir, files, intervalMs: 60_000 }).close();

    // the control plane: its own data dir (registry, labels), reports read the mirror
    const controlDir = path.join(dir, 'control');
    const registry: Registry = await openEmbeddedRegistry(controlDir);
    closers.push(() => registry.close());
    const backend = new OnnxBackend();
    await registry.registerVersion({ name: 'bc', filePath: fixturePath('breast-cancer-gbt'), card: managed.card!, inspect: (bytes) => backend.inspect(bytes) });
    await registry.deploy({ name: 'bc', model: 'bc', target: { kind: 'version', version: 1 } });
    const mirror = new LogMirror({ mirrorDir: path.join(controlDir, 'log-mirror'), files });
    const synced: [number | undefined, number | undefined][] = [];
    const monitor = new MonitorService({
      dataDir: controlDir,
      logDir: mirror.mirrorDir,
      registry,
      clock: new ManualClock(T0 + HOUR),
      syncLog: async (deployment, from, to) => {
        synced.push([from, to]);
        return mirror.sync(deployment, from, to);
      },
    });
    const report = await monitor.report('bc', { window: '2h' });
    expect(synced).toEqual([[T0 - HOUR, T0 + HOUR + 1]]);
    expect(report.window.rows).toBe(a.sent.rows.length + b.sent.rows.length);
    // nothing was read from the control plane's own data dir
    expect(await localLogFiles(controlDir)).toEqual([]);
  });
});
