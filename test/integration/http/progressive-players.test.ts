// GET /NAME.mp4 played by real players: ffprobe, ffmpeg, mpv, GStreamer (souphttpsrc ! qtdemux) and OpenCV, on
// streams from ffmpeg over RTSP (H.264 + AAC, H.264 + Opus, H.265 + G.711) and from a browser-style WebSocket
// publisher (H.264 + Opus, one fragment per frame). The raw bytes are checked too: init segment, then one moof+mdat per unit, one track
// per fragment, a keyframe first, tfdt always increasing, and a second player joining mid-stream lands on a keyframe
// of the same timeline. Players of different streams run in parallel to keep the file short.
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../../support/ffmpeg.ts';
import { decodeTimes, ProgressiveClient, trackIdOf } from '../../support/progressive-client.ts';
import { readWithOpenCV, requireOpenCV } from '../../support/opencv.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { loadPublisherMedia, WsPublisher } from '../../support/ws-publisher.ts';

const STREAMS = { aac: 'rtsp-aac', opus: 'rtsp-opus', browser: 'browser' } as const;
const HEVC = 'rtsp-hevc';
const EXPECTED_AUDIO: Record<string, string> = { [STREAMS.aac]: 'aac', [STREAMS.opus]: 'opus', [STREAMS.browser]: 'opus' };

let t: TestRelay;
let rtspPublishers: Publisher[] = [];
let browser: WsPublisher;

function mp4Url(name: string): string {
  return `http://127.0.0.1:${t.relay.http.port()}/${name}.mp4`;
}

/** A player binary that is missing fails with the command that installs it (STYLE habit 11). */
async function need(bin: string, pkg: string): Promise<void> {
  const r = await execa('sh', ['-c', `command -v ${bin}`], { reject: false });
  if (r.exitCode !== 0) throw new Error(`${bin} not found; install it: apt-get install -y ${pkg}`);
}

beforeAll(async () => {
  await Promise.all([need('mpv', 'mpv'), need('gst-launch-1.0', 'gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-libav')]);
  await requireOpenCV();
  t = await startTestRelay();
  // A 1 s keyframe interval keeps the cached group (the burst a new player starts with) and each test short.
  rtspPublishers = [
    publish({ url: t.url(STREAMS.aac), audio: 'aac', gop: 30 }),
    publish({ url: t.url(STREAMS.opus), audio: 'opus', gop: 30 }),
    publish({ url: t.url(HEVC), video: 'h265', audio: 'pcma', size: '320x240', gop: 30 }),
  ];
  browser = new WsPublisher({ port: t.relay.http.port(), stream: STREAMS.browser, media: await loadPublisherMedia({ gop: 30 }) });
  await browser.connectOrThrow();
  browser.start();
  await Promise.all([...Object.values(STREAMS), HEVC].map((s) => waitLive(t.relay, s, 15_000)));
}, 40_000);

afterAll(async () => {
  await browser?.dispose();
  await Promise.all(rtspPublishers.map((p) => stopProcess(p)));
  await t?.close();
});

