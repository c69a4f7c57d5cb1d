import { createHash } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { BerthError, type ConfigLayer } from '../core/index.js';
import type { DeploymentRecord, VersionRecord } from '../registry/index.js';
import {
  BASE_MEMORY_BYTES,
  DEFAULT_CPU,
  defaultMemory,
  kubernetesName,
  memoryBytes,
  type Json,
  type JsonObject,
  type KubeObject,
  type ObjectMeta,
  type ResourcePair,
} from './resources.js';

/** What an autoscaler watches: CPU use, requests per second per pod, or rows queued per pod. */
export const AUTOSCALE_METRICS = ['cpu', 'rps', 'queue'] as const;
export type AutoscaleMetric = (typeof AUTOSCALE_METRICS)[number];

/** Per-pod targets when `--autoscale` names none: 70 % CPU, 50 requests/s, 32 queued rows. */
export const DEFAULT_AUTOSCALE_TARGETS: Readonly<Record<AutoscaleMetric, number>> = { cpu: 70, rps: 50, queue: 32 };

/** `--autoscale MIN:MAX:METRIC[:TARGET]`, parsed. */
export interface AutoscaleSpec {
  min: number;
  max: number;
  metric: AutoscaleMetric;
  /** per pod: CPU percent of the request, requests per second, or queued rows */
  target: number;
}

/** The Prometheus-adapter metric names the HPA asks for (docs/kubernetes.md has the adapter rules). */
export const ADAPTER_METRICS = { rps: 'berth_requests_per_second', queue: 'berth_queue_rows' } as const;

/** Where the container listens, and how long `berth serve` drains in-flight requests on SIGTERM. */
export const BERTH_PORT = 8080;
export const SERVER_DRAIN_SECONDS = 30;
/** How long a terminating pod keeps serving so endpoints and load balancers stop sending to it first. */
export const PRESTOP_SLEEP_SECONDS = 5;
export const TERMINATION_GRACE_SECONDS = PRESTOP_SLEEP_SECONDS + SERVER_DRAIN_SECONDS + 10;
export const RUN_AS_USER = 10001;
export const DATA_DIR = '/var/lib/berth';
export const CONFIG_DIR = '/etc/berth';
export const CONFIG_FILE = 'berth.yaml';
export const DEFAULT_SECRET = 'berth-secrets';
export const DEFAULT_PROMETHEUS = 'http://prometheus-operated.monitoring.svc:9090';
export const ANNOTATION_PREFIX = 'berth.dev';
/** The control plane's objects (`--control-plane`): one per registry, whatever deployment they were printed for. */
export const CONTROL_PLANE_NAME = 'berth-control';

/** Secret keys the pods read (never inline values); which appear depends on the options. */
export const SECRET_KEYS = {
  database: { key: 'database-url', env: 'BERTH_DATABASE_URL' },
  artifacts: { key: 'artifacts-url', env: 'BERTH_ARTIFACTS_URL' },
  redis: { key: 'redis-url', env: 'BERTH_REDIS_URL' },
} as const;
export type SecretUse = keyof typeof SECRET_KEYS;

/** What the manifests describe: a deployment as the registry holds it and the versions it serves. */
export interface PackagingSource {
  deployment: DeploymentRecord;
  /** every version the deployment serves now, the target's first (split arms, shadows, preview and fallback follow) */
  versions: VersionRecord[];
  /** the Berth version the image runs */
  serverVersion: string;
}

/** Choices of `berth k8s`; every field has a default. */
export interface PackagingOptions {
  /** default `berth:<serverVersion>` */
  image?: string;
  namespace?: string;
  /** fixed replicas when not autoscaled (default 2) */
  replicas?: number;
  autoscale?: AutoscaleSpec;
  /** a KEDA ScaledObject that may scale to 0 instead of an HPA */
  scaleToZero?: boolean;
  cpu?: ResourcePair;
  /** default from the model sizes (`defaultMemory`) */
  memory?: ResourcePair;
  /** the Secret holding the URLs (default berth-secrets) */
  secretName?: string;
  /** which URLs the pods read from the Secret */
  secrets?: readonly SecretUse[];
  /** Prometheus that KEDA queries */
  prometheusUrl?: string;
  /**
   * Split the roles: the pods serve inference only (`--role data`) and a separate control-plane
   * Deployment (`--role control`, one pod) runs the management API, rollouts, monitoring and
   * alerts. Needs the shared database and artifacts.
   */
  controlPlane?: boolean;
}

