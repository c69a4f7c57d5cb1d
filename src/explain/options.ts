/**
 * What a caller may ask of an explanation, checked field by field: a bad value is a 400 that names
 * the field, what was expected and what came.
 */
import { BerthError } from '../core/index.js';

/** The methods. `auto` picks exact TreeSHAP when the model allows it, else Kernel SHAP. */
export const EXPLAIN_METHODS = ['auto', 'tree', 'tree-interventional', 'kernel', 'lime'] as const;
export type ExplainMethod = (typeof EXPLAIN_METHODS)[number];

/** Kernel SHAP's link: identity explains the output as it is; logit explains a probability in log-odds. */
export const LINKS = ['identity', 'logit'] as const;
export type Link = (typeof LINKS)[number];

/** A request's explanation options (everything optional). */
export interface ExplainOptions {
  method: ExplainMethod;
  /** Kernel SHAP: coalitions to evaluate (default 2,048) */
  budget: number;
  /** classifiers: the class whose probability is explained (default: each row's predicted class) */
  className?: string;
  /** Kernel SHAP: identity (default) or logit (classifiers' probabilities in log-odds) */
  link: Link;
  /** the sampler's seed: the same request gives the same answer */
  seed: number;
  /** answer rows explained before (same version, method and options) from the cache, and keep these */
  cache: boolean;
  /** LIME: perturbed samples per row (default 5,000) */
  samples: number;
}

export const DEFAULT_BUDGET = 2048;
const MAX_BUDGET = 1 << 20;

/** The option keys a body may carry beside its rows (the callers add their own payload keys). */
export const OPTION_KEYS = ['method', 'budget', 'class', 'link', 'seed', 'cache', 'samples'] as const;

function bad(field: string, expected: unknown, got: unknown, hint = ''): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${Array.isArray(expected) ? `one of ${expected.join(', ')}` : String(expected)}, got ${JSON.stringify(got)}${hint}`, {
    field, expected, got,
  });
}

/**
 * Read the options from a request body. `payloadKeys` are the keys that carry the rows
 * (`rows`/`instances`, or the v2 request's); anything else unknown is refused, so a misspelt
 * option is never ignored silently.
 */
export function parseExplainOptions(body: Record<string, unknown>, payloadKeys: readonly string[]): ExplainOptions {
  const known = new Set<string>([...OPTION_KEYS, ...payloadKeys]);
  const unknown = Object.keys(body).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new BerthError('INVALID_ARGUMENT', `request body: unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; the options are ${OPTION_KEYS.join(', ')}`, {
      field: unknown[0]!, expected: [...OPTION_KEYS], got: unknown,
    });
  }
  const out: ExplainOptions = { method: 'auto', budget: DEFAULT_BUDGET, link: 'identity', seed: 0, cache: false, samples: 5000 };
  const method = body['method'];
  if (method !== undefined) {
    if (typeof method !== 'string' || !(EXPLAIN_METHODS as readonly string[]).includes(method)) throw bad('method', [...EXPLAIN_METHODS], method);
    out.method = method as ExplainMethod;
  }
  const budget = body['budget'];
  if (budget !== undefined) {
    if (typeof budget !== 'number' || !Number.isInteger(budget) || budget < 2 || budget > MAX_BUDGET) throw bad('budget', `a whole number of coalitions from 2 to ${MAX_BUDGET}`, budget);
    out.budget = budget;
  }
  const cls = body['class'];
  if (cls !== undefined) {
    if (typeof cls !== 'string' && typeof cls !== 'number') throw bad('class', 'a class name (string) or label', cls);
    out.className = String(cls);
  }
  const link = body['link'];
  if (link !== undefined) {
    if (typeof link !== 'string' || !(LINKS as readonly string[]).includes(link)) throw bad('link', [...LINKS], link);
    out.link = link as Link;
  }
  const seed = body['seed'];
  if (seed !== undefined) {
    if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw bad('seed', 'a whole number from 0 to 2^32 − 1', seed);
    out.seed = seed;
  }
  const samples = body['samples'];
  if (samples !== undefined) {
    if (typeof samples !== 'number' || !Number.isInteger(samples) || samples < 10 || samples > MAX_BUDGET) throw bad('samples', `a whole number of LIME samples from 10 to ${MAX_BUDGET}`, samples);
    out.samples = samples;
  }
  const cache = body['cache'];
  if (cache !== undefined) {
    if (typeof cache !== 'boolean') throw bad('cache', 'true or false', cache);
    out.cache = cache;
  }
  return out;
}
