// Recording (--record DIR) of both kinds of source at once, an ffmpeg RTSP publisher and a browser-style WebSocket
// publisher, with 5 s segments for about 12.5 s; then the recordings API and playback of a span across two segments.
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { segmentStart } from '../../../server/record/paths.ts';
import { publish, startTestRelay, stopProcess, waitLive, type TestRelay } from '../../support/relay.ts';
import { decodeErrors, freshRecordDir, probeMp4, removeRecordDirs, segmentFilesOf, type ProbedMp4 } from '../../support/recordings.ts';
import { loadPublisherMedia, WsPublisher } from '../../support/ws-publisher.ts';
import { writeFile } from 'node:fs/promises';

/** Both publishers send a keyframe every 30 frames at 30 fps. */
const GOP_S = 1;
const RECORD_MS = 12_500;

let relay: TestRelay;
let dir: string;
let httpPort: number;
/** Per stream: when its recording ended (the publisher stopped), ms since the epoch. */
const stoppedAt: Record<string, number> = {};
const probes: Record<string, ProbedMp4[]> = {};
let pageMessages: WsPublisher['messages'] = [];

beforeAll(async () => {
  dir = freshRecordDir();
  const media = await loadPublisherMedia({ gop: 30 });
  relay = await startTestRelay(['--record', dir, '--record-segment', '5']);
  httpPort = relay.relay.http.port();
  const ffmpeg = publish({ url: relay.url('cam'), gop: 30 });
  const web = new WsPublisher({ port: httpPort, stream: 'web', media });
  pageMessages = web.messages;
  await web.connectOrThrow();
  web.start();
  await Promise.all([waitLive(relay.relay, 'cam'), waitLive(relay.relay, 'web')]);
  await new Promise((r) => setTimeout(r, RECORD_MS));
  await Promise.all([
    web.stop().then(() => (stoppedAt['web'] = Date.now())),
    (async () => {
      stoppedAt['cam'] = Date.now();
      await stopProcess(ffmpeg);
    })(),
  ]);
  // The streams end (Stop; ffmpeg's TEARDOWN or its socket closing), and each recorder writes its last fragment.
  const until = Date.now() + 10_000;
  while ((relay.relay.registry.get('cam') || relay.relay.registry.get('web')) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await web.dispose();
  await new Promise((r) => setTimeout(r, 200));
  for (const name of ['cam', 'web']) probes[name] = await Promise.all(segmentFilesOf(dir, name).map((f) => probeMp4(f)));
}, 90_000);

afterAll(async () => {
  await relay?.close();
  removeRecordDirs();
});

describe.each(['cam', 'web'])('stream %s recorded with --record-segment 5', (name) => {
  it('is three segment files named after their start, each starting on a keyframe, with audio and video', () => {
    const files = segmentFilesOf(dir, name);
    expect(files.map((f) => basename(f))).toHaveLength(3);
    for (const f of files) expect(basename(f)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z\.mp4$/);
    for (const p of probes[name]!) {
      expect(p).toMatchObject({ video: true, audio: true, startsOnKeyframe: true });
      expect(p.videoPackets).toBeGreaterThan(0);
    }
    // 5 s segments, cut at the first keyframe after 5 s.
    expect(probes[name]![0]!.duration).toBeGreaterThanOrEqual(5 - 0.05);
    expect(probes[name]![0]!.duration).toBeLessThanOrEqual(5 + GOP_S + 0.1);
  });

  it('has durations that add up to the time recorded, within one GOP', () => {
    const files = segmentFilesOf(dir, name);
    const first = segmentStart(basename(files[0]!))!;
    const recorded = (stoppedAt[name]! - first) / 1000;
    const total = probes[name]!.reduce((n, p) => n + p.duration, 0);
    expect(Math.abs(total - recorded)).toBeLessThanOrEqual(GOP_S);
    // Consecutive segments follow one another: each starts where the one before ended (wall clock vs media time).
    for (let i = 1; i < files.length; i++) {
      const gap = (segmentStart(basename(files[i]!))! - segmentStart(basename(files[i - 1]!))!) / 1000 - probes[name]![i - 1]!.duration;
      expect(Math.abs(gap)).toBeLessThan(0.3);
    }
  });
});

it('tells the browser publisher its stream is being recorded (the page\'s "Recording on the server")', () => {
  const states = pageMessages.flatMap((m) => (m.type === 'stats' && m.recording ? [m.recording.state] : []));
  expect(states).toContain('recording');
  expect(states.filter((s) => s !== 'recording' && s !== 'waiting')).toEqual([]);
});

describe('the recordings API', () => {
  it('lists every recorded stream, and each one\'s segments with start, duration, size and codecs', async () => {
    const all = (await (await fetch(`http://127.0.0.1:${httpPort}/api/recordings`)).json()) as Array<{ name: string; segments: number; size: number }>;
    expect(all.map((r) => r.name)).toEqual(['cam', 'web']);
    expect(all.every((r) => r.segments === 3 && r.size > 0)).toBe(true);
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/recordings/cam`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { name: string; segments: Array<{ start: string; duration: number; size: number; codecs: string[] }> };
    const files = segmentFilesOf(dir, 'cam');
    expect(body.segments).toHaveLength(3);
    body.segments.forEach((s, i) => {
      expect(new Date(s.start).getTime()).toBe(segmentStart(basename(files[i]!)));
      expect(s.size).toBe(statSync(files[i]!).size);
      expect(Math.abs(s.duration - probes['cam']![i]!.duration)).toBeLessThan(0.1);
      expect(s.codecs).toEqual([expect.stringMatching(/^avc1\./), 'opus']);
    });
    const missing = await fetch(`http://127.0.0.1:${httpPort}/api/recordings/nothing-here`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toMatch(/no recording of stream "nothing-here"/);
  });
});

describe('playback of a span', () => {
  it.each(['cam', 'web'])('%s: 6 s from the middle of the first segment into the second is one MP4 of 6 s ± one GOP, starting on a keyframe, that decodes cleanly', async (name) => {
    const files = segmentFilesOf(dir, name);
    const start = new Date(segmentStart(basename(files[0]!))! + 2500).toISOString();
    const res = await fetch(`http://127.0.0.1:${httpPort}/recordings/${name}.mp4?start=${start}&duration=6`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('content-length')).toBeNull(); // streamed, not built in memory
    const out = join(dir, `${name}-span.mp4`);
    await writeFile(out, new Uint8Array(await res.arrayBuffer()));
    const p = await probeMp4(out);
    expect(p).toMatchObject({ video: true, audio: true, startsOnKeyframe: true });
    expect(Math.abs(p.duration - 6)).toBeLessThanOrEqual(GOP_S);
    expect(await decodeErrors(out)).toBe('');
  });

  it('answers 404 with a JSON sentence for a span with no recording, and 400 for a bad start', async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/recordings/cam.mp4?start=2001-01-01T00:00:00Z&duration=6`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(((await res.json()) as { error: string }).error).toMatch(/no recording of stream "cam" between 2001-01-01T00:00:00.000Z and 2001-01-01T00:00:06.000Z/);
    const bad = await fetch(`http://127.0.0.1:${httpPort}/recordings/cam.mp4?start=yesterday&duration=6`);
    expect(bad.status).toBe(400);
  });
});
