import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** docs/architecture.md's layers, bottom first: a module imports only its own layer and those below. */
const LAYERS = ['core', 'data', 'registry', 'runtime', 'batching', 'serving', 'monitor', 'explain', 'rollout', 'security', 'jobs', 'pipelines', 'packaging', 'protocol', 'server', 'cli'];
const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

describe('the layers', () => {
  it('import downward only (type imports included)', () => {
    const wrong: string[] = [];
    for (const layer of LAYERS) {
      for (const file of files(path.join(src, layer))) {
        for (const m of readFileSync(file, 'utf8').matchAll(/(?:import|export)[^'"]*?from\s+'(\.\.?\/[^']+)'/g)) {
          const target = path.relative(src, path.resolve(path.dirname(file), m[1]!)).split(path.sep)[0]!;
          if (!LAYERS.includes(target) || target === layer) continue;
          if (LAYERS.indexOf(target) > LAYERS.indexOf(layer)) wrong.push(`${path.relative(src, file)} imports ${target}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('the SDK', () => {
  it('stands alone: nothing from src/, only Node and gRPC packages', () => {
    const sdk = path.resolve(src, '..', 'sdk');
    const wrong: string[] = [];
    for (const file of files(sdk)) {
      // examples in doc comments are not imports
      const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      for (const m of code.matchAll(/(?:import|export)(?:[^'"]*?from\s+|\s*\(\s*)'([^']+)'/g)) {
        const spec = m[1]!;
        const ok = spec.startsWith('node:') || spec.startsWith('@grpc/') || (spec.startsWith('./') && path.resolve(path.dirname(file), spec).startsWith(sdk));
        if (!ok) wrong.push(`${path.relative(sdk, file)} imports ${spec}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('the dashboard', () => {
  it('imports React and its own files, and only types from the SDK; nothing from src/', () => {
    const ui = path.resolve(src, '..', 'ui', 'src');
    const wrong: string[] = [];
    const walk = (dir: string): string[] => readdirSync(dir).flatMap((n) => {
      const p = path.join(dir, n);
      return statSync(p).isDirectory() ? walk(p) : /\.tsx?$/.test(p) ? [p] : [];
    });
    for (const file of walk(ui)) {
      const code = readFileSync(file, 'utf8');
      for (const m of code.matchAll(/^import\s+(type\s+)?[^'"]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)) {
        const typeOnly = m[1] !== undefined;
        const spec = (m[2] ?? m[3])!;
        const local = spec.startsWith('./') || spec.startsWith('../');
        const target = local ? path.resolve(path.dirname(file), spec) : '';
        const ok = spec === 'react' || spec === 'react-dom/client' || (local && target.startsWith(ui)) || (typeOnly && target === path.resolve(src, '..', 'sdk', 'types.js'));
        if (!ok) wrong.push(`${path.relative(ui, file)} imports ${typeOnly ? 'type ' : ''}${spec}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
