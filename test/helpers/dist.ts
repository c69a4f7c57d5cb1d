import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Newest modification time of the TypeScript sources under `dir` (tests excluded). */
function newestSourceMs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSourceMs(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Build dist/ (the SDK first: the CLI imports it as berth/sdk) when `builtFile` (relative to dist/)
 * is missing or older than src/ or sdk/. Only when stale: other suites run dist/ in child processes
 * at the same time, and rewriting it under them would be a race. `npm test` builds it first.
 */
export function ensureDistBuilt(builtFile: string): void {
  const built = path.join(ROOT, 'dist', builtFile);
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(newestSourceMs(path.join(ROOT, 'src')), newestSourceMs(path.join(ROOT, 'sdk')))) return;
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', 'sdk/tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
}
