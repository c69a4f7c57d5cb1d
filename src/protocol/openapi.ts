import { DATATYPES, ERROR_CODES, TASKS } from '../core/index.js';
import { ALIAS_CHANGES, AUDIT_ACTIONS, DEPLOYMENT_CHANGES } from '../registry/index.js';
import { MODEL_STATES } from '../serving/index.js';
import { ROLE_NAMES } from '../security/index.js';
import { describeAccess, routeAccess } from './route-access.js';

/*
 * The OpenAPI 3.1 document of every HTTP route the server answers, built as data. A test checks
 * that the routes Fastify registered and the paths here are the same set, so a new route without
 * documentation (or documentation of a removed route) fails the build.
 */

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string, extra: Json = {}): Json => ({ type: 'string', ...(description ? { description } : {}), ...extra });
const int = (description?: string, extra: Json = {}): Json => ({ type: 'integer', ...(description ? { description } : {}), ...extra });
const num = (description?: string): Json => ({ type: 'number', ...(description ? { description } : {}) });
const bool = (description?: string): Json => ({ type: 'boolean', ...(description ? { description } : {}) });
const arr = (items: Json, description?: string): Json => ({ type: 'array', items, ...(description ? { description } : {}) });
const nullable = (schema: Json): Json => ({ oneOf: [schema, { type: 'null' }] });
const map = (values: Json, description?: string): Json => ({ type: 'object', additionalProperties: values, ...(description ? { description } : {}) });
const obj = (properties: Record<string, Json>, required: string[] = [], extra: Json = {}): Json => ({
  type: 'object',
  properties,
  ...(required.length > 0 ? { required } : {}),
  ...extra,
});
const iso = (description = 'ISO 8601 time'): Json => str(description, { format: 'date-time' });

