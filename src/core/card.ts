/** Tasks a model card may declare. */
export const TASKS = [
  'binary-classification', 'multiclass-classification', 'multilabel-classification', 'regression',
  'ranking', 'embedding', 'object-detection', 'generation', 'other',
] as const;
export type Task = (typeof TASKS)[number];

/** Card facts about one input of the model (merged into its TensorSpec). */
export interface CardInput {
  name: string;
  /** named features along the input's last axis, in order */
  features?: string[];
  vocabulary?: string[];
  validRange?: [number, number];
  allowNonFinite?: boolean;
  description?: string;
}

export interface CardOutput {
  name: string;
  /** what the output means, so the friendly endpoint can post-process it */
  role?: 'label' | 'probabilities' | 'logits' | 'scores' | 'value';
  description?: string;
}

/** Monitoring facts: where the label is in reference data, which columns are sensitive. */
export interface CardMonitoring {
  /** the ground-truth column of reference CSV/Parquet files (default `label` when present) */
  labelColumn?: string;
  /** features (or extra logged columns) to break fairness metrics down by */
  sensitiveAttributes?: string[];
  /** the class counted as a positive outcome for fairness and binary metrics (default: the second class) */
  positiveClass?: string | number;
}

/** Where the version came from. */
export interface Lineage {
  sourcePath?: string;
  gitCommit?: string;
  gitDirty?: boolean;
  gitRemote?: string;
  user?: string;
  registeredAt?: string;
  framework?: { name?: string; version?: string; [k: string]: unknown };
  dataset?: string;
  parent?: string;
  [k: string]: unknown;
}

/**
 * A model card, normalised. Berth reads its own `berth-card/1` (JSON or YAML) and the fixtures'
 * `fixture-card/1` into this shape; see docs/model-card.md.
 */
export interface ModelCard {
  format: 'berth-card/1';
  title?: string;
  task?: Task;
  description?: string;
  /** all named features in request order (for `rows` over the friendly endpoint) */
  features?: string[];
  inputs?: CardInput[];
  outputs?: CardOutput[];
  classes?: { labels: (number | string)[]; names?: string[] };
  metrics?: Record<string, number>;
  lineage?: Lineage;
  tags?: Record<string, string>;
  /** reject NaN/Infinity in every float input unless an input says otherwise */
  allowNonFinite?: boolean;
  /** per-version serving settings (batching), overriding the server defaults */
  serving?: { maxBatchSize?: number; maxQueueDelayMs?: number; maxQueueSize?: number; timeoutMs?: number };
  /** what monitoring needs to know beyond the signature (docs/monitoring.md) */
  monitoring?: CardMonitoring;
  /** the original card document, kept verbatim for display */
  source?: { format: string; document: unknown };
}
