/**
 * Rollouts as rows: the state machine's current state and every decision it took, in the
 * registry's metadata database. A transition and its decision (and audit entry) commit together,
 * so what `rollout status` shows can never disagree with what the rollout did.
 */
import type { Selectable } from 'kysely';
import { BerthError } from '../core/index.js';
import type { AuditAction, DeploymentTarget, Registry, TrafficPolicy } from '../registry/index.js';
import type { RolloutDecisionsTable, RolloutsTable } from '../registry/metadata-store.js';
import type { RolloutSpec, RolloutStep, Strategy } from './spec.js';

export const ROLLOUT_STATES = ['progressing', 'paused', 'promoted', 'aborted', 'failed', 'blocked', 'rolled-back'] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];
/** States in which a rollout still holds its deployment. */
export const ACTIVE_STATES: readonly RolloutState[] = ['progressing', 'paused'];

export const DECISION_KINDS = ['start', 'gates', 'analysis', 'advance', 'promote', 'pause', 'resume', 'abort', 'rollback', 'breaker', 'restart'] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** What the deployment looked like before the rollout: where abort and rollback return to. */
export interface RolloutBase {
  target: DeploymentTarget;
  traffic: TrafficPolicy | null;
}

/** The stored spec: the request's, plus the deployment as it was. */
export interface StoredSpec extends RolloutSpec {
  base: RolloutBase;
}

export interface RolloutRecord {
  id: number;
  deployment: string;
  model: string;
  fromVersion: number;
  toVersion: number;
  strategy: Strategy;
  spec: StoredSpec;
  state: RolloutState;
  /** index into spec.steps */
  step: number;
  currentStep: RolloutStep;
  stepStartedAtMs: number;
  /** when the controller analyses next (epoch ms of the rollout clock); null while it waits for a person */
  nextAtMs: number | null;
  /** consecutive failed analyses */
  failures: number;
  reason: string | null;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  actor: string;
}

export interface RolloutDecision {
  id: number;
  rolloutId: number;
  at: string;
  atMs: number;
  step: number;
  kind: DecisionKind;
  verdict: string | null;
  /** the rollout's state after this decision */
  state: RolloutState;
  details: Record<string, unknown>;
  actor: string;
}

export interface DecisionInput {
  kind: DecisionKind;
  verdict?: string | null;
  details: Record<string, unknown>;
  actor: string;
  audit: AuditAction;
}

type Patch = Partial<Pick<RolloutsTable, 'state' | 'step' | 'step_started_at' | 'next_at' | 'failures' | 'reason' | 'finished_at'>>;

export class RolloutStore {
  constructor(
    private readonly registry: Registry,
    private readonly now: () => number,
  ) {}

  private get db() {
    return this.registry.metadata.db;
  }

  /** Create a rollout with its first decision. Refused while another rollout holds the deployment. */
  async create(
    r: Omit<RolloutsTable, 'id' | 'created_at' | 'updated_at' | 'finished_at'> & { finished_at?: number | null },
    decision: DecisionInput,
  ): Promise<RolloutRecord> {
    const now = this.now();
    const id = await this.registry.metadata.transaction(async (trx) => {
      const busy = await trx.selectFrom('rollouts').select(['id', 'state']).where('deployment', '=', r.deployment).where('state', 'in', [...ACTIVE_STATES]).executeTakeFirst();
      if (busy) {
        throw new BerthError('ROLLOUT_STATE', `deployment "${r.deployment}" already has rollout ${busy.id} ${busy.state}; promote, abort or wait for it before starting another (berth rollout status ${r.deployment})`, {
          deployment: r.deployment,
          rollout: Number(busy.id),
        });
      }
      const row = await trx
        .insertInto('rollouts')
        .values({ ...r, finished_at: r.finished_at ?? null, created_at: now, updated_at: now })
        .returning('id')
        .executeTakeFirstOrThrow();
      const rid = Number(row.id);
      await this.insertDecision(trx, rid, r.step, r.state as RolloutState, decision, now);
      await this.registry.appendAudit(
        { action: decision.audit, target: `deployment:${r.deployment}`, model: r.model, details: { rollout: rid, kind: decision.kind, verdict: decision.verdict ?? null, ...decision.details }, actor: decision.actor },
        trx,
      );
      return rid;
    });
    return this.get(id);
  }