const SCHEMAS: Record<string, Json> = {
  PipelineRequest: obj(
    {
      source: str('the pipeline file (berth.pipeline.yaml) as text; see docs/pipelines.md'),
      workdir: str('absolute directory on the server where its commands run (outside the pipeline roots: admin only)'),
    },
    ['source', 'workdir'],
    { additionalProperties: false },
  ),
  PipelineRecord: obj(
    {
      name: str(),
      version: int('increases each time the stored text changes'),
      spec: obj({ name: str(), description: nullable(str()), params: map({}), steps: arr(obj({ name: str(), kind: str(undefined, { enum: ['command', 'builtin'] }), needs: arr(str()) })), triggers: arr(obj({ kind: str(undefined, { enum: ['schedule', 'alert', 'feedback'] }), id: str() })) }),
      source: str(),
      sha256: str(),
      workdir: str(),
      enabled: bool('whether its triggers start runs'),
      createdAt: iso(),
      updatedAt: iso(),
      actor: str(),
    },
    ['name', 'version', 'spec', 'sha256', 'workdir', 'enabled'],
  ),
  RunRequest: obj(
    {
      params: map({ oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] }, 'values for params the pipeline declares (each keeps its declared type)'),
      trigger: obj({ kind: str(undefined, { enum: ['api', 'git'] }) }, ['kind'], { description: 'what started it (a git hook sends {"kind": "git", "commit": "<sha>"})' }),
    },
    [],
    { additionalProperties: false },
  ),
  StepRecord: obj(
    {
      name: str(),
      state: str(undefined, { enum: ['pending', 'running', 'succeeded', 'cached', 'failed', 'skipped', 'cancelled'] }),
      attempts: int(),
      cacheKey: nullable(str()),
      cachedFrom: nullable(int('the run whose outputs a cached step reused')),
      outputs: nullable(map(obj({ file: str(), sha256: str(), bytes: int() }))),
      result: nullable(map({}, "a built-in step's answer (an evaluation, a gate's table, the version registered)")),
      startedAt: nullable(iso()),
      finishedAt: nullable(iso()),
      exitCode: nullable(int()),
      error: nullable(obj({ code: str(), message: str() })),
    },
    ['name', 'state', 'attempts'],
  ),
  RunRecord: obj(
    {
      id: int(),
      pipeline: str(),
      pipelineVersion: nullable(int()),
      state: str(undefined, { enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] }),
      params: map({}),
      trigger: obj({ kind: str(undefined, { enum: ['cli', 'api', 'schedule', 'alert', 'feedback', 'git'] }), detail: map({}) }, ['kind']),
      workdir: str(),
      code: nullable(obj({ commit: str(), dirty: bool(), remote: str() }, ['commit'])),
      mode: str(undefined, { enum: ['local', 'server'] }),
      actor: str(),
      createdAt: iso(),
      startedAt: nullable(iso()),
      finishedAt: nullable(iso()),
      holder: nullable(str()),
      attempts: int(),
      cancelRequested: bool(),
      error: nullable(obj({ code: str(), message: str() })),
      result: nullable(obj({ model: str(), version: int(), deployment: str(), rollout: int(), gate: obj({ passed: bool(), reasons: arr(str()) }) })),
      sourceSha256: str(),
      steps: arr(ref('StepRecord')),
    },
    ['id', 'pipeline', 'state', 'params', 'trigger', 'steps'],
  ),
  RunMetric: obj({ step: str(), key: str(), value: num(), metricStep: nullable(int('the training step (epoch) it was logged at')), at: iso() }, ['step', 'key', 'value']),
  ScheduleRequest: obj(
    {
      name: str('the schedule name'),
      cron: str('5 fields (minute hour day-of-month month day-of-week) or @daily, @hourly…'),
      timezone: str('IANA zone the fields are read in (default UTC)'),
      missed: str('runs that fell in downtime (default run-once)', { enum: ['skip', 'run-once', 'run-all'] }),
      job: ref('JobRequest'),
      enabled: bool('default true'),
    },
    ['name', 'cron', 'job'],
    { additionalProperties: false },
  ),
  ScheduleRecord: obj(
    {
      name: str(),
      cron: str(),
      timezone: str(),
      description: str('the timetable in words'),
      missed: str(undefined, { enum: ['skip', 'run-once', 'run-all'] }),
      spec: ref('JobRequest'),
      enabled: bool(),
      createdAt: iso(),
      updatedAt: iso(),
      actor: str(),
      lastScheduledAt: nullable(iso()),
      nextAt: iso(),
      lastJob: nullable(int('the newest run (GET /v1/jobs?schedule=NAME lists them all)')),
    },
    ['name', 'cron', 'timezone', 'missed', 'spec', 'enabled', 'nextAt'],
  ),
  JobRequest: obj(
    {
      model: str('NAME, NAME@version or NAME@alias (resolved when the job is submitted)'),
      input: str('a file or glob on the server (relative: under the jobs root), an http(s) or s3 URL, or a database URL with `query`'),
      inputFormat: str('default: from the extension', { enum: ['csv', 'jsonl', 'parquet'] }),
      query: str('the SQL query of a database input (with ORDER BY)'),
      output: str('a file on the server (written atomically when the job is done) or a database table URL'),
      format: str('default: from the extension', { enum: ['csv', 'jsonl', 'parquet'] }),
      ifExists: str('a table output that exists: fail, append or replace'),
      key: arr(str(), 'columns copied before the predictions (default: every input column that is not a feature; [] for none)'),
      onError: str('a row that cannot be scored', { enum: ['fail', 'skip'] }),
      batchRows: int('rows per runtime call (default 1024)', { minimum: 1 }),
      partRows: int('input rows per output part, the unit of resume (default 100000)', { minimum: 1 }),
    },
    ['model', 'input', 'output'],
    { additionalProperties: false },
  ),
  JobRecord: obj(
    {
      id: int(),
      kind: str(undefined, { enum: ['batch'] }),
      state: str(undefined, { enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] }),
      ref: str('what was asked for'),
      model: str(),
      version: int('the version the reference resolved to at submit'),
      spec: ref('JobRequest'),
      actor: str(),
      createdAt: iso(),
      startedAt: nullable(iso()),
      finishedAt: nullable(iso()),
      holder: nullable(str('the replica running it')),
      attempts: int('runs so far (a run whose process died is run again from its finished parts)'),
      cancelRequested: bool(),
      progress: nullable(obj({ rowsDone: int(), rowsTotal: nullable(int()), rowsPerSecond: num(), seconds: num() })),
      summary: nullable({ type: 'object', description: 'the batch summary: rowsIn, rowsOut, rejected, seconds, rowsPerSecond, parts, output' }),
      error: nullable(obj({ code: str(), message: str() })),
      schedule: nullable(str('the schedule that submitted it')),
      scheduledAt: nullable(iso('the instant it ran for')),
    },
    ['id', 'state', 'model', 'version', 'spec', 'createdAt'],
  ),
  JobLogs: obj(
    {
      job: int(),
      state: str(),
      lines: arr(obj({ seq: int(), at: iso(), level: str(undefined, { enum: ['info', 'warn', 'error'] }), message: str() })),
      next: int('pass as `after` to read only newer lines'),
    },
    ['job', 'state', 'lines', 'next'],
  ),
  Error: obj(
    {
      error: str('what was wrong, what was expected, what came, and what to do'),
      code: str('stable error code (docs/errors.md)', { enum: ERROR_CODES }),
      field: str('the request field at fault'),
      expected: { description: 'what the field should have been' },
      got: { description: 'what the field was' },
    },
    ['error'],
  ),
  Tags: map(str(), 'free-form labels, tag name → value'),
  TensorSpec: obj(
    {
      name: str(),
      datatype: str(undefined, { enum: DATATYPES }),
      shape: arr(int(), 'dimensions; -1 for a dynamic dimension'),
      dimNames: arr(nullable(str())),
      featureNames: arr(str(), 'named features along the last axis, in order'),
      vocabulary: arr(str()),
      validRange: arr(int(), '[min, max] inclusive'),
      allowNonFinite: bool(),
      description: str(),
    },
    ['name', 'datatype', 'shape'],
  ),
  Signature: obj({ inputs: arr(ref('TensorSpec')), outputs: arr(ref('TensorSpec')), batchable: bool() }, ['inputs', 'outputs', 'batchable']),
  ModelCard: obj(
    {
      format: str(undefined, { const: 'berth-card/1' }),
      title: str(),
      task: str(undefined, { enum: TASKS }),
      description: str(),
      features: arr(str()),
      inputs: arr({ type: 'object' }),
      outputs: arr({ type: 'object' }),
      classes: obj({ labels: arr({ type: ['number', 'string'] }), names: arr(str()) }),
      metrics: map(num()),
      lineage: ref('Lineage'),
      tags: ref('Tags'),
      allowNonFinite: bool(),
      serving: obj({ maxBatchSize: int(), maxQueueDelayMs: int(), maxQueueSize: int(), timeoutMs: int() }),
      source: obj({ format: str(), document: {} }),
    },
    ['format'],
    { description: 'a model card, normalised (docs/model-card.md)' },
  ),
  Lineage: obj(
    {
      sourcePath: str(),
      gitCommit: str(),
      gitDirty: bool(),
      gitRemote: str(),
      user: str(),
      registeredAt: iso(),
      framework: { type: 'object' },
      dataset: str(),
      parent: str(),
    },
    [],
    { description: 'where a version came from', additionalProperties: true },
  ),
  ReferenceData: obj({ sha256: str(), sizeBytes: int(), fileName: str(), rows: int() }, ['sha256', 'sizeBytes', 'fileName', 'rows']),
  ModelRecord: obj(
    {
      name: str(),
      description: nullable(str()),
      tags: ref('Tags'),
      createdAt: iso(),
      updatedAt: iso(),
      latestVersion: nullable(int()),
      versionCount: int(),
      aliases: map(int(), 'alias → version'),
    },
    ['name', 'description', 'tags', 'createdAt', 'updatedAt', 'latestVersion', 'versionCount', 'aliases'],
  ),
  ModelList: obj({ models: arr(ref('ModelRecord')) }, ['models']),
  VersionRecord: obj(
    {
      model: str(),
      version: int(undefined, { minimum: 1 }),
      sha256: str('sha256 of the model file (its artifact address)'),
      sizeBytes: int(),
      signature: ref('Signature'),
      card: nullable(ref('ModelCard')),
      lineage: ref('Lineage'),
      tags: ref('Tags'),
      description: nullable(str()),
      createdAt: iso(),
      createdBy: str(),
      sourcePath: str(),
      reference: nullable(ref('ReferenceData')),
    },
    ['model', 'version', 'sha256', 'sizeBytes', 'signature', 'card', 'lineage', 'tags', 'description', 'createdAt', 'createdBy', 'sourcePath', 'reference'],
  ),
  VersionList: obj({ model: str(), versions: arr(ref('VersionRecord')) }, ['model', 'versions']),
  MetadataPatch: obj(
    {
      description: nullable(str('new description; null clears it')),
      tags: ref('Tags'),
    },
    [],
    { description: 'tags are added or overwritten; remove one with DELETE …/tags/{key}', minProperties: 1, additionalProperties: false },
  ),
  RegisterRequest: obj(
    {
      model_base64: str('the model file (ONNX), base64'),
      file_name: str('the model file name (default model.onnx)'),
      card_text: str('the model card document, JSON or YAML'),
      card_file_name: str('the card file name; .json parses as JSON, anything else as YAML'),
      reference_csv_base64: str('reference (training) data CSV, base64'),
      reference_file_name: str('default reference.csv'),
      description: str(),
      tags: ref('Tags'),
      source_path: str("the client's own path of the file, recorded as the version's source"),
      lineage: ref('Lineage'),
    },
    ['model_base64'],
    { additionalProperties: false },
  ),
  RegisterResult: obj(
    { created: bool('false when these exact bytes were already a version of the model'), version: ref('VersionRecord') },
    ['created', 'version'],
  ),
  AliasMoveResult: obj(
    { model: str(), alias: str(), version: int(), previousVersion: nullable(int()), changed: bool('false when it already pointed there') },
    ['model', 'alias', 'version', 'previousVersion', 'changed'],
  ),
  AliasDeleteResult: obj(
    { model: str(), alias: str(), deleted: { const: true }, previousVersion: nullable(int()) },
    ['model', 'alias', 'deleted', 'previousVersion'],
  ),
  AliasHistoryEntry: obj(
    {
      id: int(),
      model: str(),
      alias: str(),
      version: nullable(int('where the alias pointed after this change (null: deleted)')),
      previousVersion: nullable(int('where it pointed before (null: it did not exist)')),
      change: str(undefined, { enum: ALIAS_CHANGES }),
      at: iso(),
      atMs: int('epoch milliseconds'),
      actor: str(),
    },
    ['id', 'model', 'alias', 'version', 'previousVersion', 'change', 'at', 'atMs', 'actor'],
  ),
  AliasHistory: obj(
    {
      model: str(),
      alias: nullable(str()),
      entries: arr(ref('AliasHistoryEntry'), 'newest first'),
      at: obj(
        { time: iso(), atMs: int(), versions: map(nullable(int()), 'alias → version it pointed at then (null: did not exist)') },
        ['time', 'atMs', 'versions'],
      ),
    },
    ['model', 'alias', 'entries'],
  ),
  DeploymentTarget: {
    oneOf: [
      obj({ kind: { const: 'alias' }, alias: str() }, ['kind', 'alias']),
      obj({ kind: { const: 'version' }, version: int(undefined, { minimum: 1 }) }, ['kind', 'version']),
    ],
  },
  DeploymentSettings: obj(
    {
      maxBatchSize: int('most rows in one runtime call', { minimum: 1 }),
      maxQueueDelayMs: int('how long a partial batch may wait', { minimum: 0 }),
      maxQueueSize: int('most rows waiting', { minimum: 1 }),
      timeoutMs: int('per-request deadline', { minimum: 1 }),
      minLoaded: int('instances kept loaded', { minimum: 0 }),
      idleUnloadMs: int('unload after this long unused (0 = never)', { minimum: 0 }),
    },
    [],
    { additionalProperties: false },
  ),
  TrafficArm: obj({ version: int(undefined, { minimum: 1 }), percent: num('share of requests, 0–100') }, ['version', 'percent']),
  TrafficPolicy: obj(
    {
      split: arr(ref('TrafficArm'), 'versions answering a share of requests; the target answers the rest'),
      sticky: nullable(obj({ from: { enum: ['header', 'parameter', 'input'] }, name: str() }, ['from', 'name'])),
      shadows: arr(ref('TrafficArm'), 'versions getting a copy of a share of requests (answers logged and compared, never returned)'),
      preview: nullable(int('the version answering POST /v2/models/{name}/preview/infer', { minimum: 1 })),
      fallback: nullable(int('where traffic goes when the target\'s circuit breaker opens', { minimum: 1 })),
      fallbackWarmUntil: nullable(int('keep the fallback loaded until this moment (epoch ms)')),
      breaker: nullable(obj({ errorPercent: num(), minRequests: int(), windowMs: int() }, ['errorPercent', 'minRequests', 'windowMs'])),
    },
    [],
    { additionalProperties: false },
  ),
  RolloutRecord: obj(
    {
      id: int(),
      deployment: str(),
      model: str(),
      fromVersion: int(),
      toVersion: int(),
      strategy: { enum: ['canary', 'blue-green'] },
      spec: obj({}, [], { description: 'steps, intervalMs, analysis, gates, keepOldMs, sticky, base (the deployment before the rollout)' }),
      state: { enum: ['progressing', 'paused', 'promoted', 'aborted', 'failed', 'blocked', 'rolled-back'] },
      step: int('index into spec.steps'),
      currentStep: obj({ kind: { enum: ['weight', 'shadow', 'preview'] }, percent: num() }, ['kind']),
      stepStartedAtMs: int(),
      nextAtMs: nullable(int('when the next analysis runs (epoch ms)')),
      failures: int('consecutive failed analyses'),
      reason: nullable(str()),
      createdAt: iso(),
      updatedAt: iso(),
      finishedAt: nullable(iso()),
      actor: str(),
    },
    ['id', 'deployment', 'model', 'fromVersion', 'toVersion', 'strategy', 'state', 'step'],
  ),
  RolloutDecision: obj(
    {
      id: int(),
      rolloutId: int(),
      at: iso(),
      atMs: int(),
      step: int(),
      kind: { enum: ['start', 'gates', 'analysis', 'advance', 'promote', 'pause', 'resume', 'abort', 'rollback', 'breaker', 'restart'] },
      verdict: nullable(str('pass, fail, inconclusive, no-data')),
      state: str('the rollout state after this decision'),
      details: obj({}, [], { description: 'the numbers the decision was based on: analysis checks, gate results, thresholds' }),
      actor: str(),
    },
    ['id', 'rolloutId', 'at', 'kind', 'state', 'details'],
  ),
  RolloutStatus: obj(
    { rollout: ref('RolloutRecord'), decisions: arr(ref('RolloutDecision')), live: nullable(obj({}, [], { description: 'the current step so far: per version requests, error rate, p50/p99, predictions; shadow agreement' })) },
    ['rollout', 'decisions', 'live'],
  ),
  StartRollout: obj(
    {
      toVersion: int('the version to roll out', { minimum: 1 }),
      strategy: { enum: ['canary', 'blue-green'] },
      steps: { oneOf: [str('e.g. "5,25,50,100" or "shadow,10,50,100"'), arr({ oneOf: [num(), { const: 'shadow' }] })] },
      interval: { oneOf: [str('e.g. "10m"'), int('ms')] },
      analysis: { oneOf: [obj({}), str('YAML or JSON')], description: 'minSamples, failureLimit, noData (pause|fail|pass), minLabels, metrics' },
      gates: obj({}, [], { description: 'evaluation, latency, size, signature checks before any traffic' }),
      keepOld: { oneOf: [str(), int()], description: 'how long the old version stays loaded after the switch' },
      sticky: { oneOf: [str('header:NAME, parameter:NAME or input:NAME'), obj({ from: str(), name: str() })] },
      noData: { enum: ['pause', 'fail', 'pass'] },
      allowBreaking: bool('allow a signature change that breaks callers of the stable version'),
    },
    ['toVersion'],
    { additionalProperties: false },
  ),
  RollbackResult: obj({ rollout: nullable(ref('RolloutRecord')), deployment: ref('DeploymentRecord') }, ['rollout', 'deployment']),
  DeploymentRecord: obj(
    {
      name: str(),
      model: str(),
      target: ref('DeploymentTarget'),
      settings: ref('DeploymentSettings'),
      traffic: nullable(ref('TrafficPolicy')),
      revision: int(),
      createdAt: iso(),
      updatedAt: iso(),
    },
    ['name', 'model', 'target', 'settings', 'revision', 'createdAt', 'updatedAt'],
  ),
  Batching: obj({ maxBatchSize: int(), maxQueueDelayMs: int(), maxQueueSize: int(), timeoutMs: int() }, [
    'maxBatchSize',
    'maxQueueDelayMs',
    'maxQueueSize',
    'timeoutMs',
  ]),
  LiveStatus: obj(
    {
      model: str(),
      version: int(),
      state: str(undefined, { enum: [...MODEL_STATES, 'unloaded'] }),
      memoryBytes: int(),
      queueDepth: int(),
      inflight: int(),
      loadedAt: nullable(iso()),
      lastUsedAt: nullable(iso()),
      loadMs: num(),
      error: str(),
      batching: ref('Batching'),
    },
    ['model', 'version', 'state', 'memoryBytes', 'queueDepth', 'inflight', 'loadedAt', 'lastUsedAt', 'loadMs', 'batching'],
  ),
  DeploymentView: obj(
    {
      deployment: ref('DeploymentRecord'),
      servedVersion: nullable(int('the version it serves now (alias resolved)')),
      problem: str('why it serves nothing'),
      live: nullable(ref('LiveStatus')),
    },
    ['deployment', 'servedVersion', 'live'],
  ),
  DeploymentList: obj({ deployments: arr(ref('DeploymentView')) }, ['deployments']),
  DeployRequest: obj(
    {
      model: str(),
      alias: str('serve whatever this alias points at (follows its moves)'),
      version: int('serve this version, pinned', { minimum: 1 }),
      settings: ref('DeploymentSettings'),
      traffic: nullable(ref('TrafficPolicy')),
    },
    ['model'],
    { description: 'exactly one of alias or version', additionalProperties: false },
  ),
  DeployResult: obj({ deployment: ref('DeploymentRecord'), created: bool(), changed: bool() }, ['deployment', 'created', 'changed']),
  DeploymentDeleteResult: obj({ name: str(), deleted: { const: true } }, ['name', 'deleted']),
  DeploymentHistoryEntry: obj(
    {
      name: str(),
      revision: int(),
      model: str(),
      target: ref('DeploymentTarget'),
      settings: ref('DeploymentSettings'),
      change: str(undefined, { enum: DEPLOYMENT_CHANGES }),
      deleted: bool(),
      at: iso(),
      atMs: int(),
      actor: str(),
    },
    ['name', 'revision', 'model', 'target', 'settings', 'change', 'deleted', 'at', 'atMs', 'actor'],
  ),
  DeploymentHistory: obj(
    {
      name: str(),
      entries: arr(ref('DeploymentHistoryEntry'), 'newest first'),
      at: obj(
        { time: iso(), atMs: int(), revision: nullable(ref('DeploymentHistoryEntry')), version: nullable(int('the version served then')) },
        ['time', 'atMs', 'revision', 'version'],
      ),
    },
    ['name', 'entries'],
  ),
  AuditEntry: obj(
    {
      id: int(),
      at: iso(),
      atMs: int(),
      actor: str(),
      action: str(undefined, { enum: AUDIT_ACTIONS }),
      target: str('model:<name>, version:<name>@<n>, alias:<name>@<alias> or deployment:<name>'),
      model: nullable(str()),
      details: { type: 'object', description: 'what changed; changes to existing things carry the state before (before/from, previousVersion) and after' },
      source: nullable(str('the client address of the request that made the change; null for the CLI on the data dir and the server itself')),
      hash: nullable(str('sha256 (hex) over prevHash and the canonical form of this row (docs/audit.md)')),
      prevHash: nullable(str('the hash of the row before; null for the first row')),
    },
    ['id', 'at', 'atMs', 'actor', 'action', 'target', 'model', 'details', 'source', 'hash', 'prevHash'],
  ),
  AuditList: obj({ entries: arr(ref('AuditEntry'), 'newest first') }, ['entries']),
  RateLimit: obj({ rate: num('requests refilled per second'), burst: num('most requests at once') }, ['rate', 'burst']),
  Token: obj(
    {
      id: str('the public part of the token; `berth_<id>_<secret>`'),
      name: str(),
      scopes: arr(str(), 'admin, predict:NAME, read:NAME, deploy:NAME (NAME may be *)'),
      rateLimit: nullable(ref('RateLimit')),
      createdAt: iso(),
      createdBy: str(),
      expiresAt: nullable(iso()),
      revokedAt: nullable(iso()),
      revokedBy: nullable(str()),
      lastUsedAt: nullable(iso('updated about once a minute')),
      state: str(undefined, { enum: ['active', 'expired', 'revoked'] }),
    },
    ['id', 'name', 'scopes', 'rateLimit', 'createdAt', 'createdBy', 'expiresAt', 'revokedAt', 'revokedBy', 'lastUsedAt', 'state'],
  ),
  TokenList: obj({ tokens: arr(ref('Token'), 'newest first, revoked and expired included') }, ['tokens']),
  CreateTokenRequest: obj(
    {
      name: str('who or what the token is for'),
      roles: arr(str(undefined, { enum: ROLE_NAMES })),
      scopes: arr(str(), 'admin, predict:NAME, read:NAME, deploy:NAME (NAME may be *)'),
      expiresAt: nullable(iso('absent: 90 days from now; null: never')),
      rateLimit: nullable(ref('RateLimit')),
    },
    ['name'],
  ),
  CreatedToken: obj({ token: str('the secret token: shown once, stored only as a hash'), record: ref('Token') }, ['token', 'record']),
  RevokedToken: obj({ token: ref('Token'), changed: bool('false when it was already revoked') }, ['token', 'changed']),
  WhoAmI: obj(
    {
      kind: str(undefined, { enum: ['token', 'bootstrap', 'jwt', 'certificate', 'dev'] }),
      id: str(),
      name: str(),
      scopes: arr(str()),
      expiresAt: nullable(iso()),
      rateLimit: nullable(ref('RateLimit')),
    },
    ['kind', 'id', 'name', 'scopes', 'expiresAt', 'rateLimit'],
  ),
  AuditVerification: obj(
    {
      ok: bool('every row links to the row before and matches its own hash'),
      rows: int('rows read'),
      firstBroken: nullable(obj({ id: int('the audit row'), reason: str('why it breaks the chain') }, ['id', 'reason'])),
      head: nullable(str('the newest row\'s hash: keep a copy elsewhere to detect later removal of the newest rows')),
    },
    ['ok', 'rows', 'firstBroken', 'head'],
  ),
  LoadedModel: obj(
    {
      model: str(),
      version: int(),
      state: str(undefined, { enum: MODEL_STATES }),
      memoryBytes: int(),
      queueDepth: int(),
      inflight: int(),
      loadedAt: nullable(iso()),
      lastUsedAt: nullable(iso()),
      loadMs: num(),
      error: str(),
    },
    ['model', 'version', 'state', 'memoryBytes', 'queueDepth', 'inflight', 'loadedAt', 'lastUsedAt', 'loadMs'],
  ),
  Status: obj(
    {
      name: { const: 'berth' },
      server: bool(),
      version: str(),
      startedAt: nullable(iso()),
      uptimeSeconds: nullable(int()),
      rolloutLeader: nullable(bool('whether this process times rollout steps (replicas elect one); null without a server')),
      role: nullable({ type: 'string', enum: ['all', 'control', 'data'], description: 'what this process serves (berth serve --role); null without a server' }),
      grpcPort: nullable(int('the port of its gRPC service (berth serve --grpc-port); null when it serves none')),
      dataDir: nullable(str()),
      models: int('registered models'),
      deployments: int(),
      loaded: arr(ref('LoadedModel')),
    },
    ['name', 'server', 'version', 'startedAt', 'uptimeSeconds', 'dataDir', 'models', 'deployments', 'loaded'],
  ),
  // Open Inference Protocol v2
  V2ServerMetadata: obj({ name: str(), version: str(), extensions: arr(str()) }, ['name', 'version', 'extensions']),
  V2TensorMetadata: obj({ name: str(), datatype: str(undefined, { enum: DATATYPES }), shape: arr(int()), parameters: { type: 'object' } }, [
    'name',
    'datatype',
    'shape',
  ]),
  V2ModelMetadata: obj(
    {
      name: str(),
      versions: arr(str()),
      platform: str(),
      inputs: arr(ref('V2TensorMetadata')),
      outputs: arr(ref('V2TensorMetadata')),
      parameters: { type: 'object' },
    },
    ['name', 'platform', 'inputs', 'outputs'],
  ),
  V2ModelReady: obj({ name: str(), version: str(), ready: bool(), state: str() }, ['name', 'ready']),
  V2RequestInput: obj(
    { name: str(), shape: arr(int()), datatype: str(undefined, { enum: DATATYPES }), parameters: { type: 'object' }, data: {} },
    ['name', 'shape', 'datatype', 'data'],
  ),
  V2RequestOutput: obj({ name: str(), parameters: { type: 'object' } }, ['name']),
  V2InferenceRequest: obj(
    { id: str(), parameters: { type: 'object' }, inputs: arr(ref('V2RequestInput')), outputs: arr(ref('V2RequestOutput')) },
    ['inputs'],
  ),
  V2ResponseOutput: obj(
    { name: str(), shape: arr(int()), datatype: str(undefined, { enum: DATATYPES }), parameters: { type: 'object' }, data: arr({}) },
    ['name', 'shape', 'datatype', 'data'],
  ),
  V2InferenceResponse: obj(
    { model_name: str(), model_version: str(), id: str(), parameters: { type: 'object' }, outputs: arr(ref('V2ResponseOutput')) },
    ['model_name', 'outputs'],
  ),
  V2RepositoryIndex: arr(obj({ name: str(), version: str(), state: str(), reason: str() }, ['name', 'state'])),
  V2ModelStatistics: obj({
    model_stats: arr(
      obj({
        name: str('the deployment'),
        version: str(),
        last_inference: int('epoch ms of the last answer, 0 if none'),
        inference_count: int('rows answered'),
        execution_count: int('runtime calls of this model version'),
        inference_stats: map(obj({ count: int(), ns: int('nanoseconds, summed') }), 'success, fail, queue, compute_input, compute_infer, compute_output'),
        batch_stats: arr(obj({ batch_size: int(), compute_infer: obj({ count: int(), ns: int() }) })),
      }),
    ),
  }),
  // the friendly endpoint
  PredictRequest: {
    oneOf: [
      obj({ rows: arr(map({ type: ['number', 'string', 'integer', 'null'] }), 'one object per row, feature name → value') }, ['rows']),
      obj({ instances: arr({}, 'one per row: an array of feature values in order (or an object keyed by input name)') }, ['instances']),
    ],
  },
  PredictionRow: obj({
    label: { type: ['string', 'integer'], description: 'the predicted class (its name when the card has one)' },
    probabilities: map(num(), 'class name → probability'),
    value: { oneOf: [num(), arr(num())], description: 'regression output' },
    scores: arr(num()),
    outputs: { type: 'object' },
  }),
  PredictResponse: obj(
    { deployment: str(), model: str(), version: int(), request_id: str(), predictions: arr(ref('PredictionRow')) },
    ['deployment', 'model', 'version', 'request_id', 'predictions'],
  ),
  ExplainOptions: obj({
    method: { type: 'string', enum: ['auto', 'tree', 'tree-interventional', 'kernel', 'lime'], description: 'auto (default): exact TreeSHAP when the model is a tree ensemble, else Kernel SHAP; lime: a local linear model on binned perturbations' },
    samples: int('LIME: perturbed samples per row (default 5000)'),
    budget: int('Kernel SHAP: coalitions to evaluate per row (default 2048); every coalition is evaluated, exactly, when 2^M − 2 fit'),
    class: { type: ['string', 'integer'], description: "classifiers: the class explained (default: each row's predicted class)" },
    link: { type: 'string', enum: ['identity', 'logit'], description: 'Kernel SHAP: explain the output as it is, or a probability in log-odds' },
    seed: int('the sampler seed (default 0): the same request gives the same answer'),
    cache: bool('answer rows explained before from the cache (same version, method and options), and keep these'),
    async: bool('queue it as an explain job (202 with the job and its estimate); requests over explain.maxEvaluations are queued anyway'),
  }),
  FeatureContribution: obj(
    {
      feature: str(),
      value: { type: ['number', 'string', 'boolean', 'null'], description: "the row's value of the feature" },
      contribution: num(),
      standard_error: num('sampled Kernel SHAP: the estimate\'s standard error'),
      condition: str('LIME: the row\'s bin of the feature'),
    },
    ['feature', 'value', 'contribution'],
  ),
  RowExplanation: obj(
    {
      class: { type: ['string', 'null'] },
      base_value: num('the expected output over the background (or the trees\' cover-weighted mean)'),
      prediction: num('base_value + Σ contributions, in `space`'),
      output: num("the model's own output for the row (a probability for classifiers)"),
      contributions: arr(ref('FeatureContribution'), 'every feature, largest |contribution| first'),
      fidelity: num('LIME: weighted R² of the local linear model'),
    },
    ['class', 'base_value', 'prediction', 'output', 'contributions'],
  ),
  ExplainResponse: obj(
    {
      deployment: str(), model: str(), version: int(),
      method: { type: 'string', enum: ['tree-path-dependent', 'tree-interventional', 'kernel', 'lime'] },
      exact: bool('exact Shapley values (TreeSHAP, or Kernel SHAP that evaluated every coalition)'),
      space: { type: 'string', enum: ['margin', 'log-odds', 'probability', 'logit', 'score', 'value'] },
      output: str('the model output explained'),
      background: obj({ rows: int(), method: str(), source: str() }),
      coalitions: int(), budget: int(), samples: int(), evaluations: int('model rows evaluated'), cached: int('rows answered from the cache'), milliseconds: num(),
      explanations: arr(ref('RowExplanation')),
    },
    ['model', 'version', 'method', 'exact', 'space', 'output', 'background', 'evaluations', 'cached', 'milliseconds', 'explanations'],
  ),
  ImportanceResponse: obj(
    {
      deployment: str(), model: str(), version: int(),
      class: str('roc-auc and log-loss: the class whose probability is scored'),
      metric: { type: 'string', enum: ['accuracy', 'r2', 'rmse', 'mae', 'log-loss', 'roc-auc'] },
      baseline: num('the metric on the unshuffled rows'), repeats: int(), confidence: num(), rows: int(), evaluations: int(), milliseconds: num(),
      features: arr(obj({ feature: str(), mean: num('mean worsening of the metric when the feature is shuffled (larger: more important)'), sd: num(), low: num(), high: num() }), 'every feature, most important first'),
    },
    ['model', 'version', 'metric', 'baseline', 'repeats', 'confidence', 'rows', 'evaluations', 'features'],
  ),
  FeedbackItem: obj(
    {
      request_id: str('the id the prediction was answered with (the `x-request-id` header, or the v2 body `id`)'),
      row: int('the row within that request (default 0)'),
      label: { description: 'the true label: a class label or name, a number for regressors, or a list with one label per row of the request' },
    },
    ['request_id', 'label'],
  ),
  FeedbackRequest: {
    oneOf: [ref('FeedbackItem'), obj({ items: arr(ref('FeedbackItem')) }, ['items'])],
    description: 'one label, or a batch under `items`; all are checked before any is stored',
  },
  FeedbackResult: obj(
    { deployment: str(), accepted: int('labels stored, one per row'), replaced: int('of those, how many replaced an earlier label') },
    ['deployment', 'accepted', 'replaced'],
  ),
  ProfileRequest: obj(
    {
      reference_base64: str('the training data, base64: CSV with a header, or Parquet'),
      reference_file_name: str('its file name; `.parquet` reads as Parquet, anything else as CSV'),
    },
    ['reference_base64'],
  ),
  ProfileResult: obj(
    {
      model: str(), version: int(),
      reference: { type: 'object', description: 'the stored reference record, with its profile (sha256, rows, columns)' },
      columns: arr(str(), 'the profiled columns'),
      predictions: bool("whether the model's predictions on the reference are profiled"),
      metrics: map(num(), "the model's metrics on the reference rows (when they have labels)"),
    },
    ['model', 'version', 'reference', 'columns', 'predictions', 'metrics'],
  ),
  SignatureUpload: obj(
    {
      algorithm: str(undefined, { enum: ['ed25519', 'ecdsa-p256-sha256', 'rsa-pss-sha256'] }),
      signature: str('base64 signature of the statement "berth-artifact-v1\\n<model>\\n<version>\\n<sha256>\\n" (docs/security-artifacts.md)'),
      publicKey: str("the signer's public key, PEM (SPKI); the private key never travels"),
      keyId: str("sha256 (hex) of the public key's SPKI DER; checked against publicKey when given", { pattern: '^[0-9a-f]{64}$' }),
    },
    ['algorithm', 'signature', 'publicKey'],
  ),
  ArtifactSignature: obj(
    {
      model: str(), version: int(), keyId: str(), algorithm: str(), signature: str('base64'),
      signedAt: iso(), signedAtMs: int(), signedBy: str('who stored it'),
    },
    ['model', 'version', 'keyId', 'algorithm', 'signature', 'signedAt', 'signedBy'],
  ),
  SignatureReport: obj(
    {
      model: str(), version: int(), sha256: str(),
      required: bool('the server requires a valid signature by a trusted key before it deploys or loads a version'),
      trusted: bool('at least one signature by a trusted key verifies'),
      trustedKeys: arr(obj({ keyId: str(), algorithm: str(), source: str('the PEM file') }, ['keyId', 'algorithm', 'source'])),
      signatures: arr(
        obj(
          {
            keyId: str(), algorithm: str(), signature: str('base64'), signedAt: iso(), signedBy: str(),
            trusted: bool('the key is one of the trusted keys'),
            valid: nullable(bool('the signature verifies over this version (null: the key is not trusted here)')),
            detail: str(),
          },
          ['keyId', 'algorithm', 'signature', 'trusted', 'valid', 'detail'],
        ),
      ),
    },
    ['model', 'version', 'sha256', 'required', 'trusted', 'trustedKeys', 'signatures'],
  ),
  SignatureUploadResult: obj(
    { signature: ref('ArtifactSignature'), created: bool(), changed: bool(), report: ref('SignatureReport') },
    ['signature', 'created', 'changed', 'report'],
  ),
  MonitorReport: obj(
    {
      format: str(undefined, { enum: ['berth-monitor-report/1'] }),
      deployment: str(), model: str(), versions: arr(int()), generatedAt: iso(),
      window: { type: 'object', description: 'the window: from, to, description, rows, requests' },
      reference: { description: 'what the window was compared with: a profile or an earlier window (null: none)' },
      drift: { description: 'per-column drift (test, statistic, p-values, PSI, JS, normed Wasserstein, verdict, histograms) and the dataset verdict; null without a reference' },
      quality: { type: 'object', description: 'missing, out-of-range, unknown categories, type errors, constant columns, refused requests' },
      performance: { type: 'object', description: 'realised metrics from feedback, the confidence-based estimate, a time series and per-version metrics' },
      fairness: arr({ type: 'object' }, 'per sensitive attribute: group rates, parity and equalized-odds differences, disparate impact'),
      latency: { type: 'object', description: 'p50/p95/p99 ms and error rate' },
      summary: arr(str(), 'one line per finding, most important first'),
    },
    ['format', 'deployment', 'model', 'window', 'drift', 'quality', 'performance', 'fairness', 'latency', 'summary'],
  ),
};

