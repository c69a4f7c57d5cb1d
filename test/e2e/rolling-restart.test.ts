/*
 * Three `berth serve` replicas share PostgreSQL (metadata) and S3 (artifacts, an s3rver started
 * here), each on its own port and data dir. A simple round-robin client sends inference the whole
 * time while the replicas are restarted one by one (SIGTERM, drain, start again on the same port,
 * wait until ready): no request fails. Like a load balancer, the client tries the next replica when
 * one refuses the connection or answers 503 while it drains; answers are checked against golden.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareToGolden, fixturePath, readGolden } from '../helpers/fixtures.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropSchema, testSchemaName, urlWithSchema } from '../helpers/postgres.js';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.js';
import { S3RVER_CREDENTIALS, startS3rver } from '../registry/s3rver-harness.js';

const MODEL = 'breast-cancer-logreg';
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(1000) })).status === 200;
  } catch {
    return false;
  }
}

describe.skipIf(!TEST_POSTGRES_URL)(`a rolling restart of three replicas${TEST_POSTGRES_URL ? '' : ` (${POSTGRES_SKIP_REASON})`}`, () => {
  it('fails no request of a round-robin client', async () => {
    const schema = testSchemaName('rolling');
    cleanups.push(() => dropSchema(TEST_POSTGRES_URL!, schema));
    const s3 = await startS3rver();
    cleanups.push(() => s3.stop());
    await s3.createBucket('models');
    const env = { ...process.env, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey };
    const shared = ['--database', urlWithSchema(TEST_POSTGRES_URL!, schema), '--artifacts', `s3://models/berth?endpoint=${encodeURIComponent(s3.endpoint)}`];
    const replicas: { port: number; dir: string; proc: ServeProcess }[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = mkdtempSync(path.join(tmpdir(), 'berth-rolling-'));
      replicas.push({ port, dir, proc: await startServeProcess(dir, [...shared, '--port', String(port), '--host', '127.0.0.1'], env) });
    }
    cleanups.push(async () => {
      for (const r of replicas) {
        r.proc.child.kill('SIGKILL');
        await r.proc.exited;
        rmSync(r.dir, { recursive: true, force: true });
      }
    });
    const urls = replicas.map((r) => `http://127.0.0.1:${r.port}`);

    // the model, registered and deployed through the first replica
    const reg = await fetch(`${urls[0]}/v1/models/bc/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model_base64: readFileSync(fixturePath(MODEL)).toString('base64'), file_name: 'model.onnx' }),
    });
    expect(reg.status).toBe(201);
    const dep = await fetch(`${urls[0]}/v1/deployments/bc`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'bc', version: 1 }) });
    expect(dep.status).toBeLessThan(300);

    const golden = readGolden(MODEL);
    const c = golden.cases[0]!;
    const input = c.inputs['input']!;
    const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: input.shape, data: input.data }] });
    // every replica serves it before the restarts begin
    for (const u of urls) {
      for (let i = 0; ; i++) {
        const r = await fetch(`${u}/v2/models/bc/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).catch(() => null);
        if (r?.status === 200) break;
        if (i > 100) throw new Error(`${u} never served the deployment`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }

    let next = 0;
    let ok = 0;
    let retried = 0;
    const failures: string[] = [];
    let stop = false;
    const worker = async (): Promise<void> => {
      while (!stop) {
        let answered = false;
        const why: string[] = [];
        // the shared counter spreads requests; a retry goes to the *next* replica from this request's
        // start, as a load balancer's does (other workers' increments must not land it on the same one)
        const start = next++;
        for (let attempt = 0; attempt < urls.length * 3 && !answered; attempt++) {
          // a client's retry policy: after a round over every replica, a short pause before the next
          if (attempt > 0 && attempt % urls.length === 0) await new Promise((res) => setTimeout(res, 50));
          const u = urls[(start + attempt) % urls.length]!;
          let res: Response;
          try {
            res = await fetch(`${u}/v2/models/bc/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          } catch (err) {
            retried++; // connection refused or reset: the replica is down or draining
            why.push(`${u}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : String(err)}`);
            continue;
          }
          const text = await res.text();
          if (res.status === 503) {
            retried++;
            why.push(`${u}: 503 ${text.slice(0, 120)}`);
            continue;
          }
          answered = true;
          if (res.status !== 200) {
            failures.push(`${u} answered ${res.status}: ${text.slice(0, 200)}`);
            break;
          }
          const out = (JSON.parse(text) as { outputs: { name: string; data: number[] }[] }).outputs;
          for (const [name, expected] of Object.entries(c.expected)) {
            const problem = compareToGolden(out.find((o) => o.name === name)!.data, expected, golden.tolerance[name]!);
            if (problem) failures.push(`${u}: ${name}: ${problem}`);
          }
          ok++;
        }
        if (!answered) failures.push(`no replica answered: ${why.join('; ')}`);
      }
    };
    const load = Promise.all([worker(), worker(), worker(), worker()]);

    for (const r of replicas) {
      await new Promise((res) => setTimeout(res, 300));
      r.proc.child.kill('SIGTERM');
      expect(await r.proc.exited).toBe(0);
      r.proc = await startServeProcess(r.dir, [...shared, '--port', String(r.port), '--host', '127.0.0.1'], env);
      const url = `http://127.0.0.1:${r.port}`;
      for (let i = 0; !(await ready(url)); i++) {
        if (i > 100) throw new Error(`${url} not ready after restart`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    await new Promise((res) => setTimeout(res, 300));
    stop = true;
    await load;
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(100);
    console.log(`rolling restart: ${ok} answers, ${retried} retries on another replica, 0 failures`);
  }, 120_000);
});
