// A server killed with SIGKILL mid-segment leaves a last segment ffprobe reads; a half-written fragment after it (a
// write the kill cut short) is trimmed by the next start, which records on. Both kinds of source: ffmpeg publishing
// over RTSP, and a browser-style publisher sending fMP4 over the WebSocket.
import { appendFile, open, stat } from 'node:fs/promises';
import { afterEach, expect, it } from 'vitest';
import { scanSegment } from '../../../server/record/segment-scan.ts';
import { publish, stopProcess, type Publisher } from '../../support/relay.ts';
import { freshRecordDir, probeMp4, removeRecordDirs, segmentFilesOf } from '../../support/recordings.ts';
import { startServerProcess, type ServerProcess } from '../../support/server-process.ts';
import { loadPublisherMedia, WsPublisher } from '../../support/ws-publisher.ts';

const servers: ServerProcess[] = [];
const publishers: Publisher[] = [];
const pages: WsPublisher[] = [];
const UDP = 62000 + (process.pid % 20) * 100;

afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => stopProcess(p)));
  await Promise.all(pages.splice(0).map((p) => p.dispose()));
  await Promise.all(servers.splice(0).map((s) => s.kill()));
  removeRecordDirs();
});

async function recordServer(dir: string): Promise<ServerProcess> {
  const s = await startServerProcess(['--record', dir, '--record-segment', '5'], UDP);
  servers.push(s);
  return s;
}

const segmentStarts = (s: ServerProcess): number => s.logs.filter((l) => l['event'] === 'record.segment_start').length;

/** Starts publishing stream "cam" into a server; resolves to what stops it. */
type StartSource = (s: ServerProcess) => Promise<() => Promise<void>>;

/** What a kill during a write leaves: the first half of the last whole fragment, appended after it. */
async function appendHalfFragment(file: string): Promise<{ intactSize: number; appended: number }> {
  const fh = await open(file, 'r');
  const layout = (await scanSegment(fh))!;
  const whole = layout.fragments[layout.fragments.length - 1]!;
  const half = Buffer.alloc(Math.floor(whole.size / 2));
  await fh.read(half, 0, half.length, whole.offset);
  await fh.close();
  const intactSize = (await stat(file)).size;
  expect(intactSize).toBe(layout.validEnd);
  await appendFile(file, half);
  return { intactSize, appended: half.length };
}

/**
 * Record "cam" from `startSource` until a second segment is 2.5 s old, SIGKILL the server, check the last file, cut a
 * fragment in half after it, start a server again: it trims the file back, and records a third segment from the source.
 */
async function killMidSegmentThenRestart(startSource: StartSource): Promise<void> {
  const dir = freshRecordDir();
  const a = await recordServer(dir);
  await startSource(a);
  await a.waitLog(() => segmentStarts(a) >= 2, 20_000);
  await new Promise((r) => setTimeout(r, 2500)); // mid-segment, after a couple of writes
  await a.kill();

  const files = segmentFilesOf(dir, 'cam');
  expect(files).toHaveLength(2);
  const last = files[1]!;
  const probed = await probeMp4(last);
  expect(probed).toMatchObject({ video: true, audio: true, startsOnKeyframe: true });
  expect(probed.duration).toBeGreaterThan(1);
  const { intactSize, appended } = await appendHalfFragment(last);

  const b = await recordServer(dir);
  const trimmed = await b.waitLog((l) => l['event'] === 'record.trimmed');
  expect(trimmed).toMatchObject({ file: last, bytes: appended });
  expect((await stat(last)).size).toBe(intactSize);
  expect((await probeMp4(last)).duration).toBeCloseTo(probed.duration, 1);

  const stop = await startSource(b);
  await b.waitLog((l) => l['event'] === 'record.segment_start', 20_000);
  await new Promise((r) => setTimeout(r, 2500));
  await stop();
  await b.kill();
  const after = segmentFilesOf(dir, 'cam');
  expect(after).toHaveLength(3);
  const newest = await probeMp4(after[2]!);
  expect(newest).toMatchObject({ video: true, audio: true, startsOnKeyframe: true });
  expect(newest.duration).toBeGreaterThan(1);
}

it('ffmpeg over RTSP, SIGKILL mid-segment: the last file plays; a half-written fragment is trimmed at the next start, which records on', async () => {
  await killMidSegmentThenRestart(async (s) => {
    const ffmpeg = publish({ url: `rtsp://127.0.0.1:${s.rtspPort}/cam`, gop: 30 });
    publishers.push(ffmpeg);
    return () => stopProcess(ffmpeg);
  });
}, 90_000);

it('a browser publisher (fMP4 over the WebSocket), SIGKILL mid-segment: the last file plays; a half-written fragment is trimmed at the next start, which records on', async () => {
  const media = await loadPublisherMedia({ gop: 30 });
  await killMidSegmentThenRestart(async (s) => {
    const page = new WsPublisher({ port: s.httpPort, stream: 'cam', media });
    pages.push(page);
    await page.connectOrThrow();
    page.start();
    return async () => void (await page.stop());
  });
}, 90_000);