interface Param {
  name: string;
  in: 'path' | 'query' | 'header';
  description: string;
  required?: boolean;
  schema?: Json;
}

const p = {
  model: { name: 'name', in: 'path', description: 'model name', schema: str() } as Param,
  deployment: { name: 'name', in: 'path', description: 'deployment name (the v2 protocol calls it a model)', schema: str() } as Param,
  version: { name: 'version', in: 'path', description: 'version number (1, 2, …)', schema: str(undefined, { pattern: '^[1-9][0-9]*$' }) } as Param,
  alias: { name: 'alias', in: 'path', description: 'alias name, e.g. production', schema: str() } as Param,
  key: { name: 'key', in: 'path', description: 'tag name', schema: str() } as Param,
  at: {
    name: 'at',
    in: 'query',
    description: 'a moment (ISO 8601, UTC when no zone is given, or epoch milliseconds): also answer what was in force then',
    schema: str(),
  } as Param,
  actor: { name: 'x-berth-actor', in: 'header', description: 'who makes the change, for the audit log (default "api")', schema: str() } as Param,
};
const pipelineName = { name: 'name', in: 'path', description: 'pipeline name', schema: str() } as Param;
const runIdParam = { name: 'id', in: 'path', description: 'run number', schema: int() } as Param;

const ERR = { description: 'error', content: { 'application/json': { schema: ref('Error') } } };

