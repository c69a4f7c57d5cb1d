import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The dashboard is served by `berth serve` at /ui from dist/ui (see docs/design/ui-plan.md).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  // JSX through esbuild (React 17+ automatic runtime); no plugin needed for a production build
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // hashed names: served with a year-long immutable cache; index.html is never cached
    assetsDir: 'assets',
    reportCompressedSize: false,
  },
  logLevel: 'warn',
});
