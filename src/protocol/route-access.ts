import type { ServerRole } from '../core/index.js';
import type { Verb } from '../security/index.js';

/**
 * What each route needs. `verbs`: any of these scopes on the route's resource (its `:name`
 * parameter, or every resource when the route has none); `public`: no credentials at all;
 * `authenticated`: any valid credentials. The server refuses to register a route missing from
 * this table, and docs/security.md's table is generated from it (test/security/route-table.test.ts).
 */
export interface RouteAccess {
  readonly verbs: readonly Verb[];
  readonly public?: true;
  readonly authenticated?: true;
  /** the path parameter naming the resource the scope is checked against */
  readonly resource?: 'name';
  /** requests here count against the deployment's rate limit too */
  readonly inference?: true;
}

const PUBLIC: RouteAccess = { verbs: [], public: true };
const ANY: RouteAccess = { verbs: [], authenticated: true };
const READ_ALL: RouteAccess = { verbs: ['read'] };
const READ: RouteAccess = { verbs: ['read'], resource: 'name' };
const DEPLOY: RouteAccess = { verbs: ['deploy'], resource: 'name' };
const PREDICT: RouteAccess = { verbs: ['predict'], resource: 'name', inference: true };
/** model metadata and readiness: what an inference client reads before it sends */
const PREDICT_OR_READ: RouteAccess = { verbs: ['predict', 'read'], resource: 'name' };
const FEEDBACK: RouteAccess = { verbs: ['predict'], resource: 'name' };
const ADMIN: RouteAccess = { verbs: ['admin'] };
/** deploy on every resource (a `deploy` or `deploy:*` scope) */
const DEPLOY_ALL: RouteAccess = { verbs: ['deploy'] };

