import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATATYPES } from '../../src/core/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { addModel, identityModel, ONNX_ELEM_TYPES } from '../helpers/onnx-proto.js';
import { post, startServer, type TestServer } from '../helpers/server.js';

// Every Open Inference Protocol datatype goes in and comes back out through a real onnxruntime
// Identity model, over HTTP, batched with concurrent neighbours.

let ts: TestServer;
const dir = mkdtempSync(path.join(tmpdir(), 'berth-dtypes-'));

beforeAll(async () => {
  ts = await startServer({ batching: { maxQueueDelayMs: 20 } });
  const backend = new OnnxBackend();
  for (const dt of DATATYPES) {
    const file = path.join(dir, `${dt}.onnx`);
    writeFileSync(file, identityModel(ONNX_ELEM_TYPES[dt], 3));
    const name = `id-${dt.toLowerCase()}`;
    await ts.server.registry.registerVersion({ name, filePath: file, inspect: (b) => backend.inspect(b) });
    await ts.server.registry.deploy({ name, model: name, target: { kind: 'version', version: 1 } });
  }
  const fixed = path.join(dir, 'fixed.onnx');
  writeFileSync(fixed, addModel({ n: 3, batchDim: 2, weights: [10, 20, 30] }));
  await ts.server.registry.registerVersion({ name: 'fixed', filePath: fixed, inspect: (b) => backend.inspect(b) });
  await ts.server.registry.deploy({ name: 'fixed', model: 'fixed', target: { kind: 'version', version: 1 } });
  await ts.server.service.refresh();
});

afterAll(async () => {
  await ts?.close();
  rmSync(dir, { recursive: true, force: true });
});

const SAMPLES: Record<(typeof DATATYPES)[number], unknown[]> = {
  BOOL: [true, false, true],
  UINT8: [0, 128, 255],
  UINT16: [0, 1000, 65535],
  UINT32: [0, 70000, 4294967295],
  UINT64: [0, 9007199254740991, '18446744073709551615'],
  INT8: [-128, 0, 127],
  INT16: [-32768, 0, 32767],
  INT32: [-2147483648, 0, 2147483647],
  INT64: ['-9223372036854775808', 42, '9223372036854775807'],
  FP16: [1.5, -65504, 0.0009765625],
  FP32: [3.5, -0.125, 'NaN'],
  FP64: [0.1, -1e300, 'Infinity'],
  BYTES: ['plain', 'with "quotes" and\nnewline', 'ünïcødé ✓'],
};

type Out = { name: string; datatype: string; shape: number[]; data: unknown[] };

describe.each(DATATYPES)('datatype %s', (dt) => {
  it('round-trips through the runtime over v2, with concurrent requests batched together', async () => {
    const name = `id-${dt.toLowerCase()}`;
    const rows = [SAMPLES[dt], [...SAMPLES[dt]].reverse(), SAMPLES[dt]];
    const answers = await Promise.all(
      rows.map((row, i) => post<{ outputs: Out[]; id: string }>(`${ts.url}/v2/models/${name}/infer`, { id: `r${i}`, inputs: [{ name: 'X', datatype: dt, shape: [1, 3], data: row }] })),
    );
    answers.forEach((a, i) => {
      expect(a.status, a.text).toBe(200);
      expect(a.body.id).toBe(`r${i}`);
      const out = a.body.outputs[0]!;
      expect(out).toMatchObject({ name: 'Y', datatype: dt, shape: [1, 3] });
      const want = rows[i]!;
      if (dt === 'INT64' || dt === 'UINT64') {
        // JSON numbers beyond 2^53 are written exactly; compare the digits
        const digits = /"data":\[([^\]]*)\]/.exec(a.text)![1]!.split(',');
        expect(digits).toEqual(want.map((v) => String(v)));
      } else {
        expect(out.data).toEqual(want);
      }
    });
  });
});

describe('a model without a dynamic batch dimension', () => {
  it('is served one request per runtime call, and each caller gets its own answer', async () => {
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        post<{ outputs: Out[] }>(`${ts.url}/v2/models/fixed/infer`, { inputs: [{ name: 'X', datatype: 'FP32', shape: [2, 3], data: [i, i, i, -i, -i, -i] }] }),
      ),
    );
    answers.forEach((a, i) => {
      expect(a.status, a.text).toBe(200);
      expect(a.body.outputs[0]!.data).toEqual([10 + i, 20 + i, 30 + i, 10 - i, 20 - i, 30 - i]);
    });
    const wrong = await post<{ error: string }>(`${ts.url}/v2/models/fixed/infer`, { inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatch(/expected shape \[2, 3\], got \[1, 3\]/);
  });
});
