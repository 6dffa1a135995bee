// The recorder as a hub reader, fed units from a stand-in stream (the H.264 fixture, with a keyframe flagged every
// 15 frames, and Opus) and a clock passed in: where segments start, what the files hold, how often it writes, and
// what a failure does.
import { rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../server/log.ts';
import type { Sample, SampleCodec, SampleConfig } from '../../../server/protocols/fmp4/sample.ts';
import { segmentFileName } from '../../../server/record/paths.ts';
import { Recorder, type RecordSource } from '../../../server/record/recorder.ts';
import { segmentFiles } from '../../../server/record/recordings.ts';
import { openSegment, readFragment } from '../../../server/record/segment-info.ts';
import type { AccessUnit } from '../../../server/stream/access-unit.ts';
import { waitFor } from '../../support/ffmpeg.ts';
import { audioFixture, videoFixture } from '../../support/fmp4-fixtures.ts';
import { freshRecordDir, removeRecordDirs } from '../../support/recordings.ts';

const T0 = Date.parse('2026-12-04T10:00:00.000Z');
const video = videoFixture();
const audio = audioFixture();

/** A stream of one H.264 and one Opus track whose units carry their samples. */
class FakeStream implements RecordSource {
  readonly tracks = [
    { index: 0, codec: { kind: 'video', codec: 'H264' } },
    { index: 1, codec: { kind: 'audio', codec: 'OPUS' } },
  ];
  videoVersion = 1;
  sampleCodec(track: number): SampleCodec | undefined {
    return track === 0 ? 'h264' : 'opus';
  }
  sampleConfig(track: number): SampleConfig | undefined {
    return track === 0 ? { codec: 'h264', clockRate: 90000, avcC: video.avcC, width: 640, height: 360, version: this.videoVersion } : { codec: 'opus', clockRate: 48000, channels: 2, version: 1 };
  }
  samplesOf(unit: AccessUnit): readonly Sample[] | null {
    return unit.samples ?? null;
  }
}

function unit(track: number, sample: Sample): AccessUnit {
  return { track, keyframe: sample.keyframe, samples: [sample] } as unknown as AccessUnit;
}

let now = T0;
const recorders: Recorder[] = [];
afterEach(async () => {
  await Promise.all(recorders.splice(0).map((r) => r.close()));
});

function recorder(root: string, stream: FakeStream, o: Partial<ConstructorParameters<typeof Recorder>[0]> = {}): Recorder {
  const r = new Recorder({ name: 'cam', root, source: stream, segmentMs: 1000, logger: silentLogger, now: () => now, flushMs: 60_000, ...o });
  recorders.push(r);
  return r;
}

/** Frames `from` … `to - 1` at 30 fps (the fixture's 60 frames looped), a keyframe every 15, with the Opus between. */
function feed(r: Recorder, from: number, to: number): void {
  // A frame is 1600 ticks of 48 kHz; a 20 ms Opus packet 960.
  let a = Math.ceil((from * 1600) / 960);
  for (let f = from; f < to; f++) {
    now = T0 + (f * 1000) / 30;
    r.sendUnit(unit(0, { pts: f * 3000, dts: f * 3000, keyframe: f % 15 === 0, data: video.samples[f % 60]!.data }));
    for (; a * 960 < (f + 1) * 1600; a++) r.sendUnit(unit(1, { pts: a * 960, dts: a * 960, keyframe: true, data: audio.samples[a % audio.samples.length]!.data }));
  }
}

describe('Recorder', () => {
  it('starts a segment at the first keyframe after the segment length, each file init + fragments cut at keyframes', async () => {
    const root = freshRecordDir();
    const r = recorder(root, new FakeStream());
    feed(r, 5, 70); // starts at frame 15 (the first keyframe), then 45: 1 s each
    await r.close();
    const files = await segmentFiles(join(root, 'cam'));
    expect(files.map((f) => f.file)).toEqual([segmentFileName(T0 + 500), segmentFileName(T0 + 1500)]);
    for (const f of files) {
      const seg = (await openSegment(join(root, 'cam', f.file)))!;
      expect(seg.info.tracks.map((t) => t.codec)).toEqual([expect.stringMatching(/^avc1\./), 'opus']);
      const fragments = await Promise.all(seg.fragments.map((_, k) => readFragment(seg, k)));
      await seg.fh.close();
      // One fragment per keyframe group (no timer fired), each starting on its keyframe, the first at 0.
      expect(fragments.map((x) => x!.keyframe)).toEqual([true, true]);
      expect(fragments[0]!.ms).toBe(0);
      expect(fragments[1]!.ms).toBe(500);
      // Audio rides along, rebased to the same 0.
      const audioTrack = fragments[0]!.parsed.tracks.find((t) => t.trackId === 2)!;
      expect(Number(audioTrack.baseDecodeTime)).toBeLessThan(48 * 40);
    }
    // Gathered writes: one per segment here (no timer fired), not one per frame.
    expect(r.stats).toEqual({ segments: 2, writes: 2, bytes: files.reduce((n, f) => n + f.bytes, 0) });
  });

  it('writes about once per flush interval, whatever the frame rate', async () => {
    const root = freshRecordDir();
    const r = recorder(root, new FakeStream(), { flushMs: 20, segmentMs: 60_000 });
    for (let chunk = 0; chunk < 5; chunk++) {
      feed(r, chunk * 30, chunk * 30 + 30);
      await new Promise((res) => setTimeout(res, 40));
    }
    await r.close();
    expect(r.stats.segments).toBe(1);
    expect(r.stats.writes).toBeGreaterThanOrEqual(5);
    expect(r.stats.writes).toBeLessThanOrEqual(6);
  });

  it('starts a new segment at a codec change and at a new publisher, each at the next keyframe', async () => {
    const root = freshRecordDir();
    const stream = new FakeStream();
    const r = recorder(root, stream, { segmentMs: 60_000 });
    feed(r, 0, 20);
    stream.videoVersion = 2; // new SPS/PPS
    feed(r, 20, 40); // frame 30
    r.publisherChanged();
    feed(r, 40, 50); // frame 45
    await r.close();
    const files = await segmentFiles(join(root, 'cam'));
    expect(files.map((f) => f.file)).toEqual([segmentFileName(T0), segmentFileName(T0 + 1000), segmentFileName(T0 + 1500)]);
  });

  it('a directory it cannot use: state error with a sentence, then recording again once it can', async () => {
    const root = freshRecordDir();
    writeFileSync(join(root, 'cam'), 'a file where the stream directory should be');
    const r = recorder(root, new FakeStream(), { backoff: { initialMs: 10, maxMs: 20, resetAfterMs: 1000 } });
    feed(r, 0, 10);
    expect(await waitFor(() => r.state === 'error', 2000)).toBe(true);
    expect(r.status().error).toMatch(/^recording of stream "cam" stopped: .*\((EEXIST|ENOTDIR)\) at .*cam.*; retrying in 10 ms$/);
    rmSync(join(root, 'cam'));
    await new Promise((res) => setTimeout(res, 30));
    feed(r, 10, 31); // the keyframe at 15 opens a segment again
    expect(await waitFor(() => r.state === 'recording', 2000)).toBe(true);
    expect(r.status()).toEqual({ state: 'recording', file: segmentFileName(T0 + 500) });
    await r.close();
    expect(r.state).toBe('closed');
    const files = await segmentFiles(join(root, 'cam'));
    expect(files.map((f) => basename(f.file))).toEqual([segmentFileName(T0 + 500)]);
  });
});

afterAll(() => removeRecordDirs());
