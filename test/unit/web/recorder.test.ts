// web/recorder.ts (the local copy made with mp4-muxer) fed the committed H.264 and Opus fixtures as WebCodecs chunks,
// and its MP4 read back with MP4Box.js.
import { createFile, MP4BoxBuffer, type Movie } from 'mp4box';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Fmp4Sample } from '../../../shared/fmp4/writer.ts';
import { LocalRecorder, type RecorderTracks } from '../../../web/recorder.ts';
import { AUDIO_TIMESCALE, VIDEO_TIMESCALE, audioFixture, videoFixture } from '../../support/fmp4-fixtures.ts';

// Node has no WebCodecs; mp4-muxer only checks `instanceof` and reads these fields.
class FakeChunk {
  readonly byteLength: number;
  constructor(
    readonly type: 'key' | 'delta',
    readonly timestamp: number,
    readonly duration: number,
    private readonly data: Uint8Array,
  ) {
    this.byteLength = data.length;
  }
  copyTo(dest: Uint8Array): void {
    dest.set(this.data);
  }
}
beforeAll(() => {
  vi.stubGlobal('EncodedVideoChunk', FakeChunk);
  vi.stubGlobal('EncodedAudioChunk', FakeChunk);
});
afterAll(() => vi.unstubAllGlobals());

const video = videoFixture();
const audio = audioFixture();
const videoConfig: EncodedVideoChunkMetadata = { decoderConfig: { codec: 'avc1.64001e', codedWidth: 640, codedHeight: 360, description: video.avcC } };
const tracks: RecorderTracks = { video: { width: 640, height: 360, framerate: 30 }, audio: { channels: audio.channels, sampleRate: 48_000 } };

const us = (s: Fmp4Sample, timescale: number): number => Math.round((s.timestamp * 1_000_000) / timescale);
const videoChunk = (s: Fmp4Sample): EncodedVideoChunk =>
  new FakeChunk(s.keyframe ? 'key' : 'delta', us(s, VIDEO_TIMESCALE), Math.round((s.duration * 1_000_000) / VIDEO_TIMESCALE), s.data) as unknown as EncodedVideoChunk;
const audioChunk = (s: Fmp4Sample): EncodedAudioChunk => new FakeChunk('key', us(s, AUDIO_TIMESCALE), Math.round((s.duration * 1_000_000) / AUDIO_TIMESCALE), s.data) as unknown as EncodedAudioChunk;

/** Feeds `frames` video frames (with the audio that goes with them) as the encoders would, decoderConfig on the first. */
function feed(r: LocalRecorder, frames: number, o: { videoMeta?: EncodedVideoChunkMetadata | undefined; audio?: boolean } = {}): void {
  let a = 0;
  for (let i = 0; i < frames; i++) {
    const s = video.samples[i]!;
    r.addVideo(videoChunk(s), i === 0 ? ('videoMeta' in o ? o.videoMeta : videoConfig) : undefined, us(s, VIDEO_TIMESCALE));
    while (o.audio !== false && audio.samples[a] && us(audio.samples[a]!, AUDIO_TIMESCALE) <= us(s, VIDEO_TIMESCALE)) {
      r.addAudio(audioChunk(audio.samples[a]!), undefined, us(audio.samples[a]!, AUDIO_TIMESCALE));
      a += 1;
    }
  }
}

async function demux(file: Blob): Promise<{ info: Movie; counts: Record<string, number> }> {
  const mp4 = createFile();
  let info: Movie | undefined;
  mp4.onReady = (m) => (info = m);
  mp4.appendBuffer(MP4BoxBuffer.fromArrayBuffer(await file.arrayBuffer(), 0));
  mp4.flush();
  if (!info) throw new Error('mp4box could not read the recording');
  return { info, counts: Object.fromEntries(info.tracks.map((t) => [t.codec.startsWith('avc1') ? 'video' : 'audio', t.nb_samples])) };
}

describe('LocalRecorder', () => {
  it('writes an MP4 with every frame and the audio from the first keyframe on', async () => {
    const r = new LocalRecorder(tracks);
    feed(r, 60);
    const file = r.finish();
    expect(r.failure).toBeUndefined();
    expect(file).toBeDefined();
    const { counts } = await demux(file!);
    expect(counts['video']).toBe(60);
    expect(counts['audio']).toBeGreaterThan(90);
  });

  it('opens on a keyframe without decoderConfig when it was made after the encoder gave its configuration', async () => {
    expect(new LocalRecorder(tracks).finish()).toBeUndefined();
    const lost = new LocalRecorder(tracks);
    feed(lost, 30, { videoMeta: undefined }); // the output that carried decoderConfig went by before this recorder
    expect(lost.finish()).toBeUndefined();
    const r = new LocalRecorder({ ...tracks, video: { ...tracks.video, decoderConfig: videoConfig.decoderConfig } });
    feed(r, 30, { videoMeta: undefined });
    const { info, counts } = await demux(r.finish()!);
    expect(info.tracks[0]).toMatchObject({ codec: 'avc1.64001e' });
    expect(counts['video']).toBe(30);
  });

  it('leaves out audio that arrives when it was made without an audio track (a late microphone)', async () => {
    const r = new LocalRecorder({ video: tracks.video });
    feed(r, 30);
    expect(r.failure).toBeUndefined();
    const { counts } = await demux(r.finish()!);
    expect(counts).toEqual({ video: 30 });
  });

  it('stops taking media at its size bound and still finishes a playable file', async () => {
    const all = video.samples.slice(0, 60).reduce((n, s) => n + s.data.length, 0);
    const r = new LocalRecorder(tracks, Math.floor(all / 2));
    feed(r, 60);
    expect(r.full).toBe(true);
    expect(r.size).toBeLessThanOrEqual(Math.floor(all / 2));
    const { counts } = await demux(r.finish()!);
    expect(counts['video']).toBeGreaterThan(5);
    expect(counts['video']).toBeLessThan(60);
  });
});
