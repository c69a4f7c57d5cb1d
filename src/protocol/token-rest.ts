import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, type Logger } from '../core/index.js';
import { formatScopes, type RateSpec, type TokenService } from '../security/index.js';
import { principalOf } from './guard.js';
import { sendError } from './http-errors.js';
import { actorOf } from './management-rest.js';

/** `POST /v1/tokens` */
export interface CreateTokenRequest {
  name: string;
  roles?: string[];
  scopes?: string[];
  /** ISO 8601 time, or null for never; absent = 90 days */
  expiresAt?: string | null;
  rateLimit?: RateSpec | null;
}

export const DEFAULT_TOKEN_LIFETIME_MS = 90 * 24 * 3_600_000;

/**
 * Tokens (`/v1/tokens`, admin only) and `GET /v1/auth/whoami` (any credentials: what the caller
 * may do, so a CLI or UI can hide what it cannot).
 */
export function registerTokenRoutes(app: FastifyInstance, opts: { tokens: TokenService | null; logger: Logger; now?: () => number }): void {
  const { logger } = opts;
  const now = opts.now ?? Date.now;
  const send = async (req: FastifyRequest, reply: FastifyReply, fn: () => Promise<unknown>, status = 200): Promise<FastifyReply> => {
    try {
      const out = await fn();
      return reply.code(status).header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-store').send(JSON.stringify(out));
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  };
  const service = (): TokenService => {
    if (!opts.tokens) throw new BerthError('NOT_FOUND', 'this server keeps no API tokens');
    return opts.tokens;
  };
  app.get('/v1/auth/whoami', async (req, reply) =>
    send(req, reply, async () => {
      const p = principalOf(req.raw);
      if (!p) throw new BerthError('UNAUTHENTICATED', 'no credentials');
      return { kind: p.kind, id: p.id, name: p.name, scopes: formatScopes(p.scopes), expiresAt: p.expiresAt === null ? null : new Date(p.expiresAt).toISOString(), rateLimit: p.rateLimit ?? null };
    }),
  );
  app.get('/v1/tokens', async (req, reply) => send(req, reply, async () => ({ tokens: await service().list() })));
  app.get<{ Params: { id: string } }>('/v1/tokens/:id', async (req, reply) => send(req, reply, async () => service().get(req.params.id)));
  app.post('/v1/tokens', async (req, reply) =>
    send(
      req,
      reply,
      async () => {
        const body = readCreate(req.body, now());
        return service().create(body, actorOf(req));
      },
      201,
    ),
  );
  app.delete<{ Params: { id: string } }>('/v1/tokens/:id', async (req, reply) => send(req, reply, async () => service().revoke(req.params.id, actorOf(req))));
}

function readCreate(body: unknown, now: number): { name: string; roles: string[]; scopes: string[]; expiresAt: number | null; rateLimit: RateSpec | null } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BerthError('INVALID_ARGUMENT', 'body: expected {"name", "roles"?, "scopes"?, "expiresAt"?, "rateLimit"?}', { field: 'body', got: body });
  }
  const b = body as Record<string, unknown>;
  const known = new Set(['name', 'roles', 'scopes', 'expiresAt', 'rateLimit']);
  for (const k of Object.keys(b)) {
    if (!known.has(k)) throw new BerthError('INVALID_ARGUMENT', `${k}: unknown field; expected name, roles, scopes, expiresAt, rateLimit`, { field: k });
  }
  if (typeof b['name'] !== 'string') throw new BerthError('INVALID_ARGUMENT', 'name: expected a string', { field: 'name', expected: 'string', got: b['name'] });
  const list = (field: string): string[] => {
    const v = b[field];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new BerthError('INVALID_ARGUMENT', `${field}: expected a list of strings`, { field, expected: 'string[]', got: v });
    return v as string[];
  };
  let expiresAt: number | null = now + DEFAULT_TOKEN_LIFETIME_MS;
  const e = b['expiresAt'];
  if (e === null) expiresAt = null;
  else if (e !== undefined) {
    const t = typeof e === 'string' ? Date.parse(e) : NaN;
    if (!Number.isFinite(t)) throw new BerthError('INVALID_ARGUMENT', 'expiresAt: expected an ISO 8601 time or null (never)', { field: 'expiresAt', expected: 'ISO 8601 | null', got: e });
    expiresAt = t;
  }
  const r = b['rateLimit'];
  let rateLimit: RateSpec | null = null;
  if (r !== undefined && r !== null) {
    const o = r as Record<string, unknown>;
    if (typeof r !== 'object' || typeof o['rate'] !== 'number' || typeof o['burst'] !== 'number') {
      throw new BerthError('INVALID_ARGUMENT', 'rateLimit: expected {rate: requests per second, burst}', { field: 'rateLimit', got: r });
    }
    rateLimit = { rate: o['rate'], burst: o['burst'] };
  }
  return { name: b['name'], roles: list('roles'), scopes: list('scopes'), expiresAt, rateLimit };
}
