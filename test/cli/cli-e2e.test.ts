/*
 * The real `berth` binary (bin/berth.js over dist/, built here once) in child processes: the same
 * register → duplicate → invalid file → alias history → rollback → deploy flow against a running
 * server (`--server URL`) and against the data dir when no server runs (the local fallback).
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AliasHistoryView, AuditList, DeploymentHistoryView, DeploymentView, StatusView, VersionList } from '../../src/protocol/index.js';
import type { VersionRecord } from '../../src/registry/index.js';
import { ensureDistBuilt } from '../helpers/dist.js';
import { fixturePath } from '../helpers/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'berth.js');
const ACTOR = 'e2e-tester';

interface Result {
  code: number;
  out: string;
  err: string;
}

/** The environment without BERTH_* variables, so only the flags decide. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BERTH_')));
}

function berth(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root, env: cleanEnv(), timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let work: string;

beforeAll(async () => {
  ensureDistBuilt(path.join('cli', 'main.js'));
  work = await mkdtemp(path.join(tmpdir(), 'berth-cli-'));
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** The whole flow, through the binary, with `base` selecting the server or the data dir. */
async function lifecycleFlow(base: string[], mode: 'remote' | 'local'): Promise<void> {
  const b = (...args: string[]): Promise<Result> => berth(...base, ...args);
  const gbt = fixturePath('breast-cancer-gbt');

  // register, then the identical bytes again
  let r = await b('models', 'register', gbt, '--name', 'bc', '--card', fixturePath('breast-cancer-gbt', 'card.json'),
    '--reference', fixturePath('breast-cancer-gbt', 'reference.csv'), '--tag', 'dataset=2024-06');
  expect(r.out).toMatch(/^registered bc version 1 \(sha256 [0-9a-f]{12}…, 43\.7 kB\)\n/);
  expect(r.code).toBe(0);
  if (mode === 'local') expect(r.err).toContain('no server running: registered in the data dir');
  r = await b('models', 'register', gbt, '--name', 'bc');
  expect(r).toMatchObject({ code: 0, out: 'already registered as version 1 (identical bytes); nothing new\n' });

  // a file that is not a model: refused, nothing registered
  const notAModel = fixturePath('breast-cancer-gbt', 'card.json');
  r = await b('models', 'register', notAModel, '--name', 'bc');
  expect(r.code).toBe(1);
  expect(r.out).toBe('');
  expect(r.err).toMatch(new RegExp(`^berth: ${notAModel.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a loadable model: .*nothing was registered\\n$`, 's'));
  r = await b('models', 'register', notAModel, '--name', 'other');
  expect(r.code).toBe(1);
  r = await b('--json', 'versions', 'list', 'bc');
  expect((JSON.parse(r.out) as VersionList).versions.map((v) => v.version)).toEqual([1]);
  r = await b('models', 'show', 'other');
  expect(r).toMatchObject({ code: 1 });
  expect(r.err).toMatch(/^berth: no model named "other"/);

  r = await b('models', 'register', fixturePath('breast-cancer-logreg'), '--name', 'bc', '--description', 'logistic regression');
  expect(r.out).toMatch(/^registered bc version 2 \(sha256 [0-9a-f]{12}…, 1\.1 kB\)\n$/);
  r = await b('--json', 'versions', 'show', 'bc', '1');
  const v1 = JSON.parse(r.out) as VersionRecord;
  expect(v1).toMatchObject({ version: 1, createdBy: ACTOR, sourcePath: gbt, tags: { dataset: '2024-06' }, reference: { rows: 284, profile: { rows: 284, predictions: true } } });
  expect(v1.lineage.sourcePath).toBe(gbt);

  // alias moves, "what did it point at then", and moving back
  r = await b('alias', 'set', 'bc', 'production', '1');
  expect(r.out).toBe('bc@production → version 1 (new alias)\n');
  await sleep(15);
  const between = new Date().toISOString();
  await sleep(15);
  r = await b('alias', 'set', 'bc', 'production', '2');
  expect(r.out).toBe('bc@production → version 2 (was 1)\n');
  r = await b('--json', 'alias', 'history', 'bc', '--alias', 'production', '--at', between);
  const h = JSON.parse(r.out) as AliasHistoryView;
  expect(h.at?.versions).toEqual({ production: 1 });
  expect(h.entries.map((e) => [e.version, e.actor])).toEqual([[2, ACTOR], [1, ACTOR]]);
  r = await b('alias', 'history', 'bc', '--at', between);
  expect(r.code).toBe(0);
  expect(r.out).toContain('bc@production → version 1\n');
  expect(r.out).toMatch(/WHEN +ALIAS +CHANGE +VERSION +WAS +BY/);
  r = await b('alias', 'rollback', 'bc', 'production');
  expect(r.out).toBe('bc@production rolled back to version 1 (was 2)\n');

  // deploy, predict (server only), change, roll back
  r = await b('deploy', 'bc-api', '--model', 'bc', '--alias', 'production', '--max-batch-size', '16');
  expect(r.out).toBe('created deployment bc-api (revision 1): serves bc@production = version 1, maxBatchSize=16\n');
  if (mode === 'remote') {
    const rows = v1.signature.inputs[0]!.featureNames!.map((f, i) => [f, 10 + i]);
    const file = path.join(work, 'rows.json');
    await writeFile(file, JSON.stringify([Object.fromEntries(rows), Object.fromEntries(rows.map(([f]) => [f, 1]))]));
    r = await b('predict', 'bc-api', '--rows', `@${file}`);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^bc-api: bc version 1 \(request [\w-]+\)\nROW +LABEL +PROBABILITIES/);
    r = await b('--json', 'predict', 'bc-api', '--rows', `@${file}`);
    const p = JSON.parse(r.out) as { version: number; predictions: { probabilities: Record<string, number> }[] };
    expect(p.version).toBe(1);
    expect(p.predictions).toHaveLength(2);
  } else {
    r = await b('predict', 'bc-api', '--instances', '[[1, 2]]');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^berth: this command needs a running server/);
  }
  r = await b('deploy', 'bc-api', '--model', 'bc', '--version', '2');
  expect(r.out).toBe('updated deployment bc-api (revision 2): serves bc version 2, maxBatchSize=16\n');
  r = await b('deployments', 'rollback', 'bc-api');
  expect(r.out).toBe('deployment bc-api rolled back: serves bc@production (maxBatchSize=16), now revision 3\n');
  r = await b('--json', 'deployments', 'show', 'bc-api');
  const view = JSON.parse(r.out) as DeploymentView;
  expect(view.servedVersion).toBe(1);
  if (mode === 'remote') expect(view.live).toMatchObject({ model: 'bc', batching: { maxBatchSize: 16 } });
  else expect(view.live).toBeNull();
  r = await b('deployments', 'list');
  expect(r.out).toMatch(/^NAME +SERVES +VERSION +REVISION +STATE +UPDATED\nbc-api +bc@production +1 +3 /);
  r = await b('--json', 'deployments', 'history', 'bc-api');
  expect((JSON.parse(r.out) as DeploymentHistoryView).entries.map((e) => [e.revision, e.change])).toEqual([
    [3, 'rollback'],
    [2, 'update'],
    [1, 'create'],
  ]);

  // everything above is in the audit log, by who did it
  // (a server also recorded its configuration when it started: config.change, by `berth serve`)
  r = await b('--json', 'audit', '--limit', '100');
  const all = JSON.parse(r.out) as AuditList;
  const audit = { entries: all.entries.filter((e) => e.action !== 'config.change') };
  expect(all.entries.length - audit.entries.length).toBe(mode === 'remote' ? 1 : 0);
  expect(audit.entries.map((e) => e.action).reverse()).toEqual([
    'version.register',
    // the reference with its profile, then the explanations' background summarised from it
    'version.reference',
    'version.reference',
    'version.register',
    'alias.set',
    'alias.set',
    'alias.rollback',
    'deployment.create',
    'deployment.update',
    'deployment.rollback',
  ]);
  expect(new Set(audit.entries.map((e) => e.actor))).toEqual(new Set([ACTOR]));
  r = await b('audit', '--action', 'alias.set');
  expect(r.out).toMatch(/^WHEN +ACTOR +ACTION +TARGET +DETAILS\n.*alias\.set +alias:bc@production +version=2 previousVersion=1\n/);

  r = await b('--json', 'status');
  const status = JSON.parse(r.out) as StatusView;
  expect(status).toMatchObject({ server: mode === 'remote', models: 1, deployments: 1 });
}

