/*
 * What the tests of several replicas share: waiting for something to become true, and the stores
 * replicas share (an s3rver started here, whose credentials reach the servers through the AWS
 * SDK's default chain, as a real deployment would set them).
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { ConfigLayer } from '../../src/core/index.js';
import { S3RVER_CREDENTIALS, startS3rver, type TestS3 } from '../registry/s3rver-harness.js';
import { fixturePath } from './fixtures.js';
import { dropSchema, testSchemaName, urlWithSchema } from './postgres.js';
import { post } from './server.js';

/** Poll `fn` every `everyMs` until it returns something; how long that took. Throws after `ms`. */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms: number, everyMs = 50): Promise<{ value: T; elapsedMs: number }> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return { value: v, elapsedMs: Date.now() - start };
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface SharedStores {
  s3: TestS3;
  /** the config layer every replica gets: the database (a schema of its own) and the artifacts */
  layer: Pick<ConfigLayer, 'database' | 'artifacts'>;
  /** stop s3rver, drop the schema, restore the AWS variables */
  stop(): Promise<void>;
}

/** An s3rver with bucket `models`, a fresh PostgreSQL schema, and the AWS variables set for both. */
export async function startSharedStores(postgresUrl: string, name: string): Promise<SharedStores> {
  const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
  const schema = testSchemaName(name);
  const s3 = await startS3rver();
  await s3.createBucket('models');
  process.env['AWS_ACCESS_KEY_ID'] = S3RVER_CREDENTIALS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = S3RVER_CREDENTIALS.secretAccessKey;
  const restore = (key: string, value: string | undefined): void => {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  };
  return {
    s3,
    layer: {
      database: { url: urlWithSchema(postgresUrl, schema) },
      artifacts: { url: `s3://models/berth?endpoint=${encodeURIComponent(s3.endpoint)}` },
    },
    async stop() {
      await s3.stop();
      await dropSchema(postgresUrl, schema);
      restore('AWS_ACCESS_KEY_ID', saved.id);
      restore('AWS_SECRET_ACCESS_KEY', saved.secret);
    },
  };
}

/** Register a fixture model (with its card) as the next version of `name` over the HTTP API. */
export async function registerOverHttp(url: string, name: string, fixture: string): Promise<void> {
  const upload = await post(`${url}/v1/models/${name}/versions`, {
    model_base64: readFileSync(fixturePath(fixture)).toString('base64'),
    file_name: 'model.onnx',
    card_text: readFileSync(fixturePath(fixture, 'card.json'), 'utf8'),
    card_file_name: 'card.json',
  });
  expect(upload.status, upload.text).toBe(201);
}
