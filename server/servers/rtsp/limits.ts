// What bounds one client's share of the server, and whom to close when the connection cap is near: the pure half
// (no sockets, no timers) of the RTSP server's admission rules. nginx's limit_conn counts per address; live555
// reclaims sessions nobody uses; gortsplib closes connections that stop talking. server.ts applies these.

/**
 * The key a client's connections and sessions are counted under: its IPv4 address, or the /64 of its IPv6 address
 * (RFC 4291 §2.5.4: one host or LAN gets a whole /64, so counting single IPv6 addresses would count nothing).
 * IPv4-mapped addresses are expected already unwrapped (net.ts normalizeAddress).
 */
export function addressKey(address: string): string {
  const bare = address.split('%')[0] ?? address; // a zone index (fe80::1%eth0) names our interface, not the peer
  if (!bare.includes(':')) return bare;
  const groups = expandIpv6(bare);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : bare;
}

/** The eight 16-bit groups of an IPv6 address, lower-case without leading zeros; undefined if it is not one. */
function expandIpv6(a: string): string[] | undefined {
  let text = a.toLowerCase();
  // A trailing dotted quad (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const b = quad.slice(1).map(Number);
    if (b.some((x) => x > 255)) return undefined;
    text = text.slice(0, quad.index) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...new Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16).toString(16));
}

/** Counts per key; a key at zero is forgotten, so the map holds only clients that are connected. */
export class KeyCounter {
  private readonly counts = new Map<string, number>();

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.counts.set(key, this.get(key) + 1);
  }

  remove(key: string): void {
    const n = this.get(key) - 1;
    if (n > 0) this.counts.set(key, n);
    else this.counts.delete(key);
  }

  get size(): number {
    return this.counts.size;
  }
}

/** What eviction needs to know of a connection. */
export interface EvictionCandidate {
  /** A session on it is playing or recording: such a connection is never evicted. */
  active: boolean;
  /** It holds a session (set up, or paused), none of them active. */
  sessions: number;
  /** It has sent at least one complete request. */
  requested: boolean;
  /** Its last complete request, or when it connected if none. */
  lastRequestAt: number;
}

/**
 * Whom to close when the connection cap is near: never one with a playing or recording session; first those that
 * never sent a request, then those without a session, then those with sessions that do not play (set up, paused);
 * within each, the one quiet the longest. A player in the middle of its OPTIONS/DESCRIBE/SETUP has just spoken, so a
 * flood of new connections takes the place of older idle ones before it.
 */
export function pickEviction<T extends EvictionCandidate>(candidates: Iterable<T>): T | undefined {
  let best: T | undefined;
  let bestRank = 0;
  for (const c of candidates) {
    if (c.active) continue;
    const rank = !c.requested ? 0 : c.sessions === 0 ? 1 : 2;
    if (!best || rank < bestRank || (rank === bestRank && c.lastRequestAt < best.lastRequestAt)) {
      best = c;
      bestRank = rank;
    }
  }
  return best;
}

/**
 * The point at which eviction starts: a few connections below the cap, so a new player finds room at once while
 * idle connections are being closed, rather than only at the very last slot.
 */
export function evictionThreshold(maxConnections: number): number {
  return Math.max(1, maxConnections - Math.max(1, Math.floor(maxConnections / 16)));
}
