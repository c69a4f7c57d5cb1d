/*
 * One registry suite, run against every MetadataStore implementation (as Kysely runs its
 * integration tests `for (const dialect of DIALECTS)`). SQLite always runs; PostgreSQL joins when
 * a PostgresMetadataStore exists and BERTH_TEST_POSTGRES_URL is set. BERTH_TEST_STORES=sqlite,…
 * narrows the list.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, ManualClock, ModelRef, type ErrorCode, type Signature } from '../../src/core/index.js';
import {
  FsArtifactStore,
  Registry,
  SqliteMetadataStore,
  migrateToLatest,
  openEmbeddedRegistry,
  parseCard,
  type MetadataStore,
  type RegistryChange,
} from '../../src/registry/index.js';
import { POSTGRES_SKIP_REASON, TEST_POSTGRES_URL, dropPostgresStoreForTest, openPostgresStoreForTest } from '../helpers/postgres.js';

interface StoreFactory {
  name: string;
  /** Open the store for a test's data dir; opening the same dir again must see the same data. */
  open(dir: string): Promise<MetadataStore>;
  /** Remove what the store kept outside the data dir (run after every store of the test is closed). */
  cleanup?(dir: string): Promise<void>;
}

const ALL_STORES: StoreFactory[] = [
  { name: 'sqlite', open: async (dir) => new SqliteMetadataStore({ path: join(dir, 'berth.db') }) },
  ...(TEST_POSTGRES_URL
    ? [{ name: 'postgres', open: (dir: string) => openPostgresStoreForTest(TEST_POSTGRES_URL!, dir), cleanup: (dir: string) => dropPostgresStoreForTest(TEST_POSTGRES_URL!, dir) }]
    : []),
];
if (!TEST_POSTGRES_URL) console.info(POSTGRES_SKIP_REASON);
const wanted = process.env['BERTH_TEST_STORES']?.split(',').map((s) => s.trim());
const STORES = ALL_STORES.filter((s) => !wanted || wanted.includes(s.name));

const START = Date.UTC(2024, 5, 4, 14, 0, 0);
const MINUTE = 60_000;

const SIGNATURE: Signature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3] }],
  outputs: [
    { name: 'label', datatype: 'INT64', shape: [-1] },
    { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
  ],
  batchable: true,
};

/** Stands in for the ONNX reader: files starting with "ONNX" load, anything else is INVALID_MODEL. */
let inspectCalls = 0;
const inspect = async (bytes: Uint8Array): Promise<Signature> => {
  inspectCalls++;
  if (Buffer.from(bytes.subarray(0, 4)).toString() !== 'ONNX') {
    throw new BerthError('INVALID_MODEL', 'not an ONNX model (fake inspector)');
  }
  return structuredClone(SIGNATURE);
};

async function expectCode<T>(p: Promise<T>, code: ErrorCode): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code, (err as Error).message).toBe(code);
    return err as BerthError;
  }
  throw new Error(`expected ${code}`);
}

async function listBlobs(artifactsDir: string): Promise<string[]> {
  try {
    const out: string[] = [];
    for (const shard of await readdir(join(artifactsDir, 'sha256'))) out.push(...(await readdir(join(artifactsDir, 'sha256', shard))));
    return out;
  } catch {
    return [];
  }
}

