import { principalOf } from './guard.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, assertName, type Clock, type Lineage, type Logger, type Signature } from '../core/index.js';
import type { AuditEntry, DeploymentSettings, Registry, Tags } from '../registry/index.js';
import { validateTrafficPolicy } from '../registry/index.js';
import type { MonitorService } from '../monitor/index.js';
import type { InferenceService } from '../serving/index.js';
import { sendError } from './http-errors.js';
import { ManagementApi, parseInstant, type AuditRequest, type DeployRequest, type ManagementApiOptions, type MetadataPatch } from './management-api.js';
import { buildOpenApiDocument } from './openapi.js';
import { parseVersion } from './v2-rest.js';

export interface ManagementRestOptions {
  registry: Registry;
  service: InferenceService;
  logger: Logger;
  /** Berth's version (status, OpenAPI `info.version`) */
  version: string;
  /** reads a model's signature; refuses files that are not loadable models (INVALID_MODEL) */
  inspect: (bytes: Uint8Array) => Promise<Signature>;
  /** the data dir, reported by `GET /v1/status` */
  dataDir?: string;
  clock?: Clock;
  /** body limit of the register route (default REGISTER_BODY_LIMIT_BYTES) */
  registerBodyLimitBytes?: number;
  /** monitoring: registering with reference data also profiles it */
  monitor?: MonitorService;
  /** checked before a deployment changes (ManagementApiOptions.verifyDeploy) */
  verifyDeploy?: ManagementApiOptions['verifyDeploy'];
  verifyVersion?: ManagementApiOptions['verifyVersion'];
  rolloutLeader?: ManagementApiOptions['rolloutLeader'];
  afterReference?: ManagementApiOptions['afterReference'];
  grpcPort?: ManagementApiOptions['grpcPort'];
  role?: ManagementApiOptions['role'];
}

/**
 * Body limit of `POST /v1/models/{name}/versions`. The body is JSON parsed as one string, and V8
 * strings stop at 2^29 − 24 characters (≈ 512 MiB), so the limit sits below that: model files up
 * to ≈ 375 MB travel base64-encoded; larger ones register against the data dir (`berth models
 * register` without a server).
 */
export const REGISTER_BODY_LIMIT_BYTES = 500 * 1024 * 1024;

/** Header naming who makes a change (recorded in the audit log); `api` when absent. */
export const ACTOR_HEADER = 'x-berth-actor';

type P<T> = { Params: T };
type NameP = { name: string };
type VersionP = { name: string; version: string };
type KeyP = { name: string; key: string };
type VersionKeyP = { name: string; version: string; key: string };
type AliasP = { name: string; alias: string };

/**
 * The management REST API under `/v1` (models, versions, aliases, deployments, audit, status) and
 * the OpenAPI document at `/openapi.json`. Responses are the registry's records as JSON; errors
 * are `{"error", "code", "field"?}` through `sendError`.
 *
 * @example
 * registerManagementRoutes(app, { registry, service, logger, version: '0.1.0', inspect: (b) => backend.inspect(b) });
 * // curl -X PUT localhost:8080/v1/models/fraud/aliases/production -d '{"version": 3}'
 */
