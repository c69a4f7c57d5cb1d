import { BerthError, assertName } from '../core/index.js';
import { STICKY_SOURCES, type BreakerPolicy, type DeploymentSettings, type DeploymentTarget, type StickySource, type TrafficArm, type TrafficPolicy } from './records.js';

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

/** The circuit breaker when a policy names none: half the requests failing over 30 s, at least 20 requests. */
export const DEFAULT_BREAKER: BreakerPolicy = { errorPercent: 50, minRequests: 20, windowMs: 30_000 };

const TRAFFIC_KEYS = ['split', 'sticky', 'shadows', 'preview', 'fallback', 'fallbackWarmUntil', 'breaker'];

/**
 * Check a traffic policy, reporting every problem at once. Returns null for a policy that changes
 * nothing (no split, shadow, preview or fallback), so "all traffic to the target" has one spelling.
 * Version existence is the registry's check; this one is about shape and shares.
 */
export function validateTrafficPolicy(raw: unknown): TrafficPolicy | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new BerthError('INVALID_ARGUMENT', `traffic: expected an object with ${TRAFFIC_KEYS.join(', ')}, got ${JSON.stringify(raw)}`, {
      field: 'traffic',
      expected: 'object',
      got: raw,
    });
  }
  const t = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(t)) if (!TRAFFIC_KEYS.includes(k) && t[k] !== undefined) problems.push(`traffic.${k}: unknown field (expected one of ${TRAFFIC_KEYS.join(', ')})`);
  const arms = (key: 'split' | 'shadows'): TrafficArm[] => {
    const v = t[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      problems.push(`traffic.${key}: expected a list of {"version": n, "percent": p}, got ${JSON.stringify(v)}`);
      return [];
    }
    const out: TrafficArm[] = [];
    v.forEach((a: unknown, i) => {
      const f = `traffic.${key}[${i}]`;
      const o = a as Record<string, unknown> | null;
      if (o === null || typeof o !== 'object') return void problems.push(`${f}: expected {"version": n, "percent": p}, got ${JSON.stringify(a)}`);
      const version = o['version'];
      const percent = o['percent'];
      let ok = true;
      if (!(typeof version === 'number' && Number.isSafeInteger(version) && version >= 1)) {
        problems.push(`${f}.version: expected a version number >= 1, got ${JSON.stringify(version)}`);
        ok = false;
      }
      const lo = key === 'split' ? 0 : Number.MIN_VALUE;
      if (!(typeof percent === 'number' && Number.isFinite(percent) && percent >= lo && percent <= 100)) {
        problems.push(`${f}.percent: expected a number in ${key === 'split' ? '[0, 100]' : '(0, 100]'}, got ${JSON.stringify(percent)}`);
        ok = false;
      }
      if (ok && out.some((x) => x.version === version)) {
        problems.push(`${f}.version: version ${String(version)} is listed twice`);
        ok = false;
      }
      if (ok) out.push({ version: version as number, percent: percent as number });
    });
    return out;
  };
  const split = arms('split');
  const shadows = arms('shadows');
  const total = split.reduce((s, a) => s + a.percent, 0);
  if (total > 100 + 1e-9) problems.push(`traffic.split: the shares add up to ${total}%, more than 100%`);
  for (const s of shadows) {
    if (split.some((a) => a.version === s.version)) problems.push(`traffic.shadows: version ${s.version} already answers a share of traffic; a version is either an arm or a shadow`);
  }
  let sticky: TrafficPolicy['sticky'] = null;
  if (t['sticky'] !== undefined && t['sticky'] !== null) {
    const st = t['sticky'] as Record<string, unknown>;
    const from = st?.['from'];
    const name = st?.['name'];
    if (typeof st !== 'object' || !(STICKY_SOURCES as readonly unknown[]).includes(from) || typeof name !== 'string' || name.length === 0 || name.length > 128) {
      problems.push(`traffic.sticky: expected {"from": ${STICKY_SOURCES.map((x) => `"${x}"`).join('|')}, "name": "<header, parameter or input name>"}, got ${JSON.stringify(t['sticky'])}`);
    } else {
      sticky = { from: from as StickySource, name: from === 'header' ? name.toLowerCase() : name };
    }
  }
  const optVersion = (key: 'preview' | 'fallback'): number | null => {
    const v = t[key];
    if (v === undefined || v === null) return null;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 1) return v;
    problems.push(`traffic.${key}: expected a version number >= 1 or null, got ${JSON.stringify(v)}`);
    return null;
  };
  const preview = optVersion('preview');
  const fallback = optVersion('fallback');
  let fallbackWarmUntil: number | null = null;
  const fw = t['fallbackWarmUntil'];
  if (fw !== undefined && fw !== null) {
    if (typeof fw === 'number' && Number.isSafeInteger(fw) && fw >= 0) fallbackWarmUntil = fw;
    else problems.push(`traffic.fallbackWarmUntil: expected epoch milliseconds or null, got ${JSON.stringify(fw)}`);
  }
  let breaker: BreakerPolicy | null = null;
  if (t['breaker'] !== undefined && t['breaker'] !== null) {
    const b = t['breaker'] as Record<string, unknown>;
    const e = b?.['errorPercent'] ?? DEFAULT_BREAKER.errorPercent;
    const m = b?.['minRequests'] ?? DEFAULT_BREAKER.minRequests;
    const w = b?.['windowMs'] ?? DEFAULT_BREAKER.windowMs;
    if (typeof b !== 'object') problems.push(`traffic.breaker: expected {"errorPercent", "minRequests", "windowMs"}, got ${JSON.stringify(b)}`);
    else if (!(typeof e === 'number' && e > 0 && e <= 100)) problems.push(`traffic.breaker.errorPercent: expected a number in (0, 100], got ${JSON.stringify(e)}`);
    else if (!(typeof m === 'number' && Number.isSafeInteger(m) && m >= 1)) problems.push(`traffic.breaker.minRequests: expected an integer >= 1, got ${JSON.stringify(m)}`);
    else if (!(typeof w === 'number' && Number.isSafeInteger(w) && w >= 100)) problems.push(`traffic.breaker.windowMs: expected an integer >= 100 (ms), got ${JSON.stringify(w)}`);
    else breaker = { errorPercent: e, minRequests: m, windowMs: w };
  }
  if (problems.length > 0) {
    const field = problems[0]!.slice(0, problems[0]!.indexOf(':'));
    throw new BerthError('INVALID_ARGUMENT', `invalid traffic policy:\n  ${problems.join('\n  ')}`, { field, problems });
  }
  const policy: TrafficPolicy = { split, sticky, shadows, preview, fallback, fallbackWarmUntil, breaker };
  if (split.length === 0 && shadows.length === 0 && preview === null && fallback === null && breaker === null) return null;
  return policy;
}

/** The versions a policy names beyond the target (to check they exist, load and warm them). */
export function policyVersions(p: TrafficPolicy | null): number[] {
  if (!p) return [];
  const out = new Set<number>();
  for (const a of p.split) out.add(a.version);
  for (const a of p.shadows) out.add(a.version);
  if (p.preview !== null) out.add(p.preview);
  if (p.fallback !== null) out.add(p.fallback);
  return [...out];
}

/** Same traffic policies? */
export function sameTraffic(a: TrafficPolicy | null, b: TrafficPolicy | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
