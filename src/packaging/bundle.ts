import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BerthError, ModelRef, isBerthError, type ModelCard, type Signature } from '../core/index.js';
import type { ArtifactSignatureRecord, DeploymentRecord, DeploymentSettings, Registry, VersionRecord } from '../registry/index.js';
import { IMAGE_PATHS, checkBaseImage, renderDockerfile, renderDockerignore, type BundleMode } from './dockerfile.js';

/** The manifest format; a reader refuses any other. */
export const BUNDLE_FORMAT = 'berth-bundle/1';
/** The base image when `--image-base` is not given. */
export const DEFAULT_IMAGE_BASE = 'node:20-bookworm-slim';

/** What a bundle was built from: a deployment (what it serves now) or one model version. */
export type BundleTarget = { kind: 'deployment'; deployment: string } | { kind: 'version'; ref: string };

/** A file the bundle serves from: the model, its reference data, its card. */
export interface BundleArtifact {
  role: 'model' | 'reference' | 'card';
  sha256: string;
  sizeBytes: number;
  /** the name it was registered under */
  fileName: string;
  /** path inside the bundle (`artifacts/sha256-….onnx`); null when the container pulls it from the registry */
  path: string | null;
  /** reference data: its data rows */
  rows?: number;
}

/** `manifest.json` at the bundle's root: what was built, from what, and how it starts. */
export interface BundleManifest {
  format: typeof BUNDLE_FORMAT;
  built: BundleTarget;
  mode: BundleMode;
  model: {
    name: string;
    /** the version number in the registry it was built from (a baked image's fresh registry numbers it anew) */
    version: number;
    sha256: string;
    sizeBytes: number;
    description: string | null;
    tags: Record<string, string>;
    /** the model's signature (inputs, outputs) with the card's facts merged in */
    signature: Signature;
    card: ModelCard | null;
    createdAt: string;
    createdBy: string;
  };
  /** every file with its sha256; `path: null` entries are pulled at start (--pull) */
  artifacts: BundleArtifact[];
  /** the version's artifact signatures, as stored (they vouch for `model@version`) */
  artifactSignatures: ArtifactSignatureRecord[];
  /** the deployment the container serves */
  deployment: { name: string; settings: DeploymentSettings };
  /** how the image starts it: the Dockerfile's WORKDIR and ENTRYPOINT + CMD */
  serve: { workdir: string; command: string[]; port: number; dataDir: string };
  imageBase: string;
  berthVersion: string;
  /** ISO 8601 */
  createdAt: string;
}

/** The registry facts a bundle is made of. */
export interface BundleSource {
  built: BundleTarget;
  version: VersionRecord;
  deployment: DeploymentRecord | null;
  artifactSignatures: ArtifactSignatureRecord[];
  /** local path of each artifact by sha256 (the artifact store's files) */
  artifactPaths: Record<string, string>;
}

/**
 * Look up what `berth build` was asked for: `DEPLOYMENT` (the version it serves now) or
 * `MODEL@VERSION` / `MODEL@ALIAS`. Throws DEPLOYMENT_NOT_FOUND, MODEL_NOT_FOUND or VERSION_NOT_FOUND.
 */
