import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/core/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { FIXTURE_MODELS, compareToGolden, fixturePath, goldenTensor, readCardJson, readGolden } from '../helpers/fixtures.js';

const backend = new OnnxBackend();
const opts = { intraOpThreads: 1, interOpThreads: 1 };

describe('OnnxBackend', () => {
  for (const model of FIXTURE_MODELS) {
    it(`reads the signature of ${model} from the ONNX file as its card declares it`, async () => {
      const sig = await backend.inspect(readFileSync(fixturePath(model)));
      const card = readCardJson(model) as { inputs: { name: string; shape: number[] }[]; outputs: { name: string; shape: number[] }[] };
      expect(sig.inputs.map((s) => [s.name, s.shape])).toEqual(card.inputs.map((s) => [s.name, s.shape]));
      expect(sig.outputs.map((s) => [s.name, s.shape])).toEqual(card.outputs.map((s) => [s.name, s.shape]));
      expect(sig.batchable).toBe(true);
    });

    it.each([
      ['in the calling thread', false],
      ['in a worker thread', true],
    ])(`answers every golden case of ${model} within tolerance %s`, async (_how, worker) => {
      const loaded = await backend.load(readFileSync(fixturePath(model)), { ...opts, worker });
      try {
        const golden = readGolden(model);
        for (const c of golden.cases) {
          const inputs = loaded.signature.inputs.map((s) => goldenTensor(s.name, c.inputs[s.name]!));
          const outputs = await loaded.run(inputs);
          for (const out of outputs) {
            const problem = compareToGolden(out.data as ArrayLike<unknown>, c.expected[out.name]!, golden.tolerance[out.name]!);
            expect(problem, `${model} ${c.name} ${out.name}`).toBeNull();
          }
        }
      } finally {
        await loaded.dispose();
      }
    });
  }

  it('refuses a zero-byte file', async () => {
    const err = await backend.inspect(new Uint8Array(0)).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('INVALID_MODEL');
    expect((err as BerthError).message).toMatch(/empty/);
  });

  it('refuses random bytes and a truncated model with a message saying what to check', async () => {
    const random = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    const truncated = readFileSync(fixturePath('digits-cnn')).subarray(0, 20_000);
    for (const bytes of [random, truncated]) {
      const err = await backend.inspect(bytes).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('INVALID_MODEL');
      expect((err as BerthError).message).toMatch(/not a valid ONNX model.*truncated/);
    }
  });
});

describe('OnnxBackend edge cases', () => {
  it('refuses a model whose weights live in external data files, naming them', async () => {
    const { addModel } = await import('../helpers/onnx-proto.js');
    const err = await backend.inspect(addModel({ n: 3, batchDim: 'N', externalWeights: 'weights.bin' })).catch((e: unknown) => e);
    expect((err as BerthError).code).toBe('INVALID_MODEL');
    expect((err as BerthError).message).toMatch(/external data files \(weights\.bin\).*save_as_external_data=False/);
  });

  it('marks a model with a fixed first dimension as not batchable', async () => {
    const { addModel } = await import('../helpers/onnx-proto.js');
    const sig = await backend.inspect(addModel({ n: 3, batchDim: 2 }));
    expect(sig.inputs[0]!.shape).toEqual([2, 3]);
    expect(sig.batchable).toBe(false);
    const dyn = await backend.inspect(addModel({ n: 3, batchDim: 'batch' }));
    expect(dyn.inputs[0]!.dimNames).toEqual(['batch', null]);
    expect(dyn.batchable).toBe(true);
  });
});
