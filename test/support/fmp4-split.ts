// Splits a whole fragmented MP4 file into what a publisher uploads: the init segment (everything before the first
// moof) and one segment per moof+mdat pair. Boxes after the last mdat (ffmpeg's mfra index) are returned apart.
// Written independently of shared/fmp4/reader.ts: 32-bit sizes only, which is all these fixtures use.

export interface TopBox {
  type: string;
  start: number;
  end: number;
}

export function topLevelBoxes(file: Uint8Array): TopBox[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: TopBox[] = [];
  for (let at = 0; at < file.length; ) {
    const size = view.getUint32(at);
    if (size < 8) throw new Error(`box at ${at} has size ${size}`);
    out.push({ type: String.fromCharCode(...file.subarray(at + 4, at + 8)), start: at, end: at + size });
    at += size;
  }
  return out;
}

export function splitFragmentedFile(file: Uint8Array): { init: Uint8Array; segments: Uint8Array[]; trailer: Uint8Array } {
  const boxes = topLevelBoxes(file);
  const firstMoof = boxes.findIndex((b) => b.type === 'moof');
  if (firstMoof < 0) throw new Error('no moof');
  const init = file.subarray(0, boxes[firstMoof]!.start);
  const segments: Uint8Array[] = [];
  let i = firstMoof;
  for (; i + 1 < boxes.length && boxes[i]!.type === 'moof' && boxes[i + 1]!.type === 'mdat'; i += 2) {
    segments.push(file.subarray(boxes[i]!.start, boxes[i + 1]!.end));
  }
  return { init, segments, trailer: file.subarray(boxes[i]?.start ?? file.length) };
}
