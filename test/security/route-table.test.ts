import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROUTE_ACCESS, renderRouteTable } from '../../src/protocol/index.js';

const docs = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'security.md'), 'utf8');

describe('the route → scope table', () => {
  it('in docs/security.md is the one generated from the code (run `npm run build && node scripts/route-table.js` to refresh it)', () => {
    const block = /<!-- route-table:begin -->\n([\s\S]*?)\n<!-- route-table:end -->/.exec(docs);
    expect(block, 'docs/security.md lacks the route-table markers').not.toBeNull();
    expect(block![1]).toBe(renderRouteTable());
  });

  it('lists every route once with a rule: public, any credentials, or scopes', () => {
    for (const [key, a] of Object.entries(ROUTE_ACCESS)) {
      expect(key).toMatch(/^(GET|POST|PUT|PATCH|DELETE|OPTIONS) \S+$/);
      expect(a.public === true || a.authenticated === true || a.verbs.length > 0, key).toBe(true);
      // a route that names a resource checks the scope against it; inference counts against the deployment's limit
      if (a.inference) expect(a.resource, key).toBe('name');
    }
  });
});

describe('rates in messages', () => {
  it('read naturally: per second, or per minute, hour or day for slow buckets (quotas)', async () => {
    const { formatRate } = await import('../../src/protocol/guard.js');
    expect(formatRate(100)).toBe('100/s');
    expect(formatRate(2.5)).toBe('2.5/s');
    expect(formatRate(0.5)).toBe('30/m');
    expect(formatRate(10_000 / 86_400)).toBe('10000/d');
    expect(formatRate(6000 / 3600)).toBe('1.667/s');
    expect(formatRate(100 / 3600)).toBe('100/h');
  });
});
