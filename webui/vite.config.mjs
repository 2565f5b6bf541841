// Builds Locust's UI with the LLM tab into dist/, which the plugin serves as Locust's --build-path.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

import { defineConfig } from 'vite';

/** What the bundle is built from; tests/test_webui_bundle.py hashes the same files. */
const SOURCES = [
  'index.html',
  'package.json',
  'package-lock.json',
  'vite.config.mjs',
  ...readdirSync('src')
    .sort()
    .map(name => `src/${name}`),
];

/** dist/source.sha256: the hash of SOURCES, so a test can tell a bundle older than its sources. */
function sourceStamp() {
  return {
    name: 'source-stamp',
    generateBundle() {
      const hash = createHash('sha256');
      for (const path of SOURCES) {
        hash.update(`${path}\0`).update(readFileSync(path)).update('\0');
      }
      this.emitFile({ type: 'asset', fileName: 'source.sha256', source: `${hash.digest('hex')}\n` });
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [sourceStamp()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      onwarn(warning, warn) {
        // MUI's modules start with "use client", which means nothing in a browser bundle
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') {
          warn(warning);
        }
      },
    },
  },
});
