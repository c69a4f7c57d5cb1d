/**
 * HTTP for the SDK: node:http and node:https with a keep-alive agent (connections are reused
 * across calls; idle ones do not keep the process alive), one deadline per call across retries,
 * and refusals turned into error classes.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { apiErrorClass, BerthClientError } from './errors.js';
import { abortedError, deadlineError, deadlineOf, resolveRetry, withRetries, type CallOptions, type ResolvedRetry } from './retry.js';

/** TLS settings for https:// and grpcs:// (PEM text or bytes). */
export interface TlsOptions {
  /** CA certificates to trust instead of the system's */
  ca?: string | Uint8Array;
  /** client certificate and key, for servers that ask for one (mTLS) */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
}

export interface HttpSessionOptions {
  token?: string;
  headers?: Record<string, string>;
  timeoutMs: number;
  retry: ResolvedRetry;
  tls?: TlsOptions;
  /** most connections open at once to the server (default: no limit) */
  maxSockets?: number;
}

/** A request to send. */
export interface HttpCall extends CallOptions {
  method: string;
  /** path segments, each URL-encoded here (`['v1', 'models', name]`), or a path already encoded */
  path: string[] | string;
  query?: Record<string, string | number | undefined>;
  /** JSON-encoded unless a Buffer/Uint8Array (sent as is) */
  body?: unknown;
  /** what the call is, for error messages (default `METHOD path`) */
  what?: string;
}

/** What came back from a 2xx. */
export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Requests to one server. */
export class HttpSession {
  readonly baseUrl: string;
  private readonly agent: HttpAgent;
  private readonly secure: boolean;
  private closed = false;

  constructor(
    baseUrl: string,
    private readonly opts: HttpSessionOptions,
  ) {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new BerthClientError('INVALID_ARGUMENT', `url: expected http://, https://, grpc:// or grpcs://, got ${baseUrl}`);
    }
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.secure = u.protocol === 'https:';
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets ?? Infinity, scheduling: 'lifo' as const };
    this.agent = this.secure
      ? new HttpsAgent({ ...agentOpts, ...(opts.tls?.ca !== undefined ? { ca: pem(opts.tls.ca) } : {}), ...(opts.tls?.cert !== undefined ? { cert: pem(opts.tls.cert) } : {}), ...(opts.tls?.key !== undefined ? { key: pem(opts.tls.key) } : {}) })
      : new HttpAgent(agentOpts);
  }

  /** Send `call`, retrying 429/503 within its deadline; answers 2xx responses, throws the rest. */
  async send(call: HttpCall): Promise<HttpResponse> {
    if (this.closed) throw new BerthClientError('UNSUPPORTED', 'this client is closed; create another');
    const url = this.urlOf(call);
    const what = call.what ?? `${call.method} ${url.pathname}`;
    const timeoutMs = call.timeoutMs ?? this.opts.timeoutMs;
    const deadline = deadlineOf(timeoutMs);
    const retry = call.retry === undefined ? this.opts.retry : resolveRetry(call.retry, this.opts.retry);
    let body: Buffer | undefined;
    const headers: Record<string, string> = { accept: 'application/json', ...this.opts.headers, ...call.headers };
    if (this.opts.token !== undefined) headers['authorization'] = `Bearer ${this.opts.token}`;
    if (call.body instanceof Uint8Array) {
      body = Buffer.isBuffer(call.body) ? call.body : Buffer.from(call.body.buffer, call.body.byteOffset, call.body.byteLength);
      headers['content-type'] ??= 'application/octet-stream';
    } else if (call.body !== undefined) {
      body = Buffer.from(JSON.stringify(call.body, bigintAsString));
      headers['content-type'] ??= 'application/json';
    }
    return withRetries(what, retry, deadline, timeoutMs, call.signal, (d) => this.once(url, call.method, headers, body, d, timeoutMs, call.signal, what));
  }

  /** `send` and parse the JSON answer. */
  async json<T>(call: HttpCall): Promise<T> {
    const res = await this.send(call);
    if (res.body.length === 0) return undefined as T;
    try {
      return JSON.parse(res.body.toString('utf8')) as T;
    } catch (err) {
      throw new BerthClientError('BAD_RESPONSE', `${call.what ?? call.method}: the answer is not JSON`, { cause: err });
    }
  }

  /** Close idle connections; later calls fail. */
  close(): void {
    this.closed = true;
    this.agent.destroy();
  }

  private urlOf(call: HttpCall): URL {
    const path = typeof call.path === 'string' ? call.path.replace(/^\/+/, '') : call.path.map(encodeURIComponent).join('/');
    const url = new URL(path, this.baseUrl + '/');
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private once(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    deadline: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const send = this.secure ? httpsRequest : httpRequest;
      const h: Record<string, string | number> = { ...headers };
      if (body !== undefined) h['content-length'] = body.length;
      let settled = false;
      const finish = (err: Error | undefined, res?: HttpResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) reject(err);
        else resolve(res!);
      };
      const req = send(url, { method, headers: h, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => finish(new BerthClientError('UNREACHABLE', `${what}: the answer was cut off (${err.message})`, { cause: err })));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          if (status >= 200 && status < 300) finish(undefined, { status, headers: res.headers, body: buf });
          else finish(refusal(status, res.headers, buf, what));
        });
      });
      const timer = setTimeout(() => {
        req.destroy();
        finish(deadlineError(timeoutMs, what));
      }, Math.max(1, deadline - Date.now()));
      const onAbort = (): void => {
        req.destroy();
        finish(abortedError(what, signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const where = `${url.protocol}//${url.host}`;
        finish(new BerthClientError('UNREACHABLE', `${what}: no answer from ${where} (${err.code ?? err.message}); is the server running there?`, { cause: err }));
      });
      req.end(body);
    });
  }
}

/** A non-2xx answer as the error class of its status, with the server's code and field. */
export function refusal(status: number, headers: IncomingHttpHeaders, body: Buffer, what: string): Error {
  let parsed: { error?: unknown; code?: unknown; field?: unknown; expected?: unknown; got?: unknown } = {};
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (v !== null && typeof v === 'object') parsed = v as typeof parsed;
  } catch {
    // not JSON: the status says enough
  }
  const code = typeof parsed.code === 'string' ? parsed.code : status === 404 ? 'NOT_FOUND' : status === 429 ? 'RATE_LIMITED' : status === 503 ? 'UNAVAILABLE' : status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
  const message = typeof parsed.error === 'string' ? parsed.error : `${what} answered ${status}`;
  const retryAfterMs = retryAfter(headers['retry-after']);
  const Cls = apiErrorClass(status);
  return new Cls(message, {
    code,
    status,
    transport: 'rest',
    ...(typeof parsed.field === 'string' ? { field: parsed.field } : {}),
    ...(parsed.expected !== undefined ? { expected: parsed.expected } : {}),
    ...(parsed.got !== undefined ? { got: parsed.got } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

/** Retry-After in ms: delta-seconds or an HTTP date. */
export function retryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || s.trim() === '') return undefined;
  const secs = Number(s);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function pem(v: string | Uint8Array): string | Buffer {
  return typeof v === 'string' ? v : Buffer.from(v);
}

function bigintAsString(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v;
}
