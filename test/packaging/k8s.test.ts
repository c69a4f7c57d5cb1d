/*
 * `berth k8s`: every object of several option combinations validates against the official
 * Kubernetes schemas (kubernetes-models, @kubernetes-models/keda); the security context and the
 * probes are what docs/kubernetes.md promises; bad flags name the flag; the KServe output passes
 * our structural check of the KServe CRD and names the same image and model; and the command end
 * to end in process, on a temp data dir with a fixture model registered and deployed.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { isBerthError } from '../../src/core/index.js';
import { main } from '../../src/cli/main.js';
import {
  ADAPTER_METRICS,
  IMAGE_PATHS,
  IMAGE_PORT,
  IMAGE_UID,
  renderStartScript,
  RUN_AS_USER,
  SERVER_DRAIN_SECONDS,
  checkKServeObject,
  kubernetesName,
  parseAutoscale,
  parseResourcePair,
  planKServeManifests,
  planKubernetesManifests,
  renderManifests,
  type JsonObject,
  type KubeObject,
  type PackagingOptions,
  type PackagingSource,
} from '../../src/packaging/index.js';
import type { DeploymentRecord, VersionRecord } from '../../src/registry/index.js';
import { fixturePath } from '../helpers/fixtures.js';

const MB = 1_000_000;

function version(n: number, sizeBytes: number): VersionRecord {
  return {
    model: 'fraud',
    version: n,
    sha256: String(n).repeat(64).slice(0, 64),
    sizeBytes,
    signature: { inputs: [], outputs: [], batchable: true },
    card: null,
    lineage: {},
    tags: {},
    description: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    createdBy: 'test',
    sourcePath: '/models/fraud.onnx',
    reference: null,
  };
}

const deployment: DeploymentRecord = {
  name: 'fraud-api',
  model: 'fraud',
  target: { kind: 'alias', alias: 'production' },
  settings: {},
  traffic: null,
  revision: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};
const source: PackagingSource = { deployment, versions: [version(3, 40 * MB)], serverVersion: '0.1.0' };

/** Validate one object with the official schema of its kind; throws on a violation. */
function validateOfficial(o: KubeObject): void {
  const data = JSON.parse(JSON.stringify(o)) as never;
  switch (`${o.apiVersion} ${o.kind}`) {
    case 'v1 ConfigMap':
      return new ConfigMap(data).validate();
    case 'v1 Service':
      return new Service(data).validate();
    case 'apps/v1 Deployment':
      return new Deployment(data).validate();
    case 'autoscaling/v2 HorizontalPodAutoscaler':
      return new HorizontalPodAutoscaler(data).validate();
    case 'policy/v1 PodDisruptionBudget':
      return new PodDisruptionBudget(data).validate();
    case 'keda.sh/v1alpha1 ScaledObject':
      return new ScaledObject(data).validate();
    default:
      throw new Error(`no official schema for ${o.apiVersion} ${o.kind}`);
  }
}

const byKind = (objects: KubeObject[], kind: string): KubeObject => {
  const o = objects.find((x) => x.kind === kind);
  if (!o) throw new Error(`no ${kind} in ${objects.map((x) => x.kind).join(', ')}`);
  return o;
};
const at = (o: KubeObject, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);
const container = (objects: KubeObject[]): JsonObject => at(byKind(objects, 'Deployment'), 'spec', 'template', 'spec', 'containers', 0) as JsonObject;

