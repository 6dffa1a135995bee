// Small network facts shared by the RTSP and HTTP servers.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';

/** Node reports IPv4 peers of a dual-stack socket as ::ffff:a.b.c.d; compare and log them as a.b.c.d. */
export function normalizeAddress(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export function isLoopbackAddress(a: string): boolean {
  return a === '::1' || /^127\./.test(normalizeAddress(a));
}

/**
 * Whether an HTTP Host header names this machine's loopback by an address or by `localhost`, so that no DNS answer
 * (which an attacker may control: DNS rebinding) stood between the page and us. Only exact spellings count:
 * `localhost`, `[::1]`, or an IPv4 literal in 127.0.0.0/8, each with an optional port. A name that merely starts
 * with one (`127.0.0.1.evil.example`, `127.1.2.3.nip.io`, `localhost.evil.example`) or ends with a dot is a DNS name.
 */
export function isLoopbackHost(host: string): boolean {
  // RFC 9110 §7.2: Host is uri-host [":" port]; anything else (userinfo, a path, spaces) is not a host we trust.
  if (!/^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(host)) return false;
  let name: string;
  try {
    // The WHATWG parser lower-cases names and writes every IPv4 spelling (127.1, 0x7f.0.0.1) as a dotted quad.
    name = new URL(`http://${host}`).hostname;
  } catch {
    return false;
  }
  if (name === 'localhost' || name === '[::1]') return true;
  return isIPv4(name) && name.startsWith('127.');
}

/** Constant-time comparison of two secrets of any length (hash first, so lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