export function registerManagementRoutes(app: FastifyInstance, opts: ManagementRestOptions): ManagementApi {
  const { logger } = opts;
  const api = new ManagementApi({
    registry: opts.registry,
    inspect: opts.inspect,
    version: opts.version,
    dataDir: opts.dataDir ?? null,
    service: opts.service,
    ...(opts.monitor ? { monitor: opts.monitor } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.verifyDeploy ? { verifyDeploy: opts.verifyDeploy } : {}),
    ...(opts.verifyVersion ? { verifyVersion: opts.verifyVersion } : {}),
    ...(opts.rolloutLeader ? { rolloutLeader: opts.rolloutLeader } : {}),
    ...(opts.afterReference ? { afterReference: opts.afterReference } : {}),
    ...(opts.grpcPort ? { grpcPort: opts.grpcPort } : {}),
    ...(opts.role ? { role: opts.role } : {}),
  });
  const openapi = JSON.stringify(buildOpenApiDocument({ version: opts.version }));

  const wrap =
    <T>(fn: (req: FastifyRequest<P<T>>, reply: FastifyReply) => Promise<unknown>) =>
    async (req: FastifyRequest<P<T>>, reply: FastifyReply): Promise<unknown> => {
      try {
        const out = await fn(req, reply);
        if (reply.sent) return reply;
        return reply.header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(out));
      } catch (err) {
        return sendError(reply, req, err, logger);
      }
    };

  app.get('/openapi.json', async (_req, reply) => reply.header('content-type', 'application/json; charset=utf-8').send(openapi));

  // models
  app.get('/v1/models', wrap(async () => api.listModels()));
  app.get<P<NameP>>('/v1/models/:name', wrap<NameP>(async (req) => api.getModel(modelParam(req.params.name))));
  app.patch<P<NameP>>(
    '/v1/models/:name',
    wrap<NameP>(async (req) => api.updateModel(modelParam(req.params.name), readPatch(req.body), actorOf(req))),
  );
  app.delete<P<KeyP>>(
    '/v1/models/:name/tags/:key',
    wrap<KeyP>(async (req) => api.deleteModelTag(modelParam(req.params.name), tagKeyParam(req.params.key), actorOf(req))),
  );

  // versions
  app.get<P<NameP>>('/v1/models/:name/versions', wrap<NameP>(async (req) => api.listVersions(modelParam(req.params.name))));
  app.post<P<NameP>>(
    '/v1/models/:name/versions',
    { bodyLimit: opts.registerBodyLimitBytes ?? REGISTER_BODY_LIMIT_BYTES },
    wrap<NameP>(async (req, reply) => {
      const result = await registerUpload(api, modelParam(req.params.name), req.body, actorOf(req));
      reply.code(result.created ? 201 : 200);
      return result;
    }),
  );
  app.get<P<VersionP>>(
    '/v1/models/:name/versions/:version',
    wrap<VersionP>(async (req) => api.getVersion(modelParam(req.params.name), parseVersion(req.params.version))),
  );
  // the model file itself, for clients that score in their own process (`berth batch run --server`)
  app.get<P<VersionP>>(
    '/v1/models/:name/versions/:version/artifact',
    wrap<VersionP>(async (req, reply) => {
      const name = modelParam(req.params.name);
      const v = await api.getVersion(name, parseVersion(req.params.version));
      await opts.verifyVersion?.(v);
      const bytes = await opts.registry.artifacts.read(v.sha256);
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-disposition', `attachment; filename="${name}-${v.version}.onnx"`)
        .header('x-berth-sha256', v.sha256)
        .send(bytes);
    }),
  );
  app.patch<P<VersionP>>(
    '/v1/models/:name/versions/:version',
    wrap<VersionP>(async (req) =>
      api.updateVersion(modelParam(req.params.name), parseVersion(req.params.version), readPatch(req.body), actorOf(req)),
    ),
  );
  app.delete<P<VersionKeyP>>(
    '/v1/models/:name/versions/:version/tags/:key',
    wrap<VersionKeyP>(async (req) =>
      api.deleteVersionTag(modelParam(req.params.name), parseVersion(req.params.version), tagKeyParam(req.params.key), actorOf(req)),
    ),
  );

  // aliases
  app.get<P<NameP>>(
    '/v1/models/:name/aliases/history',
    wrap<NameP>(async (req) => {
      const q = queryOf(req.query);
      const alias = one(q, 'alias');
      const at = one(q, 'at');
      return api.aliasHistory(modelParam(req.params.name), {
        ...(alias !== undefined ? { alias: assertName('alias', alias) } : {}),
        ...(at !== undefined ? { atMs: parseInstant('at', at) } : {}),
      });
    }),
  );
  app.put<P<AliasP>>(
    '/v1/models/:name/aliases/:alias',
    wrap<AliasP>(async (req) => {
      const body = objectBody(req.body);
      const version = body['version'];
      if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
        throw invalid('version', 'a version number >= 1', version);
      }
      return api.setAlias(modelParam(req.params.name), aliasParam(req.params.alias), version, actorOf(req));
    }),
  );
  app.delete<P<AliasP>>(
    '/v1/models/:name/aliases/:alias',
    wrap<AliasP>(async (req) => api.deleteAlias(modelParam(req.params.name), aliasParam(req.params.alias), actorOf(req))),
  );
  app.post<P<AliasP>>(
    '/v1/models/:name/aliases/:alias/rollback',
    wrap<AliasP>(async (req) => api.rollbackAlias(modelParam(req.params.name), aliasParam(req.params.alias), actorOf(req))),
  );

  // deployments
  app.get('/v1/deployments', wrap(async () => api.listDeployments()));
  app.get<P<NameP>>('/v1/deployments/:name', wrap<NameP>(async (req) => api.getDeployment(deploymentParam(req.params.name))));
  app.put<P<NameP>>(
    '/v1/deployments/:name',
    wrap<NameP>(async (req, reply) => {
      const result = await api.deploy(deploymentParam(req.params.name), readDeployRequest(req.body), actorOf(req));
      reply.code(result.created ? 201 : 200);
      return result;
    }),
  );
  app.delete<P<NameP>>(
    '/v1/deployments/:name',
    wrap<NameP>(async (req) => api.deleteDeployment(deploymentParam(req.params.name), actorOf(req))),
  );
  app.get<P<NameP>>(
    '/v1/deployments/:name/history',
    wrap<NameP>(async (req) => {
      const at = one(queryOf(req.query), 'at');
      return api.deploymentHistory(deploymentParam(req.params.name), at !== undefined ? { atMs: parseInstant('at', at) } : {});
    }),
  );
  app.post<P<NameP>>(
    '/v1/deployments/:name/rollback',
    wrap<NameP>(async (req) => api.rollbackDeployment(deploymentParam(req.params.name), actorOf(req))),
  );

  // reference profiles (monitoring)
  app.post<P<VersionP>>(
    '/v1/models/:name/versions/:version/profile',
    { bodyLimit: opts.registerBodyLimitBytes ?? REGISTER_BODY_LIMIT_BYTES },
    wrap<VersionP>(async (req, reply) => {
      const name = modelParam(req.params.name);
      const version = parseVersion(req.params.version);
      const body = objectBody(req.body);
      for (const key of Object.keys(body)) {
        if (key !== 'reference_base64' && key !== 'reference_file_name') throw invalid(key, 'one of reference_base64, reference_file_name', 'an unknown field');
      }
      const data = decodeBase64('reference_base64', body['reference_base64'], true)!;
      const fileName = fileNameField('reference_file_name', body['reference_file_name']) ?? 'reference.csv';
      const dir = await mkdtemp(join(tmpdir(), 'berth-profile-'));
      try {
        const file = join(dir, fileName);
        await writeFile(file, data);
        const out = await api.profileVersion(name, version, file, actorOf(req));
        reply.code(201);
        return out;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }),
  );

  // audit and status
  app.get(
    '/v1/audit',
    wrap(async (req) => api.audit(readAuditRequest(req.query, true))),
  );
  app.get('/v1/audit/verify', wrap(async () => api.verifyAudit()));
  app.get('/v1/audit/export', async (req, reply) => {
    let pages: AsyncIterable<AuditEntry[]>;
    try {
      pages = await api.exportAudit(readAuditRequest(req.query, false));
    } catch (err) {
      return sendError(reply, req, err, logger);
    }
    // a failure after the first page ends the response without its last chunk: the client sees a cut stream, not a short export
    return reply.header('content-type', 'application/x-ndjson; charset=utf-8').send(Readable.from(auditLines(pages)));
  });
  app.get('/v1/status', wrap(async () => api.status()));
  return api;
}

