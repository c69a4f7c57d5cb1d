/**
 * The monitored view of a model version: which columns of a request are features (numeric or
 * categorical), which inputs are kept only as raw bytes, and what the prediction columns are.
 * Derived from the signature merged with the card; the inference log, the profiles and every
 * analysis use the same view, so a reference CSV and live traffic line up by column name.
 */
import {
  assignOutputRoles,
  classNames,
  isClassification,
  type Datatype,
  type ModelCard,
  type Signature,
} from '../core/index.js';

export type FeatureKind = 'numeric' | 'categorical';

/** One monitored feature: a column along the last axis of one input. */
export interface MonitoredFeature {
  name: string;
  kind: FeatureKind;
  /** the input tensor it comes from, its position along the last axis and that axis's width */
  input: string;
  index: number;
  width: number;
  datatype: Datatype;
  /** known categories (as text: strings as sent, integer ids as decimal text) */
  vocabulary?: string[];
  /** integer inputs: the valid id range; ids outside are refused before the runtime */
  validRange?: [number, number];
}

export type PredictionKind = 'classification' | 'regression' | 'none';

/** What the model predicts and which outputs say it. */
export interface PredictionSpec {
  kind: PredictionKind;
  /** class labels as text in probability-column order (classification) */
  classes: string[];
  /** display names of the classes (the card's names, else the labels) */
  classNames: string[];
  /** index into `classes` of the positive class (binary models: the card's, else the second) */
  positiveIndex: number | null;
  labelOutput?: string;
  probabilitiesOutput?: string;
  logitsOutput?: string;
  valueOutput?: string;
}

export interface MonitoringSchema {
  features: MonitoredFeature[];
  /** inputs without feature names: logged as raw bytes per row, not profiled */
  rawInputs: { name: string; datatype: Datatype; width: number }[];
  prediction: PredictionSpec;
  /** the ground-truth column in reference files */
  labelColumn: string;
  sensitiveAttributes: string[];
}

/** Names of the prediction columns of the log and of a profile. */
export const PREDICTION_COLUMN = 'prediction';
export const SCORE_COLUMN = 'score';
export const probaColumn = (cls: string): string => `proba_${cls}`;

/** Derive the monitored view of a version. */
export function monitoringSchema(sig: Signature, card: ModelCard | undefined): MonitoringSchema {
  const features: MonitoredFeature[] = [];
  const rawInputs: MonitoringSchema['rawInputs'] = [];
  const seen = new Set<string>();
  for (const spec of sig.inputs) {
    const last = spec.shape.length >= 2 ? spec.shape[spec.shape.length - 1]! : 1;
    const width = spec.shape.length <= 1 ? 1 : spec.shape.slice(1).reduce((a, b) => a * Math.max(b, 1), 1);
    const names = spec.featureNames ?? (width === 1 ? [spec.name] : undefined);
    if (names === undefined || names.length !== width || (spec.shape.length > 2 && last !== width)) {
      rawInputs.push({ name: spec.name, datatype: spec.datatype, width });
      continue;
    }
    const categorical = spec.datatype === 'BYTES' || spec.vocabulary !== undefined || spec.datatype === 'BOOL';
    names.forEach((name, index) => {
      if (seen.has(name)) return;
      seen.add(name);
      const f: MonitoredFeature = { name, kind: categorical ? 'categorical' : 'numeric', input: spec.name, index, width, datatype: spec.datatype };
      if (spec.vocabulary) f.vocabulary = spec.datatype === 'BYTES' ? [...spec.vocabulary] : spec.vocabulary.map((_, i) => String(i));
      if (spec.validRange) f.validRange = [...spec.validRange];
      features.push(f);
    });
  }
  return {
    features,
    rawInputs,
    prediction: predictionSpec(sig, card),
    labelColumn: card?.monitoring?.labelColumn ?? 'label',
    sensitiveAttributes: card?.monitoring?.sensitiveAttributes ?? [],
  };
}

function predictionSpec(sig: Signature, card: ModelCard | undefined): PredictionSpec {
  const roles = assignOutputRoles(sig.outputs, sig, card);
  const by = (role: string): string | undefined => {
    const i = roles.indexOf(role as never);
    return i < 0 ? undefined : sig.outputs[i]!.name;
  };
  const spec: PredictionSpec = { kind: 'none', classes: [], classNames: [], positiveIndex: null };
  const label = by('label');
  const probs = by('probabilities');
  const logits = by('logits');
  const value = by('value');
  if (label !== undefined) spec.labelOutput = label;
  if (probs !== undefined) spec.probabilitiesOutput = probs;
  if (logits !== undefined && probs === undefined) spec.logitsOutput = logits;
  if (value !== undefined) spec.valueOutput = value;
  const classifier = isClassification(card?.task) || label !== undefined || probs !== undefined || logits !== undefined;
  if (classifier && card?.task !== 'regression') {
    spec.kind = 'classification';
    const scoreName = spec.probabilitiesOutput ?? spec.logitsOutput;
    const scoreSpec = sig.outputs.find((o) => o.name === scoreName);
    const width = scoreSpec && scoreSpec.shape.length >= 2 ? scoreSpec.shape[scoreSpec.shape.length - 1]! : -1;
    const k = card?.classes?.labels.length ?? (width === 1 ? 2 : width);
    if (k > 0) {
      spec.classes = card?.classes ? card.classes.labels.map(String) : Array.from({ length: k }, (_, i) => String(i));
      spec.classNames = classNames(card, k);
    }
    if (spec.classes.length === 2) {
      const pos = card?.monitoring?.positiveClass;
      const i = pos === undefined ? 1 : Math.max(spec.classes.indexOf(String(pos)), spec.classNames.indexOf(String(pos)));
      spec.positiveIndex = i < 0 ? 1 : i;
    }
  } else if (value !== undefined) {
    // one value per row; multi-output regressors are logged raw for now
    const vs = sig.outputs.find((o) => o.name === value)!;
    const per = vs.shape.slice(1).reduce((a, b) => a * b, 1);
    if (per === 1) spec.kind = 'regression';
  }
  return spec;
}

/** The columns a profile of this schema has: features, then predictions (and the label when asked). */
export function profileColumns(schema: MonitoringSchema, opts: { label?: boolean } = {}): { name: string; kind: FeatureKind }[] {
  const cols: { name: string; kind: FeatureKind }[] = schema.features.map((f) => ({ name: f.name, kind: f.kind }));
  const p = schema.prediction;
  if (p.kind === 'classification') {
    cols.push({ name: PREDICTION_COLUMN, kind: 'categorical' });
    if (p.probabilitiesOutput !== undefined || p.logitsOutput !== undefined) {
      cols.push({ name: SCORE_COLUMN, kind: 'numeric' });
    }
  } else if (p.kind === 'regression') {
    cols.push({ name: PREDICTION_COLUMN, kind: 'numeric' });
  }
  if (opts.label && p.kind !== 'none') cols.push({ name: schema.labelColumn, kind: p.kind === 'classification' ? 'categorical' : 'numeric' });
  return cols;
}
