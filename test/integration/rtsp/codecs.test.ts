// "Any RTP payload the SDP describes is relayed": H.265 + PCMA (G.711 A-law) from real ffmpeg, played back by ffprobe
// and decoded by ffmpeg; H.265 keyframes start new players (the GOP cache fills).
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_OPTIONS, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';

let t: TestRelay;
let pub: Publisher;
beforeAll(async () => {
  t = await startTestRelay();
  pub = execa('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=8000',
    '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'keyint=25:log-level=error', '-pix_fmt', 'yuv420p',
    '-c:a', 'pcm_alaw', '-ar', '8000', '-ac', '1',
    '-f', 'rtsp', '-rtsp_transport', 'tcp', t.url('hevc'),
  ], PUBLISH_OPTIONS);
  await waitLive(t.relay, 'hevc', 20_000);
}, 40_000);
afterAll(async () => {
  await stopProcess(pub);
  await t.close();
});

describe('H.265 + PCMA', () => {
  it('relays both tracks, keyframe-aware for H.265', async () => {
    const r = await execa('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_streams', '-of', 'json', t.url('hevc')], { timeout: 15_000 });
    const streams = (JSON.parse(r.stdout) as { streams: Array<{ codec_name: string }> }).streams;
    expect(streams.map((s) => s.codec_name).sort()).toEqual(['hevc', 'pcm_alaw']);
    expect(t.relay.registry.get('hevc')?.snapshot().gopUnits).toBeGreaterThan(0);
    const d = await execa('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', t.url('hevc'), '-frames:v', '25', '-f', 'null', '-'], { timeout: 20_000, reject: false });
    expect(d.exitCode).toBe(0);
  });
});
