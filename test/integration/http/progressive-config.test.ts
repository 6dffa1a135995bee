// /NAME.mp4 before the stream's configuration is known, and with one MP4 refuses: the HTTP route (ProgressiveServer)
// on a real http.Server on port 0, reading a real hub Stream fed RTP captured from GStreamer (SPS/PPS only in band,
// an SDP without sprop-parameter-sets). What a player receives is decoded by real ffmpeg.
import http from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProgressiveServer, progressiveName, type ProgressiveOptions, type ProgressiveRegistry } from '../../../server/servers/http/progressive.ts';
import { silentLogger } from '../../../server/log.ts';
import { parseSdp } from '../../../server/protocols/rtsp/sdp.ts';
import { Reader, type ReaderSink } from '../../../server/stream/reader.ts';
import { Stream } from '../../../server/stream/stream.ts';
import { decodeCapture } from '../../fixtures/rtp/load.ts';
import { ProgressiveClient, trackIdOf } from '../../support/progressive-client.ts';

const tmp = mkdtempSync(join(tmpdir(), 'progressive-config-'));
const H264_NO_SPROP = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n';

let server: http.Server;
let progressive: ProgressiveServer;
/** What the route's registry answers for "cam" in the current test. */
let current: Stream | undefined;

const registry: ProgressiveRegistry = {
  get: (name) => (name === 'cam' ? current : undefined),
  totalReaders: () => current?.readerCount() ?? 0,
  totalEgressKbps: () => 0,
};

async function listen(o: Partial<ProgressiveOptions> = {}): Promise<void> {
  progressive = new ProgressiveServer({ registry, logger: silentLogger, maxClients: 10, maxBandwidthKbps: 0, configWaitMs: 400, ...o });
  server = http.createServer((req, res) => {
    const name = progressiveName(new URL(req.url ?? '/', 'http://x').pathname);
    if (name === undefined) res.writeHead(404).end();
    else void progressive.handle(req, res, name);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
}

function camUrl(): string {
  const a = server.address();
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/cam.mp4`;
}

function newStream(now: () => number): Stream {
  const sdp = parseSdp(H264_NO_SPROP);
  if (!sdp.ok) throw new Error(sdp.error.message);
  const s = new Stream({ name: 'cam', sdp: sdp.value, logger: silentLogger, now });
  s.attachPublisher({ protocol: 'rtsp', transport: 'udp', remote: 'x', session: 's', since: now() });
  return s;
}

beforeAll(() => listen());
afterEach(() => {
  current?.end();
  current = undefined;
});
afterAll(async () => {
  progressive.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(tmp, { recursive: true, force: true });
});

describe('/NAME.mp4 and the stream configuration', () => {
  it('no SPS/PPS yet: the player waits briefly, then gets 503 with Retry-After, and leaves the hub', async () => {
    current = newStream(Date.now);
    const started = performance.now();
    const c = new ProgressiveClient(camUrl());
    const r = await c.response;
    await c.ended;
    expect(r.status).toBe(503);
    expect(performance.now() - started).toBeGreaterThanOrEqual(350);
    expect(r.headers['retry-after']).toBe('2');
    expect(JSON.parse(c.body())).toEqual({ error: expect.stringContaining('parameter sets (SPS/PPS)') });
    expect(current.readerCount()).toBe(0);
    expect(progressive.playerCount()).toBe(0);
  });

  it('SPS/PPS in band only: a waiting player starts at the keyframe that brings them; ffmpeg decodes every frame', async () => {
    let now = 1_000_000;
    current = newStream(() => now);
    const c = new ProgressiveClient(camUrl());
    // In the hub, headers not sent yet.
    await until(() => current!.readerCount() === 1);
    expect(c.status).toBe(0);
    const packets = decodeCapture(new Uint8Array(readFileSync(new URL('../../fixtures/rtp/gst-h264-x264.bin', import.meta.url))));
    for (const [i, p] of packets.entries()) {
      now = 1_000_000 + p.timeMs;
      if (p.channel === 1) current.onRtcp(0, new Uint8Array(p.data));
      else current.onRtp(0, new Uint8Array(p.data));
      if (i % 20 === 0) await new Promise((r) => setImmediate(r)); // let the response flow
    }
    expect((await c.response).status).toBe(200);
    current.end();
    const end = await c.ended;
    expect(end.complete).toBe(true);
    expect(c.problems).toEqual([]);
    expect(c.init?.tracks).toEqual([expect.objectContaining({ kind: 'video', width: 320, height: 180 })]);
    const video = c.trackFragments(trackIdOf(c, 'video'));
    expect(video[0]!.info.tracks[0]!.keyframe).toBe(true);
    expect(video).toHaveLength(75);
    const file = join(tmp, 'inband.mp4');
    writeFileSync(file, Buffer.concat([...fragmentsOf(c)]));
    const d = await execa('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-'], { reject: false });
    expect(d.stderr).toBe('');
    const probe = await execa('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
    expect(probe.stdout.trim()).toBe('75');
  });

  it('a configuration the muxer refuses (Opus with 3 channels) is a 415 with the muxer\'s reason', async () => {
    const sink: { s?: ReaderSink } = {};
    const refused = {
      tracks: [{ index: 0, codec: { kind: 'audio', codec: 'OPUS' } }],
      sampleCodec: () => 'opus' as const,
      sampleConfig: () => ({ codec: 'opus' as const, clockRate: 48000 as const, channels: 3, version: 1 }),
      samplesOf: () => null,
      addReader: (id: string, s: ReaderSink, tracks: ReadonlySet<number>) => {
        sink.s = s;
        return new Reader(id, s, tracks, 'player');
      },
      removeReader: () => {},
      ingestKbps: () => 0,
    };
    const fake: ProgressiveRegistry = { get: () => refused as unknown as Stream, totalReaders: () => 0, totalEgressKbps: () => 0 };
    const saved = { get: registry.get };
    registry.get = fake.get;
    try {
      const c = new ProgressiveClient(camUrl());
      const r = await c.response;
      await c.ended;
      expect(r.status).toBe(415);
      expect(JSON.parse(c.body())).toEqual({ error: expect.stringMatching(/cannot be carried in MP4: Opus .* 1 or 2 channels, not 3/) });
      expect(sink.s).toBeDefined();
    } finally {
      registry.get = saved.get;
    }
  });
});

/** The init segment and every fragment a client got, as bytes (what a player would have written to a file). */
function* fragmentsOf(c: ProgressiveClient): Generator<Uint8Array> {
  yield c.initBytes!;
  for (const f of c.fragments) yield f.bytes;
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
