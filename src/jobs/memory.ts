/**
 * Keeping a batch job's memory flat. A job allocates fast (a chunk's cells, a part's output values)
 * and most of it dies at the end of a part, but by then V8 has promoted much of it to the old
 * generation, which it collects only when that has grown; over a long job the heap then swings
 * higher and higher. A full collection after each part (every 100,000 rows by default, about a
 * second of work) costs a few milliseconds and holds the heap to what one part needs, whatever the
 * input's length.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | null | undefined;

/** Run a full garbage collection now (a no-op where the engine does not allow it). */
export function collectGarbage(): void {
  if (collect === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === 'function') {
      collect = exposed;
    } else {
      try {
        // the flag applies to contexts made from now on: a fresh one hands out the collector
        setFlagsFromString('--expose-gc');
        const gc: unknown = runInNewContext('gc');
        collect = typeof gc === 'function' ? (gc as () => void) : null;
      } catch {
        collect = null;
      }
    }
  }
  collect?.();
}
