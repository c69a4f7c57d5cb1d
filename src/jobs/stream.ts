/**
 * Streaming inference over NATS JetStream: a durable pull consumer with explicit acks →
 * micro-batches → one Scorer → results published with a `Nats-Msg-Id` of `<model>@<version>/<id>`,
 * each input acked only once JetStream has acknowledged everything it produced. At-least-once
 * input, effectively-once output: a redelivered input re-publishes the same id, which the output
 * stream's duplicate window drops (docs/streaming.md).
 *
 * Backpressure: pulls ask for no more than the room left under `maxInflight` (messages pulled and
 * not yet acked or nak'ed), so memory is bounded by it, whatever the backlog.
 */
import { createHash } from 'node:crypto';
import type { ConnectionOptions, Consumer, JetStreamClient, JetStreamManager, JsMsg, MsgHdrs, NatsConnection } from 'nats';
import { BerthError, allocateData, isBerthError, type Datatype, type Signature, type Tensor, type TensorData } from '../core/index.js';
import type { VersionRecord } from '../registry/index.js';
import type { ModelArtifacts } from './scorer.js';
import { FeatureMapping } from './mapping.js';
import { Scorer } from './scorer.js';
import type { Cell } from './source.js';

/** What one input message holds. */
export const STREAM_FORMATS = ['json', 'v2'] as const;
export type StreamFormat = (typeof STREAM_FORMATS)[number];

/** A streaming job, as the user asked for it. */
export interface StreamSpec {
  /** the version to score with (resolved by the caller) */
  version: VersionRecord;
  /** `nats://host:4222/subject` (the subject may hold wildcards: it is the consumer's filter) */
  from: string;
  /** `nats://host:4222/subject` on the same server, or a bare subject */
  to: string;
  /** subject of messages that cannot be scored (default `<to>.rejected`) */
  deadLetter?: string;
  /** durable consumer name (default `berth_<model>_<hash of from and to>`) */
  durable?: string;
  /** `json` (default): one row object or an array of them; `v2`: an Open Inference Protocol v2 request body */
  format?: StreamFormat;
  /** the row field holding its id (default `id`); absent, the message's stream sequence is the id */
  idField?: string;
  /** rows per runtime call (default 256) */
  batchRows?: number;
  /** longest wait for a fuller batch, in ms (default 5) */
  maxDelayMs?: number;
  /** messages pulled and not yet acked, at most (default 4 × batchRows) */
  maxInflight?: number;
  /** the consumer's ack wait in ms: an unacked message is redelivered after it (new consumers: 30,000) */
  ackWaitMs?: number;
  /** nak delay after a model failure, in ms (default 1,000) */
  retryDelayMs?: number;
  /** deliveries of one message the model may fail on before it goes to the dead-letter subject (default 5) */
  maxAttempts?: number;
  /** stop once the consumer has nothing pending and nothing unacked (a catch-up run) */
  stopWhenEmpty?: boolean;
}

/** What a stream needs besides its spec. */
export interface StreamDeps {
  /** where the model file comes from (a Registry, or a server's API) */
  registry: ModelArtifacts;
  /**
   * Decodes an Open Inference Protocol v2 request body into tensors; needed for `format: 'v2'`.
   * Injected because the codec lives in the protocol layer, above jobs.
   */
  decodeV2?: (body: unknown) => Tensor[];
  /** called about once a second with fresh numbers */
  onProgress?: (stats: StreamStats) => void;
  /** things worth a line on stderr that do not stop the stream */
  onWarning?: (message: string) => void;
  now?: () => number;
}

/** Live numbers of a running stream. */
export interface StreamStats {
  /** messages received from the consumer, redeliveries included */
  messages: number;
  /** messages acknowledged: every row published or dead-lettered */
  acked: number;
  /** rows scored */
  rows: number;
  /** results JetStream accepted, duplicates included */
  published: number;
  /** results JetStream dropped as already stored (a redelivered or replayed input) */
  duplicates: number;
  /** rows and messages sent to the dead-letter subject */
  rejected: number;
  /** messages nak'ed because the model failed on them */
  failed: number;
  /** messages nak'ed because a publish failed */
  publishErrors: number;
  /** messages pulled and not yet acked or nak'ed, now */
  inflight: number;
  /** the most `inflight` has been */
  peakInflight: number;
  /** the consumer's messages not yet delivered, at the last look (about once a second) */
  pending: number | undefined;
  seconds: number;
  /** acked messages per second since the start */
  messagesPerSecond: number;
}

/** Where a stream ran, and its numbers at the end. */
export interface StreamSummary extends StreamStats {
  model: string;
  version: number;
  from: string;
  to: string;
  deadLetter: string;
  /** the streams holding `from` and `to`, and the durable consumer */
  inputStream: string;
  outputStream: string;
  consumer: string;
}

/** A running stream. */
export interface StreamRun {
  /** resolves when the stream stopped (stop(), stopWhenEmpty or abort()); rejects on a fatal error */
  readonly done: Promise<StreamSummary>;
  /** stop pulling, finish in-flight batches, ack, drain the connection; resolves with the summary */
  stop(): Promise<StreamSummary>;
  /** close the connection at once; unacked messages are redelivered after the ack wait */
  abort(): Promise<void>;
  stats(): StreamStats;
  readonly summary: Omit<StreamSummary, keyof StreamStats>;
}

const DEFAULT_BATCH_ROWS = 256;
const DEFAULT_MAX_DELAY_MS = 5;
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_RETRY_DELAY_MS = 1_000;
const DEFAULT_MAX_ATTEMPTS = 5;
/** a pull request lives this long; stop() waits for the open ones */
const FETCH_EXPIRES_MS = 1_000;
const POLL_MS = 1_000;
const PUBLISH_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Addresses and names: pure.

/** A NATS server and subject, from `nats://[user:pass@]host[:port]/subject`. */
export interface NatsAddress {
  /** `host:port` */
  server: string;
  tls: boolean;
  user?: string;
  pass?: string;
  subject: string;
}

