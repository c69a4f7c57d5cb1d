import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/core/index.js';
import type {
  AliasHistoryView,
  AuditList,
  DeploymentHistoryView,
  DeploymentView,
  StatusView,
  VersionList,
} from '../../src/protocol/index.js';
import type { AliasMoveResult, DeployResult, ModelRecord, RegisterVersionResult, VersionRecord } from '../../src/registry/index.js';
import { createBerthServer, type BerthServer } from '../../src/server/index.js';
import { fixturePath } from '../helpers/fixtures.js';

const gbt = readFileSync(fixturePath('breast-cancer-gbt'));
const logreg = readFileSync(fixturePath('breast-cancer-logreg'));
const gbtCard = readFileSync(fixturePath('breast-cancer-gbt', 'card.json'), 'utf8');
const reference = readFileSync(fixturePath('breast-cancer-gbt', 'reference.csv'));

let dir: string;
let server: BerthServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-mgmt-'));
  server = await createBerthServer({
    config: resolveConfig({ dataDir: dir, logLevel: 'silent', auth: { dev: true }, server: { host: '127.0.0.1', port: 0 } }),
    pollMs: 0,
  });
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Answer<T> {
  status: number;
  body: T;
}

async function call<T = unknown>(method: string, url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
  const res = await server.app.inject({
    method: method as 'GET',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
  });
  return { status: res.statusCode, body: JSON.parse(res.body) as T };
}

