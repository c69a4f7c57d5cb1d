/**
 * Input hardening through a real socket (issue 5): slow clients time out with 408 and the server
 * stays healthy; tensor, nesting and prototype-key limits answer 4xx naming the limit on the fast
 * infer path and on the Fastify routes; a name can never become a path outside the data dir.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertName } from '../../src/core/index.js';
import { deploymentDir, inferenceLogDir } from '../../src/monitor/index.js';
import { flatten, readGolden } from '../helpers/fixtures.js';
import { deployFixture, startServer, type TestServer } from '../helpers/server.js';

const row = (flatten(readGolden('breast-cancer-logreg').cases[0]!.inputs['input']!.data) as number[]).slice(0, 30);
const LIMITS = { maxTensorElements: 600, maxJsonDepth: 16, requestTimeoutMs: 1000, headersTimeoutMs: 600 };

let ts: TestServer;
let base: URL;
/** the server's data dir is `<sandbox>/data`: anything else appearing in the sandbox escaped it */
let sandbox: string;

beforeAll(async () => {
  sandbox = mkdtempSync(path.join(tmpdir(), 'berth-hardening-'));
  ts = await startServer({ auth: { dev: true }, hardening: LIMITS }, { dataDir: path.join(sandbox, 'data') });
  base = new URL(ts.url);
  await deployFixture(ts, 'breast-cancer-logreg', { name: 'bc', deployment: 'bc' });
  // a legal name that looks like a traversal to a careless path join
  await deployFixture(ts, 'breast-cancer-logreg', { name: 'dots', deployment: 'x..y' });
}, 60_000);

afterAll(async () => {
  await ts?.close();
  rmSync(sandbox, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown>;
}

/** A request with the raw path as given (no URL normalisation, unlike fetch). */
function send(method: string, rawPath: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = httpRequest({ host: base.hostname, port: base.port, method, path: rawPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const v2 = (shape: unknown, data: unknown, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ ...extra, inputs: [{ name: 'input', shape, datatype: 'FP32', data }] });

/**
 * Open a socket, send `head`, then `body` `chunk` bytes per `everyMs`; resolve with what the
 * server wrote and how long until it closed the connection.
 */
function dribble(head: string, body: string, everyMs: number, chunk = 1): Promise<{ text: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = connect(Number(base.port), base.hostname);
    let text = '';
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (i < body.length && socket.writable) socket.write(body.slice(i, (i += chunk)));
      }, everyMs);
    });
    socket.on('data', (c: Buffer) => (text += c.toString('utf8')));
    socket.on('error', () => undefined); // the server may reset while we still write
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ text, ms: Date.now() - t0 });
    });
    setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`the server did not close a slow connection within 10 s; got ${JSON.stringify(text.slice(0, 200))}`));
    }, 10_000).unref();
  });
}

async function expectHealthy(): Promise<void> {
  expect((await send('GET', '/v2/health/live')).status).toBe(200);
  const ok = await send('POST', '/v2/models/bc/infer', v2([1, 30], row));
  expect(ok.status, ok.text).toBe(200);
}