/** Options with defaults applied and checked: what both output formats build from. */
export interface ResolvedPackaging {
  name: string;
  berthName: string;
  namespace: string | null;
  image: string;
  replicas: number;
  autoscale: AutoscaleSpec | null;
  scaleToZero: boolean;
  cpu: ResourcePair;
  memory: ResourcePair;
  secretName: string;
  secrets: SecretUse[];
  prometheusUrl: string;
  controlPlane: boolean;
  /** what the objects are: the inference pods, or the control plane's */
  component: 'data-plane' | 'control-plane';
  source: PackagingSource;
}

function invalid(flag: string, expected: string, got: unknown, why?: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${flag}: ${why ? `${why}; ` : ''}expected ${expected}, got ${JSON.stringify(got)}`, {
    field: flag.replace(/^--/, ''),
    expected,
    got,
  });
}

const AUTOSCALE_EXPECTED = `MIN:MAX:METRIC[:TARGET] with 1 <= MIN <= MAX and METRIC one of ${AUTOSCALE_METRICS.join(', ')}, e.g. 2:10:cpu or 1:8:rps:100`;

/**
 * Parse `--autoscale MIN:MAX:METRIC[:TARGET]`. TARGET is per pod: CPU percent of the request
 * (`cpu`, default 70), requests per second (`rps`, default 50) or queued rows (`queue`, default 32).
 *
 * @example
 * parseAutoscale('2:10:cpu') // {min: 2, max: 10, metric: 'cpu', target: 70}
 */
export function parseAutoscale(text: string, flag = '--autoscale'): AutoscaleSpec {
  const parts = text.split(':');
  if (parts.length < 3 || parts.length > 4) throw invalid(flag, AUTOSCALE_EXPECTED, text);
  const [minText, maxText, metricText, targetText] = parts as [string, string, string, string?];
  const int = (t: string): number | null => (/^\d+$/.test(t) && Number.isSafeInteger(Number(t)) ? Number(t) : null);
  const min = int(minText);
  const max = int(maxText);
  if (min === null || max === null) throw invalid(flag, AUTOSCALE_EXPECTED, text, 'MIN and MAX must be whole numbers');
  if (min < 1) throw invalid(flag, AUTOSCALE_EXPECTED, text, `MIN ${min} is below 1 (to scale to zero add --scale-to-zero)`);
  if (min > max) throw invalid(flag, AUTOSCALE_EXPECTED, text, `MIN ${min} is above MAX ${max}`);
  if (!(AUTOSCALE_METRICS as readonly string[]).includes(metricText)) throw invalid(flag, AUTOSCALE_EXPECTED, text, `unknown metric "${metricText}"`);
  const metric = metricText as AutoscaleMetric;
  let target = DEFAULT_AUTOSCALE_TARGETS[metric];
  if (targetText !== undefined) {
    const t = int(targetText);
    if (t === null || t < 1 || (metric === 'cpu' && t > 100)) {
      throw invalid(flag, AUTOSCALE_EXPECTED, text, metric === 'cpu' ? 'TARGET is a CPU percent from 1 to 100' : 'TARGET must be a whole number >= 1');
    }
    target = t;
  }
  return { min, max, metric, target };
}

/** Apply defaults and check the combination; throws INVALID_ARGUMENT naming the flag. */
export function resolvePackaging(source: PackagingSource, options: PackagingOptions = {}): ResolvedPackaging {
  if (source.versions.length === 0) {
    throw new BerthError('INVALID_ARGUMENT', `deployment ${source.deployment.name} serves no version; deploy one first (berth deploy ${source.deployment.name} --model M --version N)`, {
      deployment: source.deployment.name,
    });
  }
  const replicas = options.replicas ?? 2;
  if (!Number.isSafeInteger(replicas) || replicas < 1) throw invalid('--replicas', 'a whole number >= 1', replicas);
  if (options.autoscale) {
    const a = options.autoscale;
    if (!(AUTOSCALE_METRICS as readonly string[]).includes(a.metric) || a.min < 1 || a.min > a.max) {
      throw invalid('--autoscale', AUTOSCALE_EXPECTED, `${a.min}:${a.max}:${a.metric}`);
    }
  }
  const secrets = [...new Set(options.secrets ?? [])];
  if (options.controlPlane && !(secrets.includes('database') && secrets.includes('artifacts'))) {
    throw invalid('--control-plane', '--database and --artifacts as well', secrets.length > 0 ? secrets.map((s) => `--${s}`).join(' ') : 'neither', 'the control plane and the inference pods share the registry and the artifacts');
  }
  const sizes = [...new Map(source.versions.map((v) => [v.sha256, v.sizeBytes])).values()];
  return {
    name: kubernetesName(source.deployment.name),
    berthName: source.deployment.name,
    namespace: options.namespace ?? null,
    image: options.image ?? `berth:${source.serverVersion}`,
    replicas,
    autoscale: options.autoscale ?? null,
    scaleToZero: options.scaleToZero === true,
    cpu: options.cpu ?? DEFAULT_CPU,
    memory: options.memory ?? defaultMemory(sizes),
    secretName: options.secretName ?? DEFAULT_SECRET,
    secrets,
    prometheusUrl: options.prometheusUrl ?? DEFAULT_PROMETHEUS,
    controlPlane: options.controlPlane === true,
    component: 'data-plane',
    source,
  };
}

/** `app.kubernetes.io/*` labels; the first two select the pods and never change. */
export function selectorLabels(r: ResolvedPackaging): Record<string, string> {
  return { 'app.kubernetes.io/name': 'berth', 'app.kubernetes.io/instance': r.name };
}

function labels(r: ResolvedPackaging): Record<string, string> {
  return {
    ...selectorLabels(r),
    'app.kubernetes.io/component': r.component,
    'app.kubernetes.io/part-of': 'berth',
    'app.kubernetes.io/version': r.source.serverVersion.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63),
    'app.kubernetes.io/managed-by': 'berth',
  };
}

