import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { BerthError, DEFAULT_CONFIG, type Logger } from '../core/index.js';
import type { InferenceRequest, InferenceService } from '../serving/index.js';
import { binaryOutputsOf, decodeInferRequest, encodeBinaryInferResponse, encodeInferResponse } from './codec/index.js';
import { errorAnswer } from './http-errors.js';
import { parseJsonBody } from './json-body.js';
import type { RequestGuard } from './guard.js';
import type { Principal } from '../security/index.js';
import { ROUTE_ACCESS } from './route-access.js';
import { parseVersion } from './v2-rest.js';

export interface FastInferOptions {
  service: InferenceService;
  logger: Logger;
  bodyLimitBytes: number;
  /** errors answered before the data plane saw the request (it counts its own) */
  onProtocolError?: (code: string) => void;
  /** authentication, scopes, rate limits and security headers (the Fastify routes' rules) */
  guard?: RequestGuard;
  /** input hardening (`config.hardening`); defaults to DEFAULT_CONFIG's */
  limits?: InferInputLimits;
}

/** What an infer body may hold: JSON nesting depth and tensor elements over all inputs. */
export interface InferInputLimits {
  maxJsonDepth: number;
  maxTensorElements: number;
}

const INFER_ACCESS = ROUTE_ACCESS['POST /v2/models/:name/infer']!;

const INFER_PATH = /^\/v2\/models\/([^/?#]+)(?:\/versions\/([^/?#]+)|\/(preview))?\/infer(?:\?.*)?$/;

/**
 * `POST /v2/models/{name}[/versions/{v}]/infer` straight on Node's HTTP server, ahead of Fastify:
 * the hottest route skips the framework's per-request machinery (worth ~15% of throughput on
 * small models, where HTTP is the whole cost). Behaviour is the Fastify route's: same codecs, same
 * limits (413), same error bodies. Returns false for every other request, which Fastify then
 * handles.
 */
export function createFastInferHandler(opts: FastInferOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { service, logger, bodyLimitBytes } = opts;
  const limits = opts.limits ?? DEFAULT_CONFIG.hardening;
  const jsonLimits = { maxDepth: limits.maxJsonDepth };
  const tensorLimits = { maxTensorElements: limits.maxTensorElements };
  const guard = opts.guard;
  const fail = (res: ServerResponse, err: unknown, url: string | undefined, protocol: boolean): void => {
    const a = errorAnswer(err, logger, url);
    if (protocol) opts.onProtocolError?.(a.code);
    if (res.headersSent) return void res.destroy();
    const extra = guard ? guard.answerHeaders(res.req) : null;
    res.writeHead(a.status, extra ? { ...extra, ...a.headers, 'content-length': Buffer.byteLength(a.body) } : { ...a.headers, 'content-length': Buffer.byteLength(a.body) });
    res.end(a.body);
  };
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const m = INFER_PATH.exec(url);
    if (!m) return false;
    // Credentials first: a refused caller's body is never read. The caller is known at once for
    // a cached token, else once `admitted` settles.
    let name: string;
    let principal: Principal | null = null;
    let admitted: Promise<Principal | null> | null = null;
    try {
      name = pathParam('name', m[1]!);
      if (guard) {
        const r = guard.check(req, INFER_ACCESS, name);
        if (r instanceof Promise) admitted = r;
        else principal = r;
      }
    } catch (err) {
      fail(res, err, url, true);
      req.resume();
      return true;
    }
    if (admitted !== null) admitted.catch(() => undefined);
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > bodyLimitBytes) {
      fail(res, tooLarge(bodyLimitBytes), url, true);
      req.resume();
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > bodyLimitBytes) {
        refused = true;
        fail(res, tooLarge(bodyLimitBytes), url, true);
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => res.destroy());
    const answer = (): void => {
      let version: number | undefined;
      let decoded: ReturnType<typeof decodeInferRequest>;
      try {
        version = m[2] === undefined ? undefined : parseVersion(pathParam('version', m[2]));
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (body.length === 0) throw new BerthError('INVALID_ARGUMENT', 'request body is empty; expected a JSON object with "inputs"', { field: 'body' });
        // the binary tensor extension: a JSON header of this many bytes, then the inputs' raw bytes
        const headerLength = binaryHeaderLength(req.headers[INFERENCE_HEADER], body.length);
        decoded =
          headerLength === null
            ? decodeInferRequest(parseJsonBody(body.toString('utf8'), jsonLimits), tensorLimits)
            : decodeInferRequest(parseJsonBody(body.toString('utf8', 0, headerLength), jsonLimits), tensorLimits, body.subarray(headerLength));
      } catch (err) {
        fail(res, err, url, true);
        return;
      }
      // a client that hangs up while its request waits takes the request out of the queue
      const gone = new AbortController();
      res.once('close', () => {
        if (!res.writableEnded) gone.abort();
      });
      inferV2(service, name, m[3] !== undefined ? 'preview' : version, decoded, req.headers, principal?.id, gone.signal).then(
        ({ payload, headerLength, requestId, answeredBy }) => {
          try {
            res.writeHead(200, {
              ...(guard ? guard.answerHeaders(req) : null),
              ...answerTypeHeaders(headerLength),
              'content-length': Buffer.byteLength(payload),
              'x-request-id': requestId,
              'x-berth-version': answeredBy,
            });
          } catch (err) {
            // a header Node refuses must be a 500 answered, not a rejection nobody handles
            fail(res, err, url, false);
            return;
          }
          res.end(payload);
        },
        (err: unknown) => fail(res, err, url, false),
      );
    };
    req.on('end', () => {
      if (refused) return;
      // a caller whose token had to be looked up is refused before its body is even parsed
      if (admitted !== null) {
        admitted.then(
          (p) => {
            principal = p;
            answer();
          },
          (err: unknown) => fail(res, err, url, true),
        );
      } else answer();
    });
    return true;
  };
}