export async function resolveBundleSource(registry: Registry, what: string): Promise<BundleSource> {
  let built: BundleTarget;
  let version: VersionRecord;
  let deployment: DeploymentRecord | null = null;
  if (what.includes('@')) {
    const ref = ModelRef.parse(what);
    if (ref.selector.kind === 'latest') throw new BerthError('INVALID_ARGUMENT', `expected MODEL@VERSION, got ${JSON.stringify(what)}`, { field: 'target', got: what });
    version = await registry.resolve(ref);
    built = { kind: 'version', ref: ref.toString() };
  } else {
    try {
      const resolved = await registry.resolveDeployment(what);
      version = resolved.version;
      deployment = resolved.deployment;
    } catch (err) {
      if (isBerthError(err, 'DEPLOYMENT_NOT_FOUND')) {
        throw new BerthError('DEPLOYMENT_NOT_FOUND', `${err.message} (to build one model version instead, write MODEL@VERSION, e.g. ${what}@1)`, err.context, { cause: err });
      }
      throw err;
    }
    built = { kind: 'deployment', deployment: what };
  }
  const artifactPaths: Record<string, string> = { [version.sha256]: registry.artifacts.path(version.sha256) };
  if (version.reference) artifactPaths[version.reference.sha256] = registry.artifacts.path(version.reference.sha256);
  const artifactSignatures = await registry.listSignatures(version.model, version.version);
  return { built, version, deployment, artifactSignatures, artifactPaths };
}

/** Where the server in the bundle comes from: an installed Berth. */
export interface ServerSource {
  /** the package root: package.json, package-lock.json, .npmrc, bin/ */
  packageRoot: string;
  /** the compiled JavaScript (default `<packageRoot>/dist`) */
  distDir?: string;
}

/** Options of `planBundle`. */
export interface PlanBundleOptions {
  mode: BundleMode;
  imageBase: string;
  server: ServerSource;
  /** text of the package's package.json */
  packageJson: string;
  /** text of the package's .npmrc ('' when it has none) */
  npmrc: string;
  berthVersion: string;
  createdAt: string;
}

/** One step of writing a bundle; paths in `to` are relative to the bundle root. */
export type BundleStep =
  | { kind: 'copy'; from: string; to: string; sha256?: string; label: string }
  | { kind: 'copy-tree'; from: string; to: string; label: string; include: 'javascript' | 'all' }
  | { kind: 'write'; to: string; content: string; label?: string };

/** What `writeBundle` will do, computed without touching the disk. */
export interface BundlePlan {
  manifest: BundleManifest;
  steps: BundleStep[];
}

/**
 * Compute a bundle: its manifest and the files to copy and write. Pure: every fact comes in
 * through `source` and `opts`.
 */
