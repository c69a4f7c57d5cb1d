import { BerthError } from './errors.js';

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/i;

/** Validate a model, deployment or alias name; throws INVALID_ARGUMENT naming the field. */
export function assertName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME_RE.test(value)) {
    throw new BerthError(
      'INVALID_ARGUMENT',
      `${field}: expected 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit, got ${JSON.stringify(value)}`,
      { field, expected: NAME_RE.source, got: value },
    );
  }
  return value;
}

/**
 * A reference to a model version: `name` (latest), `name@3` (version 3) or `name@production` (alias).
 * Parsed and validated once; a value object after that.
 */
export class ModelRef {
  private constructor(
    readonly name: string,
    readonly selector: { kind: 'latest' } | { kind: 'version'; version: number } | { kind: 'alias'; alias: string },
  ) {}

  static parse(text: string): ModelRef {
    const at = text.indexOf('@');
    const name = assertName('model', at < 0 ? text : text.slice(0, at));
    if (at < 0) return new ModelRef(name, { kind: 'latest' });
    const sel = text.slice(at + 1);
    if (/^[0-9]+$/.test(sel) && Number(sel) > 0) return new ModelRef(name, { kind: 'version', version: Number(sel) });
    return new ModelRef(name, { kind: 'alias', alias: assertName('alias', sel) });
  }

  static version(name: string, version: number): ModelRef {
    return new ModelRef(assertName('model', name), { kind: 'version', version });
  }

  static alias(name: string, alias: string): ModelRef {
    return new ModelRef(assertName('model', name), { kind: 'alias', alias: assertName('alias', alias) });
  }

  toString(): string {
    const s = this.selector;
    return s.kind === 'latest' ? this.name : `${this.name}@${s.kind === 'version' ? s.version : s.alias}`;
  }
}