/**
 * Run a decoded v2 request through the data plane and encode the answer (shared with the Fastify
 * route). The request id (the body's `id`, else one Berth made) goes back in `x-request-id`, so a
 * client can send ground truth for it later (`POST /v1/deployments/{name}/feedback`); the version
 * that answered goes back in `x-berth-version` (and `model_version` in the body). An id with
 * characters a header cannot carry (controls, non-Latin-1) goes in the header percent-encoded;
 * the body's `id` stays exact.
 */
export async function inferV2(
  service: InferenceService,
  name: string,
  version: number | 'preview' | undefined,
  decoded: ReturnType<typeof decodeInferRequest>,
  headers: IncomingHttpHeaders = {},
  principal?: string,
  signal?: AbortSignal,
): Promise<{ payload: string | Buffer; headerLength: number | null; requestId: string; answeredBy: string }> {
  // the body's id wins; else the client's x-request-id header; else Berth makes one
  if (decoded.id === undefined) {
    const id = requestIdHeader(headers['x-request-id']);
    if (id !== undefined) decoded.id = id;
  }
  const request: InferenceRequest = decoded;
  request.headers = headers;
  if (principal !== undefined) request.principal = principal;
  if (signal !== undefined) request.signal = signal;
  const r = await service.infer(name, request, version === undefined ? {} : version === 'preview' ? { preview: true } : { version });
  const parts = {
    modelName: r.modelName,
    modelVersion: r.modelVersion,
    ...(r.id !== undefined ? { id: r.id } : {}),
    outputs: r.outputs,
  };
  const binary = binaryOutputsOf(decoded);
  const common = { requestId: headerSafe(r.requestId), answeredBy: r.answeredBy };
  if (binary === null) return { payload: encodeInferResponse(parts), headerLength: null, ...common };
  const { body, headerLength } = encodeBinaryInferResponse(parts, binary);
  return { payload: body, headerLength, ...common };
}

/** The header of the binary tensor extension: how many bytes of the body are the JSON header. */
export const INFERENCE_HEADER = 'inference-header-content-length';

/** The JSON header's length from `Inference-Header-Content-Length` (null: a plain JSON body). */
export function binaryHeaderLength(value: string | string[] | undefined, bodyLength: number): number | null {
  if (value === undefined) return null;
  const text = Array.isArray(value) ? value[0] : value;
  const n = Number(text);
  if (text === undefined || !/^[0-9]{1,12}$/.test(text.trim()) || n < 2 || n > bodyLength) {
    throw new BerthError('INVALID_ARGUMENT', `Inference-Header-Content-Length: expected the JSON header's length in bytes, between 2 and the body's ${bodyLength}, got ${JSON.stringify(text)}`, {
      field: 'Inference-Header-Content-Length', expected: `2..${bodyLength}`, got: text,
    });
  }
  return n;
}

/** Content headers of an answer: JSON, or the binary extension's JSON header + bytes. */
export function answerTypeHeaders(headerLength: number | null): Record<string, string> {
  return headerLength === null
    ? { 'content-type': 'application/json; charset=utf-8' }
    : { 'content-type': 'application/octet-stream', [INFERENCE_HEADER]: String(headerLength) };
}

/** A client's `x-request-id` when it is a usable id (1–128 of letters, digits, `_ . : -`), else undefined. */
export function requestIdHeader(v: unknown): string | undefined {
  const s = Array.isArray(v) ? (v[0] as unknown) : v;
  return typeof s === 'string' && /^[\w.:-]{1,128}$/.test(s) ? s : undefined;
}

/** `v` when it is printable ASCII (any header can carry it), else percent-encoded. */
function headerSafe(v: string): string {
  return /^[\x20-\x7e]*$/.test(v) ? v : encodeURIComponent(v);
}

/** A percent-decoded path segment; malformed escapes (`%E0%A4%A`) are a 400 naming the parameter. */
function pathParam(field: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${field}: expected a percent-encoded path segment, got ${JSON.stringify(raw.slice(0, 100))} (malformed escape)`,
      { field, expected: 'valid percent-encoding', got: raw.slice(0, 200) }, { cause: err });
  }
}

function tooLarge(limit: number): BerthError {
  return new BerthError('PAYLOAD_TOO_LARGE', `request body too large: more than ${limit} bytes; send fewer rows per request or raise server.bodyLimitBytes`, {
    expected: limit,
  });
}
