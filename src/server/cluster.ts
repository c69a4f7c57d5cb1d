import cluster, { type Worker } from 'node:cluster';
import client from 'prom-client';
import { BerthError, isBerthError, type ErrorCode, type Logger } from '../core/index.js';

/**
 * An action every serving process must carry out: load or unload a deployment's model (each has
 * its own loaded models), or write its inference-log buffers (before a report reads the files).
 */
export interface RepositoryAction {
  kind: 'load' | 'unload' | 'flush-log';
  deployment: string;
}

/** What a serving process in a cluster asks of the others, through the primary. */
export interface ClusterBridge {
  /** Prometheus text aggregated over every process */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** run a repository action in every process; resolves when all did */
  broadcast(action: RepositoryAction): Promise<void>;
}

type Msg =
  | { t: 'berth:metrics'; id: number }
  | { t: 'berth:metrics-done'; id: number; body: string; contentType: string }
  | { t: 'berth:broadcast'; id: number; action: RepositoryAction }
  | { t: 'berth:broadcast-done'; id: number; error?: { code: ErrorCode; message: string } }
  | { t: 'berth:collect'; id: number }
  | { t: 'berth:collected'; id: number; json: MetricJson[] }
  | { t: 'berth:act'; id: number; action: RepositoryAction }
  | { t: 'berth:acted'; id: number; error?: { code: ErrorCode; message: string } }
  | { t: 'berth:shutdown' };

function isMsg(m: unknown): m is Msg {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' && (m as { t: string }).t.startsWith('berth:');
}

const TIMEOUT_MS = 30_000;

type MetricJson = Awaited<ReturnType<client.Registry['getMetricsAsJSON']>>[number];

/**
 * The worker side: answers the primary's collect/act requests with this process's metrics and
 * model manager, and asks the primary for cluster-wide metrics and broadcasts.
 */
export function createWorkerBridge(local: {
  collect: () => Promise<MetricJson[]>;
  act: (action: RepositoryAction) => Promise<void>;
}): ClusterBridge {
  let nextId = 1;
  const pending = new Map<number, (m: Msg) => void>();
  process.on('message', (m: unknown) => {
    if (!isMsg(m)) return;
    if (m.t === 'berth:collect') {
      void local.collect().then((json) => process.send?.({ t: 'berth:collected', id: m.id, json } satisfies Msg));
    } else if (m.t === 'berth:act') {
      local.act(m.action).then(
        () => process.send?.({ t: 'berth:acted', id: m.id } satisfies Msg),
        (err: unknown) => process.send?.({ t: 'berth:acted', id: m.id, error: wireError(err) } satisfies Msg),
      );
    } else if (m.t === 'berth:metrics-done' || m.t === 'berth:broadcast-done') {
      pending.get(m.id)?.(m);
      pending.delete(m.id);
    }
  });
  const ask = (msg: Msg & { id: number }): Promise<Msg> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(msg.id);
        reject(new BerthError('INTERNAL', 'the cluster primary did not answer in time'));
      }, TIMEOUT_MS);
      pending.set(msg.id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      process.send?.(msg);
    });
  return {
    async metrics() {
      const m = await ask({ t: 'berth:metrics', id: nextId++ });
      if (m.t !== 'berth:metrics-done') throw new BerthError('INTERNAL', 'unexpected answer from the cluster primary');
      return { contentType: m.contentType, body: m.body };
    },
    async broadcast(action) {
      const m = await ask({ t: 'berth:broadcast', id: nextId++, action });
      if (m.t === 'berth:broadcast-done' && m.error) throw new BerthError(m.error.code, m.error.message);
    },
  };
}

