import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { BerthError, withRequestContext, type RateLimitSpec, type ServerRole } from '../core/index.js';
import { allows, formatScopes, type Authenticator, type PeerCertificate, type Principal } from '../security/index.js';
import { roleServes, routeAccess, routePlane, type RouteAccess } from './route-access.js';

/** The part of a rate limiter the guard uses: 0 = go, else seconds until a token is there. */
export interface RequestLimiter {
  take(key: string, spec: RateLimitSpec): number | Promise<number>;
}

export interface GuardOptions {
  authenticator: Authenticator;
  limiter: RequestLimiter | null;
  /** every principal's default limit (its own wins); null = none */
  perToken: RateLimitSpec | null;
  perDeployment: RateLimitSpec | null;
  deployments: Readonly<Record<string, RateLimitSpec>>;
  /** allowed CORS origins (`*` = any); empty = CORS closed */
  corsOrigins: readonly string[];
  /** the server speaks HTTPS (HSTS is sent) */
  tls: boolean;
  /** a verified client certificate of a request, when mTLS is on */
  certificateOf?: (req: IncomingMessage) => PeerCertificate | null;
  /** what this replica serves (`--role`); routes of another plane answer 421 WRONG_ROLE (default all) */
  role?: ServerRole;
}

/** The answer of a route this replica's role does not serve, saying where to send it. */
export function wrongRole(role: ServerRole, method: string, url: string): BerthError {
  const where =
    role === 'data'
      ? 'this replica runs with --role data and serves inference only; send it to the control plane (a berth serve with --role control or all)'
      : 'this replica runs with --role control and takes no inference traffic; send it to a data replica (a berth serve with --role data or all)';
  return new BerthError('WRONG_ROLE', `${method} ${url}: ${where}`, { role, route: `${method} ${url}` });
}

const PRINCIPAL = Symbol('berth.principal');
type WithPrincipal = IncomingMessage & { [PRINCIPAL]?: Principal };

/** The principal a guarded request was authenticated as (undefined on public routes). */
export function principalOf(req: IncomingMessage): Principal | undefined {
  return (req as WithPrincipal)[PRINCIPAL];
}

/**
 * Authentication, authorization, rate limits and the security headers, for the Fastify routes
 * and the hand-written infer fast path alike. `check` is synchronous whenever nothing has to be
 * looked up (a cached token, a local bucket): the hot path stays a few map lookups.
 */
export class RequestGuard {
  /** headers every answer carries (no CORS; see `corsHeaders`) */
  readonly securityHeaders: Readonly<Record<string, string>>;
  private readonly origins: ReadonlySet<string>;
  private readonly anyOrigin: boolean;

  constructor(private readonly opts: GuardOptions) {
    this.securityHeaders = Object.freeze({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      // JSON needs nothing; the self-contained HTML report needs its inline style and script
      'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
      'cross-origin-opener-policy': 'same-origin',
      ...(opts.tls ? { 'strict-transport-security': 'max-age=31536000; includeSubDomains' } : {}),
    });
    this.origins = new Set(opts.corsOrigins.filter((o) => o !== '*'));
    this.anyOrigin = opts.corsOrigins.includes('*');
  }

  get dev(): boolean {
    return this.opts.authenticator.dev;
  }

  /** what this replica serves (`--role`) */
  get role(): ServerRole {
    return this.opts.role ?? 'all';
  }

  /** CORS headers for a request's Origin, when it is allowed (null: none, so the browser refuses). */
  corsHeaders(origin: string | undefined): Record<string, string> | null {
    if (origin === undefined || (!this.anyOrigin && !this.origins.has(origin))) return null;
    return { 'access-control-allow-origin': this.anyOrigin ? '*' : origin, vary: 'Origin', 'access-control-expose-headers': 'x-request-id, x-berth-version, retry-after, inference-header-content-length' };
  }

  /**
   * Admit a request to a route: the principal (null on public routes), or a promise of it when a
   * token or bucket had to be looked up. Throws UNAUTHENTICATED (401), FORBIDDEN (403) or
   * RATE_LIMITED (429 with Retry-After).
   */
  check(req: IncomingMessage, access: RouteAccess, resource: string | undefined): Principal | null | Promise<Principal | null> {
    if (access.public) return null;
    return this.checkCredentials(req.headers.authorization, this.opts.certificateOf ? this.opts.certificateOf(req) : null, access, resource);
  }

  /**
   * `check` for transports other than HTTP/1 (gRPC): the `authorization` value and the verified
   * client certificate, however the transport carries them.
   */
  checkCredentials(authorization: string | undefined, cert: PeerCertificate | null, access: RouteAccess, resource: string | undefined): Principal | null | Promise<Principal | null> {
    if (access.public) return null;
    const p = this.opts.authenticator.authenticate(authorization, cert);
    if (p instanceof Promise) return p.then((principal) => this.admit(principal, access, resource));
    return this.admit(p, access, resource);
  }

