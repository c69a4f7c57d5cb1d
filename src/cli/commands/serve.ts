import { availableParallelism } from 'node:os';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { BerthError, DEFAULT_CONFIG, configFromEnv, resolveConfig, type BerthConfig, type ConfigLayer } from '../../core/index.js';
import { DEFAULT_SERVER, type CliContext } from '../context.js';
import { parseBytes, parseCount } from '../parse.js';
import { examples, optionParser } from './options.js';

/** How long a shutdown waits for in-flight requests before closing their connections. */
const DRAIN_TIMEOUT_MS = 30_000;

interface ServeFlags {
  port?: number;
  host?: string;
  config?: string;
  example?: boolean;
  maxBatchSize?: number;
  maxQueueDelayMs?: number;
  maxQueueSize?: number;
  timeoutMs?: number;
  idleUnloadMs?: number;
  memoryBudget?: number;
  runtimeThread?: string;
  processes?: number;
  role?: 'all' | 'control' | 'data';
  grpcPort?: number;
  intraOpThreads?: number;
  logLevel?: BerthConfig['logLevel'];
  dev?: boolean;
  adminTokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  requireClientCert?: boolean;
  corsOrigin?: string[];
  redis?: string;
  database?: string;
  artifacts?: string;
}

const count = (flag: string, min = 0): ((t: string) => number) => optionParser((t) => parseCount(flag, t, min));

