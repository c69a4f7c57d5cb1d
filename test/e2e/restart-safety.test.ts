import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openEmbeddedRegistry } from '../../src/registry/index.js';
import { addModel } from '../helpers/onnx-proto.js';
import { fixturePath, flatten, readGolden } from '../helpers/fixtures.js';
import { deployFixture, post, startServer } from '../helpers/server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'berth-crash-'));
  dirs.push(d);
  return d;
}

/** Run the registration loop and kill -9 it after `killAfterMs`; returns what it acknowledged. */
function registerThenKill(dataDir: string, files: string[], killAfterMs: number): Promise<{ version: number; sha: string }[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, '..', 'helpers', 'register-loop.mjs'), dataDir, '-', '1000'], {
      env: { ...process.env, BERTH_TEST_FILES: JSON.stringify(files) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    let acked = 0;
    child.stdout.on('data', () => {
      acked = out.split('\n').filter((l) => l.startsWith('ACK')).length;
      if (acked >= 1 && !timer) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    let timer: NodeJS.Timeout | undefined;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL' && code !== 0) return reject(new Error(`child failed: ${err}`));
      const acks = out
        .split('\n')
        .filter((l) => l.startsWith('ACK '))
        .map((l) => {
          const [, v, sha] = l.split(' ');
          return { version: Number(v), sha: sha! };
        });
      resolve(acks);
    });
  });
}

describe('restart safety', () => {
  it('keeps every acknowledged version when the process is killed -9 in the middle of registrations', async () => {
    const models = tempDir();
    const files = Array.from({ length: 40 }, (_, i) => {
      const f = path.join(models, `m${i}.onnx`);
      writeFileSync(f, addModel({ n: 64, batchDim: 'N', weights: Array.from({ length: 64 }, (_, k) => i * 1000 + k) }));
      return f;
    });
    for (const killAfter of [3, 17, 41]) {
      const dataDir = tempDir();
      const acks = await registerThenKill(dataDir, files, killAfter);
      expect(acks.length).toBeGreaterThan(0);
      const registry = await openEmbeddedRegistry(dataDir);
      try {
        const versions = await registry.listVersions('crashy');
        for (const a of acks) {
          const v = versions.find((x) => x.version === a.version);
          expect(v, `acknowledged version ${a.version}`).toBeDefined();
          expect(v!.sha256).toBe(a.sha);
          // the blob is there and intact
          expect((await registry.artifacts.read(a.sha)).length).toBeGreaterThan(0);
        }
        // versions are contiguous: no hole, no half-written row
        expect(versions.map((v) => v.version).sort((x, y) => x - y)).toEqual(versions.map((_, i) => i + 1));
        const audit = await registry.audit({ action: 'version.register', limit: 10_000 });
        expect(audit.length).toBe(versions.length);
        // and registering continues where it stopped
        const next = await registry.registerVersion({ name: 'crashy', filePath: files[39]!, inspect: async () => (await registry.getVersion('crashy', 1)).signature });
        expect(next.version.version).toBeGreaterThanOrEqual(versions.length);
      } finally {
        await registry.close();
      }
    }
  });

  it('reports a corrupted blob when loading and never serves it', async () => {
    const ts = await startServer();
    try {
      await deployFixture(ts, 'breast-cancer-gbt', { deployment: 'bc' });
      const sha = (await ts.server.registry.getVersion('breast-cancer-gbt', 1)).sha256;
      const blob = ts.server.registry.artifacts.path(sha);
      chmodSync(blob, 0o644);
      const bytes = readFileSync(blob);
      bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
      writeFileSync(blob, bytes);
      const row = (flatten(readGolden('breast-cancer-gbt').cases[0]!.inputs['input']!.data) as number[]).slice(0, 30);
      const a = await post<{ code: string; error: string }>(`${ts.url}/v2/models/bc/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] });
      expect(a.status).toBe(500);
      expect(a.body.code).toBe('ARTIFACT_CORRUPTED');
      expect(a.body.error).toMatch(new RegExp(sha.slice(0, 12)));
      expect(ts.server.manager.stateOf('breast-cancer-gbt@1')).not.toBe('ready');
      // re-registering the original file repairs the blob, and serving resumes
      await ts.server.registry.registerVersion({ name: 'breast-cancer-gbt', filePath: fixturePath('breast-cancer-gbt'), inspect: async () => (await ts.server.registry.getVersion('breast-cancer-gbt', 1)).signature });
      const b = await post(`${ts.url}/v2/models/bc/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }] });
      expect(b.status).toBe(200);
    } finally {
      await ts.close();
    }
  });
});
