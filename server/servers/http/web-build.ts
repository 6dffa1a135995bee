// The pages (publisher, viewer, status) are built by Vite into dist/web. The build runs in its own short-lived
// process (`npm run server` runs it first, as the `preserver` script: server/build-web.ts), never inside the relay:
// Vite and its bundler keep about 140 MB of native memory for the life of the process that ran them, a worker
// thread included. The relay only checks that the build is there and current, and says what to do when it is not.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../log.ts';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const WEB_DIST = path.join(ROOT, 'dist/web');

function newest(dir: string): number {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** fresh: dist/web is newer than web/ and shared/; stale: older; missing: not built; no-sources: web/ is not here. */
export type WebBuildState = 'fresh' | 'stale' | 'missing' | 'no-sources';

export function webBuildState(root = ROOT): WebBuildState {
  if (!existsSync(path.join(root, 'web/index.html'))) return 'no-sources';
  const index = path.join(root, 'dist/web/index.html');
  if (!existsSync(index)) return 'missing';
  const sources = Math.max(newest(path.join(root, 'web')), newest(path.join(root, 'shared')));
  return statSync(index).mtimeMs >= sources ? 'fresh' : 'stale';
}

/** At startup: a missing or stale build is logged with the command that builds it; the relay runs either way. */
export function checkWebBuilt(logger: Logger, root = ROOT): WebBuildState {
  const state = webBuildState(root);
  if (state === 'missing') {
    logger.warn('web-missing', { message: 'the pages are not built (dist/web): run `npm run build`, or start with `npm run server`, which builds them; RTSP, HTTP players and the API work meanwhile' });
  } else if (state === 'stale') {
    logger.warn('web-stale', { message: 'web/ or shared/ changed since the pages were built: serving the old build; run `npm run build`, or start with `npm run server`' });
  } else if (state === 'no-sources') {
    logger.warn('web-missing', { message: 'web/index.html not found: the pages will not be served' });
  }
  return state;
}