/** `berth serve` */
export function addServeCommand(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('serve every deployment (Open Inference Protocol v2, friendly predict, management API) until Ctrl-C')
    .option('--port <port>', 'TCP port (0 picks a free one)', count('--port'))
    .option('--host <host>', 'interface to listen on (0.0.0.0 for every one)')
    .option('--grpc-port <port>', 'also serve the v2 protocol over gRPC (inference.GRPCInferenceService) on this port; 0 picks a free one (also BERTH_GRPC_PORT)', count('--grpc-port'))
    .option('--config <file>', 'configuration file, YAML or JSON (see docs/cli.md); flags and BERTH_* variables win over it')
    .option('--example', 'register and deploy the shipped example model (breast-cancer) if it is not there yet')
    .option('--max-batch-size <n>', 'default most rows in one runtime call', count('--max-batch-size', 1))
    .option('--max-queue-delay-ms <ms>', 'default wait for more rows before a partial batch runs', count('--max-queue-delay-ms'))
    .option('--max-queue-size <n>', 'default most rows waiting per model; beyond it requests get 429', count('--max-queue-size', 1))
    .option('--timeout-ms <ms>', 'default per-request deadline', count('--timeout-ms', 1))
    .option('--idle-unload-ms <ms>', 'unload models unused this long (0 = never)', count('--idle-unload-ms'))
    .option('--memory-budget <size>', 'bytes loaded models may use, e.g. 512MB or 2GiB (0 = unlimited)', optionParser((t) => parseBytes('--memory-budget', t)))
    .option('--runtime-thread <where>', 'where models run: main (default), worker (own thread each) or auto (heavy models to a worker)')
    .option('--intra-op-threads <n>', 'onnxruntime threads per model (default 1)', count('--intra-op-threads', 0))
    .option('--processes <n>', 'serving processes sharing the port (default 1; 0 = one per CPU); each loads its own models', count('--processes', 0))
    .addOption(
      new Option('--role <role>', 'all: inference and control plane in one process (default); data: inference only (stateless replicas); control: management API, rollouts, monitoring and alerts, no inference (also BERTH_ROLE; see docs/replicas.md)').choices([
        'all',
        'control',
        'data',
      ]),
    )
    .addOption(new Option('--log-level <level>', 'log level (JSON lines on stderr)').choices(['debug', 'info', 'warn', 'error', 'silent']))
    .option('--dev', 'NO authentication, for local development only (also BERTH_DEV=1); without it, serve needs an admin token, API tokens or OIDC')
    .option('--admin-token-file <file>', 'file whose first line is the bootstrap admin token (or set BERTH_ADMIN_TOKEN)')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM); needs --tls-key')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .option('--tls-client-ca <file>', 'CA bundle (PEM) that client certificates chain to: mTLS for services (map names to scopes in tls.clients)')
    .option('--require-client-cert', 'refuse TLS connections without a valid client certificate')
    .option('--cors-origin <origin...>', 'allow browsers on these origins (https://app.example.com, or *); CORS is closed by default')
    .option('--redis <url>', 'share rate limits between replicas through Redis (also BERTH_REDIS_URL)')
    .option('--database <url>', 'keep the registry metadata in PostgreSQL, postgres://user:pass@host:5432/db[?schema=name] (also BERTH_DATABASE_URL, database.url)')
    .option('--artifacts <url>', 'keep artifacts in S3 or a compatible store, s3://bucket/prefix[?endpoint=http://minio:9000] (also BERTH_ARTIFACTS_URL, artifacts.url); each replica caches and verifies them')
    .addHelpText(
      'after',
      examples(
        'berth serve --example',
        'berth serve --port 9000 --host 0.0.0.0 --data-dir /var/lib/berth --max-batch-size 32 --memory-budget 2GiB',
        'berth serve --config berth.yaml',
        'BERTH_ADMIN_TOKEN=$(openssl rand -hex 24) berth serve --tls-cert cert.pem --tls-key key.pem',
        'berth serve --example --dev          # local only: no authentication',
        'BERTH_DATABASE_URL=postgres://berth:$PGPASSWORD@db:5432/berth berth serve   # registry shared by replicas',
        'berth serve --role control --database postgres://db/berth --artifacts s3://models/berth   # one control plane…',
        'berth serve --role data --database postgres://db/berth --artifacts s3://models/berth      # …and N inference replicas',
      ),
    )
    .action(async (o: ServeFlags) => {
      const config = await resolveServeConfig(ctx, o);
      const { createBerthServer, BERTH_VERSION, EXAMPLE_DEPLOYMENT, isClusterWorker, runClusterPrimary, ensureExampleDeployment } = await import('../../server/index.js');
      const processes = config.server.processes === 0 ? availableParallelism() : config.server.processes;
      const banner = (url: string, grpcAddress: string | null = null): void => {
        const flag = url === DEFAULT_SERVER ? '' : ` --server ${url}`;
        const dataDir = path.resolve(config.dataDir);
        ctx.io.out(
          `berth ${BERTH_VERSION} serving on ${url} (data dir ${dataDir}${processes > 1 ? `, ${processes} processes` : ''}${config.server.role !== 'all' ? `, role ${config.server.role}` : ''})\n` +
            (config.server.role === 'data'
              ? `  role data: inference, model metadata, health and metrics only; the management API is on the control plane (--role control)\n`
              : config.server.role === 'control'
                ? `  role control: management API, rollouts, monitoring and alerts; inference goes to the data replicas (--role data)\n`
                : '') +
            (o.example
              ? `  try: berth${flag} deployments show ${EXAMPLE_DEPLOYMENT} · curl ${url}/v2/models/${EXAMPLE_DEPLOYMENT} · berth${flag} alias history ${EXAMPLE_DEPLOYMENT}\n`
              : `  try: berth${flag} models register model.onnx --name NAME · berth${flag} deploy NAME --model NAME --version 1\n`) +
            `  API: ${url}/openapi.json · metrics: ${url}/metrics · Ctrl-C stops after in-flight requests finish\n` +
            (config.server.role !== 'data' ? `  dashboard: ${url}/ui\n` : '') +
            (grpcAddress ? `  gRPC: ${grpcAddress} (inference.GRPCInferenceService; proto/grpc_predict_v2.proto)\n` : '') +
            (config.auth.dev
              ? `  DEV MODE: authentication is off; anyone who can reach this port can do anything. Do not use --dev beyond your own machine.\n`
              : `  authentication is on: send Authorization: Bearer <token> (the CLI: --token or BERTH_TOKEN; make tokens with berth tokens create)\n`),
        );
      };
      if (processes > 1 && !isClusterWorker()) {
        // The primary prepares the data dir once (migrations, the example), then forks the
        // serving processes; each runs this same command and serves the shared port.
        const { openRegistry } = await import('../../registry/index.js');
        const { createLogger } = await import('../../core/index.js');
        const logger = createLogger(config.logLevel);
        const registry = await openRegistry({ dataDir: config.dataDir, databaseUrl: config.database.url, artifactsUrl: config.artifacts.url });
        try {
          if (o.example) await ensureExampleDeployment(registry, logger);
        } finally {
          await registry.close();
        }
        const { port, stopped } = await runClusterPrimary({ processes, logger });
        const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
        banner(`http://${host}:${port}`);
        await stopped;
        return;
      }
      const worker = isClusterWorker();
      const server = await createBerthServer({ config, example: o.example === true && !worker, clusterWorker: worker });
      let url: string;
      try {
        url = await server.listen();
      } catch (err) {
        await server.close().catch(() => undefined);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') {
          throw new BerthError(
            'INVALID_CONFIG',
            `cannot listen on ${config.server.host}:${config.server.port} (${code === 'EADDRINUSE' ? 'the port is in use; is another berth serve running?' : 'permission denied'}); pick another with --port`,
            { field: 'server.port', got: config.server.port },
            { cause: err },
          );
        }
        throw err;
      }
      if (!worker) banner(url, server.grpcAddress);
      await waitForSignalThenClose(ctx, server);
      // a cluster's serving process: its IPC channel would keep it alive after draining
      if (worker) process.disconnect?.();
    });
}

