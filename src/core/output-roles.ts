/**
 * What each output of a model means (label, probabilities, logits, scores, value), from the card's
 * declared roles, else from the outputs' names, else from the task. Shared by the friendly
 * endpoint's post-processing and by monitoring's prediction columns.
 */
import type { CardOutput, ModelCard } from './card.js';
import type { Signature } from './signature.js';
import type { Datatype } from './tensor.js';

/** What an output means: a label, probabilities, logits, scores or a (regression) value. */
export type OutputRole = NonNullable<CardOutput['role']>;
type Role = OutputRole;

/** output names that say what they are, for cards without roles */
const NAME_ROLES: Record<string, Role> = {
  label: 'label', labels: 'label', output_label: 'label', predicted_label: 'label', class: 'label', classes: 'label',
  probabilities: 'probabilities', probability: 'probabilities', probs: 'probabilities', proba: 'probabilities',
  output_probability: 'probabilities', logits: 'logits', logit: 'logits', scores: 'scores',
};

/** True for the classification tasks. */
export const isClassification = (task: ModelCard['task']): boolean =>
  task === 'binary-classification' || task === 'multiclass-classification' || task === 'multilabel-classification';


/**
 * Role of each output: the card's declared role, else one inferred from the output's name; when the
 * card declares no roles at all, also the regression `value` inferred from the task. Each role once.
 */
export function assignOutputRoles(outputs: readonly { name: string; datatype: Datatype }[], sig: Signature, card: ModelCard | undefined): (Role | undefined)[] {
  const declared = card?.outputs?.filter((o) => o.role !== undefined) ?? [];
  const roles: (Role | undefined)[] = [];
  const taken = new Set<Role>();
  const take = (role: Role | undefined): Role | undefined => {
    if (role === undefined || taken.has(role)) return undefined;
    taken.add(role);
    return role;
  };
  // declared roles first, then names for the outputs the card says nothing about
  for (const t of outputs) roles.push(take(declared.find((o) => o.name === t.name)?.role));
  for (let i = 0; i < outputs.length; i++) {
    if (roles[i] === undefined && !declared.some((o) => o.name === outputs[i]!.name)) {
      roles[i] = take(NAME_ROLES[outputs[i]!.name.toLowerCase()]);
    }
  }
  if (declared.length > 0) return roles;
  // a regression model's (or an unknown model's single) numeric output is its value
  const task = card?.task;
  const regression = task === 'regression' || (!isClassification(task) && taken.size === 0 && sig.outputs.length <= 1);
  if (regression && !taken.has('value')) {
    const i = outputs.findIndex((t, j) => roles[j] === undefined && (t.datatype === 'FP32' || t.datatype === 'FP64' || t.datatype === 'FP16'));
    if (i >= 0) roles[i] = take('value');
  }
  return roles;
}


/** Class names for K columns: the card's names, else its labels as strings, else "0".."K-1". */
export function classNames(card: ModelCard | undefined, k: number): string[] {
  const cls = card?.classes;
  if (cls?.names !== undefined && cls.names.length === k) return cls.names;
  if (cls !== undefined && cls.labels.length === k) return cls.labels.map(String);
  return Array.from({ length: k }, (_, i) => String(i));
}