function describeTarget(d: DeploymentRecord): string {
  return d.target.kind === 'alias' ? `${d.model}@${d.target.alias}` : `${d.model}@${d.target.version}`;
}

/** Metadata every object carries: name, namespace, labels, and what Berth deployment it is. */
export function objectMeta(r: ResolvedPackaging, name: string = r.name, extra: Record<string, string> = {}): ObjectMeta {
  const served = r.source.versions[0]!;
  return {
    name,
    ...(r.namespace !== null ? { namespace: r.namespace } : {}),
    labels: labels(r),
    annotations: {
      [`${ANNOTATION_PREFIX}/deployment`]: r.berthName,
      [`${ANNOTATION_PREFIX}/target`]: describeTarget(r.source.deployment),
      [`${ANNOTATION_PREFIX}/serves`]: r.source.versions.map((v) => `${v.model}@${v.version}`).join(','),
      [`${ANNOTATION_PREFIX}/sha256`]: served.sha256,
      ...extra,
    },
  };
}

/** The Berth configuration file the pods read (`--config`): no secrets, those come from the Secret. */
export function berthConfig(r: ResolvedPackaging): ConfigLayer {
  const limit = memoryBytes(r.memory.limit) ?? 0;
  return {
    version: 1,
    dataDir: DATA_DIR,
    server: { host: '0.0.0.0', port: BERTH_PORT, processes: 1 },
    // evict idle models before the kernel kills the pod: the limit less what Berth needs besides models
    lifecycle: { memoryBudgetBytes: Math.max(0, Math.floor(limit - BASE_MEMORY_BYTES)) },
    logLevel: 'info',
  };
}

