import { BerthError } from '../core/index.js';
import {
  ANNOTATION_PREFIX,
  BERTH_PORT,
  TERMINATION_GRACE_SECONDS,
  berthContainer,
  planControlPlane,
  objectMeta,
  planConfigMap,
  podSecurityContext,
  podVolumes,
  resolvePackaging,
  type PackagingOptions,
  type PackagingSource,
  type ResolvedPackaging,
} from './k8s.js';
import type { Json, JsonObject, KubeObject } from './resources.js';

/** KServe's name for the predictor container; the runtime's container must carry it. */
export const KSERVE_CONTAINER = 'kserve-container';

/**
 * KServe manifests serving the same deployment with Berth as a custom runtime: the ConfigMap, a
 * namespaced `ServingRuntime` (the Berth container: image, `berth serve`, probes,
 * security context; `supportedModelFormats: onnx`, `protocolVersions: [v2]`) and an
 * `InferenceService` whose predictor names that runtime, in RawDeployment mode (a plain
 * Deployment and HPA: Knative's pod restrictions do not apply, and scaling is on CPU).
 */
export function planKServeManifests(source: PackagingSource, options: PackagingOptions = {}): KubeObject[] {
  if (options.scaleToZero) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      '--scale-to-zero: expected --format k8s (a KEDA ScaledObject), got --format kserve; KServe scales to zero only in Serverless (Knative) mode, which Berth does not generate',
      { field: 'scale-to-zero', expected: 'format k8s', got: 'kserve' },
    );
  }
  if (options.autoscale && options.autoscale.metric !== 'cpu') {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `--autoscale: KServe's RawDeployment mode scales on CPU; expected MIN:MAX:cpu with --format kserve, got metric "${options.autoscale.metric}" (use --format k8s for ${options.autoscale.metric})`,
      { field: 'autoscale', expected: 'cpu', got: options.autoscale.metric },
    );
  }
  const r = resolvePackaging(source, options);
  // with the roles split the runtime's pods serve inference only; the control plane runs beside KServe
  return [planConfigMap(r), planServingRuntime(r), planInferenceService(r), ...(r.controlPlane ? planControlPlane(r) : [])];
}

export function servingRuntimeName(r: ResolvedPackaging): string {
  return `${r.name}-runtime`;
}

function planServingRuntime(r: ResolvedPackaging): KubeObject {
  const container = berthContainer(r, KSERVE_CONTAINER);
  // the InferenceService sizes the container (its model's resources override the runtime's)
  delete container['resources'];
  return {
    apiVersion: 'serving.kserve.io/v1alpha1',
    kind: 'ServingRuntime',
    metadata: objectMeta(r, servingRuntimeName(r)),
    spec: {
      supportedModelFormats: [{ name: 'onnx', version: '1', autoSelect: false }],
      protocolVersions: ['v2'],
      multiModel: false,
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(BERTH_PORT), 'prometheus.io/path': '/metrics' },
      containers: [container],
      volumes: podVolumes(r),
    },
  };
}

