import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { BerthError, isBerthError } from '../../core/index.js';
import { DEFAULT_IMAGE_BASE, buildBundle, bundledArtifact, readBundleManifest, type BundleManifest } from '../../packaging/index.js';
import { openEmbeddedRegistry } from '../../registry/index.js';
import { CLI_VERSION, type CliContext } from '../context.js';
import { examples } from './options.js';

interface BuildFlags {
  out: string;
  pull?: boolean;
  imageBase: string;
  force?: boolean;
}

/** `berth build` (a deployable bundle with its Dockerfile) and `berth bundle seed` (what the bundle's container runs at start). */
export function addBuildCommands(program: Command, ctx: CliContext): void {
  program
    .command('build')
    .description('make a self-contained bundle of a deployment or model version: artifacts, manifest, a lockfile-pinned server and a Dockerfile')
    .argument('<target>', 'a deployment (the version it serves now), or MODEL@VERSION / MODEL@ALIAS')
    .requiredOption('--out <dir>', 'directory to write the bundle to (new or empty; see --force)')
    .option('--pull', 'leave the model out: the container pulls it at start from the registry named by BERTH_DATABASE_URL and BERTH_ARTIFACTS_URL')
    .option('--image-base <image>', 'base image of both Dockerfile stages, with a pinned tag', DEFAULT_IMAGE_BASE)
    .option('--force', 'replace an earlier bundle in --out')
    .addHelpText(
      'after',
      examples(
        'berth build fraud-api --out bundle/',
        'docker build -t fraud-api:3 bundle/ && docker run --read-only --tmpfs /tmp -v berth-data:/var/lib/berth -p 8080:8080 -e BERTH_ADMIN_TOKEN fraud-api:3',
        'berth build fraud@3 --out bundle/ --pull --image-base node:20.18-bookworm-slim',
        '# reads the data dir (--data-dir, BERTH_DATA_DIR); see docs/packaging.md',
      ),
    )
    .action(async (target: string, o: BuildFlags) => {
      const dataDir = path.resolve(ctx.globals.dataDir);
      if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) {
        throw new BerthError('INVALID_ARGUMENT', `--data-dir ${dataDir}: no data dir there; point --data-dir (or BERTH_DATA_DIR) at the registry to build from`, {
          field: 'data-dir',
          got: dataDir,
        });
      }
      const registry = await openEmbeddedRegistry(dataDir);
      try {
        const plan = await buildBundle(registry, target, o.out, {
          mode: o.pull ? 'pull' : 'baked',
          imageBase: o.imageBase,
          force: o.force === true,
          onProgress: (line) => ctx.io.err(`${line}\n`),
        });
        const m = plan.manifest;
        const out = path.resolve(o.out);
        ctx.print(m, () => renderBuilt(m, out));
      } finally {
        await registry.close();
      }
    });

  const bundle = program
    .command('bundle')
    .description('work with bundles made by berth build')
    .addHelpText('after', examples('berth bundle seed /opt/berth --data-dir /var/lib/berth'));

  bundle
    .command('seed')
    .description("put a bundle's model and deployment into the data dir (the bundle's container does this at start; idempotent)")
    .argument('<dir>', 'the bundle directory (holding manifest.json)')
    .addHelpText(
      'after',
      examples(
        'berth bundle seed /opt/berth --data-dir /var/lib/berth',
        '# baked bundle: registers the model (identical bytes: no new version) and deploys it (unchanged: no new revision)',
        '# --pull bundle: checks that the registry holds the model, then deploys it',
      ),
    )
    .action(async (dir: string) => {
      const bundleDir = path.resolve(dir);
      const manifest = await readBundleManifest(bundleDir);
      const { LocalClient } = await import('../local-client.js');
      // --pull bundles find their model in the registry these name (the image never sets them: credentials)
      const client = await LocalClient.open(ctx.globals.dataDir, {
        actor: 'berth-bundle',
        version: CLI_VERSION,
        databaseUrl: ctx.io.env['BERTH_DATABASE_URL'] || null,
        artifactsUrl: ctx.io.env['BERTH_ARTIFACTS_URL'] || null,
      });
      try {
        const name = manifest.model.name;
        const from = `${name}@${manifest.model.version}`;
        let version: number;
        if (manifest.mode === 'baked') {
          const modelPath = await bundledArtifact(bundleDir, manifest, 'model');
          if (modelPath === null) throw new BerthError('INVALID_ARGUMENT', `${bundleDir}/manifest.json lists no bundled model file; rebuild the bundle`, { field: 'artifacts' });
          const cardPath = await bundledArtifact(bundleDir, manifest, 'card');
          const referencePath = await bundledArtifact(bundleDir, manifest, 'reference');
          const result = await client.registerVersion({
            name,
            path: modelPath,
            ...(cardPath !== null ? { cardPath } : {}),
            ...(referencePath !== null ? { referencePath } : {}),
            ...(manifest.model.description !== null ? { description: manifest.model.description } : {}),
            tags: { ...manifest.model.tags, 'berth.bundle.source': from },
          });
          version = result.version.version;
          ctx.io.err(
            result.created
              ? `berth bundle: registered ${name} version ${version} (built from ${from}, sha256 ${manifest.model.sha256.slice(0, 12)}…)\n`
              : `berth bundle: ${name} version ${version} is already the bundled model\n`,
          );
        } else {
          version = await findPulledVersion(client, manifest);
          ctx.io.err(`berth bundle: the registry holds ${from} as ${name}@${version} (sha256 ${manifest.model.sha256.slice(0, 12)}…)\n`);
        }
        const deployed = await client.deploy(manifest.deployment.name, { model: name, version, settings: manifest.deployment.settings });
        ctx.io.err(
          `berth bundle: deployment ${manifest.deployment.name} ${deployed.created ? 'created' : deployed.changed ? 'moved' : 'already'} serving ${name}@${version}\n`,
        );
      } finally {
        await client.close();
      }
    });
}

