// IngestStream's timeline across publishers: what its outputs are given must never go back in time, whoever
// publishes. The fragments are the fixture's (real x264 + libopus in per-frame fMP4); the outputs are never started,
// so what is checked is the bytes and parse a write leaves behind (the tfdt an ffmpeg would read).
import { describe, expect, it } from 'vitest';
import { parseInitSegment, parseMediaSegment, shiftDecodeTime } from '../../../shared/fmp4/reader.ts';
import { IngestStream } from '../../../server/ingest/ingest-stream.ts';
import { createLogger, silentLogger } from '../../../server/log.ts';
import { AUDIO_TIMESCALE, VIDEO_TIMESCALE, writeFixtureFile } from '../../support/fmp4-fixtures.ts';

const file = writeFixtureFile({ video: true, audio: true });
const parsedInit = parseInitSegment(file.init);
if (!parsedInit.ok) throw new Error(parsedInit.error.message);
const info = parsedInit.value;
const scale = (trackId: number) => (trackId === 1 ? VIDEO_TIMESCALE : AUDIO_TIMESCALE);

function setup() {
  let clock = 1_000_000;
  const stream = new IngestStream({
    name: 'cam',
    init: file.init,
    info,
    // Never started: no process runs, writes only reach the timeline and the keyframe-group cache.
    destinations: [{ url: 'rtmp://127.0.0.1:9/live/cam', kind: 'rtmp' }],
    logger: silentLogger,
    ffmpegPath: '/nonexistent/ffmpeg',
    now: () => clock,
  });
  return { stream, advance: (ms: number) => (clock += ms) };
}

/** Writes the fixture's fragments [from, to) as a fresh copy; returns each one's start times (s) per track, after the write. */
function publish(stream: IngestStream, from: number, to: number): Array<{ trackId: number; seconds: number; bytesSeconds: number }> {
  const out: Array<{ trackId: number; seconds: number; bytesSeconds: number }> = [];
  for (const f of file.fragments.slice(from, to)) {
    const bytes = new Uint8Array(f.bytes);
    const parsed = parseMediaSegment(bytes, info);
    if (!parsed.ok) throw new Error(parsed.error.message);
    stream.write(bytes, f.track === 'video' && f.samples[0]!.keyframe, f.track === 'video' ? f.samples.length : 0, parsed.value);
    // What an ffmpeg would read: the bytes parsed again, and the parse it was handed must agree.
    const again = parseMediaSegment(bytes, info);
    if (!again.ok) throw new Error(again.error.message);
    for (const [i, t] of parsed.value.tracks.entries()) {
      out.push({ trackId: t.trackId, seconds: Number(t.baseDecodeTime) / scale(t.trackId), bytesSeconds: Number(again.value.tracks[i]!.baseDecodeTime) / scale(t.trackId) });
    }
  }
  return out;
}

const lastVideo = (xs: Array<{ trackId: number; seconds: number }>) => xs.filter((x) => x.trackId === 1).at(-1)!.seconds;
const firstOf = (xs: Array<{ seconds: number }>) => Math.min(...xs.map((x) => x.seconds));

describe('IngestStream timeline', () => {
  it('passes a first publisher through unchanged', () => {
    const { stream } = setup();
    const out = publish(stream, 0, 40);
    expect(out[0]!.seconds).toBe(0);
    for (const x of out) expect(x.bytesSeconds).toBeCloseTo(x.seconds, 9);
  });

  it('a returning page whose clock kept going (a reconnect) is left as it is', () => {
    const { stream, advance } = setup();
    const before = publish(stream, 0, 30);
    advance(1_000);
    stream.resumeFrom();
    const after = publish(stream, 45, 60); // half a second later in media time: frames lost while away
    expect(firstOf(after)).toBeGreaterThan(lastVideo(before));
    const raw = parseMediaSegment(file.fragments[45]!.bytes, info);
    if (!raw.ok) throw new Error(raw.error.message);
    expect(after[0]!.seconds).toBeCloseTo(Number(raw.value.tracks[0]!.baseDecodeTime) / scale(raw.value.tracks[0]!.trackId), 9);
  });

  it('a reloaded page (its clock back at 0) continues after the last sample plus the time away, both tracks by the same amount', () => {
    const { stream, advance } = setup();
    const before = publish(stream, 0, 60);
    const end = Math.max(...before.map((x) => x.seconds));
    advance(3_000);
    stream.resumeFrom();
    const after = publish(stream, 0, 60);
    const shift = after[0]!.seconds - 0;
    expect(shift).toBeGreaterThan(end + 2.9);
    expect(shift).toBeLessThan(end + 3.2);
    // Same shift for every fragment of both tracks (A/V sync kept), in the bytes as in the parse.
    const original = publish(setup().stream, 0, 60);
    after.forEach((x, i) => {
      expect(x.seconds - original[i]!.seconds).toBeCloseTo(shift, 4);
      expect(x.bytesSeconds).toBeCloseTo(x.seconds, 9);
    });
  });

  it('a clock far ahead (another device) is brought back to follow on, at least half a second later', () => {
    const { stream, advance } = setup();
    const lastStart = Math.max(...publish(stream, 0, 31).map((x) => x.seconds));
    advance(10); // a quick takeover
    stream.resumeFrom();
    // The same fragments an hour later in its clock: shifted into place by hand first.
    const out: number[] = [];
    for (const f of file.fragments.slice(40, 50)) {
      const bytes = new Uint8Array(f.bytes);
      const p = parseMediaSegment(bytes, info);
      if (!p.ok) throw new Error(p.error.message);
      for (const t of p.value.tracks) expect(shiftDecodeTime(bytes, t, 3600 * scale(t.trackId))).toBe(true);
      const reparsed = parseMediaSegment(bytes, info);
      if (!reparsed.ok) throw new Error(reparsed.error.message);
      stream.write(bytes, false, 0, reparsed.value);
      out.push(...reparsed.value.tracks.map((t) => Number(t.baseDecodeTime) / scale(t.trackId)));
    }
    // After the last fragment's start by half a second plus that fragment's length (at most 60 ms).
    expect(Math.min(...out)).toBeGreaterThan(lastStart + 0.5);
    expect(Math.min(...out)).toBeLessThan(lastStart + 0.57);
  });
});

