#!/usr/bin/env node
// Rewrite the route → scope table in docs/security.md from the code (dist/, so run `npm run build` first).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { renderRouteTable } = await import(path.join(root, 'dist', 'protocol', 'route-access.js'));
const file = path.join(root, 'docs', 'security.md');
const doc = readFileSync(file, 'utf8');
const begin = '<!-- route-table:begin -->';
const end = '<!-- route-table:end -->';
const i = doc.indexOf(begin);
const j = doc.indexOf(end);
if (i < 0 || j < i) throw new Error(`docs/security.md has no ${begin} … ${end} block`);
writeFileSync(file, doc.slice(0, i + begin.length) + '\n' + renderRouteTable() + '\n' + doc.slice(j));
console.log('docs/security.md: route table rewritten');
