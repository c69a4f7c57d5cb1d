import type { FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, toBerthError, type Logger } from '../core/index.js';

/** Map any error to a Berth error, translating Fastify's own (body too large, bad JSON, 404). */
export function normalizeHttpError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const e = err as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BerthError('PAYLOAD_TOO_LARGE', `request body too large: ${e.message ?? ''}; send fewer rows per request or raise server.bodyLimitBytes`.trim());
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new BerthError('UNSUPPORTED_MEDIA_TYPE', `unsupported content type; send JSON with Content-Type: application/json`);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new BerthError('INVALID_ARGUMENT', 'request body is empty; expected a JSON object');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new BerthError('INVALID_ARGUMENT', 'request body length does not match Content-Length');
    default:
      break;
  }
  if (err instanceof SyntaxError) {
    return new BerthError('INVALID_ARGUMENT', `request body is not valid JSON: ${err.message}`, { field: 'body' });
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new BerthError(e.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : e.statusCode === 404 ? 'NOT_FOUND' : 'INVALID_ARGUMENT', e.message ?? 'bad request');
  }
  return toBerthError(err);
}

/** An error as the wire carries it: status, headers and the JSON body. */
export interface ErrorAnswer {
  status: number;
  code: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * An error the way the v2 protocol wants it: `{"error": "..."}` with the right status, the stable
 * `code` alongside, and `Retry-After` on 429/503. 5xx answers hide internals and log them.
 */
export function errorAnswer(err: unknown, logger: Logger, url?: string): ErrorAnswer {
  const e = normalizeHttpError(err);
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  const retry = e.context.retryAfterSeconds;
  if (typeof retry === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retry)));
  else if (e.status === 429 || e.status === 503) headers['retry-after'] = '1';
  let message = e.message;
  if (!e.exposable) {
    logger.error('request failed', { code: e.code, error: e.message, url, stack: e.stack });
    message = `internal error (${e.code}); the server log has the details`;
  }
  const body: Record<string, unknown> = { error: message, code: e.code };
  if (e.context.field !== undefined) body['field'] = e.context.field;
  if (e.context.expected !== undefined && e.exposable) body['expected'] = e.context.expected;
  if (e.context.got !== undefined && e.exposable) body['got'] = e.context.got;
  return { status: e.status, code: e.code, headers, body: JSON.stringify(body, jsonSafe) };
}

/** Send `errorAnswer(err)` through Fastify. */
export function sendError(reply: FastifyReply, request: FastifyRequest | undefined, err: unknown, logger: Logger): FastifyReply {
  const a = errorAnswer(err, logger, request?.url);
  return reply.code(a.status).headers(a.headers).send(a.body);
}

function jsonSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}

/**
 * A JSON route's answer: `fn`'s result as JSON with `status`, or the error answer for what it threw.
 *
 * @example
 * const send = jsonSender(logger);
 * app.get('/v1/things', (req, reply) => send(req, reply, async () => things.list()));
 */
export function jsonSender(logger: Logger): (req: FastifyRequest, reply: FastifyReply, fn: () => Promise<unknown>, status?: number) => Promise<FastifyReply> {
  return async (req, reply, fn, status = 200) => {
    try {
      const out = await fn();
      return reply.code(status).header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(out));
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  };
}
