import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCard } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { exampleDir } from '../../src/server/index.js';
import { fixturePath, flatten, readGolden } from '../helpers/fixtures.js';
import { deployFixture, get, post, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;
const row = (flatten(readGolden('breast-cancer-gbt').cases[0]!.inputs['input']!.data) as number[]).slice(0, 30);
const features = (JSON.parse(readFileSync(fixturePath('breast-cancer-gbt', 'card.json'), 'utf8')) as { feature_names: string[] }).feature_names;

beforeAll(async () => {
  ts = await startServer({ server: { bodyLimitBytes: 64 * 1024, host: '127.0.0.1', port: 0 } });
  await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'bc' });
  await deployFixture(ts, 'credit', { deployment: 'credit' });
  // the example card with NaN/Infinity forbidden
  const strict = readFileSync(path.join(exampleDir(), 'card.yaml'), 'utf8').replace('allow_non_finite: true', 'allow_non_finite: false');
  const strictPath = path.join(ts.dataDir, 'strict-card.yaml');
  writeFileSync(strictPath, strict);
  const backend = new OnnxBackend();
  await ts.server.registry.registerVersion({
    name: 'bc-strict',
    filePath: path.join(exampleDir(), 'model.onnx'),
    card: parseCard(strict, strictPath),
    inspect: (b) => backend.inspect(b),
  });
  await ts.server.registry.deploy({ name: 'bc-strict', model: 'bc-strict', target: { kind: 'version', version: 1 } });
  await ts.server.service.refresh();
});

afterAll(async () => {
  await ts?.close();
});

type ErrorBody = { error: string; code: string; field?: string };

async function expect400(url: string, body: unknown, pattern: RegExp, field?: string): Promise<void> {
  const a = await post<ErrorBody>(url, body);
  expect(a.status, a.text).toBe(400);
  expect(a.body.error).toMatch(pattern);
  if (field) expect(a.body.field).toBe(field);
}

describe('input validation against the signature', () => {
  const infer = (): string => `${ts.url}/v2/models/bc/infer`;

  it('names an unknown input and lists the real ones', async () => {
    await expect400(infer(), { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 30], data: row }] }, /unknown input "features".*"input"/, 'features');
  });

  it('names a missing input of a multi-input model', async () => {
    await expect400(
      `${ts.url}/v2/models/credit/infer`,
      { inputs: [{ name: 'numeric', datatype: 'FP32', shape: [1, 12], data: new Array(12).fill(1) }] },
      /input "home_ownership" is missing/,
      'home_ownership',
    );
  });

  it('says which datatype was expected and which came', async () => {
    await expect400(infer(), { inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 30], data: row }] }, /expected datatype FP32, got FP64/, 'input');
  });

  it('says which shape was expected, which came, and which feature is missing', async () => {
    await expect400(
      infer(),
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 29], data: row.slice(0, 29) }] },
      /expected shape \[-1, 30\], got \[1, 29\] \(feature "worst fractal dimension" and after missing\?\)/,
      'input',
    );
  });

  it('refuses an element count that does not match the shape', async () => {
    await expect400(infer(), { inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 30], data: row }] }, /needs 60 elements, got 30/, 'input');
  });

  it('refuses NaN and Infinity where the card forbids them, naming the feature', async () => {
    const bad = row.slice();
    (bad as unknown[])[3] = 'NaN';
    await expect400(`${ts.url}/v2/models/bc-strict/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: bad }] }, /feature "mean area".*finite/, 'mean area');
    // and accepts them where the card allows (tree ensembles route NaN to a branch)
    const ok = await post(`${ts.url}/v2/models/bc/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: bad }] });
    expect(ok.status).toBe(200);
  });

  it('names a feature missing from a row of the friendly endpoint', async () => {
    const r: Record<string, number> = {};
    features.forEach((f, i) => (r[f] = row[i]!));
    delete r['mean radius'];
    const a = await post<ErrorBody>(`${ts.url}/v1/deployments/bc/predict`, { rows: [r] });
    expect(a.status).toBe(400);
    expect(a.body.error).toMatch(/mean radius/);
  });

  it('refuses an unknown requested output, listing the real ones', async () => {
    await expect400(
      infer(),
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }], outputs: [{ name: 'probs' }] },
      /requested output "probs" does not exist.*"label", "probabilities"/,
    );
  });

  it('answers only the requested outputs', async () => {
    const a = await post<{ outputs: { name: string }[] }>(infer(), { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }], outputs: [{ name: 'probabilities' }] });
    expect(a.status).toBe(200);
    expect(a.body.outputs.map((o) => o.name)).toEqual(['probabilities']);
  });

  it('answers 413 for a body over the configured limit', async () => {
    const big = { inputs: [{ name: 'input', datatype: 'FP32', shape: [4000, 30], data: new Array(120_000).fill(0.5) }] };
    const a = await post<ErrorBody>(infer(), big);
    expect(a.status).toBe(413);
    expect(a.body.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers 400 for a body that is not JSON, and 404 for an unknown deployment or route', async () => {
    const bad = await post<ErrorBody>(infer(), '{"inputs": [');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/not valid JSON/);
    const missing = await post<ErrorBody>(`${ts.url}/v2/models/nope/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('DEPLOYMENT_NOT_FOUND');
    const route = await get<ErrorBody>(`${ts.url}/v2/nothing-here`);
    expect(route.status).toBe(404);
    expect(route.body.error).toMatch(/openapi\.json/);
  });

  it('survives a barrage of malformed bodies without a 5xx and keeps serving', async () => {
    const junk: unknown[] = [
      null, 42, 'x', [], {}, { inputs: null }, { inputs: {} }, { inputs: [null] }, { inputs: [{}] },
      { inputs: [{ name: 'input' }] }, { inputs: [{ name: 'input', datatype: 'FP32' }] },
      { inputs: [{ name: 'input', datatype: 'FP32', shape: 'x', data: [] }] },
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 30], data: row }] },
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [1e12, 30], data: row }] },
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: [[[[[[row]]]]]] }] },
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row.map(() => ({})) }] },
      { inputs: [{ name: 'input', datatype: 'NOPE', shape: [1, 30], data: row }] },
      { inputs: [{ name: 'input', datatype: 'BYTES', shape: [1, 30], data: row.map(String) }] },
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [0, 30], data: [] }] },
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }], outputs: 'all' },
      { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }], parameters: { timeout_ms: -5 } },
      { id: 5, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] },
      { rows: 'x' }, { rows: [null] }, { instances: [[1, 2]] },
    ];
    for (const body of junk) {
      for (const url of [`${ts.url}/v2/models/bc/infer`, `${ts.url}/v1/deployments/bc/predict`]) {
        const a = await post(url, JSON.stringify(body));
        expect(a.status, `${url} ${JSON.stringify(body)?.slice(0, 80)} → ${a.text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(a.status, `${JSON.stringify(body)?.slice(0, 80)} → ${a.text.slice(0, 200)}`).toBeLessThan(500);
        expect(typeof (a.body as ErrorBody).error).toBe('string');
      }
    }
    const ok = await post(`${ts.url}/v2/models/bc/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] });
    expect(ok.status).toBe(200);
  });
});