export const ROUTE_ACCESS: Readonly<Record<string, RouteAccess>> = {
  // health and discovery: load balancers and probes carry no token
  'GET /v2/health/live': PUBLIC,
  'GET /v2/health/ready': PUBLIC,
  'GET /v2': PUBLIC,
  'GET /openapi.json': PUBLIC,
  'GET /v1/auth/whoami': ANY,
  // CORS preflight: answered with CORS headers for allowed origins only
  'OPTIONS *': PUBLIC,
  // the dashboard's static files hold no data (every datum comes from the API with the user's token)
  'GET /v1/deployments/:name/traffic': READ,
  'GET /ui': PUBLIC,
  'GET /ui/': PUBLIC,
  'GET /ui/assets/:file': PUBLIC,

  // inference
  'POST /v2/models/:name/infer': PREDICT,
  'POST /v2/models/:name/versions/:version/infer': PREDICT,
  'POST /v2/models/:name/preview/infer': PREDICT,
  'POST /v1/deployments/:name/predict': PREDICT,
  'POST /v1/deployments/:name/explain': PREDICT,
  'POST /v1/deployments/:name/importance': PREDICT,
  'GET /v1/deployments/:name/explain/jobs/:id': FEEDBACK,
  'GET /v1/deployments/:name/explain/jobs/:id/result': FEEDBACK,
  'POST /v1/deployments/:name/explain/jobs/:id/cancel': FEEDBACK,
  'POST /v2/models/:name/explain': PREDICT,
  'POST /v1/deployments/:name/feedback': FEEDBACK,
  'GET /v2/models/:name': PREDICT_OR_READ,
  'GET /v2/models/:name/versions/:version': PREDICT_OR_READ,
  'GET /v2/models/:name/ready': PREDICT_OR_READ,
  'GET /v2/models/:name/versions/:version/ready': PREDICT_OR_READ,
  'GET /v2/models/stats': READ_ALL,
  'GET /v2/models/:name/stats': READ,
  'GET /v2/models/:name/versions/:version/stats': READ,

  // reads
  'GET /metrics': READ_ALL,
  'GET /v1/status': READ_ALL,
  'GET /v1/models': READ_ALL,
  'GET /v1/models/:name': READ,
  'GET /v1/models/:name/versions': READ,
  'GET /v1/models/:name/versions/:version': READ,
  'GET /v1/models/:name/aliases/history': READ,
  'GET /v1/models/:name/versions/:version/signatures': READ,
  'GET /v1/deployments': READ_ALL,
  'GET /v1/deployments/:name': READ,
  'GET /v1/deployments/:name/history': READ,
  'GET /v1/deployments/:name/monitor': READ,
  'GET /v1/deployments/:name/monitor/timeline': READ,
  // logged feature values one request at a time: more than the aggregates of a report
  'GET /v1/deployments/:name/requests': DEPLOY,
  'GET /v1/models/:name/versions/:version/reference': READ,
  'GET /v1/deployments/:name/rollout': READ,
  'GET /v1/deployments/:name/rollouts': READ,
  'GET /v1/rollouts': READ_ALL,
  'GET /v1/alerts': READ_ALL,
  'GET /v1/security/findings': READ_ALL,
  'POST /v2/repository/index': READ_ALL,

  // changes
  'PATCH /v1/models/:name': DEPLOY,
  'DELETE /v1/models/:name/tags/:key': DEPLOY,
  'POST /v1/models/:name/versions': DEPLOY,
  'PATCH /v1/models/:name/versions/:version': DEPLOY,
  // the model file: those who may ship a model may take it (a reader must not walk off with it)
  'GET /v1/models/:name/versions/:version/artifact': DEPLOY,
  'DELETE /v1/models/:name/versions/:version/tags/:key': DEPLOY,
  'POST /v1/models/:name/versions/:version/profile': DEPLOY,
  'POST /v1/models/:name/versions/:version/signatures': DEPLOY,
  'PUT /v1/models/:name/aliases/:alias': DEPLOY,
  'DELETE /v1/models/:name/aliases/:alias': DEPLOY,
  'POST /v1/models/:name/aliases/:alias/rollback': DEPLOY,
  'PUT /v1/deployments/:name': DEPLOY,
  'DELETE /v1/deployments/:name': DEPLOY,
  'POST /v1/deployments/:name/rollback': DEPLOY,
  'POST /v1/deployments/:name/rollout': DEPLOY,
  'POST /v1/deployments/:name/rollout/pause': DEPLOY,
  'POST /v1/deployments/:name/rollout/resume': DEPLOY,
  'POST /v1/deployments/:name/rollout/promote': DEPLOY,
  'POST /v1/deployments/:name/rollout/abort': DEPLOY,
  'POST /v1/deployments/:name/rollout/rollback': DEPLOY,
  'POST /v2/repository/models/:name/load': DEPLOY,
  'POST /v2/repository/models/:name/unload': DEPLOY,

  // server batch jobs: submitting and cancelling need predict on the job's model, checked by the
  // handler (the model is in the body); paths outside the jobs roots need admin
  'POST /v1/jobs': ANY,
  'GET /v1/jobs': READ_ALL,
  'GET /v1/jobs/:id': READ_ALL,
  'POST /v1/jobs/:id/cancel': ANY,
  'GET /v1/jobs/:id/logs': READ_ALL,
  // schedules submit jobs: the same rights, checked by the handler against the schedule's model
  'POST /v1/schedules': ANY,
  'GET /v1/schedules': READ_ALL,
  'GET /v1/schedules/:name': READ_ALL,
  'DELETE /v1/schedules/:name': ANY,
  'POST /v1/schedules/:name/pause': ANY,
  'POST /v1/schedules/:name/resume': ANY,
  'POST /v1/schedules/:name/run': ANY,

  // continuous-training pipelines run commands on the server: storing one needs admin unless its
  // workdir is inside the pipeline roots (checked by the handler); starting and cancelling runs
  // changes what gets deployed, so it needs deploy
  'POST /v1/pipelines': DEPLOY_ALL,
  'GET /v1/pipelines': READ_ALL,
  'GET /v1/pipelines/:name': READ_ALL,
  'DELETE /v1/pipelines/:name': DEPLOY_ALL,
  'POST /v1/pipelines/:name/pause': DEPLOY_ALL,
  'POST /v1/pipelines/:name/resume': DEPLOY_ALL,
  'POST /v1/pipelines/:name/runs': DEPLOY_ALL,
  'GET /v1/pipelines/:name/runs': READ_ALL,
  'GET /v1/runs': READ_ALL,
  'GET /v1/runs/:id': READ_ALL,
  'GET /v1/runs/:id/logs': READ_ALL,
  'POST /v1/runs/:id/cancel': DEPLOY_ALL,
  'GET /v1/lineage/models/:name/:ref': READ,
  'GET /v1/lineage/datasets/:sha': READ_ALL,

  // administration
  'GET /v1/audit': ADMIN,
  'GET /v1/audit/verify': ADMIN,
  'GET /v1/audit/export': ADMIN,
  'GET /v1/tokens': ADMIN,
  'POST /v1/tokens': ADMIN,
  'GET /v1/tokens/:id': ADMIN,
  'DELETE /v1/tokens/:id': ADMIN,
};