describe('GET /NAME.mp4 in real players', () => {
  it('ffprobe sees H.264 640x360 and the audio track of each stream (AAC, Opus; RTSP and browser sources)', async () => {
    const results = await Promise.all(Object.values(STREAMS).map(async (name) => ({ name, probe: await ffprobe(mp4Url(name)) })));
    for (const { name, probe } of results) {
      const video = probe.streams.find((s) => s.codec_type === 'video');
      const audio = probe.streams.find((s) => s.codec_type === 'audio');
      expect(video, name).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
      expect(audio?.codec_name, name).toBe(EXPECTED_AUDIO[name]);
      expect(audio?.sample_rate, name).toBe('48000');
      expect(probe.format?.['format_name'], name).toContain('mp4');
    }
  });

  it('ffmpeg decodes 100 video frames (and the audio) of each without an error line', async () => {
    const runs = await Promise.all(
      Object.values(STREAMS).map(async (name) => ({
        name,
        r: await execa('ffmpeg', ['-nostdin', '-v', 'error', '-i', mp4Url(name), '-map', '0:v', '-map', '0:a', '-frames:v', '100', '-progress', 'pipe:1', '-f', 'null', '-'], {
          reject: false,
          timeout: 20_000,
        }),
      })),
    );
    for (const { name, r } of runs) {
      expect(r.stderr, name).toBe('');
      expect(r.exitCode, name).toBe(0);
      const frames = [...String(r.stdout).matchAll(/^frame=(\d+)$/gm)].map((m) => Number(m[1]));
      expect(frames.at(-1), name).toBe(100);
    }
  });

  it('mpv (--vo=null --ao=null --frames=100) plays 100 frames of each, with both tracks', async () => {
    const runs = await Promise.all(
      Object.values(STREAMS).map(async (name) => ({
        name,
        r: await execa('mpv', ['--no-config', '--vo=null', '--ao=null', '--frames=100', '--term-status-msg=frame=${estimated-frame-number}', mp4Url(name)], {
          reject: false,
          timeout: 20_000,
          all: true,
        }),
      })),
    );
    for (const { name, r } of runs) {
      const out = String(r.all);
      expect(r.exitCode, `${name}: ${out.slice(-500)}`).toBe(0);
      expect(out, name).toMatch(/Video --vid=1 .*h264 640x360/);
      expect(out, name).toMatch(new RegExp(`Audio --aid=1 .*${EXPECTED_AUDIO[name]}`));
      expect(out, name).toContain('Exiting... (End of file)');
      expect(out, name).not.toMatch(/error|corrupt|invalid/i);
      // The status line shows the frame number on the stream's timeline: the first and last shown span the 100 frames.
      const shown = [...out.matchAll(/frame=(\d+)/g)].map((m) => Number(m[1]));
      expect(shown.at(-1)! - shown[0]!, name).toBeGreaterThanOrEqual(90);
    }
  });

  it('H.265 + G.711 (hvc1, alaw) from RTSP: ffprobe sees both, ffmpeg decodes 60 frames without an error line', async () => {
    const [probe, d] = await Promise.all([
      ffprobe(mp4Url(HEVC)),
      execa('ffmpeg', ['-nostdin', '-v', 'error', '-i', mp4Url(HEVC), '-map', '0:v', '-map', '0:a', '-frames:v', '60', '-f', 'null', '-'], { reject: false, timeout: 20_000 }),
    ]);
    expect(probe.streams.map((s) => [s.codec_type, s.codec_name, s['codec_tag_string']])).toEqual([['video', 'hevc', 'hvc1'], ['audio', 'pcm_alaw', 'alaw']]);
    expect(probe.streams[0]).toMatchObject({ width: 320, height: 240 });
    expect(d.stderr).toBe('');
    expect(d.exitCode).toBe(0);
  });

  it('GStreamer souphttpsrc ! qtdemux decodes the video and takes the audio; OpenCV VideoCapture reads 60 frames', async () => {
    const gst = execa(
      'gst-launch-1.0',
      ['-v', 'souphttpsrc', `location=${mp4Url(STREAMS.aac)}`, 'num-buffers=400', '!', 'qtdemux', 'name=d',
        'd.video_0', '!', 'queue', '!', 'h264parse', '!', 'avdec_h264', '!', 'fakesink', 'name=v', 'silent=false', 'sync=false',
        'd.audio_0', '!', 'queue', '!', 'fakesink', 'name=a', 'silent=false', 'sync=false'],
      { reject: false, timeout: 20_000, all: true },
    );
    const cv = readWithOpenCV(mp4Url(STREAMS.browser), { frames: 60, timeoutMs: 20_000 });
    const [g, c] = await Promise.all([gst, cv]);
    const lines = String(g.all).split('\n');
    expect(g.exitCode, lines.slice(-10).join('\n')).toBe(0);
    expect(lines.filter((l) => /ERROR|WARNING/.test(l))).toEqual([]);
    expect(lines.filter((l) => l.includes('GstFakeSink:v: last-message = chain')).length).toBeGreaterThanOrEqual(30);
    expect(lines.filter((l) => l.includes('GstFakeSink:a: last-message = chain')).length).toBeGreaterThanOrEqual(30);
    expect({ opened: c.opened, frames: c.frames, shape: c.shape, exitCode: c.exitCode }, c.stderr).toEqual({ opened: true, frames: 60, shape: [360, 640, 3], exitCode: 0 });
  });

  it('the bytes: init, then one single-track moof+mdat per unit, a keyframe first, tfdt increasing; a second player joining mid-stream starts on a keyframe of the same timeline', async () => {
    const first = new ProgressiveClient(mp4Url(STREAMS.opus));
    expect((await first.response).status).toBe(200);
    // Mid-stream: the first player has had its cached group and the next keyframe after it.
    const keyframes = (c: ProgressiveClient) => c.trackFragments(trackIdOf(c, 'video')).filter((f) => f.info.tracks[0]!.keyframe).length;
    await first.until((c) => c.init !== undefined && keyframes(c) >= 2, 10_000, 'a second keyframe');
    const second = new ProgressiveClient(mp4Url(STREAMS.opus));
    // And a decoder joining at the same moment: no error from its first frame on.
    const decoder = execa('ffmpeg', ['-nostdin', '-v', 'error', '-i', mp4Url(STREAMS.opus), '-frames:v', '45', '-f', 'null', '-'], { reject: false, timeout: 20_000 });
    await second.until((c) => c.fragments.length >= 60, 10_000, '60 fragments');
    await first.until((c) => decodeTimes(c, trackIdOf(c, 'video')).at(-1)! >= decodeTimes(second, trackIdOf(second, 'video')).at(-1)!, 5_000, 'the first player to catch up');
    first.close();
    second.close();
    const d = await decoder;
    expect(d.stderr).toBe('');
    expect(d.exitCode).toBe(0);

    for (const c of [first, second]) {
      expect(c.problems).toEqual([]);
      expect(c.headers['content-type']).toBe('video/mp4');
      expect(c.headers['cache-control']).toBe('no-store');
      expect(c.headers['transfer-encoding']).toBe('chunked');
      expect(c.init?.tracks.map((x) => x.codec)).toEqual([expect.stringMatching(/^avc1\./), 'opus']);
      const video = trackIdOf(c, 'video');
      // One unit per fragment: one traf each, one sample for video and for (one RTP packet of) Opus audio.
      expect(c.fragments.every((f) => f.info.tracks.length === 1 && f.info.tracks[0]!.samples === 1)).toBe(true);
      expect(c.trackFragments(video)[0]!.info.tracks[0]!.keyframe).toBe(true);
      for (const id of [video, trackIdOf(c, 'audio')]) {
        const times = decodeTimes(c, id);
        expect(times.length).toBeGreaterThan(10);
        expect(times.every((x, i) => i === 0 || x > times[i - 1]!)).toBe(true);
      }
    }
    // The second player started later, on a keyframe the first player also got (same timeline, same decode time).
    const firstVideo = first.trackFragments(trackIdOf(first, 'video'));
    const secondStart = Number(second.trackFragments(trackIdOf(second, 'video'))[0]!.info.tracks[0]!.baseDecodeTime);
    expect(secondStart).toBeGreaterThan(Number(firstVideo[0]!.info.tracks[0]!.baseDecodeTime));
    const same = firstVideo.find((f) => Number(f.info.tracks[0]!.baseDecodeTime) === secondStart);
    expect(same?.info.tracks[0]!.keyframe).toBe(true);
  });

  it('a browser publisher that drops and comes back within the grace period: the response goes on, its timestamps continue', async () => {
    const c = new ProgressiveClient(mp4Url(STREAMS.browser));
    await c.until((x) => x.fragments.length >= 30, 10_000, '30 fragments');
    const video = trackIdOf(c, 'video');
    await browser.drop();
    const away = performance.now();
    await new Promise((r) => setTimeout(r, 700));
    expect((await browser.reconnect()).kind).toBe('accepted');
    const count = c.fragments.length;
    await c.until((x) => x.fragments.length >= count + 30, 10_000, '30 fragments after the publisher came back');
    c.close();
    expect(c.problems).toEqual([]);
    const times = decodeTimes(c, video);
    expect(times.every((x, i) => i === 0 || x > times[i - 1]!)).toBe(true);
    expect(decodeTimes(c, trackIdOf(c, 'audio')).every((x, i, a) => i === 0 || x > a[i - 1]!)).toBe(true);
    // The one big step in video time is the time away (90 kHz): never back to the publisher's own zero, never a jump
    // far ahead; and the publisher's first frame back is a keyframe.
    const gaps = times.slice(1).map((x, i) => x - times[i]!);
    const at = gaps.indexOf(Math.max(...gaps)) + 1;
    expect(times[at]! - times[at - 1]!).toBeGreaterThanOrEqual(0.9 * 90 * 700);
    expect(times[at]! - times[at - 1]!).toBeLessThan(90 * (performance.now() - away + 1000));
    expect(c.trackFragments(video)[at]!.info.tracks[0]!.keyframe).toBe(true);
  });
});
