import { describe, expect, it } from 'vitest';
import { BerthError, type Datatype, type Tensor } from '../../core/index.js';
import { decodeInferRequest, encodeError, encodeInferResponse, encodeTensorData } from './v2-json.js';

/** Decode one input tensor from its v2 JSON fields. */
function decodeOne(datatype: string, shape: unknown, data: unknown, name = 'x'): Tensor {
  return decodeInferRequest({ inputs: [{ name, datatype, shape, data }] }).inputs[0]!;
}

/** Run `fn`, expecting a BerthError with this code and exactly this message. */
function expectError(fn: () => unknown, code: string, message: string | RegExp): BerthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    const e = err as BerthError;
    expect(e.code).toBe(code);
    if (typeof message === 'string') expect(e.message).toBe(message);
    else expect(e.message).toMatch(message);
    return e;
  }
  throw new Error('expected a BerthError, nothing was thrown');
}

/** Encode one tensor and parse the response back. */
function roundTripData(t: Tensor): unknown[] {
  const body = JSON.parse(encodeInferResponse({ modelName: 'm', outputs: [t] })) as { outputs: { data: unknown[] }[] };
  return body.outputs[0]!.data;
}

describe('decodeInferRequest', () => {
  it('decodes every datatype into its typed storage and encodes it back unchanged', () => {
    const cases: [Datatype, unknown[], ArrayLike<unknown> | unknown[], unknown[]][] = [
      ['BOOL', [true, false, true], new Uint8Array([1, 0, 1]), [true, false, true]],
      ['UINT8', [0, 255, 7], new Uint8Array([0, 255, 7]), [0, 255, 7]],
      ['UINT16', [0, 65535, 300], new Uint16Array([0, 65535, 300]), [0, 65535, 300]],
      ['UINT32', [0, 4294967295, 1], new Uint32Array([0, 4294967295, 1]), [0, 4294967295, 1]],
      ['INT8', [-128, 127, 0], new Int8Array([-128, 127, 0]), [-128, 127, 0]],
      ['INT16', [-32768, 32767, -1], new Int16Array([-32768, 32767, -1]), [-32768, 32767, -1]],
      ['INT32', [-2147483648, 2147483647, 5], new Int32Array([-2147483648, 2147483647, 5]), [-2147483648, 2147483647, 5]],
      ['INT64', [-9007199254740991, 9007199254740991, -1], new BigInt64Array([-9007199254740991n, 9007199254740991n, -1n]), [-9007199254740991, 9007199254740991, -1]],
      ['UINT64', [0, 9007199254740991, 4294967296], new BigUint64Array([0n, 9007199254740991n, 4294967296n]), [0, 9007199254740991, 4294967296]],
      ['FP32', [1.5, -0.25, 3], new Float32Array([1.5, -0.25, 3]), [1.5, -0.25, 3]],
      ['FP64', [0.1, -1e300, 5e-324], new Float64Array([0.1, -1e300, 5e-324]), [0.1, -1e300, 5e-324]],
      ['FP16', [1.5, -2, 0.5], new Uint16Array([0x3e00, 0xc000, 0x3800]), [1.5, -2, 0.5]],
      ['BYTES', ['a', '', 'ü'], ['a', '', 'ü'], ['a', '', 'ü']],
    ];
    for (const [dt, data, storage, back] of cases) {
      const t = decodeOne(dt, [3], data);
      expect(t.datatype, dt).toBe(dt);
      expect(t.shape).toEqual([3]);
      expect(t.data, dt).toEqual(storage);
      expect(roundTripData(t), dt).toEqual(back);
    }
  });

  it('keeps the id, parameters, requested outputs and per-input parameters, and ignores unknown keys', () => {
    const req = decodeInferRequest({
      id: 'req-1',
      parameters: { priority: 2 },
      outputs: [{ name: 'probabilities', parameters: { binary_data: false } }, { name: 'label' }],
      inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [1, 2], parameters: { content_type: 'np' } }],
      extra: 'ignored',
    });
    expect(req).toEqual({
      id: 'req-1',
      parameters: { priority: 2 },
      outputs: [{ name: 'probabilities', parameters: { binary_data: false } }, { name: 'label' }],
      inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: new Float32Array([1, 2]), parameters: { content_type: 'np' } }],
    });
    expect('id' in decodeInferRequest({ inputs: [{ name: 'a', shape: [0], datatype: 'FP32', data: [] }] })).toBe(false);
  });

  it('treats optional fields sent as null as absent', () => {
    const req = decodeInferRequest({
      id: null, parameters: null, outputs: [{ name: 'y', parameters: null }],
      inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1], parameters: null }],
    });
    expect(req).toEqual({ outputs: [{ name: 'y' }], inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: new Float32Array([1]) }] });
    expect(Object.keys(req)).toEqual(['inputs', 'outputs']);
    expect(Object.keys(req.inputs[0]!)).toEqual(['name', 'datatype', 'shape', 'data']);
  });

  it('flattens nested data in row-major order to the same tensor as flat data', () => {
    const flat = decodeOne('INT32', [2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const nested = decodeOne('INT32', [2, 2, 3], [[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]]);
    expect(nested).toEqual(flat);
    expect(nested.data).toEqual(new Int32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    expect(decodeOne('BYTES', [2, 1], [['a'], ['b']]).data).toEqual(['a', 'b']);
    expect(decodeOne('FP32', [1, 3], [[1, 'NaN', 2]]).data).toEqual(new Float32Array([1, NaN, 2]));
  });

  it('accepts empty tensors and scalars', () => {
    expect(decodeOne('FP32', [0, 4], []).data).toEqual(new Float32Array(0));
    expect(decodeOne('FP32', [2, 0], [[], []]).data).toEqual(new Float32Array(0));
    expect(decodeOne('INT64', [], [7]).data).toEqual(new BigInt64Array([7n]));
  });

  it('accepts NaN and infinities as strings for every float type, in any case', () => {
    const specials = ['NaN', 'Infinity', '-Infinity', 'nan', 'inf', '-inf', 'INF', '-Inf', 'infinity', '+inf', 'NAN'];
    const expected = [NaN, Infinity, -Infinity, NaN, Infinity, -Infinity, Infinity, -Infinity, Infinity, Infinity, NaN];
    expect(Array.from(decodeOne('FP32', [11], specials).data as Float32Array)).toEqual(expected);
    expect(Array.from(decodeOne('FP64', [11], specials).data as Float64Array)).toEqual(expected);
    const half = decodeOne('FP16', [3], ['NaN', 'inf', '-Infinity']).data as Uint16Array;
    expect(Array.from(half)).toEqual([0x7e00, 0x7c00, 0xfc00]);
  });

  it('converts FP16 to half bits: 1.5, 65504, subnormals, overflow, NaN and infinities', () => {
    const t = decodeOne('FP16', [10], [1.5, 65504, 2 ** -24, 2 ** -14, 2 ** -25, 3 * 2 ** -25, 65520, -0.0001, 'NaN', -65504]);
    expect(Array.from(t.data as Uint16Array)).toEqual([
      0x3e00, // 1.5
      0x7bff, // largest half
      0x0001, // smallest subnormal
      0x0400, // smallest normal
      0x0000, // half of the smallest subnormal rounds to even (zero)
      0x0002, // 1.5 subnormal steps rounds to even (two)
      0x7c00, // beyond the largest half rounds to infinity
      0x868e, // -0.0001 ≈ -1.0006e-4
      0x7e00,
      0xfbff,
    ]);
    expect(roundTripData(t)).toEqual([1.5, 65504, 2 ** -24, 2 ** -14, 0, 2 ** -23, 'Infinity', -0.00010001659393310547, 'NaN', -65504]);
  });

  it('accepts INT64 and UINT64 beyond 2^53 as decimal strings and writes them back with every digit', () => {
    const i64 = decodeOne('INT64', [5], ['9223372036854775807', '-9223372036854775808', '9007199254740993', -5, '0']);
    expect(i64.data).toEqual(new BigInt64Array([9223372036854775807n, -9223372036854775808n, 9007199254740993n, -5n, 0n]));
    const u64 = decodeOne('UINT64', [2], ['18446744073709551615', 12]);
    expect(u64.data).toEqual(new BigUint64Array([18446744073709551615n, 12n]));
    const json = encodeInferResponse({ modelName: 'm', outputs: [i64, u64] });
    expect(json).toContain('"data":[9223372036854775807,-9223372036854775808,9007199254740993,-5,0]');
    expect(json).toContain('"data":[18446744073709551615,12]');
  });

  it('stores negative and large safe INT64 numbers exactly (two\'s complement words)', () => {
    const values = [0, 1, -1, 4294967295, 4294967296, -4294967296, -4294967297, 2 ** 53 - 1, -(2 ** 53 - 1), 123456789012345, -123456789012345];
    const t = decodeOne('INT64', [values.length], values);
    expect(Array.from(t.data as BigInt64Array)).toEqual(values.map((v) => BigInt(v)));
  });

  describe('rejects', () => {
    it('a body that is not an object', () => {
      expectError(() => decodeInferRequest([1]), 'INVALID_ARGUMENT', 'request body: expected a JSON object with "inputs", got an array');
      expectError(() => decodeInferRequest(null), 'INVALID_ARGUMENT', 'request body: expected a JSON object with "inputs", got null');
    });

    it('a missing or empty inputs array', () => {
      const e = expectError(() => decodeInferRequest({ id: 'a' }), 'INVALID_ARGUMENT', 'inputs: expected a non-empty array of input tensors, got nothing');
      expect(e.context.field).toBe('inputs');
      expectError(() => decodeInferRequest({ inputs: [] }), 'INVALID_ARGUMENT', 'inputs: expected a non-empty array of input tensors, got an empty array');
      expectError(() => decodeInferRequest({ inputs: {} }), 'INVALID_ARGUMENT', 'inputs: expected a non-empty array of input tensors, got an object');
    });

    it('a non-string id and non-object parameters', () => {
      expectError(() => decodeInferRequest({ id: 5, inputs: [] }), 'INVALID_ARGUMENT', 'id: expected a string, got 5');
      expectError(() => decodeInferRequest({ parameters: [1], inputs: [] }), 'INVALID_ARGUMENT', 'parameters: expected an object, got an array');
    });

    it('an input entry that is not an object or has no name', () => {
      expectError(() => decodeInferRequest({ inputs: [7] }), 'INVALID_ARGUMENT', 'inputs[0]: expected an object with name, shape, datatype and data, got 7');
      expectError(() => decodeInferRequest({ inputs: [{ shape: [1], datatype: 'FP32', data: [1] }] }), 'INVALID_ARGUMENT', 'inputs[0].name: expected a non-empty string, got nothing');
      expectError(() => decodeInferRequest({ inputs: [{ name: '', shape: [1], datatype: 'FP32', data: [1] }] }), 'INVALID_ARGUMENT', 'inputs[0].name: expected a non-empty string, got ""');
    });

    it('a shape that is not an array of non-negative integers', () => {
      expectError(() => decodeOne('FP32', [1, -1], [1]), 'INVALID_INPUT', 'input "x": shape must be an array of non-negative integers, got [1,-1]');
      expectError(() => decodeOne('FP32', [1.5], [1]), 'INVALID_INPUT', 'input "x": shape must be an array of non-negative integers, got [1.5]');
      expectError(() => decodeOne('FP32', '1,2', [1]), 'INVALID_INPUT', 'input "x": shape must be an array of non-negative integers, got "1,2"');
      expectError(() => decodeOne('FP32', undefined, [1]), 'INVALID_INPUT', 'input "x": shape must be an array of non-negative integers, got nothing');
    });

    it('an unknown datatype, with a hint for numpy spellings', () => {
      const e = expectError(() => decodeOne('float32', [1], [1]), 'INVALID_INPUT',
        'input "x": datatype must be one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES, got "float32" (did you mean "FP32"?)');
      expect(e.context).toMatchObject({ field: 'x', got: 'float32' });
      expectError(() => decodeOne('FP8', [1], [1]), 'INVALID_INPUT', /got "FP8"$/);
    });

    it('missing or non-array data, and binary data in a JSON body', () => {
      expectError(() => decodeOne('FP32', [1], undefined), 'INVALID_INPUT', 'input "x": data must be an array (flat or nested, row-major), got nothing');
      expectError(() => decodeOne('FP32', [1], 5), 'INVALID_INPUT', 'input "x": data must be an array (flat or nested, row-major), got 5');
      expectError(() => decodeInferRequest({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] }),
        'INVALID_INPUT', /^input "x": data is declared binary \(parameters.binary_data_size\)/);
      expectError(() => decodeInferRequest({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1], parameters: 3 }] }),
        'INVALID_INPUT', 'input "x": parameters must be an object, got 3');
    });

    it('an element count that does not match the shape', () => {
      const e = expectError(() => decodeOne('FP32', [1, 30], new Array(29).fill(0), 'input'), 'INVALID_INPUT', 'input "input": shape [1, 30] needs 30 elements, got 29');
      expect(e.context).toMatchObject({ field: 'input', expected: 30, got: 29 });
      expectError(() => decodeOne('FP32', [2, 2], [[1, 2], [3, 4, 5]]), 'INVALID_INPUT', 'input "x": shape [2, 2] needs 4 elements, got 5');
    });

    it('unevenly nested data', () => {
      expectError(() => decodeOne('FP32', [2, 2], [[1, 2], 3, 4]), 'INVALID_INPUT', /^input "x": data is nested 2 levels deep in a way that does not match shape \[2, 2\]/);
      expectError(() => decodeOne('FP32', [2], [1, [2, 3]]), 'INVALID_INPUT', 'input "x" element 1: expected a number (or "NaN", "Infinity", "-Infinity") for FP32, got an array (data is nested unevenly)');
    });

    it('nesting that groups elements differently from the shape', () => {
      expectError(() => decodeOne('FP32', [1, 4], [[[[1, 2, 3, 4]]]]), 'INVALID_INPUT', /nested 4 levels deep in a way that does not match shape \[1, 4\]; send it flat/);
      expectError(() => decodeOne('FP32', [2, 3], [[1, 2], [3, 4], [5, 6]]), 'INVALID_INPUT', /does not match shape \[2, 3\]; send it flat, or nested as \[2, 3\]/);
      // rows of an image may come flattened: [N, 1, 2, 2] as N arrays of 4
      expect(Array.from(decodeOne('FP32', [2, 1, 2, 2], [[1, 2, 3, 4], [5, 6, 7, 8]]).data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it('data nested deeper than 32 levels', () => {
      let deep: unknown = [1];
      for (let i = 0; i < 40; i++) deep = [deep];
      expectError(() => decodeOne('FP32', [1], deep), 'INVALID_INPUT', 'input "x": data is nested deeper than 32 levels; send it flat in row-major order');
    });

    it('out-of-range and non-integer values for integer types, naming the element', () => {
      const data = new Array<number>(20).fill(1);
      data[17] = 300;
      data[18] = -1;
      const e = expectError(() => decodeOne('UINT8', [20], data), 'INVALID_INPUT', 'input "x" element 17: expected an integer in [0, 255] for UINT8, got 300');
      expect(e.context).toMatchObject({ field: 'x', element: 17, got: 300 });
      expectError(() => decodeOne('INT32', [2], [1, 1.5]), 'INVALID_INPUT', 'input "x" element 1: expected an integer in [-2147483648, 2147483647] for INT32, got 1.5');
      expectError(() => decodeOne('INT8', [1], [128]), 'INVALID_INPUT', 'input "x" element 0: expected an integer in [-128, 127] for INT8, got 128');
      expectError(() => decodeOne('INT16', [1], ['5']), 'INVALID_INPUT', 'input "x" element 0: expected an integer in [-32768, 32767] for INT16, got "5"');
      expectError(() => decodeOne('UINT16', [1], [null]), 'INVALID_INPUT', 'input "x" element 0: expected an integer in [0, 65535] for UINT16, got null');
      expectError(() => decodeOne('UINT32', [1], [-1]), 'INVALID_INPUT', 'input "x" element 0: expected an integer in [0, 4294967295] for UINT32, got -1');
      expectError(() => decodeOne('INT32', [1], [true]), 'INVALID_INPUT', /got true$/);
    });

    it('INT64 values that are unsafe numbers, malformed strings or out of range', () => {
      expectError(() => decodeOne('INT64', [1], [2 ** 60]), 'INVALID_INPUT',
        'input "x" element 0: expected an integer in [-9223372036854775808, 9223372036854775807] for INT64 (a JSON number within ±9007199254740991, or a decimal string), got 1152921504606847000 (a JSON number beyond 2^53 has already lost precision; send it as a decimal string)');
      for (const bad of ['9223372036854775808', '-9223372036854775809', '12abc', '', ' 1', '0x10', '1e3', '-', '1.0']) {
        const e = expectError(() => decodeOne('INT64', [2], [0, bad]), 'INVALID_INPUT', /^input "x" element 1: expected an integer in \[-9223372036854775808, 9223372036854775807\] for INT64/);
        expect(e.message.endsWith(`got ${JSON.stringify(bad)}`)).toBe(true);
      }
      expectError(() => decodeOne('UINT64', [1], [-1]), 'INVALID_INPUT', 'input "x" element 0: expected an integer in [0, 18446744073709551615] for UINT64 (a JSON number up to 9007199254740991, or a decimal string), got -1');
      expectError(() => decodeOne('UINT64', [1], ['18446744073709551616']), 'INVALID_INPUT', /got "18446744073709551616"$/);
      expectError(() => decodeOne('INT64', [1], [0.5]), 'INVALID_INPUT', /got 0.5$/);
    });

    it('non-numbers and unknown strings for float types', () => {
      expectError(() => decodeOne('FP32', [2], [1, '1.5']), 'INVALID_INPUT', 'input "x" element 1: expected a number (or "NaN", "Infinity", "-Infinity") for FP32, got "1.5"');
      expectError(() => decodeOne('FP64', [1], [null]), 'INVALID_INPUT', 'input "x" element 0: expected a number (or "NaN", "Infinity", "-Infinity") for FP64, got null');
      expectError(() => decodeOne('FP16', [1], ['infinite']), 'INVALID_INPUT', 'input "x" element 0: expected a number (or "NaN", "Infinity", "-Infinity") for FP16, got "infinite"');
      expectError(() => decodeOne('FP32', [1], [{}]), 'INVALID_INPUT', /got an object$/);
    });

    it('anything but true/false for BOOL and anything but strings for BYTES', () => {
      expectError(() => decodeOne('BOOL', [2], [true, 1]), 'INVALID_INPUT', 'input "x" element 1: expected true or false for BOOL, got 1');
      expectError(() => decodeOne('BOOL', [1], ['true']), 'INVALID_INPUT', 'input "x" element 0: expected true or false for BOOL, got "true"');
      expectError(() => decodeOne('BYTES', [2], ['a', 3]), 'INVALID_INPUT', 'input "x" element 1: expected a string for BYTES, got 3');
    });

    it('only the first bad element, with long strings shortened', () => {
      const e = expectError(() => decodeOne('FP32', [3], [1, 'x'.repeat(100), 'also bad']), 'INVALID_INPUT', /element 1: .*got "x{40}…"$/);
      expect(e.message).not.toContain('also bad');
    });

    it('duplicate input names', () => {
      const input = { name: 'x', shape: [1], datatype: 'FP32', data: [1] };
      expectError(() => decodeInferRequest({ inputs: [input, { ...input, name: 'y' }, input] }), 'INVALID_INPUT',
        'input "x" appears twice (inputs[0] and inputs[2]); each input name must be unique');
    });

    it('malformed requested outputs', () => {
      const inputs = [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }];
      expectError(() => decodeInferRequest({ inputs, outputs: {} }), 'INVALID_ARGUMENT', 'outputs: expected an array of {"name": ...}, got an object');
      expectError(() => decodeInferRequest({ inputs, outputs: [{ name: 3 }] }), 'INVALID_ARGUMENT', 'outputs[0]: expected an object with a non-empty string "name", got name 3');
      expectError(() => decodeInferRequest({ inputs, outputs: [{ name: 'a' }, { name: 'a' }] }), 'INVALID_ARGUMENT', 'outputs: "a" is requested twice (outputs[0] and outputs[1])');
      expectError(() => decodeInferRequest({ inputs, outputs: [{ name: 'a', parameters: 'x' }] }), 'INVALID_ARGUMENT', 'outputs[0].parameters: expected an object, got "x"');
    });

    it('more elements over all inputs than maxTensorElements, as a 413 naming the input, the limit and the count', () => {
      const limits = { maxTensorElements: 100 };
      const input = (name: string, shape: number[]): Record<string, unknown> => ({ name, shape, datatype: 'FP32', data: [] });
      let e = expectError(() => decodeInferRequest({ inputs: [input('big', [10, 11])] }, limits), 'PAYLOAD_TOO_LARGE',
        'input "big": shape [10,11] describes: 110 elements in all, more than the limit of 100 per request (hardening.maxTensorElements); send fewer rows per request or raise the limit');
      expect(e.status).toBe(413);
      expect(e.context).toMatchObject({ field: 'big', expected: 'at most 100 elements', got: 110 });
      // the sum over inputs counts, and the input that crosses the limit is named
      e = expectError(() => decodeInferRequest({ inputs: [input('a', [60]), input('b', [50])] }, limits), 'PAYLOAD_TOO_LARGE',
        /^input "b": with the inputs before it, the request describes: 110 elements/);
      expect(e.context['field']).toBe('b');
      // exactly at the limit decodes
      expect(decodeInferRequest({ inputs: [{ name: 'a', shape: [10, 10], datatype: 'BOOL', data: new Array(100).fill(true) }] }, limits).inputs[0]!.shape).toEqual([10, 10]);
    });

    it('a huge shape before allocating anything, even when the data is short', () => {
      // 2^52 elements would be a RangeError (or an out-of-memory) if the decoder allocated first
      const e = expectError(() => decodeOne('FP64', [2 ** 20, 2 ** 20, 2 ** 12], [1]), 'PAYLOAD_TOO_LARGE', /shape \[1048576,1048576,4096\] describes: 4503599627370496 elements in all, more than the limit of 16000000/);
      expect(e.status).toBe(413);
      // one dimension beyond the limit is refused even beside a 0
      expectError(() => decodeOne('FP32', [0, 2 ** 40], []), 'PAYLOAD_TOO_LARGE', /^input "x": dimension 1 of shape \[0,1099511627776\] is 1099511627776/);
      // many large dimensions never overflow to Infinity (or NaN beside a 0)
      const many = new Array<number>(60).fill(4096);
      expectError(() => decodeOne('FP32', many, []), 'PAYLOAD_TOO_LARGE', /more than the limit of 16000000/);
      expect(decodeOne('FP32', [...many, 0], []).data).toHaveLength(0);
    });

    it('shapes with unsafe, infinite or non-number dimensions', () => {
      for (const dim of [2 ** 53, 1e300, -0.5, '3', null, [2]]) {
        expectError(() => decodeOne('FP32', [1, dim], [1]), 'INVALID_INPUT', /^input "x": shape must be an array of non-negative integers/);
      }
    });

    it('many inputs in linear time (duplicate names found with a map)', () => {
      const inputs = Array.from({ length: 50_000 }, (_, i) => ({ name: `i${i}`, shape: [0], datatype: 'FP32', data: [] }));
      const t0 = performance.now();
      expect(decodeInferRequest({ inputs }).inputs).toHaveLength(50_000);
      inputs.push({ name: 'i7', shape: [0], datatype: 'FP32', data: [] });
      expectError(() => decodeInferRequest({ inputs }), 'INVALID_INPUT', 'input "i7" appears twice (inputs[7] and inputs[50000]); each input name must be unique');
      const outputs = Array.from({ length: 50_000 }, (_, i) => ({ name: `o${i}` }));
      expect(decodeInferRequest({ inputs: inputs.slice(0, 1), outputs }).outputs).toHaveLength(50_000);
      // O(n²) comparisons would take tens of seconds here
      expect(performance.now() - t0).toBeLessThan(5000);
    });
  });
});

