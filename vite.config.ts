import { defineConfig } from 'vite';

// The publisher page lives in web/ and is built to dist/web, which the server serves on --http-port.
export default defineConfig({
  root: 'web',
  build: { outDir: '../dist/web', emptyOutDir: true, target: 'es2022' },
});