export function planBundle(source: BundleSource, opts: PlanBundleOptions): BundlePlan {
  const imageProblem = imageBaseProblem(opts.imageBase);
  if (imageProblem) throw new BerthError('INVALID_ARGUMENT', `--image-base ${opts.imageBase}: ${imageProblem}`, { field: 'image-base', got: opts.imageBase });
  const v = source.version;
  const baked = opts.mode === 'baked';
  const steps: BundleStep[] = [];
  const artifacts: BundleArtifact[] = [];
  const fromStore = (sha: string): string => {
    const p = source.artifactPaths[sha];
    if (!p) throw new BerthError('INTERNAL', `no local path for artifact ${sha}`);
    return p;
  };

  const modelRel = `artifacts/sha256-${v.sha256}${path.extname(v.sourcePath) || '.onnx'}`;
  artifacts.push({ role: 'model', sha256: v.sha256, sizeBytes: v.sizeBytes, fileName: path.basename(v.sourcePath), path: baked ? modelRel : null });
  if (baked) steps.push({ kind: 'copy', from: fromStore(v.sha256), to: modelRel, sha256: v.sha256, label: `model ${v.model}@${v.version} (${formatSize(v.sizeBytes)})` });
  if (v.reference) {
    const r = v.reference;
    const rel = `artifacts/sha256-${r.sha256}${path.extname(r.fileName) || '.csv'}`;
    artifacts.push({ role: 'reference', sha256: r.sha256, sizeBytes: r.sizeBytes, fileName: r.fileName, path: baked ? rel : null, rows: r.rows });
    if (baked) steps.push({ kind: 'copy', from: fromStore(r.sha256), to: rel, sha256: r.sha256, label: `reference data ${r.fileName} (${formatSize(r.sizeBytes)})` });
  }
  if (v.card && baked) {
    // the card as it was written, so registering it again reads exactly what was registered
    const doc = v.card.source?.document ?? stripSource(v.card);
    const text = JSON.stringify(doc, null, 2) + '\n';
    const sha = createHash('sha256').update(text).digest('hex');
    const rel = `artifacts/sha256-${sha}.json`;
    artifacts.push({ role: 'card', sha256: sha, sizeBytes: Buffer.byteLength(text), fileName: 'card.json', path: rel });
    steps.push({ kind: 'write', to: rel, content: text, label: 'model card' });
  }

  const deploymentName = source.deployment?.name ?? v.model;
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    built: source.built,
    mode: opts.mode,
    model: {
      name: v.model,
      version: v.version,
      sha256: v.sha256,
      sizeBytes: v.sizeBytes,
      description: v.description,
      tags: v.tags,
      signature: v.signature,
      card: v.card ? stripSource(v.card) : null,
      createdAt: v.createdAt,
      createdBy: v.createdBy,
    },
    artifacts,
    artifactSignatures: source.artifactSignatures,
    deployment: { name: deploymentName, settings: source.deployment?.settings ?? {} },
    serve: { workdir: IMAGE_PATHS.server, command: ['node', 'start.mjs', '--config', 'berth.yaml'], port: 8080, dataDir: IMAGE_PATHS.data },
    imageBase: opts.imageBase,
    berthVersion: opts.berthVersion,
    createdAt: opts.createdAt,
  };

  const dist = opts.server.distDir ?? path.join(opts.server.packageRoot, 'dist');
  steps.push(
    { kind: 'write', to: 'server/package.json', content: bundlePackageJson(opts.packageJson) },
    { kind: 'copy', from: path.join(opts.server.packageRoot, 'package-lock.json'), to: 'server/package-lock.json', label: 'server: package-lock.json' },
    { kind: 'write', to: 'server/.npmrc', content: bundleNpmrc(opts.npmrc) },
    { kind: 'copy-tree', from: dist, to: 'server/dist', label: 'server: dist/', include: 'javascript' },
    // the dashboard is files of every kind (its page, styles, scripts), served from dist/ui
    { kind: 'copy-tree', from: path.join(dist, 'ui'), to: 'server/dist/ui', label: 'server: dist/ui/ (the dashboard)', include: 'all' },
    { kind: 'copy-tree', from: path.join(opts.server.packageRoot, 'bin'), to: 'server/bin', label: 'server: bin/', include: 'all' },
    // the gRPC service reads its definition at start
    { kind: 'copy-tree', from: path.join(opts.server.packageRoot, 'proto'), to: 'server/proto', label: 'server: proto/', include: 'all' },
    { kind: 'write', to: 'server/start.mjs', content: renderStartScript() },
    { kind: 'write', to: 'server/berth.yaml', content: renderBerthYaml() },
    {
      kind: 'write',
      to: 'Dockerfile',
      content: renderDockerfile({
        imageBase: opts.imageBase,
        mode: opts.mode,
        berthVersion: opts.berthVersion,
        what: source.built.kind === 'deployment' ? `deployment ${source.built.deployment} (${v.model}@${v.version})` : `${v.model}@${v.version}`,
      }),
      label: 'Dockerfile',
    },
    { kind: 'write', to: '.dockerignore', content: renderDockerignore() },
    { kind: 'write', to: 'manifest.json', content: JSON.stringify(manifest, null, 2) + '\n', label: 'manifest.json' },
  );
  return { manifest, steps };
}

/** Options of `writeBundle`. */
export interface WriteBundleOptions {
  /** replace an earlier bundle at `outDir` (only a directory holding a berth-bundle manifest.json) */
  force?: boolean;
  /** one line per file copied, for the CLI's stderr */
  onProgress?: (line: string) => void;
}

/**
 * Refuse an output directory that holds anything but an earlier bundle (which `force` replaces).
 * Throws INVALID_ARGUMENT naming `--out` or `--force`.
 */
