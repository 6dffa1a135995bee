// The hub's units → fMP4 for one ffmpeg: RTP captured from real ffmpeg and GStreamer senders goes through a real
// Stream (depacketized once, placed on the stream's timeline) into an Fmp4Feed whose "ffmpeg" only records its stdin.
// What it recorded must be an MP4 that real ffprobe reads and real ffmpeg decodes without an error.
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { Fmp4Feed } from '../../../server/egress/fmp4-feed.ts';
import type { ChildProcessLike, ExitInfo } from '../../../server/egress/ffmpeg-output.ts';
import { silentLogger } from '../../../server/log.ts';
import { parseSdp } from '../../../server/protocols/rtsp/sdp.ts';
import { Stream } from '../../../server/stream/stream.ts';
import { decodeCapture, loadFixture } from '../../fixtures/rtp/load.ts';

const tmp = mkdtempSync(join(tmpdir(), 'fmp4-feed-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A stand-in for ffmpeg that keeps what it is given and says it is running at once. */
class RecordingChild implements ChildProcessLike {
  readonly pid = 4242;
  readonly stderr = new PassThrough();
  readonly exited: Promise<ExitInfo>;
  readonly received: Buffer[] = [];
  readonly stdin: Writable;
  constructor(readonly args: readonly string[]) {
    let resolve!: (i: ExitInfo) => void;
    this.exited = new Promise((r) => (resolve = r));
    this.stdin = new Writable({
      write: (chunk: Buffer, _e, cb) => {
        this.received.push(chunk);
        cb();
      },
      final: (cb) => {
        cb();
        this.stderr.end();
        resolve({ exitCode: 0, signal: undefined, spawnError: undefined });
      },
    });
    setImmediate(() => this.stderr.write('frame=1\nout_time_us=1\nprogress=continue\n'));
  }
  kill(): void {}
}

interface Run {
  bytes: Buffer;
  args: readonly string[];
  spawns: number;
}

/** Feed a capture's RTP (and RTCP) into a Stream at its capture times, with one Fmp4Feed reading it. */
async function run(name: string, sdpText: string, drop: (seq: number) => boolean = () => false, kind: 'rtsp' | 'rtmp' = 'rtsp', coalesceMs = 0): Promise<Run> {
  const sdp = parseSdp(sdpText);
  if (!sdp.ok) throw new Error(sdp.error.message);
  let now = 1_000_000;
  const stream = new Stream({ name: 'cam', sdp: sdp.value, logger: silentLogger, now: () => now });
  stream.attachPublisher({ protocol: 'rtsp', transport: 'udp', remote: 'x', session: 's', since: now });
  const children: RecordingChild[] = [];
  const feed = new Fmp4Feed({
    name: 'cam',
    url: kind === 'rtsp' ? 'rtsp://127.0.0.1:1/x' : 'rtmp://127.0.0.1:1/live/x',
    kind,
    source: stream,
    logger: silentLogger,
    coalesceMs,
    spawn: (_file, args) => {
      const c = new RecordingChild(args);
      children.push(c);
      return c;
    },
  });
  stream.addReader('out', feed, feed.trackSet(), 'output');
  const packets = loadCaptureInOrder(name);
  for (const p of packets) {
    now = 1_000_000 + p.timeMs;
    if (p.channel === 1) stream.onRtcp(0, new Uint8Array(p.data));
    else if (!drop((p.data[2]! << 8) | p.data[3]!)) stream.onRtp(0, new Uint8Array(p.data));
  }
  await feed.close();
  const last = children.at(-1);
  return { bytes: Buffer.concat(last?.received ?? []), args: last?.args ?? [], spawns: children.length };
}

/** Every datagram of a capture, RTP and RTCP, in the order and at the times they arrived. */
function loadCaptureInOrder(name: string) {
  return decodeCapture(new Uint8Array(readFileSync(new URL(`../../fixtures/rtp/${name}.bin`, import.meta.url))));
}

interface Probed {
  frames: number;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  decodeErrors: string;
  codec: string;
}

async function probe(bytes: Buffer, file: string): Promise<Probed> {
  const path = join(tmp, file);
  writeFileSync(path, bytes);
  const p = await execa('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames,width,height,sample_rate,channels', '-of', 'json', path]);
  const s = (JSON.parse(p.stdout) as { streams: Array<Record<string, string | number>> }).streams[0]!;
  const d = await execa('ffmpeg', ['-v', 'error', '-i', path, '-f', 'null', '-'], { reject: false });
  const out: Probed = { frames: Number(s['nb_read_frames']), codec: String(s['codec_name']), decodeErrors: d.stderr };
  for (const k of ['width', 'height', 'channels'] as const) if (s[k] !== undefined) out[k] = Number(s[k]);
  if (s['sample_rate'] !== undefined) out.sample_rate = String(s['sample_rate']);
  return out;
}

/** Decode times (ffprobe -show_packets) of a file's first stream, in its time base. */
async function packetTimes(file: string): Promise<Array<{ pts: number; dts: number }>> {
  const p = await execa('ffprobe', ['-v', 'error', '-show_entries', 'packet=pts,dts', '-of', 'json', join(tmp, file)]);
  return (JSON.parse(p.stdout) as { packets: Array<{ pts: number; dts: number }> }).packets;
}

const H264_SDP = (fmtp: string) => `v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 ${fmtp}\r\n`;

describe('Fmp4Feed: RTP units → fMP4 that ffmpeg reads', () => {
  it('ffmpeg -c:v copy capture (SPS/PPS only in the SDP): all 75 frames, 320x180, decoded without an error', async () => {
    const f = loadFixture('ffmpeg-h264-copy');
    const r = await run('ffmpeg-h264-copy', f.sdp!);
    expect(r.spawns).toBe(1);
    expect(await probe(r.bytes, 'copy.mp4')).toMatchObject({ frames: 75, width: 320, height: 180, codec: 'h264', decodeErrors: '' });
  });

  it('GStreamer capture with SPS/PPS only in band (an SDP without sprop-parameter-sets): the config comes from the first keyframe', async () => {
    const r = await run('gst-h264-x264', H264_SDP('packetization-mode=1'));
    expect(r.spawns).toBe(1);
    expect(await probe(r.bytes, 'inband.mp4')).toMatchObject({ frames: 75, width: 320, height: 180, codec: 'h264', decodeErrors: '' });
  });

  it('B-frames (libx264 default preset, SPS in band): decode times from the bitstream, monotonic, every frame decoded', async () => {
    const f = loadFixture('ffmpeg-h264');
    const r = await run('ffmpeg-h264', f.sdp!);
    expect(await probe(r.bytes, 'bframes.mp4')).toMatchObject({ frames: 75, width: 320, height: 180, codec: 'h264', decodeErrors: '' });
    const packets = await packetTimes('bframes.mp4');
    expect(packets).toHaveLength(75);
    // Decode order: DTS strictly increases; presentation order differs (B-frames): some PTS < the previous one.
    expect(packets.every((p, i) => i === 0 || p.dts > packets[i - 1]!.dts)).toBe(true);
    expect(packets.every((p) => p.pts >= p.dts)).toBe(true);
    expect(packets.some((p, i) => i > 0 && p.pts < packets[i - 1]!.pts)).toBe(true);
  });

  it('AAC with several AUs per RTP packet (ffmpeg) and from GStreamer: every AU, decoded', async () => {
    const ff = loadFixture('ffmpeg-aac');
    const a = await probe((await run('ffmpeg-aac', ff.sdp!)).bytes, 'aac.mp4');
    expect(a).toMatchObject({ codec: 'aac', sample_rate: '48000', channels: 2, decodeErrors: '' });
    expect(a.frames).toBe(90); // the capture's 18 packets of 5 AUs each
    const gstSdp = `v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\na=fmtp:97 ${String(loadFixture('gst-aac').meta.expect['fmtp'])}\r\n`;
    const g = await probe((await run('gst-aac', gstSdp)).bytes, 'gst-aac.mp4');
    expect(g).toMatchObject({ codec: 'aac', sample_rate: '48000', channels: 2, decodeErrors: '' });
    expect(g.frames).toBeGreaterThanOrEqual(90);
  });

  it('Opus and G.711 (PCMA, PCMU): each packet a sample, decoded', async () => {
    const opus = await probe((await run('ffmpeg-opus', loadFixture('ffmpeg-opus').sdp!)).bytes, 'opus.mp4');
    expect(opus).toMatchObject({ codec: 'opus', channels: 2, decodeErrors: '' });
    expect(opus.frames).toBeGreaterThanOrEqual(99); // 2 s of 20 ms packets
    for (const law of ['pcma', 'pcmu'] as const) {
      const g = await probe((await run(`ffmpeg-${law}`, loadFixture(`ffmpeg-${law}`).sdp!)).bytes, `${law}.mp4`);
      expect(g).toMatchObject({ codec: law === 'pcma' ? 'pcm_alaw' : 'pcm_mulaw', sample_rate: '8000', channels: 1, decodeErrors: '' });
    }
  });

  it('a lost packet drops its frame and the rest of its group, never a corrupt frame: decoding resumes at the next keyframe', async () => {
    const f = loadFixture('ffmpeg-h264-copy');
    const first = (f.rtp[0]![2]! << 8) | f.rtp[0]![3]!;
    // A packet a little into the first group (frame ~10): frames up to the next keyframe (25) cannot be decoded.
    const lost = (first + 20) & 0xffff;
    const r = await run('ffmpeg-h264-copy', f.sdp!, (seq) => seq === lost);
    const p = await probe(r.bytes, 'loss.mp4');
    expect(p.decodeErrors).toBe('');
    expect(p.frames).toBeGreaterThanOrEqual(50 + 5); // the first frames before the loss, then the last two groups whole
    expect(p.frames).toBeLessThan(75);
  });

  it('RTMP: AAC audio (an AAC camera, Safari) is copied; Opus and G.711 are encoded to AAC (FLV cannot carry them)', async () => {
    const codecArgs = async (name: string) => {
      const r = await run(name, loadFixture(name).sdp!, () => false, 'rtmp');
      const at = r.args.indexOf('-c:a');
      return r.args.slice(at, at + 2);
    };
    expect(await codecArgs('ffmpeg-aac')).toEqual(['-c:a', 'copy']);
    expect(await codecArgs('ffmpeg-opus')).toEqual(['-c:a', 'aac']);
    expect(await codecArgs('ffmpeg-pcma')).toEqual(['-c:a', 'aac']);
  });

  it('batched (RTMP): one moof+mdat per batch, and a keyframe always opens a new one (where a skip resumes)', async () => {
    const f = loadFixture('ffmpeg-h264-copy');
    // A window longer than the whole capture: only keyframes (and close) cut the batches.
    const r = await run('ffmpeg-h264-copy', f.sdp!, () => false, 'rtmp', 60_000);
    expect(await probe(r.bytes, 'batched.mp4')).toMatchObject({ frames: 75, codec: 'h264', decodeErrors: '' });
    // The prelude's fragment (the first keyframe), then frames 1-24, 25-49 and 50-74: four moofs.
    let moofs = 0;
    for (let at = r.bytes.indexOf('moof'); at >= 0; at = r.bytes.indexOf('moof', at + 4)) moofs++;
    expect(moofs).toBe(4);
  });

  it('H.265 with B-frames (ffmpeg, VPS/SPS/PPS in band) and from GStreamer: hvc1, every frame decoded, DTS monotonic', async () => {
    const ff = await run('ffmpeg-h265', loadFixture('ffmpeg-h265').sdp!);
    expect(await probe(ff.bytes, 'h265.mp4')).toMatchObject({ frames: 75, width: 320, height: 180, codec: 'hevc', decodeErrors: '' });
    const packets = await packetTimes('h265.mp4');
    expect(packets.every((p, i) => i === 0 || p.dts > packets[i - 1]!.dts)).toBe(true);
    const gst = await run('gst-h265', `v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n`);
    expect(await probe(gst.bytes, 'gst-h265.mp4')).toMatchObject({ frames: 75, width: 320, height: 180, codec: 'hevc', decodeErrors: '' });
  });
});
