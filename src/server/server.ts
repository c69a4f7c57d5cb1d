import { readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import {
  BerthError,
  createLogger,
  systemClock,
  toBerthError,
  type BerthConfig,
  type Clock,
  type Logger,
} from '../core/index.js';
import { AlertManager, InferenceLog, LogMirror, LogShipper, MonitorGauges, MonitorService, ServingMetrics, TrafficHistory, onnxPredictor } from '../monitor/index.js';
import {
  RequestGuard,
  registerTokenRoutes,
  createFastInferHandler,
  parseJsonBody,
  registerManagementRoutes,
  registerMonitorRoutes,
  registerPredictRoutes,
  registerExplainRoutes,
  registerJobRoutes,
  registerPipelineRoutes,
  registerUiRoutes,
  registerTrafficRoutes,
  registerRolloutRoutes,
  registerV2Routes,
  sendError,
} from '../protocol/index.js';
import { openRegistry, openSharedFiles, redactDatabaseUrl, type Registry } from '../registry/index.js';
import { OnnxBackend } from '../runtime/index.js';
import {
  InferenceService,
  InferenceStatistics,
  ModelManager,
  toManagedVersion,
  type DeploymentSource,
  type ManagedVersion,
  type ResolvedDeployment,
  type ResolvedTraffic,
} from '../serving/index.js';
import { RolloutController, RolloutStats, SharedRolloutWindows } from '../rollout/index.js';
import { ExplainJobRunner, JobRunner, JobService, JobStore, Scheduler, jobPriority, type JobRecord } from '../jobs/index.js';
import { PipelineService, RunStore } from '../pipelines/index.js';
import { ExplainService } from '../explain/index.js';
import {
  Authenticator,
  ExtractionDetector,
  LocalRateLimiter,
  RedisRateLimiter,
  TokenService,
  createJwtVerifier,
  referenceFeaturesFromProfile,
  type RateLimiter,
} from '../security/index.js';
import { clientCertificateOf, createTransport } from './transport.js';
import { applyClientTimeouts } from './client-timeouts.js';
import { ArtifactGuard, ArtifactTrust } from '../security/index.js';
import { createGrpcHandlers, registerSignatureRoutes, startGrpcServer, type RunningGrpcServer } from '../protocol/index.js';
import { createWorkerBridge, leadsRollouts, type ClusterBridge, type RepositoryAction } from './cluster.js';
import { ensureExampleDeployment } from './example.js';

export interface BerthServerOptions {
  config: Readonly<BerthConfig>;
  logger?: Logger;
  clock?: Clock;
  /** register and deploy the shipped example model if it is not there yet */
  example?: boolean;
  /** how often to look for registry changes made by other processes (ms; 0 = never) */
  pollMs?: number;
  /** this process is one of several serving the same port (`server.processes` > 1) */
  clusterWorker?: boolean;
  /** the clock that times rollout steps (tests pass a ManualClock; defaults to `clock`) */
  rolloutClock?: Clock;
  /** the bootstrap admin secret; default: BERTH_ADMIN_TOKEN, else the first line of `auth.adminTokenFile` */
  adminToken?: string;
  /** the argv that runs `berth` for server jobs (default: this node and this package's bin/berth.js) */
  jobCommand?: readonly string[];
  /** how often the job runner looks at the queue and renews leases (ms; tests shorten them) */
  jobTimings?: { pollMs?: number; heartbeatMs?: number; leaseMs?: number };
}

/** A running Berth: the HTTP app and everything behind it. */
export interface BerthServer {
  readonly app: FastifyInstance;
  readonly registry: Registry;
  readonly service: InferenceService;
  readonly manager: ModelManager;
  readonly metrics: ServingMetrics;
  readonly monitor: MonitorService;
  readonly alerts: AlertManager;
  readonly rollouts: RolloutController;
  readonly rolloutStats: RolloutStats;
  /** this process's share of the pooled rollout numbers (null when it serves alone) */
  readonly rolloutWindows: SharedRolloutWindows | null;
  readonly tokens: TokenService;
  /** server batch jobs (`/v1/jobs`) */
  readonly jobs: JobService;
  /** this replica's job runner (null when it runs no jobs: role data, or jobs.enabled false) */
  readonly jobRunner: JobRunner | null;
  /** cron schedules of jobs (fired by the rollout leader) */
  readonly schedules: Scheduler;
  /** continuous-training pipelines and their runs */
  readonly pipelines: PipelineService;
  /** explanations (`/v1/deployments/{name}/explain`) */
  readonly explain: ExplainService;
  /** recompute the monitoring gauges of /metrics now (they refresh every alerts.intervalMs) */
  refreshMonitorGauges(): Promise<void>;
  /** this process's inference log (null when `inferenceLog.enabled` is false) */
  readonly inferenceLog: InferenceLog | null;
  readonly config: Readonly<BerthConfig>;
  /** Listen on the configured host and port (and the gRPC port when set); resolves to the base URL. */
  listen(): Promise<string>;
  /** `host:port` of the gRPC service once listening (null when `server.grpcPort` is not set) */
  readonly grpcAddress: string | null;
  close(): Promise<void>;
}

export const BERTH_VERSION: string = readPackageVersion();

/** The built dashboard: dist/ui of this package (the same from src/ under tests and from dist/). */
const UI_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'ui');

