import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Who made the change being written and from where, carried through the async calls of one
 * management request so the audit trail records it without every layer passing it along. Only
 * management routes set it (the inference hot path never does).
 */
export interface RequestContext {
  /** how the audit trail names the caller (a principal's name; never a secret) */
  readonly actor: string;
  /** the client's address as the server saw it (`ip` or `ip:port`), null when not over the network */
  readonly source: string | null;
  /** the authenticated principal's id (token id, JWT subject, certificate subject) */
  readonly principalId: string | null;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Run `fn` with `ctx` as the current request context. */
export function withRequestContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The current request's context, if a management request is being handled. */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Make `ctx` the context of the rest of the current async execution (a Fastify hook's continuation). */
export function enterRequestContext(ctx: RequestContext): void {
  storage.enterWith(ctx);
}

/**
 * Run `fn` outside any request context: work a request merely scheduled (a rollout step's timer)
 * is not that request's doing, and must not be audited as coming from its address.
 */
export function withoutRequestContext<T>(fn: () => T): T {
  return storage.exit(fn);
}
