/**
 * A string dictionary keyed by UTF-8 bytes: a repeated value is found by hashing and comparing its bytes
 * in place (open addressing over typed arrays), so only a string new to the dictionary is ever decoded,
 * and a million distinct strings cost no per-entry objects beyond the strings themselves.
 */
export class ByteDictionary {
  readonly strings: string[] = [];
  private slots = new Int32Array(64).fill(-1);
  private hashes: Int32Array = new Int32Array(16);
  private starts: Int32Array = new Int32Array(16);
  private lengths: Int32Array = new Int32Array(16);
  private arena = new Uint8Array(256);
  private used = 0;

  /** A dictionary holding exactly `strings`, in order. */
  static of(strings: readonly string[]): ByteDictionary {
    const d = new ByteDictionary();
    for (const s of strings) {
      const bytes = Buffer.from(s, 'utf8');
      d.codeOf(bytes, 0, bytes.length, s);
    }
    return d;
  }

  /** The code of the bytes `[s, e)` of `buf` (`text` is their string when already known). */
  codeOf(buf: Buffer, s: number, e: number, text?: string): number {
    let h = 0x811c9dc5 | 0;
    for (let k = s; k < e; k++) h = Math.imul(h ^ buf[k]!, 0x01000193);
    const mask = this.slots.length - 1;
    const len = e - s;
    let at = h & mask;
    for (;;) {
      const code = this.slots[at]!;
      if (code < 0) break;
      if (this.hashes[code] === h && this.lengths[code] === len) {
        const base = this.starts[code]! - s;
        let k = s;
        while (k < e && this.arena[base + k] === buf[k]) k++;
        if (k === e) return code;
      }
      at = (at + 1) & mask;
    }
    const code = this.strings.length;
    this.strings.push(text ?? buf.toString('utf8', s, e));
    if (code === this.hashes.length) {
      this.hashes = growInt32(this.hashes);
      this.starts = growInt32(this.starts);
      this.lengths = growInt32(this.lengths);
    }
    if (this.used + len > this.arena.length) {
      const next = new Uint8Array(Math.max(this.arena.length * 2, this.used + len));
      next.set(this.arena.subarray(0, this.used));
      this.arena = next;
    }
    buf.copy(this.arena, this.used, s, e);
    this.hashes[code] = h;
    this.starts[code] = this.used;
    this.lengths[code] = len;
    this.used += len;
    this.slots[at] = code;
    if ((code + 1) * 2 > this.slots.length) this.rehash();
    return code;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(-1);
    const mask = slots.length - 1;
    for (let code = 0; code < this.strings.length; code++) {
      let at = this.hashes[code]! & mask;
      while (slots[at]! >= 0) at = (at + 1) & mask;
      slots[at] = code;
    }
    this.slots = slots;
  }
}

function growInt32(a: Int32Array): Int32Array {
  const next = new Int32Array(a.length * 2);
  next.set(a);
  return next;
}