/** The config file's text, as mounted from the ConfigMap. */
export function berthConfigYaml(r: ResolvedPackaging): string {
  return `# berth serve --config ${CONFIG_DIR}/${CONFIG_FILE}; secrets come from the environment (Secret ${r.secretName}), never from this file\n` +
    toYaml(berthConfig(r));
}

/**
 * The container's arguments: `berth serve`'s flags. The image's entrypoint (a `berth build`
 * bundle: `node start.mjs`) seeds the bundled model and runs `berth serve` with them, so the
 * command is left to the image.
 */
export function serveArgs(role?: 'data' | 'control'): string[] {
  // without a role every pod runs the whole server (the replicas elect a rollout leader)
  return ['--port', String(BERTH_PORT), '--host', '0.0.0.0', '--config', `${CONFIG_DIR}/${CONFIG_FILE}`, ...(role ? ['--role', role] : [])];
}

/** The `--role` of the pods of `r`: none (whole servers) unless the roles are split. */
export function podRole(r: ResolvedPackaging): 'data' | 'control' | undefined {
  if (!r.controlPlane) return undefined;
  return r.component === 'control-plane' ? 'control' : 'data';
}

/** Environment from the Secret (by reference) and the writable directories. */
export function containerEnv(r: ResolvedPackaging): Json[] {
  const fromSecret = (name: string, key: string, optional: boolean): JsonObject => ({
    name,
    valueFrom: { secretKeyRef: { name: r.secretName, key, ...(optional ? { optional: true } : {}) } },
  });
  const env: Json[] = [
    { name: 'BERTH_DATA_DIR', value: DATA_DIR },
    { name: 'TMPDIR', value: '/tmp' },
    { name: 'NODE_ENV', value: 'production' },
  ];
  for (const use of r.secrets) env.push(fromSecret(SECRET_KEYS[use].env, SECRET_KEYS[use].key, false));
  if (r.secrets.includes('artifacts')) {
    // optional: with IRSA / workload identity the pods need no keys
    env.push(fromSecret('AWS_ACCESS_KEY_ID', 'aws-access-key-id', true), fromSecret('AWS_SECRET_ACCESS_KEY', 'aws-secret-access-key', true));
  }
  // serve refuses to start without a way to authenticate; tokens in a shared database count too
  env.push(fromSecret('BERTH_ADMIN_TOKEN', 'admin-token', true));
  return env;
}

/** Startup may take a while on big models: a minute plus a second per 10 MB served. */
function startupFailureThreshold(r: ResolvedPackaging): number {
  const bytes = r.source.versions.reduce((a, v) => a + v.sizeBytes, 0);
  return Math.ceil((60 + bytes / 10e6) / 5);
}

