import { readFileSync } from 'node:fs';
import type { Column, Table } from '../../../src/data/index.js';

/**
 * A tiny CSV reader for the fixtures (no quoted fields; empty field = missing). A column whose
 * non-empty fields all parse as numbers is int64 (all integers) or double; anything else is a
 * dictionary-coded string column. Also returns the raw fields, for exact expectations.
 */
export function readFixtureCsv(path: string): { table: Table; raw: Map<string, string[]> } {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
  const header = lines[0]!.split(',');
  const fields = header.map(() => [] as string[]);
  for (let r = 1; r < lines.length; r++) {
    const parts = lines[r]!.split(',');
    header.forEach((_, c) => fields[c]!.push(parts[c] ?? ''));
  }
  const columns: Column[] = header.map((name, c) => {
    const col = fields[c]!;
    const numeric = col.every((f) => f === '' || Number.isFinite(Number(f)));
    if (numeric) {
      const values = Float64Array.from(col, (f) => (f === '' ? NaN : Number(f)));
      const integer = col.every((f) => f === '' || /^-?\d+$/.test(f));
      return { name, type: integer ? 'int64' : 'double', values };
    }
    const dictionary: string[] = [];
    const index = new Map<string, number>();
    const codes = Int32Array.from(col, (f) => {
      if (f === '') return -1;
      let code = index.get(f);
      if (code === undefined) {
        code = dictionary.length;
        index.set(f, code);
        dictionary.push(f);
      }
      return code;
    });
    return { name, type: 'string', dictionary, codes };
  });
  return { table: { rows: lines.length - 1, columns }, raw: new Map(header.map((h, c) => [h, fields[c]!])) };
}