/**
 * Parse `--from`/`--to`: `nats://host:4222/subject` (also `tls://`, credentials in the URL), or a
 * bare subject when `base` gives the server.
 *
 * @example
 * parseNatsAddress('--from', 'nats://127.0.0.1:4222/orders.new') // → { server: '127.0.0.1:4222', subject: 'orders.new', tls: false }
 */
export function parseNatsAddress(flag: string, text: string, base?: NatsAddress): NatsAddress {
  const field = flag.replace(/^--/, '');
  let address: NatsAddress;
  if (/^[a-z]+:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new BerthError('INVALID_ARGUMENT', `${flag}: expected nats://host:4222/subject, got ${JSON.stringify(text)}`, { field, expected: 'nats://host:4222/subject', got: text });
    }
    if (url.protocol !== 'nats:' && url.protocol !== 'tls:') {
      throw new BerthError('INVALID_ARGUMENT', `${flag}: expected a nats:// (or tls://) URL, got ${JSON.stringify(text)}`, { field, expected: 'nats://host:4222/subject', got: text });
    }
    const subject = decodeURIComponent(url.pathname.replace(/^\//, ''));
    address = {
      server: `${url.hostname}:${url.port || '4222'}`,
      tls: url.protocol === 'tls:',
      subject,
      ...(url.username !== '' ? { user: decodeURIComponent(url.username) } : {}),
      ...(url.password !== '' ? { pass: decodeURIComponent(url.password) } : {}),
    };
    if (subject === '') {
      throw new BerthError('INVALID_ARGUMENT', `${flag}: ${JSON.stringify(text)} names no subject; put it after the server: nats://${address.server}/orders.new`, { field, expected: 'nats://host:4222/subject', got: text });
    }
    if (base !== undefined && (base.server !== address.server || base.tls !== address.tls)) {
      throw new BerthError('INVALID_ARGUMENT', `${flag}: ${JSON.stringify(text)} is on ${address.server}, but --from is on ${base.server}; both must be on one NATS server (or cluster); give a bare subject to publish where --from is`, { field, expected: base.server, got: address.server });
    }
  } else {
    if (base === undefined) {
      throw new BerthError('INVALID_ARGUMENT', `${flag}: expected nats://host:4222/subject, got ${JSON.stringify(text)}`, { field, expected: 'nats://host:4222/subject', got: text });
    }
    address = { ...base, subject: text };
  }
  const problem = subjectProblem(address.subject);
  if (problem !== undefined) {
    throw new BerthError('INVALID_ARGUMENT', `${flag}: subject ${JSON.stringify(address.subject)} ${problem}`, { field, got: address.subject });
  }
  return address;
}

function subjectProblem(subject: string): string | undefined {
  if (/\s/.test(subject)) return 'contains white space; NATS subjects are dot-separated tokens like orders.new';
  const tokens = subject.split('.');
  if (tokens.some((t) => t === '')) return 'has an empty token (two dots in a row, or a dot at an end)';
  const bad = tokens.findIndex((t, i) => (t.includes('>') && (t !== '>' || i !== tokens.length - 1)) || (t.includes('*') && t !== '*'));
  if (bad >= 0) return `has a misplaced wildcard in token ${JSON.stringify(tokens[bad])} (* stands for a whole token, > only for the last one)`;
  return undefined;
}

/** Does a subject filter (wildcards `*` and `>` allowed) match a concrete subject? */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

/** The default durable name: the model's name and a hash of both subjects, so the same command resumes. */
export function defaultDurableName(model: string, from: NatsAddress, to: NatsAddress): string {
  const hash = createHash('sha256').update(`${from.server}\n${from.subject}\n${to.subject}`).digest('hex').slice(0, 10);
  return `berth_${model.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60)}_${hash}`;
}

function positive(flag: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) {
    throw new BerthError('INVALID_ARGUMENT', `${flag}: expected a whole number ≥ ${min}, got ${v}`, { field: flag.replace(/^--/, ''), expected: `≥ ${min}`, got: v });
  }
  return v;
}

/** A spec with every default applied and every address parsed. */
interface StreamPlan {
  from: NatsAddress;
  to: NatsAddress;
  deadLetter: NatsAddress;
  durable: string;
  format: StreamFormat;
  idField: string;
  batchRows: number;
  maxDelayMs: number;
  maxInflight: number;
  ackWaitMs: number | undefined;
  retryDelayMs: number;
  maxAttempts: number;
}

function planStream(spec: StreamSpec): StreamPlan {
  const from = parseNatsAddress('--from', spec.from);
  const to = parseNatsAddress('--to', spec.to, from);
  const deadLetter = parseNatsAddress('--dead-letter', spec.deadLetter ?? `${to.subject}.rejected`, from);
  for (const [flag, a] of [['--to', to], ['--dead-letter', deadLetter]] as const) {
    if (/[*>]/.test(a.subject)) {
      throw new BerthError('INVALID_ARGUMENT', `${flag}: results are published to one subject; ${JSON.stringify(a.subject)} holds a wildcard`, { field: flag.slice(2), got: a.subject });
    }
    if (subjectMatches(from.subject, a.subject)) {
      throw new BerthError('INVALID_ARGUMENT', `${flag}: ${JSON.stringify(a.subject)} matches --from ${JSON.stringify(from.subject)}, so the stream would consume its own output; publish to a subject outside the input filter`, { field: flag.slice(2), got: a.subject });
    }
  }
  const durable = spec.durable ?? defaultDurableName(spec.version.model, from, to);
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(durable)) {
    throw new BerthError('INVALID_ARGUMENT', `--durable: expected letters, digits, _ and - (a JetStream consumer name), got ${JSON.stringify(durable)}`, { field: 'durable', got: durable });
  }
  const format = spec.format ?? 'json';
  if (!(STREAM_FORMATS as readonly string[]).includes(format)) {
    throw new BerthError('INVALID_ARGUMENT', `--format: expected one of ${STREAM_FORMATS.join(', ')}, got ${JSON.stringify(format)}`, { field: 'format', expected: [...STREAM_FORMATS], got: format });
  }
  const idField = spec.idField ?? 'id';
  if (idField === '') throw new BerthError('INVALID_ARGUMENT', '--id-field: expected a field name, got an empty string', { field: 'id-field' });
  const batchRows = positive('--batch-rows', spec.batchRows, DEFAULT_BATCH_ROWS);
  return {
    from, to, deadLetter, durable, format, idField, batchRows,
    maxDelayMs: positive('--max-delay-ms', spec.maxDelayMs, DEFAULT_MAX_DELAY_MS, 0),
    maxInflight: positive('--max-inflight', spec.maxInflight, 4 * batchRows),
    ackWaitMs: spec.ackWaitMs === undefined ? undefined : positive('--ack-wait-ms', spec.ackWaitMs, DEFAULT_ACK_WAIT_MS, 100),
    retryDelayMs: positive('--retry-delay-ms', spec.retryDelayMs, DEFAULT_RETRY_DELAY_MS, 0),
    maxAttempts: positive('--max-attempts', spec.maxAttempts, DEFAULT_MAX_ATTEMPTS),
  };
}

