// `npm run server` on a fresh clone must just work: build the page with Vite when dist/web is missing or older
// than its sources.
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

export async function ensureWebBuilt(logger: Logger): Promise<void> {
  const index = path.join(WEB_DIST, 'index.html');
  const sources = Math.max(newest(path.join(ROOT, 'web')), newest(path.join(ROOT, 'shared')));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  if (!existsSync(path.join(ROOT, 'web/index.html'))) {
    logger.warn('web-missing', { message: 'web/index.html not found: the page will not be served' });
    return;
  }
  logger.info('web-build', { message: 'building the page with Vite (first run or sources changed)...' });
  const { build } = await import('vite');
  await build({ configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'warn' });
  logger.info('web-built', { dir: WEB_DIST });
}
