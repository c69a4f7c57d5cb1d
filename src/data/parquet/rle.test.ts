import { describe, expect, it } from 'vitest';
import { CorruptDataError, bitWidthFor, decodeHybrid, encodeHybrid } from './rle.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    s = (s ^ (s >>> 13)) >>> 0;
    return s / 2 ** 32;
  };
}

describe('RLE / bit-packing hybrid', () => {
  it('encodes the bytes the Parquet spec shows for a bit-packed run of 0..7 at width 3', () => {
    // spec example: values 0..7, bit width 3 → header 0b11 (1 group, bit-packed), then 0x88 0xC6 0xFA
    expect([...encodeHybrid([0, 1, 2, 3, 4, 5, 6, 7], 8, 3)]).toEqual([0x03, 0x88, 0xc6, 0xfa]);
  });

  it('uses an RLE run for repeated values', () => {
    expect([...encodeHybrid(new Array(100).fill(1), 100, 1)]).toEqual([200, 1, 1]);
    expect([...encodeHybrid(new Array(10).fill(300), 10, 9)]).toEqual([20, 300 & 0xff, 300 >> 8]);
  });

  it('round-trips random runs and noise at every width from 1 to 32', () => {
    const r = rng(3);
    for (let width = 1; width <= 32; width++) {
      const max = 2 ** width - 1;
      const n = 1 + Math.floor(r() * 3000);
      const values: number[] = [];
      while (values.length < n) {
        const v = Math.floor(r() * (max + 1));
        const run = r() < 0.3 ? Math.floor(r() * 40) : 1;
        for (let k = 0; k < run && values.length < n; k++) values.push(v);
      }
      const bytes = encodeHybrid(values, n, width);
      const out = new Int32Array(n);
      const end = decodeHybrid(bytes, 0, bytes.length, width, n, out);
      expect(end).toBe(bytes.length);
      expect([...out].map((v) => v >>> 0)).toEqual(values);
    }
  });

  it('decodes fewer values than a padded last run holds', () => {
    const bytes = encodeHybrid([1, 0, 1], 3, 1);
    const out = new Uint8Array(3);
    decodeHybrid(bytes, 0, bytes.length, 1, 3, out);
    expect([...out]).toEqual([1, 0, 1]);
  });

  it('throws CorruptDataError when runs do not fit the bytes', () => {
    const bytes = encodeHybrid([0, 1, 2, 3, 4, 5, 6, 7], 8, 3);
    expect(() => decodeHybrid(bytes, 0, 2, 3, 8, new Int32Array(8))).toThrow(CorruptDataError);
    expect(() => decodeHybrid(Uint8Array.of(0), 0, 1, 1, 4, new Uint8Array(4))).toThrow(CorruptDataError);
    expect(() => decodeHybrid(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 0, 7, 1, 4, new Uint8Array(4))).toThrow(CorruptDataError);
  });

  it('needs at least one bit per value', () => {
    expect([0, 1, 2, 3, 255, 256, 65535, 65536].map(bitWidthFor)).toEqual([1, 1, 2, 2, 8, 9, 16, 17]);
  });
});
