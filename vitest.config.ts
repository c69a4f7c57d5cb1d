import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // onnxruntime-node and better-sqlite3 are native addons: run each file in its own process
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
