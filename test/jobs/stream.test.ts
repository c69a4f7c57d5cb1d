/*
 * `berth stream run` against a real nats-server with JetStream (BERTH_TEST_NATS_URL, e.g.
 * nats://127.0.0.1:4222). Every test makes its own uniquely named streams and subjects and deletes
 * them afterwards. Results are checked against the fixtures' golden outputs; the crash test kills
 * the real binary (dist/) with SIGKILL mid-stream, restarts it, and counts the output stream.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AckPolicy, connect, headers, nanos, type JetStreamClient, type JetStreamManager, type MsgHdrs, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { runStream, type StreamRun, type StreamSpec, type StreamSummary } from '../../src/jobs/index.js';
import { decodeInferRequest } from '../../src/protocol/index.js';
import { openEmbeddedRegistry, parseCard, type Registry, type VersionRecord } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { ensureDistBuilt, ROOT } from '../helpers/dist.js';
import { compareToGolden, fixturePath, flatten, readGolden, type GoldenTensor } from '../helpers/fixtures.js';

const NATS_URL: string | undefined = process.env['BERTH_TEST_NATS_URL'] || undefined;
const NATS_SKIP_REASON = 'NATS tests skipped: set BERTH_TEST_NATS_URL=nats://127.0.0.1:4222 (a nats-server started with -js) to run them';

const MODELS = ['credit', 'breast-cancer-gbt', 'tabular-mixed'] as const;
type Model = (typeof MODELS)[number];
const bin = path.join(ROOT, 'bin', 'berth.js');

let tmp: string;
let dataDir: string;
let childDir: string;
let registry: Registry;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const versions = new Map<Model, VersionRecord>();
let looseModel: VersionRecord;
const created: string[] = [];
const children = new Set<ChildProcessWithoutNullStreams>();

interface Names {
  input: string;
  output: string;
  dead: string;
  streams: { input: string; output: string; dead: string };
  url: (subject: string) => string;
}

/** Fresh streams IN (input), OUT (results) and DLQ (dead letters), on subjects of their own. */
async function makeStreams(opts: { duplicateWindowMs?: number } = {}): Promise<Names> {
  const tag = randomBytes(5).toString('hex');
  const n: Names = {
    input: `bt.${tag}.in`,
    output: `bt.${tag}.out`,
    dead: `bt.${tag}.out.rejected`,
    streams: { input: `BT_${tag}_IN`, output: `BT_${tag}_OUT`, dead: `BT_${tag}_DLQ` },
    url: (subject) => `${NATS_URL!.replace(/\/+$/, '')}/${subject}`,
  };
  await jsm.streams.add({ name: n.streams.input, subjects: [n.input] });
  created.push(n.streams.input);
  await jsm.streams.add({ name: n.streams.output, subjects: [n.output], ...(opts.duplicateWindowMs !== undefined ? { duplicate_window: nanos(opts.duplicateWindowMs) } : {}) });
  created.push(n.streams.output);
  await jsm.streams.add({ name: n.streams.dead, subjects: [n.dead] });
  created.push(n.streams.dead);
  return n;
}

async function dropStreams(n: Names): Promise<void> {
  for (const s of Object.values(n.streams)) {
    await jsm.streams.delete(s).catch(() => undefined);
    created.splice(created.indexOf(s), 1);
  }
}

interface Stored {
  seq: number;
  body: Record<string, unknown>;
  headers: MsgHdrs | undefined;
}

/** Every message a stream holds, in order. */
async function readStream(stream: string): Promise<Stored[]> {
  const info = await jsm.streams.info(stream);
  const { first_seq: first, last_seq: last, messages } = info.state;
  if (messages === 0) return [];
  const out: Stored[] = [];
  for (let from = first; from <= last; from += 200) {
    const seqs = Array.from({ length: Math.min(200, last - from + 1) }, (_, i) => from + i);
    const got = await Promise.all(seqs.map((seq) => jsm.streams.getMessage(stream, { seq }).catch(() => undefined)));
    for (const m of got) if (m !== undefined) out.push({ seq: m.seq, body: m.json<Record<string, unknown>>(), headers: m.header });
  }
  return out;
}

