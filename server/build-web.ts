// `npm run server` runs this first (the `preserver` script): builds the pages with Vite when dist/web is missing or
// older than web/ and shared/, in this short-lived process, so the relay never carries Vite's memory.
import path from 'node:path';
import { ROOT, webBuildState } from './servers/http/web-build.ts';

const state = webBuildState();
if (state === 'missing' || state === 'stale') {
  process.stderr.write(`building the pages with Vite (${state === 'missing' ? 'first run' : 'web/ or shared/ changed'})...\n`);
  const started = performance.now();
  const { build } = await import('vite');
  await build({ configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'warn' });
  process.stderr.write(`pages built into dist/web in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
} else if (state === 'no-sources') {
  process.stderr.write('web/index.html not found: no pages to build\n');
}