/** The access rule of `METHOD url-pattern` (HEAD as GET), or undefined when the table has none. */
export function routeAccess(method: string, url: string): RouteAccess | undefined {
  return ROUTE_ACCESS[`${method === 'HEAD' ? 'GET' : method} ${url}`];
}

/**
 * Which replicas serve a route (`berth serve --role`): `data` routes (inference) are served by
 * `data` and `all` replicas, `control` routes (the management API, rollouts, monitoring, feedback,
 * tokens) by `control` and `all` ones, `both` (health, model metadata, metrics, status) by every
 * replica. Elsewhere the route answers 421 WRONG_ROLE naming where to send it.
 */
export type RoutePlane = 'data' | 'control' | 'both';

const SERVED_BY_EVERY_ROLE: ReadonlySet<string> = new Set([
  'GET /v2/health/live',
  'GET /v2/health/ready',
  'GET /v2',
  'GET /openapi.json',
  'GET /v1/auth/whoami',
  'OPTIONS *',
  'GET /v2/models/:name',
  'GET /v2/models/:name/versions/:version',
  'GET /v2/models/:name/ready',
  'GET /v2/models/:name/versions/:version/ready',
  'GET /metrics',
  'GET /v1/status',
  // each replica's own counters, like /metrics
  'GET /v2/models/stats',
  'GET /v2/models/:name/stats',
  'GET /v2/models/:name/versions/:version/stats',
  // the model repository extension acts on the loaded models of the replica it reaches
  'POST /v2/repository/index',
  'POST /v2/repository/models/:name/load',
  'POST /v2/repository/models/:name/unload',
]);

/** The plane of `METHOD url-pattern` (see RoutePlane); routes missing from ROUTE_ACCESS are control routes. */
export function routePlane(method: string, url: string): RoutePlane {
  const key = `${method === 'HEAD' ? 'GET' : method} ${url}`;
  if (SERVED_BY_EVERY_ROLE.has(key)) return 'both';
  return ROUTE_ACCESS[key]?.inference ? 'data' : 'control';
}

/** Whether a replica of `role` serves routes of `plane`. */
export function roleServes(role: ServerRole, plane: RoutePlane): boolean {
  return role === 'all' || plane === 'both' || plane === role;
}

/** How the docs say what a route needs. */
export function describeAccess(a: RouteAccess): string {
  if (a.public) return 'public';
  if (a.authenticated) return 'any valid credentials';
  const scopes = a.verbs.map((v) => (v === 'admin' ? 'admin' : `${v}:${a.resource ? '{name}' : '*'}`));
  return scopes.join(' or ') + (a.inference ? ' (deployment rate limit applies)' : '');
}

/**
 * The route → scope table of docs/security.md, in markdown, generated from ROUTE_ACCESS (a test
 * keeps the docs equal to it; `node scripts/route-table.js` rewrites them).
 */
export function renderRouteTable(): string {
  const rows = Object.entries(ROUTE_ACCESS)
    .map(([key, a]) => {
      const [method, url] = key.split(' ') as [string, string];
      return { method, key: url, url: url.replace(/:([A-Za-z_]+)/g, '{$1}'), a };
    })
    .sort((x, y) => (x.url === y.url ? x.method.localeCompare(y.method) : x.url.localeCompare(y.url)));
  const servedBy = { both: 'every role', data: '`all`, `data`', control: '`all`, `control`' } as const;
  const lines = ['| method | route | needs | served by (`--role`) |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.method} | \`${r.url}\` | ${describeAccess(r.a)} | ${servedBy[routePlane(r.method, r.key)]} |`);
  return lines.join('\n');
}