/** The probes the docs promise: startup and liveness on /v2/health/live, readiness on /v2/health/ready. */
export function probes(r: ResolvedPackaging): { startupProbe: JsonObject; livenessProbe: JsonObject; readinessProbe: JsonObject } {
  const get = (path: string): JsonObject => ({ httpGet: { path, port: 'http' } });
  return {
    startupProbe: { ...get('/v2/health/live'), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: startupFailureThreshold(r) },
    livenessProbe: { ...get('/v2/health/live'), periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
    readinessProbe: { ...get('/v2/health/ready'), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
  };
}

/** Non-root, read-only root filesystem, no privilege escalation, no capabilities, the runtime's seccomp profile. */
export function containerSecurityContext(): JsonObject {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    runAsGroup: RUN_AS_USER,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function podSecurityContext(): JsonObject {
  return { runAsNonRoot: true, runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER, fsGroup: RUN_AS_USER, seccompProfile: { type: 'RuntimeDefault' } };
}

export function configMapName(r: ResolvedPackaging): string {
  return `${r.name}-config`;
}

/** The data dir and /tmp are emptyDirs (the root filesystem is read-only); the config comes from the ConfigMap. */
export function podVolumes(r: ResolvedPackaging): JsonObject[] {
  const cacheLimit = r.source.versions.reduce((a, v) => a + v.sizeBytes, 0) * 2 + 1024 * 1024 * 1024;
  return [
    { name: 'config', configMap: { name: configMapName(r) } },
    { name: 'data', emptyDir: { sizeLimit: `${Math.ceil(cacheLimit / (1024 * 1024))}Mi` } },
    { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
  ];
}

/** The Berth container: image, `berth serve`, probes, resources, security context. */
export function berthContainer(r: ResolvedPackaging, name = 'berth'): JsonObject {
  return {
    name,
    image: r.image,
    imagePullPolicy: 'IfNotPresent',
    args: serveArgs(podRole(r)),
    ports: [{ name: 'http', containerPort: BERTH_PORT, protocol: 'TCP' }],
    env: containerEnv(r),
    resources: {
      requests: { cpu: r.cpu.request, memory: r.memory.request },
      limits: { cpu: r.cpu.limit, memory: r.memory.limit },
    },
    ...probes(r),
    // endpoints drop a terminating pod asynchronously: keep serving a moment before SIGTERM starts the drain
    lifecycle: { preStop: { sleep: { seconds: PRESTOP_SLEEP_SECONDS } } },
    securityContext: containerSecurityContext(),
    volumeMounts: [
      { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
      { name: 'data', mountPath: DATA_DIR },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
}

function secretNote(r: ResolvedPackaging): string {
  const keys = [...r.secrets.map((s) => SECRET_KEYS[s].key), ...(r.secrets.includes('artifacts') ? ['aws-access-key-id?', 'aws-secret-access-key?'] : []), 'admin-token?'];
  return `reads Secret ${r.secretName} (keys: ${keys.join(', ')}; ? = optional); create it yourself, values are never written here`;
}

/** The ConfigMap holding berth.yaml. */
export function planConfigMap(r: ResolvedPackaging): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: objectMeta(r, configMapName(r)), data: { [CONFIG_FILE]: berthConfigYaml(r) } };
}

function planDeployment(r: ResolvedPackaging, config: KubeObject): KubeObject {
  const configHash = createHash('sha256').update(JSON.stringify(config['data'])).digest('hex').slice(0, 16);
  const autoscaled = r.autoscale !== null || r.scaleToZero;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: objectMeta(r, r.name, { [`${ANNOTATION_PREFIX}/secrets`]: secretNote(r) }),
    spec: {
      // an autoscaler owns the count; writing one here would fight it on every apply
      ...(autoscaled ? {} : { replicas: r.replicas }),
      selector: { matchLabels: selectorLabels(r) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: labels(r),
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(BERTH_PORT),
            'prometheus.io/path': '/metrics',
            // a changed config file rolls the pods
            [`${ANNOTATION_PREFIX}/config-sha256`]: configHash,
          },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: podSecurityContext(),
          terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
          containers: [berthContainer(r)],
          volumes: podVolumes(r),
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selectorLabels(r) } },
          ],
        },
      },
    },
  };
}

function planService(r: ResolvedPackaging): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: objectMeta(r),
    spec: { type: 'ClusterIP', selector: selectorLabels(r), ports: [{ name: 'http', port: BERTH_PORT, targetPort: 'http', protocol: 'TCP' }] },
  };
}

function hpaMetric(a: AutoscaleSpec): JsonObject {
  if (a.metric === 'cpu') return { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: a.target } } };
  return { type: 'Pods', pods: { metric: { name: ADAPTER_METRICS[a.metric] }, target: { type: 'AverageValue', averageValue: String(a.target) } } };
}

function planHpa(r: ResolvedPackaging, a: AutoscaleSpec): KubeObject {
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: objectMeta(r),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: r.name },
      minReplicas: a.min,
      maxReplicas: a.max,
      metrics: [hpaMetric(a)],
      behavior: {
        // a new pod loads and warms its models before it helps: scale down slowly
        scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      },
    },
  };
}

/** PromQL of a deployment's request rate, summed over its pods. */
export function requestRateQuery(r: ResolvedPackaging): string {
  return `sum(rate(berth_requests_total{deployment="${r.berthName}"}[2m]))`;
}