function planInferenceService(r: ResolvedPackaging): KubeObject {
  const a = r.autoscale;
  const scaling: JsonObject = a
    ? { minReplicas: a.min, maxReplicas: a.max, scaleMetric: 'cpu', scaleTarget: a.target }
    : { minReplicas: r.replicas, maxReplicas: r.replicas };
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: objectMeta(r, r.name, {
      'serving.kserve.io/deploymentMode': 'RawDeployment',
      'serving.kserve.io/autoscalerClass': 'hpa',
      [`${ANNOTATION_PREFIX}/path`]: `/v2/models/${r.berthName}/infer`,
    }),
    spec: {
      predictor: {
        ...scaling,
        model: {
          modelFormat: { name: 'onnx', version: '1' },
          runtime: servingRuntimeName(r),
          protocolVersion: 'v2',
          resources: {
            requests: { cpu: r.cpu.request, memory: r.memory.request },
            limits: { cpu: r.cpu.limit, memory: r.memory.limit },
          },
        },
        automountServiceAccountToken: false,
        securityContext: podSecurityContext(),
        terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A structural check of the KServe objects we emit. There is no @kubernetes-models package for
// KServe, so the shapes below are transcribed from the KServe API types (kserve/kserve,
// pkg/apis/serving/v1alpha1/servingruntime_types.go: ServingRuntimeSpec, SupportedModelFormat,
// ServingRuntimePodSpec; pkg/apis/serving/v1beta1/predictor.go: PredictorSpec,
// PredictorExtensionSpec; component.go: ComponentExtensionSpec with its ScaleMetric enum
// cpu|memory|concurrency|rps; predictor_model.go: ModelSpec {modelFormat, runtime}), limited to
// the fields Berth writes. Unknown fields are errors, as the CRD's structural schema prunes them.
// Containers and volumes are core/v1 types: tests validate those with kubernetes-models too.
// ---------------------------------------------------------------------------------------------

/** A small JSON-schema-like description of a value. */
export type Shape =
  | { type: 'string'; enum?: readonly string[]; pattern?: RegExp }
  | { type: 'integer'; minimum?: number }
  | { type: 'boolean' }
  | { type: 'array'; items: Shape; minItems?: number }
  | { type: 'object'; properties?: Record<string, Shape>; required?: readonly string[]; additionalProperties?: Shape | boolean };

const str: Shape = { type: 'string' };
const int0: Shape = { type: 'integer', minimum: 0 };
const bool: Shape = { type: 'boolean' };
const stringMap: Shape = { type: 'object', additionalProperties: str };
const dnsLabel: Shape = { type: 'string', pattern: /^[a-z]([-a-z0-9]*[a-z0-9])?$/ };
const obj = (properties: Record<string, Shape>, required: readonly string[] = []): Shape => ({ type: 'object', properties, required, additionalProperties: false });
const arr = (items: Shape, minItems = 0): Shape => ({ type: 'array', items, minItems });
const quantity: Shape = { type: 'string', pattern: /^\d+(\.\d+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$/ };
const resources = obj({ requests: { type: 'object', additionalProperties: quantity }, limits: { type: 'object', additionalProperties: quantity } });
const probe = obj({
  httpGet: obj({ path: str, port: str }, ['port']),
  periodSeconds: int0,
  timeoutSeconds: int0,
  failureThreshold: int0,
});
const container = obj(
  {
    name: str,
    image: str,
    imagePullPolicy: { type: 'string', enum: ['Always', 'IfNotPresent', 'Never'] },
    command: arr(str),
    args: arr(str),
    ports: arr(obj({ name: str, containerPort: int0, protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] } }, ['containerPort'])),
    env: arr(
      obj(
        {
          name: str,
          value: str,
          valueFrom: obj({ secretKeyRef: obj({ name: str, key: str, optional: bool }, ['key']) }),
        },
        ['name'],
      ),
    ),
    resources,
    startupProbe: probe,
    livenessProbe: probe,
    readinessProbe: probe,
    lifecycle: obj({ preStop: obj({ sleep: obj({ seconds: int0 }, ['seconds']) }) }),
    securityContext: obj({
      runAsNonRoot: bool,
      runAsUser: int0,
      runAsGroup: int0,
      readOnlyRootFilesystem: bool,
      allowPrivilegeEscalation: bool,
      capabilities: obj({ drop: arr(str) }),
      seccompProfile: obj({ type: str }, ['type']),
    }),
    volumeMounts: arr(obj({ name: str, mountPath: str, readOnly: bool }, ['name', 'mountPath'])),
  },
  ['name'],
);
const volume = obj({ name: str, configMap: obj({ name: str }), emptyDir: obj({ sizeLimit: quantity }) }, ['name']);
const metadata = obj({ name: dnsLabel, namespace: str, labels: stringMap, annotations: stringMap }, ['name']);
const protocol: Shape = { type: 'string', enum: ['v1', 'v2', 'grpc-v1', 'grpc-v2'] };

/** `serving.kserve.io/v1alpha1 ServingRuntime`, the fields Berth writes. */
export const SERVING_RUNTIME_SHAPE: Shape = obj(
  {
    apiVersion: { type: 'string', enum: ['serving.kserve.io/v1alpha1'] },
    kind: { type: 'string', enum: ['ServingRuntime', 'ClusterServingRuntime'] },
    metadata,
    spec: obj(
      {
        supportedModelFormats: arr(obj({ name: str, version: str, autoSelect: bool, priority: { type: 'integer', minimum: 1 } }, ['name'])),
        protocolVersions: arr(protocol),
        multiModel: bool,
        disabled: bool,
        annotations: stringMap,
        labels: stringMap,
        containers: arr(container, 1),
        volumes: arr(volume),
      },
      ['containers'],
    ),
  },
  ['apiVersion', 'kind', 'metadata', 'spec'],
);

/** `serving.kserve.io/v1beta1 InferenceService`, the fields Berth writes. */
export const INFERENCE_SERVICE_SHAPE: Shape = obj(
  {
    apiVersion: { type: 'string', enum: ['serving.kserve.io/v1beta1'] },
    kind: { type: 'string', enum: ['InferenceService'] },
    metadata,
    spec: obj(
      {
        predictor: obj({
          minReplicas: int0,
          maxReplicas: int0,
          scaleMetric: { type: 'string', enum: ['cpu', 'memory', 'concurrency', 'rps'] },
          scaleTarget: int0,
          model: obj(
            {
              modelFormat: obj({ name: str, version: str }, ['name']),
              runtime: str,
              protocolVersion: protocol,
              storageUri: str,
              resources,
            },
            ['modelFormat'],
          ),
          automountServiceAccountToken: bool,
          securityContext: obj({ runAsNonRoot: bool, runAsUser: int0, runAsGroup: int0, fsGroup: int0, seccompProfile: obj({ type: str }, ['type']) }),
          terminationGracePeriodSeconds: int0,
        }),
      },
      ['predictor'],
    ),
  },
  ['apiVersion', 'kind', 'metadata', 'spec'],
);

/** Check a value against a shape; answers every problem as `path: what`. */
export function checkShape(value: Json | undefined, shape: Shape, path = ''): string[] {
  const at = path || '(root)';
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  switch (shape.type) {
    case 'string':
      if (typeof value !== 'string') return [`${at}: expected a string, got ${kind}`];
      if (shape.enum && !shape.enum.includes(value)) return [`${at}: expected one of ${shape.enum.join(', ')}, got ${JSON.stringify(value)}`];
      if (shape.pattern && !shape.pattern.test(value)) return [`${at}: ${JSON.stringify(value)} does not match ${shape.pattern.source}`];
      return [];
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return [`${at}: expected an integer, got ${JSON.stringify(value)}`];
      return shape.minimum !== undefined && value < shape.minimum ? [`${at}: expected >= ${shape.minimum}, got ${value}`] : [];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: expected a boolean, got ${kind}`];
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected an array, got ${kind}`];
      if (shape.minItems !== undefined && value.length < shape.minItems) return [`${at}: expected at least ${shape.minItems} items, got ${value.length}`];
      return value.flatMap((v, i) => checkShape(v, shape.items, `${path}[${i}]`));
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${at}: expected an object, got ${kind}`];
      const problems = (shape.required ?? []).filter((k) => value[k] === undefined).map((k) => `${path ? `${path}.` : ''}${k}: required`);
      for (const [k, v] of Object.entries(value)) {
        const p = path ? `${path}.${k}` : k;
        const known = shape.properties?.[k];
        if (known) problems.push(...checkShape(v, known, p));
        else if (shape.additionalProperties === false || (shape.additionalProperties === undefined && shape.properties)) problems.push(`${p}: unknown field`);
        else if (typeof shape.additionalProperties === 'object') problems.push(...checkShape(v, shape.additionalProperties, p));
      }
      return problems;
    }
  }
}

/** Check a KServe object Berth wrote against the shape of its kind; [] when it conforms. */
export function checkKServeObject(object: KubeObject): string[] {
  const shape = object.kind === 'InferenceService' ? INFERENCE_SERVICE_SHAPE : object.kind === 'ServingRuntime' || object.kind === 'ClusterServingRuntime' ? SERVING_RUNTIME_SHAPE : null;
  return shape ? checkShape(object, shape) : [`kind: not a KServe kind Berth writes (${object.kind})`];
}
