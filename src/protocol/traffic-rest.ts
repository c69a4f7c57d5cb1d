import type { FastifyInstance } from 'fastify';
import { BerthError, type Logger } from '../core/index.js';
import type { TrafficHistory } from '../monitor/index.js';
import type { Registry } from '../registry/index.js';
import { jsonSender } from './http-errors.js';
import { single } from './jobs-rest.js';

export interface TrafficRestOptions {
  traffic: TrafficHistory;
  registry: Registry;
  logger: Logger;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `GET /v1/deployments/{name}/traffic?window=1h`: this replica's last hour (or less) of the
 * deployment's traffic in 10 s buckets, and the batch sizes its versions ran (the dashboard's live
 * charts; Prometheus holds the long history).
 */
export function registerTrafficRoutes(app: FastifyInstance, opts: TrafficRestOptions): void {
  const send = jsonSender(opts.logger);
  app.get<{ Params: { name: string }; Querystring: Record<string, string | undefined> }>('/v1/deployments/:name/traffic', async (req, reply) =>
    send(req, reply, async () => {
      const q = single(req.query);
      const text = q['window'] ?? '1h';
      const m = /^(\d+)\s*([smh])$/.exec(text.trim());
      const ms = m ? Number(m[1]) * UNITS[m[2]!]! : NaN;
      if (!Number.isFinite(ms) || ms < 10_000 || ms > 3_600_000) {
        throw new BerthError('INVALID_ARGUMENT', `window: expected a duration from 10s to 1h (e.g. 15m), got ${JSON.stringify(text)}`, { field: 'window', expected: '10s … 1h', got: text });
      }
      const d = await opts.registry.resolveDeployment(req.params.name);
      const policy = d.deployment.traffic;
      const versions = new Set<number>([d.version.version, ...(policy?.split ?? []).map((a) => a.version), ...(policy?.shadows ?? []).map((a) => a.version)]);
      if (policy?.preview !== null && policy?.preview !== undefined) versions.add(policy.preview);
      return opts.traffic.series(req.params.name, ms, [...versions].sort((a, b) => a - b).map((version) => ({ model: d.deployment.model, version })));
    }),
  );
}
