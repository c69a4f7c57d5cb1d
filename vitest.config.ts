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
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
