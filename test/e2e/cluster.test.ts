import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { compareToGolden, flatten, readGolden } from '../helpers/fixtures.js';
import { metricValue } from '../helpers/metrics.js';
import { get, post } from '../helpers/server.js';

// `berth serve --processes 2`: two serving processes share the port; repository actions reach
// both, /metrics sums both, a process that dies is replaced, SIGTERM drains and stops them all.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-cluster-'));
let child: ChildProcess | undefined;
afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

function workerPids(primary: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(primary)], { encoding: 'utf8' });
  return out.split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
}

const golden = readGolden('breast-cancer-gbt');
const X = flatten(golden.cases[0]!.inputs['input']!.data) as number[];

describe('several serving processes', () => {
  it('serve the same port, share repository actions and metrics, replace a dead process and stop together', async () => {
    child = spawn(process.execPath, [path.join(root, 'bin', 'berth.js'), 'serve', '--dev', '--data-dir', dataDir, '--port', '0', '--processes', '2', '--example', '--log-level', 'error'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // every row logged (no rate ceiling): 24 concurrent requests on a slow machine can look like
      // a burst above 1000 rows/s and be sampled, and this test counts rows, not sampling
      env: { ...process.env, BERTH_INFERENCE_LOG_MAX_ROWS_PER_SECOND: '0' },
    });
    const exited = new Promise((r) => child!.once('exit', r));
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no banner: ${out}`)), 30_000);
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving on (http:\/\/[^\s]+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      child!.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    });
    expect(out).toMatch(/2 processes/);
    const pids = workerPids(child.pid!);
    expect(pids).toHaveLength(2);

    expect((await post(`${url}/v2/repository/models/breast-cancer/load`, {})).status).toBe(200);
    let m = (await get<string>(`${url}/metrics`)).text;
    expect(metricValue(m, 'berth_models_loaded')).toBe(2);

    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, r) => post<{ outputs: { name: string; data: number[] }[] }>(`${url}/v2/models/breast-cancer/infer`, {
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: X.slice(r * 30, r * 30 + 30) }],
      })),
    );
    answers.forEach((a, r) => {
      expect(a.status).toBe(200);
      for (const o of a.body.outputs) expect(compareToGolden(o.data, golden.cases[0]!.expected[o.name]!, golden.tolerance[o.name]!, [r, r + 1])).toBeNull();
    });
    m = (await get<string>(`${url}/metrics`)).text;
    expect(metricValue(m, 'berth_requests_total', { deployment: 'breast-cancer', code: 'OK' })).toBe(24);
    // a report asks every process to write its buffered log rows first: all 24 are there at once
    const report = await get<{ window: { rows: number } }>(`${url}/v1/deployments/breast-cancer/monitor?window=all`);
    expect(report.body.window.rows).toBe(24);

    expect((await post(`${url}/v2/repository/models/breast-cancer/unload`, {})).status).toBe(200);
    m = (await get<string>(`${url}/metrics`)).text;
    expect(metricValue(m, 'berth_models_loaded')).toBe(0);
    expect(metricValue(m, 'berth_model_unloads_total', { reason: 'requested' })).toBe(2);

    // a serving process dies: another takes its place and the port keeps answering
    process.kill(pids[0]!, 'SIGKILL');
    for (let i = 0; i < 100 && workerPids(child.pid!).filter((p) => p !== pids[0]).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(workerPids(child.pid!).filter((p) => p !== pids[0])).toHaveLength(2);
    // idle keep-alive connections to the dead process are gone with it; a client retries those
    const body = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: X.slice(0, 30) }] };
    for (let i = 0; i < 6; i++) {
      const a = await post(`${url}/v2/models/breast-cancer/infer`, body).catch(() => post(`${url}/v2/models/breast-cancer/infer`, body, { connection: 'close' }));
      expect(a.status).toBe(200);
    }

    child.kill('SIGTERM');
    await exited;
    expect(child.exitCode).toBe(0);
  });
});
