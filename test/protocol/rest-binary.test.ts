/*
 * The binary tensor extension of the v2 REST protocol through a real server: a JSON header of
 * Inference-Header-Content-Length bytes, then the inputs' raw bytes (BYTES length-prefixed); binary
 * outputs when asked. Sent by curl from a file, mixed with JSON inputs, answers checked against the
 * fixtures' golden outputs and the plain-JSON answer, and malformed bodies refused naming the field.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/core/index.js';
import { toRaw } from '../../src/protocol/codec/raw.js';
import { compareToGolden, goldenTensor, readGolden } from '../helpers/fixtures.js';
import { deployFixture, post, startServer, type TestServer } from '../helpers/server.js';

let ts: TestServer;
let dir: string;

beforeAll(async () => {
  ts = await startServer();
  await deployFixture(ts, 'breast-cancer-logreg', { deployment: 'bc' });
  await deployFixture(ts, 'credit', { deployment: 'credit' });
  dir = mkdtempSync(path.join(tmpdir(), 'berth-binary-'));
}, 60_000);

afterAll(async () => {
  await ts?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A binary-extension body: the JSON header (binary inputs declare binary_data_size), then their bytes. */
function binaryBody(header: Record<string, unknown>, blobs: Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...blobs]), headerLength: json.length };
}

function binaryInput(t: Tensor): { spec: Record<string, unknown>; bytes: Buffer } {
  const bytes = toRaw(t);
  return { spec: { name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: bytes.length } }, bytes };
}

function jsonInput(t: Tensor): Record<string, unknown> {
  return { name: t.name, datatype: t.datatype, shape: t.shape, data: Array.from(t.data as ArrayLike<unknown>, (x) => (typeof x === 'bigint' ? Number(x) : x)) };
}

/** Split a binary answer into its JSON header and each binary output's bytes. */
function readAnswer(body: Buffer, headerLength: number): { header: { outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[] }; bytes: Map<string, Buffer> } {
  const header = JSON.parse(body.toString('utf8', 0, headerLength)) as ReturnType<typeof readAnswer>['header'];
  const bytes = new Map<string, Buffer>();
  let at = headerLength;
  for (const o of header.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    bytes.set(o.name, body.subarray(at, at + size));
    at += size;
  }
  expect(at).toBe(body.length);
  return { header, bytes };
}

const floats = (b: Buffer): number[] => Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
const int64s = (b: Buffer): number[] => Array.from(new BigInt64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), Number);

