/**
 * Writes the inference log's Parquet files off the event loop: encoding 50,000 rows takes tens of
 * milliseconds, which would stall every request in flight. A worker thread imports the data layer's
 * `writeParquetFile` from the built package next to this module; the tables' typed arrays are
 * transferred, not copied. Where no built module exists (running from TypeScript sources, as the
 * unit tests do) the file is written on the calling thread instead — same bytes, same guarantees.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { writeParquetFile, type Table } from '../../data/index.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ready = import(workerData.dataModule);
parentPort.on('message', async (m) => {
  try {
    const { writeParquetFile } = await ready;
    await writeParquetFile(m.file, m.table);
    parentPort.postMessage({ id: m.id });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String((err && err.message) || err) });
  }
});
`;

export interface FileWriter {
  write(file: string, table: Table): Promise<void>;
  close(): Promise<void>;
}

/** A writer on a worker thread when the built data module is there, else on this thread. */
export function createFileWriter(): FileWriter {
  const dataModule = new URL('../../data/index.js', import.meta.url);
  if (!existsSync(fileURLToPath(dataModule))) return { write: (file, table) => writeParquetFile(file, table), close: async () => {} };
  let worker: Worker | null = null;
  let nextId = 1;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const start = (): Worker => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { dataModule: dataModule.href } });
    w.on('message', (m: { id: number; error?: string }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (pending.size === 0) w.unref();
      if (m.error === undefined) p?.resolve();
      else p?.reject(new Error(m.error));
    });
    w.on('error', (err) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
      worker = null;
    });
    w.unref();
    return w;
  };
  return {
    write(file, table) {
      worker ??= start();
      const w = worker;
      const id = nextId++;
      const transfer: ArrayBuffer[] = [];
      for (const c of table.columns) {
        const buf = c.type === 'string' ? c.codes.buffer : c.type === 'binary' ? null : c.values.buffer;
        if (buf instanceof ArrayBuffer && !transfer.includes(buf)) transfer.push(buf);
      }
      return new Promise<void>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        // keep the process alive while a file is being written
        w.ref();
        w.postMessage({ id, file, table }, transfer);
      });
    },
    async close() {
      const w = worker;
      worker = null;
      if (w) await w.terminate();
    },
  };
}