/** The filters `GET /v1/audit` and `GET /v1/audit/export` share. */
const AUDIT_FILTERS: Param[] = [
  { name: 'since', in: 'query', description: 'only entries at or after this moment (ISO 8601 or epoch ms)', schema: str() },
  { name: 'until', in: 'query', description: 'only entries before this moment (ISO 8601 or epoch ms)', schema: str() },
  {
    name: 'action',
    in: 'query',
    description: `only this action, or the actions under a prefix (deployment., rollout., version.tags); actions: ${AUDIT_ACTIONS.join(', ')}`,
    schema: str(),
  },
  { name: 'target', in: 'query', description: 'only this exact target, e.g. alias:fraud@production', schema: str() },
  { name: 'model', in: 'query', description: 'only entries concerning this model', schema: str() },
];

function json(description: string, schema: Json): Json {
  return { description, content: { 'application/json': { schema } } };
}

function op(o: {
  id: string;
  tag: string;
  summary: string;
  description?: string;
  params?: Param[];
  body?: Json;
  ok: Record<string, Json>;
  errors?: number[];
}): Json {
  const params = (o.params ?? []).map((x) => ({ ...x, required: x.in === 'path' ? true : (x.required ?? false) }));
  const responses: Record<string, Json> = { ...o.ok };
  for (const code of o.errors ?? [400, 404]) responses[String(code)] = ERR;
  return {
    operationId: o.id,
    tags: [o.tag],
    summary: o.summary,
    ...(o.description ? { description: o.description } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(o.body ? { requestBody: { required: true, content: { 'application/json': { schema: o.body } } } } : {}),
    responses,
  };
}

function buildPaths(): Record<string, Json> {
  const modelsTag = 'models';
  const aliasTag = 'aliases';
  const depTag = 'deployments';
  const v2 = 'inference (v2)';
  const v2Metadata = (id: string, withVersion: boolean): Json =>
    op({
      id,
      tag: v2,
      summary: withVersion ? 'metadata of one version of the model a deployment serves' : "a deployment's model metadata",
      params: withVersion ? [p.deployment, p.version] : [p.deployment],
      ok: { '200': json('model metadata', ref('V2ModelMetadata')) },
    });
  const v2Ready = (id: string, withVersion: boolean): Json =>
    op({
      id,
      tag: v2,
      summary: withVersion ? 'is that version loaded and ready' : "is the deployment's model loaded and ready",
      params: withVersion ? [p.deployment, p.version] : [p.deployment],
      ok: { '200': json('ready', ref('V2ModelReady')) },
      errors: [400, 404],
    });
  const v2Infer = (id: string, withVersion: boolean): Json =>
    op({
      id,
      tag: v2,
      summary: withVersion ? 'run inference on one version' : 'run inference (Open Inference Protocol v2)',
      params: withVersion ? [p.deployment, p.version] : [p.deployment],
      body: ref('V2InferenceRequest'),
      ok: { '200': json('outputs', ref('V2InferenceResponse')) },
      errors: [400, 404, 413, 429, 500, 503, 504],
    });

  return {
    '/v2': { get: op({ id: 'v2ServerMetadata', tag: v2, summary: 'server metadata', ok: { '200': json('server', ref('V2ServerMetadata')) }, errors: [] }) },
    '/v2/health/live': {
      get: op({ id: 'v2Live', tag: v2, summary: 'liveness', ok: { '200': json('live', obj({ live: bool() }, ['live'])) }, errors: [] }),
    },
    '/v2/health/ready': {
      get: op({
        id: 'v2Ready',
        tag: v2,
        summary: 'readiness (503 while starting or shutting down)',
        ok: { '200': json('ready', obj({ ready: bool() }, ['ready'])), '503': json('not ready', obj({ ready: bool() }, ['ready'])) },
        errors: [],
      }),
    },
    '/v2/models/{name}': { get: v2Metadata('v2ModelMetadata', false) },
    '/v2/models/{name}/versions/{version}': { get: v2Metadata('v2ModelVersionMetadata', true) },
    '/v2/models/{name}/ready': { get: v2Ready('v2ModelReady', false) },
    '/v2/models/{name}/versions/{version}/ready': { get: v2Ready('v2ModelVersionReady', true) },
    '/v2/models/{name}/infer': { post: v2Infer('v2Infer', false) },
    '/v2/models/{name}/versions/{version}/infer': { post: v2Infer('v2InferVersion', true) },
    '/v2/models/{name}/preview/infer': {
      post: op({
        id: 'v2InferPreview',
        tag: v2,
        summary: "run inference on the deployment's preview version (blue-green: reachable before the switch)",
        params: [p.deployment],
        body: ref('V2InferenceRequest'),
        ok: { '200': json('outputs', ref('V2InferenceResponse')) },
        errors: [400, 404, 413, 429, 500, 503, 504],
      }),
    },
    '/v2/models/stats': {
      get: op({ id: 'v2StatsAll', tag: v2, summary: 'statistics of every deployment this process served (the statistics extension)', ok: { '200': json('statistics', ref('V2ModelStatistics')) }, errors: [] }),
    },
    '/v2/models/{name}/stats': {
      get: op({ id: 'v2Stats', tag: v2, summary: "a deployment's statistics: counts and cumulative queue, input, runtime and output times", params: [p.deployment], ok: { '200': json('statistics', ref('V2ModelStatistics')) }, errors: [404] }),
    },
    '/v2/models/{name}/versions/{version}/stats': {
      get: op({ id: 'v2StatsVersion', tag: v2, summary: "one version's statistics in a deployment", params: [p.deployment, p.version], ok: { '200': json('statistics', ref('V2ModelStatistics')) }, errors: [400, 404] }),
    },
    '/v2/repository/index': {
      post: op({ id: 'v2RepositoryIndex', tag: v2, summary: 'every deployment and its state', ok: { '200': json('index', ref('V2RepositoryIndex')) }, errors: [] }),
    },
    '/v2/repository/models/{name}/load': {
      post: op({
        id: 'v2RepositoryLoad',
        tag: v2,
        summary: "load a deployment's model now",
        params: [p.deployment],
        ok: { '200': json('loaded', obj({})) },
        errors: [404, 503],
      }),
    },
    '/v2/repository/models/{name}/unload': {
      post: op({ id: 'v2RepositoryUnload', tag: v2, summary: "unload a deployment's model", params: [p.deployment], ok: { '200': json('unloaded', obj({})) } }),
    },
    '/v1/deployments/{name}/predict': {
      post: op({
        id: 'predict',
        tag: 'inference (friendly)',
        summary: 'predict with named features',
        description:
          'Send `{"rows": [{"feature": value, …}]}` (needs the card\'s feature names) or `{"instances": [[…], …]}`; ' +
          'answers labels and class probabilities named by the card, the version that answered and a request id (also in `x-request-id`).',
        params: [p.deployment, { name: 'x-request-id', in: 'header', description: 'request id to echo (generated when absent)', schema: str() }],
        body: ref('PredictRequest'),
        ok: { '200': json('predictions', ref('PredictResponse')) },
        errors: [400, 404, 413, 429, 500, 503, 504],
      }),
    },
    '/v1/deployments/{name}/explain': {
      post: op({
        id: 'explain',
        tag: 'inference (friendly)',
        summary: 'explain predictions: per-feature contributions with the base value (SHAP)',
        description:
          'The predict body (`rows` or `instances`) plus the options of ExplainOptions. Answers, per row, base_value + Σ contributions = prediction ' +
          '(exact for TreeSHAP and enumerated Kernel SHAP, with standard errors when sampled). Needs the version\'s reference data, except TreeSHAP on a file with hit rates (docs/explain.md).',
        params: [p.deployment],
        body: { allOf: [ref('PredictRequest'), ref('ExplainOptions')] },
        ok: { '200': json('explanations', ref('ExplainResponse')), '202': json('queued as an explain job, with its estimate', obj({ job: obj({}), message: str() })) },
        errors: [400, 404, 409, 413, 429, 500, 503],
      }),
    },
    '/v1/deployments/{name}/importance': {
      post: op({
        id: 'importance',
        tag: 'inference (friendly)',
        summary: 'permutation feature importance over the version\'s labelled reference data, with confidence intervals',
        params: [p.deployment],
        body: obj({
          metric: { type: 'string', enum: ['accuracy', 'r2', 'rmse', 'mae', 'log-loss', 'roc-auc'], description: 'default: accuracy for classifiers, r2 for regressions' },
          repeats: int('shuffles per feature (default 5, at least 2)'),
          max_rows: int('measure on a seeded sample of at most this many rows'),
          seed: int(),
        }),
        ok: { '200': json('importances', ref('ImportanceResponse')) },
        errors: [400, 404, 409, 413, 429, 500, 503],
      }),
    },
    '/v1/deployments/{name}/explain/jobs/{id}': {
      get: op({
        id: 'explainJob', tag: 'inference (friendly)', summary: 'an explain job: state, progress, the estimate stated when it was queued',
        params: [p.deployment, { name: 'id', in: 'path', required: true, description: 'explain job id', schema: int() }],
        ok: { '200': json('the job', obj({})) }, errors: [400, 404],
      }),
    },
    '/v1/deployments/{name}/explain/jobs/{id}/result': {
      get: op({
        id: 'explainJobResult', tag: 'inference (friendly)', summary: "a succeeded explain job's explanations",
        params: [p.deployment, { name: 'id', in: 'path', required: true, description: 'explain job id', schema: int() }],
        ok: { '200': json('explanations', ref('ExplainResponse')) }, errors: [400, 404, 409],
      }),
    },
    '/v1/deployments/{name}/explain/jobs/{id}/cancel': {
      post: op({
        id: 'explainJobCancel', tag: 'inference (friendly)', summary: 'cancel an explain job (a running one stops after the row in hand)',
        params: [p.deployment, { name: 'id', in: 'path', required: true, description: 'explain job id', schema: int() }],
        ok: { '200': json('the job', obj({})) }, errors: [400, 404, 409],
      }),
    },
    '/v2/models/{name}/explain': {
      post: op({
        id: 'v2Explain',
        tag: v2,
        summary: 'explain predictions, the request in the v2 infer form',
        params: [p.deployment],
        body: { allOf: [ref('V2InferenceRequest'), ref('ExplainOptions')] },
        ok: { '200': json('explanations', ref('ExplainResponse')), '202': json('queued as an explain job, with its estimate', obj({ job: obj({}), message: str() })) },
        errors: [400, 404, 409, 413, 429, 500, 503],
      }),
    },
    '/v1/deployments/{name}/feedback': {
      post: op({
        id: 'sendFeedback',
        tag: 'monitoring',
        summary: 'ground truth for earlier predictions, joined by request id (minutes or days later)',
        params: [p.deployment],
        body: ref('FeedbackRequest'),
        ok: { '200': json('stored', ref('FeedbackResult')) },
      }),
    },
    '/v1/alerts': {
      get: op({
        id: 'listAlerts',
        tag: 'monitoring',
        summary: 'alert rules, the state of each rule × deployment (ok, pending, firing) and the newest events',
        ok: { '200': json('alerts', { type: 'object', properties: { rules: arr({ type: 'object' }), alerts: arr({ type: 'object' }), events: arr({ type: 'object' }) } }) },
        errors: [],
      }),
    },
    '/v1/deployments/{name}/monitor': {
      get: {
        ...op({
          id: 'monitorReport',
          tag: 'monitoring',
          summary: "a report of a deployment's traffic over a window: drift, data quality, performance, fairness, latency",
          params: [
            p.deployment,
            { name: 'window', in: 'query', description: '15m, 2h, 7d, 1000rows, 500requests, FROM..TO (ISO 8601) or all (default 24h)', schema: str() },
            { name: 'against', in: 'query', description: 'compare with this earlier window instead of the reference profile', schema: str() },
            { name: 'version', in: 'query', description: 'only traffic answered by this version', schema: str(undefined, { pattern: '^[1-9][0-9]*$' }) },
            { name: 'preset', in: 'query', description: 'drift tests and thresholds: berth (default) or evidently', schema: str(undefined, { enum: ['berth', 'evidently'] }) },
            { name: 'format', in: 'query', description: 'json (default) or html (a self-contained page)', schema: str(undefined, { enum: ['json', 'html'] }) },
          ],
          ok: {
            '200': {
              description: 'the report',
              content: { 'application/json': { schema: ref('MonitorReport') }, 'text/html': { schema: str() } },
            },
          },
        }),
      },
    },
    '/v1/models/{name}/versions/{version}/profile': {
      post: op({
        id: 'profileVersion',
        tag: 'monitoring',
        summary: "compute and attach a version's reference profile from its training data (the model runs over every row)",
        params: [p.model, p.version, p.actor],
        body: ref('ProfileRequest'),
        ok: { '201': json('profiled', ref('ProfileResult')) },
        errors: [400, 404, 413],
      }),
    },
    '/v1/models/{name}/versions/{version}/signatures': {
      get: op({
        id: 'listSignatures',
        tag: modelsTag,
        summary: "a version's artifact signatures and whether each verifies against the server's trusted keys",
        params: [p.model, p.version],
        ok: { '200': json('signatures and verdict', ref('SignatureReport')) },
      }),
      post: op({
        id: 'addSignature',
        tag: modelsTag,
        summary: 'store a signature of the version made with `berth sign` (checked before it is stored; one per key)',
        description:
          'The body carries the signature and the public key, never the private key. A signature that does not verify over this version is refused with ' +
          'ARTIFACT_UNTRUSTED (422) and nothing is stored. A valid signature by a key the server does not trust is stored, and the report says it does not count.',
        params: [p.model, p.version, p.actor],
        body: ref('SignatureUpload'),
        ok: { '201': json('a new signature', ref('SignatureUploadResult')), '200': json('the key had signed this version before (replaced, or identical)', ref('SignatureUploadResult')) },
        errors: [400, 404, 422],
      }),
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        tags: ['operations'],
        summary: 'Prometheus metrics',
        responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: str() } } } },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        tags: ['operations'],
        summary: 'this document',
        responses: { '200': json('OpenAPI 3.1 document', { type: 'object' }) },
      },
    },
    '/v1/status': {
      get: op({ id: 'status', tag: 'operations', summary: 'server version, uptime, data dir and loaded models', ok: { '200': json('status', ref('Status')) }, errors: [] }),
    },
    '/v1/audit': {
      get: op({
        id: 'listAudit',
        tag: 'audit',
        summary: 'the audit log, newest first',
        params: [
          { name: 'limit', in: 'query', description: 'most entries (1-10000, default 100)', schema: int(undefined, { minimum: 1, maximum: 10000 }) },
          ...AUDIT_FILTERS,
        ],
        ok: { '200': json('entries', ref('AuditList')) },
        errors: [400],
      }),
    },
    '/v1/audit/verify': {
      get: op({
        id: 'verifyAudit',
        tag: 'audit',
        summary: "recompute the audit log's hash chain",
        description: 'Answers 200 also when the chain is broken: `ok` is false and `firstBroken` names the first row that breaks it and why.',
        ok: { '200': json('the verification', ref('AuditVerification')) },
        errors: [],
      }),
    },
    '/v1/audit/export': {
      get: op({
        id: 'exportAudit',
        tag: 'audit',
        summary: 'the audit log as JSON lines, oldest first',
        description: 'Every matching entry (no limit), one AuditEntry per line, streamed in the chain\'s order. A response cut short (no final chunk) is an incomplete export.',
        params: AUDIT_FILTERS,
        ok: { '200': { description: 'one AuditEntry per line', content: { 'application/x-ndjson': { schema: ref('AuditEntry') } } } },
        errors: [400],
      }),
    },
    '/v1/models': {
      get: op({ id: 'listModels', tag: modelsTag, summary: 'every model', ok: { '200': json('models', ref('ModelList')) }, errors: [] }),
    },
    '/v1/models/{name}': {
      get: op({ id: 'getModel', tag: modelsTag, summary: 'one model', params: [p.model], ok: { '200': json('model', ref('ModelRecord')) } }),
      patch: op({
        id: 'updateModel',
        tag: modelsTag,
        summary: "change a model's description or add tags",
        params: [p.model, p.actor],
        body: ref('MetadataPatch'),
        ok: { '200': json('the model after the change', ref('ModelRecord')) },
      }),
    },
    '/v1/models/{name}/tags/{key}': {
      delete: op({
        id: 'deleteModelTag',
        tag: modelsTag,
        summary: 'remove a model tag',
        params: [p.model, p.key, p.actor],
        ok: { '200': json('the model after the change', ref('ModelRecord')) },
      }),
    },
    '/v1/models/{name}/versions': {
      get: op({ id: 'listVersions', tag: modelsTag, summary: "a model's versions, oldest first", params: [p.model], ok: { '200': json('versions', ref('VersionList')) } }),
      post: op({
        id: 'registerVersion',
        tag: modelsTag,
        summary: 'register a model file as the next version',
        description:
          'The file travels base64-encoded (bodies up to 500 MiB). It is refused with INVALID_MODEL when it is not a loadable model, and nothing is registered. ' +
          'Identical bytes answer 200 with `created: false` and the existing version.',
        params: [p.model, p.actor],
        body: ref('RegisterRequest'),
        ok: { '201': json('a new version', ref('RegisterResult')), '200': json('these bytes were already registered', ref('RegisterResult')) },
        errors: [400, 413],
      }),
    },
    '/v1/models/{name}/versions/{version}': {
      get: op({ id: 'getVersion', tag: modelsTag, summary: 'one version', params: [p.model, p.version], ok: { '200': json('version', ref('VersionRecord')) } }),
      patch: op({
        id: 'updateVersion',
        tag: modelsTag,
        summary: "change a version's description or add tags (nothing else of a version ever changes)",
        params: [p.model, p.version, p.actor],
        body: ref('MetadataPatch'),
        ok: { '200': json('the version after the change', ref('VersionRecord')) },
      }),
    },
    '/v1/models/{name}/versions/{version}/tags/{key}': {
      delete: op({
        id: 'deleteVersionTag',
        tag: modelsTag,
        summary: 'remove a version tag',
        params: [p.model, p.version, p.key, p.actor],
        ok: { '200': json('the version after the change', ref('VersionRecord')) },
      }),
    },
    '/v1/models/{name}/aliases/history': {
      get: op({
        id: 'aliasHistory',
        tag: aliasTag,
        summary: "every move of a model's aliases; with `at`, where each pointed then",
        params: [p.model, { name: 'alias', in: 'query', description: 'only this alias', schema: str() }, p.at],
        ok: { '200': json('history', ref('AliasHistory')) },
      }),
    },
    '/v1/models/{name}/aliases/{alias}': {
      put: op({
        id: 'setAlias',
        tag: aliasTag,
        summary: 'point an alias at a version',
        params: [p.model, p.alias, p.actor],
        body: obj({ version: int(undefined, { minimum: 1 }) }, ['version']),
        ok: { '200': json('the move', ref('AliasMoveResult')) },
      }),
      delete: op({
        id: 'deleteAlias',
        tag: aliasTag,
        summary: 'remove an alias (refused while a deployment serves through it)',
        params: [p.model, p.alias, p.actor],
        ok: { '200': json('removed', ref('AliasDeleteResult')) },
      }),
    },
    '/v1/models/{name}/aliases/{alias}/rollback': {
      post: op({
        id: 'rollbackAlias',
        tag: aliasTag,
        summary: "undo the alias's latest change",
        params: [p.model, p.alias, p.actor],
        ok: { '200': json('the move', ref('AliasMoveResult')) },
      }),
    },
    '/v1/deployments': {
      get: op({ id: 'listDeployments', tag: depTag, summary: 'every deployment with the version it serves', ok: { '200': json('deployments', ref('DeploymentList')) }, errors: [] }),
    },
    '/v1/deployments/{name}': {
      get: op({
        id: 'getDeployment',
        tag: depTag,
        summary: 'one deployment with the version it serves and its live state',
        params: [p.deployment],
        ok: { '200': json('deployment', ref('DeploymentView')) },
      }),
      put: op({
        id: 'deploy',
        tag: depTag,
        summary: 'create or change a deployment (a new revision)',
        params: [p.deployment, p.actor],
        body: ref('DeployRequest'),
        ok: { '201': json('created', ref('DeployResult')), '200': json('changed, or already so (`changed: false`)', ref('DeployResult')) },
      }),
      delete: op({
        id: 'deleteDeployment',
        tag: depTag,
        summary: 'remove a deployment (its history stays)',
        params: [p.deployment, p.actor],
        ok: { '200': json('removed', ref('DeploymentDeleteResult')) },
      }),
    },
    '/v1/deployments/{name}/history': {
      get: op({
        id: 'deploymentHistory',
        tag: depTag,
        summary: "every revision of a deployment; with `at`, the revision in force then and the version it served",
        params: [p.deployment, p.at],
        ok: { '200': json('history', ref('DeploymentHistory')) },
      }),
    },
    '/v1/deployments/{name}/rollout': {
      get: op({ id: 'rolloutStatus', tag: 'rollouts', summary: 'the newest rollout of a deployment, every decision with its numbers, and the live step', params: [p.deployment], ok: { '200': json('status', ref('RolloutStatus')) } }),
      post: op({
        id: 'startRollout',
        tag: 'rollouts',
        summary: 'start a rollout: gates, load and warm, then the first step',
        params: [p.deployment, p.actor],
        body: ref('StartRollout'),
        ok: { '201': json('the rollout', ref('RolloutRecord')) },
        errors: [400, 404, 409, 422],
      }),
    },
    '/v1/deployments/{name}/rollouts': {
      get: op({ id: 'listDeploymentRollouts', tag: 'rollouts', summary: "a deployment's rollouts, newest first", params: [p.deployment], ok: { '200': json('rollouts', arr(ref('RolloutRecord'))) } }),
    },
    '/v1/rollouts': {
      get: op({ id: 'listRollouts', tag: 'rollouts', summary: 'every rollout, newest first', ok: { '200': json('rollouts', arr(ref('RolloutRecord'))) }, errors: [] }),
    },
    '/v1/deployments/{name}/rollout/pause': {
      post: op({ id: 'pauseRollout', tag: 'rollouts', summary: 'hold the current step (weights stay; no analysis runs)', params: [p.deployment, p.actor], ok: { '200': json('the rollout', ref('RolloutRecord')) }, errors: [400, 404, 409] }),
    },
    '/v1/deployments/{name}/rollout/resume': {
      post: op({ id: 'resumeRollout', tag: 'rollouts', summary: 'continue a paused rollout with a fresh analysis window', params: [p.deployment, p.actor], ok: { '200': json('the rollout', ref('RolloutRecord')) }, errors: [400, 404, 409] }),
    },
    '/v1/deployments/{name}/rollout/promote': {
      post: op({ id: 'promoteRollout', tag: 'rollouts', summary: 'skip to the end: the new version takes all traffic (refused after a failed analysis)', params: [p.deployment, p.actor], ok: { '200': json('the rollout', ref('RolloutRecord')) }, errors: [400, 404, 409] }),
    },
    '/v1/deployments/{name}/rollout/abort': {
      post: op({ id: 'abortRollout', tag: 'rollouts', summary: 'stop now: all traffic back to the stable version', params: [p.deployment, p.actor], ok: { '200': json('the rollout', ref('RolloutRecord')) }, errors: [400, 404, 409] }),
    },
    '/v1/deployments/{name}/rollout/rollback': {
      post: op({
        id: 'rollbackToStable',
        tag: 'rollouts',
        summary: 'back to the previous stable version: aborts a rollout in progress, undoes a promoted one, else the previous revision',
        params: [p.deployment, p.actor],
        ok: { '200': json('what changed', ref('RollbackResult')) },
        errors: [400, 404, 409],
      }),
    },
    '/v1/models/{name}/versions/{version}/artifact': {
      get: op({
        id: 'downloadArtifact',
        tag: 'models',
        summary: "the version's model file (ONNX bytes; `x-berth-sha256` carries its digest), for clients that score in their own process",
        params: [p.model, p.version],
        ok: { '200': { description: 'the model file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } },
        errors: [404, 422],
      }),
    },
    '/v1/deployments/{name}/monitor/timeline': {
      get: op({
        id: 'monitorTimeline', tag: 'monitoring', summary: "a window of the deployment's traffic cut into time buckets, each with its drift per column, data quality and errors against the report's reference (the dashboard's heatmap)",
        params: [
          p.deployment,
          { name: 'window', in: 'query', description: '15m, 2h, 7d, FROM..TO (ISO 8601) or all (default 24h); row counts are refused', schema: str() },
          { name: 'points', in: 'query', description: 'how many buckets, 2 to 200 (default 24)', schema: str(undefined, { pattern: '^[0-9]+$' }) },
          { name: 'against', in: 'query', description: 'compare with this earlier window instead of the reference profile', schema: str() },
          { name: 'version', in: 'query', description: 'only traffic answered by this version', schema: str(undefined, { pattern: '^[1-9][0-9]*$' }) },
          { name: 'preset', in: 'query', description: 'drift tests and thresholds: berth (default) or evidently', schema: str(undefined, { enum: ['berth', 'evidently'] }) },
        ],
        ok: {
          '200': json('the timeline', obj({
            format: str(), deployment: str(), model: str(), generatedAt: iso(),
            window: obj({ from: iso(), to: iso(), description: str() }),
            bucketSeconds: num(),
            reference: nullable(obj({ kind: str(undefined, { enum: ['profile', 'window'] }), version: int(), description: str(), rows: int() }, ['kind', 'rows'])),
            columns: arr(obj({ name: str(), kind: str(undefined, { enum: ['numeric', 'categorical'] }), role: str(undefined, { enum: ['feature', 'prediction'] }) })),
            buckets: arr(obj({
              from: iso(), to: iso(), rows: num(), requests: int(), errorRate: nullable(num()), p99Ms: nullable(num()), driftShare: nullable(num()), datasetDrift: nullable(bool()),
              missingShare: nullable(num()), rejectedShare: nullable(num()), findings: map(int()),
              drift: map(obj({ score: num(), threshold: num(), test: str(), drifted: bool(), verdict: str() })),
            })),
          })),
        },
        errors: [400, 404],
      }),
    },
    '/v1/deployments/{name}/requests': {
      get: op({
        id: 'loggedRequests', tag: 'monitoring', summary: 'the newest requests the deployment logged, newest first, with each row\'s features and prediction (the dashboard\'s "pick a logged request")',
        params: [p.deployment, { name: 'limit', in: 'query', description: 'how many requests, 1 to 1000 (default 20)', schema: str(undefined, { pattern: '^[0-9]+$' }) }],
        ok: {
          '200': json('the requests', obj({
            deployment: str(),
            requests: arr(obj({ requestId: str(), at: iso(), version: int(), status: str(), rows: arr(obj({ features: map({}), prediction: map({}) })) })),
          })),
        },
        errors: [400, 404],
      }),
    },
    '/v1/models/{name}/versions/{version}/reference': {
      get: op({
        id: 'referenceHistograms', tag: 'monitoring', summary: "a version's reference profile as a histogram per monitored column (20 equal-width bins, a small domain's values, or the top categories), with quantiles to re-bin two versions onto common edges",
        params: [p.model, { name: 'version', in: 'path', required: true, description: 'the version number', schema: str(undefined, { pattern: '^[1-9][0-9]*$' }) } as Param],
        ok: {
          '200': json('the reference', obj({
            model: str(), version: int(), rows: int(), source: nullable(str()), createdAt: iso(),
            columns: arr(obj({
              name: str(), kind: str(undefined, { enum: ['numeric', 'categorical'] }), role: str(undefined, { enum: ['feature', 'prediction'] }), count: num(), missing: num(),
              min: nullable(num()), max: nullable(num()), mean: nullable(num()), std: nullable(num()), discrete: bool(), distinct: nullable(int()),
              histogram: obj({ labels: arr(str()), edges: arr(num()), shares: arr(num()) }),
              cdf: obj({ q: arr(num()), x: arr(num()) }),
            }, ['name', 'kind', 'role', 'count', 'missing', 'histogram'])),
          })),
        },
        errors: [400, 404],
      }),
    },
    '/v1/deployments/{name}/traffic': {
      get: op({
        id: 'deploymentTraffic', tag: 'monitoring', summary: "this replica's last hour (or less) of the deployment's traffic in 10 s buckets, and the rows per runtime call of its versions (the dashboard's live charts)",
        params: [p.deployment, { name: 'window', in: 'query', description: '10s to 1h (default 1h)', schema: str() }],
        ok: { '200': json('the series', obj({ deployment: str(), bucketSeconds: int(), points: arr(obj({ t: iso(), requests: int(), errors: int(), rps: num(), p50Ms: nullable(num()), p99Ms: nullable(num()), byVersion: map(int()) })), batchSizes: arr(obj({ model: str(), version: int(), bins: arr(obj({ upTo: int(), batches: int() })) })) })) },
        errors: [400, 404],
      }),
    },
    '/ui': {
      get: op({ id: 'dashboard', tag: 'dashboard', summary: 'the web dashboard (its index.html, revalidated on every load; the app routes by the URL hash)', ok: { '200': { description: 'the page', content: { 'text/html': { schema: str() } } } }, errors: [503] }),
    },
    '/ui/': {
      get: op({ id: 'dashboardSlash', tag: 'dashboard', summary: 'the web dashboard, as /ui', ok: { '200': { description: 'the page', content: { 'text/html': { schema: str() } } } }, errors: [503] }),
    },
    '/ui/assets/{file}': {
      get: op({ id: 'dashboardAsset', tag: 'dashboard', summary: "one of the dashboard's content-hashed files, cached for a year (gzip when accepted)", params: [{ name: 'file', in: 'path', description: 'the file name', schema: str() } as Param], ok: { '200': { description: 'the file', content: { 'text/javascript': { schema: str() } } } }, errors: [404, 503] }),
    },
    '/v1/pipelines': {
      post: op({ id: 'putPipeline', tag: 'pipelines', summary: 'store a pipeline (a changed text is a new version); its triggers start runs from now on', body: ref('PipelineRequest'), params: [p.actor], ok: { '200': json('unchanged or updated', obj({ pipeline: ref('PipelineRecord'), created: bool(), changed: bool() })), '201': json('created', obj({ pipeline: ref('PipelineRecord'), created: bool(), changed: bool() })) }, errors: [400, 403] }),
      get: op({ id: 'listPipelines', tag: 'pipelines', summary: 'every stored pipeline', ok: { '200': json('pipelines', obj({ pipelines: arr(ref('PipelineRecord')) }, ['pipelines'])) }, errors: [] }),
    },
    '/v1/pipelines/{name}': {
      get: op({ id: 'getPipeline', tag: 'pipelines', summary: 'one stored pipeline', params: [pipelineName], ok: { '200': json('the pipeline', ref('PipelineRecord')) }, errors: [404] }),
      delete: op({ id: 'deletePipeline', tag: 'pipelines', summary: 'remove a stored pipeline (its runs and their lineage stay)', params: [pipelineName, p.actor], ok: { '200': json('deleted', obj({ pipeline: str(), deleted: bool() })) }, errors: [404] }),
    },
    '/v1/pipelines/{name}/pause': {
      post: op({ id: 'pausePipeline', tag: 'pipelines', summary: 'stop its triggers from starting runs', params: [pipelineName, p.actor], ok: { '200': json('the pipeline', ref('PipelineRecord')) }, errors: [404] }),
    },
    '/v1/pipelines/{name}/resume': {
      post: op({ id: 'resumePipeline', tag: 'pipelines', summary: 'let its triggers start runs again', params: [pipelineName, p.actor], ok: { '200': json('the pipeline', ref('PipelineRecord')) }, errors: [404] }),
    },
    '/v1/pipelines/{name}/runs': {
      post: op({ id: 'startRun', tag: 'pipelines', summary: 'queue a run of the stored pipeline (a replica that runs jobs takes it)', body: ref('RunRequest'), params: [pipelineName, p.actor], ok: { '202': json('the queued run', ref('RunRecord')) }, errors: [400, 404] }),
      get: op({ id: 'listPipelineRuns', tag: 'pipelines', summary: "the pipeline's runs, newest first", params: [pipelineName, { name: 'state', in: 'query', description: 'only runs in this state', schema: str() }, { name: 'limit', in: 'query', description: 'at most this many (default 50)', schema: int() }, { name: 'before', in: 'query', description: 'only runs with a smaller id (paging)', schema: int() }], ok: { '200': json('runs', obj({ runs: arr(ref('RunRecord')) }, ['runs'])) }, errors: [404] }),
    },
    '/v1/runs': {
      get: op({
        id: 'listRuns', tag: 'pipelines', summary: 'pipeline runs, newest first (local CLI runs on the same registry included)',
        params: [
          { name: 'pipeline', in: 'query', description: 'only this pipeline', schema: str() },
          { name: 'state', in: 'query', description: 'only runs in this state', schema: str(undefined, { enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] }) },
          { name: 'limit', in: 'query', description: 'at most this many (default 50, at most 500)', schema: int() },
          { name: 'before', in: 'query', description: 'only runs with a smaller id (paging)', schema: int() },
        ],
        ok: { '200': json('runs', obj({ runs: arr(ref('RunRecord')) }, ['runs'])) }, errors: [400],
      }),
    },
    '/v1/runs/{id}': {
      get: op({ id: 'getRun', tag: 'pipelines', summary: 'a run with its steps, tracked metrics (per epoch) and dataset fingerprints', params: [runIdParam], ok: { '200': json('the run', { allOf: [ref('RunRecord'), obj({ spec: map({}, 'the checked pipeline file it runs with'), metrics: arr(ref('RunMetric')), datasets: arr(obj({ step: str(), path: str(), sha256: str(), bytes: int() })) })] }) }, errors: [400, 404] }),
    },
    '/v1/runs/{id}/logs': {
      get: op({
        id: 'runLogs', tag: 'pipelines', summary: "a run's output, step by step (poll with after=next)",
        params: [runIdParam, { name: 'after', in: 'query', description: 'lines after this sequence number', schema: int() }, { name: 'step', in: 'query', description: 'only this step (run: the lines about the run itself)', schema: str() }, { name: 'limit', in: 'query', description: 'at most this many lines (default 1,000)', schema: int() }],
        ok: { '200': json('lines', obj({ run: int(), state: str(), lines: arr(obj({ seq: int(), step: str(), at: iso(), stream: str(undefined, { enum: ['stdout', 'stderr', 'berth'] }), line: str() })), next: int() })) }, errors: [400, 404],
      }),
    },
    '/v1/runs/{id}/cancel': {
      post: op({ id: 'cancelRun', tag: 'pipelines', summary: 'stop a run: its running step is killed, nothing after it runs', params: [runIdParam, p.actor], ok: { '200': json('the run', ref('RunRecord')) }, errors: [400, 404, 409] }),
    },
    '/v1/lineage/models/{name}/{ref}': {
      get: op({ id: 'versionLineage', tag: 'pipelines', summary: 'where a version came from: the pipeline run, code commit, data fingerprints, params and parent', params: [p.model, { name: 'ref', in: 'path', description: 'version number or alias', schema: str() } as Param], ok: { '200': json('lineage', obj({ model: str(), version: int(), sha256: str(), registeredAt: iso(), lineage: map({}), run: nullable({ allOf: [ref('RunRecord'), obj({ metrics: arr(ref('RunMetric')) })] }) })) }, errors: [404] }),
    },
    '/v1/lineage/datasets/{sha}': {
      get: op({ id: 'datasetLineage', tag: 'pipelines', summary: 'the runs that read a dataset and the versions trained on it', params: [{ name: 'sha', in: 'path', description: 'the sha256 of the file, or its first 8+ hex digits', schema: str() } as Param], ok: { '200': json('uses', obj({ dataset: str(), runs: arr(obj({ run: int(), step: str(), path: str(), sha256: str() })), versions: arr(obj({ model: str(), version: int(), runs: arr(int()) })) })) }, errors: [400] }),
    },
    '/v1/schedules': {
      post: op({ id: 'createSchedule', tag: 'jobs', summary: 'a cron schedule that submits a batch job (the job is checked now)', body: ref('ScheduleRequest'), params: [p.actor], ok: { '201': json('the schedule', ref('ScheduleRecord')) }, errors: [400, 403, 404, 409] }),
      get: op({ id: 'listSchedules', tag: 'jobs', summary: 'every schedule', ok: { '200': json('schedules', obj({ schedules: arr(ref('ScheduleRecord')) }, ['schedules'])) }, errors: [] }),
    },
    '/v1/schedules/{name}': {
      get: op({ id: 'getSchedule', tag: 'jobs', summary: 'one schedule', params: [{ name: 'name', in: 'path', description: 'schedule name', schema: str() } as Param], ok: { '200': json('the schedule', ref('ScheduleRecord')) }, errors: [404] }),
      delete: op({ id: 'deleteSchedule', tag: 'jobs', summary: 'delete a schedule (its past runs stay)', params: [{ name: 'name', in: 'path', description: 'schedule name', schema: str() } as Param, p.actor], ok: { '200': json('deleted', obj({ name: str(), deleted: bool() }, ['name', 'deleted'])) }, errors: [403, 404] }),
    },
    '/v1/schedules/{name}/pause': {
      post: op({ id: 'pauseSchedule', tag: 'jobs', summary: 'stop firing (runs due while paused are not owed)', params: [{ name: 'name', in: 'path', description: 'schedule name', schema: str() } as Param, p.actor], ok: { '200': json('the schedule', ref('ScheduleRecord')) }, errors: [403, 404] }),
    },
    '/v1/schedules/{name}/resume': {
      post: op({ id: 'resumeSchedule', tag: 'jobs', summary: 'fire again from the next instant on', params: [{ name: 'name', in: 'path', description: 'schedule name', schema: str() } as Param, p.actor], ok: { '200': json('the schedule', ref('ScheduleRecord')) }, errors: [403, 404] }),
    },
    '/v1/schedules/{name}/run': {
      post: op({ id: 'runSchedule', tag: 'jobs', summary: "submit the schedule's job now (its timetable is unchanged)", params: [{ name: 'name', in: 'path', description: 'schedule name', schema: str() } as Param, p.actor], ok: { '201': json('the queued job', ref('JobRecord')) }, errors: [403, 404] }),
    },
    '/v1/jobs': {
      post: op({
        id: 'submitJob',
        tag: 'jobs',
        summary: 'queue a batch job: score a whole table with a model version on the server (checked before it is queued)',
        body: ref('JobRequest'),
        params: [p.actor],
        ok: { '201': json('the queued job', ref('JobRecord')) },
        errors: [400, 403, 404],
      }),
      get: op({
        id: 'listJobs',
        tag: 'jobs',
        summary: 'jobs, newest first',
        params: [
          { name: 'state', in: 'query', description: 'only jobs in this state', schema: str(undefined, { enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] }) } as Param,
          { name: 'model', in: 'query', description: 'only jobs of this model', schema: str() } as Param,
          { name: 'schedule', in: 'query', description: 'only runs of this schedule', schema: str() } as Param,
          { name: 'limit', in: 'query', description: 'most jobs (1-500, default 50)', schema: int(undefined, { minimum: 1, maximum: 500 }) } as Param,
          { name: 'before', in: 'query', description: 'only jobs with a smaller id (paging)', schema: int() } as Param,
        ],
        ok: { '200': json('jobs', obj({ jobs: arr(ref('JobRecord')) }, ['jobs'])) },
        errors: [400],
      }),
    },
    '/v1/jobs/{id}': {
      get: op({ id: 'getJob', tag: 'jobs', summary: 'one job: state, progress, summary or error', params: [{ name: 'id', in: 'path', description: 'job id', schema: int() } as Param], ok: { '200': json('the job', ref('JobRecord')) }, errors: [400, 404] }),
    },
    '/v1/jobs/{id}/cancel': {
      post: op({
        id: 'cancelJob',
        tag: 'jobs',
        summary: 'stop a job: a queued one at once, a running one at its next batch (its finished parts stay)',
        params: [{ name: 'id', in: 'path', description: 'job id', schema: int() } as Param, p.actor],
        ok: { '200': json('the job', ref('JobRecord')) },
        errors: [400, 403, 404, 409],
      }),
    },
    '/v1/jobs/{id}/logs': {
      get: op({
        id: 'jobLogs',
        tag: 'jobs',
        summary: "a job's log lines, oldest first",
        params: [
          { name: 'id', in: 'path', description: 'job id', schema: int() } as Param,
          { name: 'after', in: 'query', description: 'only lines after this seq (default 0)', schema: int() } as Param,
          { name: 'limit', in: 'query', description: 'most lines (default 1000)', schema: int() } as Param,
        ],
        ok: { '200': json('log lines', ref('JobLogs')) },
        errors: [400, 404],
      }),
    },
    '/v1/security/findings': {
      get: op({
        id: 'listExtractionFindings',
        tag: 'security',
        summary: 'callers whose traffic looked like model extraction, newest first, with the evidence per signal (volume, coverage, boundary)',
        params: [{ name: 'limit', in: 'query', description: 'most findings (1-1000, default 100)', schema: int(undefined, { minimum: 1, maximum: 1000 }) } as Param],
        ok: { '200': json('findings', obj({ enabled: bool('extraction.enabled'), findings: arr({ type: 'object' }, 'see docs/security-artifacts.md') }, ['enabled', 'findings'])) },
        errors: [],
      }),
    },
    '/v1/auth/whoami': {
      get: op({ id: 'whoAmI', tag: 'security', summary: 'who the credentials are and what they may do', ok: { '200': json('the caller', ref('WhoAmI')) }, errors: [] }),
    },
    '/v1/tokens': {
      get: op({ id: 'listTokens', tag: 'security', summary: 'every API token (never their secrets)', ok: { '200': json('tokens', ref('TokenList')) }, errors: [] }),
      post: op({
        id: 'createToken',
        tag: 'security',
        summary: 'mint an API token; its secret is in this answer only',
        body: ref('CreateTokenRequest'),
        ok: { '201': json('the token, once', ref('CreatedToken')) },
        errors: [400],
      }),
    },
    '/v1/tokens/{id}': {
      get: op({ id: 'getToken', tag: 'security', summary: 'one token', params: [{ name: 'id', in: 'path', description: 'token id', schema: str() } as Param], ok: { '200': json('the token', ref('Token')) }, errors: [404] }),
      delete: op({
        id: 'revokeToken',
        tag: 'security',
        summary: 'revoke a token for good (it stops working within seconds on every replica)',
        params: [{ name: 'id', in: 'path', description: 'token id', schema: str() } as Param],
        ok: { '200': json('the token after', ref('RevokedToken')) },
        errors: [404],
      }),
    },
    '/v1/deployments/{name}/rollback': {
      post: op({
        id: 'rollbackDeployment',
        tag: depTag,
        summary: 'return the deployment to its previous revision (as a new revision)',
        params: [p.deployment, p.actor],
        ok: { '200': json('the deployment after the rollback', ref('DeploymentRecord')) },
      }),
    },
  };
}