describe('REST binary tensor extension', () => {
  it('curl sends a binary request built from a file; the JSON answer is the golden one', async () => {
    const golden = readGolden('breast-cancer-logreg');
    const c = golden.cases[0]!;
    const { spec, bytes } = binaryInput(goldenTensor('input', c.inputs['input']!));
    const { body, headerLength } = binaryBody({ inputs: [spec] }, [bytes]);
    const file = path.join(dir, 'request.bin');
    writeFileSync(file, body);
    // curl runs beside the server (a synchronous child would block the server's event loop)
    const { stdout: out } = await promisify(execFile)('curl', [
      '-sS', '--fail-with-body', `${ts.url}/v2/models/bc/infer`,
      '-H', 'content-type: application/octet-stream',
      '-H', `Inference-Header-Content-Length: ${headerLength}`,
      '--data-binary', `@${file}`,
    ], { encoding: 'utf8', timeout: 20_000 });
    const answer = JSON.parse(out) as { outputs: { name: string; data: number[] }[] };
    for (const [name, expected] of Object.entries(c.expected)) {
      expect(compareToGolden(answer.outputs.find((o) => o.name === name)!.data, expected, golden.tolerance[name]!)).toBeNull();
    }
  });

  it('answers in binary when asked (all outputs), with the header length and octet-stream', async () => {
    const golden = readGolden('breast-cancer-logreg');
    const c = golden.cases[0]!;
    const { spec, bytes } = binaryInput(goldenTensor('input', c.inputs['input']!));
    const { body, headerLength } = binaryBody({ inputs: [spec], parameters: { binary_data_output: true } }, [bytes]);
    const res = await fetch(`${ts.url}/v2/models/bc/infer`, { method: 'POST', headers: { 'inference-header-content-length': String(headerLength) }, body: new Uint8Array(body) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const answer = Buffer.from(await res.arrayBuffer());
    const { header, bytes: outs } = readAnswer(answer, Number(res.headers.get('inference-header-content-length')));
    expect(header.outputs.every((o) => o.data === undefined)).toBe(true);
    expect(compareToGolden(floats(outs.get('probabilities')!), c.expected['probabilities']!, golden.tolerance['probabilities']!)).toBeNull();
    expect(compareToGolden(int64s(outs.get('label')!), c.expected['label']!, golden.tolerance['label']!)).toBeNull();
  });

  it('mixes JSON and binary inputs (BYTES length-prefixed) and binary and JSON outputs in one request, equal to plain JSON', async () => {
    const golden = readGolden('credit');
    const c = golden.cases[0]!;
    const numeric = binaryInput(goldenTensor('numeric', c.inputs['numeric']!));
    const region = binaryInput(goldenTensor('region', c.inputs['region']!));
    const home = goldenTensor('home_ownership', c.inputs['home_ownership']!);
    const purpose = goldenTensor('loan_purpose', c.inputs['loan_purpose']!);
    const { body, headerLength } = binaryBody(
      {
        inputs: [numeric.spec, jsonInput(home), region.spec, jsonInput(purpose)],
        outputs: [{ name: 'probabilities', parameters: { binary_data: true } }, { name: 'label' }],
      },
      [numeric.bytes, region.bytes],
    );
    const res = await fetch(`${ts.url}/v2/models/credit/infer`, { method: 'POST', headers: { 'inference-header-content-length': String(headerLength) }, body: new Uint8Array(body) });
    expect(res.status, await res.clone().text()).toBe(200);
    const { header, bytes } = readAnswer(Buffer.from(await res.arrayBuffer()), Number(res.headers.get('inference-header-content-length')));
    const label = header.outputs.find((o) => o.name === 'label')!;
    expect(compareToGolden(label.data!, c.expected['label']!, golden.tolerance['label']!)).toBeNull();
    const probs = floats(bytes.get('probabilities')!);
    expect(compareToGolden(probs, c.expected['probabilities']!, golden.tolerance['probabilities']!)).toBeNull();
    // the same request as plain JSON: the same numbers, bit for bit
    const plain = await post<{ outputs: { name: string; data: number[] }[] }>(`${ts.url}/v2/models/credit/infer`, {
      inputs: [jsonInput(goldenTensor('numeric', c.inputs['numeric']!)), jsonInput(home), jsonInput(goldenTensor('region', c.inputs['region']!)), jsonInput(purpose)],
    });
    expect(probs).toEqual(plain.body.outputs.find((o) => o.name === 'probabilities')!.data.map((x) => Math.fround(x)));
  });

  it('refuses malformed binary bodies with a 400 naming the header or input, and serves nothing', async () => {
    const golden = readGolden('breast-cancer-logreg');
    const t = goldenTensor('input', golden.cases[0]!.inputs['input']!);
    const { spec, bytes } = binaryInput(t);
    const send = async (body: Buffer, headerLength: string): Promise<{ status: number; body: { error: string; field?: string } }> => {
      const res = await fetch(`${ts.url}/v2/models/bc/infer`, { method: 'POST', headers: { 'inference-header-content-length': headerLength }, body: new Uint8Array(body) });
      return { status: res.status, body: (await res.json()) as { error: string; field?: string } };
    };
    const ok = binaryBody({ inputs: [spec] }, [bytes]);
    const tooLong = await send(ok.body, String(ok.body.length + 1));
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.field).toBe('Inference-Header-Content-Length');
    expect((await send(ok.body, 'abc')).body.error).toMatch(/Inference-Header-Content-Length: expected the JSON header's length/);
    const short = binaryBody({ inputs: [spec] }, [bytes.subarray(0, bytes.length - 4)]);
    const s = await send(short.body, String(short.headerLength));
    expect(s.status).toBe(400);
    expect(s.body.error).toMatch(/input "input": binary_data_size is \d+ bytes, but only \d+ bytes/);
    const extra = binaryBody({ inputs: [spec] }, [bytes, Buffer.alloc(8)]);
    expect((await send(extra.body, String(extra.headerLength))).body.error).toMatch(/binary data: 8 bytes follow the last input's/);
    const wrongSize = binaryBody({ inputs: [{ ...spec, parameters: { binary_data_size: bytes.length - 4 } }] }, [bytes.subarray(4)]);
    expect((await send(wrongSize.body, String(wrongSize.headerLength))).body.error).toMatch(/needs \d+ bytes .* binary_data_size is \d+/);
    // JSON that declares binary data without the header: told how to send it
    const noHeader = await post<{ error: string }>(`${ts.url}/v2/models/bc/infer`, { inputs: [spec] });
    expect(noHeader.status).toBe(400);
    expect(noHeader.body.error).toMatch(/Inference-Header-Content-Length header/);
  });
});
