// The RTSP output kind against a throwaway receiver: `ffmpeg -rtsp_flags listen` accepts one
// ANNOUNCE/RECORD publisher and records what arrives, so we can check the copy (H.264 + Opus as is).
// The project's own RTSP relay is tested elsewhere; this pins what our argv sends to any RTSP server.
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FfmpegOutput } from '../../../server/egress/ffmpeg-output.ts';
import { createLogger } from '../../../server/log.ts';
import { ffmpegPath, ffprobe, isProcessAlive, makeBrowserLikeFmp4, waitFor } from '../../support/ffmpeg.ts';
import { PacedFeed, splitFmp4 } from '../../support/egress-feed.ts';
import { freePort } from '../../support/nginx-rtmp.ts';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'relaycast-rtsp-egress-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('FfmpegOutput → RTSP (ANNOUNCE/RECORD over TCP)', () => {
  it('copies H.264 and Opus to an RTSP server', async () => {
    const input = splitFmp4(readFileSync(await makeBrowserLikeFmp4({ seconds: 20, gop: 60 })));
    const port = await freePort();
    const recording = join(dir, 'received.mkv');
    const receiver = execa(
      ffmpegPath(),
      ['-hide_banner', '-loglevel', 'warning', '-nostdin', '-rtsp_flags', 'listen', '-timeout', '20',
        '-i', `rtsp://127.0.0.1:${port}/cam1`, '-c', 'copy', '-f', 'matroska', '-y', recording],
      { reject: false, stdin: 'ignore', stdout: 'ignore', timeout: 40_000 },
    );
    const logs: string[] = [];
    const feed = new PacedFeed(input);
    const out = new FfmpegOutput({
      name: 'cam1',
      url: `rtsp://127.0.0.1:${port}/cam1`,
      kind: 'rtsp',
      hasAudio: true,
      ffmpegPath: ffmpegPath(),
      logger: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
      prelude: feed.prelude,
      // The listener may not be bound yet on the first try: a quick retry covers it.
      backoff: { initialMs: 200, maxMs: 400 },
    });
    feed.add((f) => out.write(f.bytes, f.keyframe));
    const playing = feed.run();
    try {
      out.start();
      expect(await waitFor(() => out.state === 'running', 10_000)).toBe(true);
      expect(await waitFor(() => out.snapshot().frames >= 90, 10_000)).toBe(true);
      const pid = out.snapshot().pid;
      await out.close();
      expect(pid !== undefined && isProcessAlive(pid)).toBe(false);
      // The publisher's TEARDOWN ends the receiver's input; it finishes the file and exits.
      const r = await receiver;
      expect(r.exitCode, String(r.stderr)).toBe(0);
    } finally {
      feed.stop();
      await playing;
      await out.close();
      if (receiver.exitCode === null) receiver.kill('SIGKILL');
    }
    const probe = await ffprobe(recording, { args: ['-count_packets'] });
    const byType = Object.fromEntries(probe.streams.map((s) => [s.codec_type, s]));
    expect(byType['video']).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
    expect(byType['audio']).toMatchObject({ codec_name: 'opus', sample_rate: '48000' });
    expect(Number(byType['video']?.nb_read_packets)).toBeGreaterThanOrEqual(90);
    expect(logs.join('\n')).toContain('"kind":"rtsp"');
  });
});
