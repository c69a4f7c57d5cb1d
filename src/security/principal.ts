import { BerthError } from '../core/index.js';

/**
 * What a request may do is a set of scopes, `verb:resource`:
 * - `predict:fraud` infer/predict/explain on the deployment `fraud`, `predict:*` on all;
 * - `read:*` read models, deployments, rollouts, reports and metrics;
 * - `deploy:*` register, alias, deploy, roll out;
 * - `admin` everything, tokens and the audit trail included.
 * The resource of a route is its `{name}` (a model for `/v1/models/…`, a deployment elsewhere).
 */
export const VERBS = ['predict', 'read', 'deploy', 'admin'] as const;
export type Verb = (typeof VERBS)[number];

export interface Scope {
  readonly verb: Verb;
  /** a model or deployment name, or `*` for all */
  readonly resource: string;
}

/** Named sets of scopes. */
export const ROLES = {
  admin: ['admin'],
  deployer: ['deploy:*', 'read:*'],
  predictor: ['predict:*'],
  viewer: ['read:*'],
} as const satisfies Record<string, readonly string[]>;
export type RoleName = keyof typeof ROLES;
export const ROLE_NAMES = Object.keys(ROLES) as RoleName[];

/** How a principal proved who it is. */
export type PrincipalKind = 'token' | 'bootstrap' | 'jwt' | 'certificate' | 'dev';

/** Who is calling, and what they may do. */
export interface Principal {
  readonly kind: PrincipalKind;
  /** token id, JWT subject, certificate subject; never a secret */
  readonly id: string;
  /** how the audit trail and logs name it, e.g. `token:k3J9x2 (ci-deployer)` */
  readonly name: string;
  readonly scopes: readonly Scope[];
  /** ms since epoch after which the credential is refused (null = never) */
  readonly expiresAt: number | null;
  /** the principal's own rate limit, when it has one (overrides the configured per-token default) */
  readonly rateLimit?: RateSpec | null;
}

/** A token-bucket limit: `rate` tokens refill per second up to `burst`. */
export interface RateSpec {
  readonly rate: number;
  readonly burst: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Parse `admin`, `predict:fraud`, `read:*`; throws INVALID_ARGUMENT naming the scope. */
export function parseScope(text: string, field = 'scope'): Scope {
  const s = text.trim();
  if (s === 'admin' || s === 'admin:*') return { verb: 'admin', resource: '*' };
  const i = s.indexOf(':');
  const verb = i < 0 ? s : s.slice(0, i);
  const resource = i < 0 ? '*' : s.slice(i + 1);
  if (!(VERBS as readonly string[]).includes(verb) || verb === 'admin') {
    throw new BerthError('INVALID_ARGUMENT', `${field}: "${text}" is not a scope; expected admin, or predict|read|deploy followed by :NAME or :*`, {
      field,
      expected: 'admin | predict:NAME | read:NAME | deploy:NAME (NAME may be *)',
      got: text,
    });
  }
  if (resource !== '*' && !NAME.test(resource)) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: "${text}" names no valid model or deployment; use letters, digits, . _ - or *`, {
      field,
      expected: 'a model or deployment name, or *',
      got: resource,
    });
  }
  return { verb: verb as Verb, resource };
}

/** The scopes of a role; throws INVALID_ARGUMENT for an unknown role. */
export function roleScopes(role: string, field = 'role'): Scope[] {
  if (!(role in ROLES)) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: "${role}" is not a role; expected one of ${ROLE_NAMES.join(', ')}`, {
      field,
      expected: ROLE_NAMES.join(' | '),
      got: role,
    });
  }
  return ROLES[role as RoleName].map((s) => parseScope(s, field));
}

/** Scopes as `verb:resource` strings (admin as `admin`), deduplicated and sorted. */
export function formatScopes(scopes: readonly Scope[]): string[] {
  return [...new Set(scopes.map((s) => (s.verb === 'admin' ? 'admin' : `${s.verb}:${s.resource}`)))].sort();
}

/** Roles and scopes given together (a token, a JWT's claims), as one deduplicated list. */
export function grantsOf(input: { roles?: readonly string[]; scopes?: readonly string[] }, field = 'scopes'): Scope[] {
  const out: Scope[] = [];
  for (const r of input.roles ?? []) out.push(...roleScopes(r, 'role'));
  for (const s of input.scopes ?? []) out.push(parseScope(s, field));
  const seen = new Set<string>();
  return out.filter((s) => {
    const k = `${s.verb}:${s.resource}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Whether `principal` holds any of `verbs` on `resource` (undefined = the route names no single
 * resource, so only a `*` scope will do). `admin` holds everything.
 */
export function allows(principal: Principal, verbs: readonly Verb[], resource: string | undefined): boolean {
  for (const s of principal.scopes) {
    if (s.verb === 'admin') return true;
    if (!verbs.includes(s.verb)) continue;
    if (s.resource === '*' || (resource !== undefined && s.resource === resource)) return true;
  }
  return false;
}

/** The principal of `berth serve --dev`: everything is allowed, and the audit trail says so. */
export const DEV_PRINCIPAL: Principal = { kind: 'dev', id: 'dev', name: 'dev-mode', scopes: [{ verb: 'admin', resource: '*' }], expiresAt: null };
