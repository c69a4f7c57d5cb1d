/**
 * The inference log for real: a `berth serve` process stopped with SIGTERM has written every
 * answered request; DuckDB reads the files as they lie (hive partitions); old hours are deleted;
 * above the ceiling rows are sampled with weights that still count the traffic; windows by time
 * and by rows; the CLI sends a labels CSV; a Parquet reference profiles like a CSV one.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, resolveConfig, silentLogger } from '../../src/core/index.js';
import { readCsvFile, writeParquetFile } from '../../src/data/index.js';
import { InferenceLog, MonitorService, listLogFiles, readInferenceLog, type MonitorReport } from '../../src/monitor/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { BERTH_BIN, startServeProcess, type ServeProcess } from '../helpers/serve-process.js';
import { deployFixture, get, post, startServer, type TestServer } from '../helpers/server.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'berth-log-e2e-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BERTH_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

function startServe(dataDir: string): Promise<ServeProcess> {
  // the config file's inferenceLog and alerts sections are read by `berth serve --config`
  const config = path.join(tmp, 'berth.yaml');
  writeFileSync(config, 'inferenceLog:\n  maxRowsPerSecond: 0\nalerts:\n  intervalMs: 60000\n');
  return startServeProcess(dataDir, ['--config', config]);
}

const rows = (n: number): number[][] => {
  const golden = JSON.parse(readFileSync(fixturePath('breast-cancer-gbt', 'golden.json'), 'utf8')) as { cases: { inputs: { input: { data: number[][] } } }[] };
  const all = golden.cases.flatMap((c) => c.inputs.input.data);
  return Array.from({ length: n }, (_, i) => all[i % all.length]!);
};

describe('a berth serve process', () => {
  const dataDir = path.join(tmp, 'serve');
  const ids: string[] = [];

  beforeAll(async () => {
    mkdirSync(dataDir, { recursive: true });
    let r = await run(['--local', '--data-dir', dataDir, 'models', 'register', fixturePath('breast-cancer-gbt'), '--name', 'bc', '--card', fixturePath('breast-cancer-gbt', 'card.json')]);
    expect(r.code).toBe(0);
    r = await run(['--local', '--data-dir', dataDir, 'deploy', 'bc', '--model', 'bc', '--version', '1']);
    expect(r.code).toBe(0);
    const s = await startServe(dataDir);
    // 300 acknowledged requests of 1..3 rows, then SIGTERM: nothing was flushed yet (10 s interval)
    const data = rows(3);
    for (let i = 0; i < 300; i++) {
      const n = 1 + (i % 3);
      const res = await fetch(`${s.url}/v2/models/bc/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': `req-${i}` },
        body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [n, 30], data: data.slice(0, n) }] }),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBe(`req-${i}`);
      ids.push(`req-${i}`);
    }
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 120_000);

  it('writes every acknowledged request on a clean shutdown', async () => {
    const t = (await readInferenceLog(dataDir, 'bc', {}))!;
    expect(t.rows).toBe(600); // 100 × (1 + 2 + 3)
    const idCol = t.columns.find((c) => c.name === 'request_id')!;
    expect(idCol.type === 'string' && new Set(idCol.dictionary)).toEqual(new Set(ids));
  });

  it('reads the newest N requests with all their rows', async () => {
    // req-297, req-298 and req-299 sent 1, 2 and 3 rows
    const t = (await readInferenceLog(dataDir, 'bc', { lastRequests: 3 }))!;
    expect(t.rows).toBe(6);
    const ids = t.columns.find((c) => c.name === 'request_id')!;
    expect(ids.type === 'string' && [...new Set(Array.from(ids.codes, (c) => ids.dictionary[c]))]).toEqual(['req-297', 'req-298', 'req-299']);
  });

  it('DuckDB reads the log in place, hive partitions included', async () => {
    const db = await (await DuckDBInstance.create(':memory:')).connect();
    try {
      const glob = path.join(dataDir, 'inference-log', '**', '*.parquet');
      const reader = await db.runAndReadAll(
        `select deployment, count(*) as n, count(distinct request_id) as requests, sum(weight) as w, min(status) as status,
                sum(case when prediction = '1' then 1 else 0 end) as benign, avg("mean radius") as mr
         from read_parquet('${glob}', hive_partitioning = true) group by deployment`,
      );
      const [row] = reader.getRowObjectsJS();
      expect(row).toMatchObject({ deployment: 'bc', n: 600n, requests: 300n, w: 600, status: 'OK' });
      // request i sent rows 0..(i % 3): row 0 300 times, row 1 200 times, row 2 100 times
      const g = rows(3).map((r) => Math.fround(r[0]!));
      expect(Number(row!['mr'])).toBeCloseTo((300 * g[0]! + 200 * g[1]! + 100 * g[2]!) / 600, 6);
    } finally {
      db.closeSync();
    }
  });

  it('the CLI sends a labels CSV by request id; the report joins them', async () => {
    const csv = ['request_id,row,label', ...ids.slice(0, 50).map((id) => `${id},0,1`)].join('\n');
    const file = path.join(tmp, 'labels.csv');
    writeFileSync(file, csv);
    const r = await run(['--local', '--data-dir', dataDir, '--json', 'monitor', 'feedback', 'bc', '--file', file]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ deployment: 'bc', accepted: 50, replaced: 0 });
    const rep = await run(['--local', '--data-dir', dataDir, '--json', 'monitor', 'report', 'bc', '--window', 'all']);
    expect(rep.code).toBe(0);
    const report = JSON.parse(rep.out) as MonitorReport;
    expect(report.performance.labelledRows).toBe(50);
    expect(report.window.rows).toBe(600);
    const bad = await run(['--local', '--data-dir', dataDir, 'monitor', 'report', 'bc', '--window', 'lately']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('window: expected a duration (15m, 2h, 7d), a row count (1000rows)');
  });
});

describe('windows, sampling and retention (in process)', () => {
  let ts: TestServer;

  afterAll(async () => {
    await ts?.close();
  });

  it('samples above the ceiling, and the weights still count the traffic', async () => {
    ts = await startServer({ inferenceLog: { maxRowsPerSecond: 50 } });
    await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'bc' });
    const body = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: rows(1) }] };
    // 1,200 requests as fast as they go: well above 50 rows/s on any machine
    let sent = 0;
    while (sent < 1200) {
      await Promise.all(Array.from({ length: 20 }, () => post(`${ts.url}/v2/models/bc/infer`, body)));
      sent += 20;
    }
    await ts.server.monitor.flushLog();
    const t = (await readInferenceLog(ts.dataDir, 'bc', {}))!;
    const w = t.columns.find((c) => c.name === 'weight')!;
    const total = w.type === 'double' ? w.values.reduce((a, b) => a + b, 0) : NaN;
    expect(t.rows).toBeLessThan(sent * 0.6);
    expect(Math.abs(total - sent) / sent).toBeLessThan(0.25);
    const rep = (await get<MonitorReport>(`${ts.url}/v1/deployments/bc/monitor?window=all`)).body;
    expect(Math.abs(rep.window.rows - sent) / sent).toBeLessThan(0.25);
  }, 60_000);

  it('reads windows by rows and by time', async () => {
    const last = (await get<MonitorReport>(`${ts.url}/v1/deployments/bc/monitor?window=25rows`)).body;
    expect(last.window.rows).toBeGreaterThan(0);
    const t = await readInferenceLog(ts.dataDir, 'bc', { lastRows: 25 });
    expect(t!.rows).toBe(25);
    const future = await readInferenceLog(ts.dataDir, 'bc', { from: Date.now() + 3_600_000 });
    expect(future).toBeNull();
    const none = (await get<MonitorReport>(`${ts.url}/v1/deployments/bc/monitor?window=2020-01-01T00:00Z..2020-01-02T00:00Z`)).body;
    expect(none.window.rows).toBe(0);
    expect(none.summary).toEqual(['no traffic in this window']);
  });

  it('deletes hour partitions older than the retention', async () => {
    const dataDir = path.join(tmp, 'retention');
    const clock = new ManualClock(Date.parse('2026-11-24T12:30:00Z'));
    const old = path.join(dataDir, 'inference-log', 'deployment=d', 'hour=2026-11-20T09');
    const recent = path.join(dataDir, 'inference-log', 'deployment=d', 'hour=2026-11-24T11');
    for (const dir of [old, recent]) {
      mkdirSync(dir, { recursive: true });
      await writeParquetFile(path.join(dir, 'part-1.parquet'), { rows: 1, columns: [{ name: 'ts', type: 'timestamp_ms', values: Float64Array.of(clock.now()) }] });
    }
    const config = resolveConfig({ inferenceLog: { retentionHours: 48 } }).inferenceLog;
    const log = new InferenceLog({ dataDir, config, clock, logger: silentLogger });
    expect(await log.applyRetention()).toBe(1);
    await log.close();
    expect(existsSync(old)).toBe(false);
    expect((await listLogFiles(dataDir, 'd')).map((f) => f.hour)).toEqual(['2026-11-24T11']);
  });
});

describe('a Parquet reference', () => {
  it('profiles like the CSV it came from', async () => {
    const ts = await startServer();
    try {
      const { version } = await deployFixture(ts, 'credit', { deployment: 'credit' });
      const csv = await readCsvFile(fixturePath('credit', 'reference.csv'));
      const file = path.join(tmp, 'reference.parquet');
      await writeParquetFile(file, csv);
      const res = await post<{ reference: { rows: number; fileName: string }; metrics: Record<string, number>; columns: string[] }>(
        `${ts.url}/v1/models/credit/versions/${version}/profile`,
        { reference_base64: readFileSync(file).toString('base64'), reference_file_name: 'reference.parquet' },
      );
      expect(res.status).toBe(201);
      expect(res.body.reference).toMatchObject({ rows: 20000, fileName: 'reference.parquet' });
      expect(res.body.columns).toEqual(expect.arrayContaining(['region', 'prediction', 'score', 'label']));
      expect(res.body.metrics['accuracy']).toBeGreaterThan(0.85);
      const bad = await post<{ error: string; field: string }>(`${ts.url}/v1/models/credit/versions/${version}/profile`, {
        reference_base64: Buffer.from('a,b\n1,2\n').toString('base64'),
      });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toMatch(/reference data has none of the model's features/);
    } finally {
      await ts.close();
    }
  }, 60_000);
});

describe('a report over more rows than it may read', () => {
  it('reads a uniform sample of the files beyond the cap, weighted to stand for the whole window, and says so', async () => {
    const ts = await startServer({ inferenceLog: { maxRowsPerSecond: 0, flushRows: 100 } });
    try {
      await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'bc' });
      const body = { inputs: [{ name: 'input', datatype: 'FP32', shape: [50, 30], data: rows(50) }] };
      for (let i = 0; i < 10; i++) expect((await post(`${ts.url}/v2/models/bc/infer`, body)).status).toBe(200);
      await ts.server.monitor.flushLog();
      const capped = new MonitorService({ dataDir: ts.dataDir, registry: ts.server.registry, maxReportRows: 120 });
      const r = await capped.report('bc', { window: 'all' });
      // five files of 100 rows: two are read (200 rows ≥ 120), each row weighs 2.5
      expect(r.window.description).toBe('all retained traffic, sampled: 2 of 5 log files (each row weighs 2.50×)');
      expect(r.window.rows).toBe(500);
      expect(r.latency.rows).toBe(4);
      const full = await ts.server.monitor.report('bc', { window: 'all' });
      expect(full.window.rows).toBe(500);
      expect(full.window.description).toBe('all retained traffic');
    } finally {
      await ts.close();
    }
  }, 60_000);
});
