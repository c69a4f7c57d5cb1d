/**
 * Rollout numbers pooled across replicas. Every process that serves traffic keeps its own window
 * per deployment (RolloutStats); with several processes the leader — which may take no traffic at
 * all (`--role control`) — would judge a step on its own share. So each process aligns its window
 * with the step a rollout is in (`epochOf`), stores it in the registry about once a second when it
 * moved, and the leader merges every replica's window of that step before it analyses or shows it.
 *
 * Nothing here is on a request's path: a timer reads the rollouts, serialises the windows and
 * writes one row per deployment per replica.
 */
import { silentLogger, toBerthError, type Logger } from '../core/index.js';
import type { Registry } from '../registry/index.js';
import type { DeploymentWindow, RolloutStats } from './stats.js';
import { RolloutStore, type RolloutRecord } from './store.js';
import { decodeWindow, encodeWindow, mergeWindows } from './window-codec.js';

/** The name of a rollout's current step: a new step, a resume or a retry each start a new window. */
export function epochOf(r: Pick<RolloutRecord, 'id' | 'step' | 'stepStartedAtMs'>): string {
  return `${r.id}:${r.step}:${r.stepStartedAtMs}`;
}

export interface SharedWindowsOptions {
  registry: Registry;
  stats: RolloutStats;
  /** this process among the replicas (unique: host, pid and a random part) */
  replica: string;
  /** how often the window is stored (ms, default 1000) */
  intervalMs?: number;
  /** whether this process leads the rollouts now (it prunes the windows of finished steps) */
  leading?: () => boolean;
  logger?: Logger;
}

export class SharedRolloutWindows {
  private readonly store: RolloutStore;
  private readonly logger: Logger;
  private readonly published = new Map<string, { epoch: string; changes: number }>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: SharedWindowsOptions) {
    this.store = new RolloutStore(opts.registry, () => Date.now());
    this.logger = opts.logger ?? silentLogger;
  }

  get replica(): string {
    return this.opts.replica;
  }

  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.publish(), this.opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  /**
   * One pass (passes never overlap): align each window with its rollout's current step and store
   * the windows that moved since they were last stored.
   */
  publish(): Promise<void> {
    this.running = this.running.then(() => this.pass()).catch((err: unknown) => {
      this.logger.warn('rollouts: storing this replica\'s numbers failed; the leader judges without them until the next pass', { error: toBerthError(err).message });
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const active = (await this.store.allActive()).filter((r) => r.state === 'progressing');
    const keep: { deployment: string; epoch: string }[] = [];
    for (const r of active) {
      const epoch = epochOf(r);
      keep.push({ deployment: r.deployment, epoch });
      this.opts.stats.align(r.deployment, epoch);
      const w = this.opts.stats.window(r.deployment);
      if (!w) continue;
      const last = this.published.get(r.deployment);
      if (last && last.epoch === epoch && last.changes === w.changes) continue;
      // a window nobody sent to is stored once too: the leader then knows this replica is in the step
      await this.opts.registry.putRolloutWindow(r.deployment, epoch, this.opts.replica, encodeWindow(w));
      this.published.set(r.deployment, { epoch, changes: w.changes });
    }
    for (const d of [...this.published.keys()]) if (!active.some((r) => r.deployment === d)) this.published.delete(d);
    if (this.opts.leading?.()) await this.opts.registry.pruneRolloutWindows(keep);
  }

  /**
   * Every replica's numbers for the rollout's current step as one window: this process's own
   * (live) and the others' as last stored (at most `intervalMs` old). Undefined when nobody has any.
   */
  async merged(r: RolloutRecord): Promise<DeploymentWindow | undefined> {
    const epoch = epochOf(r);
    const own = this.opts.stats.window(r.deployment);
    const parts: DeploymentWindow[] = own && own.epoch === epoch ? [own] : [];
    for (const row of await this.opts.registry.rolloutWindows(r.deployment, epoch)) {
      if (row.replica === this.opts.replica) continue;
      try {
        parts.push(decodeWindow(row.body));
      } catch (err) {
        this.logger.warn('rollouts: a replica\'s stored numbers could not be read; judging without them', { deployment: r.deployment, replica: row.replica, error: (err as Error).message });
      }
    }
    return parts.length === 0 ? undefined : mergeWindows(parts);
  }

  /** Store what this process has one last time (a clean stop loses none of its numbers). */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.publish();
    this.closed = true;
  }
}
