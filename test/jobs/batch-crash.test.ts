/*
 * Exactly once after kill -9. `berth batch run` runs in a child process (the real binary over
 * dist/) and is killed with SIGKILL at random moments, several seeds, up to twice per seed; then
 * the same command (or `berth batch resume JOB`) finishes the job. The final output must equal an
 * uninterrupted run's byte for byte, hold every input row exactly once, and never exist half
 * written: after a kill there is either no output file or the whole one.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedRegistry, parseCard } from '../../src/registry/index.js';
import { OnnxBackend } from '../../src/runtime/index.js';
import { ensureDistBuilt } from '../helpers/dist.js';
import { fixturePath } from '../helpers/fixtures.js';
import { seededRandom as prng } from '../monitor/profile/random.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'berth.js');

let tmp: string;
let dataDir: string;
let input: string;
let rows: number;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  ms: number;
}

/** `berth --local --data-dir D …args`, killed with SIGKILL after `killAfterMs` if given. */
function berth(args: string[], killAfterMs?: number): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [bin, '--local', '--data-dir', dataDir, ...args], { cwd: tmp, env: { ...process.env, CI: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const timer = killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, out, err, ms: Date.now() - t0 });
    });
  });
}

const runArgs = (output: string): string[] => ['batch', 'run', '--model', 'credit', '--input', input, '--output', output, '--key', 'id', '--part-rows', '500', '--batch-rows', '250', '--json'];

beforeAll(async () => {
  // the child runs dist/
  ensureDistBuilt(path.join('cli', 'commands', 'batch.js'));
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-batch-crash-'));
  dataDir = path.join(tmp, 'data');
  const registry = await openEmbeddedRegistry(dataDir, { defaultActor: 'test' });
  const backend = new OnnxBackend();
  await registry.registerVersion({
    name: 'credit',
    filePath: fixturePath('credit'),
    card: parseCard(readFileSync(fixturePath('credit', 'card.json'), 'utf8'), 'card.json'),
    inspect: (b) => backend.inspect(b),
  });
  await registry.close();
  // the credit reference rows (20,000) with a row id in front; its ground-truth column is dropped
  const lines = readFileSync(fixturePath('credit', 'reference.csv'), 'utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const drop = header.indexOf('label');
  const keep = (cells: string[]): string[] => cells.filter((_, i) => i !== drop);
  const body = lines.slice(1).map((l, i) => [`r${i + 1}`, ...keep(l.split(','))].join(','));
  rows = body.length;
  input = path.join(tmp, 'applicants.csv');
  await writeFile(input, [['id', ...keep(header)].join(','), ...body].join('\n') + '\n');
}, 120_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('batch jobs killed with SIGKILL', () => {
  it('finish with every row exactly once and the same bytes as an uninterrupted run, over several seeds', async () => {
    const reference = path.join(tmp, 'reference.csv');
    const whole = await berth(runArgs(reference));
    expect(whole.code, whole.err).toBe(0);
    const expected = await readFile(reference);
    const ids = expected.toString('utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    expect(ids).toHaveLength(rows);
    expect(new Set(ids).size).toBe(rows);

    let killedMidway = 0;
    for (const seed of [1, 2, 3, 4]) {
      const random = prng(seed);
      const output = path.join(tmp, `out-${seed}.csv`);
      let resumedWithCommand = false;
      let lastKilled = false;
      for (let kill = 0; kill < 2; kill++) {
        // anywhere from the process start to the end of an uninterrupted run
        const r = await berth(runArgs(output), Math.floor(random() * whole.ms));
        lastKilled = r.signal === 'SIGKILL';
        if (r.signal === 'SIGKILL') {
          killedMidway++;
          // never half written: either absent or, if the kill came after the rename, whole
          if (existsSync(output)) expect(await readFile(output)).toEqual(expected);
        } else {
          expect(r.code, r.err).toBe(0);
        }
      }
      // a killed job is finished by running it again (the kill may have come after the output's
      // rename and before the work dir's removal: the run then rebuilds the same bytes and cleans up)
      if (lastKilled || !existsSync(output)) {
        // finish it: by job id on even seeds, by the same command on odd ones
        if (seed % 2 === 0) {
          const list = await berth(['batch', 'list', '--json']);
          const jobs = (JSON.parse(list.out) as { jobs: { jobId: string; output: string }[] }).jobs.filter((j) => j.output === output);
          if (jobs.length === 1) {
            const r = await berth(['batch', 'resume', jobs[0]!.jobId, '--json']);
            expect(r.code, r.err).toBe(0);
            resumedWithCommand = true;
          }
        }
        if (!resumedWithCommand) {
          const r = await berth(runArgs(output));
          expect(r.code, r.err).toBe(0);
        }
      }
      expect(await readFile(output), `seed ${seed}`).toEqual(expected);
    }
    // the kills did land while jobs ran
    expect(killedMidway).toBeGreaterThan(0);
    // finished jobs leave no work dirs behind
    expect(readdirSync(path.join(dataDir, 'jobs'))).toEqual([]);
  }, 120_000);

  it('resume refuses an unknown job and names how to list them', async () => {
    const r = await berth(['batch', 'resume', '0123456789abcdef']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/no unfinished batch job 0123456789abcdef.*berth batch list/);
  });
});
