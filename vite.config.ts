import { existsSync } from 'node:fs';
import path from 'node:path';
import { defineConfig } from 'vite';

// The pages live in web/ and are built to dist/web, which the server serves on --http-port: the publisher page
// (web/index.html), the viewer page (web/view/, served at /watch/NAME) and the status page (web/status/, at /status).
const root = path.resolve(import.meta.dirname, 'web');
const pages = ['index.html', 'view/index.html', 'status/index.html'].filter((p) => existsSync(path.join(root, p)));

export default defineConfig({
  root,
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: { input: Object.fromEntries(pages.map((p) => [path.dirname(p) === '.' ? 'publish' : path.dirname(p), path.join(root, p)])) },
  },
});