for (const factory of STORES) {
  describe(`registry on ${factory.name}`, () => {
    let dir: string;
    let clock: ManualClock;
    let registry: Registry;
    let open: Registry[];

    async function openRegistry(): Promise<Registry> {
      const metadata = await factory.open(dir);
      await metadata.migrate();
      const r = new Registry({
        metadata,
        artifacts: new FsArtifactStore(join(dir, 'artifacts')),
        clock,
        defaultActor: 'tester',
        onClose: () => metadata.close(),
      });
      open.push(r);
      return r;
    }

    let fileCounter = 0;
    async function modelFile(content = `ONNX model ${++fileCounter}`, name = `m${fileCounter}.onnx`): Promise<string> {
      const p = join(dir, 'src', name);
      await writeFile(p, content);
      return p;
    }

    async function register(name: string, content?: string) {
      return registry.registerVersion({ name, filePath: await modelFile(content), inspect });
    }

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), `berth-registry-${factory.name}-`));
      await import('node:fs/promises').then((fs) => fs.mkdir(join(dir, 'src')));
      clock = new ManualClock(START);
      open = [];
      registry = await openRegistry();
      inspectCalls = 0;
    });

    afterEach(async () => {
      for (const r of open) await r.close();
      await factory.cleanup?.(dir);
      await rm(dir, { recursive: true, force: true });
    });

    describe('versions', () => {
      it('numbers versions 1, 2, 3 per model and creates the model with its first version', async () => {
        const a = await register('fraud');
        const b = await register('fraud');
        const c = await register('fraud');
        const other = await register('churn');
        expect([a, b, c].map((r) => [r.created, r.version.version])).toEqual([
          [true, 1],
          [true, 2],
          [true, 3],
        ]);
        expect(other.version.version).toBe(1);
        const model = await registry.getModel('fraud');
        expect(model).toMatchObject({ name: 'fraud', latestVersion: 3, versionCount: 3, aliases: {}, tags: {} });
        expect((await registry.listModels()).map((m) => m.name)).toEqual(['churn', 'fraud']);
        expect((await registry.listVersions('fraud')).map((v) => v.version)).toEqual([1, 2, 3]);
      });

      it('returns the existing version and writes nothing when the same bytes are registered again', async () => {
        const first = await register('fraud', 'ONNX same bytes');
        const seq = await registry.changeSeq();
        const audit = await registry.audit();
        const again = await registry.registerVersion({ name: 'fraud', filePath: await modelFile('ONNX same bytes', 'copy.onnx'), inspect });
        expect(again.created).toBe(false);
        expect(again.version).toEqual(first.version);
        expect(await registry.listVersions('fraud')).toHaveLength(1);
        expect(await registry.changeSeq()).toBe(seq);
        expect(await registry.audit()).toEqual(audit);
        expect(inspectCalls).toBe(1);
      });

      it('registers the same bytes under another model as that model\'s own version', async () => {
        const a = await register('fraud', 'ONNX shared');
        const b = await register('fraud-v2', 'ONNX shared');
        expect(b.created).toBe(true);
        expect(b.version.sha256).toBe(a.version.sha256);
        expect(await registry.findVersionBySha('fraud-v2', a.version.sha256)).toMatchObject({ model: 'fraud-v2', version: 1 });
        expect(await registry.findVersionBySha('nobody', a.version.sha256)).toBeNull();
      });

      it('stores the file as a verified artifact with its sha256, size, signature and lineage', async () => {
        const content = 'ONNX with lineage';
        const { version } = await registry.registerVersion({
          name: 'fraud',
          filePath: await modelFile(content),
          description: 'first try',
          tags: { team: 'risk' },
          actor: 'alice',
          inspect,
        });
        expect(version.sha256).toBe(createHash('sha256').update(content).digest('hex'));
        expect(version.sizeBytes).toBe(content.length);
        expect((await registry.artifacts.read(version.sha256)).toString()).toBe(content);
        expect(version.signature.inputs[0]).toMatchObject({ name: 'input', allowNonFinite: true });
        expect(version).toMatchObject({ description: 'first try', tags: { team: 'risk' }, createdBy: 'alice', createdAt: new Date(START).toISOString() });
        expect(version.sourcePath).toBe(join(dir, 'src', `m${fileCounter}.onnx`));
        expect(version.lineage).toMatchObject({ sourcePath: version.sourcePath, user: 'alice', registeredAt: new Date(START).toISOString() });
        expect(version.lineage.gitCommit).toBeUndefined();
      });

      it('records the git commit, dirtiness and remote of a source file inside a git repository', async () => {
        const repo = join(dir, 'src');
        const git = (...args: string[]) =>
          execFileSync('git', ['-C', repo, '-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { stdio: 'pipe' }).toString().trim();
        try {
          git('init', '-q');
        } catch {
          return; // no git on this machine: lineage simply has no git facts
        }
        const p = await modelFile('ONNX in git', 'tracked.onnx');
        git('add', 'tracked.onnx');
        git('commit', '-q', '-m', 'model');
        git('remote', 'add', 'origin', 'https://user:secret@example.com/ml/fraud.git');
        const head = git('rev-parse', 'HEAD');
        const clean = await registry.registerVersion({ name: 'fraud', filePath: p, inspect });
        expect(clean.version.lineage).toMatchObject({ gitCommit: head, gitDirty: false, gitRemote: 'https://example.com/ml/fraud.git' });
        await modelFile('ONNX untracked', 'untracked.onnx');
        const dirty = await registry.registerVersion({ name: 'fraud', filePath: join(repo, 'untracked.onnx'), inspect });
        expect(dirty.version.lineage).toMatchObject({ gitCommit: head, gitDirty: true });
      });

      it('merges the card into the signature and keeps the card, its tags and its framework', async () => {
        const card = parseCard(
          'format: berth-card/1\ntask: binary-classification\ninputs: [{name: input, features: [a, b, c]}]\n' +
            'classes: {labels: [0, 1], names: [no, yes]}\ntags: {source: card, team: card}\nlineage: {framework: {name: sklearn}}\n',
          'card.yaml',
        );
        const { version } = await registry.registerVersion({ name: 'fraud', filePath: await modelFile(), card, tags: { team: 'risk' }, inspect });
        expect(version.signature.inputs[0]?.featureNames).toEqual(['a', 'b', 'c']);
        expect(version.card?.classes?.names).toEqual(['no', 'yes']);
        expect(version.card?.source?.format).toBe('berth-card/1');
        expect(version.tags).toEqual({ source: 'card', team: 'risk' });
        expect(version.lineage.framework).toEqual({ name: 'sklearn' });
      });

      it('stores reference data as an artifact with its row count', async () => {
        const csv = join(dir, 'src', 'reference.csv');
        await writeFile(csv, 'a,b,"note"\n1,2,"multi\nline"\n3,4,x\n\n');
        const { version } = await registry.registerVersion({ name: 'fraud', filePath: await modelFile(), referencePath: csv, inspect });
        expect(version.reference).toMatchObject({ fileName: 'reference.csv', rows: 2 });
        expect((await registry.artifacts.read(version.reference!.sha256)).toString()).toContain('multi\nline');
      });

      it('writes nothing at all when inspect fails: no model row, no blob, no audit row', async () => {
        await expectCode(registry.registerVersion({ name: 'fraud', filePath: await modelFile('garbage bytes'), inspect }), 'INVALID_MODEL');
        expect(await registry.listModels()).toEqual([]);
        expect(await listBlobs(join(dir, 'artifacts'))).toEqual([]);
        expect(await registry.audit()).toEqual([]);
        expect(await registry.changeSeq()).toBe(0);
      });

      it('writes nothing when the card does not fit the model', async () => {
        const card = parseCard('format: berth-card/1\ninputs: [{name: pixels}]\n', 'card.yaml');
        const err = await expectCode(registry.registerVersion({ name: 'fraud', filePath: await modelFile(), card, inspect }), 'INVALID_CARD');
        expect(err.message).toContain('input (FP32 [-1, 3])');
        expect(await registry.listModels()).toEqual([]);
        expect(await listBlobs(join(dir, 'artifacts'))).toEqual([]);
      });

      it('refuses an empty file, a missing file and a directory before inspecting anything', async () => {
        const empty = await expectCode(registry.registerVersion({ name: 'fraud', filePath: await modelFile(''), inspect }), 'INVALID_MODEL');
        expect(empty.message).toContain('is empty (0 bytes)');
        const missing = await expectCode(registry.registerVersion({ name: 'fraud', filePath: join(dir, 'nope.onnx'), inspect }), 'INVALID_ARGUMENT');
        expect(missing.message).toContain('does not exist');
        await expectCode(registry.registerVersion({ name: 'fraud', filePath: dir, inspect }), 'INVALID_ARGUMENT');
        await expectCode(registry.registerVersion({ name: 'bad name!', filePath: await modelFile(), inspect }), 'INVALID_ARGUMENT');
        expect(inspectCalls).toBe(0);
        expect(await registry.listModels()).toEqual([]);
      });

      it('gives concurrent registrations distinct version numbers', async () => {
        const files = await Promise.all([1, 2, 3, 4, 5].map((i) => modelFile(`ONNX parallel ${i}`, `p${i}.onnx`)));
        const results = await Promise.all(files.map((filePath) => registry.registerVersion({ name: 'fraud', filePath, inspect })));
        expect(results.map((r) => r.version.version).sort()).toEqual([1, 2, 3, 4, 5]);
      });

      it('resolves latest, a version number and an alias, and says what is missing', async () => {
        await register('fraud');
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1);
        expect((await registry.resolve(ModelRef.parse('fraud'))).version).toBe(2);
        expect((await registry.resolve(ModelRef.parse('fraud@latest'))).version).toBe(2);
        expect((await registry.resolve(ModelRef.parse('fraud@1'))).version).toBe(1);
        expect((await registry.resolve('fraud@production')).version).toBe(1);
        expect((await expectCode(registry.resolve('fraud@7'), 'VERSION_NOT_FOUND')).message).toContain('versions are 1 to 2');
        expect((await expectCode(registry.resolve('fraud@staging'), 'VERSION_NOT_FOUND')).message).toContain('its aliases are: production');
        await expectCode(registry.resolve('nobody'), 'MODEL_NOT_FOUND');
        await expectCode(registry.getVersion('fraud', 0), 'INVALID_ARGUMENT');
      });
    });

    describe('aliases', () => {
      it('records every move with the previous version, actor and time, newest first', async () => {
        await register('fraud');
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1, 'alice');
        clock.advance(MINUTE);
        const move = await registry.setAlias('fraud', 'production', 2, 'bob');
        expect(move).toEqual({ model: 'fraud', alias: 'production', version: 2, previousVersion: 1, changed: true });
        clock.advance(MINUTE);
        await registry.setAlias('fraud', 'staging', 2);
        const history = await registry.aliasHistory('fraud', 'production');
        expect(history.map((h) => [h.version, h.previousVersion, h.actor, h.atMs, h.change])).toEqual([
          [2, 1, 'bob', START + MINUTE, 'set'],
          [1, null, 'alice', START, 'set'],
        ]);
        expect((await registry.aliasHistory('fraud')).map((h) => h.alias)).toEqual(['staging', 'production', 'production']);
        expect((await registry.getModel('fraud')).aliases).toEqual({ production: 2, staging: 2 });
      });

      it('does not record a move to the version the alias already points at', async () => {
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1);
        const seq = await registry.changeSeq();
        expect((await registry.setAlias('fraud', 'production', 1)).changed).toBe(false);
        expect(await registry.changeSeq()).toBe(seq);
        expect(await registry.aliasHistory('fraud', 'production')).toHaveLength(1);
      });

      it('answers which version an alias pointed at, at any past moment', async () => {
        await register('fraud');
        await register('fraud');
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1); // 14:00
        clock.advance(3 * MINUTE);
        await registry.setAlias('fraud', 'production', 2); // 14:03
        clock.advance(2 * MINUTE);
        await registry.deleteAlias('fraud', 'production'); // 14:05
        clock.advance(MINUTE);
        await registry.setAlias('fraud', 'production', 3); // 14:06
        expect(await registry.aliasAt('fraud', 'production', START - 1)).toBeNull();
        expect(await registry.aliasAt('fraud', 'production', START)).toBe(1);
        expect(await registry.aliasAt('fraud', 'production', START + 3 * MINUTE - 1)).toBe(1);
        expect(await registry.aliasAt('fraud', 'production', START + 3 * MINUTE + 30_000)).toBe(2);
        expect(await registry.aliasAt('fraud', 'production', START + 5 * MINUTE)).toBeNull();
        expect(await registry.aliasAt('fraud', 'production', START + 60 * MINUTE)).toBe(3);
        expect(await registry.aliasAt('fraud', 'staging', START + 60 * MINUTE)).toBeNull();
      });

      it('rolls an alias back to where it pointed before its latest move, and forward again', async () => {
        await register('fraud');
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1);
        await registry.setAlias('fraud', 'production', 2);
        const back = await registry.rollbackAlias('fraud', 'production', 'oncall');
        expect(back).toMatchObject({ version: 1, previousVersion: 2, changed: true });
        expect((await registry.resolve('fraud@production')).version).toBe(1);
        expect((await registry.aliasHistory('fraud', 'production'))[0]).toMatchObject({ change: 'rollback', version: 1, previousVersion: 2, actor: 'oncall' });
        expect((await registry.rollbackAlias('fraud', 'production')).version).toBe(2);
      });

      it('brings a deleted alias back by rolling back its deletion', async () => {
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1);
        await registry.deleteAlias('fraud', 'production');
        await expectCode(registry.resolve('fraud@production'), 'VERSION_NOT_FOUND');
        await registry.rollbackAlias('fraud', 'production');
        expect((await registry.resolve('fraud@production')).version).toBe(1);
      });

      it('refuses to roll back an alias with no earlier version, or one never set', async () => {
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1);
        const first = await expectCode(registry.rollbackAlias('fraud', 'production'), 'INVALID_ARGUMENT');
        expect(first.message).toContain('pointed nowhere before');
        await expectCode(registry.rollbackAlias('fraud', 'staging'), 'VERSION_NOT_FOUND');
      });

      it('refuses aliases to missing versions or models, and reserved alias names', async () => {
        await register('fraud');
        await expectCode(registry.setAlias('fraud', 'production', 9), 'VERSION_NOT_FOUND');
        await expectCode(registry.setAlias('nobody', 'production', 1), 'MODEL_NOT_FOUND');
        await expectCode(registry.setAlias('fraud', '3', 1), 'INVALID_ARGUMENT');
        await expectCode(registry.setAlias('fraud', 'latest', 1), 'INVALID_ARGUMENT');
        await expectCode(registry.setAlias('fraud', 'bad alias', 1), 'INVALID_ARGUMENT');
        await expectCode(registry.deleteAlias('fraud', 'production'), 'VERSION_NOT_FOUND');
        expect(await registry.audit()).toHaveLength(1);
      });

      it('refuses to delete an alias a deployment serves through', async () => {
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1);
        await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'alias', alias: 'production' } });
        const err = await expectCode(registry.deleteAlias('fraud', 'production'), 'INVALID_ARGUMENT');
        expect(err.message).toContain('fraud-api');
      });
    });

    describe('tags and descriptions', () => {
      it('merges, lists and deletes model and version tags; versions stay otherwise immutable', async () => {
        const { version } = await register('fraud');
        expect(await registry.setModelTags('fraud', { team: 'risk', tier: '1' })).toEqual({ team: 'risk', tier: '1' });
        expect(await registry.setModelTags('fraud', { tier: '2' })).toEqual({ team: 'risk', tier: '2' });
        expect(await registry.deleteModelTag('fraud', 'team')).toEqual({ tier: '2' });
        expect((await registry.getModel('fraud')).tags).toEqual({ tier: '2' });
        expect(await registry.setVersionTags('fraud', 1, { approved: 'yes' })).toEqual({ approved: 'yes' });
        expect(await registry.deleteVersionTag('fraud', 1, 'approved')).toEqual({});
        const described = await registry.setVersionDescription('fraud', 1, 'retrained on June data');
        expect(described.description).toBe('retrained on June data');
        expect((await registry.setModelDescription('fraud', 'card fraud scoring')).description).toBe('card fraud scoring');
        const after = await registry.getVersion('fraud', 1);
        expect({ ...after, tags: {}, description: null }).toEqual({ ...version, tags: {}, description: null });
      });

      it('rejects tags that are not strings, naming the tag', async () => {
        await register('fraud');
        const err = await expectCode(registry.setModelTags('fraud', { n: 3 } as unknown as Record<string, string>), 'INVALID_ARGUMENT');
        expect(err.context.field).toBe('tags.n');
        await expectCode(registry.setVersionTags('fraud', 4, { a: 'b' }), 'VERSION_NOT_FOUND');
      });
    });

    describe('deployments', () => {
      beforeEach(async () => {
        await register('fraud');
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1);
      });

      it('creates a deployment at revision 1 and resolves its alias to a version', async () => {
        const res = await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'alias', alias: 'production' }, settings: { maxBatchSize: 32 } });
        expect(res).toMatchObject({ created: true, changed: true, deployment: { name: 'fraud-api', revision: 1, settings: { maxBatchSize: 32 } } });
        const resolved = await registry.resolveDeployment('fraud-api');
        expect(resolved.version.version).toBe(1);
        await registry.setAlias('fraud', 'production', 2);
        expect((await registry.resolveDeployment('fraud-api')).version.version).toBe(2);
        expect(await registry.listDeployments()).toHaveLength(1);
        expect(await registry.getDeployment('fraud-api')).toEqual(res.deployment);
      });

      it('bumps the revision on every change, keeps settings when omitted, and records nothing for a no-op', async () => {
        await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'alias', alias: 'production' }, settings: { timeoutMs: 500 } });
        clock.advance(MINUTE);
        const pinned = await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 2 } });
        expect(pinned.deployment).toMatchObject({ revision: 2, target: { kind: 'version', version: 2 }, settings: { timeoutMs: 500 } });
        const same = await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 2 }, settings: { timeoutMs: 500 } });
        expect(same).toMatchObject({ created: false, changed: false, deployment: { revision: 2 } });
        const cleared = await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 2 }, settings: {} });
        expect(cleared.deployment).toMatchObject({ revision: 3, settings: {} });
        const history = await registry.deploymentHistory('fraud-api');
        expect(history.map((h) => [h.revision, h.change, h.target.kind])).toEqual([
          [3, 'update', 'version'],
          [2, 'update', 'version'],
          [1, 'create', 'alias'],
        ]);
      });

      it('answers what a deployment served at a past moment, following its alias', async () => {
        await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'alias', alias: 'production' } }); // 14:00 → v1
        clock.advance(3 * MINUTE);
        await registry.setAlias('fraud', 'production', 2); // 14:03
        clock.advance(3 * MINUTE);
        await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 1 } }); // 14:06
        clock.advance(MINUTE);
        await registry.deleteDeployment('fraud-api'); // 14:07
        expect(await registry.deploymentAt('fraud-api', START - 1)).toBeNull();
        expect(await registry.deploymentAt('fraud-api', START + MINUTE)).toMatchObject({ deployment: { revision: 1 }, version: 1 });
        expect(await registry.deploymentAt('fraud-api', START + 4 * MINUTE)).toMatchObject({ deployment: { revision: 1 }, version: 2 });
        expect(await registry.deploymentAt('fraud-api', START + 6 * MINUTE)).toMatchObject({ deployment: { revision: 2 }, version: 1 });
        expect(await registry.deploymentAt('fraud-api', START + 8 * MINUTE)).toBeNull();
      });

      it('rolls a deployment back to its previous revision as a new revision', async () => {
        await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'alias', alias: 'production' }, settings: { maxBatchSize: 8 } });
        await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 2 }, settings: { maxBatchSize: 64 } });
        const back = await registry.rollbackDeployment('fraud-api', 'oncall');
        expect(back).toMatchObject({ revision: 3, target: { kind: 'alias', alias: 'production' }, settings: { maxBatchSize: 8 } });
        expect((await registry.deploymentHistory('fraud-api'))[0]).toMatchObject({ revision: 3, change: 'rollback', actor: 'oncall' });
        expect((await registry.rollbackDeployment('fraud-api')).target).toEqual({ kind: 'version', version: 2 });
      });

      it('refuses to roll back a deployment with a single revision', async () => {
        await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 1 } });
        await expectCode(registry.rollbackDeployment('fraud-api'), 'INVALID_ARGUMENT');
        await expectCode(registry.rollbackDeployment('nope'), 'DEPLOYMENT_NOT_FOUND');
      });

      it('deletes a deployment, keeps its history, and continues revisions when the name is reused', async () => {
        await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 1 } });
        await registry.deleteDeployment('fraud-api');
        await expectCode(registry.getDeployment('fraud-api'), 'DEPLOYMENT_NOT_FOUND');
        await expectCode(registry.resolveDeployment('fraud-api'), 'DEPLOYMENT_NOT_FOUND');
        expect((await registry.deploymentHistory('fraud-api'))[0]).toMatchObject({ revision: 2, deleted: true, change: 'delete' });
        const again = await registry.deploy({ name: 'fraud-api', model: 'fraud', target: { kind: 'version', version: 2 } });
        expect(again).toMatchObject({ created: true, deployment: { revision: 3 } });
        await expectCode(registry.deleteDeployment('nope'), 'DEPLOYMENT_NOT_FOUND');
        await expectCode(registry.deploymentHistory('nope'), 'DEPLOYMENT_NOT_FOUND');
      });

      it('refuses targets that do not resolve and settings that are not valid, naming the field', async () => {
        await expectCode(registry.deploy({ name: 'd', model: 'fraud', target: { kind: 'alias', alias: 'staging' } }), 'VERSION_NOT_FOUND');
        await expectCode(registry.deploy({ name: 'd', model: 'fraud', target: { kind: 'version', version: 5 } }), 'VERSION_NOT_FOUND');
        await expectCode(registry.deploy({ name: 'd', model: 'nobody', target: { kind: 'version', version: 1 } }), 'MODEL_NOT_FOUND');
        const bad = await expectCode(
          registry.deploy({ name: 'd', model: 'fraud', target: { kind: 'version', version: 1 }, settings: { maxBatchSize: 0, timeoutMs: 1.5 } }),
          'INVALID_ARGUMENT',
        );
        expect(bad.message).toContain('settings.maxBatchSize: expected an integer >= 1, got 0');
        expect(bad.message).toContain('settings.timeoutMs: expected an integer >= 1, got 1.5');
        expect(bad.context.field).toBe('settings.maxBatchSize');
        const unknown = await expectCode(
          registry.deploy({ name: 'd', model: 'fraud', target: { kind: 'version', version: 1 }, settings: { batch: 3 } as never }),
          'INVALID_ARGUMENT',
        );
        expect(unknown.message).toContain('settings.batch: unknown setting');
        await expectCode(registry.deploy({ name: 'd', model: 'fraud', target: { kind: 'shadow' } as never }), 'INVALID_ARGUMENT');
        expect(await registry.listDeployments()).toEqual([]);
      });
    });

    describe('audit and change notification', () => {
      it('writes one audit row for every mutation, in order, with actor and target', async () => {
        await register('fraud');
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1, 'alice');
        await registry.setAlias('fraud', 'production', 2, 'alice');
        await registry.rollbackAlias('fraud', 'production', 'bob');
        await registry.setAlias('fraud', 'staging', 2);
        await registry.deleteAlias('fraud', 'staging');
        await registry.setModelTags('fraud', { a: 'b' });
        await registry.deleteModelTag('fraud', 'a');
        await registry.deleteModelTag('fraud', 'a'); // nothing to delete: no row
        await registry.setModelDescription('fraud', 'd');
        await registry.setVersionTags('fraud', 1, { a: 'b' });
        await registry.deleteVersionTag('fraud', 1, 'a');
        await registry.setVersionDescription('fraud', 1, 'd');
        await registry.deploy({ name: 'api', model: 'fraud', target: { kind: 'alias', alias: 'production' } });
        await registry.deploy({ name: 'api', model: 'fraud', target: { kind: 'version', version: 2 } });
        await registry.rollbackDeployment('api');
        await registry.deleteDeployment('api');
        const audit = await registry.audit({ limit: 1000 });
        expect(audit.map((a) => a.action).reverse()).toEqual([
          'version.register',
          'version.register',
          'alias.set',
          'alias.set',
          'alias.rollback',
          'alias.set',
          'alias.delete',
          'model.tags.set',
          'model.tags.delete',
          'model.describe',
          'version.tags.set',
          'version.tags.delete',
          'version.describe',
          'deployment.create',
          'deployment.update',
          'deployment.rollback',
          'deployment.delete',
        ]);
        expect(audit.every((a) => a.model === 'fraud')).toBe(true);
        expect(audit.find((a) => a.action === 'alias.rollback')).toMatchObject({
          actor: 'bob',
          target: 'alias:fraud@production',
          details: { version: 1, previousVersion: 2 },
        });
        expect(audit[audit.length - 1]).toMatchObject({ actor: 'tester', target: 'version:fraud@1', atMs: START });
        expect(await registry.changeSeq()).toBe(audit[0]!.id);
      });

      it('filters the audit log by action, target, model, time and id', async () => {
        await register('fraud');
        clock.advance(MINUTE);
        await register('churn');
        await registry.setAlias('fraud', 'production', 1);
        expect((await registry.audit({ action: 'alias.set' })).map((a) => a.target)).toEqual(['alias:fraud@production']);
        expect(await registry.audit({ target: 'version:churn@1' })).toHaveLength(1);
        expect(await registry.audit({ model: 'fraud' })).toHaveLength(2);
        expect(await registry.audit({ since: START + MINUTE })).toHaveLength(2);
        expect(await registry.audit({ limit: 1 })).toHaveLength(1);
        const [newest] = await registry.audit({ limit: 1 });
        expect(await registry.audit({ afterId: newest!.id })).toEqual([]);
        await expectCode(registry.audit({ limit: 0 }), 'INVALID_ARGUMENT');
        await expectCode(registry.audit({ action: 'nope' as never }), 'INVALID_ARGUMENT');
      });

      it('writes no audit row when a mutation fails', async () => {
        await register('fraud');
        const seq = await registry.changeSeq();
        await expectCode(registry.setAlias('fraud', 'production', 2), 'VERSION_NOT_FOUND');
        await expectCode(registry.deploy({ name: 'api', model: 'fraud', target: { kind: 'alias', alias: 'x' } }), 'VERSION_NOT_FOUND');
        expect(await registry.changeSeq()).toBe(seq);
      });

      it('notifies listeners after each committed change and stops after unsubscribe', async () => {
        const seen: RegistryChange[] = [];
        const off = registry.onChange((e) => seen.push(e));
        registry.onChange(() => {
          throw new Error('a broken listener does not stop the others');
        });
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1);
        await registry.setAlias('fraud', 'production', 1); // no-op
        await registry.deploy({ name: 'api', model: 'fraud', target: { kind: 'alias', alias: 'production' } });
        await registry.setModelTags('fraud', { a: 'b' });
        await expectCode(registry.setAlias('fraud', 'staging', 5), 'VERSION_NOT_FOUND');
        off();
        await registry.deleteDeployment('api');
        expect(seen).toEqual([
          { kind: 'version', name: 'fraud', version: 1 },
          { kind: 'alias', name: 'fraud', alias: 'production', version: 1 },
          { kind: 'deployment', name: 'api' },
          { kind: 'model', name: 'fraud' },
        ]);
      });

      it('lets another process notice changes through changeSeq', async () => {
        const other = await openRegistry();
        const before = await other.changeSeq();
        await register('fraud');
        expect(await other.changeSeq()).toBeGreaterThan(before);
        expect((await other.getModel('fraud')).latestVersion).toBe(1);
      });
    });

    describe('feedback and rollout windows (replicas share them, nobody audits them)', () => {
      it('stores labels, replaces corrections, reads them back by arrival time, visible to another process', async () => {
        const seq = await registry.changeSeq();
        expect(await registry.putFeedback('d', [{ requestId: 'a', row: 0, label: '1' }, { requestId: 'b', row: 0, label: '0' }, { requestId: 'b', row: 1, label: '1' }], 1000)).toEqual({ stored: 3, replaced: 0 });
        // a correction of one row, and one row labelled twice in the same body (the last wins)
        expect(await registry.putFeedback('d', [{ requestId: 'a', row: 0, label: '0' }, { requestId: 'c', row: 0, label: '1' }, { requestId: 'c', row: 0, label: '0' }], 2000)).toEqual({ stored: 3, replaced: 2 });
        await registry.putFeedback('other', [{ requestId: 'a', row: 0, label: '1' }], 2000);
        const other = await openRegistry();
        expect(await other.feedbackCount('d')).toBe(4);
        expect((await other.feedbackSince('d', 1500)).sort((x, y) => x.requestId.localeCompare(y.requestId))).toEqual([
          { requestId: 'a', row: 0, label: '0', receivedAt: 2000 },
          { requestId: 'c', row: 0, label: '0', receivedAt: 2000 },
        ]);
        expect((await other.feedbackSince('d', 0)).length).toBe(4);
        // labels are not registry changes: no audit rows, replicas are not told to reload
        expect(await registry.changeSeq()).toBe(seq);
      });

      it('stores a large body in one transaction', async () => {
        const items = Array.from({ length: 2500 }, (_, i) => ({ requestId: `r${i % 1200}`, row: Math.floor(i / 1200), label: String(i % 2) }));
        expect(await registry.putFeedback('big', items, 5)).toEqual({ stored: 2500, replaced: 0 });
        expect(await registry.feedbackCount('big')).toBe(2500);
        expect((await registry.putFeedback('big', items.slice(0, 700), 6)).replaced).toBe(700);
      });

      it('keeps each replica\'s window of a rollout step and prunes the steps that ended', async () => {
        await registry.putRolloutWindow('api', '1:0:100', 'host-a', '{"a":1}');
        await registry.putRolloutWindow('api', '1:0:100', 'host-b', '{"b":1}');
        await registry.putRolloutWindow('api', '1:0:100', 'host-a', '{"a":2}');
        await registry.putRolloutWindow('api', '1:1:200', 'host-a', '{"next":1}');
        await registry.putRolloutWindow('web', '2:0:100', 'host-a', '{"web":1}');
        expect((await registry.rolloutWindows('api', '1:0:100')).map((w) => [w.replica, w.body])).toEqual([
          ['host-a', '{"a":2}'],
          ['host-b', '{"b":1}'],
        ]);
        expect(await registry.pruneRolloutWindows([{ deployment: 'api', epoch: '1:1:200' }])).toBe(3);
        expect(await registry.rolloutWindows('api', '1:0:100')).toEqual([]);
        expect((await registry.rolloutWindows('api', '1:1:200')).map((w) => w.body)).toEqual(['{"next":1}']);
        expect(await registry.rolloutWindows('web', '2:0:100')).toEqual([]);
      });
    });

    describe('persistence', () => {
      it('keeps everything after the store is closed and reopened', async () => {
        await register('fraud');
        await register('fraud');
        await registry.setAlias('fraud', 'production', 1);
        clock.advance(MINUTE);
        await registry.setAlias('fraud', 'production', 2);
        await registry.setModelTags('fraud', { team: 'risk' });
        await registry.deploy({ name: 'api', model: 'fraud', target: { kind: 'alias', alias: 'production' }, settings: { minLoaded: 1 } });
        const snapshot = async (r: Registry) => ({
          models: await r.listModels(),
          versions: await r.listVersions('fraud'),
          aliases: await r.aliasHistory('fraud'),
          deployments: await r.listDeployments(),
          history: await r.deploymentHistory('api'),
          audit: await r.audit({ limit: 1000 }),
          seq: await r.changeSeq(),
        });
        const before = await snapshot(registry);
        await registry.close();
        const reopened = await openRegistry();
        expect(await snapshot(reopened)).toEqual(before);
        expect(await reopened.aliasAt('fraud', 'production', START)).toBe(1);
        const v = await reopened.resolve('fraud@production');
        expect((await reopened.artifacts.read(v.sha256)).toString()).toMatch(/^ONNX model/);
      });

      it('migrates idempotently and refuses a database written by a newer schema', async () => {
        await registry.metadata.migrate();
        await registry.metadata.migrate();
        await registry.metadata.transaction(async (trx) => {
          await trx.insertInto('berth_schema_migrations').values({ version: 999, name: 'from the future', applied_at: 0 }).execute();
        });
        const err = await expectCode(migrateToLatest(registry.metadata), 'INVALID_CONFIG');
        expect(err.message).toContain('schema version 999');
      });

      it('rolls a failed transaction back completely', async () => {
        await expect(
          registry.metadata.transaction(async (trx) => {
            await trx.insertInto('models').values({ name: 'ghost', description: null, tags: '{}', created_at: 0, updated_at: 0 }).execute();
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect(await registry.listModels()).toEqual([]);
      });
    });
  });
}

describe('openEmbeddedRegistry', () => {
  it('creates the data dir with berth.db and artifacts, and reopens it with everything in place', async () => {
    const root = await mkdtemp(join(tmpdir(), 'berth-embedded-'));
    try {
      const dataDir = join(root, 'nested', '.berth');
      const clock = new ManualClock(START);
      const a = await openEmbeddedRegistry(dataDir, { clock, defaultActor: 'ci' });
      const file = join(root, 'model.onnx');
      await writeFile(file, 'ONNX embedded');
      const { version } = await a.registerVersion({ name: 'demo', filePath: file, inspect });
      await a.setAlias('demo', 'production', version.version);
      await a.close();
      expect((await readdir(dataDir)).sort()).toEqual(expect.arrayContaining(['artifacts', 'berth.db']));
      const b = await openEmbeddedRegistry(dataDir, { clock });
      try {
        expect((await b.resolve('demo@production')).createdBy).toBe('ci');
        expect((await b.artifacts.read(version.sha256)).toString()).toBe('ONNX embedded');
      } finally {
        await b.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
