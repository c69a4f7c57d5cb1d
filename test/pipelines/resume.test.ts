/*
 * A pipeline run killed with SIGKILL in the middle of a step resumes after its last finished
 * step: `berth pipeline run` (the real binary over dist/) is killed while the second of three
 * steps runs; `berth pipeline resume RUN` does not run the first again, runs the second from a
 * fresh directory, then the third, and the run ends succeeded with every output in place.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/pipelines/index.js';
import { openEmbeddedRegistry } from '../../src/registry/index.js';
import { ensureDistBuilt, ROOT } from '../helpers/dist.js';

const bin = path.join(ROOT, 'bin', 'berth.js');
let tmp: string;

beforeAll(async () => {
  ensureDistBuilt('cli/commands/pipeline.js');
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-resume-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function berth(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> } {
  const child = spawn(process.execPath, [bin, '--local', '--data-dir', path.join(tmp, 'data'), ...args], { cwd: tmp, env: { ...process.env, CI: '1' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
  return { child, done };
}

async function waitFor(check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a killed pipeline run', () => {
  it('resumes after its last finished step', async () => {
    const node = JSON.stringify(process.execPath);
    // prepare counts its runs; train blocks until the "go" file exists (and says it started); report copies
    await writeFile(path.join(tmp, 'pipeline.yaml'), `
pipeline: resumable
steps:
  prepare:
    run: [${node}, -e, "const fs=require('fs');fs.appendFileSync('prepare.count','x');fs.writeFileSync(process.argv[1],'features')", "\${outputs.data}"]
    outputs: { data: data.txt }
  train:
    needs: [prepare]
    run: [${node}, -e, "const fs=require('fs');fs.appendFileSync('train.count','x');fs.writeFileSync('train.pid',String(process.pid));const t=setInterval(()=>{if(fs.existsSync('go')){clearInterval(t);fs.writeFileSync(process.argv[2],fs.readFileSync(process.argv[1],'utf8')+'+model')}},50)", "\${steps.prepare.outputs.data}", "\${outputs.model}"]
    outputs: { model: model.bin }
  report:
    needs: [train]
    run: [${node}, -e, "const fs=require('fs');fs.writeFileSync(process.argv[2],fs.readFileSync(process.argv[1],'utf8')+'+report')", "\${steps.train.outputs.model}", "\${outputs.report}"]
    outputs: { report: report.txt }
`);
    const first = berth(['pipeline', 'run', 'pipeline.yaml']);
    await waitFor(() => existsSync(path.join(tmp, 'train.pid')));
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    // the orphaned step process is not ours to keep: stop it like the machine's reboot would
    process.kill(Number(readFileSync(path.join(tmp, 'train.pid'), 'utf8')), 'SIGKILL');

    const registry = await openEmbeddedRegistry(path.join(tmp, 'data'));
    const store = new RunStore(registry);
    try {
      const [run] = await store.listRuns();
      expect(run!.state).toBe('running');
      expect(run!.steps.map((s) => s.state)).toEqual(['succeeded', 'running', 'pending']);

      await writeFile(path.join(tmp, 'go'), '');
      const second = await berth(['pipeline', 'resume', String(run!.id)]).done;
      expect(second.code, second.err).toBe(0);
      expect(second.out).toContain(`resuming run ${run!.id} (attempt 2): prepare succeeded`);

      const after = await store.getRun(run!.id);
      expect(after.state).toBe('succeeded');
      expect(after.attempts).toBe(2);
      expect(after.steps.map((s) => [s.name, s.state, s.attempts])).toEqual([['prepare', 'succeeded', 1], ['train', 'succeeded', 2], ['report', 'succeeded', 1]]);
      // prepare ran once; train twice (the killed attempt, then the resumed one) in different directories
      expect(readFileSync(path.join(tmp, 'prepare.count'), 'utf8')).toBe('x');
      expect(readFileSync(path.join(tmp, 'train.count'), 'utf8')).toBe('xx');
      expect(after.steps[1]!.outputs!['model']!.file).toBe('steps/train/2/model.bin');
      const report = path.join(tmp, 'data', 'pipelines', 'runs', String(run!.id), after.steps[2]!.outputs!['report']!.file);
      expect(readFileSync(report, 'utf8')).toBe('features+model+report');

      // a finished run is not resumed again
      const third = await berth(['pipeline', 'resume', String(run!.id)]).done;
      expect(third.code).toBe(1);
      expect(third.err).toContain(`run ${run!.id} already succeeded`);
    } finally {
      await registry.close();
    }
  }, 60_000);
});
