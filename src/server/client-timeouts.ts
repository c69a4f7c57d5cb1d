import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { HardeningConfig } from '../core/index.js';

/**
 * Slow clients: a request must arrive whole within `requestTimeoutMs` and its headers within
 * `headersTimeoutMs` (0 = no limit), else Node answers 408 and closes the connection (Fastify's
 * client error handler writes the body). This covers the fast infer path too: Node enforces both
 * on the connection, whoever handles the request.
 *
 * Node checks deadlines on a timer (`connectionsCheckingInterval`, 30 s by default), so a timeout
 * could overshoot by that much; the interval is set to a quarter of the shortest timeout (within
 * 100 ms – 30 s). Node also refuses a headers timeout longer than the request timeout, so the
 * headers timeout is capped at it. Call before `listen` (the interval is read then).
 */
export function applyClientTimeouts(server: HttpServer | HttpsServer, hardening: Pick<HardeningConfig, 'requestTimeoutMs' | 'headersTimeoutMs'>): void {
  const request = hardening.requestTimeoutMs;
  const headers = request > 0 && hardening.headersTimeoutMs > request ? request : hardening.headersTimeoutMs;
  server.requestTimeout = request;
  server.headersTimeout = headers;
  const shortest = Math.min(request > 0 ? request : Infinity, headers > 0 ? headers : Infinity);
  const interval = Number.isFinite(shortest) ? Math.min(30_000, Math.max(100, Math.floor(shortest / 4))) : 30_000;
  // a plain property of http(s).Server in Node ≥ 18, typed only as a constructor option
  (server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = interval;
}