async function findPulledVersion(
  client: { listVersions(name: string): Promise<{ versions: { version: number; sha256: string }[] }> },
  manifest: BundleManifest,
): Promise<number> {
  const name = manifest.model.name;
  const missing = (): BerthError =>
    new BerthError(
      'VERSION_NOT_FOUND',
      `this bundle (built with --pull) serves ${name} with sha256 ${manifest.model.sha256}, and the registry it was pointed at has no such version; ` +
        'point BERTH_DATABASE_URL and BERTH_ARTIFACTS_URL at the registry the bundle was built from',
      { model: name, expected: manifest.model.sha256 },
    );
  let versions: { version: number; sha256: string }[];
  try {
    versions = (await client.listVersions(name)).versions;
  } catch (err) {
    if (isBerthError(err, 'MODEL_NOT_FOUND')) throw missing();
    throw err;
  }
  const hit = versions.find((v) => v.sha256 === manifest.model.sha256);
  if (!hit) throw missing();
  return hit.version;
}

function renderBuilt(m: BundleManifest, out: string): string {
  const what = m.built.kind === 'deployment' ? `deployment ${m.built.deployment}` : m.built.ref;
  const files = m.artifacts.filter((a) => a.path !== null).length;
  const tag = `${m.deployment.name}:${m.model.version}`;
  return (
    `built a bundle of ${what} (${m.model.name}@${m.model.version}) in ${out}\n` +
    (m.mode === 'baked'
      ? `  the model is baked in (${files} artifact file${files === 1 ? '' : 's'})\n`
      : `  the model is pulled at start: run the image with BERTH_DATABASE_URL and BERTH_ARTIFACTS_URL\n`) +
    `  next: docker build -t ${tag} ${out}\n` +
    `        docker run --read-only --tmpfs /tmp -v berth-data:${m.serve.dataDir} -p ${m.serve.port}:${m.serve.port} -e BERTH_ADMIN_TOKEN ${tag}\n`
  );
}
