/*
 * An s3rver (S3-compatible server) for tests: port 0, a temp directory, credentials S3RVER/S3RVER.
 * s3rver ships no types, so it is loaded through createRequire and given the small shape we use.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverCtor = new (opts: { port: number; address: string; silent: boolean; directory: string; vhostBuckets: boolean }) => S3rverInstance;

const require = createRequire(import.meta.url);
const S3rver = require('s3rver') as S3rverCtor;

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface TestS3 {
  endpoint: string;
  /** a client for the test itself (create buckets, tamper with objects) */
  client: S3Client;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartS3rverOptions {
  /**
   * Run s3rver in a child process started with `--openssl-legacy-provider`. s3rver encrypts
   * ListObjectsV2 continuation tokens with DES, which Node's OpenSSL 3 refuses otherwise: every
   * listing with more than one page would answer 500 InternalError.
   */
  legacyCiphers?: boolean;
}

/** The s3rver child: prints `{"port":N}` once listening, stops when its stdin closes. */
const CHILD_SOURCE = `
const S3rver = require(process.argv[1]);
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: process.argv[2], vhostBuckets: false });
server.run().then(({ port }) => process.stdout.write(JSON.stringify({ port }) + '\\n'));
process.stdin.on('end', () => server.close().then(() => process.exit(0)));
process.stdin.resume();
`;

async function runS3rver(directory: string, opts: StartS3rverOptions): Promise<{ port: number; close: () => Promise<void> }> {
  if (!opts.legacyCiphers) {
    const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, vhostBuckets: false });
    const { port } = await server.run();
    return { port, close: () => server.close() };
  }
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD_SOURCE, require.resolve('s3rver'), directory], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (line: Buffer) => resolve((JSON.parse(line.toString()) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`s3rver child exited (${code}) before listening`)));
  });
  return {
    port,
    close: async () => {
      const exited = once(child, 'exit');
      child.stdin.end();
      await exited;
    },
  };
}

export async function startS3rver(opts: StartS3rverOptions = {}): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 'berth-s3rver-'));
  const server = await runS3rver(directory, opts);
  const endpoint = `http://127.0.0.1:${server.port}`;
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
  return {
    endpoint,
    client,
    createBucket: async (name) => {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    stop: async () => {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Count the commands a client sends, by name (`GetObjectCommand`, `UploadPartCommand`…). */
export function countCommands(client: S3Client): Map<string, number> {
  const counts = new Map<string, number>();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? '?';
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'berthTestCountCommands' },
  );
  return counts;
}
