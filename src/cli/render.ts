import type { TensorSpec } from '../core/index.js';
import type {
  AliasHistoryView,
  AuditList,
  DeploymentHistoryView,
  DeploymentList,
  DeploymentView,
  ModelList,
  StatusView,
  VersionList,
} from '../protocol/index.js';
import type { DeploymentRecord, DeploymentSettings, DeploymentTarget, ModelRecord, TrafficPolicy, VersionRecord } from '../registry/index.js';
import type { PredictResult } from './client.js';
import {
  formatBytes,
  formatDuration,
  formatFields,
  formatLocalTime,
  formatRelative,
  formatTable,
  formatTags,
  formatWhen,
  shortSha,
} from './format.js';

/*
 * Human renderings of the management API's answers. `--json` bypasses all of this and prints the
 * API's JSON as is.
 */

export function renderModelList(list: ModelList, now: number): string {
  if (list.models.length === 0) return 'no models registered yet; register one with `berth models register model.onnx --name NAME`\n';
  return formatTable(
    ['NAME', 'LATEST', 'VERSIONS', 'ALIASES', 'TAGS', 'UPDATED'],
    list.models.map((m) => [m.name, m.latestVersion === null ? '-' : String(m.latestVersion), String(m.versionCount), aliasList(m.aliases), formatTags(m.tags), formatWhen(m.updatedAt, now)]),
  );
}

export function renderModel(m: ModelRecord, versions: VersionList | undefined, now: number): string {
  let out = formatFields([
    ['model', m.name],
    ['description', m.description ?? '-'],
    ['tags', formatTags(m.tags)],
    ['aliases', aliasList(m.aliases)],
    ['versions', `${m.versionCount}${m.latestVersion !== null ? ` (latest ${m.latestVersion})` : ''}`],
    ['created', formatWhen(m.createdAt, now)],
    ['updated', formatWhen(m.updatedAt, now)],
  ]);
  if (versions && versions.versions.length > 0) out += '\n' + renderVersionTable(versions, m.aliases, now);
  return out;
}

export function renderVersionTable(list: VersionList, aliases: Record<string, number> | undefined, now: number): string {
  if (list.versions.length === 0) return `model ${list.model} has no versions\n`;
  const byVersion = new Map<number, string[]>();
  for (const [a, v] of Object.entries(aliases ?? {})) byVersion.set(v, [...(byVersion.get(v) ?? []), a]);
  return formatTable(
    ['VERSION', 'SHA256', 'SIZE', 'ALIASES', 'TAGS', 'CREATED', 'BY'],
    list.versions.map((v) => [
      String(v.version),
      shortSha(v.sha256),
      formatBytes(v.sizeBytes),
      (byVersion.get(v.version) ?? []).join(', ') || '-',
      formatTags(v.tags),
      formatWhen(v.createdAt, now),
      v.createdBy,
    ]),
  );
}

export function renderVersion(v: VersionRecord, now: number): string {
  const lineage = Object.entries(v.lineage)
    .filter(([k]) => k !== 'sourcePath' && k !== 'registeredAt')
    .map(([k, x]) => `${k}=${typeof x === 'string' ? x : JSON.stringify(x)}`);
  const pairs: [string, string][] = [
    ['model', v.model],
    ['version', String(v.version)],
    ['sha256', v.sha256],
    ['size', `${formatBytes(v.sizeBytes)} (${v.sizeBytes} bytes)`],
    ['description', v.description ?? '-'],
    ['tags', formatTags(v.tags)],
    ['created', `${formatWhen(v.createdAt, now)} by ${v.createdBy}`],
    ['source', v.sourcePath],
    ['lineage', lineage.length > 0 ? lineage.join('\n') : '-'],
    ['card', v.card ? [v.card.title, v.card.task].filter(Boolean).join(', ') || 'yes' : '-'],
    ['reference', v.reference ? `${v.reference.fileName}, ${v.reference.rows} rows, ${formatBytes(v.reference.sizeBytes)}` : '-'],
    ['batchable', v.signature.batchable ? 'yes' : 'no'],
  ];
  if (v.card?.metrics && Object.keys(v.card.metrics).length > 0) {
    pairs.push(['metrics', Object.entries(v.card.metrics).map(([k, x]) => `${k}=${x}`).join(', ')]);
  }
  const io = (kind: string, specs: TensorSpec[]): string[][] =>
    specs.map((s) => [kind, s.name, s.datatype, `[${s.shape.join(', ')}]`, s.featureNames ? `${s.featureNames.length} named features` : '']);
  return (
    formatFields(pairs) +
    '\n' +
    formatTable(['', 'NAME', 'DATATYPE', 'SHAPE', 'NOTES'], [...io('input', v.signature.inputs), ...io('output', v.signature.outputs)])
  );
}