describe('berth k8s manifests (kubernetes-models)', () => {
  const combos: [string, PackagingOptions, string[]][] = [
    ['defaults', {}, ['ConfigMap', 'Service', 'Deployment', 'PodDisruptionBudget']],
    ['5 replicas, namespace, every secret', { replicas: 5, namespace: 'ml', secrets: ['database', 'artifacts', 'redis'] }, ['ConfigMap', 'Service', 'Deployment', 'PodDisruptionBudget']],
    ['cpu autoscaling', { autoscale: parseAutoscale('2:10:cpu') }, ['ConfigMap', 'Service', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']],
    ['rps autoscaling, own image and resources', { autoscale: parseAutoscale('1:8:rps:100'), image: 'registry.example.com/berth:0.1.0', cpu: parseResourcePair('--cpu', '250m:2'), memory: parseResourcePair('--memory', '1Gi:2Gi') }, ['ConfigMap', 'Service', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']],
    ['queue autoscaling', { autoscale: parseAutoscale('3:30:queue') }, ['ConfigMap', 'Service', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']],
    ['scale to zero', { scaleToZero: true, secrets: ['database', 'artifacts'] }, ['ConfigMap', 'Service', 'Deployment', 'ScaledObject', 'PodDisruptionBudget']],
    ['scale to zero on queue', { scaleToZero: true, autoscale: parseAutoscale('1:4:queue:8') }, ['ConfigMap', 'Service', 'Deployment', 'ScaledObject', 'PodDisruptionBudget']],
    ['scale to zero on cpu', { scaleToZero: true, autoscale: parseAutoscale('1:4:cpu') }, ['ConfigMap', 'Service', 'Deployment', 'ScaledObject', 'PodDisruptionBudget']],
  ];

  for (const [what, options, kinds] of combos) {
    it(`writes only schema-valid objects: ${what}`, () => {
      const objects = planKubernetesManifests(source, options);
      expect(objects.map((o) => o.kind)).toEqual(kinds);
      for (const o of objects) expect(() => validateOfficial(o), `${o.kind}`).not.toThrow();
      // and the same objects survive the YAML and JSON renderings unchanged
      const docs = parseAllDocuments(renderManifests(objects, 'yaml', ['header'])).map((d) => d.toJS() as unknown);
      expect(docs).toEqual(objects);
      expect((JSON.parse(renderManifests(objects, 'json')) as { items: unknown[] }).items).toEqual(objects);
    });
  }

  it('--control-plane: inference pods with --role data, one berth-control pod with --role control, both schema-valid', () => {
    const objects = planKubernetesManifests(source, { controlPlane: true, autoscale: parseAutoscale('2:20:rps'), secrets: ['database', 'artifacts', 'redis'] });
    expect(objects.map((o) => `${o.kind}/${(o['metadata'] as { name: string }).name}`)).toEqual([
      'ConfigMap/fraud-api-config',
      'Service/fraud-api',
      'Deployment/fraud-api',
      'HorizontalPodAutoscaler/fraud-api',
      'PodDisruptionBudget/fraud-api',
      'ConfigMap/berth-control-config',
      'Service/berth-control',
      'Deployment/berth-control',
    ]);
    for (const o of objects) expect(() => validateOfficial(o), `${o.kind}`).not.toThrow();
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    const argsOf = (d: KubeObject): string[] => at(d, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
    expect(argsOf(deployments[0]!).slice(-2)).toEqual(['--role', 'data']);
    expect(argsOf(deployments[1]!).slice(-2)).toEqual(['--role', 'control']);
    // the control plane: one pod, its own selector (the inference Service never sends it traffic), no autoscaler
    expect(at(deployments[1]!, 'spec', 'replicas')).toBe(1);
    expect(at(deployments[1]!, 'spec', 'selector', 'matchLabels')).toEqual({ 'app.kubernetes.io/name': 'berth', 'app.kubernetes.io/instance': 'berth-control' });
    expect(at(deployments[1]!, 'metadata', 'labels', 'app.kubernetes.io/component')).toBe('control-plane');
    expect(at(deployments[0]!, 'metadata', 'labels', 'app.kubernetes.io/component')).toBe('data-plane');
    expect(at(objects[1]!, 'spec', 'selector')).toEqual({ 'app.kubernetes.io/name': 'berth', 'app.kubernetes.io/instance': 'fraud-api' });
    // both read the shared database and artifacts from the Secret
    for (const d of deployments) {
      const env = (at(d, 'spec', 'template', 'spec', 'containers', 0, 'env') as { name: string }[]).map((e) => e.name);
      expect(env).toEqual(expect.arrayContaining(['BERTH_DATABASE_URL', 'BERTH_ARTIFACTS_URL', 'BERTH_REDIS_URL']));
    }
    // the same control plane with KServe serving the inference
    const kserve = planKServeManifests(source, { controlPlane: true, secrets: ['database', 'artifacts'] });
    expect(kserve.map((o) => o.kind)).toEqual(['ConfigMap', 'ServingRuntime', 'InferenceService', 'ConfigMap', 'Service', 'Deployment']);
    expect((at(kserve[1]!, 'spec', 'containers', 0, 'args') as string[]).slice(-2)).toEqual(['--role', 'data']);
  });

  it('--control-plane without the shared database and artifacts is refused, naming what is missing', () => {
    expect(() => planKubernetesManifests(source, { controlPlane: true, secrets: ['database'] })).toThrow(
      /--control-plane: the control plane and the inference pods share the registry and the artifacts; expected --database and --artifacts as well, got "--database"/,
    );
  });

  it('catches a schema violation (the validator is really on)', () => {
    const bad = structuredClone(byKind(planKubernetesManifests(source), 'Deployment'));
    (bad['spec'] as JsonObject)['replicas'] = 'two';
    expect(() => validateOfficial(bad)).toThrow();
  });

  it('locks the container down: non-root 10001, read-only root filesystem, no escalation, no capabilities, RuntimeDefault seccomp', () => {
    const objects = planKubernetesManifests(source);
    expect(container(objects)['securityContext']).toEqual({
      runAsNonRoot: true,
      runAsUser: RUN_AS_USER,
      runAsGroup: RUN_AS_USER,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const pod = at(byKind(objects, 'Deployment'), 'spec', 'template', 'spec') as JsonObject;
    expect(pod['securityContext']).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod['automountServiceAccountToken']).toBe(false);
    // the read-only root needs writable dirs: the data dir and /tmp are emptyDirs
    const mounts = container(objects)['volumeMounts'] as { name: string; mountPath: string; readOnly?: boolean }[];
    const volumes = pod['volumes'] as { name: string; emptyDir?: unknown; configMap?: { name: string } }[];
    for (const dir of ['/var/lib/berth', '/tmp']) {
      const m = mounts.find((x) => x.mountPath === dir)!;
      expect(m.readOnly).toBeUndefined();
      expect(volumes.find((v) => v.name === m.name)?.emptyDir).toBeDefined();
    }
    expect(volumes.find((v) => v.name === 'config')?.configMap?.name).toBe('fraud-api-config');
  });

  it('probes health, serves on 8080 and drains before the kill', () => {
    const objects = planKubernetesManifests(source);
    const c = container(objects);
    // the berth build image's entrypoint runs `berth serve` with these
    expect(c['command']).toBeUndefined();
    expect(c['args']).toEqual(['--port', '8080', '--host', '0.0.0.0', '--config', '/etc/berth/berth.yaml']);
    expect(c['image']).toBe('berth:0.1.0');
    expect(c['readinessProbe']).toMatchObject({ httpGet: { path: '/v2/health/ready', port: 'http' } });
    expect(c['livenessProbe']).toMatchObject({ httpGet: { path: '/v2/health/live', port: 'http' } });
    expect(c['startupProbe']).toMatchObject({ httpGet: { path: '/v2/health/live', port: 'http' } });
    expect(c['lifecycle']).toEqual({ preStop: { sleep: { seconds: 5 } } });
    const grace = at(byKind(objects, 'Deployment'), 'spec', 'template', 'spec', 'terminationGracePeriodSeconds') as number;
    expect(grace).toBeGreaterThan(SERVER_DRAIN_SECONDS + 5);
    expect(at(byKind(objects, 'Deployment'), 'spec', 'template', 'metadata', 'annotations')).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8080',
      'prometheus.io/path': '/metrics',
    });
    expect(at(byKind(objects, 'Service'), 'spec')).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'http', port: 8080, targetPort: 'http' }] });
    const config = parseYaml(at(byKind(objects, 'ConfigMap'), 'data', 'berth.yaml') as string) as Record<string, unknown>;
    expect(config).toMatchObject({ version: 1, dataDir: '/var/lib/berth', server: { host: '0.0.0.0', port: 8080 } });
  });

  it('matches the image berth build makes: its uid, port, data dir and an entrypoint that serves', () => {
    const c = container(planKubernetesManifests(source));
    expect((c['securityContext'] as JsonObject)['runAsUser']).toBe(IMAGE_UID);
    expect(at(planKubernetesManifests(source)[2]!, 'spec', 'template', 'spec', 'containers', 0, 'ports', 0, 'containerPort')).toBe(IMAGE_PORT);
    expect((c['volumeMounts'] as { mountPath: string }[]).map((m) => m.mountPath)).toContain(IMAGE_PATHS.data);
    expect(renderStartScript()).toContain("'serve', ...process.argv.slice(2)");
  });

  it('sizes memory from the model: 256Mi + 3 × the files served, the limit with room for one more', () => {
    const two = { ...source, versions: [version(3, 40 * MB), version(4, 60 * MB)] };
    const c = container(planKubernetesManifests(two));
    const mi = (q: string): number => Number(q.replace(/Mi$/, '')) * 1024 * 1024;
    const { requests, limits } = c['resources'] as { requests: Record<string, string>; limits: Record<string, string> };
    expect(mi(requests['memory']!)).toBeGreaterThanOrEqual(256 * 1024 * 1024 + 3 * 100 * MB);
    expect(mi(limits['memory']!)).toBeGreaterThanOrEqual(mi(requests['memory']!) + 3 * 60 * MB);
    expect(requests['cpu']).toBe('500m');
  });

  it('references secrets, never inlines them, and says which Secret to create', () => {
    const objects = planKubernetesManifests(source, { secrets: ['database', 'artifacts', 'redis'], secretName: 'prod-berth' });
    const env = container(objects)['env'] as { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string; optional?: boolean } } }[];
    for (const [name, key] of [['BERTH_DATABASE_URL', 'database-url'], ['BERTH_ARTIFACTS_URL', 'artifacts-url'], ['BERTH_REDIS_URL', 'redis-url']]) {
      const e = env.find((x) => x.name === name)!;
      expect(e.value).toBeUndefined();
      expect(e.valueFrom?.secretKeyRef).toEqual({ name: 'prod-berth', key });
    }
    expect(env.find((x) => x.name === 'BERTH_ADMIN_TOKEN')?.valueFrom?.secretKeyRef.optional).toBe(true);
    expect(at(byKind(objects, 'Deployment'), 'metadata', 'annotations', 'berth.dev/secrets')).toContain('Secret prod-berth');
  });

  it('scales on the adapter metrics and keeps a disruption budget that lets nodes drain', () => {
    const rps = planKubernetesManifests(source, { autoscale: parseAutoscale('2:6:rps:80') });
    expect(at(byKind(rps, 'HorizontalPodAutoscaler'), 'spec', 'metrics', 0)).toEqual({
      type: 'Pods',
      pods: { metric: { name: ADAPTER_METRICS.rps }, target: { type: 'AverageValue', averageValue: '80' } },
    });
    expect(at(byKind(rps, 'Deployment'), 'spec', 'replicas')).toBeUndefined();
    expect(at(byKind(rps, 'PodDisruptionBudget'), 'spec', 'minAvailable')).toBe(1);
    const queue = planKubernetesManifests(source, { autoscale: parseAutoscale('3:9:queue') });
    expect(at(byKind(queue, 'HorizontalPodAutoscaler'), 'spec', 'metrics', 0, 'pods', 'metric', 'name')).toBe('berth_queue_rows');
    expect(at(byKind(queue, 'PodDisruptionBudget'), 'spec', 'maxUnavailable')).toBe(1);
    const fixed = planKubernetesManifests(source, { replicas: 3 });
    expect(at(byKind(fixed, 'Deployment'), 'spec', 'replicas')).toBe(3);
    expect(at(byKind(fixed, 'PodDisruptionBudget'), 'spec', 'maxUnavailable')).toBe(1);
    const zero = planKubernetesManifests(source, { scaleToZero: true, prometheusUrl: 'http://prom:9090' });
    expect(at(byKind(zero, 'ScaledObject'), 'spec')).toMatchObject({
      minReplicaCount: 0,
      triggers: [{ type: 'prometheus', metadata: { serverAddress: 'http://prom:9090', query: 'sum(rate(berth_requests_total{deployment="fraud-api"}[2m]))' } }],
    });
  });

  it('refuses bad --autoscale, --replicas, --cpu and --memory, naming the flag, what it expected and what came', () => {
    const refuses = (f: () => unknown, field: string, text: RegExp): void => {
      try {
        f();
      } catch (err) {
        expect(isBerthError(err) && err.code).toBe('INVALID_ARGUMENT');
        expect(isBerthError(err) && err.context.field).toBe(field);
        expect((err as Error).message).toMatch(text);
        expect((err as Error).message).toMatch(/expected .*got /);
        return;
      }
      throw new Error('did not throw');
    };
    refuses(() => parseAutoscale('3:1:cpu'), 'autoscale', /^--autoscale: MIN 3 is above MAX 1; expected MIN:MAX:METRIC.*got "3:1:cpu"/);
    refuses(() => parseAutoscale('1:5:foo'), 'autoscale', /unknown metric "foo".*cpu, rps, queue.*got "1:5:foo"/);
    refuses(() => parseAutoscale('0:5:cpu'), 'autoscale', /--scale-to-zero/);
    refuses(() => parseAutoscale('2:5'), 'autoscale', /got "2:5"/);
    refuses(() => parseAutoscale('1:5:cpu:150'), 'autoscale', /percent/);
    refuses(() => planKubernetesManifests(source, { replicas: 0 }), 'replicas', /--replicas: expected a whole number >= 1, got 0/);
    refuses(() => parseResourcePair('--memory', '2Gi:1Gi'), 'memory', /above the limit/);
    refuses(() => parseResourcePair('--cpu', 'lots'), 'cpu', /got "lots"/);
    refuses(() => planKServeManifests(source, { autoscale: parseAutoscale('1:4:rps') }), 'autoscale', /kserve/);
    expect(parseAutoscale('2:10:cpu')).toEqual({ min: 2, max: 10, metric: 'cpu', target: 70 });
  });

  it('turns any Berth name into a DNS label, keeping distinct names distinct', () => {
    expect(kubernetesName('fraud-api')).toBe('fraud-api');
    const odd = ['Fraud_API', 'fraud_api', 'fraud.api', '1st', 'x'.repeat(128)].map((n) => kubernetesName(n));
    for (const n of odd) expect(n).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    for (const n of odd) expect(n.length).toBeLessThanOrEqual(55);
    expect(new Set(odd).size).toBe(odd.length);
  });
});

