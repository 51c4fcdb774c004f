import { defineConfig } from 'vite';

/** The app is served by @landscape/api at `/` (apps/api/src/web.ts); everything it needs is in dist/, no CDN. */
export default defineConfig({
  base: '/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // plotly.js is one ~4.6 MB module, loaded on demand by the plot pages only.
    chunkSizeWarningLimit: 5000,
  },
});
