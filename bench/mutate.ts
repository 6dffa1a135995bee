// Byte-level mutations shared by the RTSP and WebSocket fuzzers (AFL's deterministic stages, in random order): bit
// flips, "interesting" bytes, inserted and deleted runs, truncation. Pure: bytes and a seeded Rng in, new bytes out.
import type { Rng } from './random.ts';

/** Bytes that sit on parser boundaries: NUL, CR, LF, '$' (RFC 2326 §10.12), ':', space, DEL, 0x80/0xff (UTF-8). */
export const INTERESTING_BYTES = [0x00, 0x0d, 0x0a, 0x24, 0x3a, 0x20, 0x09, 0x7f, 0x80, 0xc0, 0xff, 0x30, 0x2d];

export type ByteMutation = 'bitflip' | 'interesting' | 'insert' | 'delete' | 'truncate' | 'repeat';
export const BYTE_MUTATIONS: readonly ByteMutation[] = ['bitflip', 'interesting', 'insert', 'delete', 'truncate', 'repeat'];

export function mutateBytes(rng: Rng, input: Uint8Array, kind: ByteMutation = rng.pick(BYTE_MUTATIONS)): Uint8Array {
  const b = Uint8Array.from(input);
  const at = (extra = 0) => rng.int(b.length + extra);
  switch (kind) {
    case 'bitflip': {
      for (let n = rng.range(1, 8); n > 0 && b.length > 0; n--) {
        const i = at();
        b[i] = b[i]! ^ (1 << rng.int(8));
      }
      return b;
    }
    case 'interesting': {
      for (let n = rng.range(1, 4); n > 0 && b.length > 0; n--) b[at()] = rng.pick(INTERESTING_BYTES);
      return b;
    }
    case 'insert': {
      const i = at(1);
      const run = rng.chance(0.5) ? rng.bytes(rng.range(1, 32)) : new Uint8Array(rng.range(1, 32)).fill(rng.pick(INTERESTING_BYTES));
      return concat(b.subarray(0, i), run, b.subarray(i));
    }
    case 'delete': {
      const i = at();
      return concat(b.subarray(0, i), b.subarray(i + rng.range(1, 32)));
    }
    case 'truncate':
      return b.subarray(0, at());
    case 'repeat': {
      // A run of the input repeated: a header line or box many times over.
      const i = at();
      const run = b.subarray(i, i + rng.range(1, 64));
      return concat(b.subarray(0, i), ...Array.from({ length: rng.range(2, 20) }, () => run), b.subarray(i));
    }
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
