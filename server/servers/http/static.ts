// Static files of the built page. Paths are resolved inside the root only; nothing outside it is ever read.
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';
import { isValidStreamName } from '../../../shared/stream-name.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
};

// The page needs only itself, its WebSocket and blob: URLs (preview, local recording download).
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; style-src 'self' 'unsafe-inline'";

/**
 * The pages' own routes: `/watch/NAME` is the viewer page (it reads NAME from its address), `/status` the status page.
 * A NAME that breaks the name rule is not a page (404).
 */
export function pageFile(pathname: string): string | undefined {
  if (pathname === '/' || pathname === '') return '/index.html';
  if (pathname === '/status' || pathname === '/status/') return '/status/index.html';
  const watch = /^\/watch\/([^/]*)$/.exec(pathname);
  if (watch) return isValidStreamName(watch[1] ?? '') ? '/view/index.html' : undefined;
  return pathname;
}

export async function serveStatic(root: string, pathname: string, res: http.ServerResponse): Promise<boolean> {
  let rel: string | undefined;
  try {
    rel = pageFile(decodeURIComponent(pathname));
  } catch {
    return false;
  }
  if (rel === undefined || rel.includes('\0')) return false;
  const file = path.resolve(root, '.' + path.posix.normalize(rel));
  if (!file.startsWith(root + path.sep)) return false;
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return false;
  }
  const ext = path.extname(file);
  res.writeHead(200, {
    'Content-Type': TYPES[ext] ?? 'application/octet-stream',
    'Content-Length': body.length,
    // Vite puts a content hash in asset names; index.html must always be fresh.
    'Cache-Control': rel.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    ...(ext === '.html' ? { 'Content-Security-Policy': CSP, 'Referrer-Policy': 'no-referrer' } : {}),
  });
  res.end(body);
  return true;
}
