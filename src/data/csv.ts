import { open } from 'node:fs/promises';
import { BerthError } from '../core/index.js';
import { ByteDictionary } from './byte-dictionary.js';
import { StringColumnBuilder, describeNames, type Column, type Table } from './table.js';

/** Options of {@link readCsvFile} and {@link parseCsv}. */
export interface CsvOptions {
  /** Keep only these columns, in this order (default: every column, in the file's order). */
  columns?: readonly string[];
  /** Force a column's type instead of inferring it. A forced `double` column rejects non-numeric text. */
  types?: Readonly<Record<string, 'double' | 'string'>>;
  /** The field delimiter, one ASCII character (default `,`). */
  delimiter?: string;
  /** The name error messages give the input (default: the path for files, `CSV input` otherwise). */
  source?: string;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const CHUNK_BYTES = 4 << 20;

const MODE_SKIP = 0;
const MODE_NUMBER = 1;
const MODE_STRING = 2;

/**
 * Read a CSV file into a {@link Table}, streaming it in chunks.
 *
 * RFC 4180: fields may be quoted (`"a,b"`, `"say ""hi"""`, newlines inside quotes), lines end in LF or
 * CRLF, the first line is the header. An empty field is a missing value. A column is `double` when every
 * non-empty value is a number (`nan`, `inf`, `-inf`, `Infinity` included; NaN reads as missing), else
 * `string` (dictionary-coded). Blank lines are skipped.
 *
 * @throws BerthError INVALID_ARGUMENT for a row with the wrong number of fields, an unterminated quote,
 *   non-numeric text in a column forced to `double`, or unknown names in `opts.columns`/`opts.types`;
 *   each names the file and line.
 * @example
 * const table = await readCsvFile('reference.csv', { types: { zip: 'string' } });
 */
export async function readCsvFile(path: string, opts: CsvOptions = {}): Promise<Table> {
  const source = opts.source ?? path;
  const main = new CsvParser(source, opts, null);
  await streamFile(path, main);
  const replay = main.replayPlan();
  if (replay) {
    const again = new CsvParser(source, opts, replay);
    await streamFile(path, again);
    main.applyReplay(again);
  }
  return main.finish();
}

/**
 * Parse CSV text (a string or UTF-8 bytes) into a {@link Table}; the rules of {@link readCsvFile}.
 *
 * @example
 * parseCsv('a,b\n1,x\n,y\n'); // a: double [1, NaN], b: string ['x', 'y']
 */
export function parseCsv(input: string | Uint8Array, opts: CsvOptions = {}): Table {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const source = opts.source ?? 'CSV input';
  const main = new CsvParser(source, opts, null);
  main.sizeHint = buf.length;
  main.feed(buf, 0, true);
  const replay = main.replayPlan();
  if (replay) {
    const again = new CsvParser(source, opts, replay);
    again.feed(buf, 0, true);
    main.applyReplay(again);
  }
  return main.finish();
}

/** Feed a file to a parser in chunks, carrying an incomplete last record over to the next chunk. */
async function streamFile(path: string, parser: CsvParser): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BerthError('INVALID_ARGUMENT', `cannot read CSV file ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { file: path, field: 'path' }, { cause: err });
  }
  try {
    parser.sizeHint = (await fh.stat()).size;
    const file = fh;
    // Two buffers reused throughout (fresh memory is slow to touch): the next chunk is read into
    // `incoming` while `work` (the last record's tail + the previous chunk) is parsed.
    const incoming = Buffer.allocUnsafe(CHUNK_BYTES);
    let work = Buffer.allocUnsafe(2 * CHUNK_BYTES);
    let carry = 0; // bytes of an unfinished record at the start of `work`
    let needed = 0; // after a record outgrew a whole buffer: gather this many bytes before re-scanning it
    const readChunk = async (into: Buffer): Promise<number> => {
      let filled = 0;
      while (filled < into.length) {
        const { bytesRead } = await file.read(into, filled, into.length - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled;
    };
    let next: Promise<number> | null = readChunk(incoming);
    try {
      for (;;) {
        const got: number = await (next as Promise<number>);
        next = null;
        const eof = got < CHUNK_BYTES;
        if (carry + got > work.length) {
          const bigger = Buffer.allocUnsafe(Math.max(2 * work.length, carry + got));
          work.copy(bigger, 0, 0, carry);
          work = bigger;
        }
        incoming.copy(work, carry, 0, got);
        const length = carry + got;
        if (!eof) next = readChunk(incoming);
        if (!eof && length < needed) {
          carry = length;
          continue;
        }
        const used = parser.feed(work.subarray(0, length), 0, eof);
        if (eof || parser.done) return;
        needed = used === 0 ? 2 * length : 0;
        work.copy(work, 0, used, length);
        carry = length - used;
      }
    } finally {
      // never close the file under a read in flight
      if (next) await next.catch(() => undefined);
    }
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new BerthError('INVALID_ARGUMENT', `cannot read CSV file ${path}: ${(err as Error).message}`, { file: path, field: 'path' }, { cause: err });
  } finally {
    await fh.close();
  }
}

/** Which columns a second pass must read as strings, and for how many rows. */
interface ReplayPlan {
  columns: Map<number, number>; // file column index → rows to read (they were parsed as numbers)
  rows: number;
}

/** Set by parseNumber when the text is not a number (NaN alone cannot say it: "nan" is a number). */
let notANumber = false;

/**
 * The byte-scanning CSV state machine. `feed` parses complete records from a buffer and reports how much
 * it consumed; per column it keeps either a growing Float64Array (while every value is a number) or
 * dictionary codes.
 */
class CsvParser {
  done = false;
  private readonly delimiter: number;
  private header: string[] | null = null;
  private line = 1;
  private pendingCr = false;
  private rows = 0;
  private capacity = 0;
  /** Bytes of input before the current buffer, and the whole input's size if known (to size arrays). */
  private consumedBefore = 0;
  private position = 0;
  sizeHint = 0;
  // per field of a record
  private fieldStart = new Int32Array(64);
  private fieldEnd = new Int32Array(64);
  private fieldFlags = new Uint8Array(64); // 1 = quoted, 2 = has doubled quotes
  // per file column
  private slotOf: Int32Array = new Int32Array(0); // file column → output slot, -1 = dropped
  private mode: Uint8Array = new Uint8Array(0);
  private forced: Uint8Array = new Uint8Array(0); // 1 = forced double, 2 = forced string
  private numbers: (Float64Array | null)[] = [];
  private codes: (Int32Array | null)[] = [];
  private dictionaries: (ByteDictionary | null)[] = [];
  private numericSeen: Uint32Array = new Uint32Array(0); // non-empty numbers before a flip to string
  private flipRow: Float64Array = new Float64Array(0);
  private outNames: string[] = [];
  private outColumn: number[] = []; // output slot → file column

  constructor(
    private readonly source: string,
    private readonly opts: CsvOptions,
    private readonly replay: ReplayPlan | null,
  ) {
    const d = opts.delimiter ?? ',';
    if (d.length !== 1 || d.charCodeAt(0) > 0x7f || d === '"' || d === '\n' || d === '\r') {
      throw new BerthError('INVALID_ARGUMENT', `CSV delimiter must be one ASCII character other than a quote or newline, got ${JSON.stringify(d)}`, {
        field: 'delimiter',
        expected: 'one ASCII character',
        got: d,
      });
    }
    this.delimiter = d.charCodeAt(0);
  }

  /**
   * Parse the complete records in `buf` from `start`. When `final` is false, a record cut by the end of
   * the buffer is left for the next call; the return value is where it starts.
   */
  feed(buf: Buffer, start: number, final: boolean): number {
    const n = buf.length;
    const delim = this.delimiter;
    let i = start;
    if (this.pendingCr && i < n) {
      this.pendingCr = false;
      if (buf[i] === LF) i++;
    }
    if (this.header === null && this.line === 1 && i + 3 <= n && buf[i] === 0xef && buf[i + 1] === 0xbb && buf[i + 2] === 0xbf) i += 3;
    while (i < n && !this.done) {
      const recStart = i;
      const recLine = this.line;
      let b = buf[i]!;
      if (b === LF || b === CR) {
        // a blank line
        i++;
        if (b === CR) {
          if (i < n) {
            if (buf[i] === LF) i++;
          } else if (!final) this.pendingCr = true;
        }
        this.line++;
        continue;
      }
      let count = 0;
      let complete = false;
      let endedWithCr = false;
      for (;;) {
        let s = i;
        let e: number;
        let flags = 0;
        if (i < n && buf[i] === QUOTE) {
          flags = 1;
          i++;
          s = i;
          for (;;) {
            if (i >= n) {
              if (!final) return this.rewind(recStart, recLine, start);
              throw this.error(`unterminated quoted field (the quote opened on line ${recLine} never closes)`, recLine);
            }
            b = buf[i]!;
            if (b === QUOTE) {
              if (i + 1 >= n && !final) return this.rewind(recStart, recLine, start);
              if (buf[i + 1] === QUOTE) {
                flags = 3;
                i += 2;
                continue;
              }
              break;
            }
            if (b === LF || (b === CR && buf[i + 1] !== LF)) this.line++;
            i++;
          }
          e = i;
          i++;
          if (i < n) {
            b = buf[i]!;
            if (b !== delim && b !== LF && b !== CR) {
              throw this.error(`unexpected ${JSON.stringify(String.fromCharCode(b))} after a closing quote (a quote inside a quoted field must be doubled: "")`, this.line);
            }
          } else if (!final) return this.rewind(recStart, recLine, start);
        } else {
          while (i < n) {
            b = buf[i]!;
            if (b === delim || b === LF || b === CR) break;
            i++;
          }
          e = i;
          if (i >= n && !final) return this.rewind(recStart, recLine, start);
        }
        if (count < this.fieldStart.length) {
          this.fieldStart[count] = s;
          this.fieldEnd[count] = e;
          this.fieldFlags[count] = flags;
        } else if (this.header === null) {
          this.growFields();
          this.fieldStart[count] = s;
          this.fieldEnd[count] = e;
          this.fieldFlags[count] = flags;
        }
        count++;
        if (i >= n) {
          complete = true;
          break;
        }
        b = buf[i]!;
        if (b === delim) {
          i++;
          continue;
        }
        // end of the record: LF, CR or CRLF
        i++;
        if (b === CR) {
          if (i < n) {
            if (buf[i] === LF) i++;
          } else endedWithCr = true;
        }
        this.line++;
        complete = true;
        break;
      }
      if (!complete) break;
      if (endedWithCr && !final) this.pendingCr = true;
      this.position = i;
      if (this.header === null) this.takeHeader(buf, count, recLine);
      else this.takeRecord(buf, count, recLine);
    }
    this.consumedBefore += i - start;
    return i;
  }

  /** The plan for a second pass, when a column turned out to be text after some numbers. */
  replayPlan(): ReplayPlan | null {
    const columns = new Map<number, number>();
    let rows = 0;
    for (let slot = 0; slot < this.outColumn.length; slot++) {
      const r = this.flipRow[slot]!;
      if (r > 0 && this.numericSeen[slot]! > 0) {
        columns.set(this.outColumn[slot]!, r);
        rows = Math.max(rows, r);
      }
    }
    return columns.size > 0 ? { columns, rows } : null;
  }

  /** Take the first rows of the columns a second pass read as strings. */
  applyReplay(again: CsvParser): void {
    for (let slot = 0; slot < this.outColumn.length; slot++) {
      const flip = this.flipRow[slot]!;
      if (!(flip > 0 && this.numericSeen[slot]! > 0)) continue;
      const fileColumn = this.outColumn[slot]!;
      const otherSlot = again.slotOf[fileColumn]!;
      const merged = new StringColumnBuilder(this.outNames[slot]!, this.rows);
      merged.pushCodes(again.codes[otherSlot]!.subarray(0, flip), again.dictionaries[otherSlot]!.strings);
      merged.pushCodes(this.codes[slot]!.subarray(flip, this.rows), this.dictionaries[slot]!.strings);
      const built = merged.build();
      this.codes[slot] = built.codes;
      this.dictionaries[slot] = ByteDictionary.of(built.dictionary);
    }
  }

  /** The table parsed. */
  finish(): Table {
    if (this.header === null) {
      throw new BerthError('INVALID_ARGUMENT', `${this.source}: no header row (the input is empty); a CSV file must start with a line of column names`, {
        file: this.source,
        expected: 'a header row',
        got: 'empty input',
      });
    }
    const rows = this.rows;
    const columns: Column[] = this.outNames.map((name, slot): Column => {
      if (this.mode[slot] === MODE_NUMBER) return { name, type: 'double', values: trim(this.numbers[slot]!, rows) };
      const dictionary = this.dictionaries[slot]!.strings.slice();
      return { name, type: 'string', dictionary, codes: trim(this.codes[slot]!, rows) };
    });
    return { rows, columns };
  }

  /** Leave the record starting at `recStart` for the next buffer. */
  private rewind(recStart: number, recLine: number, start: number): number {
    this.line = recLine;
    this.consumedBefore += recStart - start;
    return recStart;
  }

  private growFields(): void {
    const size = this.fieldStart.length * 2;
    const s = new Int32Array(size);
    s.set(this.fieldStart);
    const e = new Int32Array(size);
    e.set(this.fieldEnd);
    const f = new Uint8Array(size);
    f.set(this.fieldFlags);
    this.fieldStart = s;
    this.fieldEnd = e;
    this.fieldFlags = f;
  }

  private takeHeader(buf: Buffer, count: number, line: number): void {
    const names: string[] = [];
    for (let f = 0; f < count; f++) {
      let name = fieldText(buf, this.fieldStart[f]!, this.fieldEnd[f]!, this.fieldFlags[f]!);
      if (name === '') name = `Unnamed: ${f}`;
      if (names.includes(name)) {
        throw new BerthError('INVALID_ARGUMENT', `${this.source}: line ${line}: the header names column ${JSON.stringify(name)} twice; column names must be unique`, {
          file: this.source,
          line,
          field: name,
          expected: 'unique column names',
          got: name,
        });
      }
      names.push(name);
    }
    this.header = names;
    const wanted = this.opts.columns ?? names;
    for (const name of [...wanted, ...Object.keys(this.opts.types ?? {})]) {
      if (!names.includes(name)) {
        throw new BerthError('INVALID_ARGUMENT', `${this.source}: no column ${JSON.stringify(name)} (the header has ${describeNames(names)})`, {
          file: this.source,
          field: name,
          expected: names,
          got: name,
        });
      }
    }
    this.slotOf = new Int32Array(count).fill(-1);
    const replay = this.replay;
    const outNames: string[] = [];
    const outColumn: number[] = [];
    for (const name of wanted) {
      const fileColumn = names.indexOf(name);
      if (this.slotOf[fileColumn]! >= 0) continue;
      if (replay && !replay.columns.has(fileColumn)) continue;
      this.slotOf[fileColumn] = outNames.length;
      outNames.push(name);
      outColumn.push(fileColumn);
    }
    this.outNames = outNames;
    this.outColumn = outColumn;
    const k = outNames.length;
    this.mode = new Uint8Array(k);
    this.forced = new Uint8Array(k);
    this.numbers = new Array<Float64Array | null>(k).fill(null);
    this.codes = new Array<Int32Array | null>(k).fill(null);
    this.dictionaries = new Array<ByteDictionary | null>(k).fill(null);
    this.numericSeen = new Uint32Array(k);
    this.flipRow = new Float64Array(k);
    this.capacity = 1024;
    for (let slot = 0; slot < k; slot++) {
      const name = outNames[slot]!;
      const forced = this.opts.types?.[name];
      if (forced !== undefined && forced !== 'double' && forced !== 'string') {
        throw new BerthError('INVALID_ARGUMENT', `CSV option types[${JSON.stringify(name)}] must be "double" or "string", got ${JSON.stringify(forced)}`, {
          field: `types.${name}`,
          expected: ['double', 'string'],
          got: forced,
        });
      }
      this.forced[slot] = forced === 'double' ? 1 : forced === 'string' ? 2 : 0;
      if (forced === 'string' || replay) this.toStringMode(slot, 0);
      else {
        this.mode[slot] = MODE_NUMBER;
        this.numbers[slot] = new Float64Array(this.capacity);
      }
    }
    while (this.fieldStart.length < count + 1) this.growFields();
  }

  private takeRecord(buf: Buffer, count: number, line: number): void {
    const header = this.header!;
    if (count !== header.length) {
      throw new BerthError('INVALID_ARGUMENT', `${this.source}: line ${line} has ${count} field${count === 1 ? '' : 's'}, expected ${header.length} (as many as the header)`, {
        file: this.source,
        line,
        expected: header.length,
        got: count,
      });
    }
    if (this.rows === this.capacity) this.grow();
    const row = this.rows;
    const slotOf = this.slotOf;
    const starts = this.fieldStart;
    const ends = this.fieldEnd;
    const mode = this.mode;
    const numbers = this.numbers;
    for (let f = 0; f < count; f++) {
      const slot = slotOf[f]!;
      if (slot < 0) continue;
      const s = starts[f]!;
      const e = ends[f]!;
      if (mode[slot] === MODE_NUMBER) {
        if (s === e) {
          numbers[slot]![row] = NaN;
          continue;
        }
        const v = parseNumber(buf, s, e);
        if (!notANumber) {
          numbers[slot]![row] = v;
          this.numericSeen[slot]!++;
          continue;
        }
        notANumber = false;
        this.notNumeric(buf, f, slot, row, line);
      }
      this.takeString(buf, f, slot, row);
    }
    this.rows = row + 1;
    if (this.replay && this.rows >= this.replay.rows) this.done = true;
  }

  /** Field `f` of the current record as a string value. */
  private takeString(buf: Buffer, f: number, slot: number, row: number): void {
    const s = this.fieldStart[f]!;
    const e = this.fieldEnd[f]!;
    const codes = this.codes[slot]!;
    if (s === e) codes[row] = -1;
    else if (this.fieldFlags[f]! & 2) {
      // doubled quotes: look the unescaped text up by its own bytes
      const text = fieldText(buf, s, e, 3);
      const bytes = Buffer.from(text, 'utf8');
      codes[row] = this.dictionaries[slot]!.codeOf(bytes, 0, bytes.length, text);
    } else codes[row] = this.dictionaries[slot]!.codeOf(buf, s, e);
  }

  /** A numeric column met text: an error if it is forced to double, else it becomes a string column. */
  private notNumeric(buf: Buffer, f: number, slot: number, row: number, line: number): void {
    if (this.forced[slot] === 1) {
      const value = fieldText(buf, this.fieldStart[f]!, this.fieldEnd[f]!, this.fieldFlags[f]!);
      const name = this.outNames[slot]!;
      throw new BerthError('INVALID_ARGUMENT', `${this.source}: line ${line}, column ${JSON.stringify(name)}: expected a number (the column is read as double), got ${JSON.stringify(value)}`, {
        file: this.source,
        line,
        field: name,
        expected: 'a number',
        got: value,
      });
    }
    this.toStringMode(slot, row);
  }

  /** Switch a column to dictionary codes from `row` on (earlier rows come from a second pass). */
  private toStringMode(slot: number, row: number): void {
    this.mode[slot] = MODE_STRING;
    this.flipRow[slot] = row;
    const codes = new Int32Array(this.capacity);
    // rows before the flip: missing if they were all empty, else filled by the second pass
    codes.fill(-1, 0, row);
    this.codes[slot] = codes;
    this.dictionaries[slot] = new ByteDictionary();
    this.numbers[slot] = null;
  }

  private grow(): void {
    let capacity = this.capacity * 2;
    const seen = this.consumedBefore + this.position;
    if (this.sizeHint > seen && this.rows >= 1024 && !this.replay) {
      // rows still to come, judged by the bytes per row so far, with a little slack
      const estimate = Math.ceil((this.rows * this.sizeHint) / seen * 1.02) + 1024;
      capacity = Math.max(Math.ceil(this.capacity * 1.25), estimate);
    }
    for (let slot = 0; slot < this.outNames.length; slot++) {
      const nums = this.numbers[slot];
      if (nums) {
        const next = new Float64Array(capacity);
        next.set(nums);
        this.numbers[slot] = next;
      }
      const codes = this.codes[slot];
      if (codes) {
        const next = new Int32Array(capacity);
        next.set(codes);
        this.codes[slot] = next;
      }
    }
    this.capacity = capacity;
  }

  private error(message: string, line: number): BerthError {
    return new BerthError('INVALID_ARGUMENT', `${this.source}: line ${line}: ${message}`, { file: this.source, line });
  }
}

/** The first `rows` values: a view when little capacity is wasted, else a copy. */
function trim<T extends Float64Array | Int32Array>(values: T, rows: number): T {
  return (values.length - rows <= rows / 16 ? values.subarray(0, rows) : values.slice(0, rows)) as T;
}

/** The text of a field, with doubled quotes undone. */
function fieldText(buf: Buffer, s: number, e: number, flags: number): string {
  const text = buf.toString('utf8', s, e);
  return flags & 2 ? text.replaceAll('""', '"') : text;
}

const POW10 = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
const MANTISSA_LIMIT = 2 ** 53;

/**
 * Parse a decimal number from bytes without making a string. Exact: a mantissa below 2^53 scaled by
 * at most 10^22 is one correctly rounded IEEE operation (Clinger's fast path); anything else goes through
 * `Number()`. Accepts surrounding blanks, a sign, `nan`, `inf`, `infinity` (any case). Sets `notANumber`
 * for other text.
 */
function parseNumber(buf: Uint8Array, start: number, end: number): number {
  let s = start;
  let e = end;
  while (s < e && (buf[s] === 0x20 || buf[s] === 0x09)) s++;
  while (e > s && (buf[e - 1] === 0x20 || buf[e - 1] === 0x09)) e--;
  if (s === e) return NaN;
  let i = s;
  let negative = false;
  let c = buf[i]!;
  if (c === 0x2d) {
    negative = true;
    i++;
  } else if (c === 0x2b) i++;
  let mantissa = 0;
  let exponent = 0;
  let digits = 0;
  let exact = true;
  while (i < e) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) break;
    digits++;
    if (mantissa < 9e14) mantissa = mantissa * 10 + d;
    else exact = false;
    i++;
  }
  if (i < e && buf[i] === 0x2e) {
    i++;
    while (i < e) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9) break;
      digits++;
      if (mantissa < 9e14) {
        mantissa = mantissa * 10 + d;
        exponent--;
      } else if (d !== 0) exact = false;
      i++;
    }
  }
  if (digits === 0) return parseSpecial(buf, i, e, negative);
  if (i < e && (buf[i] === 0x65 || buf[i] === 0x45)) {
    i++;
    let expNegative = false;
    if (i < e && (buf[i] === 0x2d || buf[i] === 0x2b)) {
      expNegative = buf[i] === 0x2d;
      i++;
    }
    const expStart = i;
    let exp = 0;
    while (i < e) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9) break;
      if (exp < 100000) exp = exp * 10 + d;
      i++;
    }
    if (i === expStart) {
      notANumber = true;
      return NaN;
    }
    exponent += expNegative ? -exp : exp;
  }
  if (i !== e) {
    notANumber = true;
    return NaN;
  }
  if (exact && mantissa < MANTISSA_LIMIT) {
    let v: number | undefined;
    if (exponent === 0) v = mantissa;
    else if (exponent > 0 && exponent <= 22) v = mantissa * POW10[exponent]!;
    else if (exponent < 0 && exponent >= -22) v = mantissa / POW10[-exponent]!;
    if (v !== undefined) return negative ? -v : v;
  }
  let text = '';
  for (let k = s; k < e; k++) text += String.fromCharCode(buf[k]!);
  return Number(text);
}

/** nan / inf / infinity in any case (the sign already read). */
function parseSpecial(buf: Uint8Array, s: number, e: number, negative: boolean): number {
  const len = e - s;
  if (len === 3 || len === 8) {
    let word = '';
    for (let k = s; k < e; k++) word += String.fromCharCode(buf[k]! | 0x20);
    if (word === 'nan') return NaN;
    if (word === 'inf' || word === 'infinity') return negative ? -Infinity : Infinity;
  }
  notANumber = true;
  return NaN;
}
