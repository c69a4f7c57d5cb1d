import { createServer } from 'node:net';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { REGISTER_BODY_LIMIT_BYTES } from '../protocol/index.js';
import { AUDIT_ACTIONS } from '../registry/index.js';
import { AUDIT_ACTION_CHOICES } from './commands/audit.js';
import { buildProgram, main } from './main.js';
import { UPLOAD_LIMIT_BYTES } from './remote-client.js';

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['node', 'berth', ...args], { out: (t) => void (out += t), err: (t) => void (err += t), env: {} });
  return { code, out, err };
}

function commandPaths(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands
    .filter((c) => c.name() !== 'help')
    .flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('berth (in process)', () => {
  it('teaches every command with an example in its --help', async () => {
    const { program } = buildProgram({ out: () => undefined, err: () => undefined, env: {} });
    const paths = commandPaths(program);
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining([
        'serve', 'models register', 'alias history', 'deploy', 'deployments rollback', 'predict', 'audit', 'status',
        'rollout start', 'rollout status', 'rollout list', 'rollout pause', 'rollout resume', 'rollout promote', 'rollout abort', 'rollback',
      ]),
    );
    for (const path of paths) {
      const r = await run(...path, '--help');
      expect(r.code, path.join(' ')).toBe(0);
      expect(r.out, path.join(' ')).toMatch(/Examples:\n {2}\$ berth /);
    }
  });

  it('answers usage errors with exit code 2 and a berth: message', async () => {
    for (const args of [['nope'], ['deploy', 'api', '--model', 'm'], ['deploy', 'api', '--model', 'm', '--alias', 'a', '--version', '2'], ['alias', 'set', 'm', 'a', 'two'], ['models', 'register', 'x.onnx'],
      ['deploy', 'api', '--model', 'm', '--version', '1', '--split', '2=101'], ['rollout', 'start', 'api'], ['rollout', 'start', 'api', '--to-version', '2', '--steps', '25,5'], ['rollback']]) {
      const r = await run(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(/^berth: /);
    }
  });

  it('prints its version', async () => {
    const r = await run('--version');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('fails with SERVER_UNREACHABLE advice when the server given with --server is down', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await run('--server', url, 'models', 'list');
    expect(r.code).toBe(1);
    expect(r.err).toBe(`berth: no Berth server at ${url}; start one with \`berth serve\` or drop --server to use the local data dir\n`);
  });

  it('offers exactly the audit actions the registry writes', () => {
    expect([...AUDIT_ACTION_CHOICES].sort()).toEqual([...AUDIT_ACTIONS].sort());
  });

  it("uses the same upload limit as the server's register route", () => {
    expect(UPLOAD_LIMIT_BYTES).toBe(REGISTER_BODY_LIMIT_BYTES);
  });
});
