import { it } from 'vitest';
import { KllSketch, sortFloat64, createNumericProfile, updateNumericProfile } from '../../../src/monitor/profile/index.js';
import { generate } from './random.js';

it('bench', () => {
  const data = generate('lognormal', 1_000_000, 3);
  for (let rep = 0; rep < 4; rep++) {
    let t = performance.now();
    const buf = new Float64Array(32768);
    for (let off = 0; off < data.length; off += 32768) { const part = data.subarray(off, off + 32768); buf.set(part); sortFloat64(buf, part.length); }
    const sortMs = performance.now() - t;
    t = performance.now();
    const s = new KllSketch(); s.updateMany(data);
    const kllMs = performance.now() - t;
    t = performance.now();
    const p = createNumericProfile('x'); updateNumericProfile(p, data);
    const profMs = performance.now() - t;
    console.log(`sort ${sortMs.toFixed(1)} kll ${kllMs.toFixed(1)} profile ${profMs.toFixed(1)}`);
  }
});
