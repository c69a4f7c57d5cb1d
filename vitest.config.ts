import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // the CLI imports the SDK by its published name; tests run the SDK's sources
    alias: { 'berth/sdk': fileURLToPath(new URL('./sdk/index.ts', import.meta.url)) },
  },
  test: {
    include: ['src/**/*.test.ts', 'sdk/**/*.test.ts', 'test/**/*.test.ts'],
    // onnxruntime-node and better-sqlite3 are native addons: run each file in its own process
    pool: 'forks',
    // most files wait on servers, databases and child processes: two at once on a 2-core machine
    // (vitest's default there is one) cut the suite from 15.5 to 12.6 minutes
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
