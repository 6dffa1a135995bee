// The design relaycast replaced, for comparison: the server receives raw frames and encodes them itself. One ffmpeg
// per stream reads raw yuv420p on stdin and s16le PCM on fd 3, both written by Node in real time, encodes H.264
// (libx264 veryfast zerolatency, the usual live setting) and Opus, and publishes to the relay over RTSP.
import { execa } from 'execa';
import type { Writable } from 'node:stream';

export interface OldEncoderOptions {
  url: string;
  width: number;
  height: number;
  fps: number;
  bitrate: string;
  frames: Buffer[];
  pcm: Buffer;
}

const AUDIO_CHUNK_SAMPLES = 960; // 20 ms at 48 kHz, as a capture callback would deliver
const BYTES_PER_SAMPLE = 4; // s16le stereo

export function oldEncoderArgs(o: Pick<OldEncoderOptions, 'url' | 'width' | 'height' | 'fps' | 'bitrate'>): string[] {
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${o.width}x${o.height}`, '-r', String(o.fps), '-i', 'pipe:0',
    '-f', 's16le', '-ar', '48000', '-ac', '2', '-i', 'pipe:3',
    '-map', '0:v', '-map', '1:a',
    '-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'veryfast', '-tune', 'zerolatency', '-bf', '0', '-g', String(o.fps * 2),
    '-b:v', o.bitrate, '-maxrate', o.bitrate, '-bufsize', o.bitrate, '-pix_fmt', 'yuv420p',
    '-c:a', 'libopus', '-b:a', '64k',
    '-f', 'rtsp', '-rtsp_transport', 'tcp', o.url,
  ];
}

export class OldEncoder {
  framesWritten = 0;
  /** Frames not written because ffmpeg had not read the previous ones yet: it fell behind real time. */
  framesDropped = 0;
  readonly pid: number;
  private readonly child;
  private readonly video: Writable;
  private readonly audio: Writable;
  private startedAt = 0;
  private samplesWritten = 0;
  private exited = false;
  stderr = '';

  constructor(private readonly o: OldEncoderOptions) {
    this.child = execa('ffmpeg', oldEncoderArgs(o), { reject: false, stdio: ['pipe', 'ignore', 'pipe', 'pipe'], buffer: false, cleanup: true });
    if (this.child.pid === undefined) throw new Error('could not start ffmpeg');
    this.pid = this.child.pid;
    this.video = this.child.stdin as Writable;
    this.audio = this.child.stdio[3] as unknown as Writable;
    // EPIPE when ffmpeg exits first: reported through exitCode, not as a crash of the benchmark.
    this.video.on('error', () => {});
    this.audio.on('error', () => {});
    this.child.stderr?.on('data', (c: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += c.toString();
    });
    void this.child.then(() => {
      this.exited = true;
    });
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Write every frame and 20 ms audio chunk whose time has come. */
  pump(now = performance.now()): void {
    if (this.exited) return;
    if (this.startedAt === 0) this.startedAt = now;
    const elapsed = (now - this.startedAt) / 1000;
    const frameBytes = this.o.frames[0]?.length ?? 0;
    while ((this.framesWritten + this.framesDropped) / this.o.fps <= elapsed) {
      // Four frames (133 ms at 30 fps) queued in Node with the pipe still full: the encoder is behind, and a live
      // source drops the frame rather than fall further behind.
      if (this.video.writableLength > 4 * frameBytes) {
        this.framesDropped++;
        continue;
      }
      const n = this.framesWritten + this.framesDropped;
      this.video.write(this.o.frames[n % this.o.frames.length]);
      this.framesWritten++;
    }
    const chunk = AUDIO_CHUNK_SAMPLES * BYTES_PER_SAMPLE;
    while (this.samplesWritten / 48_000 <= elapsed) {
      const at = (this.samplesWritten * BYTES_PER_SAMPLE) % this.o.pcm.length;
      this.audio.write(this.o.pcm.subarray(at, at + chunk));
      this.samplesWritten += AUDIO_CHUNK_SAMPLES;
    }
  }

  async stop(): Promise<void> {
    if (!this.exited) {
      this.video.end();
      this.audio.end();
      this.child.kill('SIGINT');
      const t = setTimeout(() => {
        if (!this.exited) this.child.kill('SIGKILL');
      }, 3000);
      await this.child;
      clearTimeout(t);
    }
  }
}
