import { stat } from 'node:fs/promises';
import { expect } from 'vitest';
import { BerthError } from '../../src/core/index.js';

/** Await `p`, expect it to fail with a BerthError of `code`, and return that error. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<BerthError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe(code);
    return err as BerthError;
  }
  throw new Error(`expected ${code}`);
}

/** Whether anything is at `p`. */
export async function pathExists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
