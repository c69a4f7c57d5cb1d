import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, ERROR_CODES } from './errors.js';

const docs = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'errors.md'), 'utf8');

describe('the error catalog', () => {
  it('is documented in docs/errors.md, code by code, with the same status and summary', () => {
    for (const code of ERROR_CODES) {
      const { status, summary } = ERROR_CATALOG[code];
      expect(docs, code).toContain(`| \`${code}\` | ${status} | ${summary} |`);
    }
  });

  it('documents no code that the catalog does not have', () => {
    const documented = [...docs.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...ERROR_CODES].sort());
  });
});
