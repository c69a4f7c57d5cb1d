import type { Command } from 'commander';
import { BerthError } from '../../core/index.js';
import type { CliContext } from '../context.js';
import { parseCount } from '../parse.js';
import {
  DEFAULT_CONCURRENCY,
  PERF_PROTOCOLS,
  parsePerfDuration,
  parseShapeOverrides,
  renderPerfReport,
  runPerf,
  type PerfProtocol,
  type PerfReport,
} from '../perf/index.js';
import { collect, examples, optionParser } from './options.js';

/** The flags of `berth perf`, as commander parses them. */
export interface PerfFlags {
  protocol?: PerfProtocol[];
  concurrency?: number[];
  duration?: number;
  warmup?: number;
  batch?: number;
  shape?: string[];
  inputData?: string;
  grpcUrl?: string;
  grpcPort?: number;
  timeout?: number;
}

const DEFAULT_DURATION_MS = 10_000;
const DEFAULT_WARMUP_MS = 2_000;
const DEFAULT_TIMEOUT_MS = 30_000;

/** `berth perf` */
export function addPerfCommand(program: Command, ctx: CliContext): void {
  program
    .command('perf')
    .description('load a deployment over REST or gRPC at several concurrency levels: throughput, latency percentiles and the server\'s queue and compute times')
    .argument('<deployment>', 'the deployment to load (its model is what gets measured)')
    .option('--protocol <list>', `one or a comma list of ${PERF_PROTOCOLS.join(', ')}: JSON tensors, the binary tensor extension, gRPC (default rest-binary)`, optionParser(parseProtocols))
    .option('--concurrency <list>', `requests in flight, one level after another (default ${DEFAULT_CONCURRENCY.join(',')})`, optionParser(parseConcurrency))
    .option('--duration <d>', 'measured time per level: 500ms, 10s, 1m (default 10s)', optionParser((t) => parsePerfDuration('--duration', t, 1)))
    .option('--warmup <d>', 'unmeasured time before each level (default 2s; 0s for none)', optionParser((t) => parsePerfDuration('--warmup', t)))
    .option('--batch <n>', 'rows per request (default 1)', optionParser((t) => parseCount('--batch', t, 1)))
    .option('--shape <name=dims>', "an input's full shape, batch dimension first, for inputs with variable dimensions (repeatable)", collect)
    .option('--input-data <file>', 'send this v2 request ({"inputs": [{name, datatype, shape, data}]}) instead of random inputs')
    .option('--grpc-url <url>', 'the gRPC address (grpc://host:port) for --protocol grpc')
    .option('--grpc-port <port>', 'the gRPC port on the --server host (default: the one the server reports in its status)', optionParser((t) => parseCount('--grpc-port', t, 1)))
    .option('--timeout <d>', 'deadline of each request (default 30s)', optionParser((t) => parsePerfDuration('--timeout', t, 1)))
    .addHelpText(
      'after',
      examples(
        'berth perf breast-cancer',
        'berth perf breast-cancer --protocol rest,rest-binary,grpc --concurrency 1,8,64 --duration 10s',
        'berth perf wide-mlp --batch 32 --concurrency 4,16 --json > wide-mlp-perf.json',
        'berth perf text-clf --shape tokens=1,128 --shape mask=1,128',
        'berth perf fraud --input-data request.json --concurrency 1,2,4,8,16',
        '# a closed loop: each of N workers sends its next request as soon as the last is answered',
        '# 429/503 answers are counted as errors, not retried; the server columns come from its statistics extension',
        '# if CLIENT CPU nears 100%, the client is the bottleneck: run berth perf from another machine (docs/perf.md)',
      ),
    )
    .action(async (deployment: string, o: PerfFlags) => {
      const report = await perfAction(ctx, deployment, o);
      ctx.print(report, () => renderPerfReport(report));
    });
}

/** Run `berth perf` with parsed flags; progress goes to stderr, the report is answered. */
export async function perfAction(ctx: CliContext, deployment: string, o: PerfFlags): Promise<PerfReport> {
  const g = ctx.globals;
  const shapes = parseShapeOverrides(o.shape ?? []);
  return runPerf({
    server: restUrl(g.server),
    deployment,
    protocols: o.protocol ?? ['rest-binary'],
    concurrency: o.concurrency ?? DEFAULT_CONCURRENCY,
    durationMs: o.duration ?? DEFAULT_DURATION_MS,
    warmupMs: o.warmup ?? DEFAULT_WARMUP_MS,
    timeoutMs: o.timeout ?? DEFAULT_TIMEOUT_MS,
    shapes,
    ...(g.token !== undefined ? { token: g.token } : {}),
    ...(o.batch !== undefined ? { batch: o.batch } : {}),
    ...(o.inputData !== undefined ? { inputData: o.inputData } : {}),
    ...(o.grpcUrl !== undefined ? { grpcUrl: o.grpcUrl } : {}),
    ...(o.grpcPort !== undefined ? { grpcPort: o.grpcPort } : {}),
    onProgress: (line) => ctx.io.err(`${line}\n`),
  });
}

/** `rest,grpc` → the protocols, each once, in the order given. */
export function parseProtocols(text: string): PerfProtocol[] {
  const items = text.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const bad = items.find((x) => !(PERF_PROTOCOLS as readonly string[]).includes(x));
  if (items.length === 0 || bad !== undefined) {
    throw new BerthError('INVALID_ARGUMENT', `--protocol: expected one or a comma list of ${PERF_PROTOCOLS.join(', ')}, got ${JSON.stringify(text)}`, { field: '--protocol', got: text });
  }
  return [...new Set(items)] as PerfProtocol[];
}

/** `1,8,64` → concurrency levels, in the order given. */
export function parseConcurrency(text: string): number[] {
  const items = text.split(',').map((x) => x.trim());
  if (!items.every((x) => /^\d{1,5}$/.test(x) && Number(x) >= 1 && Number(x) <= 10_000)) {
    throw new BerthError('INVALID_ARGUMENT', `--concurrency: expected a comma list of whole numbers from 1 to 10000, like 1,8,64; got ${JSON.stringify(text)}`, { field: '--concurrency', got: text });
  }
  return items.map(Number);
}

function restUrl(text: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let u: URL | undefined;
  try {
    u = new URL(withScheme);
  } catch {
    u = undefined;
  }
  if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    throw new BerthError('INVALID_ARGUMENT', `--server: expected the REST address, like http://127.0.0.1:8080, got ${JSON.stringify(text)} (gRPC goes in --grpc-url)`, { field: 'server', got: text });
  }
  return u.toString().replace(/\/+$/, '');
}
