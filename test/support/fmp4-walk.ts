// A tiny, trusting box walker for assertions in tests (separate from shared/fmp4/reader.ts on purpose).

const CONTAINERS: Record<string, number> = {
  moov: 0, trak: 0, mdia: 0, minf: 0, dinf: 0, stbl: 0, mvex: 0, moof: 0, traf: 0,
  stsd: 8, // FullBox header + entry_count
  dref: 8,
  avc1: 78, Opus: 28, mp4a: 28, // sample entry fields before the child boxes
};

export interface WalkedBox {
  type: string;
  /** Offset of the box header in the walked buffer. */
  start: number;
  size: number;
  /** The bytes after the 8-byte header. */
  payload: Uint8Array;
  path: string;
}

export function walk(buf: Uint8Array, start = 0, end = buf.length, prefix = ''): WalkedBox[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: WalkedBox[] = [];
  for (let at = start; at + 8 <= end; ) {
    const size = view.getUint32(at);
    const type = String.fromCharCode(...buf.subarray(at + 4, at + 8));
    const path = prefix ? `${prefix}/${type}` : type;
    out.push({ type, start: at, size, payload: buf.subarray(at + 8, at + size), path });
    const skip = CONTAINERS[type];
    if (skip !== undefined) out.push(...walk(buf, at + 8 + skip, at + size, path));
    if (size < 8) break;
    at += size;
  }
  return out;
}

export function find(buf: Uint8Array, path: string): WalkedBox {
  const b = walk(buf).find((x) => x.path === path);
  if (!b) throw new Error(`no ${path}`);
  return b;
}

export function findAll(buf: Uint8Array, path: string): WalkedBox[] {
  return walk(buf).filter((x) => x.path === path);
}

export const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at);
export const u16 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(at);
