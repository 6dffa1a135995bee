// A killed server leaves no ffmpeg behind. SIGKILL runs no exit handlers (execa's `cleanup` cannot
// help), so this relies on ffmpeg reading its input from our stdin pipe: when the parent dies, the
// pipe's write end closes, ffmpeg reads EOF, writes its trailer and exits.
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath, isProcessAlive, makeBrowserLikeFmp4, processCommandLine, waitFor } from '../../support/ffmpeg.ts';
import { startNginxRtmp, type NginxRtmp } from '../../support/nginx-rtmp.ts';

const CHILD = fileURLToPath(new URL('../../fixtures/egress/orphan-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let nginx: NginxRtmp;
beforeAll(async () => {
  nginx = await startNginxRtmp();
});
afterAll(async () => {
  await nginx?.stop();
});

describe('orphaned ffmpeg', () => {
  it('exits within a few seconds after its parent is SIGKILLed', async () => {
    const file = await makeBrowserLikeFmp4({ seconds: 20, gop: 60 });
    // node --import tsx runs the TypeScript in this very process (the tsx CLI would add a second
    // node process between us and ffmpeg, and SIGKILL would only reach the wrapper).
    const child = execa(process.execPath, ['--import', 'tsx', CHILD, file, nginx.url('orphan'), ffmpegPath()], {
      cwd: ROOT,
      reject: false,
      stdin: 'ignore',
      buffer: { stdout: false, stderr: true },
      cleanup: true,
    });
    let ffmpegPid: number | undefined;
    try {
      ffmpegPid = await new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('child never reported a running ffmpeg')), 15_000);
        let buf = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (d: string) => {
          buf += d;
          const line = buf.split('\n')[0];
          if (buf.includes('\n') && line) {
            clearTimeout(t);
            resolve((JSON.parse(line) as { pid: number }).pid);
          }
        });
        void child.then((r) => reject(new Error(`child exited early: ${String(r.stderr)}`)));
      });
      expect(isProcessAlive(ffmpegPid)).toBe(true);
      expect(processCommandLine(ffmpegPid)).toContain('ffmpeg');

      child.kill('SIGKILL');
      const r = await child;
      expect(r.signal).toBe('SIGKILL');
      const pid = ffmpegPid;
      expect(await waitFor(() => !isProcessAlive(pid), 5_000)).toBe(true);
    } finally {
      // Only if the assertion above failed: do not leak the ffmpeg we caused to be started.
      if (ffmpegPid !== undefined && isProcessAlive(ffmpegPid) && processCommandLine(ffmpegPid).includes('ffmpeg')) {
        process.kill(ffmpegPid, 'SIGKILL');
      }
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGKILL');
    }
  });
});