// ---------------------------------------------------------------------------------------------
// Rows: JSON values → cells, typed as the friendly endpoint types them.

type FeatureKind = 'float' | 'string' | 'bool' | 'int' | 'category';

interface RowDecoder {
  features: readonly string[];
  kinds: readonly FeatureKind[];
  featureSet: ReadonlySet<string>;
}

function rowDecoder(sig: Signature, features: readonly string[]): RowDecoder {
  const kinds: FeatureKind[] = [];
  for (const spec of sig.inputs) {
    const dt: Datatype = spec.datatype;
    const kind: FeatureKind = dt === 'FP16' || dt === 'FP32' || dt === 'FP64' ? 'float'
      : dt === 'BYTES' ? 'string' : dt === 'BOOL' ? 'bool' : spec.vocabulary !== undefined ? 'category' : 'int';
    for (let i = 0; i < (spec.featureNames?.length ?? 0); i++) kinds.push(kind);
  }
  return { features, kinds, featureSet: new Set(features) };
}

const EXPECTED: Record<FeatureKind, string> = {
  float: 'a number (null for a missing value)',
  string: 'a string',
  bool: 'true or false',
  int: 'an integer',
  category: 'a category name or its integer id',
};

/** One value as a cell, or why it is the wrong JSON type. Ranges, vocabularies and NaN are the mapping's. */
function cellOf(kind: FeatureKind, v: unknown): Cell | { problem: string } {
  switch (kind) {
    case 'float':
      if (typeof v === 'number' || v === null) return v;
      break;
    case 'string':
      if (typeof v === 'string') return v;
      break;
    case 'bool':
      if (typeof v === 'boolean') return v;
      break;
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      break;
    case 'category':
      if ((typeof v === 'number' && Number.isInteger(v)) || typeof v === 'string') return v;
      break;
  }
  const hint = typeof v === 'string' && kind !== 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? ' (send numbers unquoted)' : '';
  return { problem: `expected ${EXPECTED[kind]}, got ${describe(v)}${hint}` };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function listNames(names: readonly string[], max: number): string {
  const shown = names.slice(0, max).map((s) => JSON.stringify(s)).join(', ');
  return names.length > max ? `${shown}, … (${names.length} in all)` : shown;
}

// ---------------------------------------------------------------------------------------------
// The running stream.

/** One input message until it is acked or nak'ed: `open` rows not yet published or dead-lettered. */
interface Tracked {
  msg: JsMsg;
  open: number;
  /** why it must come again: a model failure (counts toward maxAttempts) or a failed publish */
  failure: { kind: 'model' | 'publish'; message: string } | undefined;
}

/** One row waiting for its batch. */
interface RowRef {
  t: Tracked;
  id: string | number;
  /** 1-based row within its message */
  row: number;
  data: unknown;
}

/** The rows gathered for the next runtime call. */
interface Pending {
  refs: RowRef[];
  /** json format: one cell array per feature */
  columns: Cell[][];
  /** v2 format: each message's tensors (signature order) */
  parts: Tensor[][];
  /** each message's rows [from, to), to score message by message after a batch failed */
  spans: { from: number; to: number; part: number }[];
}

/** What goes to the dead-letter subject. */
interface Rejection {
  id?: string | number;
  /** 1-based row within the message; absent when the message as a whole is unreadable */
  row?: number;
  field?: string;
  reason: string;
  data: unknown;
}

/**
 * Start consuming: connect, check the streams, create or update the durable consumer, load the
 * model, then pull, score and publish until stopped.
 *
 * @throws BerthError NOT_FOUND when no stream stores `from` or `to` (the message says how to
 *   create one), INVALID_ARGUMENT for bad addresses or options, UNAVAILABLE when NATS (with
 *   JetStream) cannot be reached.
 * @example
 * const run = await runStream({ version, from: 'nats://127.0.0.1:4222/loans.in', to: 'loans.scored' }, { registry });
 * process.once('SIGTERM', () => void run.stop());
 * const summary = await run.done;
 */
export async function runStream(spec: StreamSpec, deps: StreamDeps): Promise<StreamRun> {
  const plan = planStream(spec);
  const version = spec.version;
  if (plan.format === 'v2' && deps.decodeV2 === undefined) {
    throw new BerthError('INTERNAL', 'format v2 needs a v2 request decoder (deps.decodeV2)');
  }
  const nats = await import('nats');
  const options: ConnectionOptions = {
    servers: plan.from.server,
    name: `berth stream ${version.model}@${version.version}`,
    maxReconnectAttempts: -1,
    // no stack trace captured per request: with one publish per result it cost a tenth of the CPU time
    noAsyncTraces: true,
    ...(plan.from.tls ? { tls: {} } : {}),
    ...(plan.from.user !== undefined && plan.from.pass !== undefined ? { user: plan.from.user, pass: plan.from.pass } : {}),
    ...(plan.from.user !== undefined && plan.from.pass === undefined ? { token: plan.from.user } : {}),
  };
  let nc: NatsConnection;
  try {
    nc = await nats.connect(options);
  } catch (err) {
    throw new BerthError('UNAVAILABLE', `cannot connect to NATS at ${plan.from.server} (--from): ${natsMessage(err)}; check the URL, and that nats-server runs with JetStream (nats-server -js)`, {
      field: 'from', got: plan.from.server,
    }, { cause: err });
  }
  let scorer: Scorer | undefined;
  try {
    let jsm: JetStreamManager;
    try {
      jsm = await nc.jetstreamManager();
    } catch (err) {
      throw new BerthError('UNAVAILABLE', `NATS at ${plan.from.server} answers but has no JetStream (${natsMessage(err)}); start nats-server with -js (or enable jetstream in its config)`, {
        field: 'from', got: plan.from.server,
      }, { cause: err });
    }
    const inputStream = await streamFor(jsm, plan.from, 'from', 'the stream run consumes it through a durable consumer, so the messages must be stored');
    const outputStream = await streamFor(jsm, plan.to, 'to', 'results are published through JetStream: its duplicate window is what drops a second result for the same input after a crash');
    const deadStream = await streamFor(jsm, plan.deadLetter, 'dead-letter', '').catch(() => undefined);
    if (deadStream === undefined) {
      deps.onWarning?.(`no JetStream stream stores the dead-letter subject "${plan.deadLetter.subject}": rejected messages are published without being stored, and are lost unless something subscribes; add the subject to a stream (e.g. nats stream edit ${outputStream} --subjects '${plan.to.subject}' --subjects '${plan.deadLetter.subject}')`);
    }
    const consumerInfo = await ensureConsumer(jsm, nats, inputStream, plan, deps);
    const ackWaitMs = consumerInfo.ackWaitMs;
    const outInfo = await jsm.streams.info(outputStream);
    const windowMs = (outInfo.config.duplicate_window ?? 0) / 1e6;
    if (windowMs <= ackWaitMs) {
      throw new BerthError('INVALID_ARGUMENT', `output stream ${outputStream} remembers message ids for ${formatMs(windowMs)} (its duplicate window), not longer than the consumer's ack wait (${formatMs(ackWaitMs)}): an input redelivered after a crash would publish its result a second time; widen the window (nats stream edit ${outputStream} --dupe-window 10m) or lower --ack-wait-ms`, {
        field: 'to', expected: `duplicate window > ${ackWaitMs} ms`, got: windowMs,
      });
    }
    scorer = await Scorer.load(deps.registry, version);
    let decoder: RowDecoder | undefined;
    let mapping: FeatureMapping | undefined;
    if (plan.format === 'json') {
      const features = version.signature.inputs.flatMap((s) => s.featureNames ?? []);
      mapping = FeatureMapping.create(version.signature, features);
      decoder = rowDecoder(version.signature, mapping.features);
    }
    const clash = scorer.columns.find((c) => c.name === 'id' || c.name === 'model' || c.name === 'version');
    if (clash !== undefined) {
      throw new BerthError('INVALID_CARD', `the model has a prediction column "${clash.name}", a name every result message already uses (for the row's id, the model or the version); give that output another name in the card`, { field: clash.name, got: clash.name });
    }
    const validate = plan.format === 'v2' ? (await import('../serving/index.js')).validateInputs : undefined;
    const consumer = await nc.jetstream().consumers.get(inputStream, plan.durable);
    const runner = new StreamRunner(nc, nc.jetstream(), jsm, consumer, nats.headers, scorer, plan, spec, deps, {
      model: version.model, version: version.version,
      from: `nats://${plan.from.server}/${plan.from.subject}`, to: plan.to.subject, deadLetter: plan.deadLetter.subject,
      inputStream, outputStream, consumer: plan.durable,
    }, deadStream !== undefined, decoder, mapping, validate);
    runner.start();
    return runner;
  } catch (err) {
    await scorer?.dispose().catch(() => undefined);
    await nc.close().catch(() => undefined);
    throw err;
  }
}

function natsMessage(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  return typeof e?.code === 'string' && e.code !== msg ? `${msg} (${e.code})` : msg;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(3)} s` : `${ms} ms`;
}

async function streamFor(jsm: JetStreamManager, a: NatsAddress, field: string, why: string): Promise<string> {
  try {
    return await jsm.streams.find(a.subject);
  } catch (err) {
    const name = field === 'from' ? 'INPUTS' : 'RESULTS';
    const subjects = field === 'to' ? `--subjects '${a.subject}' --subjects '${a.subject}.rejected'` : `--subjects '${a.subject}'`;
    throw new BerthError('NOT_FOUND', `--${field}: no JetStream stream on ${a.server} stores subject "${a.subject}" (${natsMessage(err)}); ${why}; create one, e.g. nats stream add ${name} ${subjects} --defaults`, {
      field, got: a.subject,
    }, { cause: err });
  }
}

/** Create the durable pull consumer, or check and adjust the one there is. */
async function ensureConsumer(jsm: JetStreamManager, nats: typeof import('nats'), stream: string, plan: StreamPlan, deps: StreamDeps): Promise<{ ackWaitMs: number }> {
  let existing;
  try {
    existing = await jsm.consumers.info(stream, plan.durable);
  } catch (err) {
    const code = (err as { api_error?: { err_code?: number } }).api_error?.err_code;
    if (code !== 10014) throw new BerthError('UNAVAILABLE', `looking up consumer ${plan.durable} on stream ${stream} failed: ${natsMessage(err)}`, { field: 'durable' }, { cause: err });
  }
  const ackWaitMs = plan.ackWaitMs ?? (existing?.config.ack_wait !== undefined ? existing.config.ack_wait / 1e6 : DEFAULT_ACK_WAIT_MS);
  if (existing === undefined) {
    await jsm.consumers.add(stream, {
      durable_name: plan.durable,
      ack_policy: nats.AckPolicy.Explicit,
      deliver_policy: nats.DeliverPolicy.All,
      filter_subject: plan.from.subject,
      ack_wait: nats.nanos(ackWaitMs),
      // room beyond one process's --max-inflight: several processes may share the durable, and a
      // killed one's messages stay unacked until the ack wait ends
      max_ack_pending: Math.max(1000, 4 * plan.maxInflight),
    });
    return { ackWaitMs };
  }
  const c = existing.config;
  if (c.deliver_subject !== undefined && c.deliver_subject !== '') {
    throw new BerthError('INVALID_ARGUMENT', `--durable: consumer ${plan.durable} on stream ${stream} is a push consumer (it delivers to ${c.deliver_subject}); the stream run needs a pull consumer: pick another --durable`, { field: 'durable', got: plan.durable });
  }
  if (c.ack_policy !== nats.AckPolicy.Explicit) {
    throw new BerthError('INVALID_ARGUMENT', `--durable: consumer ${plan.durable} on stream ${stream} acks "${c.ack_policy}", not explicitly; the stream run acks each message after its results are stored: pick another --durable`, { field: 'durable', got: plan.durable });
  }
  const filter = c.filter_subject ?? (c.filter_subjects?.length === 1 ? c.filter_subjects[0] : undefined);
  if (filter !== plan.from.subject) {
    throw new BerthError('INVALID_ARGUMENT', `--durable: consumer ${plan.durable} on stream ${stream} reads ${filter === undefined || filter === '' ? 'every subject of the stream' : `"${filter}"`}, not "${plan.from.subject}"; pick another --durable, or delete it (nats consumer rm ${stream} ${plan.durable})`, { field: 'durable', expected: plan.from.subject, got: filter ?? '' });
  }
  if (plan.ackWaitMs !== undefined && c.ack_wait !== nats.nanos(plan.ackWaitMs)) {
    await jsm.consumers.update(stream, plan.durable, { ack_wait: nats.nanos(plan.ackWaitMs) });
  }
  if (c.max_ack_pending !== undefined && c.max_ack_pending > 0 && c.max_ack_pending < plan.maxInflight) {
    deps.onWarning?.(`consumer ${plan.durable} lets at most ${c.max_ack_pending} messages be unacked (max_ack_pending), fewer than --max-inflight ${plan.maxInflight}: the server holds deliveries back at that many`);
  }
  return { ackWaitMs };
}

class StreamRunner implements StreamRun {
  readonly done: Promise<StreamSummary>;
  private resolveDone!: (s: StreamSummary) => void;
  private rejectDone!: (err: unknown) => void;
  private readonly now: () => number;
  private readonly started: number;
  private readonly counts = { messages: 0, acked: 0, rows: 0, published: 0, duplicates: 0, rejected: 0, failed: 0, publishErrors: 0, peakInflight: 0 };
  private pendingCount: number | undefined;
  private inflight = 0;
  /** messages asked for by open pull requests and not yet delivered */
  private reserved = 0;
  private fetches = 0;
  private pending: Pending;
  private timer: NodeJS.Timeout | undefined;
  private poller: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private stopping = false;
  private finishing: Promise<void> | undefined;
  private finished = false;
  private fatal: unknown;
  private waiters: (() => void)[] = [];
  /** settled messages whose ack goes out at the end of this event-loop turn */
  private toAck: JsMsg[] = [];
  private readonly modelLabel: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly consumer: Consumer,
    private readonly makeHeaders: () => MsgHdrs,
    private readonly scorer: Scorer,
    private readonly plan: StreamPlan,
    private readonly spec: StreamSpec,
    private readonly deps: StreamDeps,
    readonly summary: Omit<StreamSummary, keyof StreamStats>,
    private readonly deadLetterStored: boolean,
    private readonly decoder: RowDecoder | undefined,
    private readonly mapping: FeatureMapping | undefined,
    private readonly validate: ((sig: Signature, inputs: readonly Tensor[]) => Tensor[]) | undefined,
  ) {
    this.now = deps.now ?? Date.now;
    this.started = this.now();
    this.pending = this.emptyPending();
    this.modelLabel = `${spec.version.model}@${spec.version.version}`;
    this.done = new Promise<StreamSummary>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // a rejection nobody awaited yet must not crash the process before the caller awaits it
    this.done.catch(() => undefined);
  }

  start(): void {
    this.poller = setInterval(() => void this.poll(), POLL_MS);
    void this.nc.closed().then((err) => {
      if (!this.finished && !this.stopping) {
        this.fail(new BerthError('UNAVAILABLE', `the connection to NATS at ${this.plan.from.server} closed${err ? `: ${natsMessage(err)}` : ''}; unacked messages are redelivered to the next run`, { field: 'from' }, { cause: err }));
      }
    });
    void this.watchStatus();
    this.pump();
  }

  stats(): StreamStats {
    const seconds = (this.now() - this.started) / 1000;
    return {
      ...this.counts,
      inflight: this.inflight,
      pending: this.pendingCount,
      seconds,
      messagesPerSecond: seconds > 0 ? Math.round(this.counts.acked / seconds) : 0,
    };
  }

  stop(): Promise<StreamSummary> {
    this.stopping = true;
    this.finishing ??= this.finish();
    return this.done;
  }

  async abort(): Promise<void> {
    this.stopping = true;
    this.finished = true;
    this.clearTimers();
    await this.nc.close().catch(() => undefined);
    await this.scorer.dispose().catch(() => undefined);
    this.resolveDone({ ...this.summary, ...this.stats() });
  }

  // -------------------------------------------------------------------------------------------
  // pulling

  /** Open pull requests for the room left under maxInflight, a batch's worth at a time. */
  private pump(): void {
    const chunk = Math.min(this.plan.batchRows, this.plan.maxInflight);
    while (!this.stopping) {
      const free = this.plan.maxInflight - this.inflight - this.reserved;
      if (free <= 0 || (free < chunk && this.fetches > 0)) return;
      const n = Math.min(free, chunk);
      this.reserved += n;
      this.fetches++;
      void this.fetch(n);
    }
  }

  private async fetch(n: number): Promise<void> {
    let got = 0;
    try {
      const messages = await this.consumer.fetch({ max_messages: n, expires: FETCH_EXPIRES_MS });
      for await (const m of messages) {
        got++;
        this.reserved--;
        this.inflight++;
        if (this.inflight > this.counts.peakInflight) this.counts.peakInflight = this.inflight;
        this.counts.messages++;
        try {
          this.receive(m);
        } catch (err) {
          // a bug, not a bad message (those go to the dead letters): stop rather than hold the message forever
          this.fail(err);
        }
      }
    } catch (err) {
      const text = natsMessage(err);
      if (/consumer (not found|deleted)|stream not found/i.test(text)) {
        this.fail(new BerthError('NOT_FOUND', `consumer ${this.plan.durable} on stream ${this.summary.inputStream} is gone (${text}); it was deleted while the stream ran: run the command again to create it`, { field: 'durable' }, { cause: err }));
      } else if (!this.stopping) {
        this.deps.onWarning?.(`pulling from ${this.summary.inputStream}/${this.plan.durable} failed: ${text}; retrying in 1 s`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    } finally {
      this.reserved -= n - got;
      this.fetches--;
      this.pump();
      this.notify();
    }
  }

  // -------------------------------------------------------------------------------------------
  // decoding messages into rows

  private receive(m: JsMsg): void {
    const t: Tracked = { msg: m, open: 1, failure: undefined };
    let body: unknown;
    try {
      body = JSON.parse(m.string());
    } catch (err) {
      this.reject(t, {
        reason: `not JSON (${err instanceof Error ? err.message : String(err)}); expected ${this.plan.format === 'v2' ? 'an Open Inference Protocol v2 request body' : 'a JSON object of one row ({"<feature>": value, …}) or an array of them'}`,
        data: m.string(),
      });
      return;
    }
    if (this.plan.format === 'v2') this.receiveV2(t, body);
    else this.receiveRows(t, body);
  }

  private receiveRows(t: Tracked, body: unknown): void {
    const single = !Array.isArray(body);
    if (single && !isPlainObject(body)) {
      this.reject(t, { reason: `expected a JSON object of one row ({"<feature>": value, …}) or an array of them, got ${describe(body)}`, data: body });
      return;
    }
    const rows: unknown[] = single ? [body] : body as unknown[];
    if (rows.length === 0) {
      this.reject(t, { reason: 'an empty array holds no rows; send a row object or a non-empty array of them', data: body });
      return;
    }
    t.open = rows.length;
    if (this.pending.refs.length > 0 && this.pending.refs.length + rows.length > this.plan.batchRows) this.flush();
    const dec = this.decoder!;
    const idField = this.plan.idField;
    const from = this.pending.refs.length;
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      const rowNo = r + 1;
      const fallbackId = single ? t.msg.seq : `${t.msg.seq}:${rowNo}`;
      if (!isPlainObject(row)) {
        this.reject(t, { id: fallbackId, row: rowNo, reason: `expected an object of feature → value, got ${describe(row)}`, data: row });
        continue;
      }
      const rawId = row[idField];
      let id: string | number = fallbackId;
      if (rawId !== undefined) {
        if ((typeof rawId === 'string' && rawId !== '') || (typeof rawId === 'number' && Number.isFinite(rawId))) id = rawId;
        else {
          this.reject(t, { id: fallbackId, row: rowNo, field: idField, reason: `expected the id as a non-empty string or a number, got ${describe(rawId)}; send another id, or leave "${idField}" out to use the message's stream sequence`, data: row });
          continue;
        }
      }
      const cells: Cell[] = new Array<Cell>(dec.features.length);
      let problem: { field: string; reason: string } | undefined;
      for (let f = 0; f < dec.features.length; f++) {
        const name = dec.features[f]!;
        const v = row[name];
        if (v === undefined) {
          const unknown = Object.keys(row).filter((k) => k !== idField && !dec.featureSet.has(k));
          problem = { field: name, reason: `missing; the model needs ${dec.features.length} features: ${listNames(dec.features, 40)}${unknown.length > 0 ? `, and the row has fields it does not know: ${listNames(unknown, 5)}` : ''}` };
          break;
        }
        const c = cellOf(dec.kinds[f]!, v);
        if (c !== null && typeof c === 'object') {
          problem = { field: name, reason: c.problem };
          break;
        }
        cells[f] = c;
      }
      if (problem !== undefined) {
        this.reject(t, { id, row: rowNo, field: problem.field, reason: problem.reason, data: row });
        continue;
      }
      const cols = this.pending.columns;
      for (let f = 0; f < cells.length; f++) cols[f]!.push(cells[f]!);
      this.pending.refs.push({ t, id, row: rowNo, data: row });
    }
    const to = this.pending.refs.length;
    if (to > from) this.pending.spans.push({ from, to, part: -1 });
    this.afterAppend();
  }

  private receiveV2(t: Tracked, body: unknown): void {
    let tensors: Tensor[];
    try {
      tensors = this.validate!(this.spec.version.signature, this.deps.decodeV2!(body));
    } catch (err) {
      const field = isBerthError(err) && typeof err.context.field === 'string' ? err.context.field : undefined;
      this.reject(t, { reason: err instanceof Error ? err.message : String(err), ...(field !== undefined ? { field } : {}), data: body });
      return;
    }
    const rows = tensors[0]?.shape[0] ?? 0;
    const mismatch = tensors.find((x) => x.shape[0] !== rows);
    if (rows === 0 || mismatch !== undefined) {
      this.reject(t, {
        reason: rows === 0 ? 'the request holds no rows (first dimension 0)' : `inputs disagree on the number of rows: "${tensors[0]!.name}" has ${rows}, "${mismatch!.name}" has ${mismatch!.shape[0]}`,
        ...(mismatch !== undefined ? { field: mismatch.name } : {}), data: body,
      });
      return;
    }
    const requestId = isPlainObject(body) && typeof body['id'] === 'string' && body['id'] !== '' ? body['id'] : undefined;
    const base = requestId ?? t.msg.seq;
    t.open = rows;
    if (this.pending.refs.length > 0 && this.pending.refs.length + rows > this.plan.batchRows) this.flush();
    const p = this.pending;
    const from = p.refs.length;
    for (let r = 0; r < rows; r++) p.refs.push({ t, id: rows === 1 ? base : `${base}:${r + 1}`, row: r + 1, data: undefined });
    p.parts.push(tensors);
    p.spans.push({ from, to: p.refs.length, part: p.parts.length - 1 });
    this.afterAppend();
  }

  private afterAppend(): void {
    const n = this.pending.refs.length;
    if (n >= this.plan.batchRows || (this.stopping && this.fetches === 0)) this.flush();
    else if (n > 0 && this.timer === undefined) this.timer = setTimeout(() => this.flush(), this.plan.maxDelayMs);
  }

  private emptyPending(): Pending {
    return { refs: [], columns: (this.decoder?.features ?? []).map(() => []), parts: [], spans: [] };
  }

  // -------------------------------------------------------------------------------------------
  // scoring

  private flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const p = this.pending;
    if (p.refs.length === 0) return;
    this.pending = this.emptyPending();
    // one runtime call at a time, in arrival order; the next batch gathers meanwhile
    this.chain = this.chain.then(() => this.scoreBatch(p)).catch((err: unknown) => this.fail(err));
  }

  private async scoreBatch(p: Pending): Promise<void> {
    try {
      await this.scoreRange(p, 0, p.refs.length);
    } catch (err) {
      if (p.spans.length <= 1) {
        this.modelFailed(p.refs, err);
        return;
      }
      // find the message the model fails on: its neighbours get their answers
      for (const s of p.spans) {
        try {
          await this.scoreRange(p, s.from, s.to, s);
        } catch (e) {
          this.modelFailed(p.refs.slice(s.from, s.to), e);
        }
      }
    }
  }

  /** Map, score and dispatch rows [from, to): nothing is dispatched unless the runtime call succeeds. */
  private async scoreRange(p: Pending, from: number, to: number, span?: Pending['spans'][number]): Promise<void> {
    let tensors: Tensor[];
    let good: number[];
    let errors: { index: number; column: string; reason: string }[] = [];
    if (this.mapping !== undefined) {
      const mapped = this.mapping.map({ start: 0, rows: p.refs.length, columns: p.columns }, from, to);
      tensors = mapped.tensors;
      good = mapped.good;
      errors = mapped.errors.map((e) => ({ index: e.row - 1, column: e.column, reason: e.reason }));
    } else {
      const parts = span !== undefined ? [p.parts[span.part]!] : p.parts;
      tensors = concatRows(parts);
      good = Array.from({ length: to - from }, (_, i) => i);
    }
    const predictions = good.length > 0 ? await this.scorer.score(tensors, good.length) : [];
    this.counts.rows += good.length;
    for (const e of errors) {
      const ref = p.refs[e.index]!;
      this.reject(ref.t, { id: ref.id, row: ref.row, field: e.column, reason: e.reason, data: ref.data });
    }
    const columns = this.scorer.columns;
    for (let g = 0; g < good.length; g++) {
      const ref = p.refs[from + good[g]!]!;
      const result: Record<string, unknown> = { id: ref.id, model: this.spec.version.model, version: this.spec.version.version };
      for (let c = 0; c < columns.length; c++) result[columns[c]!.name] = jsonValue(predictions[c]![g]!);
      this.publishResult(ref, JSON.stringify(result));
    }
  }

  private modelFailed(refs: readonly RowRef[], err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    for (const ref of refs) this.finishRow(ref.t, { kind: 'model', message });
  }

  // -------------------------------------------------------------------------------------------
  // publishing, acking

  private publishResult(ref: RowRef, payload: string): void {
    const headers = this.forwardHeaders(ref.t.msg);
    this.js.publish(this.plan.to.subject, payload, {
      msgID: `${this.modelLabel}/${ref.id}`,
      timeout: PUBLISH_TIMEOUT_MS,
      ...(headers !== undefined ? { headers } : {}),
    }).then(
      (ack) => {
        this.counts.published++;
        if (ack.duplicate) this.counts.duplicates++;
        this.finishRow(ref.t, undefined);
      },
      (err: unknown) => this.finishRow(ref.t, { kind: 'publish', message: `publishing to ${this.plan.to.subject} failed: ${natsMessage(err)}` }),
    );
  }

  /** Input headers other than NATS's own travel with each result (trace ids, send times). */
  private forwardHeaders(m: JsMsg): MsgHdrs | undefined {
    const src = m.headers;
    if (src === undefined) return undefined;
    let out: MsgHdrs | undefined;
    for (const [k, values] of src) {
      if (/^nats-/i.test(k)) continue;
      out ??= this.makeHeaders();
      for (const v of values) out.append(k, v);
    }
    return out;
  }

  private reject(t: Tracked, r: Rejection): void {
    const m = t.msg;
    const doc = {
      model: this.spec.version.model,
      version: this.spec.version.version,
      ...(r.id !== undefined ? { id: r.id } : {}),
      ...(r.row !== undefined ? { row: r.row } : {}),
      ...(r.field !== undefined ? { field: r.field } : {}),
      reason: r.reason,
      input: { stream: this.summary.inputStream, seq: m.seq, subject: m.subject, deliveries: m.info.deliveryCount },
      data: r.data,
    };
    const payload = JSON.stringify(doc);
    const key = `${this.modelLabel}/rejected/${this.summary.inputStream}:${m.seq}/${r.row ?? 0}`;
    const sent: Promise<unknown> = this.deadLetterStored
      ? this.js.publish(this.plan.deadLetter.subject, payload, { msgID: key, timeout: PUBLISH_TIMEOUT_MS })
      : Promise.resolve().then(() => this.nc.publish(this.plan.deadLetter.subject, payload));
    sent.then(
      () => {
        this.counts.rejected++;
        this.finishRow(t, undefined);
      },
      (err: unknown) => this.finishRow(t, { kind: 'publish', message: `publishing to ${this.plan.deadLetter.subject} failed: ${natsMessage(err)}` }),
    );
  }

  private finishRow(t: Tracked, failure: Tracked['failure']): void {
    if (failure !== undefined && t.failure === undefined) t.failure = failure;
    if (--t.open > 0) return;
    this.settle(t);
  }

  /** Every row of a message is done: ack it, or nak it to come again. */
  private settle(t: Tracked): void {
    // after abort(): the connection is gone, the server redelivers what was not acked
    if (this.nc.isClosed()) return;
    const m = t.msg;
    const f = t.failure;
    if (f === undefined) {
      // acks go out together once per event-loop turn: one socket write for a batch's worth
      this.toAck.push(m);
      if (this.toAck.length === 1) setImmediate(() => this.sendAcks());
      return;
    } else if (f.kind === 'model' && m.info.deliveryCount >= this.plan.maxAttempts) {
      // not retried forever: after maxAttempts deliveries it goes to the dead letters, then is acked
      t.failure = undefined;
      t.open = 1;
      this.reject(t, { reason: `the model failed on this message ${m.info.deliveryCount} times (--max-attempts ${this.plan.maxAttempts}): ${f.message}`, data: safeText(m) });
      return;
    } else {
      m.nak(f.kind === 'model' ? this.plan.retryDelayMs : Math.max(this.plan.retryDelayMs, 1000));
      if (f.kind === 'model') this.counts.failed++;
      else this.counts.publishErrors++;
      if (f.kind === 'publish' && this.counts.publishErrors % 100 === 1) this.deps.onWarning?.(`${f.message}; the message was nak'ed and comes again`);
    }
    this.inflight--;
    this.pump();
    this.notify();
  }

  private sendAcks(): void {
    const msgs = this.toAck;
    this.toAck = [];
    if (this.nc.isClosed()) return;
    for (const m of msgs) m.ack();
    this.counts.acked += msgs.length;
    this.inflight -= msgs.length;
    this.pump();
    this.notify();
  }

  // -------------------------------------------------------------------------------------------
  // progress, stopping

  private async poll(): Promise<void> {
    try {
      const info = await this.jsm.consumers.info(this.summary.inputStream, this.plan.durable);
      this.pendingCount = info.num_pending;
      if (this.spec.stopWhenEmpty === true && !this.stopping && info.num_pending === 0 && info.num_ack_pending === 0 &&
        this.inflight === 0 && this.pending.refs.length === 0) {
        void this.stop();
      }
    } catch {
      // the next look will tell; progress lines keep the last count
    }
    if (!this.finished) this.deps.onProgress?.(this.stats());
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.finished) return;
      const type = String(s.type);
      if (type === 'disconnect') this.deps.onWarning?.(`disconnected from NATS at ${String(s.data)}; reconnecting`);
      else if (type === 'reconnect') this.deps.onWarning?.(`reconnected to NATS at ${String(s.data)}`);
    }
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async until(cond: () => boolean): Promise<void> {
    while (!cond()) await new Promise<void>((r) => this.waiters.push(r));
  }

  private async finish(): Promise<void> {
    try {
      // open pull requests end within FETCH_EXPIRES_MS; what they deliver is still scored
      await this.until(() => this.fetches === 0 || this.fatal !== undefined);
      this.flush();
      await this.chain;
      await this.until(() => this.inflight === 0 || this.fatal !== undefined);
      if (this.fatal !== undefined) throw this.fatal;
      this.clearTimers();
      this.finished = true;
      // sends the last acks before closing
      await this.nc.drain();
      await this.scorer.dispose().catch(() => undefined);
      this.resolveDone({ ...this.summary, ...this.stats() });
    } catch (err) {
      this.finished = true;
      this.clearTimers();
      await this.nc.close().catch(() => undefined);
      await this.scorer.dispose().catch(() => undefined);
      this.rejectDone(err);
    }
  }

  private fail(err: unknown): void {
    if (this.fatal !== undefined || this.finished) return;
    this.fatal = err;
    this.stopping = true;
    this.notify();
    this.finishing ??= this.finish();
  }

  private clearTimers(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.poller !== undefined) clearInterval(this.poller);
    this.timer = undefined;
    this.poller = undefined;
  }
}

/** A message's text, or its bytes in base64 when they are not UTF-8. */
function safeText(m: JsMsg): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(m.data);
  } catch {
    return `base64:${Buffer.from(m.data).toString('base64')}`;
  }
}

/** A prediction cell as JSON: big integers as numbers when exact, else as text. */
function jsonValue(v: Cell): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  return v;
}

/** Stack several requests' tensors (signature order, same trailing shapes) into one batch. */
function concatRows(parts: readonly Tensor[][]): Tensor[] {
  if (parts.length === 1) return parts[0]!;
  const first = parts[0]!;
  return first.map((t, i): Tensor => {
    let rows = 0;
    let length = 0;
    for (const p of parts) {
      rows += p[i]!.shape[0]!;
      length += p[i]!.data.length;
    }
    const data = allocateData(t.datatype, length);
    let at = 0;
    for (const p of parts) {
      const src = p[i]!.data;
      if (Array.isArray(data)) for (let k = 0; k < src.length; k++) data[at + k] = (src as string[])[k]!;
      else (data as Exclude<TensorData, string[]>).set(src as never, at);
      at += src.length;
    }
    return { name: t.name, datatype: t.datatype, shape: [rows, ...t.shape.slice(1)], data };
  });
}
