// Small network facts shared by the RTSP and HTTP servers.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Node reports IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d; compare and log them as a.b.c.d. */
export function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export function isLoopbackAddress(a: string): boolean {
  return a === '::1' || /^127\./.test(normalizeAddress(a));
}

/** Constant-time comparison of two secrets of any length (hash first, so lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
