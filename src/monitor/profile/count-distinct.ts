/** Distinct values of a batch with their (weighted) counts, values ascending. */
export interface DistinctCounts {
  values: Float64Array;
  counts: Float64Array;
}

/** The most distinct values {@link countDistinct} will count. */
export const COUNT_DISTINCT_MAX_LIMIT = 4096;

// open addressing, 4× the largest limit; a generation stamp per slot instead of clearing the table
const SLOTS = 4 * COUNT_DISTINCT_MAX_LIMIT;
const slotKeys = new Float64Array(SLOTS);
const slotCounts = new Float64Array(SLOTS);
const slotStamp = new Uint32Array(SLOTS);
const slotList = new Int32Array(COUNT_DISTINCT_MAX_LIMIT + 1);
let generation = 0;
const hashCell = new Float64Array(1);
const hashWords = new Uint32Array(hashCell.buffer);

/**
 * Count the distinct finite values of `values` (NaN and ±Infinity skipped; −0 counted as 0), each with its count or summed
 * weight, giving up (null) as soon as there are more than `limit` (≤ 4096) of them — so a continuous
 * column costs a few thousand hash probes, not a pass. One hash probe per row, no allocation per row.
 */
export function countDistinct(values: Float64Array, weights: Float64Array | undefined, limit: number): DistinctCounts | null {
  if (limit > COUNT_DISTINCT_MAX_LIMIT) throw new RangeError(`countDistinct: limit ${limit} > ${COUNT_DISTINCT_MAX_LIMIT}`);
  generation = (generation + 1) >>> 0;
  if (generation === 0) {
    slotStamp.fill(0);
    generation = 1;
  }
  const stamp = generation;
  const mask = SLOTS - 1;
  let distinct = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]! + 0; // -0 → 0
    if (x - x !== 0) continue; // NaN, ±Infinity
    hashCell[0] = x;
    let s = Math.imul(hashWords[0]! ^ Math.imul(hashWords[1]!, 0x9e3779b1), 0x85ebca6b) >>> 18;
    while (slotStamp[s] === stamp && slotKeys[s] !== x) s = (s + 1) & mask;
    if (slotStamp[s] !== stamp) {
      if (distinct === limit) return null;
      slotStamp[s] = stamp;
      slotKeys[s] = x;
      slotCounts[s] = 0;
      slotList[distinct++] = s;
    }
    slotCounts[s] = slotCounts[s]! + (weights === undefined ? 1 : weights[i]!);
  }
  const order = Array.from(slotList.subarray(0, distinct)).sort((a, b) => slotKeys[a]! - slotKeys[b]!);
  return { values: Float64Array.from(order, (s) => slotKeys[s]!), counts: Float64Array.from(order, (s) => slotCounts[s]!) };
}
