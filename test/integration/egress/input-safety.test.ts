// What ffmpeg does with hostile bytes on stdin. The egress input is bytes a browser sent, so they must
// never make ffmpeg open anything: not a local file named in an HLS playlist or an ffconcat script.
//
// Detector: the "local file" is a FIFO. A process that opens a FIFO for reading blocks in open()
// until a writer appears, so it cannot open and leave between two polls; we poll with
// open(O_WRONLY|O_NONBLOCK), which succeeds exactly when a reader is there. The control tests show the
// detector fires when ffmpeg is allowed to open files, so the negative results mean something.
import { execa } from 'execa';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFfmpegArgs, INPUT_ARGS } from '../../../server/egress/argv.ts';
import { FfmpegOutput } from '../../../server/egress/ffmpeg-output.ts';
import { silentLogger } from '../../../server/log.ts';
import { ffmpegPath } from '../../support/ffmpeg.ts';
import { freePort } from '../../support/nginx-rtmp.ts';

let dir: string;
let fifoTs: string;
let fifoMp4: string;
let closedPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relaycast-input-safety-'));
  fifoTs = join(dir, 'secret.ts');
  fifoMp4 = join(dir, 'secret.mp4');
  for (const f of [fifoTs, fifoMp4]) await execa('mkfifo', [f]);
  closedPort = await freePort();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const hlsPlaylist = (): string =>
  ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:2', '#EXTINF:1.0,', `file://${fifoTs}`, '#EXT-X-ENDLIST', ''].join('\n');
const ffconcat = (): string => ['ffconcat version 1.0', `file file:${fifoMp4}`, ''].join('\n');

interface Run {
  exitCode: number | undefined;
  stderr: string;
  openedFifo: boolean;
}

/** Poll a FIFO until stop(); stop() says whether any process had it open for reading meanwhile. */
function watchFifo(fifo: string): { stop: () => Promise<boolean> } {
  let opened = false;
  let done = false;
  const poll = (async () => {
    while (!done) {
      try {
        // Succeeds only while a reader has the FIFO open (or is blocked opening it); closing our end
        // lets that reader see EOF and carry on.
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
        opened = true;
      } catch {
        // ENXIO: no reader
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    stop: async () => {
      done = true;
      await poll;
      return opened;
    },
  };
}

/** Run ffmpeg with `args`, `stdinText` on stdin, and report whether anything opened the FIFO. */
async function run(args: string[], stdinText: string, fifo: string): Promise<Run> {
  const watch = watchFifo(fifo);
  const r = await execa(ffmpegPath(), args, { input: stdinText, reject: false, stdout: 'ignore', timeout: 20_000 });
  return { exitCode: r.exitCode, stderr: String(r.stderr), openedFifo: await watch.stop() };
}

function egressArgs(): string[] {
  const r = buildFfmpegArgs({ kind: 'rtmp', url: `rtmp://127.0.0.1:${closedPort}/live/x`, hasAudio: true });
  if (!r.ok) throw r.error;
  return r.value;
}

/** The egress argv with the input format flag swapped, as if the input were probed as `format`. */
function withInputFormat(format: string, whitelist = 'pipe'): string[] {
  const args = egressArgs();
  const at = args.indexOf(INPUT_ARGS[0]!);
  expect(args.slice(at, at + INPUT_ARGS.length)).toEqual([...INPUT_ARGS]);
  args.splice(at, 4, '-f', format, '-protocol_whitelist', whitelist);
  return args;
}

describe('egress ffmpeg input safety', () => {
  it('an HLS playlist on stdin fails as bad MP4 and opens nothing', async () => {
    const r = await run(egressArgs(), hlsPlaylist(), fifoTs);
    expect(r.exitCode).not.toBe(0);
    expect(r.openedFifo).toBe(false);
    expect(r.stderr).toMatch(/moov atom not found|Invalid data found when processing input/);
  });

  it('an ffconcat script on stdin fails as bad MP4 and opens nothing', async () => {
    const r = await run(egressArgs(), ffconcat(), fifoMp4);
    expect(r.exitCode).not.toBe(0);
    expect(r.openedFifo).toBe(false);
    expect(r.stderr).toMatch(/moov atom not found|Invalid data found when processing input/);
  });

  it('even parsed as HLS, the whitelist refuses the file: protocol', async () => {
    const r = await run(withInputFormat('hls'), hlsPlaylist(), fifoTs);
    expect(r.exitCode).not.toBe(0);
    expect(r.openedFifo).toBe(false);
    expect(r.stderr).toContain("Protocol 'file' not on whitelist 'pipe'!");
  });

  it('even parsed as ffconcat (safe 0), the whitelist refuses the file: protocol', async () => {
    const args = withInputFormat('concat');
    args.splice(args.indexOf('-i'), 0, '-safe', '0');
    const r = await run(args, ffconcat(), fifoMp4);
    expect(r.exitCode).not.toBe(0);
    expect(r.openedFifo).toBe(false);
    expect(r.stderr).toContain("Protocol 'file' not on whitelist 'pipe'!");
  });

  it('control: with file: allowed, ffmpeg does open the playlist entry (the detector works)', async () => {
    const r = await run(withInputFormat('hls', 'pipe,file'), hlsPlaylist(), fifoTs);
    expect(r.openedFifo).toBe(true);
  });

  it('control: with file: allowed, ffmpeg does open the ffconcat entry', async () => {
    const args = withInputFormat('concat', 'pipe,file');
    args.splice(args.indexOf('-i'), 0, '-safe', '0');
    const r = await run(args, ffconcat(), fifoMp4);
    expect(r.openedFifo).toBe(true);
  });

  it('FfmpegOutput with a playlist as its prelude: ffmpeg fails on it, opens nothing, lastError says why', async () => {
    const watch = watchFifo(fifoTs);
    const out = new FfmpegOutput({
      name: 'cam1',
      url: `rtmp://127.0.0.1:${closedPort}/live/x`,
      kind: 'rtmp',
      hasAudio: true,
      ffmpegPath: ffmpegPath(),
      logger: silentLogger,
      prelude: () => [new TextEncoder().encode(hlsPlaylist())],
    });
    out.start();
    // The mov demuxer reads the bogus box size and waits for more bytes; the publisher going away
    // (close() ends stdin) is what makes it give up.
    await new Promise((r) => setTimeout(r, 300));
    await out.close();
    expect(out.state).toBe('stopped');
    expect(out.snapshot().lastError ?? '').toMatch(/moov atom not found|Invalid data found/);
    expect(await watch.stop()).toBe(false);
  });
});
