// Reading a recorded segment back: where its init segment ends and where each complete moof+mdat pair lies, by box
// headers read from the file (ISO/IEC 14496-12 §4.2), without loading it. The recorder only ever appends whole
// fragments, so whatever follows the last complete pair is a write cut short by a crash: trimSegment() removes it.
import { open, type FileHandle } from 'node:fs/promises';
import { readBoxHeader } from '../../shared/fmp4/reader.ts';

export interface FragmentSpan {
  offset: number;
  /** moof + mdat together. */
  size: number;
}

export interface SegmentLayout {
  /** Bytes of ftyp + moov at the start. */
  initSize: number;
  fragments: FragmentSpan[];
  /** End of the last complete fragment (or of the init segment): what a crash-free file would measure. */
  validEnd: number;
  fileSize: number;
}

/** A header at `offset` of the file: type and size, or undefined past the end or for a malformed one. */
async function headerAt(fh: FileHandle, offset: number, fileSize: number): Promise<{ type: string; size: number } | undefined> {
  const buf = new Uint8Array(16);
  const { bytesRead } = await fh.read(buf, 0, Math.min(16, fileSize - offset), offset);
  if (bytesRead < 8) return undefined;
  const h = readBoxHeader(buf.subarray(0, bytesRead), 0);
  // size 0 ("to the end of the file") is never written by the recorder: a header cut short reads as zeros.
  if (!h || new DataView(buf.buffer).getUint32(0) === 0) return undefined;
  return { type: h.type, size: h.size };
}

/** The layout of an open segment file; undefined when it does not even hold a whole ftyp + moov. */
export async function scanSegment(fh: FileHandle): Promise<SegmentLayout | undefined> {
  const fileSize = (await fh.stat()).size;
  let at = 0;
  for (const want of ['ftyp', 'moov']) {
    const h = await headerAt(fh, at, fileSize);
    if (!h || h.type !== want || at + h.size > fileSize) return undefined;
    at += h.size;
  }
  const initSize = at;
  const fragments: FragmentSpan[] = [];
  for (;;) {
    const moof = await headerAt(fh, at, fileSize);
    if (!moof || moof.type !== 'moof') break;
    const mdat = await headerAt(fh, at + moof.size, fileSize);
    if (!mdat || mdat.type !== 'mdat') break;
    const size = moof.size + mdat.size;
    if (at + size > fileSize) break;
    fragments.push({ offset: at, size });
    at += size;
  }
  return { initSize, fragments, validEnd: at, fileSize };
}

export type TrimResult = { kind: 'intact' } | { kind: 'trimmed'; bytes: number } | { kind: 'no-init' };

/**
 * Cut a half-written last fragment off a segment file (a server killed mid-write). A file without a whole init
 * segment is left as it is ('no-init'): the caller deletes it, as it holds nothing playable.
 */
export async function trimSegment(path: string): Promise<TrimResult> {
  const fh = await open(path, 'r+');
  try {
    const layout = await scanSegment(fh);
    if (!layout) return { kind: 'no-init' };
    if (layout.validEnd === layout.fileSize) return { kind: 'intact' };
    await fh.truncate(layout.validEnd);
    return { kind: 'trimmed', bytes: layout.fileSize - layout.validEnd };
  } finally {
    await fh.close();
  }
}

/** `size` bytes of the file at `offset`. */
export async function readAt(fh: FileHandle, offset: number, size: number): Promise<Uint8Array> {
  const buf = new Uint8Array(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await fh.read(buf, done, size - done, offset + done);
    if (bytesRead === 0) throw new Error(`the file ended ${size - done} bytes early at offset ${offset + done}`);
    done += bytesRead;
  }
  return buf;
}
