import { describe, expect, it } from 'vitest';
import { ThriftError, ThriftReader, ThriftWriter } from './thrift.js';

describe('Thrift compact protocol', () => {
  it('writes field headers as deltas and reads structs back', () => {
    const w = new ThriftWriter();
    w.beginStruct();
    w.i32(1, -3);
    w.i64(3, 2 ** 40 + 5);
    w.string(4, 'héllo');
    w.bool(5, true);
    w.bool(6, false);
    w.listI32(7, [1, 2, 3]);
    w.listString(8, Array.from({ length: 20 }, (_, i) => `s${i}`));
    w.beginStruct(30).i16(1, 7).endStruct(); // delta > 15: long field header
    w.listStruct(31, [1, 2], (w2, v) => w2.i32(1, v));
    w.endStruct();
    const bytes = w.finish();
    // i32 field 1: header 0x15, zigzag(-3) = 5
    expect([...bytes.subarray(0, 2)]).toEqual([0x15, 0x05]);
    const s = new ThriftReader(bytes).readStruct();
    expect(s.get(1)).toBe(-3);
    expect(s.get(3)).toBe(2 ** 40 + 5);
    expect(Buffer.from(s.get(4) as Uint8Array).toString()).toBe('héllo');
    expect(s.get(5)).toBe(true);
    expect(s.get(6)).toBe(false);
    expect(s.get(7)).toEqual([1, 2, 3]);
    expect((s.get(8) as Uint8Array[]).map((b) => Buffer.from(b).toString())).toEqual(Array.from({ length: 20 }, (_, i) => `s${i}`));
    expect((s.get(30) as Map<number, number>).get(1)).toBe(7);
    expect((s.get(31) as Map<number, number>[]).map((m) => m.get(1))).toEqual([1, 2]);
  });

  it('throws ThriftError on truncated or absurd input instead of reading past it', () => {
    const w = new ThriftWriter();
    w.beginStruct().string(1, 'abcdef').listI32(2, [1, 2, 3]).endStruct();
    const bytes = w.finish();
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => new ThriftReader(bytes, 0, cut).readStruct()).toThrow(ThriftError);
    }
    // a list claiming a billion elements in a few bytes
    expect(() => new ThriftReader(Uint8Array.of(0x19, 0xf5, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0x00)).readStruct()).toThrow(ThriftError);
    // structs nested without end
    expect(() => new ThriftReader(new Uint8Array(1000).fill(0x1c)).readStruct()).toThrow(ThriftError);
  });
});