describe('berth k8s --format kserve', () => {
  it('writes a ServingRuntime and an InferenceService that pass the KServe structural check and name the same image and model', () => {
    const objects = planKServeManifests(source, { autoscale: parseAutoscale('2:6:cpu:60'), image: 'reg/berth:9', secrets: ['database', 'artifacts'] });
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`)).toEqual([
      'v1 ConfigMap',
      'serving.kserve.io/v1alpha1 ServingRuntime',
      'serving.kserve.io/v1beta1 InferenceService',
    ]);
    validateOfficial(objects[0]!);
    const [, runtime, isvc] = objects as [KubeObject, KubeObject, KubeObject];
    expect(checkKServeObject(runtime)).toEqual([]);
    expect(checkKServeObject(isvc)).toEqual([]);
    expect(at(runtime, 'spec')).toMatchObject({ supportedModelFormats: [{ name: 'onnx' }], protocolVersions: ['v2'] });
    const c = at(runtime, 'spec', 'containers', 0) as JsonObject;
    expect(c).toMatchObject({ name: 'kserve-container', image: 'reg/berth:9', args: expect.arrayContaining(['--port', '8080']) });
    expect(c['securityContext']).toEqual(container(planKubernetesManifests(source))['securityContext']);
    expect(c['readinessProbe']).toMatchObject({ httpGet: { path: '/v2/health/ready' } });
    // the runtime's container and volumes are core/v1 types: the official Pod schema checks them
    expect(() => new Pod({ metadata: { name: 'x' }, spec: { containers: [c], volumes: at(runtime, 'spec', 'volumes') } } as never).validate()).not.toThrow();
    expect(at(isvc, 'spec', 'predictor')).toMatchObject({
      minReplicas: 2,
      maxReplicas: 6,
      scaleMetric: 'cpu',
      scaleTarget: 60,
      model: { modelFormat: { name: 'onnx' }, runtime: at(runtime, 'metadata', 'name'), protocolVersion: 'v2' },
    });
    expect(at(isvc, 'metadata', 'annotations')).toMatchObject({ 'serving.kserve.io/deploymentMode': 'RawDeployment', 'berth.dev/deployment': 'fraud-api', 'berth.dev/sha256': source.versions[0]!.sha256 });
  });

  it('the structural check catches what the CRD would refuse', () => {
    const isvc = structuredClone(planKServeManifests(source)[2]!);
    ((isvc['spec'] as JsonObject)['predictor'] as JsonObject)['scaleMetric'] = 'gpu';
    ((isvc['spec'] as JsonObject)['predictor'] as JsonObject)['replicas'] = 3;
    expect(checkKServeObject(isvc)).toEqual(['spec.predictor.scaleMetric: expected one of cpu, memory, concurrency, rps, got "gpu"', 'spec.predictor.replicas: unknown field']);
  });
});

describe('berth k8s (the command, in process)', () => {
  let dataDir: string;
  const berth = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await main(['node', 'berth', '--local', '--data-dir', dataDir, ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
    return { code, out, err };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-k8s-'));
    expect((await berth('models', 'register', fixturePath('breast-cancer-logreg'), '--name', 'bc')).code).toBe(0);
    expect((await berth('alias', 'set', 'bc', 'production', '1')).code).toBe(0);
    expect((await berth('deploy', 'bc-api', '--model', 'bc', '--alias', 'production')).code).toBe(0);
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints YAML documents that parse and validate, for the deployed model', async () => {
    const r = await berth('k8s', 'bc-api', '--autoscale', '2:5:rps', '--database', '--artifacts', 's3://models/berth', '--namespace', 'ml');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^# berth k8s bc-api: ConfigMap, Service, Deployment, HorizontalPodAutoscaler, PodDisruptionBudget for bc version 1/);
    expect(r.out).not.toContain('s3://models');
    expect(r.err).toContain('not written to the manifests');
    const objects = parseAllDocuments(r.out).map((d) => d.toJS() as KubeObject);
    expect(objects.map((o) => o.kind)).toEqual(['ConfigMap', 'Service', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']);
    for (const o of objects) validateOfficial(o);
    const size = (await stat(fixturePath('breast-cancer-logreg'))).size;
    expect(at(objects[2]!, 'metadata')).toMatchObject({ name: 'bc-api', namespace: 'ml', annotations: { 'berth.dev/deployment': 'bc-api', 'berth.dev/target': 'bc@production', 'berth.dev/serves': 'bc@1' } });
    expect(size).toBeGreaterThan(0);
    expect(at(objects[2]!, 'spec', 'template', 'spec', 'containers', 0, 'image')).toMatch(/^berth:\d+\.\d+\.\d+/);
  });

  it('prints a v1 List with --json and KServe objects with --format kserve', async () => {
    const j = await berth('--json', 'k8s', 'bc-api', '--scale-to-zero');
    expect(j.code, j.err).toBe(0);
    const list = JSON.parse(j.out) as { kind: string; items: KubeObject[] };
    expect(list.kind).toBe('List');
    for (const o of list.items) validateOfficial(o);
    const k = await berth('k8s', 'bc-api', '--format', 'kserve', '--image', 'reg/berth:1');
    expect(k.code, k.err).toBe(0);
    const objects = parseAllDocuments(k.out).map((d) => d.toJS() as KubeObject);
    expect(objects.slice(1).flatMap((o) => checkKServeObject(o))).toEqual([]);
    expect(at(objects[1]!, 'spec', 'containers', 0, 'image')).toBe('reg/berth:1');
  });

  it('refuses an unknown deployment and bad flags', async () => {
    const unknown = await berth('k8s', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/^berth: .*nope/);
    const bad = await berth('k8s', 'bc-api', '--autoscale', '3:1:cpu');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--autoscale.*MIN 3 is above MAX 1/);
    const metric = await berth('k8s', 'bc-api', '--autoscale', '1:5:foo');
    expect(metric.code).toBe(2);
    expect(metric.err).toContain('unknown metric "foo"');
    const replicas = await berth('k8s', 'bc-api', '--replicas', '0');
    expect(replicas.code).toBe(2);
    expect(replicas.err).toContain('--replicas');
    const help = await berth('k8s', '--help');
    expect(help.out).toMatch(/Examples:\n {2}\$ berth k8s/);
  });
});
