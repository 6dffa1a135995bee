// The writer's output checked by ffmpeg/ffprobe 5.1, an independent demuxer and decoder, through a file and through a
// pipe (the server feeds ffmpeg on stdin, and a moov without sample tables must work on non-seekable input).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Fmp4Writer } from '../../../shared/fmp4/writer.ts';
import { readAdts } from '../../support/fmp4-adts.ts';
import { AUDIO_TIMESCALE, VIDEO_TIMESCALE, fixture, writeFixtureFile, type WrittenFile } from '../../support/fmp4-fixtures.ts';
import { runTool } from '../../support/fmp4-tools.ts';

const dir = mkdtempSync(join(tmpdir(), 'relaycast-fmp4-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ProbeStream {
  index: number;
  codec_name: string;
  profile?: string;
  width?: number;
  height?: number;
  level?: number;
  sample_rate?: string;
  channels?: number;
  nb_read_frames?: string;
  time_base: string;
}

function probe(file: string): { streams: ProbeStream[]; format: { format_name: string } } {
  const r = runTool('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-count_frames', '-of', 'json', file]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { streams: ProbeStream[]; format: { format_name: string } };
}

function packets(file: string): Array<{ stream: number; pts: number; dts: number; key: boolean }> {
  const r = runTool('ffprobe', ['-v', 'error', '-show_entries', 'packet=stream_index,pts,dts,flags', '-of', 'csv=p=0', file]);
  expect(r.status).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [stream, pts, dts, flags] = line.split(',');
      return { stream: Number(stream), pts: Number(pts), dts: Number(dts), key: flags!.startsWith('K') };
    });
}

function save(name: string, bytes: Uint8Array): string {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

/** Decodes the whole file; ffmpeg must exit 0 and print nothing at -v error. */
function expectCleanDecode(file: string): void {
  const r = runTool('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

function expectCleanPipe(bytes: Uint8Array, args: string[]): void {
  const r = runTool('ffmpeg', ['-v', 'error', '-f', 'mp4', '-i', '-', ...args, '-f', 'null', '-'], bytes);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
}

describe('Fmp4Writer output read by ffprobe / ffmpeg 5.1', () => {
  const av: WrittenFile = writeFixtureFile({ video: true, audio: true });
  const videoSamples = av.fragments.filter((f) => f.track === 'video').flatMap((f) => f.samples);
  const audioSamples = av.fragments.filter((f) => f.track === 'audio').flatMap((f) => f.samples);
  const file = save('av.mp4', av.whole);

  it('one fragment per video frame, audio in fragments of 1 to 3 packets (20 to 60 ms)', () => {
    expect(av.fragments.filter((f) => f.track === 'video').every((f) => f.samples.length === 1)).toBe(true);
    expect(new Set(av.fragments.filter((f) => f.track === 'audio').map((f) => f.samples.length))).toEqual(new Set([1, 2, 3]));
    expect(videoSamples).toHaveLength(60);
    expect(audioSamples.length).toBeGreaterThan(95);
  });

  it('ffprobe sees H.264 High 640x360 and Opus 48 kHz stereo, and counts every frame written', () => {
    const p = probe(file);
    expect(p.format.format_name).toContain('mp4');
    const [v, a] = p.streams;
    expect(v).toMatchObject({ codec_name: 'h264', profile: 'High', width: 640, height: 360, level: 30, nb_read_frames: String(videoSamples.length), time_base: `1/${VIDEO_TIMESCALE}` });
    expect(a).toMatchObject({ codec_name: 'opus', sample_rate: '48000', channels: 2, nb_read_frames: String(audioSamples.length), time_base: `1/${AUDIO_TIMESCALE}` });
  });

  it('ffprobe reads back every decode time and keyframe flag written', () => {
    const got = packets(file);
    const expected = (stream: number, samples: typeof videoSamples): Array<{ stream: number; pts: number; dts: number; key: boolean }> =>
      samples.map((s) => ({ stream, pts: s.timestamp, dts: s.timestamp, key: s.keyframe }));
    expect(got.filter((p) => p.stream === 0)).toEqual(expected(0, videoSamples));
    expect(got.filter((p) => p.stream === 1)).toEqual(expected(1, audioSamples));
    expect(got.filter((p) => p.stream === 0 && p.key).map((p) => p.pts)).toEqual([0]); // -g 60 over 60 frames
  });

  it('ffmpeg decodes the file with nothing on stderr', () => {
    expectCleanDecode(file);
  });

  it('ffmpeg reads it from a pipe (non-seekable) to copy and to decode', () => {
    expectCleanPipe(av.whole, ['-c', 'copy']);
    expectCleanPipe(av.whole, []);
  });

  it('ffmpeg takes the init segment plus a single fragment from a pipe (the smallest thing an egress can be fed)', () => {
    const first = av.fragments.find((f) => f.track === 'video')!;
    const bytes = Uint8Array.from([...av.init, ...first.bytes]);
    expectCleanPipe(bytes, ['-c', 'copy']);
  });

  it('video only and audio only files', () => {
    const vOnly = writeFixtureFile({ video: true });
    const vp = probe(save('v.mp4', vOnly.whole));
    expect(vp.streams).toHaveLength(1);
    expect(vp.streams[0]).toMatchObject({ codec_name: 'h264', width: 640, height: 360, nb_read_frames: '60' });
    expectCleanDecode(join(dir, 'v.mp4'));
    expectCleanPipe(vOnly.whole, ['-c', 'copy']);

    const aOnly = writeFixtureFile({ audio: true });
    const ap = probe(save('a.mp4', aOnly.whole));
    expect(ap.streams).toHaveLength(1);
    expect(ap.streams[0]).toMatchObject({ codec_name: 'opus', channels: 2, nb_read_frames: String(audioSamples.length) });
    expectCleanDecode(join(dir, 'a.mp4'));
    expectCleanPipe(aOnly.whole, ['-c', 'copy']);
  });

  it('AAC in mp4a/esds', () => {
    const adts = readAdts(fixture('audio-44k-stereo.aac'));
    const w = new Fmp4Writer({ audio: { kind: 'audio', codec: 'mp4a', audioSpecificConfig: adts.audioSpecificConfig, channels: adts.channels, sampleRate: adts.sampleRate, timescale: adts.sampleRate } });
    const parts = [w.initSegment(), ...adts.frames.map((data, i) => w.fragment('audio', { data, timestamp: i * 1024, duration: 1024, keyframe: true }))];
    const bytes = Uint8Array.from(parts.flatMap((p) => [...p]));
    const f = save('aac.mp4', bytes);
    const p = probe(f);
    expect(p.streams[0]).toMatchObject({ codec_name: 'aac', profile: 'LC', sample_rate: '44100', channels: 2, nb_read_frames: String(adts.frames.length) });
    expectCleanDecode(f);
    expectCleanPipe(bytes, []);
  });
});
