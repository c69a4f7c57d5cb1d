import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, assertName, type Logger } from '../core/index.js';
import { DRIFT_PRESETS, renderReportHtml, type AlertManager, type DriftPreset, type MonitorService, type ReportRequest } from '../monitor/index.js';
import { sendError } from './http-errors.js';

export interface MonitorRestOptions {
  monitor: MonitorService;
  alerts?: AlertManager;
  logger: Logger;
}

type NameP = { Params: { name: string } };

/**
 * Monitoring over HTTP: ground truth for earlier predictions
 * (`POST /v1/deployments/{name}/feedback`) and reports of a window of traffic
 * (`GET /v1/deployments/{name}/monitor?window=1h&format=html`), the same cut into time buckets
 * (`…/monitor/timeline`), the newest logged requests (`…/requests`) and a version's reference
 * profile as histograms (`GET /v1/models/{name}/versions/{version}/reference`).
 *
 * @example
 * // curl -X POST localhost:8080/v1/deployments/credit/feedback -d '{"request_id": "3f2a…", "label": 1}'
 * // curl 'localhost:8080/v1/deployments/credit/monitor?window=1h&format=html' > report.html
 */
export function registerMonitorRoutes(app: FastifyInstance, opts: MonitorRestOptions): void {
  const { monitor, logger } = opts;
  const send = async (req: FastifyRequest, reply: FastifyReply, fn: () => Promise<unknown>): Promise<unknown> => {
    try {
      const out = await fn();
      if (reply.sent) return reply;
      return reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(out));
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
  };

  app.post<NameP>('/v1/deployments/:name/feedback', async (req, reply) =>
    send(req, reply, async () => monitor.recordFeedback(assertName('deployment', req.params.name), req.body)),
  );

  app.get('/v1/alerts', async (req, reply) =>
    send(req, reply, async () => {
      const a = opts.alerts;
      return {
        rules: (a?.rules ?? []).map((r) => ({ name: r.name, deployment: r.deployment, when: r.when, window: r.window, severity: r.severity })),
        alerts: a?.list() ?? [],
        events: a?.events(100) ?? [],
      };
    }),
  );

  app.get<NameP>('/v1/deployments/:name/monitor', async (req, reply) =>
    send(req, reply, async () => {
      const name = assertName('deployment', req.params.name);
      const { r, str } = reportQuery(req.query, ['format']);
      const format = str('format') ?? 'json';
      if (format !== 'json' && format !== 'html') throw invalid('format', 'json or html', format);
      const report = await monitor.report(name, r);
      if (format === 'html') {
        return reply.header('content-type', 'text/html; charset=utf-8').send(renderReportHtml(report));
      }
      return report;
    }),
  );

  app.get<NameP>('/v1/deployments/:name/monitor/timeline', async (req, reply) =>
    send(req, reply, async () => {
      const name = assertName('deployment', req.params.name);
      const { r, str } = reportQuery(req.query, ['points']);
      return monitor.timeline(name, { ...r, points: intParam('points', str('points'), 2, 200, 24) });
    }),
  );

  app.get<NameP>('/v1/deployments/:name/requests', async (req, reply) =>
    send(req, reply, async () => {
      const name = assertName('deployment', req.params.name);
      const q = (req.query ?? {}) as Record<string, unknown>;
      for (const k of Object.keys(q)) if (k !== 'limit') throw invalid(k, 'the parameter limit', 'an unknown parameter');
      const limit = q['limit'];
      if (limit !== undefined && typeof limit !== 'string') throw invalid('limit', 'one value', limit);
      return monitor.requests(name, intParam('limit', limit, 1, 1000, 20));
    }),
  );

  app.get<{ Params: { name: string; version: string } }>('/v1/models/:name/versions/:version/reference', async (req, reply) =>
    send(req, reply, async () => monitor.referenceView(assertName('model', req.params.name), versionNumber('version', req.params.version))),
  );
}

/** The query of a report or a timeline: window, against, version, preset (and `extra` names, read by the caller). */
function reportQuery(query: unknown, extra: string[]): { r: ReportRequest; str: (k: string) => string | undefined } {
  const q = (query ?? {}) as Record<string, unknown>;
  const known = ['window', 'against', 'version', 'preset', ...extra];
  for (const k of Object.keys(q)) {
    if (!known.includes(k)) throw invalid(k, `one of the parameters ${known.join(', ')}`, 'an unknown parameter');
  }
  const r: ReportRequest = {};
  const str = (k: string): string | undefined => {
    const v = q[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') throw invalid(k, 'one value', v);
    return v;
  };
  const window = str('window');
  if (window !== undefined) r.window = window;
  const against = str('against');
  if (against !== undefined) r.against = against;
  const version = str('version');
  if (version !== undefined) r.version = versionNumber('version', version);
  const preset = str('preset');
  if (preset !== undefined) {
    if (!(DRIFT_PRESETS as readonly string[]).includes(preset)) throw invalid('preset', `one of ${DRIFT_PRESETS.join(', ')}`, preset);
    r.preset = preset as DriftPreset;
  }
  return { r, str };
}

function versionNumber(field: string, v: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(v)) throw invalid(field, 'a version number (1, 2, …)', v);
  return Number(v);
}

/** An integer query parameter within [min, max], or `fallback` when absent. */
function intParam(field: string, v: string | undefined, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^[0-9]{1,6}$/.test(v) || Number(v) < min || Number(v) > max) throw invalid(field, `an integer from ${min} to ${max}`, v);
  return Number(v);
}

function invalid(field: string, expected: string, got: unknown): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${typeof got === 'string' ? got : JSON.stringify(got)}`, { field, expected, got });
}
