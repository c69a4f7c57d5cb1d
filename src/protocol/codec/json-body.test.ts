import { describe, expect, it } from 'vitest';
import { parseJsonBody } from './json-body.js';

const long = (values: string[]): string => `{"inputs":[{"name":"x","datatype":"FP32","shape":[1,${values.length}],"data":[${values.join(',')}]}],"pad":"${'p'.repeat(300)}"}`;

describe('parseJsonBody', () => {
  it('returns exactly what JSON.parse returns for tensor bodies', () => {
    const nums = Array.from({ length: 300 }, (_, i) => String(Math.sin(i) * 10 ** ((i % 9) - 4)));
    nums.push('-0', '0', '1e-7', '-2.5E+3', '123456789012345678901234567890', '5e-324', '1.7976931348623157e308');
    const text = long(nums);
    expect(parseJsonBody(text)).toEqual(JSON.parse(text));
    const two = `{"id":"a \\"data\\": [1]","inputs":[{"name":"a","data":[ 1 , 2.5 ,-3 ]},{"name":"b","data" : [4,5]}],"parameters":{"data":[7,8,9]},"z":"${'z'.repeat(300)}"}`;
    expect(parseJsonBody(two)).toEqual(JSON.parse(two));
  });

  it('leaves nested arrays, strings, literals and empty arrays to JSON.parse', () => {
    const cases = [
      `{"data":[[1,2],[3,4]],"p":"${'x'.repeat(300)}"}`,
      `{"data":["a","b"],"p":"${'x'.repeat(300)}"}`,
      `{"data":[true,false,null],"p":"${'x'.repeat(300)}"}`,
      `{"data":[1,"NaN",3],"p":"${'x'.repeat(300)}"}`,
      `{"data":[],"p":"${'x'.repeat(300)}"}`,
      `{"key":"data","data":{"a":1},"p":"${'x'.repeat(300)}"}`,
    ];
    for (const text of cases) expect(parseJsonBody(text)).toEqual(JSON.parse(text));
  });

  it('throws the same syntax errors as JSON.parse for malformed numbers and bodies', () => {
    for (const bad of ['01', '1.', '.5', '+1', '1e', '1.2.3', '--1', '0x10', 'Infinity', '1 2']) {
      const text = long(Array.from({ length: 40 }, () => bad));
      expect(() => parseJsonBody(text), bad).toThrow(SyntaxError);
      expect(() => JSON.parse(text), bad).toThrow(SyntaxError);
    }
    const truncated = long(['1', '2', '3']).slice(0, -40);
    expect(() => parseJsonBody(truncated)).toThrow(SyntaxError);
  });

  it('agrees with JSON.parse on random bodies', () => {
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pieces = ['1', '-2', '3.25', '1e3', '"s"', 'true', 'null', '[1,2]', '{}', ' ', ',', ']', '[', '0.5e-2', '-0'];
    for (let n = 0; n < 500; n++) {
      const inner = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => pieces[Math.floor(rnd() * pieces.length)]).join(rnd() < 0.8 ? ',' : '');
      const text = `{"data":[${inner}],"pad":"${'q'.repeat(260)}"}`;
      let want: unknown;
      let wantErr = false;
      try {
        want = JSON.parse(text);
      } catch {
        wantErr = true;
      }
      if (wantErr) expect(() => parseJsonBody(text), text.slice(0, 80)).toThrow(SyntaxError);
      else expect(parseJsonBody(text), text.slice(0, 80)).toEqual(want);
    }
  });
});
