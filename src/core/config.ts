import { BerthError } from './errors.js';

/** Dynamic batching settings of one loaded model. */
export interface BatchingConfig {
  /** most rows in one runtime call */
  maxBatchSize: number;
  /** how long a partial batch may wait for more rows while the runtime is idle (0 = dispatch at once) */
  maxQueueDelayMs: number;
  /** most rows waiting in the queue; beyond it requests get 429 */
  maxQueueSize: number;
  /** per-request deadline from arrival (ms); a request past it never reaches the runtime */
  timeoutMs: number;
}

/** Model lifecycle settings of the model manager. */
export interface LifecycleConfig {
  /** unload a model unused for this long (0 = never) */
  idleUnloadMs: number;
  /** models kept loaded regardless of idleness, per deployment (keep-warm) */
  minLoaded: number;
  /** total bytes loaded models may use (0 = unlimited); least recently used are evicted first */
  memoryBudgetBytes: number;
  /** run this many warm-up inferences after loading */
  warmupRuns: number;
}

export const RUNTIME_THREADS = ['auto', 'worker', 'main'] as const;
export type RuntimeThread = (typeof RUNTIME_THREADS)[number];

export interface RuntimeConfig {
  intraOpThreads: number;
  interOpThreads: number;
  /**
   * Where each model runs: `worker` (its own thread, so inference never blocks HTTP), `main` (the
   * event loop's thread: no hand-off cost, best for models that take microseconds) or `auto`
   * (measured at warm-up: models slower than `workerThresholdMs` per row move to a worker).
   */
  thread: RuntimeThread;
  workerThresholdMs: number;
}

export interface ServerConfig {
  host: string;
  port: number;
  /** request bodies above this many bytes get 413 */
  bodyLimitBytes: number;
  /**
   * serving processes sharing the port (1: this process serves; 0: one per CPU). Each holds its
   * own loaded models, so memory grows with it; repository actions and /metrics span them all.
   */
  processes: number;
  /**
   * what this process does: `all` (the default) serves inference and runs the control plane;
   * `data` serves inference only (stateless replicas); `control` runs the management API,
   * rollouts, monitoring and alerts without taking inference traffic (docs/replicas.md).
   */
  role: ServerRole;
  /** serve the v2 protocol over gRPC on this port too (null: off; 0 picks a free one) */
  grpcPort: number | null;
}

export const SERVER_ROLES = ['all', 'control', 'data'] as const;
export type ServerRole = (typeof SERVER_ROLES)[number];

/** The inference log: what every deployment records of its traffic (docs/monitoring.md). */
export interface InferenceLogConfig {
  enabled: boolean;
  /** share of rows recorded while traffic stays under `maxRowsPerSecond` (0..1) */
  sampleRate: number;
  /**
   * rows per second per deployment (per serving process) recorded at `sampleRate`; above it rows are
   * sampled down to this rate and carry a weight of 1 / probability (0 = no ceiling)
   */
  maxRowsPerSecond: number;
  /** write a Parquet file when a deployment has buffered this many rows… */
  flushRows: number;
  /** …or when its oldest buffered row is this old (ms) */
  flushIntervalMs: number;
  /** delete hour partitions older than this (hours; 0 = keep forever) */
  retentionHours: number;
  /**
   * with replicas sharing an artifact store: how often each ships its finished log files there
   * (ms), for the control plane's reports (docs/replicas.md)
   */
  shipIntervalMs: number;
}

/** One alert rule as configured (checked in full by monitoring at startup; docs/monitoring.md). */
export interface AlertRuleConfig {
  name: string;
  /** a deployment, or `*` for each deployment */
  deployment: string;
  /** `<metric> <op> <threshold>[%|ms] [for <duration>]`, e.g. `drift_share > 0.3 for 15m` */
  when: string;
  /** the traffic each evaluation looks at (default 15m) */
  window?: string;
  severity?: 'info' | 'warning' | 'critical';
}

export interface WebhookConfig {
  url: string;
  /** the HMAC key, inline… */
  secret?: string;
  /** …or from this environment variable (preferred: keeps the secret out of files) */
  secretEnv?: string;
}

export interface AlertsConfig {
  /** how often rules are evaluated (ms) */
  intervalMs: number;
  /** a firing alert is notified again after this long (ms) */
  repeatIntervalMs: number;
  rules: AlertRuleConfig[];
  webhooks: WebhookConfig[];
}

