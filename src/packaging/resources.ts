import { createHash } from 'node:crypto';
import { BerthError } from '../core/index.js';

/** A JSON value, as Kubernetes objects are written. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** `metadata` of the objects Berth writes. */
export interface ObjectMeta extends JsonObject {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** One Kubernetes (or custom resource) object as plain data, ready for YAML or JSON. */
export interface KubeObject extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
}

/** A request and a limit of one resource, as Kubernetes quantities (`500m`, `1`, `768Mi`). */
export interface ResourcePair {
  request: string;
  limit: string;
}

const MI = 1024 * 1024;
/** What a Berth process needs before any model: Node, Fastify, onnxruntime, buffers. */
export const BASE_MEMORY_BYTES = 256 * MI;
/** Resident memory per byte of model file: the file, the session's copy and its arenas. */
export const MEMORY_PER_MODEL_BYTE = 3;
export const DEFAULT_CPU: ResourcePair = { request: '500m', limit: '1' };

const CPU_RE = /^(\d+(?:\.\d+)?)(m?)$/;
const MEMORY_RE = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: MI, Gi: 1024 * MI, Ti: 1024 * 1024 * MI };

function invalid(flag: string, expected: string, got: string, why?: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `${flag}: ${why ? `${why}; ` : ''}expected ${expected}, got ${JSON.stringify(got)}`, {
    field: flag.replace(/^--/, ''),
    expected,
    got,
  });
}

/** Millicores of a CPU quantity (`500m` → 500, `2` → 2000), or null when it is not one. */
export function cpuMillis(q: string): number | null {
  const m = CPU_RE.exec(q);
  return m ? Number(m[1]) * (m[2] === 'm' ? 1 : 1000) : null;
}

/** Bytes of a memory quantity (`768Mi`, `1G`, `1048576`), or null when it is not one. */
export function memoryBytes(q: string): number | null {
  const m = MEMORY_RE.exec(q);
  return m ? Number(m[1]) * MEMORY_UNITS[m[2] ?? '']! : null;
}

/**
 * Parse `--cpu` / `--memory`: `REQUEST` (the limit is the same) or `REQUEST:LIMIT`.
 *
 * @example
 * parseResourcePair('--memory', '512Mi:1Gi') // {request: '512Mi', limit: '1Gi'}
 */
export function parseResourcePair(flag: '--cpu' | '--memory', text: string): ResourcePair {
  const expected = flag === '--cpu' ? 'REQUEST[:LIMIT] in cores or millicores, e.g. 500m or 500m:2' : 'REQUEST[:LIMIT] in bytes, e.g. 512Mi or 512Mi:1Gi';
  const parts = text.split(':');
  if (parts.length > 2 || parts.some((p) => p === '')) throw invalid(flag, expected, text);
  const measure = flag === '--cpu' ? cpuMillis : memoryBytes;
  const [request, limit = request] = parts as [string, string?];
  const r = measure(request);
  const l = measure(limit);
  if (r === null || l === null || r <= 0 || l <= 0) throw invalid(flag, expected, text);
  if (r > l) throw invalid(flag, expected, text, `the request ${request} is above the limit ${limit}`);
  return { request, limit };
}

/** A memory quantity in whole mebibytes, rounded up. */
export function mebibytes(bytes: number): string {
  return `${Math.ceil(bytes / MI)}Mi`;
}

/**
 * Memory for a Berth pod serving models of these sizes: the request holds what it serves now
 * (256Mi + 3 × the model files), the limit adds room to load one more copy of the largest
 * during a rollout.
 */
export function defaultMemory(modelSizes: readonly number[]): ResourcePair {
  const sum = modelSizes.reduce((a, b) => a + b, 0);
  const largest = modelSizes.reduce((a, b) => Math.max(a, b), 0);
  const request = Math.ceil((BASE_MEMORY_BYTES + MEMORY_PER_MODEL_BYTE * sum) / MI);
  return { request: `${request}Mi`, limit: `${request + Math.ceil((MEMORY_PER_MODEL_BYTE * largest) / MI)}Mi` };
}

/**
 * The Kubernetes name of a Berth deployment: Berth names may hold capitals, dots and underscores
 * and run to 128 characters; object names are DNS labels (lower case, digits, `-`, starting with a
 * letter, ≤ 63). Lossy or long names get a short hash so two deployments never share one.
 *
 * @example
 * kubernetesName('fraud-api') // 'fraud-api'
 * kubernetesName('Fraud_API') // 'fraud-api-1b2c3d'
 */
export function kubernetesName(deployment: string, room = 55): string {
  let slug = deployment.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(slug)) slug = `berth-${slug}`.replace(/-+$/, '');
  if (slug === deployment && slug.length <= room) return slug;
  const hash = createHash('sha256').update(deployment).digest('hex').slice(0, 6);
  return `${slug.slice(0, room - 7).replace(/-+$/, '')}-${hash}`;
}
