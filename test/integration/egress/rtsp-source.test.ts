// Every source reaches every output: streams published over RTSP (ffmpeg here, as an IP camera relayed by ffmpeg
// would be) are restreamed to the configured RTMP destinations, fed from the hub's units. nginx-rtmp receives them,
// ffprobe reads them back, ffmpeg decodes them.
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StreamJson } from '../../../server/servers/http/api.ts';
import { listStreams } from '../../../server/servers/http/api.ts';
import { ffprobe, waitFor } from '../../support/ffmpeg.ts';
import { freePort, startNginxRtmp, type NginxRtmp } from '../../support/nginx-rtmp.ts';
import { publish, startTestRelay, stopProcess, waitLive, type ChildLike, type PublishOptions, type TestRelay } from '../../support/relay.ts';

let nginx: NginxRtmp;
let t: TestRelay;
const publishers: ChildLike[] = [];

beforeAll(async () => {
  nginx = await startNginxRtmp();
  t = await startTestRelay(['--output', nginx.url('{stream}'), '--publisher-grace', '0']);
});
afterEach(async () => {
  await Promise.all(publishers.splice(0).map(stopProcess));
});
afterAll(async () => {
  await t?.close();
  await nginx?.stop();
});

function streamJson(name: string): StreamJson | undefined {
  const r = t.relay;
  return listStreams(r.registry, r.ingest, (n) => r.rtsp.playersOf(n), (n) => r.outputs.statusOf(n) ?? []).find((s) => s.name === name);
}

async function restreamed(name: string, o: Omit<PublishOptions, 'url'>): Promise<void> {
  publishers.push(publish({ url: t.url(name), ...o }));
  await waitLive(t.relay, name);
  expect(await waitFor(() => streamJson(name)?.outputs[0]?.state === 'running', 15_000), `output state: ${JSON.stringify(streamJson(name)?.outputs)}`).toBe(true);
}

/** ffmpeg decodes `frames` video frames from the RTMP server without an error line. */
/**
 * ffmpeg decodes `frames` video frames from `url`; its error output (empty when clean). passthrough: the null muxer
 * keeps each decoded frame's own time instead of resampling to the frame rate ffmpeg guessed from the first FLV
 * packets (under a loaded full run it once guessed a third of it, then refused its own duplicated timestamps: not a
 * decoding error). The timestamps themselves are checked packet by packet (videoPackets).
 */
async function decodes(url: string, frames: number): Promise<string> {
  const d = await execa('ffmpeg', ['-v', 'error', '-rw_timeout', '10000000', '-i', url, '-frames:v', String(frames), '-fps_mode', 'passthrough', '-f', 'null', '-'], { reject: false, timeout: 30_000 });
  expect(d.exitCode, d.stderr).toBe(0);
  return d.stderr;
}

/** Three seconds of video packets as nginx serves them (at least 30): their decode and presentation times. */
async function videoPackets(url: string): Promise<Array<{ pts: number; dts: number }>> {
  const p = await execa('ffprobe', ['-v', 'error', '-rw_timeout', '10000000', '-select_streams', 'v', '-read_intervals', '%+3', '-show_entries', 'packet=pts,dts', '-of', 'json', url]);
  const packets = (JSON.parse(p.stdout) as { packets: Array<{ pts: number; dts: number }> }).packets;
  expect(packets.length).toBeGreaterThan(30);
  return packets;
}