function planScaledObject(r: ResolvedPackaging): KubeObject {
  const a = r.autoscale;
  const max = a?.max ?? Math.max(r.replicas, 10);
  const rpsTarget = a?.metric === 'rps' ? a.target : DEFAULT_AUTOSCALE_TARGETS.rps;
  const triggers: JsonObject[] = [
    {
      // the request rate also wakes the deployment from zero (activationThreshold)
      type: 'prometheus',
      name: 'requests',
      metadata: { serverAddress: r.prometheusUrl, query: requestRateQuery(r), threshold: String(rpsTarget), activationThreshold: '0' },
    },
  ];
  if (a?.metric === 'queue') {
    triggers.push({
      type: 'prometheus',
      name: 'queue',
      metadata: { serverAddress: r.prometheusUrl, query: `sum(berth_queue_depth{pod=~"${r.name}-.*"})`, threshold: String(a.target) },
    });
  }
  if (a?.metric === 'cpu') triggers.push({ type: 'cpu', name: 'cpu', metricType: 'Utilization', metadata: { value: String(a.target) } });
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: objectMeta(r),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: r.name },
      minReplicaCount: 0,
      maxReplicaCount: max,
      pollingInterval: 15,
      cooldownPeriod: 300,
      triggers,
    },
  };
}

function planPdb(r: ResolvedPackaging): KubeObject {
  // the fewest pods that may run: with more than two, one may go at a time; otherwise keep one up
  const floor = r.scaleToZero ? 0 : r.autoscale ? r.autoscale.min : r.replicas;
  const budget: JsonObject = floor > 2 || floor === 0 ? { maxUnavailable: 1 } : { minAvailable: 1 };
  return { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: objectMeta(r), spec: { ...budget, selector: { matchLabels: selectorLabels(r) } } };
}

/**
 * The control plane (`--role control`): its own ConfigMap, Service and Deployment of one pod, named
 * `berth-control` whatever deployment they were printed for (one per registry: printing them for
 * another deployment applies the same objects). No autoscaler and no disruption budget: a drain
 * pauses rollouts and the management API for a moment, never inference.
 */
export function planControlPlane(r: ResolvedPackaging): KubeObject[] {
  const c: ResolvedPackaging = { ...r, name: CONTROL_PLANE_NAME, component: 'control-plane', replicas: 1, autoscale: null, scaleToZero: false };
  const config = planConfigMap(c);
  return [config, planService(c), planDeployment(c, config)];
}

/**
 * Kubernetes manifests for one Berth deployment, as data: ConfigMap, Service, Deployment, then an
 * HPA (`autoscale`) or a KEDA ScaledObject (`scaleToZero`), then a PodDisruptionBudget.
 * Secrets are referenced, never written.
 *
 * @example
 * const objects = planKubernetesManifests({deployment, versions: [v3], serverVersion: '0.1.0'}, {autoscale: parseAutoscale('2:10:cpu')});
 * renderManifests(objects, 'yaml');
 */
export function planKubernetesManifests(source: PackagingSource, options: PackagingOptions = {}): KubeObject[] {
  const r = resolvePackaging(source, options);
  const config = planConfigMap(r);
  const objects: KubeObject[] = [config, planService(r), planDeployment(r, config)];
  if (r.scaleToZero) objects.push(planScaledObject(r));
  else if (r.autoscale) objects.push(planHpa(r, r.autoscale));
  objects.push(planPdb(r));
  if (r.controlPlane) objects.push(...planControlPlane(r));
  return objects;
}

/**
 * YAML documents separated by `---` (with a header saying which Secret to create), or a JSON
 * `v1 List`.
 */
export function renderManifests(objects: readonly KubeObject[], format: 'yaml' | 'json', header: readonly string[] = []): string {
  if (format === 'json') return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2) + '\n';
  const head = header.map((l) => `# ${l}\n`).join('');
  return head + objects.map((o) => `---\n${toYaml(o, { lineWidth: 0 })}`).join('');
}
