import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../core/index.js';
import { parseCard, type Registry } from '../registry/index.js';
import { OnnxBackend } from '../runtime/index.js';

/** The example model shipped in the project (breast-cancer-gbt with its card). */
export function exampleDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', 'examples', 'breast-cancer');
}

export const EXAMPLE_MODEL = 'breast-cancer';
export const EXAMPLE_DEPLOYMENT = 'breast-cancer';

/**
 * Register the example model, point its `production` alias at it and deploy it, unless that was
 * done before. Idempotent: identical bytes never make a new version.
 */
export async function ensureExampleDeployment(registry: Registry, logger: Logger): Promise<void> {
  const dir = exampleDir();
  const modelPath = path.join(dir, 'model.onnx');
  if (!existsSync(modelPath)) {
    logger.warn('example model not found; skipping the example deployment', { path: modelPath });
    return;
  }
  const cardPath = path.join(dir, 'card.yaml');
  const card = existsSync(cardPath) ? parseCard(readFileSync(cardPath, 'utf8'), cardPath) : undefined;
  const backend = new OnnxBackend();
  const { version, created } = await registry.registerVersion({
    name: EXAMPLE_MODEL,
    filePath: modelPath,
    ...(card ? { card } : {}),
    actor: 'berth-example',
    inspect: (bytes) => backend.inspect(bytes),
  });
  const model = await registry.getModel(EXAMPLE_MODEL);
  if (model.aliases['production'] === undefined) {
    await registry.setAlias(EXAMPLE_MODEL, 'production', version.version, 'berth-example');
  }
  const existing = (await registry.listDeployments()).find((d) => d.name === EXAMPLE_DEPLOYMENT);
  if (!existing) {
    await registry.deploy({ name: EXAMPLE_DEPLOYMENT, model: EXAMPLE_MODEL, target: { kind: 'alias', alias: 'production' }, actor: 'berth-example' });
  }
  if (created) logger.info('registered the example model', { model: EXAMPLE_MODEL, version: version.version });
}
