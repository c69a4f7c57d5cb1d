/**
 * Experiment tracking from inside a step. A training script logs metrics (with the epoch they
 * belong to) either by appending JSON lines to `$BERTH_METRICS_FILE`, or by POSTing them to
 * `$BERTH_TRACKING_URL/metrics`: a tiny HTTP listener on 127.0.0.1 that lives as long as the run,
 * with a random secret in its path so another local user cannot write into the run.
 *
 * One metric: `{"key": "val_loss", "value": 0.41, "step": 3}`; several at once:
 * `{"metrics": {"loss": 0.4, "acc": 0.8}, "step": 3}` or a JSON array of either.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoggedMetric {
  key: string;
  value: number;
  metricStep: number | null;
  at: number;
}

const KEY = /^[A-Za-z0-9_.:/-]{1,128}$/;

/**
 * The metrics in one logged JSON value, or the reason it is not one. Values must be finite numbers;
 * a metric step must be a whole number.
 */
export function parseLoggedMetrics(value: unknown, at: number): { metrics: LoggedMetric[] } | { error: string } {
  const items = Array.isArray(value) ? value : [value];
  const out: LoggedMetric[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return { error: 'expected {"key": …, "value": …, "step": …} or {"metrics": {…}, "step": …}' };
    const o = item as Record<string, unknown>;
    const step = o['step'] ?? null;
    if (step !== null && (typeof step !== 'number' || !Number.isInteger(step) || step < 0)) return { error: `step: expected a whole number ≥ 0, got ${JSON.stringify(step)}` };
    const pairs: [string, unknown][] = o['metrics'] !== undefined
      ? typeof o['metrics'] === 'object' && o['metrics'] !== null && !Array.isArray(o['metrics']) ? Object.entries(o['metrics'] as Record<string, unknown>) : []
      : [[String(o['key']), o['value']]];
    if (pairs.length === 0) return { error: 'metrics: expected a map of names to numbers' };
    for (const [key, v] of pairs) {
      if (!KEY.test(key)) return { error: `key: expected a metric name of letters, digits and _.:/- (up to 128), got ${JSON.stringify(key)}` };
      if (typeof v !== 'number' || !Number.isFinite(v)) return { error: `${key}: expected a finite number, got ${JSON.stringify(v)}` };
      out.push({ key, value: v, metricStep: step as number | null, at });
    }
  }
  return { metrics: out };
}

/** The tracking listener of one run. */
export class TrackingServer {
  private server: Server | null = null;
  private readonly secret = randomBytes(16).toString('hex');
  private base = '';

  constructor(private readonly sink: (step: string, metrics: LoggedMetric[]) => Promise<void>) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const m = new RegExp(`^/${this.secret}/steps/([A-Za-z0-9_-]+)/metrics$`).exec(req.url ?? '');
      const answer = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (!m || req.method !== 'POST') return answer(404, { error: 'POST $BERTH_TRACKING_URL/metrics with {"key": …, "value": …, "step": …}' });
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1 << 20) req.destroy();
        else chunks.push(c);
      });
      req.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return answer(400, { error: 'the body is not JSON' });
        }
        const parsed = parseLoggedMetrics(body, Date.now());
        if ('error' in parsed) return answer(400, { error: parsed.error });
        this.sink(m[1]!, parsed.metrics).then(
          () => answer(200, { stored: parsed.metrics.length }),
          (err: Error) => answer(500, { error: err.message }),
        );
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.unref();
    this.server = server;
    this.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/${this.secret}`;
  }

  /** The URL a step's process gets as `BERTH_TRACKING_URL`. */
  urlFor(step: string): string {
    return `${this.base}/steps/${step}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
