import { BerthError, assertName } from '../core/index.js';
import type { DeploymentSettings, DeploymentTarget } from './records.js';

/** Each setting and the smallest value it accepts (0 means "off" or "at once" where allowed). */
const SETTING_MINIMUMS = {
  maxBatchSize: 1,
  maxQueueDelayMs: 0,
  maxQueueSize: 1,
  timeoutMs: 1,
  minLoaded: 0,
  idleUnloadMs: 0,
} as const satisfies Record<keyof DeploymentSettings, number>;

/** Every deployment setting, in a fixed order (also the order they are stored in). */
export const DEPLOYMENT_SETTING_KEYS = Object.keys(SETTING_MINIMUMS) as (keyof DeploymentSettings)[];

/**
 * Check deployment settings, reporting every problem at once (INVALID_ARGUMENT naming each field).
 * Returns a copy with keys in canonical order.
 */
export function validateDeploymentSettings(raw: unknown): DeploymentSettings {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new BerthError('INVALID_ARGUMENT', `settings: expected an object of ${DEPLOYMENT_SETTING_KEYS.join(', ')}, got ${JSON.stringify(raw)}`, {
      field: 'settings',
      got: raw,
    });
  }
  const input = raw as Record<string, unknown>;
  const problems: string[] = [];
  const out: DeploymentSettings = {};
  for (const key of Object.keys(input)) {
    if (!(key in SETTING_MINIMUMS) && input[key] !== undefined) {
      problems.push(`settings.${key}: unknown setting (expected one of ${DEPLOYMENT_SETTING_KEYS.join(', ')})`);
    }
  }
  for (const key of DEPLOYMENT_SETTING_KEYS) {
    const v = input[key];
    if (v === undefined) continue;
    const min = SETTING_MINIMUMS[key];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= min) out[key] = v;
    else problems.push(`settings.${key}: expected an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  if (problems.length > 0) {
    const field = problems[0]!.slice(0, problems[0]!.indexOf(':'));
    throw new BerthError('INVALID_ARGUMENT', `invalid deployment settings:\n  ${problems.join('\n  ')}`, { field, problems });
  }
  return out;
}

/** Check a deployment target: `{kind: 'alias', alias}` or `{kind: 'version', version}`. */
export function validateDeploymentTarget(raw: unknown): DeploymentTarget {
  const t = raw as Partial<Record<string, unknown>> | null;
  if (t && typeof t === 'object' && t['kind'] === 'alias') {
    return { kind: 'alias', alias: assertName('target.alias', t['alias']) };
  }
  if (t && typeof t === 'object' && t['kind'] === 'version') {
    const v = t['version'];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1) return { kind: 'version', version: v };
    throw new BerthError('INVALID_ARGUMENT', `target.version: expected a version number >= 1, got ${JSON.stringify(v)}`, {
      field: 'target.version',
      got: v,
    });
  }
  throw new BerthError(
    'INVALID_ARGUMENT',
    `target: expected {"kind": "alias", "alias": "<alias>"} or {"kind": "version", "version": <n>}, got ${JSON.stringify(raw)}`,
    { field: 'target', got: raw },
  );
}

/** Same targets? */
export function sameTarget(a: DeploymentTarget, b: DeploymentTarget): boolean {
  return a.kind === 'alias' ? b.kind === 'alias' && a.alias === b.alias : b.kind === 'version' && a.version === b.version;
}

/** Same settings (absent and undefined alike)? */
export function sameSettings(a: DeploymentSettings, b: DeploymentSettings): boolean {
  return DEPLOYMENT_SETTING_KEYS.every((k) => a[k] === b[k]);
}