// ---------------------------------------------------------------------------------------------
// audit

/** The filters of `GET /v1/audit` (`withLimit`) and `GET /v1/audit/export` from the query string. */
function readAuditRequest(query: unknown, withLimit: boolean): AuditRequest {
  const q = queryOf(query);
  const out: AuditRequest = {};
  const limit = withLimit ? one(q, 'limit') : undefined;
  if (limit !== undefined) {
    if (!/^[0-9]{1,5}$/.test(limit) || Number(limit) < 1 || Number(limit) > 10_000) throw invalid('limit', 'an integer in [1, 10000]', limit);
    out.limit = Number(limit);
  }
  const since = one(q, 'since');
  if (since !== undefined) out.since = parseInstant('since', since);
  const until = one(q, 'until');
  if (until !== undefined) out.until = parseInstant('until', until);
  const action = one(q, 'action');
  if (action !== undefined) out.action = action;
  const target = one(q, 'target');
  if (target !== undefined) out.target = target;
  const model = one(q, 'model');
  if (model !== undefined) out.model = assertName('model', model);
  return out;
}

/** JSON lines, one entry per line, a page per chunk. */
async function* auditLines(pages: AsyncIterable<AuditEntry[]>): AsyncGenerator<string> {
  for await (const page of pages) yield page.map((e) => JSON.stringify(e) + '\n').join('');
}

