// A box-by-box validating reader for fragmented MP4 uploaded by untrusted publishers. The server runs every init
// segment and every fragment through it before a byte reaches ffmpeg, so it is strict: boxes are accepted from short
// allow-lists, every size is checked against its parent, every table against its box size, and anything that the
// writer (./writer.ts) or ffmpeg's own `-movflags frag_every_frame+empty_moov+default_base_moof` output does not
// produce is refused. It never throws: every input ends in `{ ok: true }` or an `Fmp4Error` with a stable code.
//
// The reader is three files: box-reader.ts (headers, allow-listed child lists, bounded field reads), init-reader.ts
// (ftyp + moov) and media-reader.ts (moof + mdat). This module is the public face the server and tests import.
export { DEFAULT_READER_LIMITS, readBoxHeader } from './box-reader.ts';
export type { Fmp4Error, Fmp4ErrorCode, Fmp4Result, ReaderLimits } from './box-reader.ts';
export { parseInitSegment } from './init-reader.ts';
export type { InitInfo, TrackFragmentDefaults, TrackInfo } from './init-reader.ts';
export { parseMediaSegment, shiftDecodeTime } from './media-reader.ts';
export type { FragmentInfo, FragmentTrackInfo, SampleRef } from './media-reader.ts';