export function renderAliasHistory(h: AliasHistoryView, now: number): string {
  let out = '';
  if (h.at) {
    const names = Object.keys(h.at.versions);
    out +=
      `at ${formatLocalTime(h.at.atMs)} (${h.at.time}):\n` +
      (names.length === 0
        ? `  model ${h.model} had no aliases\n`
        : names.map((a) => `  ${h.model}@${a} → ${h.at!.versions[a] === null ? 'not set' : `version ${h.at!.versions[a]}`}\n`).join(''));
    out += '\n';
  }
  if (h.entries.length === 0) return out + `no alias changes${h.alias ? ` for ${h.model}@${h.alias}` : ` for ${h.model}`}\n`;
  return (
    out +
    formatTable(
      ['WHEN', 'ALIAS', 'CHANGE', 'VERSION', 'WAS', 'BY'],
      h.entries.map((e) => [
        formatWhen(e.at, now),
        e.alias,
        e.change,
        e.version === null ? '-' : String(e.version),
        e.previousVersion === null ? '-' : String(e.previousVersion),
        e.actor,
      ]),
    )
  );
}

export function describeTarget(model: string, t: DeploymentTarget): string {
  return t.kind === 'alias' ? `${model}@${t.alias}` : `${model} version ${t.version}`;
}

export function describeSettings(s: DeploymentSettings): string {
  const e = Object.entries(s);
  return e.length === 0 ? 'server defaults' : e.map(([k, v]) => `${k}=${v}`).join(', ');
}

/**
 * A traffic policy in one line: `v1 90% · v2 10% (sticky header:x-user-id) · shadow v3 100%`.
 * `served` is the target's version (null when unknown: shown as "target").
 */
export function describeTraffic(t: TrafficPolicy | null, served: number | null, now: number = Date.now()): string {
  const target = served === null ? 'target' : `v${served}`;
  if (t === null) return `${target} 100%`;
  const rest = 100 - t.split.reduce((s, a) => s + a.percent, 0);
  const parts = [[`${target} ${trimNumber(rest)}%`, ...t.split.map((a) => `v${a.version} ${trimNumber(a.percent)}%`)].join(' · ')];
  if (t.sticky) parts[0] += ` (sticky ${t.sticky.from}:${t.sticky.name})`;
  for (const s of t.shadows) parts.push(`shadow v${s.version} ${trimNumber(s.percent)}%`);
  if (t.preview !== null) parts.push(`preview v${t.preview}`);
  if (t.fallback !== null) {
    const warm = t.fallbackWarmUntil !== null && t.fallbackWarmUntil > now ? ` (kept warm ${formatRelative(t.fallbackWarmUntil, now).replace(/^in /, 'for ')})` : '';
    parts.push(`fallback v${t.fallback}${warm}`);
  }
  if (t.breaker) parts.push(`breaker at ${trimNumber(t.breaker.errorPercent)}% failures of ≥${t.breaker.minRequests} requests in ${trimNumber(t.breaker.windowMs / 1000)}s`);
  return parts.join(' · ');
}

function trimNumber(x: number): string {
  return String(Number(x.toFixed(2)));
}

export function renderDeploymentList(list: DeploymentList, now: number): string {
  if (list.deployments.length === 0) return 'no deployments yet; create one with `berth deploy NAME --model MODEL --alias production`\n';
  // the TRAFFIC column appears once any deployment spreads its traffic (--json always has it)
  const traffic = list.deployments.some((d) => d.deployment.traffic !== null);
  return formatTable(
    ['NAME', 'SERVES', 'VERSION', ...(traffic ? ['TRAFFIC'] : []), 'REVISION', 'STATE', 'UPDATED'],
    list.deployments.map((d) => [
      d.deployment.name,
      describeTarget(d.deployment.model, d.deployment.target),
      d.servedVersion === null ? 'none' : String(d.servedVersion),
      ...(traffic ? [d.deployment.traffic === null ? '-' : describeTraffic(d.deployment.traffic, d.servedVersion, now)] : []),
      String(d.deployment.revision),
      d.live ? d.live.state : d.problem ? 'broken' : '-',
      formatWhen(d.deployment.updatedAt, now),
    ]),
  );
}

export function renderDeployment(d: DeploymentView, now: number): string {
  const r: DeploymentRecord = d.deployment;
  const pairs: [string, string][] = [
    ['deployment', r.name],
    ['serves', describeTarget(r.model, r.target)],
    ['version', d.servedVersion === null ? `none${d.problem ? ` (${d.problem})` : ''}` : String(d.servedVersion)],
    ['revision', String(r.revision)],
    ['traffic', r.traffic === null ? `all to the target${d.servedVersion !== null ? ` (v${d.servedVersion})` : ''}` : describeTraffic(r.traffic, d.servedVersion, now)],
    ['settings', describeSettings(r.settings)],
    ['created', formatWhen(r.createdAt, now)],
    ['updated', formatWhen(r.updatedAt, now)],
  ];
  if (d.live) {
    const l = d.live;
    pairs.push(
      ['state', `${l.state}${l.error ? ` (${l.error})` : ''}`],
      ['memory', l.memoryBytes > 0 ? formatBytes(l.memoryBytes) : '-'],
      ['queue', `${l.queueDepth} rows waiting, ${l.inflight} requests in flight`],
      ['batching', `maxBatchSize=${l.batching.maxBatchSize}, maxQueueDelayMs=${l.batching.maxQueueDelayMs}, maxQueueSize=${l.batching.maxQueueSize}, timeoutMs=${l.batching.timeoutMs}`],
      ['last used', formatWhen(l.lastUsedAt, now)],
    );
  } else if (d.problem && d.servedVersion !== null) {
    pairs.push(['state', d.problem]);
  } else if (d.servedVersion !== null) {
    pairs.push(['state', 'no server running (read from the data dir)']);
  }
  return formatFields(pairs);
}