export async function checkBundleOut(outDir: string, force: boolean): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(outDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new BerthError('INVALID_ARGUMENT', `--out ${outDir}: cannot use it (${code === 'ENOTDIR' ? 'not a directory' : (err as Error).message})`, { field: 'out', got: outDir }, { cause: err });
  }
  if (entries.length === 0) return;
  if (!force) {
    throw new BerthError('INVALID_ARGUMENT', `--out ${outDir} exists and is not empty; pass --force to replace an earlier bundle there, or choose another directory`, { field: 'out', got: outDir });
  }
  if (!(await isBundleDir(outDir))) {
    throw new BerthError('INVALID_ARGUMENT', `--force replaces only an earlier bundle (a directory with a ${BUNDLE_FORMAT} manifest.json), and ${outDir} holds other files; choose another --out`, {
      field: 'force',
      got: outDir,
    });
  }
}

/**
 * Carry out a plan: everything is written into a sibling temp directory, checked (each artifact's
 * sha256 again), then moved to `outDir`, so a failed build leaves no half bundle behind.
 */
export async function writeBundle(plan: BundlePlan, outDir: string, opts: WriteBundleOptions = {}): Promise<void> {
  const out = path.resolve(outDir);
  await checkBundleOut(out, opts.force === true);
  const tmp = `${out}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  const say = opts.onProgress ?? (() => undefined);
  await mkdir(tmp, { recursive: true });
  try {
    for (const step of plan.steps) {
      const to = path.join(tmp, step.to);
      await mkdir(path.dirname(to), { recursive: true });
      if (step.kind === 'write') {
        if (step.label) say(`writing ${step.label}`);
        await writeFile(to, step.content);
      } else if (step.kind === 'copy') {
        say(`copying ${step.label}`);
        await copyFile(step.from, to);
        if (step.sha256 !== undefined) {
          const got = await sha256File(to);
          if (got !== step.sha256) {
            throw new BerthError('ARTIFACT_CORRUPTED', `${step.from} hashes to ${got}, expected ${step.sha256}; the stored artifact is damaged, nothing was built`, { got, expected: step.sha256 });
          }
        }
      } else {
        const n = await copyTree(step.from, to, step.include);
        if (n === 0) throw new BerthError('INTERNAL', `${step.from} holds no files to bundle; build Berth first (npm run build)`, { field: 'server', got: step.from });
        say(`copying ${step.label} (${n} files)`);
      }
    }
    if (existsSync(out)) await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** Options of `buildBundle`. */
export interface BuildBundleOptions extends WriteBundleOptions {
  mode?: BundleMode;
  imageBase?: string;
  /** the Berth to put in the bundle (default: the one running, found from this module's location) */
  server?: ServerSource;
  now?: () => number;
}

/**
 * `berth build`: resolve `what` in the registry, plan the bundle and write it to `outDir`.
 *
 * @example
 * const { manifest } = await buildBundle(registry, 'fraud-api', 'bundle/', { onProgress: (l) => console.error(l) });
 */
export async function buildBundle(registry: Registry, what: string, outDir: string, opts: BuildBundleOptions = {}): Promise<BundlePlan> {
  const out = path.resolve(outDir);
  // refuse a bad --out before any work
  await checkBundleOut(out, opts.force === true);
  const imageBase = opts.imageBase ?? DEFAULT_IMAGE_BASE;
  const imageProblem = imageBaseProblem(imageBase);
  if (imageProblem) throw new BerthError('INVALID_ARGUMENT', `--image-base ${imageBase}: ${imageProblem}`, { field: 'image-base', got: imageBase });
  const source = await resolveBundleSource(registry, what);
  const server = opts.server ?? { packageRoot: findBerthPackage() };
  const dist = server.distDir ?? path.join(server.packageRoot, 'dist');
  for (const needed of ['cli/main.js', 'packaging/bundle.js', 'sdk/index.js']) {
    if (!existsSync(path.join(dist, needed))) {
      throw new BerthError('INTERNAL', `${path.join(dist, needed)} is missing: the bundle needs a built Berth (run npm run build in ${server.packageRoot})`, { field: 'server', got: dist });
    }
  }
  if (source.deployment?.traffic) {
    opts.onProgress?.(`note: deployment ${source.deployment.name} has a traffic policy (split, shadows); the bundle serves only ${source.version.model}@${source.version.version}`);
  }
  const packageJson = await readFile(path.join(server.packageRoot, 'package.json'), 'utf8');
  const npmrcPath = path.join(server.packageRoot, '.npmrc');
  const npmrc = existsSync(npmrcPath) ? await readFile(npmrcPath, 'utf8') : '';
  const plan = planBundle(source, {
    mode: opts.mode ?? 'baked',
    imageBase,
    server,
    packageJson,
    npmrc,
    berthVersion: (JSON.parse(packageJson) as { version?: string }).version ?? '0.0.0',
    createdAt: new Date(opts.now ? opts.now() : Date.now()).toISOString(),
  });
  await writeBundle(plan, out, opts);
  return plan;
}

/**
 * Read and check a bundle's manifest.json. Throws INVALID_ARGUMENT when the directory holds no
 * bundle, or one of another format.
 */
export async function readBundleManifest(bundleDir: string): Promise<BundleManifest> {
  const file = path.join(bundleDir, 'manifest.json');
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${file} cannot be read as a bundle manifest (${(err as Error).message}); is ${bundleDir} a bundle made by berth build?`, { field: 'bundle', got: bundleDir }, { cause: err });
  }
  const m = doc as Partial<BundleManifest> | null;
  if (!m || typeof m !== 'object' || m.format !== BUNDLE_FORMAT) {
    throw new BerthError('INVALID_ARGUMENT', `${file}: expected format "${BUNDLE_FORMAT}", got ${JSON.stringify(m?.format)}`, { field: 'format', expected: BUNDLE_FORMAT, got: m?.format });
  }
  if (!m.model || !Array.isArray(m.artifacts) || !m.deployment || (m.mode !== 'baked' && m.mode !== 'pull')) {
    throw new BerthError('INVALID_ARGUMENT', `${file}: model, artifacts, deployment and mode are required`, { field: 'manifest' });
  }
  return m as BundleManifest;
}