/**
 * The OpenAPI 3.1 document of the Berth server: the v2 inference protocol, the friendly predict
 * endpoint, the management API and operations routes.
 *
 * @example
 * const doc = buildOpenApiDocument({ version: '0.1.0' });
 * Object.keys(doc.paths) // ['/v2', '/v2/health/live', …]
 */
export function buildOpenApiDocument(opts: { version: string }): { openapi: string; info: Json; paths: Record<string, Json>; components: Json } & Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth',
      version: opts.version,
      summary: 'Serve, version and manage ML models.',
      description:
        'Inference over the Open Inference Protocol v2 (`/v2`) and a friendly JSON predict endpoint; management of models, versions, aliases, ' +
        'deployments and the audit log under `/v1`. Errors answer `{"error": "...", "code": "..."}` with the codes of docs/errors.md.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [
      { name: 'inference (v2)', description: 'Open Inference Protocol v2 (KServe, Triton); `{name}` is a deployment' },
      { name: 'inference (friendly)', description: 'named features in, labelled predictions out' },
      { name: 'models', description: 'models and their immutable, content-addressed versions' },
      { name: 'aliases', description: 'movable names for versions, with history' },
      { name: 'deployments', description: 'named endpoints and what they serve, with history' },
      { name: 'audit', description: 'who changed what, when' },
      { name: 'rollouts', description: 'progressive rollouts: steps, analysis, gates, promotion and rollback' },
      { name: 'jobs', description: 'batch jobs the server runs: whole tables scored in resumable parts' },
      { name: 'operations', description: 'status, metrics and this document' },
      { name: 'security', description: 'API tokens and the caller’s identity' },
    ],
    paths: withAccess(buildPaths()),
    components: {
      schemas: SCHEMAS,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'a Berth API token (`berth tokens create`), the bootstrap admin token, or a JWT from the configured OIDC issuer' },
      },
    },
    security: [{ bearer: [] }],
  };
}

/** Each operation says what it needs (`x-berth-access`, from ROUTE_ACCESS) and answers 401/403/429 unless public. */
function withAccess(paths: Record<string, Json>): Record<string, Json> {
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, o] of Object.entries(ops as Record<string, Json>)) {
      const access = routeAccess(method.toUpperCase(), path.replace(/\{([A-Za-z_]+)\}/g, ':$1'));
      if (!access) continue;
      const operation = o as { responses: Record<string, Json> } & Json;
      operation['x-berth-access'] = describeAccess(access);
      if (access.public) {
        operation['security'] = [];
        continue;
      }
      operation.responses['401'] = ERR;
      if (!access.authenticated) operation.responses['403'] = ERR;
      operation.responses['429'] = ERR;
    }
  }
  return paths;
}