/** Authentication (docs/security.md). The bootstrap admin secret itself is never config: BERTH_ADMIN_TOKEN or a file. */
export interface AuthConfig {
  /** no authentication at all, said loudly at start (`--dev`, BERTH_DEV=1); for local work and tests only */
  dev: boolean;
  /** a file holding the bootstrap admin token (its first line) */
  adminTokenFile: string | null;
  /** OIDC: accept JWT bearer tokens from this issuer (the `iss` claim) */
  oidcIssuer: string | null;
  /** the `aud` a JWT must carry (required with an issuer) */
  oidcAudience: string | null;
  /** where the issuer's keys are; default: discovered from the issuer's openid-configuration */
  oidcJwksUri: string | null;
  /** the claim listing Berth roles (admin, deployer, predictor, viewer) */
  oidcRolesClaim: string;
  /** the claim listing scopes (space-separated string or list); only `berth:`-prefixed ones count (`berth:predict:fraud`) */
  oidcScopesClaim: string;
}

/** A token bucket: `rate` requests refill per second, up to `burst` at once. */
export interface RateLimitSpec {
  rate: number;
  burst: number;
}

/** Rate limits and quotas (token buckets), per token and per deployment. */
export interface RateLimitsConfig {
  /** every principal's default (a token's own limit overrides it); null = none */
  perToken: RateLimitSpec | null;
  /** every deployment's total; null = none */
  perDeployment: RateLimitSpec | null;
  /** per-deployment overrides by name */
  deployments: Record<string, RateLimitSpec>;
  /** with a Redis URL the buckets are shared by every replica; each process leases this many requests at a time */
  leaseSize: number;
}

/** HTTPS, and client certificates (mTLS) as a way to authenticate services. */
export interface TlsConfig {
  cert: string | null;
  key: string | null;
  /** CA bundle that client certificates must chain to; enables mTLS */
  clientCa: string | null;
  /** refuse connections without a valid client certificate (otherwise a certificate is one way to authenticate) */
  requireClientCert: boolean;
  /** what a client certificate may do, by its subject's common name */
  clients: Array<{ commonName: string; roles?: string[]; scopes?: string[] }>;
}

/** Limits that keep malformed or hostile requests cheap to refuse. */
export interface HardeningConfig {
  /** elements over all tensors of one request */
  maxTensorElements: number;
  /** nesting depth of a JSON body */
  maxJsonDepth: number;
  /** a request must arrive whole within this (ms) */
  requestTimeoutMs: number;
  /** its headers within this (ms) */
  headersTimeoutMs: number;
}

/** Cross-origin access from browsers: closed unless origins are listed. */
export interface CorsConfig {
  /** allowed origins (`https://app.example.com`), or `*`; empty = no CORS headers at all */
  origins: string[];
}

/** Trust in artifacts beyond their sha256. */
export interface ArtifactTrustConfig {
  /** where artifacts live: null = the data dir; `s3://bucket/prefix[?endpoint=…&region=…]` = S3 (or compatible), cached locally */
  url: string | null;
  /** PEM files of public keys (Ed25519, ECDSA or RSA) whose signatures are trusted */
  publicKeys: string[];
  /** serve only versions signed by one of them */
  requireSignature: boolean;
}

/** Detecting model extraction: query patterns typical of stealing a model, per principal. */
export interface ExtractionConfig {
  enabled: boolean;
  /** the window each principal's traffic is judged over (ms) */
  windowMs: number;
  /** rows in a window before a principal is judged at all */
  minRows: number;
}

/** Batch jobs the server runs (`POST /v1/jobs`) and the schedules that submit them. */
export interface JobsConfig {
  /** run jobs in this replica (role data never does) */
  enabled: boolean;
  /** jobs running at once in this replica; more wait in the queue */
  maxConcurrent: number;
  /**
   * directories a caller without the admin role may read inputs from and write outputs to
   * (relative paths resolve under the first); empty = `<dataDir>/batch`
   */
  roots: string[];
  /**
   * start job processes in the kernel's idle scheduling class (Linux, through `chrt`): any online
   * request preempts them at once, and a job only uses CPU that online traffic leaves over
   */
  idlePriority: boolean;
  /** the job processes' CPU niceness (0–19) where the idle class is off or missing */
  nice: number;
}

