// FfmpegOutput process lifecycle with the real spawner (execa): a missing binary, and close() while
// ffmpeg is stuck in an RTMP handshake with a server that accepts TCP and never answers.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FfmpegOutput } from '../../../server/egress/ffmpeg-output.ts';
import { silentLogger } from '../../../server/log.ts';
import { PacedFeed, splitFmp4 } from '../../support/egress-feed.ts';
import { ffmpegPath, isProcessAlive, makeBrowserLikeFmp4, waitFor } from '../../support/ffmpeg.ts';

describe('FfmpegOutput lifecycle (real processes)', () => {
  it('a missing ffmpeg binary fails for good, saying how to install it', async () => {
    const out = new FfmpegOutput({
      name: 'cam1',
      url: 'rtmp://127.0.0.1:1/live/cam1',
      kind: 'rtmp',
      hasAudio: true,
      ffmpegPath: '/nonexistent/bin/ffmpeg',
      logger: silentLogger,
      prelude: () => [new Uint8Array(8)],
      backoff: { initialMs: 50, maxMs: 50 },
    });
    out.start();
    expect(await waitFor(() => out.state === 'failed', 5_000)).toBe(true);
    expect(out.snapshot().lastError).toContain('apt-get install -y ffmpeg');
    await new Promise((r) => setTimeout(r, 200));
    expect(out.snapshot().restarts).toBe(0);
    await out.close();
    expect(out.state).toBe('stopped');
  });

  it('close() while ffmpeg waits on a silent server: SIGTERM after the grace period, nothing left', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const feed = new PacedFeed(splitFmp4(readFileSync(await makeBrowserLikeFmp4({ seconds: 20, gop: 60 }))));
    const out = new FfmpegOutput({
      name: 'cam1',
      url: `rtmp://127.0.0.1:${port}/live/cam1`,
      kind: 'rtmp',
      hasAudio: true,
      ffmpegPath: ffmpegPath(),
      logger: silentLogger,
      prelude: feed.prelude,
      closeGraceMs: 500,
    });
    feed.add((f) => out.write(f.bytes, f.keyframe));
    const playing = feed.run();
    try {
      out.start();
      expect(await waitFor(() => sockets.size > 0, 5_000)).toBe(true);
      expect(out.state).toBe('starting'); // connected, handshake never answered
      const pid = out.snapshot().pid;
      expect(pid).toBeDefined();
      const t0 = Date.now();
      await out.close();
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(450);
      expect(took).toBeLessThan(2_000);
      expect(isProcessAlive(pid!)).toBe(false);
      expect(out.state).toBe('stopped');
    } finally {
      feed.stop();
      await playing;
      await out.close();
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });
});
