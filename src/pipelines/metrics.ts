/**
 * The metrics an evaluation reports and a gate may name, with what "better" means for each. The
 * numbers themselves come from monitor/performance.ts (classificationMetrics, rocAuc,
 * regressionMetrics); this file only says how to read and compare them.
 */
import type { Task } from '../core/index.js';

/** The kinds of model an evaluation knows how to score. */
export const EVALUATED_TASKS = ['binary-classification', 'multiclass-classification', 'regression'] as const;
export type EvaluatedTask = (typeof EVALUATED_TASKS)[number];

/** What one metric is and how a change in it is judged. */
export interface MetricInfo {
  /** `higher`: a drop is a regression; `lower`: a rise is a regression */
  better: 'higher' | 'lower';
  /**
   * How a worsening is measured: in `points` (0.01 of a metric read on a 0–1 scale: accuracy 0.90 →
   * 0.89 is one point), or in `percent` of the champion's value (errors, whose scale is the data's).
   */
  scale: 'points' | 'percent';
  /** the tasks it is computed for */
  tasks: readonly EvaluatedTask[];
  /** one line for help texts and docs */
  summary: string;
}

const BINARY = ['binary-classification'] as const;
const MULTICLASS = ['multiclass-classification'] as const;
const CLASSIFICATION = ['binary-classification', 'multiclass-classification'] as const;
const REGRESSION = ['regression'] as const;

/**
 * Every metric by name. Binary classifiers report precision, recall and F1 of the positive class;
 * multiclass ones report their macro averages under `macro_` names (and `macro_roc_auc`, one class
 * against the rest), so a name always means one computation.
 */
export const METRICS = {
  accuracy: { better: 'higher', scale: 'points', tasks: CLASSIFICATION, summary: 'share of labelled rows predicted right' },
  precision: { better: 'higher', scale: 'points', tasks: BINARY, summary: 'of the rows predicted positive, the share that are' },
  recall: { better: 'higher', scale: 'points', tasks: BINARY, summary: 'of the positive rows, the share predicted positive' },
  f1: { better: 'higher', scale: 'points', tasks: BINARY, summary: 'harmonic mean of precision and recall (positive class)' },
  roc_auc: { better: 'higher', scale: 'points', tasks: BINARY, summary: 'area under the ROC curve of the positive-class probability' },
  macro_precision: { better: 'higher', scale: 'points', tasks: MULTICLASS, summary: 'precision averaged over the classes' },
  macro_recall: { better: 'higher', scale: 'points', tasks: MULTICLASS, summary: 'recall averaged over the classes' },
  macro_f1: { better: 'higher', scale: 'points', tasks: MULTICLASS, summary: 'F1 averaged over the classes' },
  macro_roc_auc: { better: 'higher', scale: 'points', tasks: MULTICLASS, summary: 'ROC AUC of each class against the rest, averaged' },
  log_loss: { better: 'lower', scale: 'percent', tasks: CLASSIFICATION, summary: 'mean −ln p(true class), probabilities clipped to [1e-15, 1 − 1e-15]' },
  rmse: { better: 'lower', scale: 'percent', tasks: REGRESSION, summary: 'root mean squared error' },
  mae: { better: 'lower', scale: 'percent', tasks: REGRESSION, summary: 'mean absolute error' },
  r2: { better: 'higher', scale: 'points', tasks: REGRESSION, summary: 'coefficient of determination (1 − SSE/SST)' },
} as const satisfies Record<string, MetricInfo>;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

/** True for a name in {@link METRICS}. */
export function isMetricName(name: unknown): name is MetricName {
  return typeof name === 'string' && Object.hasOwn(METRICS, name);
}

/** The metrics gates use when none are given, per task. */
export const HEADLINE_METRICS: Readonly<Record<EvaluatedTask, readonly MetricName[]>> = {
  'binary-classification': ['accuracy', 'roc_auc', 'f1'],
  'multiclass-classification': ['accuracy', 'macro_f1'],
  regression: ['rmse', 'mae', 'r2'],
};

/** True for a task an evaluation can score. */
export function isEvaluatedTask(task: Task | undefined): task is EvaluatedTask {
  return task !== undefined && (EVALUATED_TASKS as readonly string[]).includes(task);
}
