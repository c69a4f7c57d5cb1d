/*
 * PostgreSQL for tests: BERTH_TEST_POSTGRES_URL names a database (e.g.
 * postgres://postgres@127.0.0.1:5432/test); each test works in a schema of its own, dropped
 * afterwards. Suites skip, saying so, when the variable is unset.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresMetadataStore } from '../../src/registry/index.js';

export const TEST_POSTGRES_URL: string | undefined = process.env['BERTH_TEST_POSTGRES_URL'] || undefined;
export const POSTGRES_SKIP_REASON = 'PostgreSQL tests skipped: set BERTH_TEST_POSTGRES_URL=postgres://user@host:5432/db to run them';

/** A fresh schema name (random, or derived from `seed` so the same seed names the same schema). */
export function testSchemaName(seed?: string): string {
  const tail = seed === undefined ? randomBytes(8).toString('hex') : createHash('sha256').update(seed).digest('hex').slice(0, 16);
  return `berth_t_${tail}`;
}

/** The URL with `?schema=<schema>` (the store's own parameter). */
export function urlWithSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.toString();
}

/** Run SQL on a short-lived connection of its own (setup, tampering, cleanup). */
export async function withPgClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  await withPgClient(url, (c) => c.query(`drop schema if exists "${schema}" cascade`));
}

/** A store in the schema belonging to `dir` (opening the same dir again sees the same data). */
export async function openPostgresStoreForTest(url: string, dir: string): Promise<PostgresMetadataStore> {
  return new PostgresMetadataStore({ url, schema: testSchemaName(dir) });
}

/** Drop the schema `openPostgresStoreForTest(url, dir)` used. */
export async function dropPostgresStoreForTest(url: string, dir: string): Promise<void> {
  await dropSchema(url, testSchemaName(dir));
}
