import { BerthError } from '../../core/index.js';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * A load-test duration: `500ms`, `10s`, `1.5s`, `1m`, `1h`. The unit is required: a bare `10`
 * could mean seconds or milliseconds, and guessing wrong turns a 10-second run into a 3-hour one.
 *
 * @example
 * parsePerfDuration('--duration', '10s') // 10000
 */
export function parsePerfDuration(field: string, text: string, minMs = 0): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(text);
  const ms = m ? Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]) : NaN;
  if (!m || !(ms >= minMs)) {
    const floor = minMs > 0 ? ` of at least ${formatPerfDuration(minMs)}` : '';
    const hint = /^\s*\d+(?:\.\d+)?\s*$/.test(text) ? ` (add a unit: ${text.trim()}s or ${text.trim()}ms)` : '';
    throw new BerthError('INVALID_ARGUMENT', `${field}: expected a duration${floor} like 500ms, 10s or 1m, got ${JSON.stringify(text)}${hint}`, {
      field,
      expected: 'duration (500ms, 10s, 1m)',
      got: text,
    });
  }
  return ms;
}

/** `500ms`, `10s`, `1.5s`, `2m`: the shortest exact spelling of a duration. */
export function formatPerfDuration(ms: number): string {
  if (ms < 1000 || ms % 100 !== 0) return `${ms}ms`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}