/** The local path of a bundled artifact of `role`, checked against its sha256; null when the bundle has none (or pulls it). */
export async function bundledArtifact(bundleDir: string, manifest: BundleManifest, role: BundleArtifact['role']): Promise<string | null> {
  const a = manifest.artifacts.find((x) => x.role === role);
  if (!a || a.path === null) return null;
  const p = path.join(bundleDir, a.path);
  const got = await sha256File(p).catch((err: unknown) => {
    throw new BerthError('ARTIFACT_CORRUPTED', `${p} cannot be read (${(err as Error).message}); the bundle is incomplete`, { expected: a.sha256 }, { cause: err });
  });
  if (got !== a.sha256) throw new BerthError('ARTIFACT_CORRUPTED', `${p} hashes to ${got}, the manifest says ${a.sha256}; rebuild the bundle`, { got, expected: a.sha256 });
  return p;
}

/**
 * The root of the Berth package this module belongs to (the directory whose package.json is named
 * `berth`), from `src/packaging/` or `dist/packaging/` alike.
 */
export function findBerthPackage(from: string = import.meta.url): string {
  let dir = path.dirname(fileURLToPath(from));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'berth') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new BerthError('INTERNAL', `no berth package.json above ${fileURLToPath(from)}`);
    dir = up;
  }
}

/**
 * The bundle's package.json: the project's, without its scripts. `prepare` would compile TypeScript,
 * which `npm ci --omit=dev` does not install; dist/ is already built. The dependencies are untouched,
 * so the lockfile still matches and `npm ci` installs exactly what it pins.
 */