function wireError(err: unknown): { code: ErrorCode; message: string } {
  return isBerthError(err) ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/**
 * The primary side: forks `processes` serving processes (each runs this same command), relays
 * metrics collection and repository broadcasts between them, replaces a process that dies, and
 * forwards SIGINT/SIGTERM so every process drains before exiting.
 */
export async function runClusterPrimary(opts: { processes: number; logger: Logger }): Promise<{ port: number; stopped: Promise<void> }> {
  const { logger } = opts;
  let nextId = 1;
  let stopping = false;
  const waits = new Map<number, { left: Set<number>; onReply: (w: Worker, m: Msg) => void; done: () => void }>();

  const fanOut = (make: (id: number) => Msg, onReply: (w: Worker, m: Msg) => void): Promise<void> =>
    new Promise((resolve) => {
      const id = nextId++;
      // only processes that are listening have their message handlers in place
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected() && ready.has(w.id));
      if (workers.length === 0) return resolve();
      const timer = setTimeout(() => {
        waits.delete(id);
        resolve();
      }, TIMEOUT_MS);
      waits.set(id, {
        left: new Set(workers.map((w) => w.id)),
        onReply,
        done: () => {
          clearTimeout(timer);
          waits.delete(id);
          resolve();
        },
      });
      for (const w of workers) w.send(make(id));
    });

  const onMessage = (worker: Worker, m: unknown): void => {
    if (!isMsg(m)) return;
    if (m.t === 'berth:collected' || m.t === 'berth:acted') {
      const wait = waits.get(m.id);
      if (!wait) return;
      wait.onReply(worker, m);
      wait.left.delete(worker.id);
      if (wait.left.size === 0) wait.done();
    } else if (m.t === 'berth:metrics') {
      const all: MetricJson[][] = [];
      void fanOut((id) => ({ t: 'berth:collect', id }), (_w, r) => {
        if (r.t === 'berth:collected') all.push(r.json);
      })
        .then(async () => {
          const registry = client.AggregatorRegistry.aggregate(all as never);
          const body = await registry.metrics();
          worker.send({ t: 'berth:metrics-done', id: m.id, body, contentType: registry.contentType } satisfies Msg);
        })
        .catch((err: unknown) => logger.error('cluster metrics failed', { error: String(err) }));
    } else if (m.t === 'berth:broadcast') {
      let error: { code: ErrorCode; message: string } | undefined;
      void fanOut((id) => ({ t: 'berth:act', id, action: m.action }), (_w, r) => {
        if (r.t === 'berth:acted' && r.error && !error) error = r.error;
      }).then(() => worker.send({ t: 'berth:broadcast-done', id: m.id, ...(error ? { error } : {}) } satisfies Msg));
    }
  };
  cluster.on('message', onMessage);

  const ready = new Set<number>();
  const indexOf = new Map<number, number>();
  const listening = new Promise<number>((resolve) => {
    cluster.on('listening', (w, address) => {
      if (stopping) {
        w.send({ t: 'berth:shutdown' } satisfies Msg);
        return;
      }
      ready.add(w.id);
      if (ready.size === opts.processes) resolve(address.port);
    });
  });
  const stopped = new Promise<void>((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      ready.delete(worker.id);
      if (stopping) {
        if (Object.keys(cluster.workers ?? {}).length === 0) resolve();
        return;
      }
      logger.error('a serving process died; starting another', { pid: worker.process.pid, code, signal });
      // the replacement takes the dead one's index (process 0 leads the rollout timers)
      const index = indexOf.get(worker.id) ?? 0;
      indexOf.delete(worker.id);
      indexOf.set(cluster.fork({ [PROCESS_INDEX_ENV]: String(index) }).id, index);
    });
  });
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) {
      if (!w) continue;
      // a listening process drains; one still starting has nothing to drain (and no handler yet)
      if (ready.has(w.id) && w.isConnected()) w.send({ t: 'berth:shutdown' } satisfies Msg);
      else w.process.kill('SIGTERM');
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for (let i = 0; i < opts.processes; i++) indexOf.set(cluster.fork({ [PROCESS_INDEX_ENV]: String(i) }).id, i);
  return { port: await listening, stopped };
}

export const isClusterWorker = (): boolean => cluster.isWorker;

/** Each serving process's index (0…processes−1), kept by its replacement when one dies. */
export const PROCESS_INDEX_ENV = 'BERTH_PROCESS_INDEX';

/** Does this process lead (time rollout steps)? The single process does; of several, index 0. */
export const leadsRollouts = (): boolean => !cluster.isWorker || (process.env[PROCESS_INDEX_ENV] ?? '0') === '0';