describe('RTSP publishers reach the RTMP destinations', () => {
  it('H.264 + AAC: video and audio copied; nginx has h264 + aac and 100 frames decode', async () => {
    await restreamed('camaac', { audio: 'aac' });
    const json = streamJson('camaac');
    expect(json).toMatchObject({ source: 'rtsp', outputs: [{ kind: 'rtmp', state: 'running', restarts: 0 }] });
    expect(json!.outputs[0]!.url).not.toContain('camaac/'); // masked
    const probe = await ffprobe(nginx.url('camaac'), { args: ['-rw_timeout', '10000000'] });
    expect(probe.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
    expect(probe.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac', sample_rate: '48000' });
    expect(await decodes(nginx.url('camaac'), 100)).toBe('');
    // The audio was copied, not encoded again: the ffmpeg command line says so.
    expect(t.logs.some((l) => l['event'] === 'egress.spawn' && l['stream'] === 'camaac' && JSON.stringify(l['args']).includes('"-c:a","copy"'))).toBe(true);
  });

  it('H.264 + Opus: audio transcoded to AAC for FLV, video copied', async () => {
    await restreamed('camopus', { audio: 'opus' });
    const probe = await ffprobe(nginx.url('camopus'), { args: ['-rw_timeout', '10000000'] });
    expect(probe.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264' });
    expect(probe.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac' });
    expect(await decodes(nginx.url('camopus'), 100)).toBe('');
    const packets = await videoPackets(nginx.url('camopus'));
    expect(packets.every((x, i) => i === 0 || x.dts > packets[i - 1]!.dts)).toBe(true);
  });

  it('H.264 with B-frames + Opus (as most IP cameras in main/high profile): decode times from the bitstream reach nginx monotonic', async () => {
    await restreamed('cambf', { audio: 'opus', bframes: 3 });
    expect(await decodes(nginx.url('cambf'), 100)).toBe('');
    const packets = await videoPackets(nginx.url('cambf'));
    expect(packets.every((x, i) => i === 0 || x.dts > packets[i - 1]!.dts)).toBe(true);
    expect(packets.every((x) => x.pts >= x.dts)).toBe(true);
    // B-frames really arrived as B-frames: presentation order differs from decode order.
    expect(packets.some((x, i) => i > 0 && x.pts < packets[i - 1]!.pts)).toBe(true);
  });

  it('GStreamer rtspclientsink (x264enc, SPS/PPS in band) reaches nginx as h264', async () => {
    const gst = execa('gst-launch-1.0', [
      '-q', 'videotestsrc', 'is-live=true', '!', 'video/x-raw,width=320,height=240,framerate=30/1', '!',
      'x264enc', 'tune=zerolatency', 'key-int-max=30', 'speed-preset=ultrafast', '!', 'h264parse', '!',
      'rtspclientsink', `location=${t.url('camgst')}`, 'protocols=tcp',
    ], { reject: false, stdin: 'ignore', buffer: true, cleanup: true, timeout: 60_000 });
    publishers.push(gst);
    await waitLive(t.relay, 'camgst');
    expect(await waitFor(() => streamJson('camgst')?.outputs[0]?.state === 'running', 15_000), JSON.stringify(streamJson('camgst')?.outputs)).toBe(true);
    const probe = await ffprobe(nginx.url('camgst'), { args: ['-rw_timeout', '10000000'] });
    expect(probe.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
    expect(await decodes(nginx.url('camgst'), 100)).toBe('');
  });

  it('the publisher leaving ends its ffmpeg; publishing again starts a new one', async () => {
    await restreamed('camagain', { audio: 'none' });
    await Promise.all(publishers.splice(0).map(stopProcess));
    expect(await waitFor(() => streamJson('camagain') === undefined, 10_000)).toBe(true);
    expect(t.relay.outputs.statusOf('camagain')).toBeUndefined();
    await restreamed('camagain', { audio: 'none' });
    expect(await decodes(nginx.url('camagain'), 30)).toBe('');
  });
});

describe('H.265 + PCMA from an RTSP publisher', () => {
  it('reaches an rtsp:// destination copied (hevc + pcm_alaw); an RTMP destination says why it cannot carry H.265', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'hevc-outputs-'));
    const config = join(dir, 'relaycast.json');
    // Per-stream destinations: the stream restreamed into this same relay under another name, and to nginx.
    writeFileSync(config, JSON.stringify({ streams: { hevc: { outputs: [`rtsp://127.0.0.1:${port}/hevccopy`, nginx.url('hevc')] } } }));
    const h = await startTestRelay(['--config', config, '--rtsp-port', String(port), '--publisher-grace', '0']);
    try {
      const p = publish({ url: h.url('hevc'), video: 'h265', audio: 'pcma', gop: 30 });
      publishers.push(p);
      await waitLive(h.relay, 'hevc');
      await waitLive(h.relay, 'hevccopy', 15_000);
      const probe = await ffprobe(h.url('hevccopy'), { args: ['-rtsp_transport', 'tcp'] });
      expect(probe.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'hevc', width: 640, height: 360 });
      expect(probe.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'pcm_alaw', sample_rate: '8000' });
      const d = await execa('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', h.url('hevccopy'), '-frames:v', '60', '-f', 'null', '-'], { reject: false, timeout: 30_000 });
      expect(d.exitCode, d.stderr).toBe(0);
      expect(d.stderr).toBe('');
      const outputs = h.relay.outputs.statusOf('hevc') ?? [];
      expect(outputs.find((o) => o.kind === 'rtsp')).toMatchObject({ state: 'running' });
      expect(outputs.find((o) => o.kind === 'rtmp')).toMatchObject({ state: 'failed', lastError: expect.stringMatching(/H\.265.*rtsp:\/\//) as unknown });
      // Said once, not once a frame.
      expect(h.logs.filter((l) => l['event'] === 'egress.unsupported' && l['stream'] === 'hevc')).toHaveLength(1);
    } finally {
      await Promise.all(publishers.splice(0).map(stopProcess));
      await h.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