describe('shiftDecodeTime', () => {
  it('rewrites a version 1 tfdt and the parse, and refuses to go below 0', () => {
    const bytes = new Uint8Array(file.fragments[5]!.bytes);
    const p = parseMediaSegment(bytes, info);
    if (!p.ok) throw new Error(p.error.message);
    const t = p.value.tracks[0]!;
    const was = Number(t.baseDecodeTime);
    expect(t.decodeTimeField.size).toBe(8);
    expect(shiftDecodeTime(bytes, t, 2 ** 40)).toBe(true);
    const again = parseMediaSegment(bytes, info);
    expect(again.ok && Number(again.value.tracks[0]!.baseDecodeTime)).toBe(was + 2 ** 40);
    expect(Number(t.baseDecodeTime)).toBe(was + 2 ** 40);
    expect(shiftDecodeTime(bytes, t, -(2 ** 41))).toBe(false);
    expect(Number(t.baseDecodeTime)).toBe(was + 2 ** 40);
  });

  it('rewrites a version 0 tfdt within 32 bits and refuses past them', () => {
    // The same fragment with its tfdt made version 0: 4 bytes shorter, so every size and offset that spans it too.
    const v1 = file.fragments[5]!.bytes;
    const p = parseMediaSegment(v1, info);
    if (!p.ok) throw new Error(p.error.message);
    const field = p.value.tracks[0]!.decodeTimeField;
    const v0 = toVersion0(v1, field.offset);
    const q = parseMediaSegment(v0, info);
    if (!q.ok) throw new Error(q.error.message);
    const t = q.value.tracks[0]!;
    expect(t.decodeTimeField.size).toBe(4);
    expect(shiftDecodeTime(v0, t, 1000)).toBe(true);
    const again = parseMediaSegment(v0, info);
    expect(again.ok && Number(again.value.tracks[0]!.baseDecodeTime)).toBe(Number(p.value.tracks[0]!.baseDecodeTime) + 1000);
    expect(shiftDecodeTime(v0, t, 2 ** 32)).toBe(false);
  });
});

/** A one-traf fragment with its v1 tfdt (64-bit field at `fieldAt`) rewritten as v0: moof, traf and tfdt sizes and trun's data offset shrink by 4. */
function toVersion0(v1: Uint8Array, fieldAt: number): Uint8Array {
  const b = Buffer.from(v1);
  const time = b.readBigUInt64BE(fieldAt);
  const out = Buffer.concat([b.subarray(0, fieldAt), Buffer.alloc(4), b.subarray(fieldAt + 8)]);
  out.writeUInt32BE(Number(time), fieldAt);
  out[fieldAt - 4] = 0; // version
  out.writeUInt32BE(out.readUInt32BE(fieldAt - 12) - 4, fieldAt - 12); // tfdt size
  out.writeUInt32BE(out.readUInt32BE(0) - 4, 0); // moof size
  // traf: moof(8) + mfhd(16) → traf at 24.
  out.writeUInt32BE(out.readUInt32BE(24) - 4, 24);
  // trun follows tfdt: size(4) type(4) version/flags(4) count(4) data_offset(4).
  const trunAt = fieldAt + 4;
  expect(out.toString('latin1', trunAt + 4, trunAt + 8)).toBe('trun');
  out.writeInt32BE(out.readInt32BE(trunAt + 16) - 4, trunAt + 16);
  return new Uint8Array(out);
}

describe('IngestStream outputs', () => {
  it('an AAC publisher (Safari) gets its audio copied to RTMP; an Opus one gets it encoded to AAC', async () => {
    for (const [codec, expected] of [['mp4a.40.2', ['-c:a', 'copy']], ['opus', ['-c:a', 'aac']]] as const) {
      const lines: string[] = [];
      const stream = new IngestStream({
        name: 'cam',
        init: file.init,
        info: { ...info, tracks: info.tracks.map((t) => (t.kind === 'audio' ? { ...t, codec } : t)) },
        destinations: [{ url: 'rtmp://127.0.0.1:9/live/cam', kind: 'rtmp' }],
        logger: createLogger({ level: 'debug', sink: (l) => lines.push(l) }),
        ffmpegPath: '/nonexistent/ffmpeg',
      });
      stream.start();
      await stream.close();
      const spawn = lines.map((l) => JSON.parse(l) as { event: string; args?: string[] }).find((l) => l.event === 'egress.spawn');
      const args = spawn?.args ?? [];
      const at = args.indexOf('-c:a');
      expect(args.slice(at, at + 2)).toEqual(expected);
    }
  });
});
