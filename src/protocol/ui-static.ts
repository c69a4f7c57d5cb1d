/**
 * The web dashboard's files (`dist/ui`, built by `npm run build` from `ui/`), served at `/ui`.
 * Hashed assets are cached for a year as immutable; `index.html` is revalidated every time, so a new
 * build is picked up at once. Files are gzipped once, on first request, when the client accepts it.
 * The app routes in the browser by the URL's hash. The files hold no data: every datum comes from
 * the API, with the user's token.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface UiStaticOptions {
  /** the built dashboard (dist/ui) */
  dir: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** The app's own scripts and styles only; it talks to this server's API and nothing else. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

interface Loaded {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
}

export function registerUiRoutes(app: FastifyInstance, opts: UiStaticOptions): void {
  const root = path.resolve(opts.dir);
  const cache = new Map<string, Loaded>();

  const load = (file: string): Loaded | null => {
    const hit = cache.get(file);
    if (hit) return hit;
    if (!existsSync(file) || !statSync(file).isFile()) return null;
    const body = readFileSync(file);
    const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 1024;
    const loaded = { body, gzip: compressible ? gzipSync(body, { level: 9 }) : null, type, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"` };
    // index.html changes with each build; assets are content-hashed and never change
    if (!file.endsWith('index.html')) cache.set(file, loaded);
    return loaded;
  };

  const send = (req: FastifyRequest, reply: FastifyReply, rel: string): FastifyReply => {
    const index = path.join(root, 'index.html');
    if (!existsSync(index)) {
      return reply
        .code(503)
        .header('content-type', 'text/plain; charset=utf-8')
        .header('cache-control', 'no-store')
        .send('The dashboard is not built on this server. Build it with `npm run build` (it writes dist/ui), then reload.\n');
    }
    const wanted = path.resolve(root, rel);
    const inside = wanted.startsWith(path.join(root, 'assets') + path.sep);
    const isAsset = rel !== '';
    const file = isAsset ? wanted : index;
    const f = isAsset && !inside ? null : load(file);
    // a missing asset is a 404 (a stale page asking for an older build's file)
    if (!f) return reply.code(404).header('content-type', 'text/plain; charset=utf-8').send(`no such file: /ui/${rel}; reload the page to get the current build\n`);
    reply.header('content-security-policy', CSP);
    reply.header('content-type', f.type);
    reply.header('etag', f.etag);
    reply.header('vary', 'accept-encoding');
    reply.header('cache-control', file === index ? 'no-cache' : isAsset ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
    if (req.headers['if-none-match'] === f.etag) return reply.code(304).send();
    const gz = f.gzip !== null && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gz) reply.header('content-encoding', 'gzip');
    return reply.send(gz ? f.gzip : f.body);
  };

  // the app routes by the hash (#/models/credit), so its pages are /ui and /ui/, and its files /ui/assets/…
  app.get('/ui', async (req, reply) => send(req, reply, ''));
  app.get('/ui/', async (req, reply) => send(req, reply, ''));
  app.get<{ Params: { file: string } }>('/ui/assets/:file', async (req, reply) => send(req, reply, `assets/${req.params.file}`));
}
