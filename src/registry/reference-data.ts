import { createReadStream } from 'node:fs';

/**
 * Count the data rows of a CSV file (header and blank lines excluded), streaming. Newlines inside
 * double-quoted fields do not end a row.
 */
export async function countCsvRows(path: string): Promise<number> {
  const QUOTE = 0x22;
  const LF = 0x0a;
  const CR = 0x0d;
  let records = 0;
  let inQuotes = false;
  let lineHasContent = false;
  for await (const chunk of createReadStream(path)) {
    const buf = chunk as Buffer;
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      if (b === QUOTE) {
        inQuotes = !inQuotes;
        lineHasContent = true;
      } else if (b === LF && !inQuotes) {
        if (lineHasContent) records++;
        lineHasContent = false;
      } else if (b !== CR) {
        lineHasContent = true;
      }
    }
  }
  if (lineHasContent) records++;
  return Math.max(0, records - 1);
}