function readPackageVersion(): string {
  try {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const pkg = JSON.parse(readFileSync(path.join(here, '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}


/** The bootstrap admin secret: given, else BERTH_ADMIN_TOKEN, else the first line of auth.adminTokenFile. */
function readBootstrapSecret(given: string | undefined, config: Readonly<BerthConfig>): string | null {
  let secret: string | null = given ?? (process.env['BERTH_ADMIN_TOKEN'] || null);
  let from = given !== undefined ? 'the adminToken option' : 'BERTH_ADMIN_TOKEN';
  if (secret === null && config.auth.adminTokenFile !== null) {
    from = `auth.adminTokenFile (${config.auth.adminTokenFile})`;
    try {
      secret = (readFileSync(config.auth.adminTokenFile, 'utf8').split(/\r?\n/)[0] ?? '').trim();
    } catch (err) {
      throw new BerthError('INVALID_CONFIG', `auth.adminTokenFile: cannot read ${config.auth.adminTokenFile} (${(err as NodeJS.ErrnoException).code ?? 'error'}); point it at a file holding the admin token`, {
        field: 'auth.adminTokenFile',
      });
    }
  }
  if (secret === null) return null;
  // the secret is never shown, only its length
  if (secret.length < 16 || /\s/.test(secret)) {
    throw new BerthError('INVALID_CONFIG', `the admin token from ${from} is too weak (${secret.length} characters${/\s/.test(secret) ? ', with whitespace' : ''}); use at least 16 characters without spaces, e.g. \`openssl rand -hex 24\``, {
      field: 'auth.adminToken',
    });
  }
  return secret;
}

/**
 * Record `config.change` when the effective configuration differs from the last one recorded:
 * what changed, before and after. Nothing secret is in the config (admin tokens and webhook
 * secrets come from the environment or files); a password in the Redis URL is dropped anyway.
 */
async function auditConfigChange(registry: Registry, config: Readonly<BerthConfig>): Promise<void> {
  const after = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  const redis = after['redis'] as { url: string | null };
  if (redis.url) redis.url = redis.url.replace(/\/\/[^@/]*@/, '//[redacted]@');
  const database = after['database'] as { url: string | null } | undefined;
  if (database?.url) database.url = redactDatabaseUrl(database.url);
  const [last] = await registry.audit({ action: 'config.change', limit: 1 });
  const before = (last?.details['after'] as Record<string, unknown> | undefined) ?? null;
  const changed = Object.keys(after).filter((k) => JSON.stringify(before?.[k]) !== JSON.stringify(after[k]));
  if (changed.length === 0) return;
  await registry.appendAudit({ action: 'config.change', target: 'config:server', model: null, details: { changed, before, after }, actor: 'berth serve' });
}

/** How long a rollout leader's lease lasts without renewal, and how often it is renewed. */
const LEADER_LEASE_MS = 10_000;
const LEADER_RENEW_MS = 2_500;

/**
 * Replicas sharing one PostgreSQL elect one rollout leader with a lease row: the holder renews it
 * every 2.5 s; when it dies, another takes over once the lease lapses (≤ 10 s); when it shuts down
 * cleanly it releases the lease and another takes over at its next attempt. A holder that cannot
 * renew stops leading before its lease could have lapsed, so two never lead at once.
 */
function startLeaderElection(registry: Registry, controller: RolloutController, holder: string, logger: Logger): { stop(): Promise<void> } {
  let lastHeld = 0;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const attempt = async (): Promise<void> => {
    try {
      const r = await registry.tryLease('rollout-leader', holder, LEADER_LEASE_MS);
      if (stopped) return;
      if (r.held) lastHeld = Date.now();
      await controller.setLeader(r.held);
    } catch (err) {
      logger.warn('rollouts: renewing the leader lease failed', { error: toBerthError(err).message });
      if (controller.leading && Date.now() - lastHeld > LEADER_LEASE_MS * 0.6) await controller.setLeader(false);
    }
  };
  const tick = (): void => {
    running = running.then(attempt);
  };
  tick();
  const timer = setInterval(tick, LEADER_RENEW_MS);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      if (controller.leading) {
        await controller.setLeader(false);
        await registry.releaseLease('rollout-leader', holder).catch(() => undefined);
      }
    },
  };
}

/** Adapts the registry to what the data plane needs to know. */
function deploymentSource(registry: Registry): DeploymentSource {
  const resolve = async (name: string): Promise<ResolvedDeployment> => {
    const { deployment, version } = await registry.resolveDeployment(name);
    const t = deployment.traffic;
    const get = async (v: number): Promise<ManagedVersion> => toManagedVersion(await registry.getVersion(deployment.model, v));
    const traffic: ResolvedTraffic | null = t
      ? {
          split: await Promise.all(t.split.map(async (a) => ({ version: await get(a.version), percent: a.percent }))),
          sticky: t.sticky,
          shadows: await Promise.all(t.shadows.map(async (a) => ({ version: await get(a.version), percent: a.percent }))),
          preview: t.preview === null ? null : await get(t.preview),
          fallback: t.fallback === null ? null : await get(t.fallback),
          fallbackWarm: t.fallbackWarmUntil !== null && t.fallbackWarmUntil > Date.now(),
          breaker: t.breaker,
        }
      : null;
    return { name, model: deployment.model, revision: deployment.revision, version: toManagedVersion(version), overrides: deployment.settings, traffic };
  };
  return {
    resolveDeployment: resolve,
    resolveVersion: async (model, version) => toManagedVersion(await registry.getVersion(model, version)),
    listDeployments: async () => {
      const out: ResolvedDeployment[] = [];
      for (const d of await registry.listDeployments()) {
        try {
          out.push(await resolve(d.name));
        } catch {
          // a deployment whose alias was deleted resolves to nothing until it is fixed
        }
      }
      return out;
    },
  };
}

/**
 * The composition root: reads config, opens the stores, builds the runtime, the model manager,
 * the data plane and the protocol adapters. Nothing else knows all of them.
 */
export async function createBerthServer(opts: BerthServerOptions): Promise<BerthServer> {
  const config = opts.config;
  const logger = opts.logger ?? createLogger(config.logLevel);
  const clock = opts.clock ?? systemClock;
  const role = config.server.role;
  // this process among the replicas: lease holder, author of its rollout numbers
  const replica = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const bootstrapSecret = readBootstrapSecret(opts.adminToken, config);
  // read before anything opens: a bad key file (INVALID_CONFIG) leaves nothing to close
  const artifactTrust = ArtifactTrust.load(config.artifacts);
  const registry = await openRegistry({ dataDir: config.dataDir, databaseUrl: config.database.url, artifactsUrl: config.artifacts.url, clock });
  const tokens = new TokenService({ registry, logger, now: () => clock.now() });
  // a server that starts with another configuration than the last one is a change like any other
  // (inference replicas write nothing to the registry at start)
  if (role !== 'data' && (!opts.clusterWorker || leadsRollouts())) await auditConfigChange(registry, config);
  const authenticator = new Authenticator({
    dev: config.auth.dev,
    tokens,
    bootstrapSecret,
    jwt: createJwtVerifier(config.auth),
    certificates: config.tls.clients,
  });
  if (config.auth.dev) {
    logger.warn('DEV MODE: authentication is OFF; anyone who can reach this port can deploy, delete and read everything. Never use --dev / BERTH_DEV=1 outside your own machine.');
  } else if (!authenticator.configured && !(await tokens.list()).some((t) => t.state === 'active')) {
    await registry.close();
    throw new BerthError(
      'INVALID_CONFIG',
      'no way to authenticate is configured, so nobody could use this server. Set BERTH_ADMIN_TOKEN (or auth.adminTokenFile) to bootstrap an admin, ' +
        `create a token on this data dir with \`berth --local --data-dir ${path.resolve(config.dataDir)} tokens create --name NAME --role admin\`, configure auth.oidcIssuer, ` +
        'or run `berth serve --dev` (BERTH_DEV=1) for local development without authentication',
      { field: 'auth' },
    );
  }
  let manager: ModelManager | undefined;
  const metrics = new ServingMetrics(() => manager);
  // the last hour of each deployment's traffic, for the dashboard's live charts
  const traffic = new TrafficHistory({ clock });
  // the protocol's statistics extension (GET /v2/models/{name}/stats, gRPC ModelStatistics)
  const statistics = new InferenceStatistics(() => clock.now());
  const artifactGuard = new ArtifactGuard(artifactTrust, registry);
  manager = new ModelManager({
    backend: new OnnxBackend(),
    readArtifact: (sha) => registry.artifacts.read(sha),
    verifyArtifact: (v) => artifactGuard.verifyLoad(v),
    lifecycle: config.lifecycle,
    runtime: config.runtime,
    clock,
    logger,
    observer: {
      onLoad: (m, v, ms) => metrics.onLoad(m, v, ms),
      onUnload: (m, v, reason) => metrics.onUnload(m, v, reason),
      onBatchFor: (m, v, rows, requests, ms, ok) => {
        metrics.onBatchFor(m, v, rows, requests, ms);
        traffic.onBatch(m, v, rows);
        statistics.onBatch(m, v, rows, ms, ok);
      },
    },
  });
  const dataDir = path.resolve(config.dataDir);
  // Replicas on several machines (a shared database, or the roles split) share the inference log
  // through the artifact store: each ships its finished files there, and reports read a mirror
  // of the window they cover. Processes on one machine sharing a data dir read it directly.
  const replicated = registry.metadata.dialect === 'postgres' || role !== 'all';
  const sharedFiles = replicated && config.inferenceLog.enabled ? openSharedFiles(config.artifacts.url, { dataDir }) : null;
  const fileTag = replica.replace(/[^A-Za-z0-9._-]/g, '.').slice(-64);
  const inferenceLog = config.inferenceLog.enabled && role !== 'control' ? new InferenceLog({ dataDir, config: config.inferenceLog, clock, logger, ...(sharedFiles ? { fileTag } : {}) }) : null;
  if (inferenceLog && !sharedFiles) void inferenceLog.applyRetention();
  const shipper = sharedFiles && inferenceLog ? new LogShipper({ dataDir, files: sharedFiles, logger, intervalMs: config.inferenceLog.shipIntervalMs }) : null;
  const mirror = sharedFiles && role !== 'data' ? new LogMirror({ mirrorDir: path.join(dataDir, 'log-mirror'), files: sharedFiles, logger }) : null;
  /** write this process's buffered rows, and ship them when replicas share the log */
  const flushLocalLog = async (): Promise<void> => {
    await inferenceLog?.flush();
    await shipper?.shipNow();
  };
  // with several serving processes a report first has every process write its buffered rows
  let bridge: ClusterBridge | null = null;
  // explanations: their own sessions; reports show what drives each version's predictions
  const explain = new ExplainService({ registry, backend: new OnnxBackend(), logger, config: config.explain });
  const monitor = new MonitorService({
    dataDir,
    registry,
    clock,
    predictor: onnxPredictor(registry),
    explanations: (v) => explain.importance(v),
    flush: async () => (bridge ? bridge.broadcast({ kind: 'flush-log', deployment: '' }) : flushLocalLog()),
    ...(mirror ? { logDir: mirror.mirrorDir, syncLog: (d: string, from: number | undefined, to: number | undefined) => mirror.sync(d, from, to) } : {}),
  });
  let pipelinesRef: PipelineService | null = null;
  const alerts = new AlertManager({
    dataDir,
    rules: config.alerts.rules.map((r) => ({ ...r })),
    webhooks: config.alerts.webhooks.map((w) => {
      const secret = w.secretEnv !== undefined ? process.env[w.secretEnv] : w.secret;
      return secret !== undefined ? { url: w.url, secret } : { url: w.url };
    }),
    report: (deployment, window) => monitor.report(deployment, { window }),
    deployments: async () => (await registry.listDeployments()).map((d) => d.name),
    intervalMs: config.alerts.intervalMs,
    repeatIntervalMs: config.alerts.repeatIntervalMs,
    clock,
    logger,
    // a firing alert can start a retraining pipeline (its alert trigger)
    onEvent: (e) => void pipelinesRef?.onAlert(e).catch((err: unknown) => logger.warn(`pipelines: an alert trigger failed: ${toBerthError(err).message}`)),
    // replicas sharing PostgreSQL elect one evaluator there, so an alert is notified once
    ...(registry.metadata.dialect === 'postgres'
      ? {
          sharedLease: async (holder: string, ttlMs: number) => (await registry.tryLease('alert-evaluator', holder, ttlMs)).held,
          releaseSharedLease: (holder: string) => registry.releaseLease('alert-evaluator', holder),
        }
      : {}),
  });
  const gauges = new MonitorGauges(metrics.registry);
  const refreshMonitorGauges = async (): Promise<void> => {
    for (const d of await registry.listDeployments()) {
      try {
        gauges.update(await monitor.report(d.name, { window: '1h' }));
      } catch (err) {
        logger.debug('monitoring gauges: a deployment could not be reported', { deployment: d.name, error: toBerthError(err).message });
      }
    }
  };
  // the monitoring gauges come from reports: the control plane's work, not an inference replica's
  const gaugeTimer = role === 'data' ? null : setInterval(() => void refreshMonitorGauges(), config.alerts.intervalMs);
  gaugeTimer?.unref();
  const rolloutStats = new RolloutStats(() => clock.now());
  // callers whose traffic looks like model stealing become alerts, with the evidence
  // (in dev mode every request is the same anonymous caller: nothing to tell apart; a control
  // plane takes no inference traffic)
  const extraction = config.extraction.enabled && !config.auth.dev && role !== 'control'
    ? new ExtractionDetector({
        windowMs: config.extraction.windowMs,
        minRows: config.extraction.minRows,
        clock,
        logger,
        reference: async (model, version) => {
          const stored = await monitor.referenceOf(await registry.getVersion(model, version));
          return stored ? referenceFeaturesFromProfile(stored.profile) : null;
        },
        onFinding: (f) => {
          metrics.onExtractionFinding(f);
          alerts.raise({
            rule: 'model-extraction',
            deployment: f.deployment,
            severity: f.verdict === 'likely-extraction' ? 'critical' : 'warning',
            message: f.summary,
            value: f.rows,
            details: f as unknown as Record<string, unknown>,
          });
        },
      })
    : null;
  const extractionTimer = setInterval(() => extraction?.evaluate(), Math.min(config.alerts.intervalMs, 60_000));
  extractionTimer.unref();
  // the controller needs the service and the service's observer needs the controller: late-bound
  let rollouts: RolloutController | null = null;
  const service = new InferenceService({
    source: deploymentSource(registry),
    manager,
    batching: config.batching,
    lifecycle: config.lifecycle,
    clock,
    logger,
    // a control plane loads a version only to run its gates
    preload: role !== 'control',
    observer: {
      onRequest: (d, m, v, code, timing, totalMs) => {
        metrics.onRequest(d, m, v, code, timing, totalMs);
        traffic.onRequest(d, m, v, code, totalMs);
        statistics.onRequest(d, m, v, code, timing, totalMs);
      },
      onInference: (record) => {
        inferenceLog?.onInference(record);
        extraction?.observe(record);
        rolloutStats.onInference(record);
      },
      onFailure: (record) => {
        inferenceLog?.onFailure(record);
        rolloutStats.onFailure(record);
      },
      onShadow: (record) => {
        inferenceLog?.onShadow(record);
        rolloutStats.onShadow(record);
      },
      onBreaker: (event) => {
        metrics.onBreaker(event);
        void rollouts?.onBreaker(event).catch((err: unknown) => logger.error('recording a circuit breaker failed', { deployment: event.deployment, error: toBerthError(err).message }));
      },
    },
  });

  if (opts.example && role !== 'data') await ensureExampleDeployment(registry, logger);

  // with several serving processes each stores its numbers of a rollout step; the leader merges them
  let sharedWindows: SharedRolloutWindows | null = null;
  let ready = false;
  let refreshing: Promise<void> | null = null;
  let again = false;
  const refresh = (): Promise<void> => {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = service
      .refresh()
      .then(() => {
        rolloutStats.track(service.deploymentsWithTraffic());
        // a step that began elsewhere starts this replica's window now, when its routing changed
        void sharedWindows?.publish();
      })
      .catch((err: unknown) => logger.error('refreshing deployments failed', { error: toBerthError(err).message }))
      .finally(() => {
        refreshing = null;
        if (again) {
          again = false;
          void refresh();
        }
      });
    return refreshing;
  };
  const unsubscribe = registry.onChange(() => void refresh());
  let seq = await registry.changeSeq();
  let pollTimer: NodeJS.Timeout | null = null;
  const pollMs = opts.pollMs ?? 1000;
  // a change another process committed: its audit row moved the change sequence
  const checkForChanges = (): void => {
    void registry.changeSeq().then((s) => {
      if (s !== seq) {
        seq = s;
        // a token revoked through another process must stop working here too
        tokens.invalidate();
        void refresh();
      }
    }, () => undefined);
  };
  if (pollMs > 0) {
    pollTimer = setInterval(checkForChanges, pollMs);
    pollTimer.unref();
  }
  // PostgreSQL announces each commit (LISTEN/NOTIFY): replicas follow within milliseconds, the poll stays as the fallback
  const stopChangeFeed = registry.metadata.subscribe && pollMs > 0 ? await registry.metadata.subscribe(checkForChanges) : null;

  // shared by every replica through Redis when a URL is configured; in this process otherwise
  const limiter: RateLimiter =
    config.redis.url !== null ? new RedisRateLimiter({ url: config.redis.url, logger, leaseSize: config.rateLimits.leaseSize }) : new LocalRateLimiter();
  const guard = new RequestGuard({
    authenticator,
    limiter,
    perToken: config.rateLimits.perToken,
    perDeployment: config.rateLimits.perDeployment,
    deployments: config.rateLimits.deployments,
    corsOrigins: config.cors.origins,
    tls: config.tls.cert !== null,
    certificateOf: clientCertificateOf,
    role,
  });
  const fastInfer = createFastInferHandler({
    guard,
    service,
    logger,
    bodyLimitBytes: config.server.bodyLimitBytes,
    limits: config.hardening,
    onProtocolError: (code) => metrics.onProtocolError(code),
  });
  const app = Fastify({
    logger: false,
    bodyLimit: config.server.bodyLimitBytes,
    routerOptions: { maxParamLength: 256 },
    serverFactory: (handler) => {
      // HTTPS (and client certificates) when tls.cert is set, plain HTTP otherwise
      const server = createTransport((req, res) => {
        // a control plane takes no inference: its infer routes answer WRONG_ROLE through Fastify
        if (role === 'control' || !fastInfer(req, res)) handler(req, res);
      }, config.tls);
      server.keepAliveTimeout = 65_000;
      applyClientTimeouts(server, config.hardening);
      return server;
    },
  });
  guard.install(app);
  // JSON for every content type: `curl -d @body.json` sends form encoding by default.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(null, undefined);
    try {
      // strict: nesting limit, no __proto__ / constructor.prototype keys (400 naming the path)
      done(null, parseJsonBody(text, { maxDepth: config.hardening.maxJsonDepth }));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.setErrorHandler((err, req, reply) => {
    const e = toBerthError(err);
    metrics.onProtocolError(e.code === 'INTERNAL' ? ((err as { code?: string }).code ?? 'INTERNAL') : e.code);
    return sendError(reply, req, err, logger);
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .header('content-type', 'application/json; charset=utf-8')
      .send(JSON.stringify({ error: `no route ${req.method} ${req.url.split('?')[0]}; see /openapi.json for the API`, code: 'NOT_FOUND' })),
  );

  // With several serving processes, each holds its own loaded models: repository actions go to
  // all of them and /metrics sums them, through the cluster primary.
  const localAction = async (a: RepositoryAction): Promise<void> => {
    if (a.kind === 'flush-log') return flushLocalLog();
    const r = await service.route(a.deployment);
    if (a.kind === 'load') await manager!.load(r.version);
    else await manager!.unload(r.key, 'requested');
  };
  bridge = opts.clusterWorker ? createWorkerBridge({ collect: () => metrics.registry.getMetricsAsJSON(), act: localAction }) : null;
  registerV2Routes(app, {
    service,
    logger,
    serverName: 'berth',
    serverVersion: BERTH_VERSION,
    listDeployments: async () => (await registry.listDeployments()).map((d) => d.name),
    isReady: () => ready,
    repositoryAction: bridge ? (a) => bridge.broadcast(a) : localAction,
    limits: config.hardening,
    statistics,
  });
  // inference replicas never lead rollouts; the others sharing PostgreSQL elect one
  const electsLeader = registry.metadata.dialect === 'postgres' && role !== 'data';
  const pooled = registry.metadata.dialect === 'postgres' || opts.clusterWorker === true || role !== 'all';
  let leading = (): boolean => false;
  sharedWindows = pooled ? new SharedRolloutWindows({ registry, stats: rolloutStats, replica, leading: () => leading(), logger }) : null;
  rollouts = new RolloutController({
    registry,
    service,
    stats: rolloutStats,
    ...(sharedWindows ? { shared: sharedWindows } : {}),
    apply: refresh,
    monitor,
    predictor: onnxPredictor(registry),
    clock: opts.rolloutClock ?? clock,
    logger,
    // of several serving processes one times the steps; it also picks up rollouts the others started.
    // Replicas sharing PostgreSQL elect it with a lease (below); cluster processes on one data dir by index.
    leader: role === 'data' || electsLeader ? false : opts.clusterWorker ? leadsRollouts() : true,
    pollMs: role === 'data' ? 0 : opts.clusterWorker || electsLeader ? 2000 : 0,
  });
  const controller = rollouts;
  leading = () => controller.leading;
  const leadership = electsLeader ? startLeaderElection(registry, controller, replica, logger) : null;
  registerPredictRoutes(app, { service, logger, limits: config.hardening });
  registerTokenRoutes(app, { tokens, logger, now: () => clock.now() });
  app.get<{ Querystring: { limit?: string } }>('/v1/security/findings', async (req, reply) => {
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    if (extraction) extraction.evaluate();
    return reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify({ enabled: extraction !== null, findings: extraction ? extraction.recent(limit) : [] }));
  });
  registerRolloutRoutes(app, { rollouts: controller, logger, datasetRoot: path.join(dataDir, 'datasets') });
  registerSignatureRoutes(app, { guard: artifactGuard, logger });
  registerMonitorRoutes(app, { monitor, alerts, logger });
  // batch jobs: any control replica takes submissions; those that run jobs take them from the queue
  const jobStore = new JobStore(registry);
  const jobRoots = config.jobs.roots.length > 0 ? config.jobs.roots.map((r) => path.resolve(r)) : [path.join(dataDir, 'batch')];
  await mkdir(jobRoots[0]!, { recursive: true }).catch(() => undefined);
  const jobRunner = role !== 'data' && config.jobs.enabled && (!opts.clusterWorker || leadsRollouts())
    ? new JobRunner({
        store: jobStore,
        holder: replica,
        maxConcurrent: config.jobs.maxConcurrent,
        command: opts.jobCommand ?? [process.execPath, fileURLToPath(new URL('../../bin/berth.js', import.meta.url))],
        dataDir,
        env: {
          ...process.env,
          ...(config.database.url !== null ? { BERTH_DATABASE_URL: config.database.url } : {}),
          ...(config.artifacts.url !== null ? { BERTH_ARTIFACTS_URL: config.artifacts.url } : {}),
        },
        nice: config.jobs.nice,
        idlePriority: config.jobs.idlePriority,
        logger,
        ...(opts.jobTimings ?? {}),
        // a scheduled run that failed is an alert (an ad-hoc job's submitter is watching it)
        onFinished: (job: JobRecord) => {
          if (job.state !== 'failed' || job.schedule === null) return;
          alerts.raise({
            rule: 'scheduled-job-failed', deployment: job.model, severity: 'critical', value: null,
            message: `scheduled job ${job.id} of schedule "${job.schedule}" failed: ${job.error?.code ?? 'INTERNAL'}: ${job.error?.message ?? 'see its logs'} (berth batch logs ${job.id})`,
            details: { job: job.id, schedule: job.schedule, scheduledAt: job.scheduledAt, error: job.error },
          });
        },
      })
    : null;
  const jobs = new JobService({ registry, store: jobStore, runner: jobRunner, roots: jobRoots, verifyVersion: (v) => artifactGuard.verifyLoad(v) });
  // schedules fire where rollouts are led: one process among replicas
  const scheduler = new Scheduler({
    registry, jobs, logger,
    leading: () => role !== 'data' && controller.leading,
    ...(opts.jobTimings?.pollMs !== undefined ? { pollMs: opts.jobTimings.pollMs } : {}),
    onSubmitFailed: (s, at, e) =>
      void alerts.raise({
        rule: 'scheduled-job-failed', deployment: s.spec.model.split('@')[0]!, severity: 'critical', value: null,
        message: `schedule "${s.name}" could not submit its run for ${at.toISOString()}: ${e.code}: ${e.message}`,
        details: { schedule: s.name, scheduledAt: at.toISOString(), error: { code: e.code, message: e.message } },
      }),
  });
  registerJobRoutes(app, { jobs, schedules: scheduler, logger });
  // explanations too large to wait for become jobs in the same table, run by replicas that run jobs
  const explainJobs = role !== 'data' && config.jobs.enabled
    ? new ExplainJobRunner({ store: jobStore, explain, registry, holder: replica, logger, maxEvaluations: config.explain.maxJobEvaluations, ...(opts.jobTimings ?? {}) })
    : null;
  explainJobs?.start();
  registerExplainRoutes(app, { service, explain, registry, logger, limits: config.hardening, jobs: explainJobs, maxSyncEvaluations: config.explain.maxEvaluations });
  const grpcHandlers = createGrpcHandlers({
    service,
    guard,
    logger,
    serverName: 'berth',
    serverVersion: BERTH_VERSION,
    isReady: () => ready,
    listDeployments: async () => (await registry.listDeployments()).map((d) => d.name),
    repositoryAction: bridge ? (a) => bridge!.broadcast(a) : localAction,
    limits: config.hardening,
    statistics,
  });
  let grpc: RunningGrpcServer | null = null;
  const inspector = new OnnxBackend();
  const managementApi = registerManagementRoutes(app, {
    registry,
    service,
    logger,
    version: BERTH_VERSION,
    inspect: (bytes) => inspector.inspect(bytes),
    dataDir,
    clock,
    monitor,
    verifyDeploy: (input) => artifactGuard.verifyDeploy(input),
    verifyVersion: (v) => artifactGuard.verifyLoad(v),
    rolloutLeader: () => controller.leading,
    afterReference: (model, version, actor) => explain.prepareBackground(model, version, actor),
    grpcPort: () => grpc?.port ?? null,
    role,
  });
  // continuous-training pipelines: queued runs execute where jobs run (commands at idle CPU
  // priority), triggers fire where rollouts are led
  const pipelineStore = new RunStore(registry);
  const pipelines = new PipelineService({
    registry,
    store: pipelineStore,
    host: {
      register: async (req) => {
        const r = await managementApi.registerVersion({
          name: req.name, filePath: req.filePath, lineage: req.lineage, actor: req.actor,
          ...(req.cardPath !== undefined ? { cardText: await readFile(req.cardPath, 'utf8'), cardFileName: path.basename(req.cardPath) } : {}),
          ...(req.referencePath !== undefined ? { referencePath: req.referencePath } : {}),
          ...(req.description !== undefined ? { description: req.description } : {}),
          ...(req.tags !== undefined ? { tags: req.tags } : {}),
        });
        return { created: r.created, version: r.version };
      },
      startRollout: (deployment, req, actor) => controller.start(deployment, req, actor),
      rollout: async (deployment) => (await controller.status(deployment).catch(() => null))?.rollout ?? null,
      servedVersion: async (deployment) => {
        const d = await registry.resolveDeployment(deployment).catch(() => null);
        return d ? { model: d.version.model, version: d.version.version } : null;
      },
    },
    runsHere: role !== 'data' && config.jobs.enabled && (!opts.clusterWorker || leadsRollouts()),
    roots: jobRoots,
    runsDir: path.join(dataDir, 'pipelines', 'runs'),
    holder: replica,
    commandPrefix: jobPriority({ nice: config.jobs.nice, idlePriority: config.jobs.idlePriority, envPath: process.env['PATH'] }).prefix,
    maxConcurrent: config.jobs.maxConcurrent,
    leading: () => role !== 'data' && controller.leading,
    feedbackCount: (deployment) => registry.feedbackCount(deployment),
    logger,
    ...(opts.jobTimings?.pollMs !== undefined ? { pollMs: opts.jobTimings.pollMs, triggerMs: opts.jobTimings.pollMs } : {}),
    ...(opts.jobTimings?.heartbeatMs !== undefined ? { heartbeatMs: opts.jobTimings.heartbeatMs } : {}),
    ...(opts.jobTimings?.leaseMs !== undefined ? { leaseMs: opts.jobTimings.leaseMs } : {}),
  });
  pipelinesRef = pipelines;
  registerPipelineRoutes(app, { pipelines, store: pipelineStore, registry, logger });
  // the dashboard, built into dist/ui beside the server's own files
  registerUiRoutes(app, { dir: UI_DIR });
  registerTrafficRoutes(app, { traffic, registry, logger });
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = bridge ? await bridge.metrics() : await metrics.render();
    return reply.header('content-type', contentType).send(body);
  });

  await refresh();
  await controller.recover();
  ready = true;
  if (role !== 'data') alerts.start();
  sharedWindows?.start();
  shipper?.start();
  jobRunner?.start();
  if (role !== 'data') scheduler.start();
  if (role !== 'data') pipelines.start();
  // the shared log's retention: the rollout leader deletes old hours from the store, every
  // reporting process its mirror's
  const applyLogRetention = async (): Promise<void> => {
    const hours = config.inferenceLog.retentionHours;
    if (!mirror || hours <= 0) return;
    try {
      await mirror.applyRetention(hours, clock.now());
      if (controller.leading) await mirror.applyRemoteRetention(hours, clock.now());
    } catch (err) {
      logger.warn('inference log: applying retention to the shared log failed; retrying in an hour', { error: toBerthError(err).message });
    }
  };
  const retentionTimer = mirror ? setInterval(() => void applyLogRetention(), 3_600_000) : null;
  retentionTimer?.unref();

  const server: BerthServer = {
    app,
    registry,
    service,
    manager,
    metrics,
    monitor,
    alerts,
    rollouts: controller,
    rolloutStats,
    rolloutWindows: sharedWindows,
    tokens,
    jobs,
    jobRunner,
    schedules: scheduler,
    pipelines,
    explain,
    refreshMonitorGauges,
    inferenceLog,
    config,
    get grpcAddress() {
      return grpc?.address ?? null;
    },
    async listen() {
      if (config.server.grpcPort !== null && !grpc) {
        grpc = await startGrpcServer(grpcHandlers, {
          host: config.server.host,
          port: config.server.grpcPort,
          maxMessageBytes: config.server.bodyLimitBytes,
          tls: config.tls,
        });
      }
      await app.listen({ host: config.server.host, port: config.server.port });
      const addr = app.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.server.port;
      const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
      return `${config.tls.cert !== null ? 'https' : 'http'}://${host}:${port}`;
    },
    async close() {
      ready = false;
      unsubscribe();
      if (pollTimer) clearInterval(pollTimer);
      await stopChangeFeed?.();
      // both transports stop taking calls and let the running ones finish
      await Promise.all([app.close(), grpc?.close(30_000)]);
      // running jobs stop at their next batch and go back to the queue (their parts stay)
      await scheduler.close();
      await pipelines.close();
      await jobRunner?.close();
      await explainJobs?.close();
      await explain.close();
      // give the lease up first, so another replica takes the rollouts over at once
      await leadership?.stop();
      await controller.close();
      await refreshing;
      // this replica's last numbers of a rollout step, for the leader
      await sharedWindows?.close();
      if (gaugeTimer) clearInterval(gaugeTimer);
      clearInterval(extractionTimer);
      await alerts.close();
      // every answered request is in the log's buffers by now: write them before going
      await inferenceLog?.close();
      // …and ship them, so a replica that goes leaves nothing behind
      await shipper?.close();
      if (retentionTimer) clearInterval(retentionTimer);
      await sharedFiles?.close();
      await tokens.close();
      await limiter.close();
      await manager!.close();
      await registry.close();
    },
  };
  return server;
}