export function renderDeploymentHistory(h: DeploymentHistoryView, now: number): string {
  let out = '';
  if (h.at) {
    out += `at ${formatLocalTime(h.at.atMs)} (${h.at.time}): `;
    out += h.at.revision
      ? `revision ${h.at.revision.revision} served ${describeTarget(h.at.revision.model, h.at.revision.target)}` +
        `${h.at.version !== null ? ` = version ${h.at.version}` : ''}\n\n`
      : `deployment ${h.name} did not exist\n\n`;
  }
  return (
    out +
    formatTable(
      ['REVISION', 'WHEN', 'CHANGE', 'SERVES', 'SETTINGS', 'BY'],
      h.entries.map((e) => [
        String(e.revision),
        formatWhen(e.at, now),
        e.change,
        e.deleted ? '(deleted)' : describeTarget(e.model, e.target),
        describeSettings(e.settings),
        e.actor,
      ]),
    )
  );
}

export function renderAudit(list: AuditList, now: number): string {
  if (list.entries.length === 0) return 'no audit entries match\n';
  return formatTable(
    ['WHEN', 'ACTOR', 'ACTION', 'TARGET', 'DETAILS'],
    // where a change came over the network, say from where (the CLI on the data dir records no address)
    list.entries.map((e) => [formatWhen(e.at, now), e.source ? `${e.actor} from ${e.source}` : e.actor, e.action, e.target, summarizeDetails(e.details)]),
  );
}

function summarizeDetails(d: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(d)) {
    if (v === undefined) continue;
    let s = typeof v === 'string' ? v : JSON.stringify(v);
    if (k === 'sha256' && typeof v === 'string') s = shortSha(v);
    parts.push(`${k}=${s}`);
  }
  const text = parts.join(' ');
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

export function renderStatus(s: StatusView, where: string, now: number): string {
  const pairs: [string, string][] = s.server
    ? [
        ['server', `${where} (berth ${s.version})`],
        ['up', `${s.uptimeSeconds === null ? '-' : formatDuration(s.uptimeSeconds)} (since ${s.startedAt ? formatLocalTime(Date.parse(s.startedAt)) : '-'})`],
        ['data dir', s.dataDir ?? '-'],
        ['role', `${s.role ?? 'all'}${s.rolloutLeader ? ' (leads the rollouts)' : ''}`],
        ['gRPC', s.grpcPort === null ? 'off (berth serve --grpc-port)' : `port ${s.grpcPort}`],
      ]
    : [
        ['server', 'none running (read from the data dir)'],
        ['data dir', s.dataDir ?? where],
      ];
  pairs.push(['models', String(s.models)], ['deployments', String(s.deployments)]);
  let out = formatFields(pairs);
  if (s.server) {
    out +=
      '\n' +
      (s.loaded.length === 0
        ? 'no models loaded (they load on first request)\n'
        : formatTable(
            ['MODEL', 'VERSION', 'STATE', 'MEMORY', 'QUEUE', 'LOADED', 'LAST USED'],
            s.loaded.map((m) => [
              m.model,
              String(m.version),
              m.state,
              formatBytes(m.memoryBytes),
              String(m.queueDepth),
              formatWhen(m.loadedAt, now),
              formatWhen(m.lastUsedAt, now),
            ]),
          ));
  }
  return out;
}

export function renderPredictions(p: PredictResult): string {
  const head = `${p.deployment}: ${p.model} version ${p.version} (request ${p.request_id})\n`;
  const rows = p.predictions.map((r, i) => [
    String(i),
    r.label === undefined ? '-' : String(r.label),
    r.probabilities ? Object.entries(r.probabilities).map(([k, v]) => `${k}=${v.toFixed(4)}`).join(' ') : '-',
    r.value === undefined ? '-' : Array.isArray(r.value) ? r.value.join(', ') : String(r.value),
  ]);
  return head + formatTable(['ROW', 'LABEL', 'PROBABILITIES', 'VALUE'], rows);
}

function aliasList(aliases: Record<string, number>): string {
  const e = Object.entries(aliases);
  return e.length === 0 ? '-' : e.map(([a, v]) => `${a}→${v}`).join(', ');
}
