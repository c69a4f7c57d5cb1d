import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addModel } from '../helpers/onnx-proto.js';
import { get, post } from '../helpers/server.js';
import { fixturePath } from '../helpers/fixtures.js';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.js';

// kill -9 the real `berth serve` process while clients register versions, move aliases and
// deploy through the management API; after a restart everything acknowledged is there.

const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-server-crash-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function startServe(): Promise<ServeProcess> {
  return startServeProcess(dataDir);
}

interface Acked {
  versions: { version: number; sha256: string }[];
  aliases: Map<string, number>;
  deployments: Map<string, number>;
}

describe('kill -9 of a serving process', () => {
  it('loses nothing that was acknowledged: versions, aliases and deployments survive the restart', async () => {
    const gbt = readFileSync(fixturePath('breast-cancer-gbt')).toString('base64');
    const acked: Acked = { versions: [], aliases: new Map(), deployments: new Map() };
    for (let round = 0; round < 3; round++) {
      const { child, url, exited } = await startServe();
      let stop = false;
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const k = round * 1000 + w * 100 + i;
          const model = Buffer.from(addModel({ n: 4, batchDim: 'N', weights: [k, w, i, round] })).toString('base64');
          try {
            const reg = await post<{ created: boolean; version: { version: number; sha256: string } }>(`${url}/v1/models/crashy/versions`, { model_base64: model, file_name: `m${k}.onnx` });
            if (reg.status !== 201) continue;
            acked.versions.push(reg.body.version);
            const alias = `a${w}`;
            const mv = await fetch(`${url}/v1/models/crashy/aliases/${alias}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: reg.body.version.version }) });
            if (mv.status === 200) acked.aliases.set(alias, reg.body.version.version);
            const dep = await fetch(`${url}/v1/deployments/d${w}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'crashy', version: reg.body.version.version }) });
            if (dep.status === 200 || dep.status === 201) acked.deployments.set(`d${w}`, reg.body.version.version);
          } catch {
            return; // the server died under us
          }
        }
      };
      // one real model too, so the crash also hits a process with a loaded session
      await post(`${url}/v1/models/bc/versions`, { model_base64: gbt, file_name: 'model.onnx' });
      const workers = [0, 1, 2].map(worker);
      await new Promise((r) => setTimeout(r, 400 + round * 300));
      child.kill('SIGKILL');
      stop = true;
      await Promise.all(workers);
      await exited;
    }
    expect(acked.versions.length).toBeGreaterThan(3);

    const { child, url } = await startServe();
    try {
      const versions = (await get<{ versions: { version: number; sha256: string }[] }>(`${url}/v1/models/crashy/versions`)).body.versions;
      for (const v of acked.versions) expect(versions.find((x) => x.version === v.version)?.sha256, `version ${v.version}`).toBe(v.sha256);
      expect(versions.map((v) => v.version)).toEqual(versions.map((_, i) => i + 1));
      const model = (await get<{ aliases: Record<string, number> }>(`${url}/v1/models/crashy`)).body;
      for (const [alias, version] of acked.aliases) expect(model.aliases[alias], alias).toBeGreaterThanOrEqual(version);
      for (const [name, version] of acked.deployments) {
        const d = await get<{ deployment: { target: { version: number } } }>(`${url}/v1/deployments/${name}`);
        expect(d.status).toBe(200);
        expect(d.body.deployment.target.version, name).toBeGreaterThanOrEqual(version);
      }
      // and what survived still serves
      const [name, version] = [...acked.deployments][0]!;
      const a = await post<{ model_version: string }>(`${url}/v2/models/${name}/infer`, { inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 4], data: [1, 1, 1, 1] }] });
      expect(a.status, a.text).toBe(200);
      expect(Number(a.body.model_version)).toBeGreaterThanOrEqual(version);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