async function messageCount(stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

/** Publish each body (objects as JSON, strings as they are), a few hundred at a time. */
async function publishAll(subject: string, bodies: readonly unknown[], hdrs?: (i: number) => MsgHdrs | undefined): Promise<void> {
  for (let at = 0; at < bodies.length; at += 250) {
    await Promise.all(bodies.slice(at, at + 250).map((b, k) => {
      const h = hdrs?.(at + k);
      return js.publish(subject, typeof b === 'string' ? b : JSON.stringify(b), h !== undefined ? { headers: h } : {});
    }));
  }
}

/** The inputs of a golden case as friendly rows (features named from the card). */
function goldenRows(model: Model, caseName: string): Record<string, unknown>[] {
  const v = versions.get(model)!;
  const g = readGolden(model).cases.find((c) => c.name === caseName)!;
  const n = g.inputs[v.signature.inputs[0]!.name]!.shape[0]!;
  const rows: Record<string, unknown>[] = Array.from({ length: n }, () => ({}));
  for (const spec of v.signature.inputs) {
    const flat = flatten(g.inputs[spec.name]!.data);
    const width = spec.featureNames!.length;
    spec.featureNames!.forEach((f, c) => {
      for (let r = 0; r < n; r++) rows[r]![f] = flat[r * width + c];
    });
  }
  return rows;
}

/** Results (by id) equal the golden labels and probabilities of rows 0..n-1, whose ids `idOf` gives. */
function expectGolden(model: Model, caseName: string, byId: Map<string, Record<string, unknown>>, idOf: (r: number) => string): void {
  const g = readGolden(model);
  const gc = g.cases.find((c) => c.name === caseName)!;
  const names = versions.get(model)!.card!.classes!.names!;
  const n = (gc.expected['label'] as GoldenTensor).shape[0]!;
  const labels: number[] = [];
  const probs: number[] = [];
  for (let r = 0; r < n; r++) {
    const res = byId.get(idOf(r));
    expect(res, `result for ${idOf(r)}`).toBeDefined();
    labels.push(names.indexOf(String(res!['label'])));
    for (const c of names) probs.push(Number(res![`p_${c}`]));
  }
  expect(compareToGolden(labels, gc.expected['label']!, g.tolerance['label']!)).toBeNull();
  expect(compareToGolden(probs, gc.expected['probabilities']!, g.tolerance['probabilities']!)).toBeNull();
}

function byId(stored: readonly Stored[]): Map<string, Record<string, unknown>> {
  return new Map(stored.map((s) => [String(s.body['id']), s.body] as const));
}

function spec(model: Model, n: Names, extra: Partial<StreamSpec> = {}): StreamSpec {
  return { version: versions.get(model)!, from: n.url(n.input), to: n.output, stopWhenEmpty: true, ...extra };
}

async function runToEnd(s: StreamSpec): Promise<StreamSummary> {
  const run = await runStream(s, { registry, decodeV2: (body) => decodeInferRequest(body).inputs });
  return run.done;
}

beforeAll(async () => {
  if (NATS_URL === undefined) return;
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-stream-'));
  dataDir = path.join(tmp, 'data');
  childDir = path.join(tmp, 'child');
  registry = await openEmbeddedRegistry(dataDir, { defaultActor: 'test' });
  const backend = new OnnxBackend();
  const inspect = (bytes: Uint8Array) => backend.inspect(bytes);
  for (const m of MODELS) {
    const card = parseCard(readFileSync(fixturePath(m, 'card.json'), 'utf8'), 'card.json');
    const r = await registry.registerVersion({ name: m, filePath: fixturePath(m), card, inspect });
    versions.set(m, r.version);
  }
  // tabular-mixed without the card's id range and vocabulary: an id past the embedding table reaches the
  // runtime, which fails the whole batch (Gather out of bounds): a real model failure
  const loose = JSON.parse(readFileSync(fixturePath('tabular-mixed', 'card.json'), 'utf8')) as { inputs: Record<string, unknown>[] };
  for (const i of loose.inputs) {
    delete i['valid_range'];
    delete i['vocabulary'];
  }
  const looseVersion = await registry.registerVersion({ name: 'tabular-loose', filePath: fixturePath('tabular-mixed'), card: parseCard(JSON.stringify(loose), 'card.json'), inspect });
  looseModel = looseVersion.version;
  // the child processes get a data dir of their own
  const child = await openEmbeddedRegistry(childDir, { defaultActor: 'test' });
  await child.registerVersion({ name: 'credit', filePath: fixturePath('credit'), card: parseCard(readFileSync(fixturePath('credit', 'card.json'), 'utf8'), 'card.json'), inspect });
  await child.close();
  nc = await connect({ servers: NATS_URL.replace(/^nats:\/\//, '') });
  js = nc.jetstream();
  jsm = await nc.jetstreamManager();
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const s of [...created]) await jsm?.streams.delete(s).catch(() => undefined);
  await nc?.close();
  await registry?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe.skipIf(!NATS_URL)(`berth stream run over NATS JetStream${NATS_URL ? '' : ` (${NATS_SKIP_REASON})`}`, () => {
  it('publishes one result per row with the golden labels and probabilities, Nats-Msg-Id model@version/id and the input headers', async () => {
    const n = await makeStreams();
    const rows = goldenRows('credit', 'golden_32');
    // rows 1–16 one per message (the first with a trace header), 17–32 as one array message
    const bodies: unknown[] = rows.slice(0, 16).map((r, i) => ({ id: `r${i + 1}`, ...r }));
    bodies.push(rows.slice(16).map((r, i) => ({ id: `r${i + 17}`, ...r })));
    await publishAll(n.input, bodies, (i) => {
      if (i !== 0) return undefined;
      const h = headers();
      h.set('X-Trace', 'abc123');
      return h;
    });
    const s = await runToEnd(spec('credit', n, { batchRows: 8 }));
    expect(s).toMatchObject({ model: 'credit', version: 1, messages: 17, acked: 17, rows: 32, published: 32, duplicates: 0, rejected: 0, failed: 0, inflight: 0, inputStream: n.streams.input, outputStream: n.streams.output });
    const out = await readStream(n.streams.output);
    expect(out).toHaveLength(32);
    const names = versions.get('credit')!.card!.classes!.names!;
    expect(Object.keys(out[0]!.body)).toEqual(['id', 'model', 'version', 'label', ...names.map((c) => `p_${c}`)]);
    expectGolden('credit', 'golden_32', byId(out), (r) => `r${r + 1}`);
    for (const m of out) expect(m.headers?.get('Nats-Msg-Id')).toBe(`credit@1/${String(m.body['id'])}`);
    expect(out.find((m) => m.body['id'] === 'r1')!.headers?.get('X-Trace')).toBe('abc123');
    expect(await messageCount(n.streams.dead)).toBe(0);
    await dropStreams(n);
  });

  it('reads Open Inference Protocol v2 request bodies with --format v2 (several rows per request)', async () => {
    const n = await makeStreams();
    const g = readGolden('breast-cancer-gbt').cases.find((c) => c.name === 'golden_32')!;
    const flat = flatten(g.inputs['input']!.data) as number[];
    const bodies = Array.from({ length: 8 }, (_, k) => ({
      id: `req${k + 1}`,
      inputs: [{ name: 'input', datatype: 'FP32', shape: [4, 30], data: flat.slice(k * 120, (k + 1) * 120) }],
    }));
    await publishAll(n.input, bodies);
    const s = await runToEnd(spec('breast-cancer-gbt', n, { format: 'v2', batchRows: 10 }));
    expect(s).toMatchObject({ acked: 8, rows: 32, published: 32, rejected: 0 });
    const out = await readStream(n.streams.output);
    expect(out).toHaveLength(32);
    expectGolden('breast-cancer-gbt', 'golden_32', byId(out), (r) => `req${Math.floor(r / 4) + 1}:${(r % 4) + 1}`);
    await dropStreams(n);
  });

  it('never publishes a second result for a redelivered or replayed input: JetStream drops it as a duplicate', async () => {
    const n = await makeStreams();
    const rows = goldenRows('credit', 'golden_32').slice(0, 10);
    // five with ids, five without (their id is the stream sequence, the same on every delivery)
    await publishAll(n.input, rows.map((r, i) => (i < 5 ? { id: `d${i + 1}`, ...r } : r)));
    const first = await runToEnd(spec('credit', n, { durable: 'first' }));
    expect(first).toMatchObject({ acked: 10, published: 10, duplicates: 0 });
    const before = await readStream(n.streams.output);
    expect(before.map((m) => m.body['id'])).toEqual(['d1', 'd2', 'd3', 'd4', 'd5', 6, 7, 8, 9, 10]);

    // a replay: another durable consumer reads every input again
    const replay = await runToEnd(spec('credit', n, { durable: 'replay' }));
    expect(replay).toMatchObject({ acked: 10, published: 10, duplicates: 10 });

    // a redelivery: three messages taken and never acked (a consumer that died) come again after the ack wait
    await jsm.consumers.add(n.streams.input, { durable_name: 'again', ack_policy: AckPolicy.Explicit, filter_subject: n.input, ack_wait: nanos(1000) });
    const taken = await (await js.consumers.get(n.streams.input, 'again')).fetch({ max_messages: 3, expires: 1000 });
    let held = 0;
    for await (const _ of taken) held++;
    expect(held).toBe(3);
    const again = await runToEnd(spec('credit', n, { durable: 'again' }));
    expect(again).toMatchObject({ acked: 10, duplicates: 10 });
    expect(again.messages).toBe(10);

    const after = await readStream(n.streams.output);
    expect(after.map((m) => m.body)).toEqual(before.map((m) => m.body));
    await dropStreams(n);
  });

  it('sends messages it cannot score to the dead-letter subject with the reason, row and field, acks them and goes on', async () => {
    const n = await makeStreams();
    const [a, b] = goldenRows('credit', 'golden_32');
    const { age: _age, ...noAge } = a!;
    const bodies: unknown[] = [
      'not json {',
      { id: 'm1', ...noAge },
      { id: 't1', ...a, age: 'forty' },
      [{ id: 'g1', ...a }, { id: 'h1', ...b, home_ownership: 7 }],
      [],
      42,
      { id: { nested: true }, ...a },
      { id: 'g2', ...b },
    ];
    await publishAll(n.input, bodies);
    const s = await runToEnd(spec('credit', n, { deadLetter: n.dead }));
    expect(s).toMatchObject({ messages: 8, acked: 8, rows: 2, published: 2, rejected: 7, failed: 0 });
    expect((await readStream(n.streams.output)).map((m) => m.body['id'])).toEqual(['g1', 'g2']);
    const dead = (await readStream(n.streams.dead)).map((m) => m.body);
    const seqOf = (d: Record<string, unknown>) => (d['input'] as { seq: number }).seq;
    expect(dead.map((d) => [seqOf(d), d['row'], d['field']])).toEqual(expect.arrayContaining([
      [1, undefined, undefined], [2, 1, 'age'], [3, 1, 'age'], [4, 2, 'home_ownership'], [5, undefined, undefined], [6, undefined, undefined], [7, 1, 'id'],
    ]));
    const reason = (seq: number) => String(dead.find((d) => seqOf(d) === seq)!['reason']);
    expect(reason(1)).toMatch(/^not JSON .*expected a JSON object of one row/);
    expect(reason(2)).toMatch(/^missing; the model needs 15 features: "age", /);
    expect(reason(3)).toBe('expected a number (null for a missing value), got "forty"');
    expect(reason(4)).toBe('expected a string, got 7');
    expect(reason(5)).toMatch(/empty array/);
    expect(reason(6)).toMatch(/got 42$/);
    expect(reason(7)).toMatch(/expected the id as a non-empty string or a number, got an object/);
    expect(dead.find((d) => seqOf(d) === 4)).toMatchObject({ model: 'credit', version: 1, id: 'h1', data: { id: 'h1', home_ownership: 7 } });
    expect(dead.find((d) => seqOf(d) === 1)!['data']).toBe('not json {');
    const info = await jsm.consumers.info(n.streams.input, s.consumer);
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0]);

    // an unknown category of an integer-coded input is the mapping's row error
    const t = await makeStreams();
    const [row] = goldenRows('tabular-mixed', 'golden_32');
    await publishAll(t.input, [{ id: 'c1', ...row, city_id: 'atlantis' }, { id: 'c2', ...row, city_id: 'boston' }, { id: 'c3', ...row, city_id: 12 }]);
    const ts = await runToEnd(spec('tabular-mixed', t));
    expect(ts).toMatchObject({ acked: 3, published: 1, rejected: 2 });
    const scored = await readStream(t.streams.output);
    expect(scored.map((m) => m.body['id'])).toEqual(['c2']);
    const tdead = (await readStream(t.streams.dead)).map((m) => m.body);
    expect(tdead.map((d) => [d['id'], d['field']])).toEqual([['c1', 'city_id'], ['c3', 'city_id']]);
    expect(String(tdead[0]!['reason'])).toMatch(/^unknown category "atlantis"; known: austin, boston/);
    expect(String(tdead[1]!['reason'])).toMatch(/^expected an id in \[0, 11\]/);
    await dropStreams(n);
    await dropStreams(t);
  });

  it('naks a message the model fails on with a delay, answers its neighbours, and dead-letters it after --max-attempts', async () => {
    const n = await makeStreams();
    const [row] = goldenRows('tabular-mixed', 'golden_32');
    await publishAll(n.input, [{ id: 'ok1', ...row, city_id: 1 }, { id: 'bad', ...row, city_id: 12 }, { id: 'ok2', ...row, city_id: 2 }]);
    const run = await runStream({ version: looseModel, from: n.url(n.input), to: n.output, deadLetter: n.dead, stopWhenEmpty: true, retryDelayMs: 200, maxAttempts: 3, maxDelayMs: 50 }, { registry });
    const s = await run.done;
    // delivered three times, nak'ed twice, then dead-lettered and acked
    expect(s).toMatchObject({ messages: 5, acked: 3, published: 2, failed: 2, rejected: 1 });
    expect((await readStream(n.streams.output)).map((m) => m.body['id']).sort()).toEqual(['ok1', 'ok2']);
    const dead = (await readStream(n.streams.dead)).map((m) => m.body);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ model: 'tabular-loose', input: { seq: 2, deliveries: 3 } });
    expect(String(dead[0]!['reason'])).toMatch(/^the model failed on this message 3 times \(--max-attempts 3\): /);
    expect(JSON.parse(String(dead[0]!['data']))).toMatchObject({ id: 'bad', city_id: 12 });
    await dropStreams(n);
  });

  it('never has more than --max-inflight messages pulled and unacked, however large the backlog', async () => {
    const n = await makeStreams();
    const rows = goldenRows('credit', 'golden_32');
    const total = 3000;
    await publishAll(n.input, Array.from({ length: total }, (_, i) => ({ id: `b${i + 1}`, ...rows[i % 32] })));
    const maxInflight = 24;
    const run: StreamRun = await runStream(spec('credit', n, { maxInflight, batchRows: 8 }), { registry });
    let sampled = 0;
    let sampledPeak = 0;
    let serverPeak = 0;
    const local = setInterval(() => {
      const st = run.stats();
      sampled++;
      sampledPeak = Math.max(sampledPeak, st.inflight);
    }, 2);
    // the server's own count of delivered and unacked messages, from outside
    let watching = true;
    const server = (async () => {
      while (watching) {
        const info = await jsm.consumers.info(n.streams.input, run.summary.consumer).catch(() => undefined);
        if (info !== undefined) serverPeak = Math.max(serverPeak, info.num_ack_pending);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const s = await run.done;
    clearInterval(local);
    watching = false;
    await server;
    expect(s).toMatchObject({ acked: total, published: total, rejected: 0 });
    expect(s.peakInflight).toBeLessThanOrEqual(maxInflight);
    expect(s.peakInflight).toBeGreaterThanOrEqual(16);
    expect(sampled).toBeGreaterThan(10);
    expect(sampledPeak).toBeLessThanOrEqual(maxInflight);
    // the server handles acks and pull requests apart, so its count may lag acks already sent; it
    // stays near the bound all the same, far below the backlog and the consumer's own limit (1,000)
    expect(serverPeak).toBeGreaterThan(0);
    expect(serverPeak).toBeLessThanOrEqual(4 * maxInflight);
    expect(await messageCount(n.streams.output)).toBe(total);
    await dropStreams(n);
  });

  it('explains a missing stream, and teaches with --help', async () => {
    const n = await makeStreams();
    const cli = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
      let out = '';
      let err = '';
      const code = await main(['node', 'berth', '--data-dir', dataDir, ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
      return { code, out, err };
    };
    const help = await cli(['stream', 'run', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('Examples:');
    expect(help.out).toContain('nats stream add');
    expect(help.out).toContain('--max-inflight');
    const nowhere = `bt.${randomBytes(4).toString('hex')}.nowhere`;
    const noInput = await cli(['stream', 'run', '--model', 'credit', '--from', n.url(nowhere), '--to', n.output]);
    expect(noInput.code).toBe(1);
    expect(noInput.err).toContain(`--from: no JetStream stream on`);
    expect(noInput.err).toContain(`"${nowhere}"`);
    expect(noInput.err).toContain(`nats stream add INPUTS --subjects '${nowhere}'`);
    const noOutput = await cli(['stream', 'run', '--model', 'credit', '--from', n.url(n.input), '--to', nowhere]);
    expect(noOutput.code).toBe(1);
    expect(noOutput.err).toMatch(/--to: no JetStream stream .*duplicate window/);
    const loop = await cli(['stream', 'run', '--model', 'credit', '--from', n.url('bt.>'), '--to', n.output]);
    expect(loop.err).toContain('would consume its own output');
    const down = await cli(['stream', 'run', '--model', 'credit', '--from', 'nats://127.0.0.1:1/x', '--to', 'y']);
    expect(down.code).toBe(1);
    expect(down.err).toContain('cannot connect to NATS at 127.0.0.1:1');
    await dropStreams(n);
  });

  it('gives every input exactly one correct result after the consumer process is killed with SIGKILL mid-stream, twice', async () => {
    ensureDistBuilt(path.join('cli', 'commands', 'stream.js'));
    const n = await makeStreams();
    const rows = goldenRows('credit', 'heldout_2000');
    const total = rows.length;
    const args = ['--local', '--data-dir', childDir, 'stream', 'run', '--model', 'credit', '--from', n.url(n.input), '--to', n.output,
      '--batch-rows', '32', '--max-inflight', '256', '--ack-wait-ms', '1000', '--json'];

    /** The real binary; resolves once it consumes (its start line on stderr). */
    const start = async (): Promise<{ child: ChildProcessWithoutNullStreams; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> }> => {
      const child = spawn(process.execPath, [bin, ...args], { cwd: tmp, env: { ...process.env, CI: '1' } });
      children.add(child);
      let out = '';
      let err = '';
      let ready!: () => void;
      const consuming = new Promise<void>((r) => (ready = r));
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => {
        err += d;
        if (err.includes(' consuming ')) ready();
      });
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) => child.on('close', (code, signal) => {
        children.delete(child);
        ready();
        resolve({ code, signal, out, err });
      }));
      await consuming;
      return { child, exit };
    };
    const waitForResults = async (atLeast: number, ms: number): Promise<number> => {
      const t0 = Date.now();
      for (;;) {
        const c = await messageCount(n.streams.output);
        if (c >= atLeast || Date.now() - t0 > ms) return c;
        await new Promise((r) => setTimeout(r, 10));
      }
    };

    let child = await start();
    // a paced producer (50 messages every 150 ms, about 6 s in all), so the kills land while messages still arrive
    const producing = (async () => {
      for (let at = 0; at < total; at += 50) {
        await publishAll(n.input, rows.slice(at, at + 50).map((r, i) => ({ id: `h${at + i + 1}`, ...r })));
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    const atKill: number[] = [];
    for (const threshold of [400, 1100]) {
      atKill.push(await waitForResults(threshold, 20_000));
      child.child.kill('SIGKILL');
      const r = await child.exit;
      expect(r.signal).toBe('SIGKILL');
      child = await start();
    }
    await producing;
    // every input has its result (redeliveries of what the killed processes held come after the ack wait)
    expect(await waitForResults(total, 30_000)).toBe(total);
    child.child.kill('SIGTERM');
    const last = await child.exit;
    expect(last.code, last.err).toBe(0);
    const summary = JSON.parse(last.out) as StreamSummary;
    expect(summary.inflight).toBe(0);

    // killed mid-stream: results had started and were not all there
    for (const c of atKill) {
      expect(c).toBeGreaterThan(0);
      expect(c).toBeLessThan(total);
    }
    const info = await jsm.consumers.info(n.streams.input, summary.consumer);
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0]);
    const out = await readStream(n.streams.output);
    const ids = out.map((m) => String(m.body['id']));
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
    expectGolden('credit', 'heldout_2000', byId(out), (r) => `h${r + 1}`);
    await dropStreams(n);
  }, 60_000);
});