export function bundlePackageJson(text: string): string {
  const pkg = JSON.parse(text) as Record<string, unknown>;
  delete pkg['scripts'];
  return JSON.stringify(pkg, null, 2) + '\n';
}

/** The bundle's .npmrc: the project's, sure to skip onnxruntime-node's optional download. */
export function bundleNpmrc(text: string): string {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (!lines.some((l) => /^\s*onnxruntime-node-install\s*=\s*skip\s*$/.test(l))) lines.push('onnxruntime-node-install=skip');
  return lines.join('\n') + '\n';
}

/** The bundled server's configuration; the data dir comes from BERTH_DATA_DIR, secrets from the environment. */
export function renderBerthYaml(): string {
  return [
    '# Configuration of the bundled Berth server (generated by `berth build`; docs/packaging.md, docs/configuration.md).',
    '# BERTH_* variables win over this file. The data dir is BERTH_DATA_DIR (the image sets /var/lib/berth).',
    'version: 1',
    'server:',
    '  host: 0.0.0.0',
    '  port: 8080',
    'auth:',
    '  # never dev: give BERTH_ADMIN_TOKEN (or BERTH_ADMIN_TOKEN_FILE, a mounted secret) or configure OIDC',
    '  dev: false',
    'logLevel: info',
    '',
  ].join('\n');
}

/** `server/start.mjs`: seed the data dir from the bundle, then serve, in one process. */
export function renderStartScript(): string {
  return [
    '// Entry point of a Berth bundle (generated by `berth build`; docs/packaging.md).',
    "// 1. `berth bundle seed <bundle>`: register the bundle's model and deploy it in the data dir. Idempotent:",
    '//    identical bytes make no new version and an unchanged deployment no new revision.',
    '// 2. `berth serve` with this script\'s arguments, in this same process, so SIGTERM reaches the server.',
    "import { fileURLToPath } from 'node:url';",
    "import { main } from './dist/cli/main.js';",
    '',
    "const bundleDir = fileURLToPath(new URL('..', import.meta.url));",
    "const seeded = await main([process.argv[0], 'berth', 'bundle', 'seed', bundleDir]);",
    'if (seeded !== 0) process.exit(seeded);',
    "process.exitCode = await main([process.argv[0], 'berth', 'serve', ...process.argv.slice(2)]);",
    '',
  ].join('\n');
}

/** BD001, and a Debian base: the build stage uses apt-get, and the native addons are built for glibc. */
function imageBaseProblem(image: string): string | null {
  if (/alpine/i.test(image)) return 'the Dockerfile needs a Debian-based Node image (apt-get, glibc), such as node:20-bookworm-slim';
  return checkBaseImage(image);
}

async function isBundleDir(dir: string): Promise<boolean> {
  try {
    const doc = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { format?: unknown };
    return doc.format === BUNDLE_FORMAT;
  } catch {
    return false;
  }
}

async function copyTree(from: string, to: string, include: 'javascript' | 'all'): Promise<number> {
  let entries;
  try {
    entries = await readdir(from, { withFileTypes: true });
  } catch {
    return 0;
  }
  let n = 0;
  for (const e of entries) {
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    if (e.isDirectory()) {
      n += await copyTree(src, dst, include);
    } else if (e.isFile() && (include === 'all' || (e.name.endsWith('.js') && !e.name.endsWith('.test.js')))) {
      await mkdir(to, { recursive: true });
      await copyFile(src, dst);
      n++;
    } else if (e.isSymbolicLink() && include === 'all') {
      const s = await stat(src);
      if (s.isFile()) {
        await mkdir(to, { recursive: true });
        await copyFile(src, dst);
        n++;
      }
    }
  }
  return n;
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

function stripSource(card: ModelCard): ModelCard {
  const { source: _source, ...rest } = card;
  return rest as ModelCard;
}

function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