describe('slow clients', () => {
  it('answers 408 and closes when the body dribbles in slower than requestTimeoutMs (fast infer path)', async () => {
    const body = v2([1, 30], row);
    const head = `POST /v2/models/bc/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { text, ms } = await dribble(head, body, 100);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    // the timeout (1 s) plus at most one check interval (250 ms) and slack for a slow machine
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(4000);
    await expectHealthy();
  });

  it('answers 408 for a slow body on a Fastify route too', async () => {
    const body = JSON.stringify({ instances: [row] });
    const head = `POST /v1/deployments/bc/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { text } = await dribble(head, body, 100);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    await expectHealthy();
  });

  it('answers 408 when the headers dribble in slower than headersTimeoutMs', async () => {
    const { text, ms } = await dribble('GET /v2/health/live HTTP/1.1\r\n', 'Host: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n', 100);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(ms).toBeLessThan(4000);
    await expectHealthy();
  });

  it('serves a client that is slower than the check interval but within the timeouts', async () => {
    const body = v2([1, 30], row);
    // three pieces 150 ms apart: ~450 ms, past the 250 ms check interval, within the 1 s timeout
    const { text } = await dribble(`POST /v2/models/bc/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, body, 150, Math.ceil(body.length / 3));
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
  });
});

describe('limits on what a body may hold', () => {
  it('refuses more tensor elements than hardening.maxTensorElements with a 413 naming the input, before reading the data', async () => {
    for (const p of ['/v2/models/bc/infer', '/v2/models/bc/versions/1/infer']) {
      const a = await send('POST', p, v2([21, 30], Array.from({ length: 21 }, () => row)));
      expect(a.status, a.text).toBe(413);
      expect(a.json).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'input', got: 630 });
      expect(a.json['error']).toContain('limit of 600');
      // a huge shape with almost no data is refused the same way, without allocating it
      const huge = await send('POST', p, v2([2 ** 40, 30], [1]));
      expect(huge.status, huge.text).toBe(413);
    }
    const predict = await send('POST', '/v1/deployments/bc/predict', JSON.stringify({ instances: Array.from({ length: 21 }, () => row) }));
    expect(predict.status, predict.text).toBe(413);
    expect(predict.json).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', got: 630 });
    // at the limit is fine
    expect((await send('POST', '/v2/models/bc/infer', v2([20, 30], Array.from({ length: 20 }, () => row)))).status).toBe(200);
  });

  it('refuses JSON nested deeper than hardening.maxJsonDepth on every route, naming the limit', async () => {
    const deep = `${'['.repeat(17)}${']'.repeat(17)}`;
    for (const [method, p, body] of [
      ['POST', '/v2/models/bc/infer', `{"inputs":${deep}}`],
      ['POST', '/v1/deployments/bc/predict', `{"instances":${deep}}`],
      ['PUT', '/v1/deployments/other', `{"model":${deep}}`],
      ['POST', '/v2/models/bc/infer', '['.repeat(1_000_000)],
    ] as const) {
      const a = await send(method, p, body);
      expect(a.status, `${method} ${p}: ${a.text}`).toBe(400);
      expect(a.json['code']).toBe('INVALID_ARGUMENT');
      expect(a.json['error']).toContain('hardening.maxJsonDepth');
    }
  });

  it('refuses __proto__ and constructor.prototype keys anywhere, naming the key path', async () => {
    const cases: [string, string, string, string][] = [
      ['POST', '/v2/models/bc/infer', `{"inputs":[{"name":"input","shape":[1,30],"datatype":"FP32","data":${JSON.stringify(row)},"parameters":{"__proto__":{"polluted":true}}}]}`, 'body.inputs[0].parameters.__proto__'],
      ['POST', '/v1/deployments/bc/predict', '{"rows":[{"constructor":{"prototype":{"polluted":true}}}]}', 'body.rows[0].constructor.prototype'],
      ['PUT', '/v1/deployments/other', '{"model":"bc","\\u005f_proto__":{"polluted":true}}', 'body.__proto__'],
    ];
    for (const [method, p, body, field] of cases) {
      const a = await send(method, p, body);
      expect(a.status, a.text).toBe(400);
      expect(a.json).toMatchObject({ code: 'INVALID_ARGUMENT', field });
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('answers a malformed percent-escape in the fast path\'s model name with a 400, not a 500', async () => {
    for (const p of ['/v2/models/%E0%A4%A/infer', '/v2/models/bc/versions/%zz/infer', '/v2/models/%/infer']) {
      const a = await send('POST', p, v2([1, 30], row));
      expect(a.status, `${p}: ${a.text}`).toBe(400);
      expect(a.json['code']).toBe('INVALID_ARGUMENT');
    }
  });

  it('echoes a request id a header cannot carry percent-encoded in x-request-id, and exactly in the body', async () => {
    const id = 'naïve\n☃ id';
    const a = await send('POST', '/v2/models/bc/infer', v2([1, 30], row, { id }));
    expect(a.status, a.text).toBe(200);
    expect(a.json['id']).toBe(id);
    expect(a.headers['x-request-id']).toBe(encodeURIComponent(id));
  });
});

describe('names never become paths outside the data dir', () => {
  it('accepts only names without separators, NUL, percent signs or leading dots (property)', () => {
    const hostile = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom('.', '/', '\\', '\u0000', '%', '2', 'e', 'f', 'a', '-', '_', ':') }),
      fc.constantFrom('..', '.', '../etc', '..\\win', 'a/../b', '%2e%2e', 'a\u0000b', '/abs', 'C:\\x', '\u2024\u2024', '．．'),
    );
    fc.assert(
      fc.property(hostile, (name) => {
        let ok: boolean;
        try {
          assertName('model', name);
          ok = true;
        } catch {
          ok = false;
        }
        if (ok) {
          expect(name).not.toMatch(/[/\\\u0000%:]/);
          expect(name.startsWith('.')).toBe(false);
          expect(path.basename(name)).toBe(name);
          expect(path.normalize(name)).toBe(name);
        }
      }),
      { numRuns: 2000, seed: 5 },
    );
  });

  it('keeps every inference log directory a direct child of <dataDir>/inference-log, whatever the name (property)', () => {
    const dataDir = path.join(sandbox, 'data');
    const root = inferenceLogDir(dataDir);
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom('..', '../..', 'a/../../b', '..\\..', '\u0000', '%2e%2e%2f')), (name) => {
        let dir: string;
        try {
          dir = deploymentDir(dataDir, name);
        } catch (err) {
          // encodeURIComponent refuses lone surrogates, which no valid name holds
          expect(err).toBeInstanceOf(URIError);
          return;
        }
        expect(path.dirname(dir)).toBe(root);
        expect(path.basename(dir).startsWith('deployment=')).toBe(true);
      }),
      { numRuns: 2000, seed: 5 },
    );
  });

  it('refuses traversal attempts in every name parameter of every route, and writes nothing outside the data dir', async () => {
    const attempts = ['..', '.', '..%2f..%2fescaped', '%2e%2e', '%2e%2e%2fescaped', '..%5cescaped', 'a%00b', '%00', 'escaped%2f..', '..%252f', '%E0%A4%A'];
    const templates = [
      ['PUT', '/v1/deployments/:x', '{"model":"bc"}'],
      ['POST', '/v1/models/:x/versions', '{"model_base64":"AAAA"}'],
      ['PUT', '/v1/models/bc/aliases/:x', '{"version":1}'],
      ['PATCH', '/v1/models/:x', '{"description":"d"}'],
      ['POST', '/v1/models/:x/versions/1/profile', '{"reference_base64":"YSxiCjEsMgo="}'],
      ['POST', '/v1/deployments/:x/feedback', '{"request_id":"r","label":1}'],
      ['GET', '/v1/deployments/:x/monitor', undefined],
      ['POST', '/v1/deployments/:x/rollout', '{"toVersion":1}'],
      ['POST', '/v2/models/:x/infer', v2([1, 30], row)],
      ['POST', '/v1/deployments/:x/predict', JSON.stringify({ instances: [row] })],
      ['POST', '/v2/repository/models/:x/load', undefined],
      ['GET', '/v2/models/:x', undefined],
      ['DELETE', '/v1/deployments/:x', undefined],
    ] as const;
    for (const [method, template, body] of templates) {
      for (const attempt of attempts) {
        const p = template.replace(':x', attempt);
        const a = await send(method, p, body);
        // refused as a bad name (400) or, where the name is only looked up (v2, predict), an
        // unknown one (404); never done
        expect([400, 404], `${method} ${p}: ${a.status} ${a.text}`).toContain(a.status);
        if (a.status === 404) expect(a.json['code'], `${method} ${p}: ${a.text}`).toMatch(/^(DEPLOYMENT|MODEL)_NOT_FOUND$|^NOT_FOUND$/);
      }
    }
    expect(readdirSync(sandbox)).toEqual(['data']);
  });

  it('writes a legal dotted deployment name\'s inference log under its own directory', async () => {
    const a = await send('POST', '/v2/models/x..y/infer', v2([1, 30], row));
    expect(a.status, a.text).toBe(200);
    await ts.server.inferenceLog?.flush();
    const root = inferenceLogDir(path.join(sandbox, 'data'));
    expect(readdirSync(root)).toContain('deployment=x..y');
    expect(path.dirname(deploymentDir(path.join(sandbox, 'data'), 'x..y'))).toBe(root);
    expect(readdirSync(sandbox)).toEqual(['data']);
  });
});
