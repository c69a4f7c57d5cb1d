import { describe, expect, it } from 'vitest';
import { parseParamPairs, parsePipelineText, resolveParams } from '../../src/pipelines/index.js';

/** The pipeline file is checked once, up front: every mistake is a 400 naming the field. */
const base = (steps: string, extra = ''): string => `pipeline: p\nparams: { lr: 0.1, name: x, flag: false }\n${extra}steps:\n${steps}`;

function refusal(text: string): { code: string; field: unknown; message: string } {
  try {
    parsePipelineText(text);
  } catch (err) {
    const e = err as { code: string; context?: { field?: unknown }; message: string };
    return { code: e.code, field: e.context?.field, message: e.message };
  }
  throw new Error('accepted');
}

describe('pipeline files', () => {
  it('orders steps by their needs and keeps the file order among ready ones', () => {
    const spec = parsePipelineText(base(`
  c: { run: "true", needs: [b] }
  a: { run: "true" }
  b: { run: "true", needs: [a] }
  d: { run: "true" }
`));
    expect(spec.steps.map((s) => s.name)).toEqual(['a', 'b', 'c', 'd']);
    expect(spec.steps[0]).toMatchObject({ kind: 'command', retries: 0, backoffMs: 2000, timeoutMs: null, cache: true, when: 'success' });
  });

  it('refuses cycles, unknown needs and keys, and says which', () => {
    expect(refusal(base('  a: { run: "true", needs: [b] }\n  b: { run: "true", needs: [a] }\n'))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'steps', message: expect.stringContaining('a → b') });
    expect(refusal(base('  a: { run: "true", needs: [zz] }\n'))).toMatchObject({ field: 'steps.a.needs' });
    expect(refusal(base('  a: { run: "true", retry: 2 }\n'))).toMatchObject({ field: 'steps.a.retry' });
    expect(refusal(base('  a: { run: "true", uses: evaluate }\n'))).toMatchObject({ field: 'steps.a' });
    expect(refusal(base('  a: { uses: train }\n'))).toMatchObject({ field: 'steps.a.uses', message: expect.stringContaining('evaluate, compare, register, rollout, notify') });
    expect(refusal(base('  a: { run: "true", timeout: soon }\n'))).toMatchObject({ field: 'steps.a.timeout' });
    expect(refusal(base('  a: { run: "true", retries: -1 }\n'))).toMatchObject({ field: 'steps.a.retries' });
    expect(refusal(base('  a: { run: "true", outputs: { m: ../m.onnx } }\n'))).toMatchObject({ field: 'steps.a.outputs.m' });
    expect(refusal('pipeline: "bad name!"\nsteps: { a: { run: "true" } }')).toMatchObject({ field: 'pipeline' });
    expect(refusal('pipeline: p\nsteps: {}')).toMatchObject({ field: 'steps' });
    expect(refusal('pipeline: p\nsteps: [')).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('not valid YAML') });
  });

  it('checks every reference: declared params, outputs of steps it waits on, its own outputs', () => {
    expect(refusal(base('  a: { run: "echo ${params.nope}" }\n'))).toMatchObject({ field: 'steps.a.run', message: expect.stringContaining('lr, name, flag') });
    expect(refusal(base('  a: { run: "true", outputs: { m: m.bin } }\n  b: { run: "cat ${steps.a.outputs.m}" }\n'))).toMatchObject({
      field: 'steps.b.run', message: expect.stringContaining('add "a" to steps.b.needs'),
    });
    expect(refusal(base('  a: { run: "true", outputs: { m: m.bin } }\n  b: { run: "cat ${steps.a.outputs.x}", needs: [a] }\n'))).toMatchObject({ field: 'steps.b.run', message: expect.stringContaining('an output of step a (m)') });
    expect(refusal(base('  a: { run: "echo ${outputs.x}" }\n'))).toMatchObject({ field: 'steps.a.run' });
    expect(refusal(base('  a: { run: ["x", "${nothing}"] }\n'))).toMatchObject({ field: 'steps.a.run[1]' });
    // through another step is fine
    const ok = parsePipelineText(base('  a: { run: "true", outputs: { m: m.bin } }\n  b: { run: "true", needs: [a] }\n  c: { run: "cat ${steps.a.outputs.m} ${params.lr} ${outputs.dir} ${run.id}", needs: [b] }\n'));
    expect(ok.steps).toHaveLength(3);
  });

  it('wires built-in steps: compare reads evaluate steps it needs; register and rollout never run after a failure', () => {
    expect(refusal(base('  e: { uses: evaluate, with: { dataset: d.csv } }\n'))).toMatchObject({ field: 'steps.e.with.model' });
    expect(refusal(base('  e: { uses: evaluate, with: { model: m@1, dataset: d.csv } }\n  c: { uses: compare, with: { candidate: e, champion: e } }\n'))).toMatchObject({ field: 'steps.c.needs' });
    expect(refusal(base('  r: { uses: register, when: always, with: { model: m, file: f } }\n'))).toMatchObject({ field: 'steps.r.when' });
    expect(refusal(base('  r: { uses: rollout, with: {} }\n'))).toMatchObject({ field: 'steps.r.with.deployment' });
    expect(refusal(base('  n: { uses: notify, with: { url: ftp://x } }\n'))).toMatchObject({ field: 'steps.n.with.url' });
    const spec = parsePipelineText(base('  e: { uses: evaluate, with: { model: m@1, dataset: d.csv }, cache: true }\n  r: { uses: register, needs: [e], with: { model: m, file: f } }\n'));
    expect(spec.steps.map((s) => s.cache)).toEqual([false, false]);
  });

  it('reads triggers: a schedule, an alert, a feedback count', () => {
    const spec = parsePipelineText(base('  a: { run: "true" }\n', 'triggers:\n  - schedule: "0 3 * * *"\n  - alert: { rule: drift, deployment: credit }\n  - feedback: { deployment: credit, labels: 500 }\n'));
    expect(spec.triggers).toEqual([
      { kind: 'schedule', id: 'schedule:0 3 * * *@UTC', cron: '0 3 * * *', timezone: 'UTC', missed: 'skip' },
      { kind: 'alert', id: 'alert:drift@credit', rule: 'drift', deployment: 'credit', cooldownMs: 3_600_000 },
      { kind: 'feedback', id: 'feedback:credit', deployment: 'credit', labels: 500 },
    ]);
    expect(refusal(base('  a: { run: "true" }\n', 'triggers:\n  - schedule: "61 * * * *"\n'))).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(refusal(base('  a: { run: "true" }\n', 'triggers:\n  - feedback: { deployment: credit, labels: 0 }\n'))).toMatchObject({ field: 'triggers[0].feedback.labels' });
    expect(refusal(base('  a: { run: "true" }\n', 'triggers:\n  - webhook: {}\n'))).toMatchObject({ field: 'triggers[0]' });
  });

  it('params keep their declared type: a number stays a number, a bad value is refused, an unknown one too', () => {
    const spec = parsePipelineText(base('  a: { run: "true" }\n'));
    expect(resolveParams(spec, parseParamPairs(['lr=0.5', 'name=y=z', 'flag=true']))).toEqual({ lr: 0.5, name: 'y=z', flag: true });
    expect(() => resolveParams(spec, { lr: 'fast' })).toThrow(/params.lr: expected a number/);
    expect(() => resolveParams(spec, { flag: 'yes' })).toThrow(/params.flag: expected true or false/);
    expect(() => resolveParams(spec, { epochs: '3' })).toThrow(/params.epochs: expected a param the pipeline declares/);
    expect(() => parseParamPairs(['noequals'])).toThrow(/--param: expected name=value/);
  });
});
