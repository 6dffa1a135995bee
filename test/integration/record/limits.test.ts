// A live recording under a small --record-max-size (1 s segments): the oldest segments go, the one being written
// stays; and the recordings, like the live streams, need the read credentials when they are set.
import { basename } from 'node:path';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { segmentStart } from '../../../server/record/paths.ts';
import { waitFor } from '../../support/ffmpeg.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { freshRecordDir, removeRecordDirs, segmentFilesOf } from '../../support/recordings.ts';

const MAX = 300 * 1024;
let relay: TestRelay;
let ffmpeg: Publisher;
let dir: string;
let base: string;
const auth = { Authorization: `Basic ${Buffer.from('viewer:secret-pass').toString('base64')}` };

beforeAll(async () => {
  dir = freshRecordDir();
  relay = await startTestRelay(['--record', dir, '--record-segment', '1', '--record-max-size', String(MAX), '--read-user', 'viewer', '--read-pass', 'secret-pass'], {
    progressive: { authFailureDelayMs: [0, 0] },
  });
  base = `http://127.0.0.1:${relay.relay.http.port()}`;
  ffmpeg = publish({ url: relay.url('cam'), gop: 15, bitrate: '1M' });
  await waitLive(relay.relay, 'cam');
});

afterAll(async () => {
  await stopProcess(ffmpeg);
  await relay.close();
  removeRecordDirs();
});

describe('--record-max-size while recording', () => {
  it('deletes the oldest segments so the rest fit, never the one being written', async () => {
    expect(await waitFor(() => relay.logs.filter((l) => l['event'] === 'record.segment_deleted').length >= 2, 30_000)).toBe(true);
    const deleted = relay.logs.filter((l) => l['event'] === 'record.segment_deleted').map((l) => String(l['file']));
    const files = segmentFilesOf(dir, 'cam');
    const current = relay.relay.recordings!.statusOf('cam')?.file;
    expect(current).toBeDefined();
    expect(files.map((f) => basename(f))).toContain(current);
    // Oldest first: everything deleted is older than everything kept.
    const oldestKept = Math.min(...files.map((f) => segmentStart(basename(f))!));
    for (const d of deleted) expect(segmentStart(basename(d))!).toBeLessThan(oldestKept);
    // What is left (besides the segment being written, which grows) fits the bound.
    const closed = files.filter((f) => basename(f) !== current).reduce((n, f) => n + statSync(f).size, 0);
    expect(closed).toBeLessThanOrEqual(MAX);
  });

  it('shows the recording in GET /api/streams and GET /api/streams/NAME', async () => {
    const list = (await (await fetch(`${base}/api/streams`)).json()) as Array<{ name: string; recording?: { state: string; file?: string } }>;
    expect(list.find((s) => s.name === 'cam')?.recording).toMatchObject({ state: 'recording', file: expect.stringMatching(/Z\.mp4$/) });
    const one = (await (await fetch(`${base}/api/streams/cam`)).json()) as { recording?: { state: string } };
    expect(one.recording?.state).toBe('recording');
  });
});

describe('read credentials on recordings', () => {
  it('are needed for the list, a stream\'s segments and playback, as for /NAME.mp4', async () => {
    const start = new Date(Date.now() - 3000).toISOString();
    for (const path of ['/api/recordings', '/api/recordings/cam', `/recordings/cam.mp4?start=${start}&duration=1`]) {
      const denied = await fetch(base + path);
      expect(denied.status, path).toBe(401);
      expect(denied.headers.get('www-authenticate')).toMatch(/^Basic realm="relaycast"/);
      expect(((await denied.json()) as { error: string }).error).toMatch(/read credentials/);
      const wrong = await fetch(base + path, { headers: { Authorization: `Basic ${Buffer.from('viewer:nope').toString('base64')}` } });
      expect(wrong.status, path).toBe(401);
      const ok = await fetch(base + path, { headers: auth });
      expect(ok.status, path).toBe(200);
      await ok.arrayBuffer();
    }
  });
});
