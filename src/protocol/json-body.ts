/**
 * Strict JSON for request bodies: plain `JSON.parse`, plus two refusals it does not make on its own.
 *
 * - Nesting deeper than a limit (`hardening.maxJsonDepth`): measured on the text before parsing, so
 *   a body of a million `[` costs one linear scan and no recursion anywhere downstream.
 * - Keys that poison prototypes when a parsed object is later merged or spread (`__proto__`, and
 *   `constructor` holding `prototype`): JSON.parse makes them harmless own properties, but code
 *   that copies keys onto another object would not, so they are refused at the edge, with the path.
 *
 * On every infer request, so the common case is cheap: the depth scan jumps between brackets with
 * native `indexOf`, and the key walk over the parsed value runs only when the text could spell one
 * of those keys (it contains `__proto__`, `constructor`, or a `\u` escape that could spell them).
 */
import { BerthError } from '../core/index.js';

/** Limits `parseJsonBody` enforces. */
export interface JsonBodyLimits {
  /** deepest nesting of arrays and objects allowed (`hardening.maxJsonDepth`) */
  maxDepth: number;
}

/**
 * Parse a request body as strict JSON. Throws `INVALID_ARGUMENT` (400) when the text is not JSON,
 * when it nests deeper than `limits.maxDepth`, or when it holds a `__proto__` key or a
 * `constructor` key whose value has a `prototype` key (at any depth; the message names the path).
 *
 * @example
 * parseJsonBody('{"inputs": []}', { maxDepth: 64 }) // → { inputs: [] }
 * parseJsonBody('{"a": {"__proto__": {}}}', { maxDepth: 64 }) // throws: body.a.__proto__: …
 */
export function parseJsonBody(text: string, limits: JsonBodyLimits): unknown {
  const depth = text.length > limits.maxDepth ? maxNesting(text) : 0;
  if (depth > limits.maxDepth) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `request body: JSON nested ${depth} levels deep, more than the limit of ${limits.maxDepth} (hardening.maxJsonDepth); send flatter data (tensor data may be flat, in row-major order)`,
      { field: 'body', expected: `at most ${limits.maxDepth} levels of nesting`, got: depth },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new BerthError('INVALID_ARGUMENT', `request body is not valid JSON: ${why}`, { field: 'body', expected: 'JSON' }, { cause: err });
  }
  if (typeof value === 'object' && value !== null && mayHoldForbiddenKey(text)) {
    const bad = findForbiddenKey(value, 'body');
    if (bad !== undefined) {
      throw new BerthError(
        'INVALID_ARGUMENT',
        `${bad}: key refused (it could pollute object prototypes); rename the key`,
        { field: bad, expected: 'no "__proto__" key and no "constructor" key holding "prototype"', got: bad.endsWith('.prototype') ? 'constructor.prototype' : '__proto__' },
      );
    }
  }
  return value;
}

/**
 * Deepest nesting of `[`/`{` in a JSON text, skipping string contents (escapes included). On
 * malformed text the number is still an upper bound of what JSON.parse would build.
 *
 * It jumps from one structural character to the next with `indexOf`, which runs natively: on a
 * 1 MB body of numbers that is ~2-4% of JSON.parse's time, where a char-by-char loop took ~45%.
 */
export function maxNesting(text: string): number {
  let depth = 0;
  let max = 0;
  // the next position of each of [ ] { } " at or after the cursor (-1: none left)
  let open = text.indexOf('[');
  let close = text.indexOf(']');
  let openObj = text.indexOf('{');
  let closeObj = text.indexOf('}');
  let quote = text.indexOf('"');
  for (;;) {
    const next = Math.min(at(open), at(close), at(openObj), at(closeObj), at(quote));
    if (next === Infinity) return max;
    if (next === open) {
      if (++depth > max) max = depth;
      open = text.indexOf('[', next + 1);
    } else if (next === openObj) {
      if (++depth > max) max = depth;
      openObj = text.indexOf('{', next + 1);
    } else if (next === close) {
      depth--;
      close = text.indexOf(']', next + 1);
    } else if (next === closeObj) {
      depth--;
      closeObj = text.indexOf('}', next + 1);
    } else {
      // a string: its closing quote is the next one not escaped by an odd run of backslashes
      let end = next;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return max;
        let k = end - 1;
        while (text.charCodeAt(k) === 0x5c /* \ */) k--;
        if ((end - 1 - k) % 2 === 0) break;
      }
      const from = end + 1;
      // brackets found inside the string were not structure: look again after it
      if (open >= 0 && open < from) open = text.indexOf('[', from);
      if (close >= 0 && close < from) close = text.indexOf(']', from);
      if (openObj >= 0 && openObj < from) openObj = text.indexOf('{', from);
      if (closeObj >= 0 && closeObj < from) closeObj = text.indexOf('}', from);
      quote = text.indexOf('"', from);
    }
  }
}

function at(i: number): number {
  return i < 0 ? Infinity : i;
}

/** Whether the text could hold a forbidden key once parsed (escapes can spell any key). */
function mayHoldForbiddenKey(text: string): boolean {
  return text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
}

/** Path of the first `__proto__` key, or `constructor` key whose object has `prototype`, else undefined. */
function findForbiddenKey(value: unknown, path: string): string | undefined {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' && v !== null) {
        const bad = findForbiddenKey(v, `${path}[${i}]`);
        if (bad !== undefined) return bad;
      }
    }
    return undefined;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    const at = `${path}${keyPath(key)}`;
    if (key === '__proto__') return at;
    if (key === 'constructor' && typeof v === 'object' && v !== null && Object.hasOwn(v, 'prototype')) return `${at}.prototype`;
    if (typeof v === 'object' && v !== null) {
      const bad = findForbiddenKey(v, at);
      if (bad !== undefined) return bad;
    }
  }
  return undefined;
}

function keyPath(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