  /**
   * Move a rollout on, with the decision that moved it, in one transaction. `allowed` lists the
   * states it may be in now: if another actor moved it first, this one is refused.
   */
  async transition(id: number, allowed: readonly RolloutState[], patch: Patch, decision: DecisionInput, expectStep?: number): Promise<RolloutRecord> {
    const now = this.now();
    await this.registry.metadata.transaction(async (trx) => {
      const cur = await trx.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
      if (!cur) throw rolloutNotFound(String(id));
      if (!allowed.includes(cur.state as RolloutState)) {
        throw new BerthError('ROLLOUT_STATE', `rollout ${id} of deployment "${cur.deployment}" is ${cur.state}; ${decision.kind} needs it ${allowed.join(' or ')}`, {
          deployment: cur.deployment,
          rollout: id,
          expected: allowed,
          got: cur.state,
        });
      }
      if (expectStep !== undefined && Number(cur.step) !== expectStep) {
        // another process analysed this step first: its decision stands
        throw new BerthError('ROLLOUT_STATE', `rollout ${id} already moved from step ${expectStep + 1} to step ${Number(cur.step) + 1}`, { rollout: id, expected: expectStep, got: Number(cur.step) });
      }
      await trx.updateTable('rollouts').set({ ...patch, updated_at: now }).where('id', '=', id).execute();
      await this.insertDecision(trx, id, patch.step ?? Number(cur.step), (patch.state ?? cur.state) as RolloutState, decision, now);
      await this.registry.appendAudit(
        {
          action: decision.audit,
          target: `deployment:${cur.deployment}`,
          model: cur.model,
          details: { rollout: id, kind: decision.kind, verdict: decision.verdict ?? null, fromState: cur.state, state: patch.state ?? cur.state, ...decision.details },
          actor: decision.actor,
        },
        trx,
      );
    });
    return this.get(id);
  }

  private async insertDecision(
    trx: Registry['metadata']['db'],
    rolloutId: number,
    step: number,
    state: RolloutState,
    d: DecisionInput,
    now: number,
  ): Promise<void> {
    await trx
      .insertInto('rollout_decisions')
      .values({ rollout_id: rolloutId, at: now, step, kind: d.kind, verdict: d.verdict ?? null, state, details: JSON.stringify(d.details), actor: d.actor })
      .execute();
  }

  async get(id: number): Promise<RolloutRecord> {
    const row = await this.db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw rolloutNotFound(String(id));
    return toRecord(row);
  }

  /** The rollout holding a deployment now, if any. */
  async active(deployment: string): Promise<RolloutRecord | null> {
    const row = await this.db.selectFrom('rollouts').selectAll().where('deployment', '=', deployment).where('state', 'in', [...ACTIVE_STATES]).orderBy('id', 'desc').executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  /** The newest rollout of a deployment, whatever its state. */
  async latest(deployment: string): Promise<RolloutRecord | null> {
    const row = await this.db.selectFrom('rollouts').selectAll().where('deployment', '=', deployment).orderBy('id', 'desc').limit(1).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  /** Every rollout of a deployment (or of all), newest first. */
  async list(deployment?: string, limit = 50): Promise<RolloutRecord[]> {
    let q = this.db.selectFrom('rollouts').selectAll();
    if (deployment !== undefined) q = q.where('deployment', '=', deployment);
    return (await q.orderBy('id', 'desc').limit(limit).execute()).map(toRecord);
  }

  /** Every rollout still holding its deployment (the controller resumes these after a restart). */
  async allActive(): Promise<RolloutRecord[]> {
    return (await this.db.selectFrom('rollouts').selectAll().where('state', 'in', [...ACTIVE_STATES]).orderBy('id').execute()).map(toRecord);
  }

  async decisions(id: number): Promise<RolloutDecision[]> {
    const rows = await this.db.selectFrom('rollout_decisions').selectAll().where('rollout_id', '=', id).orderBy('id').execute();
    return rows.map(toDecision);
  }
}

export function rolloutNotFound(what: string): BerthError {
  return new BerthError('NOT_FOUND', `no rollout ${what}; list them with: berth rollout list`, { field: 'rollout', got: what });
}

const iso = (ms: number): string => new Date(ms).toISOString();

function toRecord(r: Selectable<RolloutsTable>): RolloutRecord {
  const spec = JSON.parse(r.spec) as StoredSpec;
  const step = Number(r.step);
  return {
    id: Number(r.id),
    deployment: r.deployment,
    model: r.model,
    fromVersion: Number(r.from_version),
    toVersion: Number(r.to_version),
    strategy: r.strategy as Strategy,
    spec,
    state: r.state as RolloutState,
    step,
    currentStep: spec.steps[Math.min(step, spec.steps.length - 1)]!,
    stepStartedAtMs: Number(r.step_started_at),
    nextAtMs: r.next_at === null ? null : Number(r.next_at),
    failures: Number(r.failures),
    reason: r.reason,
    createdAt: iso(Number(r.created_at)),
    updatedAt: iso(Number(r.updated_at)),
    finishedAt: r.finished_at === null ? null : iso(Number(r.finished_at)),
    actor: r.actor,
  };
}

function toDecision(r: Selectable<RolloutDecisionsTable>): RolloutDecision {
  return {
    id: Number(r.id),
    rolloutId: Number(r.rollout_id),
    at: iso(Number(r.at)),
    atMs: Number(r.at),
    step: Number(r.step),
    kind: r.kind as DecisionKind,
    verdict: r.verdict,
    state: r.state as RolloutState,
    details: JSON.parse(r.details) as Record<string, unknown>,
    actor: r.actor,
  };
}
