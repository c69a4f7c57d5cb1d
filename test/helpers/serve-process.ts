import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's `bin/berth.js` (it runs the built `dist/`). */
export const BERTH_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'berth.js');

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** resolves with the exit code once the process has exited */
  exited: Promise<number | null>;
  /** everything it wrote so far, stdout and stderr */
  output(): string;
}

/** Start a real `berth serve` on port 0 over `dataDir` (plus `extraArgs`); resolves once it prints its URL. */
export async function startServeProcess(dataDir: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<ServeProcess> {
  // dev mode (no authentication) unless the caller configures auth itself
  const auth = extraArgs.includes('--admin-token-file') || env['BERTH_ADMIN_TOKEN'] !== undefined;
  const child = spawn(process.execPath, [BERTH_BIN, 'serve', ...(auth ? [] : ['--dev']), ...extraArgs, '--data-dir', dataDir, ...(extraArgs.includes('--port') ? [] : ['--port', '0']), ...(extraArgs.includes('--log-level') ? [] : ['--log-level', 'error'])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving on (https?:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`serve exited (${code}): ${out}`));
    });
  });
  return { child, url, exited, output: () => out };
}
