/*
 * The built-in steps on a real embedded registry with the credit fixture: evaluate (a file and a
 * registry version), compare, register (lineage, the same bytes twice), rollout without a server,
 * and notify to a real HTTP receiver, including after a failure.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinSteps, executeRun, localHolder, parsePipelineText, resolveParams, RunStore, type PipelineHost, type RunRecord } from '../../src/pipelines/index.js';
import { openEmbeddedRegistry, parseCard, type Registry } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { fixturePath } from '../helpers/fixtures.js';

let dir: string;
let registry: Registry;
let store: RunStore;
let receiver: Server;
let receiverUrl: string;
const received: { status: number; body: Record<string, unknown>; raw: string; headers: Record<string, string | string[] | undefined> }[] = [];
let answerStatus = 200;
const backend = new OnnxBackend();

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-builtins-'));
  registry = await openEmbeddedRegistry(path.join(dir, 'data'));
  store = new RunStore(registry);
  const card = parseCard(readFileSync(fixturePath('credit', 'card.json'), 'utf8'), 'card.json');
  await registry.registerVersion({ name: 'credit', filePath: fixturePath('credit'), card, inspect: (b) => backend.inspect(b) });
  await registry.setAlias('credit', 'production', 1);
  receiver = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => { text += c.toString(); });
    req.on('end', () => {
      received.push({ status: answerStatus, body: JSON.parse(text) as Record<string, unknown>, raw: text, headers: req.headers });
      res.writeHead(answerStatus).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
}, 60_000);

afterAll(async () => {
  await new Promise((r) => receiver.close(r));
  await registry.close();
  await rm(dir, { recursive: true, force: true });
});

function host(extra: Partial<PipelineHost> = {}): PipelineHost {
  return {
    registry, store, actor: 'tester',
    register: async (req) => {
      const card = req.cardPath ? parseCard(readFileSync(req.cardPath, 'utf8'), req.cardPath) : undefined;
      return registry.registerVersion({ name: req.name, filePath: req.filePath, lineage: req.lineage, ...(card ? { card } : {}), ...(req.tags ? { tags: req.tags } : {}), inspect: (b) => backend.inspect(b) });
    },
    ...extra,
  };
}

async function run(yaml: string, h: PipelineHost = host(), params: Record<string, string> = {}): Promise<RunRecord> {
  const spec = parsePipelineText(yaml);
  const created = await store.createRun({
    spec, sourceSha256: 'x', pipelineVersion: null, params: resolveParams(spec, params), trigger: { kind: 'cli' }, workdir: dir,
    code: { commit: 'a'.repeat(40), dirty: false }, mode: 'local', actor: 'tester', holder: localHolder(),
  });
  return executeRun(created, { store, artifacts: registry.artifacts, runsDir: path.join(dir, 'runs'), holder: localHolder(), builtins: builtinSteps(h), heartbeatMs: 200 });
}

const byName = (r: RunRecord) => Object.fromEntries(r.steps.map((s) => [s.name, s]));

describe('built-in steps', () => {
  it('evaluate a file and a registry version, compare them, register the candidate with the run\'s lineage', async () => {
    const node = JSON.stringify(process.execPath);
    const model = fixturePath('credit');
    const yaml = `
pipeline: builtins
params: { holdout: ${fixturePath('credit', 'current_nodrift.csv')} }
steps:
  train:
    run: [${node}, -e, "const fs=require('fs');fs.copyFileSync(process.argv[1],process.argv[2]);fs.copyFileSync(process.argv[3],process.argv[4])", ${JSON.stringify(model)}, "\${outputs.model}", ${JSON.stringify(fixturePath('credit', 'card.json'))}, "\${outputs.card}"]
    data: [${JSON.stringify(fixturePath('credit', 'reference.csv'))}]
    outputs: { model: model.onnx, card: card.json }
  cand:
    uses: evaluate
    needs: [train]
    with: { model: "\${steps.train.outputs.model}", card: "\${steps.train.outputs.card}", dataset: "\${params.holdout}" }
  champ:
    uses: evaluate
    with: { model: credit@production, dataset: "\${params.holdout}" }
  gate:
    uses: compare
    needs: [cand, champ]
    with: { candidate: cand, champion: champ }
  register:
    uses: register
    needs: [gate, train]
    with: { model: credit, file: "\${steps.train.outputs.model}", card: "\${steps.train.outputs.card}", alias: candidate, tags: { team: risk } }
`;
    const r = await run(yaml);
    expect(r.state, JSON.stringify(r.steps.map((s) => [s.name, s.error]))).toBe('succeeded');
    const s = byName(r);
    // the fixture's documented figures
    expect((s['cand']!.result!['evaluation'] as { metrics: Record<string, number> }).metrics['accuracy']).toBeCloseTo(0.8663, 4);
    expect(s['gate']!.result).toMatchObject({ passed: true });
    // the same bytes as version 1: nothing new is registered, the alias still moves
    expect(s['register']!.result).toMatchObject({ model: 'credit', version: 1, created: false });
    expect(await registry.resolve('credit@candidate')).toMatchObject({ version: 1 });
    expect(r.result).toMatchObject({ model: 'credit', version: 1, gate: { passed: true } });
    const metrics = await store.metrics(r.id);
    expect(metrics.find((m) => m.step === 'champ' && m.key === 'roc_auc')!.value).toBeCloseTo(0.774, 3);
  }, 60_000);

  it('register records the run, the commit, the training data, the params and the parent', async () => {
    const node = JSON.stringify(process.execPath);
    // a model of its own (another fixture), so the registered version is new
    const yaml = `
pipeline: lineage
params: { lr: 0.3 }
steps:
  train:
    run: [${node}, -e, "require('fs').copyFileSync(process.argv[1],process.argv[2])", ${JSON.stringify(fixturePath('breast-cancer-logreg'))}, "\${outputs.model}"]
    data: [${JSON.stringify(fixturePath('breast-cancer-logreg', 'reference.csv'))}]
    outputs: { model: model.onnx }
  register:
    uses: register
    needs: [train]
    with: { model: bc, file: "\${steps.train.outputs.model}", card: ${JSON.stringify(fixturePath('breast-cancer-logreg', 'card.json'))} }
`;
    const r = await run(yaml);
    expect(r.state, JSON.stringify(r.steps.map((s) => [s.name, s.error]))).toBe('succeeded');
    const v = await registry.getVersion('bc', 1);
    expect(v.lineage).toMatchObject({
      pipeline: 'lineage', pipelineRun: r.id, gitCommit: 'a'.repeat(40), gitDirty: false, params: { lr: 0.3 },
      datasets: [{ path: fixturePath('breast-cancer-logreg', 'reference.csv'), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) }],
    });
    // no production alias of bc yet: no parent
    expect(v.lineage.parent).toBeUndefined();
    expect(v.tags).toMatchObject({ 'berth.pipeline': 'lineage', 'berth.run': String(r.id) });
  }, 60_000);

  it('rollout without a server fails and says how to get one', async () => {
    const r = await run(`
pipeline: roll
steps:
  rollout:
    uses: rollout
    with: { deployment: credit, version: 1 }
`);
    expect(byName(r)['rollout']!.error).toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('start `berth serve`') });
  });

  it('notify posts the run, signed, to a webhook after a failure; a receiver answering 500 three times fails the step', async () => {
    received.length = 0;
    const node = JSON.stringify(process.execPath);
    const yaml = `
pipeline: notified
steps:
  train:
    run: [${node}, -e, "process.exit(4)"]
  tell:
    uses: notify
    needs: [train]
    when: failure
    with: { url: "${receiverUrl}", secretEnv: BERTH_TEST_HOOK_SECRET }
`;
    process.env['BERTH_TEST_HOOK_SECRET'] = 'hook-secret';
    const r = await run(yaml);
    expect(r.state).toBe('failed');
    expect(byName(r)['tell']!.state).toBe('succeeded');
    expect(received).toHaveLength(1);
    expect(received[0]!.body).toMatchObject({
      pipeline: 'notified', run: r.id, text: expect.stringContaining('train failed'),
      steps: expect.arrayContaining([expect.objectContaining({ name: 'train', state: 'failed' })]),
    });
    // signed as alert webhooks are: HMAC-SHA256 of "<timestamp>.<body>"
    const h = received[0]!.headers;
    expect(h['x-berth-signature']).toBe(`sha256=${createHmac('sha256', 'hook-secret').update(`${String(h['x-berth-timestamp'])}.${received[0]!.raw}`).digest('hex')}`);
    answerStatus = 500;
    const again = await run(yaml);
    expect(byName(again)['tell']!.error).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('answered 500 (3 attempts)') });
    answerStatus = 200;
    delete process.env['BERTH_TEST_HOOK_SECRET'];
    const unsigned = await run(yaml);
    expect(byName(unsigned)['tell']!.error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('BERTH_TEST_HOOK_SECRET is not set') });
  });
});