  private admit(p: Principal, access: RouteAccess, resource: string | undefined): Principal | Promise<Principal> {
    if (!access.authenticated && !allows(p, access.verbs, resource)) throw forbidden(p, access, resource);
    const limiter = this.opts.limiter;
    if (limiter === null) return p;
    const own = p.rateLimit ?? (p.kind === 'dev' ? null : this.opts.perToken);
    const dep = access.inference && resource !== undefined ? this.opts.deployments[resource] ?? this.opts.perDeployment : null;
    if (own === null && dep === null) return p;
    const deployment = (): Principal | Promise<Principal> => {
      if (dep === null || dep === undefined) return p;
      const w = limiter.take(`d:${resource}`, dep);
      if (typeof w === 'number') {
        if (w > 0) throw limited(`deployment ${resource}`, dep, w);
        return p;
      }
      return w.then((wait) => {
        if (wait > 0) throw limited(`deployment ${resource}`, dep, wait);
        return p;
      });
    };
    if (own === null) return deployment();
    const w = limiter.take(`p:${p.id}`, own);
    if (typeof w === 'number') {
      if (w > 0) throw limited(p.name, own, w);
      return deployment();
    }
    return w.then((wait) => {
      if (wait > 0) throw limited(p.name, own, wait);
      return deployment();
    });
  }

  /**
   * Wire the guard into Fastify: every route must have an access rule (ROUTE_ACCESS) or
   * registering it throws; every request passes `check` before its handler; changes run with the
   * principal and client address as the audit trail's request context.
   */
  install(app: FastifyInstance): void {
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const m of methods) {
        const access = routeAccess(m, route.url);
        if (!access) throw new BerthError('INTERNAL', `route ${m} ${route.url} has no access rule; add it to ROUTE_ACCESS (src/protocol/route-access.ts)`);
        route.config = { ...(route.config as object | undefined), access };
        const role = this.opts.role ?? 'all';
        if (!roleServes(role, routePlane(m, route.url))) {
          const refusal = wrongRole(role, m, route.url.replace(/:([A-Za-z_]+)/g, '{$1}'));
          route.handler = async () => {
            throw refusal;
          };
          continue;
        }
        if (m !== 'GET' && m !== 'HEAD' && !access.public) {
          const handler = route.handler;
          route.handler = function (this: FastifyInstance, req, reply) {
            const p = principalOf(req.raw);
            const ctx = { actor: p && p.kind !== 'dev' ? p.name : 'api', source: req.ip ?? null, principalId: p ? p.id : null };
            return withRequestContext(ctx, () => handler.call(this, req, reply));
          };
        }
      }
    });
    app.addHook('onRequest', (req, reply, done) => {
      reply.headers(this.securityHeaders);
      const cors = this.corsHeaders(req.headers.origin);
      if (cors) reply.headers(cors);
      const access = (req.routeOptions.config as { access?: RouteAccess } | undefined)?.access;
      if (!access) return done();
      const params = req.params as { name?: string } | undefined;
      const remember = (p: Principal | null): void => {
        if (p !== null) (req.raw as WithPrincipal)[PRINCIPAL] = p;
      };
      try {
        const r = this.check(req.raw, access, access.resource ? params?.name : undefined);
        if (r instanceof Promise) {
          r.then(
            (p) => {
              remember(p);
              done();
            },
            (err: unknown) => done(err as Error),
          );
        } else {
          remember(r);
          done();
        }
      } catch (err) {
        done(err as Error);
      }
    });
    // CORS preflight: answered for allowed origins only (closed by default)
    app.options('*', async (req, reply) => {
      const cors = this.corsHeaders(req.headers.origin);
      if (!cors) return reply.code(204).send();
      return reply
        .code(204)
        .headers({
          'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE',
          'access-control-allow-headers': 'authorization, content-type, x-request-id, x-berth-actor, inference-header-content-length',
          'access-control-max-age': '600',
        })
        .send();
    });
  }

  /** The fast path's version of `install`: headers to add to its answers. */
  answerHeaders(req: IncomingMessage): Record<string, string> {
    const cors = this.corsHeaders(req.headers.origin);
    return cors ? { ...this.securityHeaders, ...cors } : (this.securityHeaders as Record<string, string>);
  }
}

function forbidden(p: Principal, access: RouteAccess, resource: string | undefined): BerthError {
  const need = access.verbs.map((v) => (v === 'admin' ? 'admin' : `${v}:${resource ?? '*'}`)).join(' or ');
  const has = formatScopes(p.scopes);
  return new BerthError('FORBIDDEN', `${p.name} may not do this: it needs ${need}, and has ${has.length ? has.join(', ') : 'no scopes'}; ask an admin for a token with that scope`, {
    expected: need,
    got: has,
  });
}

/** `100/s`, or for slow buckets (quotas) the unit that reads naturally: `6000/h`, `10000/d`. */
export function formatRate(rate: number): string {
  const units: [number, string][] = [[1, 's'], [60, 'm'], [3600, 'h'], [86_400, 'd']];
  for (const [seconds, unit] of units) {
    const n = rate * seconds;
    if (n >= 1 && (unit === 'd' || rate >= 1 || Math.abs(n - Math.round(n)) < 1e-6)) return `${+n.toFixed(n < 10 ? 3 : 1)}/${unit}`;
  }
  return `${rate}/s`;
}

function limited(who: string, spec: RateLimitSpec, waitSeconds: number): BerthError {
  const wait = Math.max(1, Math.ceil(waitSeconds));
  const when = wait < 120 ? `${wait} s` : wait < 7200 ? `${Math.ceil(wait / 60)} min` : `${(wait / 3600).toFixed(1)} h`;
  return new BerthError('RATE_LIMITED', `${who} is over its rate limit (${formatRate(spec.rate)}, burst ${spec.burst}); retry after ${when}`, {
    retryAfterSeconds: waitSeconds,
  });
}