type ErrorBody = { error: string; code: string; field?: string; expected?: unknown; got?: unknown };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the management REST API', () => {
  it('registers an uploaded model as version 1 with 201, and the identical bytes again with 200 and created false', async () => {
    const first = await call<RegisterVersionResult>('POST', '/v1/models/bc/versions', {
      model_base64: gbt.toString('base64'),
      file_name: 'model.onnx',
      card_text: gbtCard,
      card_file_name: 'card.json',
      reference_csv_base64: reference.toString('base64'),
      reference_file_name: 'train.csv',
      description: 'first cut',
      tags: { dataset: '2024-06' },
      source_path: '/home/ana/work/model.onnx',
      lineage: { gitCommit: 'a'.repeat(40), gitDirty: true },
    }, { 'x-berth-actor': 'ana' });
    expect(first.status).toBe(201);
    expect(first.body.created).toBe(true);
    const v = first.body.version;
    expect(v).toMatchObject({ model: 'bc', version: 1, sizeBytes: gbt.length, description: 'first cut', createdBy: 'ana', sourcePath: '/home/ana/work/model.onnx' });
    expect(v.tags['dataset']).toBe('2024-06');
    expect(v.lineage).toMatchObject({ sourcePath: '/home/ana/work/model.onnx', gitCommit: 'a'.repeat(40), gitDirty: true });
    expect(v.reference).toMatchObject({ fileName: 'train.csv', rows: 284 });
    expect(v.card?.title).toBeTruthy();
    expect(v.signature.inputs[0]?.featureNames).toHaveLength(30);

    const again = await call<RegisterVersionResult>('POST', '/v1/models/bc/versions', { model_base64: gbt.toString('base64') });
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(false);
    expect(again.body.version.version).toBe(1);

    const second = await call<RegisterVersionResult>('POST', '/v1/models/bc/versions', { model_base64: logreg.toString('base64') });
    expect(second.status).toBe(201);
    expect(second.body.version.version).toBe(2);
    expect(second.body.version.sourcePath).toBe('upload:model.onnx');
  });

  it('refuses a file that is not a loadable model with 400 INVALID_MODEL and registers nothing', async () => {
    const res = await call<ErrorBody>('POST', '/v1/models/junk/versions', { model_base64: Buffer.from('this is not onnx at all').toString('base64') });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_MODEL');
    const missing = await call<ErrorBody>('GET', '/v1/models/junk');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('MODEL_NOT_FOUND');
    const versions = await call<VersionList>('GET', '/v1/models/bc/versions');
    expect(versions.body.versions.map((x) => x.version)).toEqual([1, 2]);
  });

  it('names the field, what it expected and what came when a request is malformed', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', '/v1/models/bc/versions', {}, 'model_base64'],
      ['POST', '/v1/models/bc/versions', { model_base64: '***' }, 'model_base64'],
      ['POST', '/v1/models/bc/versions', { model_base64: 'AAAA', colour: 'red' }, 'colour'],
      ['POST', '/v1/models/bc/versions', { model_base64: 'AAAA', tags: { a: 1 } }, 'tags.a'],
      ['POST', '/v1/models/b%20c/versions', { model_base64: 'AAAA' }, 'model'],
      ['GET', '/v1/models/bc/versions/zero', undefined, 'version'],
      ['PUT', '/v1/models/bc/aliases/production', { version: 'two' }, 'version'],
      ['PUT', '/v1/models/bc/aliases/production', [], 'body'],
      ['PATCH', '/v1/models/bc', { description: 5 }, 'description'],
      ['PUT', '/v1/deployments/bc-api', { model: 'bc' }, 'alias'],
      ['PUT', '/v1/deployments/bc-api', { model: 'bc', version: 1, settings: { maxBatchSize: 0 } }, 'settings.maxBatchSize'],
      ['GET', '/v1/audit?limit=lots', undefined, 'limit'],
      ['GET', '/v1/audit?action=model.explode', undefined, 'action'],
      ['GET', '/v1/models/bc/aliases/history?at=yesterday-ish', undefined, 'at'],
    ];
    for (const [method, url, body, field] of cases) {
      const res = await call<ErrorBody>(method, url, body);
      expect(res.status, `${method} ${url}`).toBe(400);
      expect(res.body.code, `${method} ${url}`).toBe('INVALID_ARGUMENT');
      expect(res.body.field, `${method} ${url}: ${res.body.error}`).toBe(field);
      expect(res.body.error).toContain('expected');
    }
  });

  it('changes descriptions and tags of models and versions, and removes tags', async () => {
    const m = await call<ModelRecord>('PATCH', '/v1/models/bc', { description: 'tumour malignancy', tags: { team: 'onc', owner: 'ana' } });
    expect(m.status).toBe(200);
    expect(m.body).toMatchObject({ description: 'tumour malignancy', tags: { team: 'onc', owner: 'ana' } });
    const untagged = await call<ModelRecord>('DELETE', '/v1/models/bc/tags/owner');
    expect(untagged.body.tags).toEqual({ team: 'onc' });

    const v = await call<VersionRecord>('PATCH', '/v1/models/bc/versions/2', { tags: { validated: 'yes' }, description: 'logreg' });
    expect(v.body).toMatchObject({ version: 2, description: 'logreg', tags: { validated: 'yes' } });
    const cleared = await call<VersionRecord>('PATCH', '/v1/models/bc/versions/2', { description: null });
    expect(cleared.body.description).toBeNull();
    const vu = await call<VersionRecord>('DELETE', '/v1/models/bc/versions/2/tags/validated');
    expect(vu.body.tags).toEqual({});
  });

  it('answers where an alias pointed at a past moment, and moves it back with one call', async () => {
    const set1 = await call<AliasMoveResult>('PUT', '/v1/models/bc/aliases/production', { version: 1 });
    expect(set1.body).toMatchObject({ version: 1, previousVersion: null, changed: true });
    await sleep(5);
    const set2 = await call<AliasMoveResult>('PUT', '/v1/models/bc/aliases/production', { version: 2 });
    expect(set2.body).toMatchObject({ version: 2, previousVersion: 1, changed: true });
    const same = await call<AliasMoveResult>('PUT', '/v1/models/bc/aliases/production', { version: 2 });
    expect(same.body.changed).toBe(false);

    const history = await call<AliasHistoryView>('GET', '/v1/models/bc/aliases/history?alias=production');
    expect(history.body.entries.map((e) => e.version)).toEqual([2, 1]);
    const firstMove = history.body.entries[1]!;
    const then = await call<AliasHistoryView>('GET', `/v1/models/bc/aliases/history?at=${encodeURIComponent(firstMove.at)}`);
    expect(then.body.at?.versions).toEqual({ production: 1 });
    const byEpoch = await call<AliasHistoryView>('GET', `/v1/models/bc/aliases/history?alias=production&at=${firstMove.atMs - 1}`);
    expect(byEpoch.body.at?.versions).toEqual({ production: null });

    const back = await call<AliasMoveResult>('POST', '/v1/models/bc/aliases/production/rollback');
    expect(back.body).toMatchObject({ version: 1, previousVersion: 2 });
    expect((await call<ModelRecord>('GET', '/v1/models/bc')).body.aliases).toEqual({ production: 1 });

    await call('PUT', '/v1/models/bc/aliases/staging', { version: 2 });
    const removed = await call<{ deleted: boolean; previousVersion: number }>('DELETE', '/v1/models/bc/aliases/staging');
    expect(removed.body).toMatchObject({ deleted: true, previousVersion: 2 });
  });

  it('creates, reports live status of, changes, rolls back and deletes a deployment, keeping its history', async () => {
    const created = await call<DeployResult>('PUT', '/v1/deployments/bc-api', { model: 'bc', alias: 'production', settings: { maxBatchSize: 8 } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ created: true, changed: true, deployment: { revision: 1, target: { kind: 'alias', alias: 'production' } } });

    const view = await call<DeploymentView>('GET', '/v1/deployments/bc-api');
    expect(view.body.servedVersion).toBe(1);
    expect(view.body.live).toMatchObject({ model: 'bc', version: 1, batching: { maxBatchSize: 8 } });

    const v1 = await call<VersionRecord>('GET', '/v1/models/bc/versions/1');
    const row = Object.fromEntries(v1.body.signature.inputs[0]!.featureNames!.map((f) => [f, 10]));
    const predicted = await call<{ version: number; predictions: { label: string }[] }>('POST', '/v1/deployments/bc-api/predict', { rows: [row] });
    expect(predicted.status).toBe(200);
    expect(predicted.body.version).toBe(1);
    const loaded = await call<DeploymentView>('GET', '/v1/deployments/bc-api');
    expect(loaded.body.live?.state).toBe('ready');

    const pinned = await call<DeployResult>('PUT', '/v1/deployments/bc-api', { model: 'bc', version: 2 });
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ created: false, changed: true, deployment: { revision: 2, settings: { maxBatchSize: 8 } } });
    const unchanged = await call<DeployResult>('PUT', '/v1/deployments/bc-api', { model: 'bc', version: 2 });
    expect(unchanged.body.changed).toBe(false);

    const list = await call<{ deployments: DeploymentView[] }>('GET', '/v1/deployments');
    expect(list.body.deployments.map((d) => [d.deployment.name, d.servedVersion])).toEqual([['bc-api', 2]]);

    const history = await call<DeploymentHistoryView>('GET', '/v1/deployments/bc-api/history');
    expect(history.body.entries.map((e) => e.revision)).toEqual([2, 1]);
    const rev1 = history.body.entries[1]!;
    const then = await call<DeploymentHistoryView>('GET', `/v1/deployments/bc-api/history?at=${rev1.atMs}`);
    expect(then.body.at).toMatchObject({ version: 1, revision: { revision: 1 } });

    const rolled = await call<{ revision: number; target: unknown }>('POST', '/v1/deployments/bc-api/rollback');
    expect(rolled.body).toMatchObject({ revision: 3, target: { kind: 'alias', alias: 'production' } });

    const deleted = await call<{ deleted: boolean }>('DELETE', '/v1/deployments/bc-api');
    expect(deleted.body.deleted).toBe(true);
    expect((await call<ErrorBody>('GET', '/v1/deployments/bc-api')).body.code).toBe('DEPLOYMENT_NOT_FOUND');
    const after = await call<DeploymentHistoryView>('GET', '/v1/deployments/bc-api/history');
    expect(after.body.entries[0]).toMatchObject({ revision: 4, deleted: true, change: 'delete' });
  });

  it('filters the audit log by action, target, model and time, and records who acted', async () => {
    const all = await call<AuditList>('GET', '/v1/audit?limit=1000');
    const actions = all.body.entries.map((e) => e.action);
    for (const a of ['version.register', 'model.describe', 'model.tags.set', 'alias.set', 'alias.rollback', 'alias.delete', 'deployment.create', 'deployment.rollback', 'deployment.delete']) {
      expect(actions).toContain(a);
    }
    expect(all.body.entries.find((e) => e.action === 'version.register')?.actor).toBe('api');
    expect([...all.body.entries].reverse().find((e) => e.action === 'version.register')?.actor).toBe('ana');

    const moves = await call<AuditList>('GET', '/v1/audit?action=alias.set&target=' + encodeURIComponent('alias:bc@production'));
    expect(moves.body.entries.map((e) => e.details['version'])).toEqual([2, 1]);
    const limited = await call<AuditList>('GET', '/v1/audit?limit=2');
    expect(limited.body.entries).toHaveLength(2);
    const future = await call<AuditList>('GET', `/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    expect(future.body.entries).toEqual([]);
    const byModel = await call<AuditList>('GET', '/v1/audit?model=bc&limit=1000');
    // every entry concerns model bc, except the server's own configuration record
    expect(all.body.entries.filter((e) => e.model === null).map((e) => e.action)).toEqual(['config.change']);
    expect(byModel.body.entries.length).toBe(all.body.entries.length - 1);
  });

  it('reports the server version, uptime, data dir and loaded models', async () => {
    await call('PUT', '/v1/deployments/bc-status', { model: 'bc', version: 1 });
    expect((await call('POST', '/v2/repository/models/bc-status/load')).status).toBe(200);
    const s = await call<StatusView>('GET', '/v1/status');
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ name: 'berth', server: true, dataDir: dir, models: 1, deployments: 1 });
    expect(typeof s.body.version).toBe('string');
    expect(s.body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(Date.parse(s.body.startedAt!)).toBeLessThanOrEqual(Date.now());
    const loaded = s.body.loaded.find((m) => m.model === 'bc' && m.version === 1);
    expect(loaded).toMatchObject({ state: 'ready' });
    expect(typeof loaded!.memoryBytes).toBe('number');
  });
});
