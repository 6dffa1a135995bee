// ffserver's FileMaxSize, per stream, and an age bound: which whole segments to delete, oldest first. Pure; the
// recorder lists the directory and deletes what this returns. The segment being written is never deleted.
//
// A segment's age is counted from its end: the start of the segment after it (or, for the last one, `lastWrite`), so
// a segment is kept as long as any of it is younger than the bound.

export interface SegmentEntry {
  file: string;
  /** Start, ms since the epoch (from the file name). */
  start: number;
  bytes: number;
}

export interface Bounds {
  /** Most bytes of one stream's segments together; undefined = no bound. */
  maxBytes?: number | undefined;
  /** Oldest segment end to keep, ms; undefined = no bound. */
  maxAgeMs?: number | undefined;
}

/**
 * The files to delete so that the rest fit the bounds, oldest first. `current`: the file being written (kept whatever
 * the bounds say). `lastWrite`: when the newest segment was last written (its end, when it has no successor).
 */
export function segmentsToDelete(segments: readonly SegmentEntry[], bounds: Bounds, now: number, current: string | undefined, lastWrite = now): string[] {
  const sorted = [...segments].sort((a, b) => a.start - b.start);
  let total = sorted.reduce((n, s) => n + s.bytes, 0);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const s = sorted[i]!;
    if (s.file === current) break; // everything after the current segment is newer still
    const end = sorted[i + 1]?.start ?? lastWrite;
    const tooOld = bounds.maxAgeMs !== undefined && now - end > bounds.maxAgeMs;
    const tooBig = bounds.maxBytes !== undefined && total > bounds.maxBytes;
    if (!tooOld && !tooBig) break;
    out.push(s.file);
    total -= s.bytes;
  }
  return out;
}

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
const AGE_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500M", "20G", "1.5T", "4096" (bytes; binary units, as ffserver's FileMaxSize) → bytes. */
export function parseSize(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(v.trim());
  const n = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]! : NaN;
  if (!Number.isFinite(n) || n < 1) throw new Error(`${flag} must be a size like 500M or 20G (K, M, G, T = 1024, 1024², …), not "${v}"`);
  return Math.floor(n);
}

/** "24h", "7d", "90m", "30s" → ms. */
export function parseAge(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhd])$/.exec(v.trim());
  const n = m ? Number(m[1]) * AGE_UNITS[m[2]!]! : NaN;
  if (!Number.isFinite(n) || n < 1000) throw new Error(`${flag} must be an age like 24h or 7d (s, m, h, d), of at least 1s, not "${v}"`);
  return Math.round(n);
}
