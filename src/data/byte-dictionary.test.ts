import { describe, expect, it } from 'vitest';
import { ByteDictionary } from './byte-dictionary.js';

describe('ByteDictionary', () => {
  it('gives each distinct byte string one code, in order of first appearance', () => {
    const d = new ByteDictionary();
    const words = ['b', 'a', '', 'b', 'é', 'a', '東京', ''];
    const buf = Buffer.from(words.join('|'));
    const codes: number[] = [];
    let s = 0;
    for (const w of words) {
      const e = s + Buffer.byteLength(w);
      codes.push(d.codeOf(buf, s, e));
      s = e + 1;
    }
    expect(codes).toEqual([0, 1, 2, 0, 3, 1, 4, 2]);
    expect(d.strings).toEqual(['b', 'a', '', 'é', '東京']);
  });

  it('keeps codes stable while it grows past many rehashes', () => {
    const d = new ByteDictionary();
    const n = 50_000;
    const bufs = Array.from({ length: n }, (_, i) => Buffer.from(`key-${(i * 7919) % n}`));
    const first = bufs.map((b) => d.codeOf(b, 0, b.length));
    const again = bufs.map((b) => d.codeOf(b, 0, b.length));
    expect(again).toEqual(first);
    expect(d.strings.length).toBe(n);
    expect(first.map((code) => d.strings[code])).toEqual(bufs.map((b) => b.toString()));
  });

  it('builds from strings and finds them by their bytes', () => {
    const d = ByteDictionary.of(['x', 'yy']);
    const b = Buffer.from('yy');
    expect(d.codeOf(b, 0, 2)).toBe(1);
    expect(d.strings).toEqual(['x', 'yy']);
  });
});