describe('the berth binary', () => {
  it('runs the whole model lifecycle against a running server, which shuts down cleanly on SIGINT', async () => {
    const dataDir = path.join(work, 'served');
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [bin, 'serve', '--dev', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'], {
      cwd: root,
      env: cleanEnv(),
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`berth serve did not start: ${err}`)), 20_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /serving on (http:\/\/[^\s]+) \(data dir ([^)]+)\)\n(.+)\n(.+)\n/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.on('exit', () => reject(new Error(`berth serve exited: ${err}`)));
      });
      expect(out).toContain(`(data dir ${dataDir})`);
      expect(out.split('\n').slice(1, 4).join('\n')).toMatch(/try: berth --server http.*\n {2}API: http.*openapi\.json.*\n {2}dashboard: http.*\/ui/);
      await lifecycleFlow(['--server', url, '--actor', ACTOR], 'remote');
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(err).toContain('shutting down after in-flight requests finish');
  });

  it('runs the same lifecycle against the data dir when no server runs', async () => {
    await lifecycleFlow(['--data-dir', path.join(work, 'local'), '--actor', ACTOR], 'local');
  });

  it('prints help after `npm ci` builds dist', async () => {
    const r = await berth('--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: berth [options] [command]');
    expect(r.out).toMatch(/models +register model files/);
  });
});