async function resolveServeConfig(ctx: CliContext, o: ServeFlags): Promise<Readonly<BerthConfig>> {
  const fileLayer = o.config === undefined ? {} : await readConfigFile(o.config);
  const flags: Record<string, unknown> = {};
  const section = (name: string, values: Record<string, unknown>): void => {
    const defined = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
    if (Object.keys(defined).length > 0) flags[name] = defined;
  };
  if (ctx.dataDirExplicit) flags['dataDir'] = ctx.globals.dataDir;
  section('server', { host: o.host, port: o.port, processes: o.processes, role: o.role, grpcPort: o.grpcPort });
  section('batching', { maxBatchSize: o.maxBatchSize, maxQueueDelayMs: o.maxQueueDelayMs, maxQueueSize: o.maxQueueSize, timeoutMs: o.timeoutMs });
  section('lifecycle', { idleUnloadMs: o.idleUnloadMs, memoryBudgetBytes: o.memoryBudget });
  section('runtime', { thread: o.runtimeThread, intraOpThreads: o.intraOpThreads });
  section('auth', { dev: o.dev, adminTokenFile: o.adminTokenFile });
  section('tls', { cert: o.tlsCert, key: o.tlsKey, clientCa: o.tlsClientCa, requireClientCert: o.requireClientCert });
  section('cors', { origins: o.corsOrigin });
  section('redis', { url: o.redis });
  section('database', { url: o.database });
  if (o.artifacts !== undefined) flags['artifacts'] = { url: o.artifacts };
  if (o.logLevel !== undefined) flags['logLevel'] = o.logLevel;
  return resolveConfig(fileLayer, configFromEnv(ctx.io.env), flags as ConfigLayer);
}

/** Read a YAML or JSON config file into a config layer (a relative dataDir is relative to the file). */
export async function readConfigFile(file: string): Promise<ConfigLayer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new BerthError('INVALID_CONFIG', `config file ${file} cannot be read (${(err as Error).message})`, { field: 'config', got: file }, { cause: err });
  }
  let doc: unknown;
  try {
    doc = path.extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new BerthError('INVALID_CONFIG', `config file ${file} is not valid ${path.extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`, {
      field: 'config',
    }, { cause: err });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new BerthError('INVALID_CONFIG', `config file ${file}: expected a mapping like "version: 1\\nserver: {port: 8080}", got ${JSON.stringify(doc)}`, {
      field: 'config',
    });
  }
  const known = Object.keys(DEFAULT_CONFIG);
  const unknown = Object.keys(doc).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new BerthError('INVALID_CONFIG', `config file ${file}: unknown key(s) ${unknown.join(', ')} (expected ${known.join(', ')})`, {
      field: unknown[0],
    });
  }
  const layer = doc as Record<string, unknown>;
  // a relative data dir in a config file means relative to the file, not to wherever berth was started
  if (typeof layer['dataDir'] === 'string') layer['dataDir'] = path.resolve(path.dirname(file), layer['dataDir']);
  return layer as ConfigLayer;
}

/** Serve until SIGINT/SIGTERM, then stop accepting, drain in-flight requests and close. A second signal stops waiting. */
async function waitForSignalThenClose(ctx: CliContext, server: { app: { server: { closeAllConnections(): void } }; close(): Promise<void> }): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        ctx.io.err(`berth: ${signal} again: closing open connections now\n`);
        server.app.server.closeAllConnections();
        return;
      }
      stopping = true;
      ctx.io.err(`berth: ${signal}: shutting down after in-flight requests finish (${signal} again to cut them off)\n`);
      const force = setTimeout(() => server.app.server.closeAllConnections(), DRAIN_TIMEOUT_MS);
      force.unref();
      server
        .close()
        .catch((err: unknown) => ctx.io.err(`berth: shutdown: ${err instanceof Error ? err.message : String(err)}\n`))
        .finally(() => {
          clearTimeout(force);
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.off('message', onMessage);
          resolve();
        });
    };
    // a serving process of a cluster: the primary asks it to drain (never escalates, since a
    // terminal's Ctrl-C may have reached this process too)
    const onMessage = (m: unknown): void => {
      if (!stopping && typeof m === 'object' && m !== null && (m as { t?: unknown }).t === 'berth:shutdown') onSignal('SIGTERM');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('message', onMessage);
  });
}
