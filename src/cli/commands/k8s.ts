import { Command, Option } from 'commander';
import { BerthError } from '../../core/index.js';
import {
  DEFAULT_PROMETHEUS,
  DEFAULT_SECRET,
  SECRET_KEYS,
  parseAutoscale,
  parseResourcePair,
  planKServeManifests,
  planKubernetesManifests,
  renderManifests,
  type AutoscaleSpec,
  type PackagingOptions,
  type ResourcePair,
  type SecretUse,
} from '../../packaging/index.js';
import type { VersionRecord } from '../../registry/index.js';
import type { CliContext } from '../context.js';
import { parseCount } from '../parse.js';
import { examples, optionParser } from './options.js';

interface K8sFlags {
  replicas?: number;
  autoscale?: AutoscaleSpec;
  scaleToZero?: boolean;
  format: 'k8s' | 'kserve';
  image?: string;
  namespace?: string;
  cpu?: ResourcePair;
  memory?: ResourcePair;
  database?: string | true;
  artifacts?: string | true;
  redis?: string | true;
  secret?: string;
  prometheus?: string;
  controlPlane?: boolean;
}

const SECRET_FLAGS: SecretUse[] = ['database', 'artifacts', 'redis'];

/** `berth k8s`: print Kubernetes (or KServe) manifests for a deployment. */
export function addK8sCommand(program: Command, ctx: CliContext): void {
  program
    .command('k8s')
    .description('print Kubernetes manifests for a deployment: ConfigMap, Service, Deployment, HPA or KEDA ScaledObject, PodDisruptionBudget (or a KServe InferenceService)')
    .argument('<deployment>', 'deployment name')
    .addOption(new Option('--replicas <n>', 'fixed number of pods (default 2)').argParser(optionParser((t) => parseCount('--replicas', t, 1))).conflicts('autoscale'))
    .option('--autoscale <spec>', 'HorizontalPodAutoscaler MIN:MAX:METRIC[:TARGET]; METRIC cpu (% of request, default 70), rps (requests/s per pod, default 50) or queue (rows queued per pod, default 32)', optionParser((t) => parseAutoscale(t)))
    .option('--scale-to-zero', 'a KEDA ScaledObject (Prometheus trigger on the request rate, minReplicaCount 0) instead of an HPA')
    .addOption(new Option('--format <format>', 'k8s: plain Kubernetes objects; kserve: a KServe InferenceService with Berth as its ServingRuntime').choices(['k8s', 'kserve']).default('k8s'))
    .option('--image <image>', 'container image (default berth:<server version>)')
    .option('--namespace <ns>', 'namespace written into every object (default: none, kubectl picks)')
    .option('--cpu <req[:limit]>', 'CPU request and limit, e.g. 500m:2 (default 500m:1)', optionParser((t) => parseResourcePair('--cpu', t)))
    .option('--memory <req[:limit]>', 'memory request and limit, e.g. 1Gi:2Gi (default: 256Mi + 3 × the model files, limit + 3 × the largest)', optionParser((t) => parseResourcePair('--memory', t)))
    .option('--database [url]', `pods read BERTH_DATABASE_URL from the Secret (key ${SECRET_KEYS.database.key}); a URL given is checked, never printed`)
    .option('--artifacts [url]', `pods read BERTH_ARTIFACTS_URL from the Secret (key ${SECRET_KEYS.artifacts.key}) and optional AWS keys`)
    .option('--redis [url]', `pods read BERTH_REDIS_URL from the Secret (key ${SECRET_KEYS.redis.key})`)
    .option('--secret <name>', `the Secret holding those values (default ${DEFAULT_SECRET})`)
    .option('--control-plane', 'split the roles: these pods serve inference only (--role data) and a berth-control Deployment and Service (--role control, one pod) run the management API, rollouts, monitoring and alerts; needs --database and --artifacts')
    .option('--prometheus <url>', `Prometheus that KEDA queries with --scale-to-zero (default ${DEFAULT_PROMETHEUS})`)
    .addHelpText(
      'after',
      examples(
        'berth k8s fraud-api --database --artifacts | kubectl apply -f -',
        'berth k8s fraud-api --autoscale 2:10:cpu --database --artifacts --redis --namespace ml',
        'berth k8s fraud-api --autoscale 1:20:rps:100 --scale-to-zero --database --artifacts',
        'berth k8s fraud-api --format kserve --database --artifacts',
        'berth k8s fraud-api --control-plane --autoscale 2:20:rps --database --artifacts   # inference pods + one control plane',
        'berth --json k8s fraud-api          # a v1 List instead of YAML documents',
        '# secrets are referenced from a Secret (default berth-secrets), never written; see docs/kubernetes.md',
      ),
    )
    .action(async (name: string, o: K8sFlags) => {
      for (const flag of SECRET_FLAGS) {
        const v = o[flag];
        if (typeof v === 'string' && !/^[a-z][a-z0-9+.-]*:\/\/./i.test(v)) {
          throw new BerthError('INVALID_ARGUMENT', `--${flag}: expected a URL like ${flag === 'artifacts' ? 's3://bucket/prefix' : flag === 'redis' ? 'redis://host:6379' : 'postgres://host/db'}, got a value without a scheme`, {
            field: flag,
            expected: 'URL',
          });
        }
      }
      const client = await ctx.client();
      const view = await client.getDeployment(name);
      if (view.servedVersion === null) {
        throw new BerthError('INVALID_ARGUMENT', `deployment ${name} serves no version${view.problem ? ` (${view.problem})` : ''}; point it at one first: berth deploy ${name} --model ${view.deployment.model} --version N`, {
          deployment: name,
        });
      }
      const d = view.deployment;
      const numbers = [view.servedVersion, ...(d.traffic ? [...d.traffic.split.map((a) => a.version), ...d.traffic.shadows.map((a) => a.version), d.traffic.preview, d.traffic.fallback] : [])];
      const versions: VersionRecord[] = [];
      for (const n of new Set(numbers)) if (n !== null) versions.push(await client.getVersion(d.model, n));
      const status = await client.status();
      const secrets = SECRET_FLAGS.filter((f) => o[f] !== undefined);
      const options: PackagingOptions = {
        ...(o.image !== undefined ? { image: o.image } : {}),
        ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
        ...(o.replicas !== undefined ? { replicas: o.replicas } : {}),
        ...(o.autoscale !== undefined ? { autoscale: o.autoscale } : {}),
        ...(o.scaleToZero ? { scaleToZero: true } : {}),
        ...(o.cpu !== undefined ? { cpu: o.cpu } : {}),
        ...(o.memory !== undefined ? { memory: o.memory } : {}),
        ...(o.secret !== undefined ? { secretName: o.secret } : {}),
        ...(o.prometheus !== undefined ? { prometheusUrl: o.prometheus } : {}),
        ...(o.controlPlane ? { controlPlane: true } : {}),
        secrets,
      };
      const source = { deployment: d, versions, serverVersion: status.version };
      const objects = o.format === 'kserve' ? planKServeManifests(source, options) : planKubernetesManifests(source, options);
      const secret = o.secret ?? DEFAULT_SECRET;
      const keys = [...secrets.map((s) => SECRET_KEYS[s].key), 'admin-token (optional)'];
      const header = [
        `berth k8s ${name}: ${objects.map((x) => x.kind).join(', ')} for ${d.model} version ${versions.map((v) => v.version).join(', ')} (berth ${status.version})`,
        `Secrets are referenced, never written: create Secret ${secret} in the same namespace with keys ${keys.join(', ')}`,
        ...(secrets.length < 2 ? ['Without --database and --artifacts each pod starts with an empty data dir: replicas need a shared registry (docs/kubernetes.md)'] : []),
      ];
      ctx.io.out(renderManifests(objects, ctx.globals.json ? 'json' : 'yaml', header));
      if (secrets.some((f) => typeof o[f] === 'string')) {
        ctx.io.err(`(URLs given on the command line are not written to the manifests: put them in Secret ${secret}, e.g. kubectl create secret generic ${secret} --from-literal=${SECRET_KEYS[secrets[0]!].key}=…)\n`);
      }
    });
}