/** Explanations (`/v1/deployments/{name}/explain`, docs/explain.md). */
export interface ExplainSettings {
  /** background rows the reference data is summarised to (k-means), once per version */
  backgroundSize: number;
  /** the most model evaluations (rows × coalitions × background rows) one request may cost */
  maxEvaluations: number;
  /** onnxruntime threads of the sessions explanations run on (their own, apart from serving's) */
  intraOpThreads: number;
  /** rows kept for requests that ask for the cache (`cache: true`), least recently used out first */
  cacheEntries: number;
  /** the most model evaluations one explain job may cost (requests over maxEvaluations become jobs) */
  maxJobEvaluations: number;
  /** sessions (worker threads) per explained version; a large batch of model rows is split across them */
  sessions: number;
}

/** The whole configuration. `version` is the config format's version. */
export interface BerthConfig {
  version: 1;
  dataDir: string;
  server: ServerConfig;
  batching: BatchingConfig;
  lifecycle: LifecycleConfig;
  runtime: RuntimeConfig;
  inferenceLog: InferenceLogConfig;
  alerts: AlertsConfig;
  auth: AuthConfig;
  rateLimits: RateLimitsConfig;
  tls: TlsConfig;
  hardening: HardeningConfig;
  cors: CorsConfig;
  artifacts: ArtifactTrustConfig;
  extraction: ExtractionConfig;
  jobs: JobsConfig;
  explain: ExplainSettings;
  /** shared state across replicas (rate limits); null = in process */
  redis: { url: string | null };
  /** registry metadata in PostgreSQL (postgres://…, `?schema=name` optional); null = SQLite in the data dir */
  database: { url: string | null };
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

export const DEFAULT_CONFIG: BerthConfig = {
  version: 1,
  dataDir: '.berth',
  server: { host: '127.0.0.1', port: 8080, bodyLimitBytes: 32 * 1024 * 1024, processes: 1, role: 'all', grpcPort: null },
  batching: { maxBatchSize: 64, maxQueueDelayMs: 0, maxQueueSize: 4096, timeoutMs: 30_000 },
  lifecycle: { idleUnloadMs: 0, minLoaded: 0, memoryBudgetBytes: 0, warmupRuns: 2 },
  runtime: { intraOpThreads: 1, interOpThreads: 1, thread: 'auto', workerThresholdMs: 0.25 },
  inferenceLog: { enabled: true, sampleRate: 1, maxRowsPerSecond: 1000, flushRows: 50_000, flushIntervalMs: 10_000, retentionHours: 24 * 7, shipIntervalMs: 10_000 },
  alerts: { intervalMs: 60_000, repeatIntervalMs: 4 * 3_600_000, rules: [], webhooks: [] },
  auth: { dev: false, adminTokenFile: null, oidcIssuer: null, oidcAudience: null, oidcJwksUri: null, oidcRolesClaim: 'berth_roles', oidcScopesClaim: 'scope' },
  rateLimits: { perToken: null, perDeployment: null, deployments: {}, leaseSize: 50 },
  tls: { cert: null, key: null, clientCa: null, requireClientCert: false, clients: [] },
  hardening: { maxTensorElements: 16_000_000, maxJsonDepth: 64, requestTimeoutMs: 60_000, headersTimeoutMs: 20_000 },
  cors: { origins: [] },
  artifacts: { url: null, publicKeys: [], requireSignature: false },
  extraction: { enabled: true, windowMs: 3_600_000, minRows: 2000 },
  jobs: { enabled: true, maxConcurrent: 1, roots: [], idlePriority: true, nice: 10 },
  explain: { backgroundSize: 100, maxEvaluations: 50_000_000, intraOpThreads: 1, cacheEntries: 10_000, maxJobEvaluations: 5_000_000_000, sessions: 2 },
  redis: { url: null },
  database: { url: null },
  logLevel: 'info',
};

type Layer = { [K in keyof BerthConfig]?: BerthConfig[K] extends object ? Partial<BerthConfig[K]> : BerthConfig[K] };
export type ConfigLayer = Layer;

/** Environment variables that map onto config keys (BERTH_ prefix). */
const ENV_KEYS: Record<string, [keyof BerthConfig, string | null, 'int' | 'str' | 'bool']> = {
  BERTH_DATA_DIR: ['dataDir', null, 'str'],
  BERTH_HOST: ['server', 'host', 'str'],
  BERTH_PORT: ['server', 'port', 'int'],
  BERTH_BODY_LIMIT_BYTES: ['server', 'bodyLimitBytes', 'int'],
  BERTH_PROCESSES: ['server', 'processes', 'int'],
  BERTH_ROLE: ['server', 'role', 'str'],
  BERTH_GRPC_PORT: ['server', 'grpcPort', 'int'],
  BERTH_MAX_BATCH_SIZE: ['batching', 'maxBatchSize', 'int'],
  BERTH_MAX_QUEUE_DELAY_MS: ['batching', 'maxQueueDelayMs', 'int'],
  BERTH_MAX_QUEUE_SIZE: ['batching', 'maxQueueSize', 'int'],
  BERTH_TIMEOUT_MS: ['batching', 'timeoutMs', 'int'],
  BERTH_IDLE_UNLOAD_MS: ['lifecycle', 'idleUnloadMs', 'int'],
  BERTH_MIN_LOADED: ['lifecycle', 'minLoaded', 'int'],
  BERTH_MEMORY_BUDGET_BYTES: ['lifecycle', 'memoryBudgetBytes', 'int'],
  BERTH_WARMUP_RUNS: ['lifecycle', 'warmupRuns', 'int'],
  BERTH_INTRA_OP_THREADS: ['runtime', 'intraOpThreads', 'int'],
  BERTH_INTER_OP_THREADS: ['runtime', 'interOpThreads', 'int'],
  BERTH_RUNTIME_THREAD: ['runtime', 'thread', 'str'],
  BERTH_LOG_LEVEL: ['logLevel', null, 'str'],
  BERTH_DEV: ['auth', 'dev', 'bool'],
  BERTH_ADMIN_TOKEN_FILE: ['auth', 'adminTokenFile', 'str'],
  BERTH_OIDC_ISSUER: ['auth', 'oidcIssuer', 'str'],
  BERTH_OIDC_AUDIENCE: ['auth', 'oidcAudience', 'str'],
  BERTH_OIDC_JWKS_URI: ['auth', 'oidcJwksUri', 'str'],
  BERTH_TLS_CERT: ['tls', 'cert', 'str'],
  BERTH_TLS_KEY: ['tls', 'key', 'str'],
  BERTH_TLS_CLIENT_CA: ['tls', 'clientCa', 'str'],
  BERTH_REDIS_URL: ['redis', 'url', 'str'],
  BERTH_ARTIFACTS_URL: ['artifacts', 'url', 'str'],
  BERTH_DATABASE_URL: ['database', 'url', 'str'],
  BERTH_INFERENCE_LOG: ['inferenceLog', 'enabled', 'bool'],
  BERTH_JOBS: ['jobs', 'enabled', 'bool'],
  BERTH_JOBS_MAX_CONCURRENT: ['jobs', 'maxConcurrent', 'int'],
  BERTH_INFERENCE_LOG_MAX_ROWS_PER_SECOND: ['inferenceLog', 'maxRowsPerSecond', 'int'],
  BERTH_INFERENCE_LOG_RETENTION_HOURS: ['inferenceLog', 'retentionHours', 'int'],
};

/** Read the BERTH_* environment into a config layer. */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigLayer {
  const layer: Record<string, unknown> = {};
  for (const [key, [section, field, kind]] of Object.entries(ENV_KEYS)) {
    const raw = env[key];
    if (raw === undefined || raw === '') continue;
    const value: unknown =
      kind === 'int' ? Number(raw) : kind === 'bool' ? ({ on: true, true: true, '1': true, off: false, false: false, '0': false } as Record<string, boolean>)[raw.toLowerCase()] ?? raw : raw;
    if (field === null) layer[section] = value;
    else layer[section] = { ...(layer[section] as object | undefined), [field]: value };
  }
  return layer as ConfigLayer;
}

/**
 * Merge layers over the defaults (defaults → file → environment → flags), validate every field and
 * report every problem at once, then freeze.
 */
export function resolveConfig(...layers: ConfigLayer[]): Readonly<BerthConfig> {
  const cfg: BerthConfig = structuredClone(DEFAULT_CONFIG);
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      const key = k as keyof BerthConfig;
      if (!(key in cfg)) continue;
      const cur = cfg[key];
      if (cur !== null && typeof cur === 'object' && v !== null && typeof v === 'object') {
        Object.assign(cur, Object.fromEntries(Object.entries(v as object).filter(([, x]) => x !== undefined)));
      } else {
        (cfg as unknown as Record<string, unknown>)[key] = v;
      }
    }
  }
  const problems: string[] = [];
  const int = (path: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push(`${path}: expected an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    }
  };
  if (cfg.version !== 1) problems.push(`version: expected 1, got ${JSON.stringify(cfg.version)}`);
  if (typeof cfg.dataDir !== 'string' || cfg.dataDir === '') problems.push(`dataDir: expected a path, got ${JSON.stringify(cfg.dataDir)}`);
  if (typeof cfg.server.host !== 'string' || cfg.server.host === '') problems.push(`server.host: expected a host name, got ${JSON.stringify(cfg.server.host)}`);
  int('server.port', cfg.server.port, 0, 65535);
  int('server.bodyLimitBytes', cfg.server.bodyLimitBytes, 1024);
  int('server.processes', cfg.server.processes, 0, 256);
  if (cfg.server.grpcPort !== null) int('server.grpcPort', cfg.server.grpcPort, 0, 65535);
  if (!(SERVER_ROLES as readonly unknown[]).includes(cfg.server.role)) {
    problems.push(`server.role: expected one of ${SERVER_ROLES.join(', ')}, got ${JSON.stringify(cfg.server.role)}`);
  }
  int('batching.maxBatchSize', cfg.batching.maxBatchSize, 1, 1 << 20);
  int('batching.maxQueueDelayMs', cfg.batching.maxQueueDelayMs, 0, 60_000);
  int('batching.maxQueueSize', cfg.batching.maxQueueSize, 1);
  int('batching.timeoutMs', cfg.batching.timeoutMs, 1);
  int('lifecycle.idleUnloadMs', cfg.lifecycle.idleUnloadMs, 0);
  int('lifecycle.minLoaded', cfg.lifecycle.minLoaded, 0);
  int('lifecycle.memoryBudgetBytes', cfg.lifecycle.memoryBudgetBytes, 0);
  int('lifecycle.warmupRuns', cfg.lifecycle.warmupRuns, 0, 1000);
  int('runtime.intraOpThreads', cfg.runtime.intraOpThreads, 0, 256);
  int('runtime.interOpThreads', cfg.runtime.interOpThreads, 0, 256);
  if (!(RUNTIME_THREADS as readonly unknown[]).includes(cfg.runtime.thread)) {
    problems.push(`runtime.thread: expected one of ${RUNTIME_THREADS.join(', ')}, got ${JSON.stringify(cfg.runtime.thread)}`);
  }
  if (typeof cfg.runtime.workerThresholdMs !== 'number' || !(cfg.runtime.workerThresholdMs >= 0)) {
    problems.push(`runtime.workerThresholdMs: expected a number of milliseconds >= 0, got ${JSON.stringify(cfg.runtime.workerThresholdMs)}`);
  }
  const il = cfg.inferenceLog;
  if (typeof il.enabled !== 'boolean') problems.push(`inferenceLog.enabled: expected true or false, got ${JSON.stringify(il.enabled)}`);
  if (typeof il.sampleRate !== 'number' || !(il.sampleRate >= 0 && il.sampleRate <= 1)) {
    problems.push(`inferenceLog.sampleRate: expected a number in [0, 1], got ${JSON.stringify(il.sampleRate)}`);
  }
  int('inferenceLog.maxRowsPerSecond', il.maxRowsPerSecond, 0);
  int('inferenceLog.flushRows', il.flushRows, 1, 10_000_000);
  int('inferenceLog.flushIntervalMs', il.flushIntervalMs, 10);
  int('inferenceLog.retentionHours', il.retentionHours, 0);
  int('inferenceLog.shipIntervalMs', il.shipIntervalMs, 100);
  const al = cfg.alerts;
  int('alerts.intervalMs', al.intervalMs, 100);
  int('alerts.repeatIntervalMs', al.repeatIntervalMs, 1000);
  if (!Array.isArray(al.rules)) problems.push(`alerts.rules: expected a list of {name, deployment, when}, got ${JSON.stringify(al.rules)}`);
  else {
    al.rules.forEach((r, i) => {
      if (r === null || typeof r !== 'object' || typeof r.name !== 'string' || typeof r.deployment !== 'string' || typeof r.when !== 'string') {
        problems.push(`alerts.rules[${i}]: expected {name, deployment, when[, window, severity]}, got ${JSON.stringify(r)}`);
      }
    });
  }
  if (!Array.isArray(al.webhooks)) problems.push(`alerts.webhooks: expected a list of {url, secretEnv}, got ${JSON.stringify(al.webhooks)}`);
  else {
    al.webhooks.forEach((w, i) => {
      if (w === null || typeof w !== 'object' || typeof w.url !== 'string' || !/^https?:\/\//.test(w.url)) {
        problems.push(`alerts.webhooks[${i}].url: expected an http(s) URL, got ${JSON.stringify(w?.url)}`);
      }
    });
  }
  const optStr = (path: string, v: unknown): void => {
    if (v !== null && (typeof v !== 'string' || v === '')) problems.push(`${path}: expected a non-empty string or null, got ${JSON.stringify(v)}`);
  };
  const bool = (path: string, v: unknown): void => {
    if (typeof v !== 'boolean') problems.push(`${path}: expected true or false, got ${JSON.stringify(v)}`);
  };
  const rate = (path: string, v: unknown, nullable: boolean): void => {
    if (v === null && nullable) return;
    const r = v as RateLimitSpec | null;
    if (r === null || typeof r !== 'object' || typeof r.rate !== 'number' || !(r.rate > 0) || !Number.isFinite(r.rate) || typeof r.burst !== 'number' || !(r.burst >= 1) || !Number.isFinite(r.burst)) {
      problems.push(`${path}: expected {rate: requests per second > 0, burst: >= 1}${nullable ? ' or null' : ''}, got ${JSON.stringify(v)}`);
    }
  };
  const au = cfg.auth;
  bool('auth.dev', au.dev);
  optStr('auth.adminTokenFile', au.adminTokenFile);
  optStr('auth.oidcIssuer', au.oidcIssuer);
  optStr('auth.oidcAudience', au.oidcAudience);
  optStr('auth.oidcJwksUri', au.oidcJwksUri);
  if (au.oidcIssuer !== null && au.oidcAudience === null) problems.push('auth.oidcAudience: expected the audience JWTs must carry when auth.oidcIssuer is set, got null');
  if (typeof au.oidcRolesClaim !== 'string' || au.oidcRolesClaim === '') problems.push(`auth.oidcRolesClaim: expected a claim name, got ${JSON.stringify(au.oidcRolesClaim)}`);
  if (typeof au.oidcScopesClaim !== 'string' || au.oidcScopesClaim === '') problems.push(`auth.oidcScopesClaim: expected a claim name, got ${JSON.stringify(au.oidcScopesClaim)}`);
  const rl = cfg.rateLimits;
  rate('rateLimits.perToken', rl.perToken, true);
  rate('rateLimits.perDeployment', rl.perDeployment, true);
  if (rl.deployments === null || typeof rl.deployments !== 'object' || Array.isArray(rl.deployments)) problems.push(`rateLimits.deployments: expected {name: {rate, burst}}, got ${JSON.stringify(rl.deployments)}`);
  else for (const [n, r] of Object.entries(rl.deployments)) rate(`rateLimits.deployments.${n}`, r, false);
  int('rateLimits.leaseSize', rl.leaseSize, 1, 100_000);
  const tls = cfg.tls;
  optStr('tls.cert', tls.cert);
  optStr('tls.key', tls.key);
  optStr('tls.clientCa', tls.clientCa);
  bool('tls.requireClientCert', tls.requireClientCert);
  if ((tls.cert === null) !== (tls.key === null)) problems.push(`tls: expected both cert and key (or neither), got ${tls.cert === null ? 'a key without a cert' : 'a cert without a key'}`);
  if (tls.clientCa !== null && tls.cert === null) problems.push('tls.clientCa: client certificates need HTTPS; set tls.cert and tls.key too');
  if (tls.requireClientCert && tls.clientCa === null) problems.push('tls.requireClientCert: expected tls.clientCa (the CA client certificates chain to), got none');
  if (!Array.isArray(tls.clients)) problems.push(`tls.clients: expected a list of {commonName, roles, scopes}, got ${JSON.stringify(tls.clients)}`);
  else {
    tls.clients.forEach((c, i) => {
      if (c === null || typeof c !== 'object' || typeof c.commonName !== 'string' || c.commonName === '') problems.push(`tls.clients[${i}]: expected {commonName, roles?, scopes?}, got ${JSON.stringify(c)}`);
    });
  }
  const hd = cfg.hardening;
  int('hardening.maxTensorElements', hd.maxTensorElements, 1);
  int('hardening.maxJsonDepth', hd.maxJsonDepth, 4, 10_000);
  int('hardening.requestTimeoutMs', hd.requestTimeoutMs, 0);
  int('hardening.headersTimeoutMs', hd.headersTimeoutMs, 0);
  if (!Array.isArray(cfg.cors.origins) || cfg.cors.origins.some((o) => typeof o !== 'string' || (o !== '*' && !/^https?:\/\/[^/]+$/.test(o)))) {
    problems.push(`cors.origins: expected a list of origins like https://app.example.com (scheme and host, no path) or *, got ${JSON.stringify(cfg.cors.origins)}`);
  }
  if (!Array.isArray(cfg.artifacts.publicKeys) || cfg.artifacts.publicKeys.some((k) => typeof k !== 'string' || k === '')) {
    problems.push(`artifacts.publicKeys: expected a list of PEM file paths, got ${JSON.stringify(cfg.artifacts.publicKeys)}`);
  }
  bool('artifacts.requireSignature', cfg.artifacts.requireSignature);
  optStr('artifacts.url', cfg.artifacts.url);
  if (typeof cfg.artifacts.url === 'string' && !/^(s3:\/\/[^/?#]+|file:)/.test(cfg.artifacts.url)) {
    problems.push(`artifacts.url: expected s3://bucket/prefix or file:…, got a URL of another shape (not shown: it may carry credentials)`);
  }
  if (cfg.artifacts.requireSignature && Array.isArray(cfg.artifacts.publicKeys) && cfg.artifacts.publicKeys.length === 0) {
    problems.push('artifacts.requireSignature: expected artifacts.publicKeys to name at least one trusted key, got none');
  }
  bool('extraction.enabled', cfg.extraction.enabled);
  int('extraction.windowMs', cfg.extraction.windowMs, 1000);
  int('extraction.minRows', cfg.extraction.minRows, 1);
  int('explain.backgroundSize', cfg.explain.backgroundSize, 1, 10_000);
  int('explain.maxEvaluations', cfg.explain.maxEvaluations, 1);
  int('explain.intraOpThreads', cfg.explain.intraOpThreads, 1, 64);
  int('explain.cacheEntries', cfg.explain.cacheEntries, 0);
  int('explain.maxJobEvaluations', cfg.explain.maxJobEvaluations, 1);
  int('explain.sessions', cfg.explain.sessions, 1, 64);
  bool('jobs.enabled', cfg.jobs.enabled);
  int('jobs.maxConcurrent', cfg.jobs.maxConcurrent, 1);
  bool('jobs.idlePriority', cfg.jobs.idlePriority);
  if (!Array.isArray(cfg.jobs.roots) || cfg.jobs.roots.some((r) => typeof r !== 'string' || r === '')) {
    problems.push(`jobs.roots: expected a list of directories, got ${JSON.stringify(cfg.jobs.roots)}`);
  }
  if (!Number.isInteger(cfg.jobs.nice) || cfg.jobs.nice < 0 || cfg.jobs.nice > 19) problems.push(`jobs.nice: expected a whole number from 0 to 19, got ${JSON.stringify(cfg.jobs.nice)}`);
  optStr('redis.url', cfg.redis.url);
  if (typeof cfg.redis.url === 'string' && !/^rediss?:\/\//.test(cfg.redis.url)) problems.push(`redis.url: expected redis://host:port or rediss://… (the value is not shown: it may hold a password), got another scheme`);
  // the value is never echoed: a database URL usually holds a password
  const dbUrl: unknown = cfg.database.url;
  if (dbUrl !== null && (typeof dbUrl !== 'string' || !/^postgres(ql)?:\/\/./i.test(dbUrl))) {
    problems.push('database.url: expected postgres://user:password@host:5432/database or postgresql://… (the value is not shown: it may hold a password), got ' +
      (typeof dbUrl === 'string' ? (/^[a-z][a-z0-9+.-]*:\/\//i.test(dbUrl) ? `a ${dbUrl.slice(0, dbUrl.indexOf(':'))}:// URL` : 'something that is not a URL') : typeof dbUrl));
  }
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(cfg.logLevel)) {
    problems.push(`logLevel: expected one of debug, info, warn, error, silent, got ${JSON.stringify(cfg.logLevel)}`);
  }
  if (problems.length > 0) {
    throw new BerthError('INVALID_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  }
  return deepFreeze(cfg);
}

function deepFreeze<T>(o: T): Readonly<T> {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