// ---------------------------------------------------------------------------------------------
// register over HTTP

/** The JSON body of `POST /v1/models/{name}/versions`. */
export interface RegisterUploadBody {
  model_base64: string;
  file_name?: string;
  card_text?: string;
  card_file_name?: string;
  reference_csv_base64?: string;
  reference_file_name?: string;
  description?: string;
  tags?: Tags;
  source_path?: string;
  lineage?: Partial<Lineage>;
}

const REGISTER_FIELDS = [
  'model_base64', 'file_name', 'card_text', 'card_file_name', 'reference_csv_base64', 'reference_file_name',
  'description', 'tags', 'source_path', 'lineage',
] as const;

async function registerUpload(api: ManagementApi, name: string, raw: unknown, actor: string): ReturnType<ManagementApi['registerVersion']> {
  const body = objectBody(raw);
  for (const key of Object.keys(body)) {
    if (!(REGISTER_FIELDS as readonly string[]).includes(key)) throw invalid(key, `one of ${REGISTER_FIELDS.join(', ')}`, 'an unknown field');
  }
  const model = decodeBase64('model_base64', body['model_base64'], true)!;
  const fileName = fileNameField('file_name', body['file_name']) ?? 'model.onnx';
  const cardText = optString('card_text', body['card_text']);
  const cardFileName = fileNameField('card_file_name', body['card_file_name']);
  const reference = decodeBase64('reference_csv_base64', body['reference_csv_base64'], false);
  const referenceName = fileNameField('reference_file_name', body['reference_file_name']) ?? 'reference.csv';
  const description = optString('description', body['description']);
  const tags = optTags('tags', body['tags']);
  const sourcePath = optString('source_path', body['source_path']);
  const lineage = body['lineage'];
  if (lineage !== undefined && !isPlainObject(lineage)) throw invalid('lineage', 'an object of lineage facts', lineage);
  if (fileName === referenceName && reference) throw invalid('reference_file_name', 'a name different from file_name', referenceName);

  const dir = await mkdtemp(join(tmpdir(), 'berth-register-'));
  try {
    const filePath = join(dir, fileName);
    await writeFile(filePath, model);
    let referencePath: string | undefined;
    if (reference) {
      referencePath = join(dir, referenceName);
      await writeFile(referencePath, reference);
    }
    return await api.registerVersion({
      name,
      filePath,
      actor,
      // without a client-reported path the temp copy's path would be recorded, which means nothing
      sourcePath: sourcePath ?? `upload:${fileName}`,
      lineage: (lineage as Partial<Lineage> | undefined) ?? {},
      ...(cardText !== undefined ? { cardText, cardFileName: cardFileName ?? 'card.yaml' } : {}),
      ...(referencePath !== undefined ? { referencePath } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(tags !== undefined ? { tags } : {}),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function decodeBase64(field: string, v: unknown, required: boolean): Buffer | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw invalid(field, 'the file as a non-empty base64 string', v === undefined ? 'nothing' : v);
  if (v.length % 4 === 1 || !/^[A-Za-z0-9+/\r\n]*={0,2}\s*$/.test(v)) throw invalid(field, 'standard base64 (A-Z a-z 0-9 + / =)', `${v.slice(0, 24)}…`);
  return Buffer.from(v, 'base64');
}

function fileNameField(field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(field, 'a file name', v);
  const b = basename(v.replace(/\\/g, '/'));
  if (b === '' || b === '.' || b === '..' || b.length > 255 || /[\u0000-\u001f]/.test(b)) throw invalid(field, 'a file name', v);
  return b;
}

// ---------------------------------------------------------------------------------------------
// decoding and validation

function invalid(field: string, expected: string, got: unknown): BerthError {
  const shown = typeof got === 'string' && got.length > 80 ? `${got.slice(0, 77)}...` : got;
  return new BerthError('INVALID_ARGUMENT', `${field}: expected ${expected}, got ${typeof shown === 'string' ? shown : JSON.stringify(shown)}`, {
    field,
    expected,
    got: shown,
  });
}

export function actorOf(req: FastifyRequest): string {
  // an authenticated caller is who the audit trail names; the header only names someone in dev mode
  const p = principalOf(req.raw);
  if (p !== undefined && p.kind !== 'dev') return p.name;
  const h = req.headers[ACTOR_HEADER];
  const v = Array.isArray(h) ? h[0] : h;
  if (v === undefined || v === '') return 'api';
  if (v.length > 256 || /[\u0000-\u001f]/.test(v)) throw invalid(ACTOR_HEADER, 'a name of at most 256 printable characters', v);
  return v;
}

function modelParam(v: string): string {
  return assertName('model', v);
}

function deploymentParam(v: string): string {
  return assertName('deployment', v);
}

function aliasParam(v: string): string {
  return assertName('alias', v);
}

function tagKeyParam(v: string): string {
  if (v === '' || v.length > 128 || /[\u0000-\u001f]/.test(v)) throw invalid('key', 'a tag name of 1-128 printable characters', v);
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function objectBody(v: unknown): Record<string, unknown> {
  if (!isPlainObject(v)) throw invalid('body', 'a JSON object', v === undefined ? 'an empty body' : v);
  return v;
}

function optString(field: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(field, 'a string', v);
  return v;
}

function optTags(field: string, v: unknown): Tags | undefined {
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) throw invalid(field, 'an object of tag name → string', v);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw invalid(`${field}.${k}`, 'a string', x);
  return v as Tags;
}

function readPatch(raw: unknown): MetadataPatch {
  const body = objectBody(raw);
  const patch: MetadataPatch = {};
  for (const key of Object.keys(body)) {
    if (key !== 'description' && key !== 'tags') throw invalid(key, 'one of description, tags', 'an unknown field');
  }
  const d = body['description'];
  if (d !== undefined) {
    if (d !== null && typeof d !== 'string') throw invalid('description', 'a string, or null to clear it', d);
    patch.description = d;
  }
  const tags = optTags('tags', body['tags']);
  if (tags !== undefined) patch.tags = tags;
  if (patch.description === undefined && patch.tags === undefined) throw invalid('body', 'at least one of description, tags', body);
  return patch;
}

function readDeployRequest(raw: unknown): DeployRequest {
  const body = objectBody(raw);
  for (const key of Object.keys(body)) {
    if (!['model', 'alias', 'version', 'settings', 'traffic'].includes(key)) throw invalid(key, 'one of model, alias, version, settings, traffic', 'an unknown field');
  }
  const req: DeployRequest = { model: assertName('model', body['model']) };
  if (body['alias'] !== undefined) req.alias = assertName('alias', body['alias']);
  const v = body['version'];
  if (v !== undefined) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalid('version', 'a version number >= 1', v);
    req.version = v;
  }
  const s = body['settings'];
  if (s !== undefined) {
    if (!isPlainObject(s)) throw invalid('settings', 'an object of deployment settings', s);
    req.settings = s as DeploymentSettings;
  }
  // checked by the registry (every problem at once, each naming its field)
  if (body['traffic'] !== undefined) req.traffic = validateTrafficPolicy(body['traffic']);
  return req;
}

function queryOf(q: unknown): Record<string, unknown> {
  return isPlainObject(q) ? q : {};
}

function one(q: Record<string, unknown>, key: string): string | undefined {
  const v = q[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(key, 'one value', v);
  return v;
}
