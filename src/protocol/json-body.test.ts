import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../core/index.js';
import { maxNesting, parseJsonBody } from './json-body.js';

const limits = { maxDepth: 64 };

function refusal(text: string, maxDepth = 64): BerthError {
  try {
    parseJsonBody(text, { maxDepth });
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error(`expected ${text.slice(0, 80)} to be refused`);
}

describe('parseJsonBody', () => {
  it('parses what JSON.parse parses', () => {
    const text = '{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[[1,"NaN"]]}],"id":"a\\"[{"}';
    expect(parseJsonBody(text, limits)).toEqual(JSON.parse(text));
    expect(parseJsonBody('3', limits)).toBe(3);
    expect(parseJsonBody('"x"', limits)).toBe('x');
    expect(parseJsonBody('null', limits)).toBeNull();
  });

  it('refuses text that is not JSON with a 400 naming the body', () => {
    for (const text of ['{', '{"a":1,}', "{'a':1}", 'NaN', '[1,2', '\u0000']) {
      const e = refusal(text);
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.status).toBe(400);
      expect(e.context.field).toBe('body');
      expect(e.message).toMatch(/not valid JSON/);
    }
  });

  it('refuses nesting deeper than the limit, naming the limit and the depth', () => {
    const deep = `${'['.repeat(65)}${']'.repeat(65)}`;
    const e = refusal(deep);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.status).toBe(400);
    expect(e.message).toContain('limit of 64');
    expect(e.message).toContain('hardening.maxJsonDepth');
    expect(e.context).toMatchObject({ field: 'body', got: 65 });
    // exactly at the limit is fine, objects count like arrays
    expect(() => parseJsonBody(`${'['.repeat(64)}${']'.repeat(64)}`, limits)).not.toThrow();
    expect(refusal(`${'{"a":'.repeat(10)}1${'}'.repeat(10)}`, 9).context['got']).toBe(10);
  });

  it('refuses a million open brackets without recursing (depth is measured on the text)', () => {
    const e = refusal('['.repeat(1_000_000));
    expect(e.context['got']).toBe(1_000_000);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(maxNesting('["[[[[", "\\"[[[", "\\\\", [1]]')).toBe(2);
    expect(maxNesting('{"a\\\\":"[{"}')).toBe(1);
    expect(() => parseJsonBody(`["${'['.repeat(200)}"]`, limits)).not.toThrow();
  });

  it('measures the same depth as the parsed value has (property)', () => {
    const depthOf = (v: unknown): number =>
      typeof v !== 'object' || v === null ? 0 : 1 + Math.max(0, ...Object.values(v).map(depthOf));
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 10 }), (v) => {
        expect(maxNesting(JSON.stringify(v))).toBe(depthOf(v));
      }),
      { numRuns: 500, seed: 5 },
    );
  });

  it('refuses __proto__ keys at any depth, naming the key path', () => {
    let e = refusal('{"__proto__": {"polluted": true}}');
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.status).toBe(400);
    expect(e.context.field).toBe('body.__proto__');
    e = refusal('{"inputs": [{"name": "x", "parameters": {"__proto__": {"isAdmin": true}}}]}');
    expect(e.context.field).toBe('body.inputs[0].parameters.__proto__');
    expect(e.message).toContain('body.inputs[0].parameters.__proto__');
    expect(e.context['got']).toBe('__proto__');
  });

  it('refuses a __proto__ key spelled with unicode escapes', () => {
    const e = refusal('{"a": {"\\u005f_proto__": {"x": 1}}}');
    expect(e.context.field).toBe('body.a.__proto__');
  });

  it('refuses constructor.prototype but lets a plain "constructor" key through', () => {
    const e = refusal('{"x": [{"constructor": {"prototype": {"polluted": true}}}]}');
    expect(e.context.field).toBe('body.x[0].constructor.prototype');
    expect(e.context['got']).toBe('constructor.prototype');
    expect(parseJsonBody('{"constructor": "a string is harmless", "c": {"constructor": {"name": 1}}}', limits))
      .toEqual({ constructor: 'a string is harmless', c: { constructor: { name: 1 } } });
    // strings that merely contain the words are data
    expect(parseJsonBody('{"data": ["__proto__", "constructor.prototype"]}', limits)).toEqual({ data: ['__proto__', 'constructor.prototype'] });
  });

  it('names keys that are not identifiers in brackets', () => {
    expect(refusal('{"a b": {"__proto__": 1}}').context.field).toBe('body["a b"].__proto__');
  });

  it('never leaks a polluted prototype and agrees with JSON.parse on every JSON value (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => {
        const text = JSON.stringify(v);
        const out = parseJsonBody(text, limits);
        expect(out).toEqual(JSON.parse(text));
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      }),
      { numRuns: 300, seed: 5 },
    );
  });

  it('only ever throws BerthError 400 on arbitrary text (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', ':', ',', '1', '_', 'a') })), (text) => {
        try {
          parseJsonBody(text, { maxDepth: 8 });
        } catch (err) {
          expect(err).toBeInstanceOf(BerthError);
          expect((err as BerthError).status).toBe(400);
        }
      }),
      { numRuns: 1000, seed: 5 },
    );
  });

  it('costs little next to JSON.parse on a typical infer body', () => {
    const row = Array.from({ length: 30 }, (_, i) => i * 0.37);
    const text = JSON.stringify({ inputs: [{ name: 'input', shape: [2000, 30], datatype: 'FP32', data: Array.from({ length: 2000 }, () => row) }] });
    const time = (f: () => void): number => {
      const t0 = performance.now();
      for (let i = 0; i < 20; i++) f();
      return performance.now() - t0;
    };
    time(() => parseJsonBody(text, limits));
    time(() => JSON.parse(text));
    const strict = time(() => parseJsonBody(text, limits));
    const plain = time(() => JSON.parse(text));
    // generous: the scan measured ~3% of JSON.parse on numbers (~50% on string-heavy bodies);
    // this only catches a pathological slowdown
    expect(strict).toBeLessThan(plain * 2 + 20);
  });
});