describe('encodeInferResponse', () => {
  it('writes the canonical v2 response with flat data, omitting absent id and parameters', () => {
    const json = encodeInferResponse({
      modelName: 'breast-cancer',
      modelVersion: '3',
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [2], data: new BigInt64Array([1n, 0n]) },
        { name: 'probabilities', datatype: 'FP32', shape: [2, 2], data: new Float32Array([0.25, 0.75, 1, 0]) },
      ],
    });
    expect(json).toBe('{"model_name":"breast-cancer","model_version":"3","outputs":['
      + '{"name":"label","datatype":"INT64","shape":[2],"data":[1,0]},'
      + '{"name":"probabilities","datatype":"FP32","shape":[2,2],"data":[0.25,0.75,1,0]}]}');
  });

  it('includes id, parameters and per-output parameters when present', () => {
    const json = encodeInferResponse({
      modelName: 'm', id: 'abc"1', parameters: { sequence_id: 4 },
      outputs: [{ name: 'y', datatype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]), parameters: { note: 'x' } }],
    });
    expect(JSON.parse(json)).toEqual({
      model_name: 'm', id: 'abc"1', parameters: { sequence_id: 4 },
      outputs: [{ name: 'y', datatype: 'BOOL', shape: [2], parameters: { note: 'x' }, data: [true, false] }],
    });
    expect(json.indexOf('"id"')).toBeLessThan(json.indexOf('"outputs"'));
  });

  it('prints float32 values so they round-trip exactly', () => {
    const f = new Float32Array([0.1, 1 / 3, 3.4028234663852886e38, 1.401298464324817e-45, -123.456]);
    const back = roundTripData({ name: 'y', datatype: 'FP32', shape: [5], data: f }) as number[];
    expect(new Float32Array(back)).toEqual(f);
    const d = new Float64Array([0.1, Math.PI, Number.MAX_VALUE, 5e-324]);
    expect(roundTripData({ name: 'y', datatype: 'FP64', shape: [4], data: d })).toEqual(Array.from(d));
  });

  it('writes NaN and infinities as strings so the body stays valid JSON', () => {
    for (const dt of ['FP32', 'FP64'] as const) {
      const data = dt === 'FP32' ? new Float32Array([1, NaN, Infinity, -Infinity, 0]) : new Float64Array([1, NaN, Infinity, -Infinity, 0]);
      const s = encodeTensorData(dt, data);
      expect(s).toBe('[1,"NaN","Infinity","-Infinity",0]');
      expect(() => JSON.parse(s)).not.toThrow();
    }
    expect(encodeTensorData('FP16', new Uint16Array([0x3e00, 0x7e00, 0x7c00, 0xfc00, 0x0001]))).toBe(`[1.5,"NaN","Infinity","-Infinity",${2 ** -24}]`);
  });

  it('decodes the strings it writes for non-finite floats back to the same values', () => {
    const t: Tensor = { name: 'y', datatype: 'FP32', shape: [3], data: new Float32Array([NaN, -Infinity, 2]) };
    const body = JSON.parse(encodeInferResponse({ modelName: 'm', outputs: [t] })) as { outputs: unknown[] };
    expect(decodeInferRequest({ inputs: body.outputs }).inputs[0]).toEqual(t);
  });

  it('escapes BYTES strings correctly: quotes, backslashes, newlines, control characters and unicode', () => {
    const strings = ['say "hi"', 'back\\slash', 'line1\nline2\r\ttab', '\u0000\u0001\u001f', 'héllo wörld', '日本語', '😀 emoji', '\u2028\u2029', '</script>'];
    const json = encodeTensorData('BYTES', strings);
    expect(JSON.parse(json)).toEqual(strings);
    expect(json).not.toMatch(/[\n\r\u0000]/);
    const decoded = decodeOne('BYTES', [strings.length], JSON.parse(json));
    expect(decoded.data).toEqual(strings);
  });

  it('writes all integer types as plain JSON numbers', () => {
    expect(encodeTensorData('INT8', new Int8Array([-128, 0, 127]))).toBe('[-128,0,127]');
    expect(encodeTensorData('UINT32', new Uint32Array([4294967295]))).toBe('[4294967295]');
    expect(encodeTensorData('INT32', new Int32Array(0))).toBe('[]');
    expect(encodeTensorData('FP32', new Float32Array(0))).toBe('[]');
    expect(encodeTensorData('BOOL', new Uint8Array(0))).toBe('[]');
    expect(encodeTensorData('UINT64', new BigUint64Array([18446744073709551615n]))).toBe('[18446744073709551615]');
  });

  it('escapes model names and output names', () => {
    const json = encodeInferResponse({ modelName: 'a"b\n', outputs: [{ name: 'o"ut', datatype: 'FP32', shape: [0], data: new Float32Array(0) }] });
    expect(JSON.parse(json)).toEqual({ model_name: 'a"b\n', outputs: [{ name: 'o"ut', datatype: 'FP32', shape: [0], data: [] }] });
  });
});

describe('encodeError', () => {
  it('writes {"error": message} with the message escaped', () => {
    expect(encodeError('input "x": bad')).toBe('{"error":"input \\"x\\": bad"}');
    expect(JSON.parse(encodeError('a\nb'))).toEqual({ error: 'a\nb' });
  });
});
